"""The uvicorn entry point: ``factory()`` builds the app from the environment in each worker."""

from __future__ import annotations

from app.config import load_settings
from app.web.asgi import create_app
from app.web.raw import ASGIApp


def factory() -> ASGIApp:
    return create_app(load_settings())
