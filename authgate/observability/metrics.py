"""Prometheus metrics, served at /metrics.

Most are prometheus_client's own. Those counted on the auth check's hot path are plain integers
(one ``+= 1``), turned into counters only when scraped. Store and IdP latency histograms have one
child per operation resolved here once, so a timed call costs a ``perf_counter`` pair and one
``observe``.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
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


_LOOKUPS_HELP = "Auth checks with a session cookie: answered from this replica's session cache (hit) or not (miss)."


class CacheLookups(Collector):
    """Session cache hits and misses: two plain integers, bumped with ``+= 1`` (a hit is the hot
    path's fastest answer, which a Prometheus Counter's lock would slow)."""

    def __init__(self) -> None:
        self.hits = 0
        self.misses = 0

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily("authgate_session_cache_lookups", _LOOKUPS_HELP, labels=["result"])
        family.add_metric(["hit"], self.hits)
        family.add_metric(["miss"], self.misses)
        yield family

    def describe(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily("authgate_session_cache_lookups", _LOOKUPS_HELP, labels=["result"])


#: True when this module (and the rest of setup.py's list) runs as mypyc's C extension.
COMPILED = not __file__.endswith(".py")
build_info = Gauge(
    "authgate_build_info",
    "1, labelled with how the auth check's modules run (compiled by mypyc or not).",
    ["compiled"],
    registry=registry,
)
build_info.labels("true" if COMPILED else "false").set(1)

auth_checks = AuthChecks()
registry.register(auth_checks)
cache_lookups = CacheLookups()
registry.register(cache_lookups)
sign_ins = Counter("authgate_sign_ins_total", "Finished sign-ins by result.", ["result"], registry=registry)
refreshes = Counter("authgate_token_refreshes_total", "Token refreshes by result.", ["result"], registry=registry)
logouts = Counter(
    "authgate_logouts_total", "Sessions ended by sign-out, back- or front-channel logout.", ["kind"], registry=registry
)
cache_live = Gauge(
    "authgate_session_cache_live", "1 while the local session cache's invalidation feed is live.", registry=registry
)
cache_feed_drops = Counter(
    "authgate_session_cache_feed_drops_total", "Times the invalidation feed dropped (cache emptied).", registry=registry
)

# A store call is a Redis round trip (well under a millisecond nearby); the per-call timeout is seconds.
_STORE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_IDP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
store_seconds = Histogram(
    "authgate_store_seconds",
    "Session store calls by operation: seconds, failures included.",
    ["op"],
    buckets=_STORE_BUCKETS,
    registry=registry,
)
store_errors = Counter(
    "authgate_store_errors_total",
    "Session store calls that failed (error or timeout) by operation.",
    ["op"],
    registry=registry,
)
idp_seconds = Histogram(
    "authgate_idp_seconds",
    "HTTP calls to the IdP by call: seconds, failures included.",
    ["call"],
    buckets=_IDP_BUCKETS,
    registry=registry,
)
idp_errors = Counter(
    "authgate_idp_errors_total",
    "HTTP calls to the IdP that failed (no answer, or a 5xx) by call.",
    ["call"],
    registry=registry,
)

STORE_OPS = (
    "get",
    "set",
    "set_nx",
    "set_xx",
    "getdel",
    "getex",
    "ttl",
    "scan",
    "incr_with_ttl",
    "delete",
    "delete_if_equals",
    "expire_if_equals",
    "index_add",
    "index_pop",
    "index_members",
    "index_remove",
    "publish",
    "ping",
)
IDP_CALLS = ("discovery", "probe", "jwks", "token", "refresh", "userinfo", "other")


class Timed:
    """One operation's histogram and error counter children, resolved once (``labels`` takes a lock)."""

    __slots__ = ("errors", "name", "seconds")

    def __init__(self, name: str, seconds: Histogram, errors: Counter) -> None:
        self.name = name
        self.seconds = seconds.labels(name)
        self.errors = errors.labels(name)


#: Every label value exists from the start, so dashboards and alerts see zeros, not gaps.
store_ops = {op: Timed(op, store_seconds, store_errors) for op in STORE_OPS}
idp_calls = {call: Timed(call, idp_seconds, idp_errors) for call in IDP_CALLS}
rules_reloads = Counter(
    "authgate_rules_reload", "Reloads of the rules file (SIGHUP or a change) by result.", ["result"], registry=registry
)
rules_last_reload_ok = Gauge(
    "authgate_rules_last_reload_success",
    "1 when the last load of the rules file succeeded, 0 when not.",
    registry=registry,
)

# Outpost mode (authgate/outpost/follower.py): the providers read from Authentik.
outpost_age = Gauge(
    "authgate_outpost_providers_age_seconds",
    "Seconds since the providers in force were read from Authentik (-1: never; a cached list keeps its age).",
    registry=registry,
)
outpost_providers = Gauge(
    "authgate_outpost_providers",
    "Authentik's proxy providers of this outpost: served, or not_served (proxy mode).",
    ["state"],
    registry=registry,
)
outpost_reads = Counter(
    "authgate_outpost_reads", "Reads of the providers from Authentik's API by result.", ["result"], registry=registry
)
outpost_connected = Gauge(
    "authgate_outpost_connected", "1 while the WebSocket to Authentik is open.", registry=registry
)
outpost_session_ends = Counter(
    "authgate_outpost_session_ends", "SessionEnd messages from Authentik acted upon.", registry=registry
)
