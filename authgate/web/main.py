"""The uvicorn entry point: ``factory()`` builds the app from the environment in each worker.

authgate has no WebSocket endpoint, yet the auth check of a WebSocket upgrade can arrive with the
client's ``Upgrade: websocket`` (Caddy's forward_auth passes it on): uvicorn runs with ``ws="none"``
(authgate/cli/main.py) so that it is an ordinary HTTP request, answered like any other check. uvicorn then
warns about each such request as if something were missing; those two lines are dropped here.
"""

from __future__ import annotations

import logging
import sys

from authgate.config import load_settings
from authgate.errors import ConfigError
from authgate.observability import logs, tracing
from authgate.web.asgi import create_app
from authgate.web.raw import ASGIApp

_UPGRADE_NOISE = ("Unsupported upgrade request.", "No supported WebSocket library detected.")


def _not_upgrade_noise(record: logging.LogRecord) -> bool:
    return not (isinstance(record.msg, str) and record.msg.startswith(_UPGRADE_NOISE))


def factory() -> ASGIApp:
    settings = load_settings()
    # With --workers, each worker is a fresh process: it sets up its own log lines.
    logs.setup(settings.log_level, settings.log_format, settings.replica_name)
    logging.getLogger("uvicorn.error").addFilter(_not_upgrade_noise)
    tracing.setup()  # on when OTEL_EXPORTER_OTLP_ENDPOINT is set; buffered spans are sent at exit
    try:
        return create_app(settings)
    except ConfigError as exc:  # what only building the app finds (a Redis URL's options): no traceback
        print(exc, file=sys.stderr)
        sys.exit(2)
