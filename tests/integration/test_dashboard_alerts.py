"""The Grafana dashboard and the Prometheus alerts (deploy/grafana, deploy/prometheus) read only
what authgate really exports, and are valid.

A real gateway (Redis, the mock IdP) is driven through a sign-in, auth checks and a sign-out, then
scraped; every metric a query names must be in that scrape. Redis and the IdP are killed under a
gateway to see the metrics the store and IdP alerts read move as the rules expect. ``promtool``
(Prometheus's own tool) checks the rules, parses every dashboard query, and runs each alert against
made-up series to see it fire when it should and stay quiet when all is well.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import Direct
from tests.support.browser import Browser
from tests.support.flows import PREFIX, session_cookie, sign_in_direct
from tests.support.procs import require_binary, wait_for
from tests.support.servers import IdP, gateway_env, start_gateway, start_mock_idp, start_redis

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "authgate.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
TROUBLESHOOTING = ROOT / "docs" / "troubleshooting.md"
SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count", "_created")}
#: Series Prometheus makes itself for every target, which a query may name besides authgate's own.
PROMETHEUS_OWN = {"up"}
#: A metric name is what stands right before a label matcher or a range, or starts with authgate_.
METRIC = re.compile(r"\b(authgate_[a-zA-Z0-9_]*|[a-zA-Z_:][a-zA-Z0-9_:]*(?=\s*[{\[]))")
#: Grafana's variables, replaced as Grafana would before the query reaches Prometheus.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$job": ".*", "$instance": ".*"}


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def panels() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for panel in dashboard()["panels"]:
        found += [panel, *panel.get("panels", [])]
    return [p for p in found if p["type"] != "row"]


def alert_rules() -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = [r for g in yaml.safe_load(ALERTS.read_text())["groups"] for r in g["rules"]]
    return rules


def queries() -> list[tuple[str, str]]:
    """(where, PromQL) of every query shipped: panels, dashboard variables, alert rules."""
    found = [(f"panel {p['title']!r}", t["expr"]) for p in panels() for t in p["targets"]]
    for var in dashboard()["templating"]["list"]:
        if var["type"] == "query":
            inner = re.fullmatch(r"label_values\((.*),\s*\w+\)", var["query"]["query"])
            assert inner, f"variable {var['name']}: not label_values(...)"
            found.append((f"variable {var['name']}", inner.group(1)))
    return found + [(f"alert {r['alert']}", r["expr"]) for r in alert_rules()]


def grafana_expanded(expr: str) -> str:
    for name, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(name, value)
    assert "$" not in expr, f"a Grafana variable the test does not know: {expr}"
    return expr


def metric_names(expr: str) -> set[str]:
    without_strings = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # label values are not names
    without_durations = re.sub(r"\[[^\]]*\]", "[]", without_strings)
    return set(METRIC.findall(without_durations)) - {"by", "without", "on", "ignoring"}


def promtool() -> str:
    return require_binary("promtool")


# ---------------------------------------------------------------------------------------------
# A real gateway, driven and scraped
# ---------------------------------------------------------------------------------------------


def nginx_check(direct: Direct, cookie: str) -> int:
    headers = {"X-Original-URL": f"{direct.origin}/page", "X-Original-Method": "GET", "Cookie": cookie}
    return httpx.get(f"{direct.gateway.url}{PREFIX}/auth/nginx", headers=headers).status_code


@pytest.fixture(scope="module")
def scrape(direct: Direct) -> Iterator[dict[str, float]]:
    """The gateway's /metrics after a sign-in, cached and uncached checks and a sign-out:
    ``{'name{label="value"}': value}``, plus the bare name of every family with its suffixes."""
    with Browser() as b:
        sign_in_direct(b, direct.origin)
        cookie = session_cookie(b)
        assert [nginx_check(direct, cookie) for _ in range(3)] == [200] * 3
        assert b.get(f"{direct.origin}{PREFIX}/sign_out").status_code in (200, 302)
    assert nginx_check(direct, cookie) == 401  # gone from the cache and the store: a miss
    text = httpx.get(f"{direct.gateway.url}/metrics").text
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for suffix in ("", *SUFFIXES.get(family.type, ())):
            samples.setdefault(family.name + suffix, 0.0)
        for s in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            samples[f"{s.name}{{{labels}}}"] = s.value
            samples.setdefault(s.name, 0.0)
    yield samples


def test_the_new_metrics_count_what_the_gateway_did(scrape: dict[str, float]) -> None:
    assert scrape['authgate_session_cache_lookups_total{result="hit"}'] >= 1
    assert scrape['authgate_session_cache_lookups_total{result="miss"}'] >= 1
    assert scrape['authgate_store_seconds_count{op="get"}'] >= 1
    assert scrape['authgate_store_seconds_count{op="set"}'] >= 1  # the session written at sign-in
    assert scrape['authgate_store_errors_total{op="get"}'] == 0
    for call in ("discovery", "jwks", "token"):
        assert scrape[f'authgate_idp_seconds_count{{call="{call}"}}'] >= 1, call
        assert scrape[f'authgate_idp_errors_total{{call="{call}"}}'] == 0, call
    # Seconds, not milliseconds: a loopback call takes well under one.
    assert 0 < scrape['authgate_idp_seconds_sum{call="token"}'] < 5 * scrape['authgate_idp_seconds_count{call="token"}']
    assert scrape['authgate_sign_ins_total{result="ok"}'] >= 1
    assert scrape['authgate_logouts_total{kind="sign_out"}'] >= 1
    assert scrape["authgate_session_cache_live{}"] == 1


def totals(url: str) -> dict[str, float]:
    """``/metrics`` summed over labels: ``{sample name: total}``."""
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(httpx.get(f"{url}/metrics", timeout=5).text):
        for s in family.samples:
            found[s.name] = found.get(s.name, 0.0) + s.value
    return found


def test_a_redis_outage_shows_as_the_store_down_alert_sees_it(tmp_path: Path, idp: IdP) -> None:
    redis = start_redis(tmp_path, "redis-outage")
    gateway = start_gateway(tmp_path, gateway_env(idp.issuer, redis_url=redis.url, store_timeout="0.5"))
    origin = f"http://app.test:{gateway.port}"
    try:
        with Browser() as b:
            sign_in_direct(b, origin)
            cookie = session_cookie(b)
        headers = {"X-Original-URL": f"{origin}/", "Cookie": cookie}

        def check() -> int:
            return httpx.get(f"{gateway.url}{PREFIX}/auth/nginx", headers=headers, timeout=5).status_code

        assert check() == 200
        wait_for(lambda: totals(gateway.url)["authgate_session_cache_live"] == 1, timeout=5, what="the feed")
        before = totals(gateway.url)
        redis.proc.kill(signal.SIGKILL)
        wait_for(lambda: check() == 503, timeout=5, what="the gateway to fail closed")
        for _ in range(3):
            assert check() == 503
        after = totals(gateway.url)
    finally:
        gateway.proc.stop()
        redis.proc.stop()
    calls = after["authgate_store_seconds_count"] - before["authgate_store_seconds_count"]
    errors = after["authgate_store_errors_total"] - before["authgate_store_errors_total"]
    assert errors >= 4 and errors / calls > 0.5, "AuthgateStoreDown's ratio: more than half failed"
    assert after["authgate_session_cache_live"] == 0, "AuthgateInvalidationFeedDown's gauge"
    assert after["authgate_session_cache_feed_drops_total"] > before["authgate_session_cache_feed_drops_total"]
    assert after["authgate_auth_checks_total"] - before["authgate_auth_checks_total"] >= 4


def test_an_idp_outage_shows_as_the_idp_errors_alert_sees_it(tmp_path: Path) -> None:
    own_idp = start_mock_idp(tmp_path)
    gateway = start_gateway(tmp_path, gateway_env(own_idp.issuer))
    try:
        url = f"{gateway.url}/metrics"

        def sample(name: str, call: str) -> float:
            for family in text_string_to_metric_families(httpx.get(url, timeout=5).text):
                for s in family.samples:
                    if s.name == name and s.labels.get("call") == call:
                        return s.value
            raise AssertionError(f"{name}{{call={call!r}}} is not exported")

        # At startup the gateway reads the IdP's metadata and keys.
        wait_for(lambda: sample("authgate_idp_seconds_count", "jwks") >= 1, timeout=10, what="the keys")
        assert sample("authgate_idp_errors_total", "discovery") == 0
        own_idp.proc.kill(signal.SIGKILL)
        start = f"http://app.test:{gateway.port}{PREFIX}/start?rd=http://app.test:{gateway.port}/"
        with Browser() as b:
            assert b.get(start).status_code == 503  # the probe before sending a browser there fails
        assert sample("authgate_idp_errors_total", "probe") >= 1
        assert sample("authgate_idp_seconds_count", "probe") >= 1
    finally:
        gateway.proc.stop()
        own_idp.proc.stop()


@pytest.mark.parametrize(("where", "expr"), queries(), ids=[w for w, _ in queries()])
def test_every_query_names_only_metrics_authgate_exports(where: str, expr: str, scrape: dict[str, float]) -> None:
    names = metric_names(expr)
    assert names, f"{where}: no metric found in {expr}"
    missing = {n for n in names if n not in scrape and n not in PROMETHEUS_OWN}
    assert not missing, f"{where} names metrics authgate does not export: {sorted(missing)}"


# ---------------------------------------------------------------------------------------------
# The dashboard
# ---------------------------------------------------------------------------------------------


def test_dashboard_is_importable_with_a_prometheus_datasource_variable() -> None:
    data = dashboard()
    assert data["uid"] == "authgate" and data["title"] == "authgate"
    assert data["id"] is None, "an exported id would overwrite another dashboard on import"
    variables = {v["name"]: v for v in data["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    datasource = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
    for var in variables.values():
        if var["type"] == "query":
            assert var["datasource"] == datasource, var["name"]
    ids = [p["id"] for p in data["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"


@pytest.mark.parametrize("panel", panels(), ids=lambda p: p["title"])
def test_every_panel_has_a_query_on_the_prometheus_variable(panel: dict[str, Any]) -> None:
    datasource = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
    assert panel["datasource"] == datasource
    assert panel["targets"], "a panel without a query shows nothing"
    for target in panel["targets"]:
        assert target["expr"].strip()
        assert target["datasource"] == datasource
    assert panel.get("description"), "say what the panel shows and what a bad value means"


def test_panels_do_not_overlap() -> None:
    taken: set[tuple[int, int]] = set()
    for panel in dashboard()["panels"]:
        g = panel["gridPos"]
        assert g["x"] >= 0 and g["x"] + g["w"] <= 24, panel["title"]
        cells = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not cells & taken, f"{panel['title']} overlaps another panel"
        taken |= cells


def test_the_dashboard_shows_what_operators_asked_for() -> None:
    exprs = " ".join(e for _, e in queries())
    for metric in (
        "authgate_auth_checks_total",
        "authgate_sign_ins_total",
        "authgate_token_refreshes_total",
        "authgate_logouts_total",
        "authgate_session_cache_lookups_total",
        "authgate_session_cache_live",
        "authgate_session_cache_feed_drops_total",
        "authgate_store_seconds_bucket",
        "authgate_idp_seconds_bucket",
    ):
        assert metric in exprs, metric
    for quantile in ("0.5", "0.95", "0.99"):
        assert f"histogram_quantile({quantile}, sum by (le) (rate(authgate_store_seconds_bucket" in exprs
        assert f"histogram_quantile({quantile}, sum by (le) (rate(authgate_idp_seconds_bucket" in exprs


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    """promtool parses each query (Grafana's variables replaced) as a recording rule."""
    rules = [
        {"record": f"authgate:dashboard_query_{i}", "expr": grafana_expanded(expr)}
        for i, (_, expr) in enumerate(queries())
    ]
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = subprocess.run(
        [promtool(), "check", "rules", str(path)], check=False, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------------------------------------
# The alerts
# ---------------------------------------------------------------------------------------------


def test_alert_rules_pass_promtool() -> None:
    result = subprocess.run(
        [promtool(), "check", "rules", str(ALERTS)], check=False, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(alert_rules())} rules found" in result.stdout


def test_the_asked_for_alerts_exist() -> None:
    names = {r["alert"] for r in alert_rules()}
    assert {
        "AuthgateStoreDown",
        "AuthgateInvalidationFeedDown",
        "AuthgateIdPErrors",
        "AuthgateSignInFailuresHigh",
    } <= names


def test_every_alert_is_explained_in_the_operating_guide() -> None:
    operating = (ROOT / "docs" / "operating.md").read_text()
    for rule in alert_rules():
        assert f"| `{rule['alert']}` ({rule['labels']['severity']}) |" in operating, rule["alert"]


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda r: r["alert"])
def test_every_alert_tells_the_operator_what_to_check(rule: dict[str, Any]) -> None:
    assert rule["labels"]["severity"] in ("critical", "warning")
    assert rule["annotations"]["summary"].strip()
    description = rule["annotations"]["description"]
    assert "Check" in description or "check" in description, "say what to check"
    # Every "quoted" name is a troubleshooting section or a dashboard panel the operator can find.
    lines = TROUBLESHOOTING.read_text().splitlines()
    headings = {line[3:].strip().strip('"') for line in lines if line.startswith("## ")}
    titles = {p["title"] for p in panels()}
    for name in re.findall(r'"([^"]+)"', description):
        assert name in headings | titles, f"{rule['alert']}: no troubleshooting section or panel {name!r}"


def series(name: str, values: str, **labels: str) -> dict[str, str]:
    all_labels = {"job": "authgate", "instance": "a:9000", **labels}
    inner = ",".join(f'{k}="{v}"' for k, v in all_labels.items())
    return {"series": f"{name}{{{inner}}}", "values": values}


# Each alert, fed made-up series: (series, time, the alerts expected firing then), by name.
HEALTHY = [
    series("up", "1x30"),
    series("authgate_store_seconds_count", "0+100x30", op="get"),
    series("authgate_store_errors_total", "0x30", op="get"),
    series("authgate_store_seconds_bucket", "0+100x30", op="get", le="0.001"),
    series("authgate_store_seconds_bucket", "0+100x30", op="get", le="+Inf"),
    series("authgate_session_cache_live", "1x30"),
    series("authgate_idp_errors_total", "0x30", call="token"),
    series("authgate_sign_ins_total", "0+10x30", result="ok"),
    series("authgate_sign_ins_total", "0+1x30", result="bad_state"),
    series("authgate_outpost_providers_age_seconds", "30x30"),  # re-read every few minutes
]
UNHEALTHY = {
    # Authentik unreadable: the list in force ages a minute a minute.
    "AuthgateOutpostProvidersStale": [series("authgate_outpost_providers_age_seconds", "0+60x30")],
    "AuthgateTargetDown": [series("up", "1 0x30")],
    "AuthgateStoreDown": [
        series("authgate_store_seconds_count", "0+100x30", op="get"),
        series("authgate_store_errors_total", "0+90x30", op="get"),
    ],
    "AuthgateStoreSlow": [
        series("authgate_store_seconds_bucket", "0+10x30", op="get", le="0.1"),
        series("authgate_store_seconds_bucket", "0+200x30", op="get", le="0.5"),
        series("authgate_store_seconds_bucket", "0+200x30", op="get", le="+Inf"),
    ],
    "AuthgateInvalidationFeedDown": [series("authgate_session_cache_live", "1 0x30")],
    "AuthgateIdPErrors": [series("authgate_idp_errors_total", "0+3x30", call="token")],
    "AuthgateSignInFailuresHigh": [
        series("authgate_sign_ins_total", "0+10x30", result="ok"),
        series("authgate_sign_ins_total", "0+10x30", result="idp_unavailable"),
    ],
}


def test_each_alert_fires_on_its_trouble_and_none_on_a_healthy_gateway(tmp_path: Path) -> None:
    rules = {r["alert"]: r for r in alert_rules()}
    assert set(UNHEALTHY) == set(rules), "every alert is exercised"
    at = "25m"  # past every rule's `for`
    tests: list[dict[str, Any]] = [
        {
            "interval": "1m",
            "input_series": HEALTHY,
            "alert_rule_test": [{"eval_time": at, "alertname": name, "exp_alerts": []} for name in rules],
        }
    ]
    for name, inputs in UNHEALTHY.items():
        check = {"eval_time": at, "alertname": name, "exp_alerts": [firing(rules[name], inputs)]}
        tests.append({"interval": "1m", "input_series": inputs, "alert_rule_test": [check]})
    path = tmp_path / "alerts-test.yml"
    path.write_text(yaml.safe_dump({"rule_files": [str(ALERTS)], "evaluation_interval": "1m", "tests": tests}))
    result = subprocess.run(
        [promtool(), "test", "rules", str(path)], check=False, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def firing(rule: dict[str, Any], inputs: list[dict[str, str]]) -> dict[str, Any]:
    """The alert ``rule`` raises on ``inputs``: its labels (those it groups by, or the series'), and
    its annotations as Prometheus renders them."""
    first = dict(re.findall(r'(\w+)="([^"]*)"', inputs[0]["series"]))
    grouping = re.findall(r"by \(([^)]*)\)", rule["expr"])
    if grouping:
        keys = {k.strip() for k in grouping[0].split(",")} - {"le"}
        labels = {k: v for k, v in first.items() if k in keys}
    else:
        labels = first
    ratio = {"AuthgateSignInFailuresHigh": "50%"}  # 10 failed of 20 a minute in UNHEALTHY

    def render(text: str) -> str:
        text = re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels[m.group(1)], text)
        return text.replace("{{ $value | humanizePercentage }}", ratio.get(rule["alert"], "?"))

    return {
        "exp_labels": {**labels, **rule["labels"]},
        "exp_annotations": {k: render(v) for k, v in rule["annotations"].items()},
    }
