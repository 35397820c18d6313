"""The deployment recipes (Dockerfile, Compose, Kubernetes) are valid and cannot drift from the code.

Compose files are checked by the real ``docker-compose config`` (no engine needed); Kubernetes
manifests by parsing and by the wiring an operator relies on (probes, security context, Secret
keys, the ingress-nginx annotations). Every ``AUTHGATE_*`` name in ``deploy/`` must be a real
setting, and the configurations the recipes build must pass ``load_settings``.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote, urlsplit

import pytest
import yaml

from authgate.access.identity_headers import managed_headers
from authgate.access.redirects import validate_redirect
from authgate.cli import main as cli
from authgate.config import ENV_PREFIX, SECRET_FIELDS, Settings, load_settings
from authgate.errors import ConfigError
from authgate.web.common import rd_from_query
from tests.support.procs import free_port, require_binary
from tests.support.servers import gateway_env, start_gateway

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE_DIR = DEPLOY / "compose"
ENV_EXAMPLE = COMPOSE_DIR / ".env.example"
K8S = DEPLOY / "kubernetes"
DOCKERFILE = ROOT / "Dockerfile"
PREFIX = "/outpost.goauthentik.io"
IDENTITY_HEADERS = managed_headers()  # every header authgate sets on a 200 by default: the recipes must manage all
AUTHGATE_VAR = re.compile(r"\bAUTHGATE_[A-Z0-9_]+\b")
COMPOSE_VAR = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")
ASSIGNMENT = re.compile(r"^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$")


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def valid_variables() -> set[str]:
    """Every environment variable authgate reads: one per setting, plus ``_FILE`` for secrets."""
    names = {f"{ENV_PREFIX}{name.upper()}" for name, field in Settings.model_fields.items() if not field.exclude}
    return names | {f"{ENV_PREFIX}{name.upper()}_FILE" for name in SECRET_FIELDS}


def compose_files() -> list[Path]:
    found = []
    for path in sorted([*DEPLOY.rglob("*.yml"), *DEPLOY.rglob("*.yaml")]):
        docs = list(yaml.safe_load_all(path.read_text()))
        if len(docs) == 1 and isinstance(docs[0], dict) and isinstance(docs[0].get("services"), dict):
            found.append(path)
    return found


COMPOSE_FILES = compose_files()
STACKS = [p for p in COMPOSE_FILES if p.parent == COMPOSE_DIR]


def load_compose(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())  # merge keys (<<: *anchor) resolved
    return data


def env_example() -> dict[str, str]:
    values: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{rel(ENV_EXAMPLE)}: not KEY=value: {line!r}"
        values[key.strip()] = value.strip()
    return values


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}``, ``${VAR:?error}`` and ``$$``."""

    def sub(m: re.Match[str]) -> str:
        name, op, arg = m.groups()
        current = env.get(name, "")
        if op and op.endswith("-") and not current:
            return str(arg)
        if op and op.endswith("?") and not current:
            raise AssertionError(f"{name} is required: {arg}")
        return current

    return COMPOSE_VAR.sub(sub, value).replace("$$", "$")


def as_mapping(value: Any) -> dict[str, str]:
    """Compose's ``environment`` / ``labels``: a mapping or a list of ``KEY=value``."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return {str(k): "" if v is None else str(v) for k, v in value.items()}
    return dict(str(item).partition("=")[::2] for item in value)


def authgate_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: svc
        for name, svc in compose["services"].items()
        if str(svc.get("image", "")).split(":")[0] == "authgate" or "build" in svc
    }


def aliases(svc: dict[str, Any]) -> set[str]:
    networks = svc.get("networks") or {}
    if isinstance(networks, list):
        return set()
    return {a for net in networks.values() if net for a in net.get("aliases", [])}


def secret_names(svc: dict[str, Any]) -> set[str]:
    return {s if isinstance(s, str) else s["source"] for s in svc.get("secrets", [])}


def write_secret_files(tmp: Path, env: dict[str, str], contents: Mapping[str, str]) -> dict[str, str]:
    """Point every ``AUTHGATE_*_FILE`` at a temporary file holding ``contents[original path]``."""
    env = dict(env)
    for var, path in list(env.items()):
        if var.startswith(ENV_PREFIX) and var.endswith("_FILE"):
            assert path in contents, f"{var}={path}: nothing is mounted there"
            local = tmp / f"{var.lower()}.txt"
            local.write_text(contents[path] + "\n")
            env[var] = str(local)
    return env


def strong_secret() -> str:
    return secrets.token_urlsafe(48)


# ---------------------------------------------------------------------------------------------
# Every AUTHGATE_* name in the recipes is a real setting
# ---------------------------------------------------------------------------------------------


def test_every_authgate_variable_in_the_deploy_files_is_a_setting() -> None:
    valid = valid_variables()
    local = (COMPOSE_DIR / ".env", COMPOSE_DIR / "secrets")  # an operator's own, git-ignored
    files = [DOCKERFILE, *(p for p in DEPLOY.rglob("*") if p.is_file() and not p.is_relative_to(local[1]))]
    files = [p for p in files if p != local[0]]
    used: dict[str, set[str]] = {}
    for path in files:
        for name in AUTHGATE_VAR.findall(path.read_text(errors="replace")):
            used.setdefault(name, set()).add(rel(path))
    assert used, "no AUTHGATE_* variable found in deploy/: the scan is broken"
    # Read by setup.py when the image is built (the hot path compiled by mypyc), never at run time.
    build_only = {"AUTHGATE_COMPILE"}
    unknown = {name: sorted(where) for name, where in used.items() if name not in valid | build_only}
    assert not unknown, f"not settings of authgate.config.Settings (nor *_FILE of a secret): {unknown}"


# ---------------------------------------------------------------------------------------------
# Compose
# ---------------------------------------------------------------------------------------------


def test_the_compose_stacks_exist() -> None:
    names = {p.name for p in STACKS}
    assert {"authentik.yml", "npm.yml"} <= names, names
    assert ENV_EXAMPLE.is_file()


@pytest.fixture(scope="module")
def docker_compose() -> str:
    return require_binary("docker-compose")


def run_compose_config(binary: str, path: Path, tmp: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """``docker-compose config`` with .env.example as the project's .env (no engine needed)."""
    shutil.copy(ENV_EXAMPLE, tmp / ".env")
    documented = set(env_example())
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_") and k not in documented}
    return subprocess.run(
        [binary, "-f", str(path), "--project-directory", str(tmp), "config", *extra],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=rel)
