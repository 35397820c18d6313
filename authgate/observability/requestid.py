"""Request ids: the proxy's ``X-Request-Id`` (or the trace id of its ``traceparent``) when valid,
else one made here; and the request being handled, for every log line written meanwhile.

Pure: no I/O. An id is made lazily, only when a log line or a response needs it: a cached allow
that logs nothing costs no id. Made ids are a per-process random prefix and a counter (unique
across replicas and restarts, no ``uuid4`` per request).
"""

from __future__ import annotations

import itertools
import re
import secrets
from collections.abc import Mapping, MutableMapping
from contextvars import ContextVar

MAX_LENGTH = 128
MAX_TRACEPARENT = 512  # version 00 is 55 characters; a later version may add fields
#: Visible ASCII only (no space, no control character): safe in a header, a log line, a URL.
_VALID_ID = re.compile(r"[!-~]+")  # the length is checked first (MAX_LENGTH)
#: W3C Trace Context: version-traceid-parentid-flags, lower-case hex; a later version may append fields.
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-[!-~]*)?")
_ZERO_TRACE = "0" * 32
_ZERO_PARENT = "0" * 16
_MEMO = "\0request-id"  # the id, kept in the request's own header dict once made

#: An id set explicitly (work outside a request, or a route that made its own); wins when set.
request_id: ContextVar[str] = ContextVar("authgate_request_id", default="")
#: The headers of the request being handled (``x-request-id``, ``traceparent``), read lazily.
current: ContextVar[MutableMapping[str, str] | None] = ContextVar("authgate_request", default=None)

_prefix = secrets.token_hex(4)
_counter = itertools.count(1)


def new_id() -> str:
    """A fresh id: this process's random prefix and a counter."""
    return f"{_prefix}-{next(_counter):x}"


def valid_id(value: str | None) -> str | None:
    """``value`` when it is a usable id (1 to 128 visible ASCII characters), else None."""
    if value and len(value) <= MAX_LENGTH and _VALID_ID.fullmatch(value):
        return value
    return None


def trace_id(traceparent: str | None) -> str | None:
    """The trace id of a valid ``traceparent`` header, else None."""
    if not traceparent or len(traceparent) > MAX_TRACEPARENT:
        return None
    m = _TRACEPARENT.fullmatch(traceparent)
    if m is None:
        return None
    version, trace, parent, _flags, rest = m.groups()
    if version == "ff" or trace == _ZERO_TRACE or parent == _ZERO_PARENT or (version == "00" and rest):
        return None
    return trace


def from_headers(headers: Mapping[str, str]) -> str:
    """The id of a request with these (lower-case) headers: the proxy's, else its trace id, else new."""
    return valid_id(headers.get("x-request-id")) or trace_id(headers.get("traceparent")) or new_id()


def id_of(headers: MutableMapping[str, str]) -> str:
    """The id of the request with these headers, made once (kept in ``headers``)."""
    rid = headers.get(_MEMO)
    if rid is None:
        rid = headers[_MEMO] = from_headers(headers)
    return rid


def current_id() -> str:
    """The id of the request being handled, made on first use; "" outside a request."""
    explicit = request_id.get()
    if explicit:
        return explicit
    headers = current.get()
    return "" if headers is None else id_of(headers)


def current_traceparent() -> str | None:
    """The valid ``traceparent`` of the request being handled, if its proxy sent one."""
    headers = current.get()
    value = headers.get("traceparent") if headers is not None else None
    return value if trace_id(value) else None
