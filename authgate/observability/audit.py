"""The audit trail: one event per decision that is not a cached allow (docs/operating.md).

Callers name the event and its fields; how it is written (text or JSON lines, with the request id
and the replica) is authgate/observability/logs.py's job. Pure: no I/O of its own, only the standard ``logging``.
"""

from __future__ import annotations

import logging

from authgate.observability.requestid import request_id

__all__ = ["event", "request_id"]

log = logging.getLogger("authgate.audit")


def event(kind: str, /, **fields: object) -> None:
    """Record ``kind`` (e.g. ``sign_in.completed``, ``access.denied``, ``session.revoked``) with
    ``fields`` (user, sub, host, path, method, client_ip, rule, reason ...); values are untrusted."""
    if log.isEnabledFor(logging.INFO):
        log.info("%s", kind, extra={"audit": fields})
