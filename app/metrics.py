"""Prometheus metrics, served at /metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

registry = CollectorRegistry(auto_describe=True)

auth_checks = Counter("authgate_auth_checks_total", "Auth checks by result.", ["result"], registry=registry)
sign_ins = Counter("authgate_sign_ins_total", "Finished sign-ins by result.", ["result"], registry=registry)
refreshes = Counter("authgate_token_refreshes_total", "Token refreshes by result.", ["result"], registry=registry)
logouts = Counter(
    "authgate_logouts_total", "Sessions ended by sign-out or back-channel logout.", ["kind"], registry=registry
)