def test_compose_file_is_valid(path: Path, docker_compose: str, tmp_path: Path) -> None:
    quiet = run_compose_config(docker_compose, path, tmp_path, "-q")
    assert quiet.returncode == 0, f"docker-compose config -q {rel(path)}:\n{quiet.stderr}"
    assert "WARNING" not in quiet.stderr, quiet.stderr
    full = run_compose_config(docker_compose, path, tmp_path)
    assert full.returncode == 0, full.stderr
    resolved = yaml.safe_load(full.stdout)
    if path in STACKS:
        dotenv = env_example()
        for name, svc in authgate_services(resolved).items():
            env = as_mapping(svc.get("environment"))
            assert env["AUTHGATE_ISSUER"] == dotenv["AUTHGATE_ISSUER"], f"{name}: .env reaches the replica"
            assert env["AUTHGATE_SECRET_FILE"].startswith("/run/secrets/"), name


@pytest.mark.parametrize("path", STACKS, ids=rel)
def test_compose_stack_runs_two_replicas_sharing_one_redis(path: Path) -> None:
    compose = load_compose(path)
    replicas = authgate_services(compose)
    assert len(replicas) >= 2, f"{rel(path)}: at least two authgate replicas, found {sorted(replicas)}"
    redis_urls = set()
    for name, svc in replicas.items():
        build = svc.get("build")
        if build is not None:
            context = build if isinstance(build, str) else build.get("context", ".")
            assert (path.parent / context / "Dockerfile").resolve() == DOCKERFILE, f"{name}: build context"
        env = as_mapping(svc.get("environment"))
        redis_urls.add(env.get("AUTHGATE_REDIS_URL"))
        # Secrets only as files, from Compose secrets.
        for field in SECRET_FIELDS:
            var = f"{ENV_PREFIX}{field.upper()}"
            assert var not in env or field == "redis_url", f"{name}: {var} as a plain value; use {var}_FILE"
        for var in ("AUTHGATE_SECRET_FILE", "AUTHGATE_CLIENT_SECRET_FILE"):
            mounted = env.get(var, "")
            assert mounted.startswith("/run/secrets/"), f"{name}: {var}={mounted!r}"
            secret = mounted.removeprefix("/run/secrets/")
            assert secret in secret_names(svc), f"{name}: {var} names {secret}, which is not mounted"
            source = compose["secrets"][secret]["file"]
            assert source.startswith("./secrets/"), f"{secret}: {source} (keep them in deploy/compose/secrets/)"
        assert svc.get("env_file") in (".env", [".env"]), f"{name}: settings come from .env"
        assert svc.get("read_only") is True, f"{name}: read-only root filesystem"
        assert "/tmp" in svc.get("tmpfs", []), f"{name}: a tmpfs at /tmp"
        assert "ALL" in svc.get("cap_drop", []), f"{name}: drop all capabilities"
        assert "authgate" in aliases(svc), f"{name}: every replica answers to `authgate`"
        assert "user" not in svc or svc["user"] not in ("root", "0"), name
    assert len(redis_urls) == 1 and None not in redis_urls, f"one Redis for every replica: {redis_urls}"
    redis_host = urlsplit(redis_urls.pop() or "").hostname
    assert redis_host in compose["services"], f"{redis_host}: no such service in {rel(path)}"
    assert compose["services"][redis_host]["image"].startswith(("redis:7", "docker.io/library/redis:7"))


@pytest.mark.parametrize("path", STACKS, ids=rel)
def test_compose_replica_configuration_is_accepted_by_authgate(path: Path, tmp_path: Path) -> None:
    """.env.example + the replica's environment + its secret files: ``load_settings`` accepts it."""
    compose = load_compose(path)
    dotenv = env_example()
    for name, svc in authgate_services(compose).items():
        env = dict(dotenv)
        env.update({k: interpolate(v, dotenv) for k, v in as_mapping(svc.get("environment")).items()})
        mounts = {f"/run/secrets/{s}": strong_secret() for s in secret_names(svc)}
        settings = load_settings(write_secret_files(tmp_path, env, mounts))
        assert settings.secret and settings.client_secret, name
        assert settings.redis_url.startswith("redis://"), name


def test_compose_variables_are_documented_in_env_example() -> None:
    text = ENV_EXAMPLE.read_text()
    documented = {m.group(2) for line in text.splitlines() if (m := ASSIGNMENT.match(line.strip()))}
    used = {m.group(1) for path in STACKS for m in COMPOSE_VAR.finditer(path.read_text())}
    assert used, "no ${VAR} found in the Compose stacks: the scan is broken"
    assert used <= documented, f"used in Compose files but not in {rel(ENV_EXAMPLE)}: {sorted(used - documented)}"
    # Every active variable is used: interpolated, or read by authgate / Authentik through env_file.
    unused = {k for k in env_example() if k not in used and not k.startswith((ENV_PREFIX, "AUTHENTIK_"))}
    assert not unused, f"{rel(ENV_EXAMPLE)} sets variables nothing reads: {sorted(unused)}"


