"""Signing in: many distinct sessions for the many-users run, as many distinct users (the
capacity model's Redis memory per session), and the sign-in rate itself.

Each sign-in is the real flow end to end (authgate's /start, the IdP's authorize and token
endpoints, authgate's /callback), driven by scripted browsers (httpx) in parallel threads.
"""

from __future__ import annotations

import concurrent.futures
import time

import httpx

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


def user(i: int) -> str:
    """The ``i``-th user of a capacity run (a subject the IdP is told about by ``register_users``)."""
    return f"user{i:05d}"


def register_users(issuer: str, subs: list[str]) -> None:
    """Give the IdP (oidc-provider-mock) each user's claims, shaped like a company's: a name, an
    e-mail address, two groups and an IdP session id (``sid``, which authgate indexes for logout),
    so that sessions and indexes are the size and number they would be."""
    with httpx.Client(base_url=issuer, timeout=10) as http:
        for sub in subs:
            claims = {
                "preferred_username": sub,
                "email": f"{sub}@example.test",
                "name": f"User {sub.removeprefix('user')} Example",
                "groups": ["staff", "engineering"],
                "sid": f"idp-session-of-{sub}",
            }
            assert http.put(f"/users/{sub}", json=claims).status_code == 204


def sign_in_users(origin: str, subs: list[str], parallel: int) -> list[str]:
    """One session for each of ``subs``: their Cookie header values, in the order of ``subs``."""

    def one(sub: str) -> str:
        with Browser() as b:
            sign_in_direct(b, origin, sub=sub)
            return session_cookie(b)

    with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
        return list(pool.map(one, subs))


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
