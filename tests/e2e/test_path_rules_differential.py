"""Path rules decide on the path the app serves: every spelling, every proxy, upstreams that normalise differently.

The rules of ``files.test``: ``^/admin`` admits the group ``ops`` only (alice is in it, bob is not) and
``^/internal/`` is denied to everyone. Each spelling below is sent byte for byte (a raw socket: no
client cleans the path) through the shipped nginx, Caddy and Traefik recipes to three upstreams that
read paths differently:

- nginx serving files from a directory (default ``merge_slashes``: ``//admin/`` is ``/admin/``; dots
  resolved, escapes decoded);
- Caddy's ``file_server`` (Go's path cleaning);
- a Starlette app on uvicorn (decodes escapes, merges nothing, resolves nothing).

One property for every row: **whenever the upstream serves the protected resource, authgate applied
the protected path's rule**, so bob and an anonymous client never get the admin page, nobody gets
the internal file, and alice, whom the rule admits, gets the admin page wherever the upstream serves
it for that spelling. ``nocase.test`` is the same app on a case-insensitive upstream (as IIS and
Express are), whose entry says ``case_insensitive_paths = true``. docs/security.md lists these rows.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_hostile import Raw, raw_get
from tests.support.browser import Browser
from tests.support.caddy import caddy_server
from tests.support.flows import session_cookie
from tests.support.procs import Proc, free_port, require_binary, wait_for
from tests.support.servers import (
    PY,
    gateway_env,
    nginx_conf,
    nginx_server,
    start_gateway,
    start_mock_idp,
    start_redis,
    traefik_server,
)

pytestmark = pytest.mark.e2e

RULES = """
[[apps]]
host = "files.test"
rules = [
  { path = "^/admin", groups = ["ops"] },
  { path = "^/internal/", policy = "deny" },
]

[[apps]]
host = "slow.test"
rules = [{ path = "/.*/.*/admin", groups = ["ops"] }]

[[apps]]
host = "nocase.test"
case_insensitive_paths = true
rules = [
  { path = "^/admin", groups = ["ops"] },
  { path = "^/internal/", policy = "deny" },
]
"""
USERS = [
    {"sub": "alice", "preferred_username": "alice", "email": "alice@example.test", "groups": ["ops"]},
    {"sub": "bob", "preferred_username": "bob", "email": "bob@example.test", "groups": ["guests"]},
]
ADMIN = b"PROTECTED admin page"
INTERNAL = b"PROTECTED internal file"

# (spelling as written on the request line, what some app reads it as)
ADMIN_SPELLINGS = [
    ("/admin/", "the plain spelling (the control row)"),
    ("//admin/", "nginx, Apache, Tomcat, Spring merge slashes"),
    ("///admin/", "more slashes"),
    ("/;x/admin/", "Tomcat and Jetty drop a ;params segment"),
    ("/;/admin/", "an empty ;params segment"),
    ("/admin;x/", "a ;param on the protected segment"),
    ("/admin%3bx/", "an encoded ;"),
    ("/%2fadmin/", "an encoded / (lower case)"),
    ("/%2Fadmin/", "an encoded / (upper case)"),
    ("/%61dmin/", "an encoded letter"),
    ("/%2e/admin/", "an encoded dot segment"),
    ("/./admin/", "a dot segment"),
    ("/.//admin/", "a dot segment and a repeated slash"),
    ("/x/../admin/", "a dot-dot segment"),
    ("/x/%2e%2e/admin/", "encoded dots"),
    ("/x/%2E%2e/admin/", "encoded dots, mixed case"),
    ("/x/..;/admin/", "..; (Tomcat)"),
    ("/x/..%2fadmin/", "dots and an encoded /"),
    ("/x/..%5cadmin/", "dots and an encoded backslash (IIS)"),
    ("/x\\..\\admin/", "raw backslashes (IIS)"),
    ("/ADMIN/", "upper case (IIS, Express)"),
    ("/Admin/", "mixed case"),
    ("/admin./", "a trailing dot (Windows)"),
    ("/admin%2e/", "an encoded trailing dot"),
    ("/x/%252e%252e/admin/", "double-encoded dots (apps that decode twice)"),
]
INTERNAL_SPELLINGS = [
    ("/internal/secret.txt", "the plain spelling (the control row)"),
    ("//internal/secret.txt", "a doubled leading slash"),
    ("///internal/secret.txt", "three slashes"),
    ("/.//internal/secret", "a dot segment and a repeated slash"),
    ("//internal//secret", "repeated slashes everywhere"),
    ("/internal//secret.txt", "a repeated inner slash"),
    ("/;/internal/secret.txt", "an empty ;params segment"),
    ("/;x/internal/secret.txt", "a ;params segment"),
    ("/internal;x/secret.txt", "a ;param on the denied segment"),
    ("/internal%3b/secret.txt", "an encoded ;"),
    ("/internal%2fsecret.txt", "an encoded /"),
    ("/%69nternal/secret.txt", "an encoded letter"),
    ("/x/../internal/secret.txt", "a dot-dot segment"),
    ("/x/%2E%2E/internal/secret.txt", "encoded dots"),
    ("/internal/./secret.txt", "a dot segment inside"),
    ("/internal\\secret.txt", "a raw backslash"),
    ("/INTERNAL/secret.txt", "upper case"),
    ("/internal/secret.txt.", "a trailing dot (Windows)"),
    ("/internal./secret.txt", "a trailing dot on the denied segment"),
]
FILES = {
    "index.html": b"home\n",
    "admin/index.html": ADMIN,
    "internal/secret.txt": INTERNAL,
    "internal/secret": INTERNAL,
}

STARLETTE_APP = r'''
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

ADMIN, INTERNAL = sys.argv[3].encode(), sys.argv[4].encode()


def page(body):
    async def endpoint(request):
        return PlainTextResponse(body)
    return endpoint


app = Starlette(routes=[
    Route("/", page(b"home")),
    Route("/admin/", page(ADMIN)),
    Route("/internal/secret.txt", page(INTERNAL)),
    Route("/internal/secret", page(INTERNAL)),
])


async def lower_cased(scope, receive, send):
    """Paths whatever their case, as Express's router and IIS serve them."""
    if scope["type"] == "http":
        scope = {**scope, "path": scope["path"].lower()}
    await app(scope, receive, send)


