"""Prometheus metrics, served at /metrics."""

from __future__ import annotations

import collections
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

registry = CollectorRegistry(auto_describe=True)


class AuthChecks(Collector):
    """Auth checks by result: plain integers on the hot path (one event loop per process, so no
    lock is needed), turned into a Prometheus counter only when scraped."""

    def __init__(self) -> None:
        # collections.Counter, not Prometheus's Counter: a plain dict of integers.
        self.counts: collections.Counter[str] = collections.Counter()

    def inc(self, result: str) -> None:
        self.counts[result] += 1

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily("authgate_auth_checks", "Auth checks by result.", labels=["result"])
        for result, count in sorted(self.counts.items()):
            family.add_metric([result], count)
        yield family

    def describe(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily("authgate_auth_checks", "Auth checks by result.", labels=["result"])


auth_checks = AuthChecks()
registry.register(auth_checks)
sign_ins = Counter("authgate_sign_ins_total", "Finished sign-ins by result.", ["result"], registry=registry)
refreshes = Counter("authgate_token_refreshes_total", "Token refreshes by result.", ["result"], registry=registry)
logouts = Counter(
    "authgate_logouts_total", "Sessions ended by sign-out or back-channel logout.", ["kind"], registry=registry
)
cache_live = Gauge(
    "authgate_session_cache_live", "1 while the local session cache's invalidation feed is live.", registry=registry
)
cache_feed_drops = Counter(
    "authgate_session_cache_feed_drops_total", "Times the invalidation feed dropped (cache emptied).", registry=registry
)
rules_reloads = Counter(
    "authgate_rules_reload", "Reloads of the rules file (SIGHUP or a change) by result.", ["result"], registry=registry
)
rules_last_reload_ok = Gauge(
    "authgate_rules_last_reload_success",
    "1 when the last load of the rules file succeeded, 0 when not.",
    registry=registry,
)
