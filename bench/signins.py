"""Signing in: many distinct sessions for the many-users run, and the sign-in rate itself.

Each sign-in is the real flow end to end (authgate's /start, the IdP's authorize and token
endpoints, authgate's /callback), driven by scripted browsers (httpx) in parallel threads.
"""

from __future__ import annotations

import concurrent.futures
import time

from tests.support.browser import Browser
from tests.support.flows import session_cookie, sign_in_direct


def sign_in_many(origin: str, count: int, parallel: int) -> list[str]:
    """``count`` distinct sessions' Cookie header values (users alice, as in the benchmark's IdP)."""

    def worker(share: int) -> list[str]:
        cookies = []
        for _ in range(share):
            with Browser() as b:
                sign_in_direct(b, origin)
                cookies.append(session_cookie(b))
        return cookies

    shares = [count // parallel + (1 if i < count % parallel else 0) for i in range(parallel)]
    with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
        cookies = [c for part in pool.map(worker, shares) for c in part]
    assert len(set(cookies)) == count, "every sign-in must make a session of its own"
    return cookies


def sign_in_rate(origin: str, seconds: float, parallel: int) -> float:
    deadline = time.monotonic() + seconds

    def worker(_: int) -> int:
        done = 0
        while time.monotonic() < deadline:
            with Browser() as b:
                sign_in_direct(b, origin)
            done += 1
        return done

    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
        total = sum(pool.map(worker, range(parallel)))
    return total / (time.monotonic() - start)