def test_env_example_explains_every_variable() -> None:
    lines = ENV_EXAMPLE.read_text().splitlines()
    for i, line in enumerate(lines):
        m = ASSIGNMENT.match(line.strip())
        if not m:
            continue
        j = i - 1
        while j >= 0 and ASSIGNMENT.match(lines[j].strip()) and lines[j].lstrip().startswith("#"):
            j -= 1  # a run of commented-out alternatives shares one explanation
        assert j >= 0 and lines[j].lstrip().startswith("#"), f"{rel(ENV_EXAMPLE)}: {m.group(2)} has no comment"
    values = env_example()
    assert not any(AUTHGATE_VAR.fullmatch(k) and k.endswith("SECRET") for k in values), "secrets belong in files"


def traefik_labels(compose: dict[str, Any]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for svc in compose["services"].values():
        labels.update(as_mapping(svc.get("labels")))
    return labels


def dynamic_yml_headers() -> list[str]:
    dynamic = yaml.safe_load((DEPLOY / "traefik" / "dynamic.yml").read_text())
    headers: list[str] = dynamic["http"]["middlewares"]["authgate"]["forwardAuth"]["authResponseHeaders"]
    return headers


@pytest.mark.parametrize("path", [p for p in COMPOSE_FILES if "traefik.enable" in p.read_text()], ids=rel)
def test_traefik_labels_forward_auth_to_authgate(path: Path) -> None:
    compose = load_compose(path)
    env = env_example()
    labels = {k: interpolate(v, env) for k, v in traefik_labels(compose).items()}
    mw = "traefik.http.middlewares.authgate.forwardauth"
    address = urlsplit(labels[f"{mw}.address"])
    assert address.path == f"{PREFIX}/auth/traefik"
    assert address.port == 9000
    names = {a for svc in authgate_services(compose).values() for a in aliases(svc)} | set(authgate_services(compose))
    assert address.hostname in names, f"{address.hostname}: not an authgate service or alias in {rel(path)}"
    assert labels[f"{mw}.authResponseHeaders"].split(",") == dynamic_yml_headers() == IDENTITY_HEADERS
    assert labels[f"{mw}.trustForwardHeader"] == "true"
    assert labels["traefik.http.services.authgate.loadbalancer.server.port"] == "9000"
    # authgate's own routes on the protected host, served by authgate without the middleware.
    protected = [
        k.removesuffix(".middlewares") for k, v in labels.items() if k.endswith(".middlewares") and "authgate@" in v
    ]
    assert protected, "no router uses the authgate middleware"
    own = [
        k.removesuffix(".rule") for k, v in labels.items() if k.endswith(".rule") and f"PathPrefix(`{PREFIX}/`)" in v
    ]
    assert own, f"no router for {PREFIX}/"
    for router in own:
        assert labels.get(f"{router}.service") == "authgate", router
        assert f"{router}.middlewares" not in labels, f"{router}: authgate's own routes must not be protected"
    for router in protected:
        host = re.search(r"Host\(`([^`]+)`\)", labels[f"{router}.rule"])
        assert host, router
        assert any(f"Host(`{host.group(1)}`)" in labels[f"{r}.rule"] for r in own), f"{host.group(1)}: no {PREFIX}/"


def test_authentik_stack_wiring() -> None:
    compose = load_compose(COMPOSE_DIR / "authentik.yml")
    env = env_example()
    services = compose["services"]
    images = {name: interpolate(str(svc.get("image", "")), env) for name, svc in services.items()}
    assert re.fullmatch(r"ghcr\.io/goauthentik/server:2025\.\d+\.\d+", images["authentik-server"])
    assert images["authentik-worker"] == images["authentik-server"]
    assert services["authentik-server"]["command"] == "server"
    assert services["authentik-worker"]["command"] == "worker"
    assert re.fullmatch(r"(docker\.io/library/)?postgres:16[-.\w]*", images["authentik-postgresql"])
    assert re.fullmatch(r"(docker\.io/library/)?redis:7[-.\w]*", images["authentik-redis"])
    assert re.fullmatch(r"traefik:v3[.\d]*", images["traefik"])
    assert any(image.startswith("traefik/whoami") for image in images.values())
    assert "--providers.docker=true" in services["traefik"]["command"]
    assert any("/var/run/docker.sock" in v for v in services["traefik"]["volumes"])
    for name, svc in authgate_services(compose).items():
        backchannel = as_mapping(svc["environment"])["AUTHGATE_BACKCHANNEL_URL"]
        assert backchannel == "http://authentik-server:9000", name
    # The issuer browsers see: Authentik's public name, per-application path.
    issuer = env["AUTHGATE_ISSUER"]
    assert re.fullmatch(rf"http://{re.escape(env['AUTH_HOST'])}/application/o/[\w-]+/", issuer), issuer
    assert env["AUTH_HOST"] == "auth.localhost" and env["APP_HOST"] == "app.localhost"
    labels = {k: interpolate(v, env) for k, v in traefik_labels(compose).items()}
    assert labels["traefik.http.routers.authentik.rule"] == "Host(`auth.localhost`)"
    # Authentik's own secrets are files too.
    server_env = as_mapping(services["authentik-server"]["environment"])
    assert server_env["AUTHENTIK_SECRET_KEY"].startswith("file:///run/secrets/")
    assert server_env["AUTHENTIK_POSTGRESQL__PASSWORD"].startswith("file:///run/secrets/")


@pytest.mark.parametrize("name", ["npm-advanced.conf", "npm-advanced-domain.conf"])
def test_nginx_snippets_set_every_managed_header_from_authgates_answer(name: str) -> None:
    snippet = (DEPLOY / "nginx" / name).read_text()
    from_answer = dict(re.findall(r"^\s*auth_request_set\s+\$(\w+)\s+\$upstream_http_(\w+);", snippet, re.M))
    set_headers = re.findall(r"^\s*proxy_set_header\s+(\S+)\s+\$(\w+);", snippet, re.M)
    copied = [(header, from_answer[var]) for header, var in set_headers if var in from_answer]
    assert [h for h, _ in copied] == IDENTITY_HEADERS, "every managed header, in the documented order"
    assert all(source == header.lower().replace("-", "_") for header, source in copied), copied


def _blocks(conf: str) -> list[list[str]]:
    """The ``proxy_set_header`` names of each ``{ }`` block of an nginx file, its own lines only."""
    done: list[list[str]] = []
    stack: list[list[str]] = [[]]
    for raw in conf.splitlines():
        line = raw.split("#", 1)[0].strip()
        if m := re.match(r"proxy_set_header\s+(\S+)", line):
            stack[-1].append(m.group(1).lower())
        stack.extend([] for _ in range(line.count("{")))
        for _ in range(line.count("}")):
            done.append(stack.pop())
    return [*done, *stack]


NGINX_TEXTS = [*sorted((DEPLOY / "nginx").glob("*.conf")), *sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]


@pytest.mark.parametrize("path", NGINX_TEXTS, ids=rel)
def test_no_nginx_block_sets_a_header_twice(path: Path) -> None:
    """Two ``proxy_set_header`` lines for one name in one block send the header twice (the
    npm-advanced.conf once set X-Forwarded-For twice): an app reading the last would read a list."""
    text = path.read_text()
    if path.suffix == ".md":  # the nginx code blocks of the docs
        text = "\n".join(re.findall(r"```nginx\n(.*?)```", text, re.S))
    for names in _blocks(text):
        twice = sorted({n for n in names if names.count(n) > 1})
        assert not twice, f"{rel(path)}: {twice} set twice in one block"


def test_caddyfile_copies_every_managed_header() -> None:
    caddyfile = (DEPLOY / "caddy" / "Caddyfile").read_text()
    lines = re.findall(r"^\s*copy_headers\s+(.+)$", caddyfile, re.M)
    assert [line.split() for line in lines] == [IDENTITY_HEADERS]


def test_npm_stack_serves_the_npm_snippet() -> None:
    compose = load_compose(COMPOSE_DIR / "npm.yml")
    assert str(compose["services"]["npm"]["image"]).startswith("jc21/nginx-proxy-manager:")
    snippet = (DEPLOY / "nginx" / "npm-advanced.conf").read_text()
    upstreams = {urlsplit(u) for u in re.findall(r"proxy_pass\s+(http://[^\s;]+)", snippet)}
    assert upstreams
    names = {a for svc in authgate_services(compose).values() for a in aliases(svc)}
    for upstream in upstreams:
        assert upstream.hostname in names and upstream.port == 9000, f"{upstream.geturl()}: not this stack's authgate"
    assert "npm-advanced.conf" in (COMPOSE_DIR / "npm.yml").read_text(), "say where the Advanced snippet is"


# ---------------------------------------------------------------------------------------------
# Dockerfile
# ---------------------------------------------------------------------------------------------


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    current = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        keyword, _, rest = current.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
        current = ""
    return instructions


def final_stage() -> list[tuple[str, str]]:
    steps = dockerfile()
    last_from = max(i for i, (kw, _) in enumerate(steps) if kw == "FROM")
    return steps[last_from:]


def exec_form(instruction: str) -> list[str]:
    args = [arg for kw, arg in final_stage() if kw == instruction]
    assert len(args) == 1, f"exactly one {instruction} in the final stage, found {args}"
    value = json.loads(args[0])
    assert isinstance(value, list), f"{instruction} in exec form (a JSON list), so signals reach authgate"
    return [str(v) for v in value]


def healthcheck_command() -> list[str]:
    args = [arg for kw, arg in final_stage() if kw == "HEALTHCHECK"]
    assert len(args) == 1, "one HEALTHCHECK in the final stage"
    _options, sep, command = args[0].partition(" CMD ")
    assert sep, f"HEALTHCHECK without CMD: {args[0]}"
    value = json.loads(command)
    assert isinstance(value, list)
    return [str(v) for v in value]


def test_dockerfile_is_multi_stage_on_slim_python() -> None:
    steps = dockerfile()
    froms = [arg for kw, arg in steps if kw == "FROM"]
    assert len(froms) >= 2 and " AS " in froms[0].upper(), f"a builder stage, then the final one: {froms}"
    args = dict(arg.partition("=")[::2] for kw, arg in steps[: steps.index(("FROM", froms[0]))] if kw == "ARG")
    base = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), froms[-1]).split()[0]
    assert re.fullmatch(r"python:3\.1[1-9]-slim(-\w+)?", base), base
    assert any(kw == "COPY" and arg.startswith("--from=") for kw, arg in final_stage()), "copies the build result"
    env = " ".join(arg for kw, arg in final_stage() if kw == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env and "PYTHONUNBUFFERED=1" in env
    assert ("EXPOSE", "9000") in final_stage()
    assert ("STOPSIGNAL", "SIGTERM") in final_stage()


def dockerfile_uid() -> int:
    users = [arg for kw, arg in final_stage() if kw == "USER"]
    assert users, "the final stage sets a USER"
    user = users[-1].split(":")[0]
    assert user.isdigit(), f"USER {users[-1]}: numeric, so Kubernetes' runAsNonRoot can verify it"
    return int(user)


def test_dockerfile_runs_as_a_non_root_user() -> None:
    assert dockerfile_uid() == 10001
    group = [arg for kw, arg in final_stage() if kw == "USER"][-1].partition(":")[2]
    assert group not in ("0", "root")


def test_dockerfile_healthcheck_and_command() -> None:
    check = healthcheck_command()
    joined = " ".join(check)
    assert "http://127.0.0.1:9000/healthz" in joined and "urllib" in joined, check
    assert not {"curl", "wget"} & set(check), "no curl or wget in the slim image"
    assert exec_form("ENTRYPOINT") == ["authgate"]
    assert "serve" in exec_form("CMD")
    assert "authgate" in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]


