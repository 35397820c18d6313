"""The invalidation feed's subscription, kept alive: resubscribed after any loss, with backoff.

``listen`` holds one subscription on a connection of its own (no silent retries, so a lost
connection shows at once), read in the event loop's I/O callback (``subscription.py``), and pings
it after ``HEARTBEAT`` quiet seconds, so a silent server is noticed within ``HEARTBEAT + timeout``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from redis.exceptions import RedisError

from authgate.errors import StoreUnavailable
from authgate.store.subscription import Endpoint, Subscription

log = logging.getLogger("authgate.store")

HEARTBEAT = 1.0  # seconds between PINGs on a quiet subscription
HEARTBEAT_MESSAGE = b"authgate-heartbeat"
_RESUBSCRIBE_MAX_DELAY = 2.0


async def listen(
    subscriber: Callable[[], Awaitable[Endpoint]],
    timeout: float,
    channel: str,
    on_message: Callable[[str], None],
    on_live: Callable[[bool], None],
) -> None:
    """Deliver ``channel``'s messages until cancelled, to wherever ``subscriber`` says each time."""
    failures = 0
    while True:
        live = _Liveness(on_live)
        subscription: Subscription | None = None
        try:
            async with asyncio.timeout(timeout):
                endpoint = await subscriber()
                subscription = await Subscription.open(endpoint, channel, on_message, live.lost)
            failures = 0
            live.report(True)
            await subscription.watch(HEARTBEAT, timeout, HEARTBEAT_MESSAGE)
        except (RedisError, OSError, TimeoutError, StoreUnavailable) as exc:  # SubscriptionLost: OSError
            failures += 1
            if failures == 1:  # once per outage: the retries below are quiet
                log.warning("redis: invalidation feed: %s: %s; resubscribing", type(exc).__name__, exc)
        finally:
            live.report(False)
            if subscription is not None:
                subscription.close()
        await asyncio.sleep(min(0.05 * 2**failures, _RESUBSCRIBE_MAX_DELAY))


class _Liveness:
    """Reports each change of a subscription's liveness once; ``lost`` is called from the I/O
    callback that sees the connection go, so the cache stops answering at that very moment."""

    def __init__(self, on_live: Callable[[bool], None]) -> None:
        self._on_live = on_live
        self._live = False

    def report(self, live: bool) -> None:
        if live != self._live:
            self._live = live
            self._on_live(live)

    def lost(self) -> None:
        self.report(False)