port, mode = int(sys.argv[1]), sys.argv[2]
uvicorn.run(lower_cased if mode == "nocase" else app, host="127.0.0.1", port=port, log_level="warning")
'''


@dataclass
class Differential:
    """Per upstream, the port of each proxy recipe in front of it; the cookies of alice and bob."""

    tmp: Path
    gateway_url: str
    proxies: dict[str, dict[str, int]] = field(default_factory=dict)
    direct: dict[str, int] = field(default_factory=dict)
    cookies: dict[tuple[str, str], str] = field(default_factory=dict)


def start_nginx_files(tmp: Path, root: Path) -> tuple[Proc, int]:
    """A stock nginx serving ``root`` (merge_slashes on, its default)."""
    port = free_port()
    d = tmp / f"nginx-files-{port}"
    nginx_conf(d, f"access_log off;\nserver {{ listen 127.0.0.1:{port}; root {root}; }}", connections=64)
    binary = require_binary("nginx", "/usr/sbin/nginx")
    proc = Proc(f"nginx-files-{port}", [binary, "-p", str(d), "-c", str(d / "nginx.conf")], log_dir=tmp)
    return proc.start().wait_port(port), port


def start_starlette(tmp: Path, mode: str) -> tuple[Proc, int]:
    port = free_port()
    script = tmp / "starlette_app.py"
    script.write_text(STARLETTE_APP)
    argv = [PY, str(script), str(port), mode, ADMIN.decode(), INTERNAL.decode()]
    return Proc(f"starlette-{mode}-{port}", argv, log_dir=tmp).start().wait_port(port), port


@pytest.fixture(scope="module")
def world(module_tmp: Path) -> Iterator[Differential]:
    # nginx's workers drop root for nobody: the files live where anyone may read them.
    root = Path(tempfile.mkdtemp(prefix="authgate-site-"))
    for name, body in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(body)
    for path in (root, *root.rglob("*")):
        path.chmod(0o755 if path.is_dir() else 0o644)
    idp = start_mock_idp(module_tmp, users=USERS)
    store = start_redis(module_tmp, "differential-redis")
    rules = module_tmp / "differential.toml"
    rules.write_text(RULES)
    gateway = start_gateway(module_tmp, gateway_env(idp.issuer, redis_url=store.url, config=str(rules)))
    nginx_files, nginx_files_port = start_nginx_files(module_tmp, root)
    starlette, starlette_port = start_starlette(module_tmp, "plain")
    nocase, nocase_port = start_starlette(module_tmp, "nocase")
    upstreams = {"nginx files": nginx_files_port, "starlette": starlette_port}
    world = Differential(module_tmp, gateway.url, direct=dict(upstreams))
    procs = [nocase, starlette, nginx_files, gateway.proc, store.proc, idp.proc]
    caddy_files_port = free_port()
    caddy_site = f"http://:{caddy_files_port} {{\n\troot * {root}\n\tfile_server\n}}\n"
    try:
        with caddy_server(module_tmp, gateway_url="", app_port=0, port=caddy_files_port, render=lambda _: caddy_site):
            upstreams["caddy file_server"] = caddy_files_port
            world.direct["caddy file_server"] = caddy_files_port
            with proxies(module_tmp, gateway.url, upstreams, "files.test") as ports:
                world.proxies.update(ports)
                with proxies(module_tmp, gateway.url, {"starlette, any case": nocase_port}, "nocase.test") as more:
                    world.proxies.update(more)
                    world.direct["starlette, any case"] = nocase_port
                    nginx = ports["starlette"]["nginx"]
                    for user in ("alice", "bob"):
                        for host in ("files.test", "nocase.test"):
                            with Browser() as b:
                                port = nginx if host == "files.test" else more["starlette, any case"]["nginx"]
                                r = b.visit(f"http://{host}:{port}/", sub=user)
                                assert r.status_code == 200, r.text[:300]
                                world.cookies[(user, host)] = session_cookie(b)
                    yield world
    finally:
        for proc in procs:
            proc.stop()
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def proxies(tmp: Path, gateway_url: str, upstreams: dict[str, int], host: str) -> Iterator[dict[str, dict[str, int]]]:
    """The three recipes in front of each upstream: ``{upstream: {proxy: port}}``."""
    with ExitStack() as stack:
        ports: dict[str, dict[str, int]] = {}
        for name, app_port in upstreams.items():
            common = {"gateway_url": gateway_url, "app_port": app_port}
            traefik = stack.enter_context(traefik_server(tmp, host=host, **common))  # type: ignore[arg-type]
            ports[name] = {
                "nginx": stack.enter_context(nginx_server(tmp, server_name=host, **common)),  # type: ignore[arg-type]
                "caddy": stack.enter_context(caddy_server(tmp, host=host, **common)),  # type: ignore[arg-type]
                "traefik": traefik,
            }
            # Traefik loads its routers after it listens: wait until the site is routed.
            wait_for(lambda port=traefik: raw_get(port, "/", f"{host}:{port}").status != 404, what="Traefik routers")
        yield ports


PROXIES = ["nginx", "caddy", "traefik"]
UPSTREAMS = ["nginx files", "caddy file_server", "starlette"]


def get(world: Differential, upstream: str, proxy: str, target: str, user: str | None, host: str) -> Raw:
    port = world.proxies[upstream][proxy]
    cookie = () if user is None else (f"Cookie: {world.cookies[(user, host)]}",)
    return raw_get(port, target, f"{host}:{port}", *cookie)


def served(r: Raw, content: bytes) -> bool:
    return r.status == 200 and content in r.body


@pytest.mark.parametrize("upstream", UPSTREAMS)
@pytest.mark.parametrize("proxy", PROXIES)
def test_the_control_rows_the_upstream_serves_and_the_rules_decide(
    world: Differential, upstream: str, proxy: str
) -> None:
    admin = [get(world, upstream, proxy, "/admin/", user, "files.test") for user in (None, "bob", "alice")]
    assert [served(r, ADMIN) for r in admin] == [False, False, True], [r.status for r in admin]
    assert admin[1].status == 403, "bob is refused by the admin rule"
    internal = [get(world, upstream, proxy, "/internal/secret.txt", u, "files.test") for u in (None, "alice")]
    assert [r.status for r in internal] == [403, 403], "the deny rule refuses everyone"


@pytest.mark.parametrize("upstream", UPSTREAMS)
@pytest.mark.parametrize("proxy", PROXIES)
@pytest.mark.parametrize(("spelling", "why"), ADMIN_SPELLINGS)
def test_whenever_the_admin_page_is_served_the_admin_rule_was_applied(
    world: Differential, upstream: str, proxy: str, spelling: str, why: str
) -> None:
    for user in (None, "bob"):
        r = get(world, upstream, proxy, spelling, user, "files.test")
        assert not served(r, ADMIN), f"{proxy} -> {upstream} served {spelling} ({why}) to {user or 'anonymous'}"
    alice = get(world, upstream, proxy, spelling, "alice", "files.test")
    if proxy == "nginx":  # the recipe passes the path on as sent: the upstream's own answer is comparable
        direct = raw_get(world.direct[upstream], spelling, "files.test")
        if served(direct, ADMIN):
            assert served(alice, ADMIN), f"{upstream} serves {spelling} ({why}): alice, in ops, gets it too"


@pytest.mark.parametrize("upstream", UPSTREAMS)
@pytest.mark.parametrize("proxy", PROXIES)
@pytest.mark.parametrize(("spelling", "why"), INTERNAL_SPELLINGS)
def test_the_denied_file_is_never_served_in_any_spelling(
    world: Differential, upstream: str, proxy: str, spelling: str, why: str
) -> None:
    for user in (None, "bob", "alice"):
        r = get(world, upstream, proxy, spelling, user, "files.test")
        assert not served(r, INTERNAL), f"{proxy} -> {upstream} served {spelling} ({why}) to {user or 'anonymous'}"


@pytest.mark.parametrize("proxy", PROXIES)
@pytest.mark.parametrize(
    ("spelling", "content"),
    [(s, ADMIN) for s in ("/ADMIN/", "/Admin/", "/aDmIn/", "/%41dmin/")]
    + [(s, INTERNAL) for s in ("/INTERNAL/secret.txt", "/Internal/Secret.txt", "/INTERNAL/SECRET")],
)
def test_on_an_app_that_ignores_case_every_case_meets_the_rule(
    world: Differential, proxy: str, spelling: str, content: bytes
) -> None:
    upstream = "starlette, any case"
    assert served(raw_get(world.direct[upstream], spelling, "nocase.test"), content), "the upstream ignores case"
    for user in (None, "bob"):
        assert not served(get(world, upstream, proxy, spelling, user, "nocase.test"), content), (spelling, user)
    alice = get(world, upstream, proxy, spelling, "alice", "nocase.test")
    assert served(alice, ADMIN) if content == ADMIN else alice.status == 403, (spelling, alice.status)


# --- An operator's regex cannot stall a replica ------------------------------------------------


def test_a_backtracking_rule_cannot_stall_a_replica(world: Differential) -> None:
    """``/.*/.*/admin`` against ``/a/a/a/...``: Python's re backtracks for minutes (95 s for 8 KB) and
    holds the event loop; RE2 reads the path once. Distinct query strings: no memo answers for it."""
    path = "/a" * 3950  # 7.9 KB, what nginx takes on a request line
    with (
        nginx_server(
            world.tmp, gateway_url=world.gateway_url, app_port=world.direct["starlette"], server_name="slow.test"
        ) as port,
        ThreadPoolExecutor(max_workers=4) as pool,
    ):
        checks = [pool.submit(raw_get, port, f"{path}?{i}", f"slow.test:{port}") for i in range(4)]
        # The replica answers its health check meanwhile (a stalled event loop would not, within 5 s).
        assert httpx.get(f"{world.gateway_url}/healthz", timeout=5).status_code == 200
        # raw_get's socket gives up after 15 s: a backtracking match would not have answered by then.
        answers = [check.result(timeout=60) for check in checks]
    assert [r.status for r in answers] == [302] * 4, "anonymous: sent to sign in, as for any protected page"
