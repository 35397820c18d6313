"""Prometheus metrics, served at /metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

registry = CollectorRegistry(auto_describe=True)

auth_checks = Counter("authgate_auth_checks_total", "Auth checks by result.", ["result"], registry=registry)
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

# Children bound once: labels() costs a lock and a dict lookup on the hot path.
CHECK_OK = auth_checks.labels("ok")
CHECK_UNAUTHENTICATED = auth_checks.labels("unauthenticated")
CHECK_PUBLIC = auth_checks.labels("public")
CHECK_DENIED = auth_checks.labels("denied")
