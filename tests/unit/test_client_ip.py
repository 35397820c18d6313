"""The client address for network rules and logs: X-Forwarded-For read only through trusted proxies."""

from __future__ import annotations

import pytest

from authgate.access.forwarded import MAX_FORWARDED_FOR_HOPS, TrustedProxies, client_ip

PROXIES = TrustedProxies(["10.0.0.0/8", "127.0.0.1/32", "::1/128"])

CASES = [
    # (X-Forwarded-For, peer, client) read top to bottom
    (None, "203.0.113.9", "203.0.113.9"),  # no header: the peer
    ("198.51.100.7", "203.0.113.9", "203.0.113.9"),  # untrusted peer: its header is the client's own words
    ("198.51.100.7", "127.0.0.1", "198.51.100.7"),  # the proxy's word
    ("1.2.3.4, 198.51.100.7", "127.0.0.1", "198.51.100.7"),  # left of the client's entry: forged, unread
    ("1.2.3.4, 198.51.100.7, 10.0.0.2", "127.0.0.1", "198.51.100.7"),  # two proxies
    ("10.0.0.5", "127.0.0.1", "10.0.0.5"),  # a client on the proxies' network
    ("not-an-ip, 198.51.100.7", "127.0.0.1", "198.51.100.7"),
    ("198.51.100.7, not-an-ip", "127.0.0.1", ""),  # a malformed hop: unknown
    ("", "127.0.0.1", "127.0.0.1"),
    ("::ffff:198.51.100.7", "::1", "198.51.100.7"),  # IPv4-mapped, normalised
    ("2001:db8::1", "127.0.0.1", "2001:db8::1"),
    ("198.51.100.7", None, ""),  # no peer (a unix socket): unknown
    ("198.51.100.7", "::ffff:127.0.0.1", "198.51.100.7"),
    (",".join(["10.0.0.1"] * (MAX_FORWARDED_FOR_HOPS + 5)), "127.0.0.1", ""),  # more hops than are read
    (",".join(["10.0.0.1"] * MAX_FORWARDED_FOR_HOPS), "127.0.0.1", "10.0.0.1"),
    ("10.0.0.9," + ",".join(["10.0.0.1"] * MAX_FORWARDED_FOR_HOPS), "127.0.0.1", ""),
    ("198.51.100.7," + ",".join(["10.0.0.1"] * (MAX_FORWARDED_FOR_HOPS - 1)), "127.0.0.1", "198.51.100.7"),
    ("10.0.0.9,10.0.0.8", "127.0.0.1", "10.0.0.9"),
    (",198.51.100.7", "127.0.0.1", "198.51.100.7"),
    ("10.0.0.9 , 198.51.100.7 ", "127.0.0.1", "198.51.100.7"),
    ("198.51.100.7", "not-an-ip", ""),  # a peer that is no address: unknown
    ("1.2.3.4," * 100_000 + "198.51.100.7", "127.0.0.1", "198.51.100.7"),  # 1 MB: its tail only
]


@pytest.mark.parametrize(("forwarded_for", "peer", "expected"), CASES)
def test_client_ip(forwarded_for: str | None, peer: str | None, expected: str) -> None:
    assert client_ip(forwarded_for, peer, PROXIES) == expected
