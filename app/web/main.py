"""The uvicorn entry point: ``factory()`` builds the app from the environment in each worker."""

from __future__ import annotations

from app import logs, tracing
from app.config import load_settings
from app.web.asgi import create_app
from app.web.raw import ASGIApp


def factory() -> ASGIApp:
    settings = load_settings()
    # With --workers, each worker is a fresh process: it sets up its own log lines.
    logs.setup(settings.log_level, settings.log_format, settings.replica_name)
    tracing.setup()  # on when OTEL_EXPORTER_OTLP_ENDPOINT is set; buffered spans are sent at exit
    return create_app(settings)
