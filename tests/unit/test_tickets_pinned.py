"""The ticket signer, pinned where mutation testing found it loose (docs/testing.md).

A forgery on a real session id (``SID.x.y``) never passes, before or after the real cookie was
seen (the hot path's memo of verified Cookie headers is pinned in test_cookies_pinned.py).
"""

from __future__ import annotations

import pytest

from authgate.session.tickets import Ticket, TicketSigner

SECRET = "ticket-test-secret-0123456789abcdefghij"


@pytest.fixture
def signer() -> TicketSigner:
    return TicketSigner([SECRET])


def test_a_forgery_on_a_known_session_id_fails_after_the_real_cookie_was_seen(signer: TicketSigner) -> None:
    ticket = Ticket.new()
    real = signer.dumps(ticket)
    assert signer.loads(real) == ticket  # now remembered
    sid, key, signature = real.split(".")
    other_key = TicketSigner([SECRET]).dumps(Ticket(sid, bytes(32))).split(".")[1]
    for forged in (
        f"{sid}.{other_key}.{signature}",
        f"{sid}.{key}.{'A' * len(signature)}",
        f"{sid}.x.y",
        f"{sid}.{key}",
        sid,
        real + "x",
    ):
        assert signer.loads(forged) is None, forged
    assert signer.loads(real) == ticket


def test_a_signed_value_of_exactly_512_characters_is_read(signer: TicketSigner) -> None:
    ticket = Ticket("s" * 424, bytes(range(32)))
    value = signer.dumps(ticket)
    assert len(value) == 512
    assert signer.loads(value) == ticket
    longer = Ticket("s" * 425, bytes(range(32)))
    assert signer.loads(signer.dumps(longer)) is None
