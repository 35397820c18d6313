"""``authgate demo``: a complete local stack with no Docker.

A development OIDC provider, Redis when ``redis-server`` is installed (else the in-process store
and a single replica), two authgate replicas behind Traefik's round-robin balancer, and a sample
app that shows the headers it receives. Two protected hosts, two applications at the IdP as in
Authentik: ``app.localhost`` (anyone signed in, the global client ``authgate-demo``) and
``admin.localhost`` (group ``admins`` only, its own client ``authgate-admin`` named in the rules file).

The IdP is the certified node ``oidc-provider`` the tests use (tests/idp, installed by
``scripts/bootstrap demo``): it keeps a session, so one sign-in opens both apps, and one sign-out
ends both (RP-initiated logout, then back-channel logout to authgate), landing on the sample app's
public signed-out page. Its pages are styled inline, so they look finished offline. Without node
(an installed wheel, no clone), the demo falls back to oidc-provider-mock from PyPI, which keeps no
session: each app asks again.

Its one fixed port (Traefik's, the URL to open) is checked before anything starts; the others are
free loopback ports picked at start.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from authgate.demo.devstack import find_binary, free_port, node_idp, node_idp_env, port_taken
from authgate.demo.traefik import traefik_config

HOSTS = ("app.localhost", "admin.localhost")
USERS = [
    {
        "sub": "alice",
        "preferred_username": "alice",
        "email": "alice@example.com",
        "email_verified": True,
        "name": "Alice Admin",
        "groups": ["admins", "staff"],
        "demo_note": "opens both apps",
    },
    {
        "sub": "bob",
        "preferred_username": "bob",
        "email": "bob@example.com",
        "email_verified": True,
        "name": "Bob Guest",
        "groups": ["guests"],
        "demo_note": "opens app.localhost; admin.localhost refuses him (admins only)",
    },
]
CLIENT_ID, CLIENT_SECRET = "authgate-demo", "demo-secret"
ADMIN_ID, ADMIN_SECRET = "authgate-admin", "admin-demo-secret"  # admin.localhost's own client
SIGNED_OUT = "/signed-out"  # the sample app's public page a sign-out ends on (rd)


def sign_out_link(origin: str) -> str:
    """authgate's sign-out, then back to the sample app's signed-out page (``origin``: http://host:port)."""
    return f"{origin}/outpost.goauthentik.io/sign_out?rd={origin}{SIGNED_OUT}"


def _wait_port(port: int, proc: subprocess.Popen[bytes], name: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with status {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{name} did not open port {port} within {timeout:.0f}s")


def _wait_routed(port: int, host: str, timeout: float = 20.0) -> None:
    """Traefik opens its port before its file provider has loaded the routes: wait until ``host``'s
    gateway route answers as authgate does (``/ping``: 204), which nothing else on the port would."""
    deadline = time.monotonic() + timeout
    request = f"GET /outpost.goauthentik.io/ping HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n"
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0) as conn:
                conn.sendall(request.encode())
                status = conn.recv(64).split(b" ", 2)[1:2]
            if status == [b"204"]:
                return
        except (OSError, IndexError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"Traefik did not route {host} to authgate within {timeout:.0f}s")


def port_problem(port: int) -> str | None:
    """The demo's one fixed port (Traefik's, the URL to open), checked before anything starts: a
    port another program holds would answer the readiness check in the demo's place."""
    if not 0 < port < 65536:
        why = f"port {port} is not a TCP port (1 to 65535)"
    else:
        why = port_taken(port) or ""
        if not why:
            return None
    other = next((p for p in range(max(port, 1023) + 1, 65536) if port_taken(p) is None), 8080)
    return (
        f"authgate demo cannot start: {why}. Choose another port with `authgate demo --port {other}` "
        f"or `make demo PORT={other}` (the URL to open becomes http://app.localhost:{other}/)."
    )


def run_demo(port: int = 8080) -> int:
    if (problem := port_problem(port)) is not None:
        print(problem, file=sys.stderr)
        return 1
    traefik = find_binary("traefik")
    idp_server = node_idp()
    idp_bin = find_binary("oidc-provider-mock")
    if not traefik or not (idp_server or idp_bin):
        print("The demo needs Traefik and an IdP: run `scripts/bootstrap demo` in a clone", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="authgate-demo-"))
    # The log outlives the demo (the work directory does not): it is where to look when something failed.
    log_path = Path(tempfile.gettempdir()) / f"authgate-demo-{time.strftime('%Y%m%d-%H%M%S')}.log"
    procs: list[subprocess.Popen[bytes]] = []
    log = open(log_path, "ab")  # noqa: SIM115 - shared by the children until the end

    def start(name: str, argv: list[str], port_: int, env: dict[str, str] | None = None) -> None:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        procs.append(proc)
        _wait_port(port_, proc, name)

    try:
        idp_port, lb_port = free_port(), free_port()
        if idp_server:
            node, server = idp_server
            start(
                "the development IdP", [node, str(server), str(idp_port)], idp_port, _idp_env(port, idp_port, lb_port)
            )
        else:
            assert idp_bin is not None
            idp_argv = [idp_bin, "--port", str(idp_port), "--require-nonce"]
            for user in USERS:
                idp_argv += ["--user-claims", json.dumps({k: v for k, v in user.items() if k != "demo_note"})]
            start("oidc-provider-mock", idp_argv, idp_port)

        redis_url, store = "", "in-process store (Redis not installed: one replica)"
        redis_bin = find_binary("redis-server")
        if redis_bin:
            redis_port = free_port()
            start(
                "redis-server",
                [
                    redis_bin,
                    "--port",
                    str(redis_port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(work),
                ],
                redis_port,
            )
            redis_url, store = f"redis://127.0.0.1:{redis_port}/0", f"Redis on 127.0.0.1:{redis_port}"

        rules = work / "apps.toml"
        issuer = f"http://127.0.0.1:{idp_port}"
        admin = '[[apps]]\nhost = "admin.localhost"\nallowed_groups = ["admins"]\n'
        if idp_server:  # Authentik's layout: the admin app is an application of its own, with its client
            issuer = f"http://127.0.0.1:{idp_port}/application/o/demo/"
            admin += f'issuer = "http://127.0.0.1:{idp_port}/application/o/admin/"\n'
            admin += f'client_id = "{ADMIN_ID}"\nclient_secret = "{ADMIN_SECRET}"\n'
        rules.write_text(admin)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHGATE_")}
        env.update(
            {
                "AUTHGATE_ISSUER": issuer,
                "AUTHGATE_CLIENT_ID": CLIENT_ID,
                "AUTHGATE_CLIENT_SECRET": CLIENT_SECRET,
                "AUTHGATE_SECRET": secrets.token_urlsafe(48),
                "AUTHGATE_REDIS_URL": redis_url,
                "AUTHGATE_CONFIG": str(rules),
                "AUTHGATE_LOG_LEVEL": "info",
                # The page a sign-out ends on is public: there is no one left to sign in.
                "AUTHGATE_SKIP_AUTH": f"GET=^{SIGNED_OUT}$",
            }
        )
        replicas = [free_port() for _ in range(2 if redis_url else 1)]
        for i, rport in enumerate(replicas, 1):
            start(
                f"authgate replica {i}",
                [sys.executable, "-m", "authgate", "serve", "--host", "127.0.0.1", "--port", str(rport)],
                rport,
                env,
            )

        app_port = free_port()
        start("sample app", [sys.executable, "-m", "authgate.demo.sample_app", str(app_port)], app_port)
        static = traefik_config(work, port, lb_port, replicas, app_port)
        start("traefik", [traefik, f"--configFile={static}"], port)
        _wait_routed(port, "app.localhost")
    except (RuntimeError, OSError) as exc:
        print(f"demo failed to start: {exc}; see {log_path}", file=sys.stderr)
        _stop(procs)
        log.close()
        shutil.rmtree(work, ignore_errors=True)
        return 1

    sso = (
        "Two applications at the IdP, as in Authentik: app.localhost signs in with client authgate-demo,\n"
        "  admin.localhost with its own client authgate-admin (the rules file names it). Sign in once: the\n"
        "  other app opens without asking again; sign out once: both apps are signed out."
        if idp_server
        else "This IdP (oidc-provider-mock: node is not installed) keeps no session: each app asks you to sign in."
    )
    # The one warning left in the log is not ours to silence: say what it means.
    redis_note = (
        "\n            Redis may warn there about memory overcommit: a kernel setting of this machine, harmless"
        "\n            here (the demo's Redis saves nothing to disk)."
        if redis_url
        else ""
    )
    replica_lines = "\n".join(
        f"         replica {i}: http://127.0.0.1:{p}/readyz   http://127.0.0.1:{p}/metrics"
        for i, p in enumerate(replicas, 1)
    )
    print(
        f"""
authgate demo is running ({len(replicas)} replica(s), {store}, Traefik on port {port}).

  Open   http://app.localhost:{port}/     anyone signed in may pass: try alice, then bob
         http://admin.localhost:{port}/   group "admins" only: alice passes, bob gets the 403 page
  Users  alice  (groups admins, staff)    bob  (group guests)    no passwords: press a user's button
  {sso}

  Sign out  {sign_out_link(f"http://app.localhost:{port}")}
  Health    (each replica's own port; not through Traefik)
{replica_lines}
  IdP       {issuer}.well-known/openid-configuration
  Logs      {log_path}   (kept after the demo stops){redis_note}
Press Ctrl-C to stop.
authgate demo ready: http://app.localhost:{port}/""",
        flush=True,
    )
    stop = {"now": False}

    def on_signal(*_: object) -> None:
        stop["now"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        while not stop["now"] and all(p.poll() is None for p in procs):
            time.sleep(0.5)
    finally:
        _stop(procs)
        log.close()
        shutil.rmtree(work, ignore_errors=True)
        print(f"authgate demo stopped; its log is kept in {log_path}", flush=True)
    return 0


def _idp_env(port: int, idp_port: int, lb_port: int) -> dict[str, str]:
    """The node IdP in Authentik's layout: an application (slug, client) per host, back-channel
    logout of both to the replicas."""
    apps = [
        {
            "slug": slug,
            "client_id": client_id,
            "client_secret": secret,
            "redirect_uris": [f"http://{host}:{port}/outpost.goauthentik.io/callback"],
            "post_logout_redirect_uris": [f"http://{h}:{port}/outpost.goauthentik.io/signed_out" for h in HOSTS],
            "backchannel_logout_uri": f"http://127.0.0.1:{lb_port}/outpost.goauthentik.io/backchannel_logout",
            "backchannel_logout_session_required": True,
        }
        for slug, client_id, secret, host in (
            ("demo", CLIENT_ID, CLIENT_SECRET, HOSTS[0]),
            ("admin", ADMIN_ID, ADMIN_SECRET, HOSTS[1]),
        )
    ]
    extra = {"IDP_AUTHENTIK_APPS": json.dumps(apps)}
    return node_idp_env([], issuer=f"http://127.0.0.1:{idp_port}", users=USERS, demo=True, extra=extra)


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in reversed(procs):
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
