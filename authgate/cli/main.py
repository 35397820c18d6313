"""The ``authgate`` command: ``serve``, ``check``, ``sessions``, ``rules explain`` and ``demo``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from authgate.config import Settings, load_settings
from authgate.errors import ConfigError, StoreError
from authgate.observability import logs


def _settings() -> Settings | None:
    """The settings, with the log lines (audit trail included) set up as they say; None (and every
    problem printed) when they are not valid."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return None
    logs.setup(settings.log_level, settings.log_format, settings.replica_name)
    return settings


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = _settings()
    if settings is None:
        return 2
    if not settings.redis_url and args.workers > 1:
        print("AUTHGATE_REDIS_URL is not set: the in-process store cannot serve several workers.", file=sys.stderr)
        return 2
    uvicorn.run(
        "authgate.web.main:factory",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=settings.log_level.lower(),
        log_config=None,  # uvicorn's own lines go through authgate/observability/logs.py's handler, in the same format
        access_log=False,
        proxy_headers=False,
        # No WebSocket endpoint: an upgrade's auth check is a plain request (authgate/web/main.py).
        ws="none",
        # The wire door answers cached checks before ASGI (authgate/web/wire.py); uvicorn still runs the rest.
        http="authgate.web.wire:WireProtocol" if settings.wire else "httptools",
        server_header=False,
        timeout_graceful_shutdown=10,
    )
    return 0


def _check(args: argparse.Namespace) -> int:
    from authgate.cli.check import run_check

    return run_check()


def _sessions(args: argparse.Namespace) -> int:
    import asyncio
    import json

    from authgate.cli import admin

    settings = _settings()  # a revocation's audit trail goes where the gateway's does
    if settings is None:
        return 2
    if not settings.redis_url or not settings.secret:
        print(
            "authgate sessions needs AUTHGATE_REDIS_URL (sessions kept in one gateway's memory cannot be reached) "
            "and AUTHGATE_SECRET (it reads what the gateway wrote): run it with the gateway's settings.",
            file=sys.stderr,
        )
        return 2
    for flag in ("user", "sub"):
        if getattr(args, flag) is not None and not getattr(args, flag).strip():
            # An unset shell variable (`--user "$NAME"`): never read as "everyone".
            print(
                f"authgate sessions: --{flag} is empty; name a {flag}"
                + (", or end every session with --all" if args.action == "revoke" else ""),
                file=sys.stderr,
            )
            return 2
    everyone = bool(getattr(args, "all", False))
    try:
        found = asyncio.run(
            admin.run(settings, args.action, user=args.user or "", sub=args.sub or "", everyone=everyone)
        )
    except StoreError as exc:
        print(f"the store cannot be reached: {exc}", file=sys.stderr)
        return 1
    rows = admin.as_rows(found)
    if args.json:
        print(json.dumps(rows, indent=2))
    elif args.action == "revoke":
        print(f"revoked {len(rows)} session(s)" + (":\n" + admin.as_table(rows) if rows else ""))
    else:
        print(admin.as_table(rows) if rows else "no sessions")
    unreadable = sum(1 for s in found if s.unreadable)
    if unreadable:
        print(
            f"the metadata of {unreadable} session(s) cannot be opened with this AUTHGATE_SECRET: run with the "
            "gateway's secret (every key it has, comma-separated, when rotating)",
            file=sys.stderr,
        )
        return 1 if args.action == "list" else 0
    return 0


def _demo(args: argparse.Namespace) -> int:
    from authgate.demo import run_demo

    return run_demo(port=args.port)


def _explain(args: argparse.Namespace) -> int:
    from authgate.cli.explain import explain

    groups = tuple(g.strip() for g in args.groups.split(",") if g.strip())
    status, lines = explain(
        args.url, user=args.user, groups=groups, email=args.email, ip=args.ip, method=args.method, file=args.file
    )
    print("\n".join(lines), file=sys.stderr if status == 2 else sys.stdout)
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="authgate", description="Forward-auth gateway for nginx, Traefik and Caddy.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser(
        "serve",
        help="run the gateway",
        description="Run the gateway. Its settings come from the environment: AUTHGATE_* variables "
        "(AUTHGATE_ISSUER, AUTHGATE_CLIENT_ID, AUTHGATE_CLIENT_SECRET, AUTHGATE_SECRET, AUTHGATE_REDIS_URL, ...), "
        "each described in docs/configuration.md. `authgate check` validates them and probes the IdP.",
    )
    serve.add_argument("--host", default="0.0.0.0", help="address to listen on (default: %(default)s, every interface)")  # noqa: S104 - a gateway serves its network
    serve.add_argument("--port", type=int, default=9000, help="port to listen on (default: %(default)s)")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes (default: %(default)s; more than one needs AUTHGATE_REDIS_URL)",
    )
    serve.set_defaults(func=_serve)
    check = sub.add_parser(
        "check",
        help="validate the configuration and probe the IdP",
        description="Validate the settings (AUTHGATE_* variables, docs/configuration.md) and probe the IdP, "
        "Redis and each app's own client, printing each finding with its fix. Exit status 0 only if all is well.",
    )
    check.set_defaults(func=_check)
    sessions = sub.add_parser("sessions", help="list or revoke sessions (docs/operating.md)")
    actions = sessions.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="the live sessions: of a user, of a subject, or all")
    revoke = actions.add_parser("revoke", help="end sessions on every replica at once (audited)")
    for action, required in ((listing, False), (revoke, True)):
        who = action.add_mutually_exclusive_group(required=required)
        who.add_argument("--user", help="a username (preferred_username)")
        who.add_argument("--sub", help="a subject (the IdP's stable user id)")
        if action is revoke:
            who.add_argument("--all", action="store_true", help="every session of every user")
        action.add_argument("--json", action="store_true", help="JSON instead of a table")
        action.set_defaults(func=_sessions)
    demo = sub.add_parser("demo", help="run a complete local demo stack (no Docker)")
    demo.add_argument("--port", type=int, default=8080, help="port of the demo's reverse proxy")
    demo.set_defaults(func=_demo)
    rules = sub.add_parser("rules", help="the access rules").add_subparsers(dest="rules_command", required=True)
    explain = rules.add_parser(
        "explain",
        help="which rule a request meets and the decision (exit 0: passes, 1: refused, 2: bad input)",
    )
    explain.add_argument("url", help="the URL asked for, e.g. https://app.example.com/admin")
    explain.add_argument("--user", default="", help="the username (preferred_username) signed in")
    explain.add_argument("--groups", default="", help="the user's groups, comma-separated")
    explain.add_argument("--email", default="", help="the user's email address (taken as verified)")
    explain.add_argument("--ip", default="", help="the client's address (as the proxy saw it)")
    explain.add_argument("--method", default="GET")
    explain.add_argument("--file", default=None, help="the rules file (default: AUTHGATE_CONFIG)")
    explain.set_defaults(func=_explain)
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    return func(args)
