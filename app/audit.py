"""The audit trail: one event per decision that is not a cached allow (docs/operating.md).

Callers name the event and its fields; how it is written (text or JSON lines) is the logging
setup's job. Pure: no I/O of its own, only the standard ``logging`` module.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar

log = logging.getLogger("authgate.audit")

#: The request id of the request being handled ("" outside one).
request_id: ContextVar[str] = ContextVar("authgate_request_id", default="")


def event(kind: str, /, **fields: object) -> None:
    """Record ``kind`` (e.g. ``sign_in.completed``, ``access.denied``, ``session.revoked``) with
    ``fields`` (user, sub, host, path, method, client_ip, rule, reason ...); values are untrusted."""
    if log.isEnabledFor(logging.INFO):
        log.info("%s", kind, extra={"audit": fields})
