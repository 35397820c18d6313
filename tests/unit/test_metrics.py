"""The metrics authgate adds for its dashboard: what the scrape shows, and that the IdP client
times every call under its name. tests/integration/test_dashboard_alerts.py scrapes a real gateway."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from authgate.observability import metrics
from authgate.oidc.transport import TimedClient, call


def sample(name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    assert value is not None, f"{name}{labels} is not exported"
    return value


def test_every_store_op_and_idp_call_is_exported_from_the_start() -> None:
    families = {f.name: f for f in text_string_to_metric_families(generate_latest(metrics.registry).decode())}
    assert families["authgate_store_seconds"].type == "histogram"
    assert families["authgate_idp_seconds"].type == "histogram"
    assert families["authgate_session_cache_lookups"].type == "counter"
    for op in metrics.STORE_OPS:
        sample("authgate_store_seconds_count", op=op)
        sample("authgate_store_errors_total", op=op)
    for name in metrics.IDP_CALLS:
        sample("authgate_idp_seconds_count", call=name)
        sample("authgate_idp_errors_total", call=name)


def test_cache_lookups_are_scraped_from_the_plain_integers() -> None:
    lookups = metrics.CacheLookups()
    lookups.hits, lookups.misses = 7, 2
    (family,) = lookups.collect()
    assert {(s.name, s.labels["result"], s.value) for s in family.samples} == {
        ("authgate_session_cache_lookups_total", "hit", 7),
        ("authgate_session_cache_lookups_total", "miss", 2),
    }


def idp(status: int) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        if status == 0:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(status, json={})

    return httpx.MockTransport(answer)


@pytest.mark.parametrize(
    ("status", "name", "counted_as", "errors"),
    [
        (200, "jwks", "jwks", 0),
        (404, "userinfo", "userinfo", 0),  # an answer: the caller decides what a 4xx means
        (503, "token", "token", 1),
        (0, "refresh", "refresh", 1),  # no answer at all
        (200, None, "other", 0),  # an unnamed call (authgate check's probes)
        (200, "made-up", "other", 0),  # label values stay a fixed set
    ],
)
async def test_the_idp_client_times_each_call_under_its_name(
    status: int, name: str | None, counted_as: str, errors: int
) -> None:
    count = sample("authgate_idp_seconds_count", call=counted_as)
    failed = sample("authgate_idp_errors_total", call=counted_as)
    async with TimedClient(transport=idp(status)) as client:
        try:
            await client.get("http://idp.test/x", extensions=call(name) if name else None)
        except httpx.ConnectError:
            assert status == 0
    assert sample("authgate_idp_seconds_count", call=counted_as) == count + 1
    assert sample("authgate_idp_errors_total", call=counted_as) == failed + errors


def test_every_metric_is_documented_for_operators() -> None:
    operating = (Path(__file__).resolve().parents[2] / "docs" / "operating.md").read_text()
    for family in metrics.registry.collect():
        name = family.name + ("_total" if family.type == "counter" else "")
        assert f"`{name}" in operating, f"{name} is not in docs/operating.md's metrics table"
