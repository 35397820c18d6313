"""Log lines (authgate/observability/logs.py) and request ids (authgate/observability/requestid.py):
hostile values stay on one line, escaped, cut to size; ids from a proxy are taken only when
well-formed."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from authgate.observability import audit, requestid
from authgate.observability.logs import MAX_VALUE, Formatter, setup

Lines = tuple[io.StringIO, logging.Handler]  # what a handler wrote, and the handler
HOSTILE = [
    ("newline", "alice\nINFO authgate.audit access.allowed user=root"),
    ("carriage return", "alice\r\nfake"),
    ("quotes", "al\"ice' user='root"),
    ("ansi escape", "\x1b[2J\x1b[31mred"),
    ("nul and bell", "a\x00b\x07c"),
    ("unicode line separator", "a\u2028b\u2029c\x85d"),
    ("key=value lookalike", "x request_id=forged replica=other"),
    ("backslash", "a\\nb"),
    ("1 MB", "x" * 1_000_000),
]


@pytest.fixture
def lines() -> Iterator[tuple[io.StringIO, logging.Handler]]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.INFO)
    yield out, handler
    root.removeHandler(handler)
    root.setLevel(old_level)


def emit(fmt: str, lines: Lines, **fields: object) -> str:
    out, handler = lines
    handler.setFormatter(Formatter(fmt, replica="r1"))
    out.seek(0)
    out.truncate()
    audit.event("access.denied", **fields)
    return out.getvalue()


@pytest.mark.parametrize(("name", "value"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_json_lines_hold_any_value_on_one_line(name: str, value: str, lines: Lines) -> None:
    text = emit("json", lines, user=value, rule="groups")
    assert text.endswith("\n") and text.count("\n") == 1
    assert text.isascii() and "\x1b" not in text and "\r" not in text
    line = json.loads(text)
    assert list(line)[:6] == ["ts", "level", "logger", "event", "request_id", "replica"]
    assert line["event"] == "access.denied" and line["replica"] == "r1" and line["rule"] == "groups"
    if len(value) > MAX_VALUE:
        assert line["user"].startswith(value[:MAX_VALUE])
        assert line["user"].endswith(f"(+{len(value) - MAX_VALUE} chars)")
        assert len(text) < 2 * MAX_VALUE
    else:
        assert line["user"] == value


@pytest.mark.parametrize(("name", "value"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_text_lines_escape_any_value(name: str, value: str, lines: Lines) -> None:
    text = emit("text", lines, user=value, rule="groups")
    assert text.count("\n") == 1
    assert not any(c in text for c in "\r\x1b\x00\x07\u2028\u2029\x85")
    assert " request_id=" in text and " replica=r1 " in text
    # The value is one token: quoted repr-style, so a forged "key=value" inside it stays inside it.
    user = text.split(" user=", 1)[1].rsplit(" rule=", 1)[0]
    assert user.startswith(("'", '"')) and user.endswith(("'", '"'))
    assert "request_id=forged" not in text.split(" user=", 1)[0]
    assert len(text) < 5 * MAX_VALUE


def test_text_messages_are_escaped_too(lines: Lines) -> None:
    out, handler = lines
    handler.setFormatter(Formatter("text", replica="r1"))
    logging.getLogger("authgate.test").warning("user said: %s", "hi\nINFO forged line\x1b[0m")
    text = out.getvalue()
    assert text.count("\n") == 1 and "\x1b" not in text and "hi\\nINFO forged line\\x1b[0m" in text


def test_json_keys_are_stable_and_values_typed(lines: Lines) -> None:
    line = json.loads(emit("json", lines, user="alice", sessions=2, session_ended=False, groups=("a", "b"), msg="x"))
    assert line["ts"].endswith("Z") and line["ts"][10] == "T" and line["level"] == "info"
    assert line["logger"] == "authgate.audit"
    assert line["sessions"] == 2 and line["session_ended"] is False and line["groups"] == ["a", "b"]
    assert line["field_msg"] == "x", "a field named like a fixed key never replaces it"


def test_ordinary_lines_carry_msg_and_the_exception_on_one_line(lines: Lines) -> None:
    out, handler = lines
    handler.setFormatter(Formatter("json", replica="r1"))
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        logging.getLogger("authgate").exception("unexpected error")
    text = out.getvalue()
    assert text.count("\n") == 1
    line = json.loads(text)
    assert line["msg"] == "unexpected error" and "ValueError: bad\nthing" in line["exc"]


def test_every_line_of_a_request_carries_its_id(lines: Lines) -> None:
    token = requestid.current.set({"x-request-id": "proxy-id-1"})
    try:
        line = json.loads(emit("json", lines, user="alice"))
    finally:
        requestid.current.reset(token)
    assert line["request_id"] == "proxy-id-1"
    assert json.loads(emit("json", lines))["request_id"] == "", "outside a request: no id"


def test_setup_writes_every_line_through_one_handler() -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        setup("warning", "json", "pod-7")
        assert len(root.handlers) == 1 and root.level == logging.WARNING
        formatter = root.handlers[0].formatter
        assert isinstance(formatter, Formatter) and formatter.json and formatter.replica == "pod-7"
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


VALID_TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("abc-123", True),
        ("f" * 128, True),
        ("f" * 129, False),
        ("", False),
        ("has space", False),
        ("new\nline", False),
        ("tab\there", False),
        ("ansi\x1b[31m", False),
        ("caf\xe9", False),
        ("\u2028", False),
        (None, False),
    ],
)
def test_request_ids_from_the_proxy_are_bounded_visible_ascii(value: str | None, valid: bool) -> None:
    assert requestid.valid_id(value) == (value if valid else None)


@pytest.mark.parametrize(
    ("value", "trace"),
    [
        (VALID_TRACEPARENT, "4bf92f3577b34da6a3ce929d0e0e4736"),
        ("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future", "4bf92f3577b34da6a3ce929d0e0e4736"),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", None),  # version 00 has no more
        ("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", None),  # version ff is invalid
        ("00-00000000000000000000000000000000-00f067aa0ba902b7-01", None),  # all-zero trace id
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", None),  # all-zero parent id
        ("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", None),  # upper case
        ("00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01", None),  # short trace id
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\n", None),
        ("0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", None),
        ("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-" + "x" * 600, None),  # too long
        ("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-a b", None),  # a space in the future part
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01", None),  # short parent id
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1", None),  # short flags
        ("", None),
        (None, None),
    ],
)
def test_traceparent_is_read_per_the_w3c_format(value: str | None, trace: str | None) -> None:
    assert requestid.trace_id(value) == trace


def test_a_future_traceparent_is_read_up_to_512_characters() -> None:
    head = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-"
    assert requestid.trace_id(head + "x" * (512 - len(head))) == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert requestid.trace_id(head + "x" * (513 - len(head))) is None


def test_the_id_is_the_proxys_else_its_trace_else_a_new_one() -> None:
    assert requestid.from_headers({"x-request-id": "abc", "traceparent": VALID_TRACEPARENT}) == "abc"
    assert requestid.from_headers({"x-request-id": "bad id", "traceparent": VALID_TRACEPARENT}) == (
        "4bf92f3577b34da6a3ce929d0e0e4736"
    )
    made = {requestid.from_headers({"x-request-id": "bad\nid"}) for _ in range(100)}
    assert len(made) == 100 and all(requestid.valid_id(m) for m in made), "hostile ids replaced by unique ones"


def test_an_id_kept_in_the_headers_is_never_the_proxys_raw_one() -> None:
    headers = {"x-request-id": "bad id"}
    made = requestid.id_of(headers)
    assert made != "bad id" and requestid.valid_id(made) and requestid.id_of(headers) == made


def test_an_id_is_made_once_per_request_and_only_when_asked() -> None:
    headers: dict[str, str] = {}
    token = requestid.current.set(headers)
    try:
        assert headers == {}, "nothing made until a line or an answer needs it"
        first = requestid.current_id()
        assert first and requestid.current_id() == first
        assert requestid.current_traceparent() is None
        headers["traceparent"] = "00-not-a-trace-01"
        assert requestid.current_traceparent() is None, "an invalid one is not handed on"
    finally:
        requestid.current.reset(token)
    token = requestid.current.set({"traceparent": VALID_TRACEPARENT})
    try:
        assert requestid.current_traceparent() == VALID_TRACEPARENT
    finally:
        requestid.current.reset(token)
    explicit = requestid.request_id.set("job-1")
    try:
        assert requestid.current_id() == "job-1"
    finally:
        requestid.request_id.reset(explicit)
