"""Log lines a collector can read: every line (audit events and ordinary logs) as text or JSON.

JSON: one object per line with stable keys, in this order: ``ts`` (UTC, RFC 3339), ``level``,
``logger``, ``event`` (an audit event's kind) or ``msg``, ``request_id``, ``replica``, then the
event's fields. Text: the same, as ``key=value`` after the message. Every value is untrusted (a
client wrote it): control characters are escaped in both formats (never a raw newline or an ANSI
escape), and a long value is cut to ``MAX_VALUE`` characters.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import time
from collections.abc import Mapping

from authgate.observability.requestid import current_id

MAX_VALUE = 1024  # characters of one value (a field, or the message)
RESERVED = ("ts", "level", "logger", "event", "msg", "request_id", "replica", "exc")
_IN_HEAD = frozenset(RESERVED[:5])  # text lines carry these before the key=value pairs
_SAFE_TEXT = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:@+,*|[]()!?#%&~^{}$;")


def default_replica() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def truncated(value: str) -> str:
    if len(value) <= MAX_VALUE:
        return value
    return f"{value[:MAX_VALUE]}…(+{len(value) - MAX_VALUE} chars)"


def escaped(value: str) -> str:
    """``value`` on one line: control and other non-printable characters as backslash escapes."""
    if value.isprintable():
        return value
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in value)


def _plain(value: object) -> object:
    """A field value as JSON takes it: numbers, booleans and None kept, lists kept, all else a str."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, list | tuple | frozenset | set):
        return [_plain(v) for v in list(value)[:64]]
    return truncated(str(value))


def _text_value(value: object) -> str:
    plain = _plain(value)
    if isinstance(plain, str):
        # Bare when unambiguous, else quoted repr-style (quotes, spaces, "=", control characters escaped).
        return plain if plain and set(plain) <= _SAFE_TEXT else repr(plain)
    if isinstance(plain, list):
        return repr(plain)
    return "-" if plain is None else str(plain).lower() if isinstance(plain, bool) else str(plain)


class Formatter(logging.Formatter):
    """Writes a record as one line of ``fmt`` ("json" or "text")."""

    def __init__(self, fmt: str = "text", replica: str = "") -> None:
        super().__init__()
        self.json = fmt == "json"
        self.replica = replica or default_replica()

    def format(self, record: logging.LogRecord) -> str:
        fields: Mapping[str, object] = getattr(record, "audit", None) or {}
        audit = hasattr(record, "audit")
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"
        message = truncated(record.getMessage())
        head: dict[str, object] = {
            "ts": ts,
            "level": record.levelname.lower(),
            "logger": record.name,
            ("event" if audit else "msg"): message,
            "request_id": current_id(),
            "replica": self.replica,
        }
        for key, value in fields.items():
            head[f"field_{key}" if key in RESERVED else key] = value
        if self.json:
            line = {k: _plain(v) for k, v in head.items()}
            if record.exc_info:
                line["exc"] = self.formatException(record.exc_info)  # whole: json escapes its newlines
            # ensure_ascii: no raw U+2028 or NEL either, which some collectors split lines on.
            return json.dumps(line, separators=(",", ":"))
        rest = " ".join(f"{k}={_text_value(v)}" for k, v in head.items() if k not in _IN_HEAD)
        line_text = f"{ts} {record.levelname} {record.name} {escaped(message)} {rest}"
        if record.exc_info:
            line_text += " exc=" + repr(self.formatException(record.exc_info))
        return line_text


def setup(level: str, fmt: str = "text", replica: str = "") -> None:
    """Every log line of this process (uvicorn's too) through one handler on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(Formatter(fmt, replica))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    # httpx logs every request URL at INFO; our own logs say what matters.
    logging.getLogger("httpx").setLevel(logging.WARNING)
