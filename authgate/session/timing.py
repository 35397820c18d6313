"""When a session's access token is due for a refresh, and how long a session stays usable.

Pure logic: no I/O. Used by the sessions service (refresh exactly once across replicas) and by
the session cache (an entry leaves the cache when its refresh falls due).
"""

from __future__ import annotations

import time

from authgate.model import SessionData

MAX_MARGIN = 60.0


def refresh_margin(data: SessionData) -> float:
    """Refresh this long before expiry: a minute, but never more than half the token's life."""
    lifetime = data.access_expires_at - data.access_issued_at
    return min(MAX_MARGIN, lifetime / 2) if lifetime > 0 else MAX_MARGIN


def needs_refresh(data: SessionData, now: float | None = None) -> bool:
    if not data.access_expires_at or not data.refresh_token:
        return False
    return (time.time() if now is None else now) >= data.access_expires_at - refresh_margin(data)


def usable_for(data: SessionData, now: float) -> float:
    """Seconds from ``now`` until the session ends or its token is due for a refresh."""
    until = data.expires_at - now
    if data.access_expires_at and data.refresh_token:
        until = min(until, data.access_expires_at - refresh_margin(data) - now)
    return until
