"""The ``authgate`` command: ``serve``, ``check`` and ``demo``."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

from app.config import load_settings
from app.errors import ConfigError


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # httpx logs every request URL at INFO; our own logs say what matters.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    try:
        settings = load_settings()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    _setup_logging(settings.log_level)
    if not settings.redis_url and args.workers > 1:
        print("AUTHGATE_REDIS_URL is not set: the in-process store cannot serve several workers.", file=sys.stderr)
        return 2
    uvicorn.run(
        "app.web.main:factory",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=settings.log_level.lower(),
        access_log=False,
        proxy_headers=False,
        # No WebSocket endpoint: an upgrade's auth check is a plain request (app/web/main.py).
        ws="none",
        server_header=False,
        timeout_graceful_shutdown=10,
    )
    return 0


def _check(args: argparse.Namespace) -> int:
    from app.check import run_check

    return run_check()


def _demo(args: argparse.Namespace) -> int:
    from app.demo import run_demo

    return run_demo(port=args.port)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="authgate", description="Forward-auth gateway for nginx, Traefik and Caddy.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the gateway")
    serve.add_argument("--host", default="0.0.0.0")  # noqa: S104 - a gateway serves its network
    serve.add_argument("--port", type=int, default=9000)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(func=_serve)
    check = sub.add_parser("check", help="validate the configuration and probe the IdP")
    check.set_defaults(func=_check)
    demo = sub.add_parser("demo", help="run a complete local demo stack (no Docker)")
    demo.add_argument("--port", type=int, default=8080, help="port of the demo's reverse proxy")
    demo.set_defaults(func=_demo)
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    return func(args)