def test_dockerfile_ships_the_hot_path_compiled_by_the_locked_mypyc() -> None:
    steps = dockerfile()
    assert ("ARG", "COMPILE=1") in steps, "compiled unless asked otherwise (docs/performance.md)"
    runs = [arg for kw, arg in steps if kw == "RUN"]
    assert any("--require-hashes" in run and "/tmp/compile.txt" in run for run in runs), "mypyc from the lock"
    assert ("COPY", "requirements/compile.txt /tmp/compile.txt") in steps
    build = next(run for run in runs if "AUTHGATE_COMPILE=1" in run)
    assert "COMPILED" in build, "the build fails if the installed package is not the compiled one"
    assert any(kw == "COPY" and "setup.py" in arg.split()[:-1] for kw, arg in steps), "setup.py lists the modules"
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(dep.startswith("mypy") for dep in extras["compile"])


def parse_cli(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """What ``authgate <argv>`` would run, without running it."""
    seen: list[Any] = []
    monkeypatch.setattr(cli, "_serve", lambda args: seen.append(args) or 0)
    assert cli.main(argv) == 0
    assert len(seen) == 1, f"{argv}: not `serve`"
    return seen[0]


def test_dockerfile_command_is_serve_on_port_9000(monkeypatch: pytest.MonkeyPatch) -> None:
    args = parse_cli(exec_form("CMD"), monkeypatch)
    assert (args.host, args.port, args.workers) == ("0.0.0.0", 9000, 1)


def test_dockerfile_bakes_in_no_secrets() -> None:
    for kw, arg in dockerfile():
        if kw in ("ENV", "ARG", "LABEL"):
            assert not AUTHGATE_VAR.search(arg), f"{kw} {arg}: configuration belongs to run time"
        if kw in ("COPY", "ADD") and not arg.startswith("--from="):
            sources = arg.split()[:-1]
            assert not any(".env" in s or "secret" in s.lower() for s in sources), f"{kw} {arg}"


def test_dockerignore_sends_only_what_the_image_is_built_from() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", "an allow-list: everything excluded first"
    included = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    defaults = dict(arg.partition("=")[::2] for kw, arg in dockerfile() if kw == "ARG")
    copied = {
        re.sub(r"\$\{(\w+)\}", lambda m: defaults[m.group(1)], src).rstrip("/").removeprefix("./")
        for kw, arg in dockerfile()
        if kw == "COPY" and not arg.startswith("--from=")
        for src in arg.split()[:-1]
    }
    left_out = {path for path in copied if not any(fnmatch.fnmatch(path, pattern) for pattern in included)}
    assert not left_out, f"COPY of files the context leaves out: {left_out}"
    readme = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"].get("readme")
    assert readme is None or readme in included, "pyproject.toml's readme is needed to build the package"
    for leaked in (".venv", ".git", "tests", "deploy", "node_modules", ".env"):
        assert leaked not in included


def test_healthcheck_command_works_against_a_real_gateway(tmp_path: Path) -> None:
    check = healthcheck_command()
    assert check[:2] == ["python", "-c"]
    code = check[2]
    gateway = start_gateway(tmp_path, gateway_env("http://127.0.0.1:9/application/o/none/"))
    try:
        ok = subprocess.run(
            [sys.executable, "-c", code.replace("127.0.0.1:9000", f"127.0.0.1:{gateway.port}")],
            capture_output=True,
            timeout=30,
            check=False,
        )
        assert ok.returncode == 0, ok.stderr
    finally:
        gateway.proc.stop()
    down = subprocess.run(
        [sys.executable, "-c", code.replace("127.0.0.1:9000", f"127.0.0.1:{free_port()}")],
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert down.returncode != 0, "the health check must fail when nothing answers"


# ---------------------------------------------------------------------------------------------
# Kubernetes
# ---------------------------------------------------------------------------------------------


def k8s_files() -> list[Path]:
    return sorted(p for p in K8S.glob("*.y*ml") if p.name != "kustomization.yaml")


def k8s_docs() -> list[dict[str, Any]]:
    return [d for p in k8s_files() for d in yaml.safe_load_all(p.read_text()) if d is not None]


def find(kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [d for d in k8s_docs() if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]


def one(kind: str, name: str) -> dict[str, Any]:
    found = find(kind, name)
    assert len(found) == 1, f"one {kind} named {name}, found {len(found)}"
    return found[0]


def kustomization() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    return data


def namespace() -> str:
    return str(kustomization()["namespace"])


def authgate_container() -> dict[str, Any]:
    containers = one("Deployment", "authgate")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    container: dict[str, Any] = containers[0]
    return container


@pytest.mark.parametrize("path", [*k8s_files(), K8S / "kustomization.yaml"], ids=rel)
def test_kubernetes_yaml_parses(path: Path) -> None:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    assert docs
    for doc in docs:
        assert doc.get("apiVersion") and doc.get("kind"), f"{rel(path)}: apiVersion and kind"
        if doc["kind"] != "Kustomization":
            assert doc["metadata"]["name"], rel(path)


def test_kustomization_lists_the_manifests() -> None:
    k = kustomization()
    listed = set(k["resources"])
    assert all((K8S / r).is_file() for r in listed), listed
    text = (K8S / "kustomization.yaml").read_text()
    for path in k8s_files():
        assert path.name in text, f"{path.name}: neither listed nor mentioned in kustomization.yaml"
    for required in ("deployment.yaml", "service.yaml", "pdb.yaml", "configmap.yaml", "ingress-nginx.yaml"):
        assert required in listed, required
    assert one("Namespace", namespace())


def test_deployment_runs_two_hardened_replicas(monkeypatch: pytest.MonkeyPatch) -> None:
    deployment = one("Deployment", "authgate")
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    container = authgate_container()
    assert spec["replicas"] >= 2
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    # Probes: liveness on /healthz, readiness on /readyz, a startup probe.
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": 9000}
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["port"] in ("http", 9000), probe
    # Security.
    pod_sc, sc = pod["securityContext"], container["securityContext"]
    assert pod_sc["runAsNonRoot"] is True or sc["runAsNonRoot"] is True
    assert pod_sc["runAsUser"] == dockerfile_uid(), "the image's own uid"
    assert pod_sc["seccompProfile"]["type"] == "RuntimeDefault"
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert pod["automountServiceAccountToken"] is False
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]], "a writable /tmp on a read-only root"
    # Resources and spreading.
    for kind in ("requests", "limits"):
        assert container["resources"][kind].get("memory"), kind
    assert container["resources"]["requests"].get("cpu")
    spread = pod.get("topologySpreadConstraints") or pod.get("affinity", {}).get("podAntiAffinity")
    assert spread, "replicas spread over nodes"
    # The command is the gateway; one worker per pod (scale with replicas).
    assert "command" not in container, "keep the image's ENTRYPOINT"
    args = parse_cli(container["args"], monkeypatch)
    assert (args.port, args.workers) == (9000, 1)


def deployment_environment(tmp: Path, secret_values: Mapping[str, str]) -> dict[str, str]:
    """The environment a pod gets: the ConfigMap, plain values, and *_FILE pointing into secret volumes."""
    container = authgate_container()
    pod = one("Deployment", "authgate")["spec"]["template"]["spec"]
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(one("ConfigMap", source["configMapRef"]["name"])["data"])
    for item in container.get("env", []):
        assert "value" in item, f"{item['name']}: secrets come as files, not valueFrom"
        env[item["name"]] = str(item["value"])
    volumes = {v["name"]: v for v in pod["volumes"]}
    contents: dict[str, str] = {}
    for mount in container["volumeMounts"]:
        volume = volumes[mount["name"]]
        if "secret" in volume:
            secret = one("Secret", volume["secret"]["secretName"])
            for key in secret["stringData"]:
                contents[f"{mount['mountPath']}/{key}"] = secret_values.get(key, secret["stringData"][key])
    return write_secret_files(tmp, env, contents)


def test_deployment_secrets_are_files_from_the_secret(tmp_path: Path) -> None:
    container = authgate_container()
    names = {item["name"] for item in container["env"]}
    assert {"AUTHGATE_SECRET_FILE", "AUTHGATE_CLIENT_SECRET_FILE"} <= names
    config = one("ConfigMap", "authgate-config")["data"]
    for field in SECRET_FIELDS:
        assert f"{ENV_PREFIX}{field.upper()}" not in config, f"{field} in the ConfigMap: it is a secret"
    # The example Secret's placeholder is refused (a forgotten example fails loudly) ...
    with pytest.raises(ConfigError) as refused:
        load_settings(deployment_environment(tmp_path, {}))
    assert any("AUTHGATE_SECRET" in p for p in refused.value.problems), refused.value.problems
    # ... and with real values the configuration is accepted.
    settings = load_settings(deployment_environment(tmp_path, {"secret": strong_secret(), "client-secret": "x"}))
    assert settings.redis_url.startswith("redis://") and settings.client_secret == "x"
    secret = one("Secret", "authgate-secrets")
    assert all("REPLACE" in v for k, v in secret["stringData"].items() if k != "redis-url"), "obvious placeholders"


def test_service_and_pdb_select_the_replicas() -> None:
    labels = one("Deployment", "authgate")["spec"]["template"]["metadata"]["labels"]
    service = one("Service", "authgate")
    assert service["spec"]["selector"].items() <= labels.items()
    assert [p["port"] for p in service["spec"]["ports"]] == [9000]
    pdb = one("PodDisruptionBudget", "authgate")
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    redis_url = one("Secret", "authgate-secrets")["stringData"]["redis-url"]
    redis_host = urlsplit(redis_url).hostname
    if redis_host and "." not in redis_host:
        assert one("Service", redis_host), f"{redis_url}: no such Service"


def authgate_address() -> str:
    return f"http://authgate.{namespace()}.svc.cluster.local:9000"


def test_ingress_nginx_annotations_point_at_authgate() -> None:
    ingresses = find("Ingress")
    protected = [i for i in ingresses if "nginx.ingress.kubernetes.io/auth-url" in i["metadata"].get("annotations", {})]
    assert protected, "an Ingress with auth-url"
    for ingress in protected:
        notes = ingress["metadata"]["annotations"]
        assert notes["nginx.ingress.kubernetes.io/auth-url"] == f"{authgate_address()}{PREFIX}/auth/nginx"
        assert f"{PREFIX}/start?rd=" in notes["nginx.ingress.kubernetes.io/auth-signin"]
        assert notes["nginx.ingress.kubernetes.io/auth-response-headers"].split(",") == IDENTITY_HEADERS
        # authgate's own routes on the same host, through an Ingress without the auth annotations.
        for host in {r["host"] for r in ingress["spec"]["rules"]}:
            routes = [
                (path["path"], path["backend"]["service"])
                for other in ingresses
                if "nginx.ingress.kubernetes.io/auth-url" not in other["metadata"].get("annotations", {})
                for rule in other["spec"]["rules"]
                if rule["host"] == host
                for path in rule["http"]["paths"]
            ]
            assert any(p == PREFIX and s["name"] == "authgate" for p, s in routes), f"{host}: no {PREFIX} route"


@pytest.mark.parametrize("request_uri", ["/", "/dash?tab=1&x=2", "/a%20b/c?q=%2F&r=caf%C3%A9"])
def test_ingress_signin_brings_the_user_back(request_uri: str) -> None:
    """nginx fills in auth-signin; authgate's /start must accept its ``rd`` and return to the page."""
    host = "app.example.com"
    variables = {
        "$escaped_request_uri": quote(request_uri, safe=""),
        "$request_uri": request_uri,
        "$http_host": host,
        "$scheme": "https",
        "$host": host,
    }
    for ingress in find("Ingress"):
        signin = ingress["metadata"].get("annotations", {}).get("nginx.ingress.kubernetes.io/auth-signin")
        if not signin:
            continue
        url = signin
        for name, value in variables.items():  # longest names first: $escaped_request_uri before $request_uri
            url = url.replace(name, value)
        parts = urlsplit(url)
        assert parts.path == f"{PREFIX}/start" and parts.hostname == host
        rd = validate_redirect(rd_from_query(parts.query), request_host=host)
        assert rd == f"https://{host}{request_uri}"


def test_traefik_crd_middleware_and_route() -> None:
    docs = [d for d in yaml.safe_load_all((K8S / "traefik.yaml").read_text()) if d]
    middleware = next(d for d in docs if d["kind"] == "Middleware")
    assert middleware["apiVersion"] == "traefik.io/v1alpha1"
    forward = middleware["spec"]["forwardAuth"]
    assert forward["address"] == f"{authgate_address()}{PREFIX}/auth/traefik"
    assert forward["authResponseHeaders"] == IDENTITY_HEADERS
    route = next(d for d in docs if d["kind"] == "IngressRoute")
    assert route["apiVersion"] == "traefik.io/v1alpha1"
    routes = route["spec"]["routes"]
    assert any(m["name"] == middleware["metadata"]["name"] for r in routes for m in r.get("middlewares", []))
    own = [r for r in routes if f"PathPrefix(`{PREFIX}/`)" in r["match"]]
    assert own and not own[0].get("middlewares")
    assert own[0]["services"] == [{"name": "authgate", "port": 9000}]


@pytest.fixture
def kubectl() -> Iterator[str]:
    path = shutil.which("kubectl")
    if not path:
        pytest.skip("kubectl is not installed (optional: renders the kustomization)")
    yield path


def test_kustomization_renders(kubectl: str) -> None:
    out = subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    rendered = [d for d in yaml.safe_load_all(out.stdout) if d]
    assert {d["kind"] for d in rendered} >= {"Deployment", "Service", "PodDisruptionBudget", "Ingress", "Secret"}
    for doc in rendered:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == namespace(), doc["metadata"]["name"]


# ---------------------------------------------------------------------------------------------
# Every Redis the recipes ship is bounded
# ---------------------------------------------------------------------------------------------

REDIS_IMAGE = re.compile(r"(?:^|/)(?:redis|valkey)(?:[:@]|$)")


class RedisServer(NamedTuple):
    where: str  # file: Compose service, or file: Kind/name/container
    argv: list[str]  # entrypoint/command + command/args, as the container runs them
    memory_limit: int | None  # bytes


def redis_bytes(size: str) -> int:
    """A size in Redis' own units: ``k``/``m``/``g`` are powers of 1000, ``kb``/``mb``/``gb`` of 1024."""
    m = re.fullmatch(r"(\d+)(k|kb|m|mb|g|gb)?", size.strip().lower())
    assert m, f"{size!r}: not a Redis memory size"
    factor = {"": 1, "k": 10**3, "kb": 2**10, "m": 10**6, "mb": 2**20, "g": 10**9, "gb": 2**30}[m.group(2) or ""]
    return int(m.group(1)) * factor


def compose_bytes(size: str | int) -> int:
    """A Compose memory size (``256m``, ``1g``, ``268435456``): Docker's units are powers of 1024."""
    m = re.fullmatch(r"(\d+)\s*([bkmgt]?)i?b?", str(size).strip().lower())
    assert m, f"{size!r}: not a Compose memory size"
    return int(m.group(1)) * {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}[m.group(2)]


def k8s_bytes(quantity: str | int) -> int:
    """A Kubernetes memory quantity: ``256Mi`` (powers of 1024), ``256M`` (of 1000) or bytes."""
    m = re.fullmatch(r"(\d+)(Ki|Mi|Gi|Ti|k|M|G|T)?", str(quantity).strip())
    assert m, f"{quantity!r}: not a Kubernetes memory quantity"
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
    return int(m.group(1)) * units.get(m.group(2) or "", 1)


def words(value: Any) -> list[str]:
    """A Compose ``command``/``entrypoint`` (a string is split like a shell would) or a Kubernetes list."""
    if not value:
        return []
    return shlex.split(value) if isinstance(value, str) else [str(w) for w in value]


def redis_options(argv: list[str]) -> dict[str, str]:
    """``[redis-server] --name value ...`` as {name: value}: a value is every word up to the next option."""
    options: dict[str, str] = {}
    name = None
    for word in argv[1:] if argv[:1] == ["redis-server"] else argv:
        if word.startswith("--"):
            name = word[2:].lower()
            options[name] = ""
        else:
            assert name is not None, f"{argv}: settings as --options on the command line, not in a file"
            options[name] = f"{options[name]} {word}".strip()
    return options


def shipped_redis() -> list[RedisServer]:
    """Every Redis container of authgate's in deploy/: Compose services and Kubernetes pods
    (Authentik's own Redis keeps Authentik's settings: it holds keys without a TTL)."""
    found = []
    for path in COMPOSE_FILES:
        for name, svc in load_compose(path)["services"].items():
            if name.startswith("authentik"):
                continue
            argv = [*words(svc.get("entrypoint")), *words(svc.get("command"))]
            if REDIS_IMAGE.search(str(svc.get("image", ""))) or "redis-server" in argv[:1]:
                limits = (svc.get("deploy") or {}).get("resources", {}).get("limits", {})
                limit = svc.get("mem_limit") or limits.get("memory")
                found.append(RedisServer(f"{rel(path)}: {name}", argv, compose_bytes(limit) if limit else None))
    for path in k8s_files():
        for doc in filter(None, yaml.safe_load_all(path.read_text())):
            spec = doc.get("spec") or {}
            pod = spec if doc["kind"] == "Pod" else (spec.get("template") or {}).get("spec") or {}
            for container in pod.get("containers", []):
                argv = [*words(container.get("command")), *words(container.get("args"))]
                if REDIS_IMAGE.search(str(container.get("image", ""))) or "redis-server" in argv[:1]:
                    limit = container.get("resources", {}).get("limits", {}).get("memory")
                    where = f"{rel(path)}: {doc['kind']}/{doc['metadata']['name']}/{container['name']}"
                    found.append(RedisServer(where, argv, k8s_bytes(limit) if limit else None))
    return found


REDIS_SERVERS = shipped_redis()


def test_every_shipped_redis_is_found() -> None:
    found = {r.where for r in REDIS_SERVERS}
    expected = {
        "deploy/compose/authentik.yml: authgate-redis",
        "deploy/compose/npm.yml: authgate-redis",
        "deploy/kubernetes/redis.yaml: Deployment/authgate-redis/redis",
    }
    assert expected <= found, f"the scan is broken: found {sorted(found)}"


@pytest.mark.parametrize("redis", REDIS_SERVERS, ids=lambda r: r.where)
def test_redis_has_maxmemory_below_its_limit_and_evicts_by_ttl(redis: RedisServer) -> None:
    """Without ``maxmemory``, whoever can make authgate store things (sign-ins started and never
    finished) fills Redis until the container is OOM-killed and every session is lost. Bounded, it
    evicts first the keys closest to expiry (every authgate key has a TTL: spent sign-in claims go
    before long sessions), well before the kernel steps in."""
    options = redis_options(redis.argv)
    assert redis.memory_limit, f"{redis.where}: no memory limit (Compose mem_limit, resources.limits.memory)"
    assert "maxmemory" in options, f"{redis.where}: no --maxmemory: Redis grows until the OOM killer stops it"
    maxmemory = redis_bytes(options["maxmemory"])
    assert 0 < maxmemory <= 0.8 * redis.memory_limit, (
        f"{redis.where}: --maxmemory {options['maxmemory']} ({maxmemory} B) for a {redis.memory_limit} B limit: "
        "keep about 25% headroom (the fork that saves to disk, fragmentation, client buffers); 0 is unlimited"
    )
    policy = options.get("maxmemory-policy")
    assert policy == "volatile-ttl", f"{redis.where}: --maxmemory-policy {policy}, not volatile-ttl"


def test_attach_stack_joins_the_proxys_existing_network_as_authgate() -> None:
    """deploy/compose/attach.yml: authgate next to an NPM or Traefik someone already runs."""
    compose = load_compose(COMPOSE_DIR / "attach.yml")
    proxy = compose["networks"]["proxy"]
    assert proxy["external"] is True and "PROXY_NETWORK" in proxy["name"]
    replicas = authgate_services(compose)
    assert len(replicas) == 2
    for name, svc in replicas.items():
        assert svc["networks"]["proxy"]["aliases"] == ["authgate"], name
    assert compose["services"]["authgate-redis"]["networks"] == ["default"], "Redis stays off the proxy's network"
    assert "ports" not in compose["services"]["authgate-redis"]


def test_the_wheel_installs_one_package_named_authgate(tmp_path: Path) -> None:
    """``pip install authgate`` puts ``authgate`` into site-packages and nothing else (a top-level
    ``app`` would collide with half the Python projects beside it), and the command runs it."""
    src = tmp_path / "src"  # setuptools builds in the source tree: a copy keeps the checkout clean
    shutil.copytree(ROOT / "authgate", src / "authgate", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", src, "-w", tmp_path],
        check=True,
        capture_output=True,
        timeout=120,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    (wheel,) = tmp_path.glob("authgate-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        tops = {name.split("/")[0] for name in zf.namelist()}
        entry_points = next(zf.read(n).decode() for n in zf.namelist() if n.endswith("/entry_points.txt"))
    assert {top for top in tops if not top.endswith(".dist-info")} == {"authgate"}, tops
    assert "authgate = authgate.cli.main:main" in entry_points


OUTPOST_COMPOSE = COMPOSE_DIR / "outpost" / "compose.yml"


def test_the_outpost_compose_file_swaps_the_image_and_keeps_the_outposts_variables(tmp_path: Path) -> None:
    """deploy/compose/outpost/compose.yml: Authentik's outpost file with authgate's image, two replicas,
    one Redis, and a configuration authgate accepts as outpost mode with no AUTHGATE_SECRET."""
    assert OUTPOST_COMPOSE in COMPOSE_FILES, "checked by docker-compose config above"
    compose = load_compose(OUTPOST_COMPOSE)
    replicas = authgate_services(compose)
    assert len(replicas) == 2
    redis_urls = set()
    for name, svc in replicas.items():
        env = as_mapping(svc.get("environment"))
        assert {"AUTHENTIK_HOST", "AUTHENTIK_INSECURE", "AUTHENTIK_HOST_BROWSER"} <= set(env), name
        assert "AUTHGATE_SECRET" not in env and "AUTHGATE_SECRET_FILE" not in env, "derived from the token"
        assert "authentik-proxy" in aliases(svc), f"{name}: answers to the outpost's usual name"
        redis_urls.add(env["AUTHGATE_REDIS_URL"])
        mounts = {f"/run/secrets/{s}": strong_secret() for s in secret_names(svc)}
        settings = load_settings(write_secret_files(tmp_path, env, mounts))
        assert settings.outpost_mode and settings.authentik_token == mounts["/run/secrets/authentik_token"]
        assert settings.secret and not settings.issuer, name
    assert len(redis_urls) == 1
    assert urlsplit(redis_urls.pop()).hostname in compose["services"]
