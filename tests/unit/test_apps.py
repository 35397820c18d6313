"""Many apps, one gateway: an app's own OAuth client and header auth in the rules file, the per-app
services built from them (authgate/wiring/apps.py), and how a request finds its app's client.

No IdP is asked here: clients are built but never called (the e2e suite signs in through the
node IdP in Authentik's layout, tests/e2e/test_many_apps.py).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from authgate.config import load_settings
from authgate.config.checks import app_problems
from authgate.errors import ConfigError
from authgate.model import Identity, LoginState, SessionData
from authgate.oidc.logout_tokens import unverified_audience
from authgate.store import MemoryStore
from authgate.web.asgi import create_app
from tests.support.servers import TEST_SECRET

AK = "https://auth.example.test/application/o"
GLOBAL = {
    "AUTHGATE_ISSUER": f"{AK}/portal/",
    "AUTHGATE_CLIENT_ID": "client-portal",
    "AUTHGATE_CLIENT_SECRET": "secret-portal",
    "AUTHGATE_SECRET": TEST_SECRET,
}
GRAFANA = {"host": "grafana.test", "issuer": f"{AK}/grafana/", "client_id": "client-grafana", "client_secret": "s-g"}
WIKI = {
    "host": ["wiki.test", "*.wiki.test"],
    "issuer": f"{AK}/wiki/",
    "client_id": "client-wiki",
    "client_secret": "s-w",
}
API = {"host": "api.test", "header_auth": ["bearer"]}


def rules_file(tmp_path: Path, apps: list[dict[str, Any]]) -> str:
    lines = []
    for app in apps:
        lines.append("[[apps]]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in app.items()]
    path = tmp_path / "rules.toml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def problems(tmp_path: Path, apps: list[dict[str, Any]], **extra: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_settings({**GLOBAL, "AUTHGATE_CONFIG": rules_file(tmp_path, apps), **extra})
    return info.value.problems


# --- the rules file's keys ------------------------------------------------------------------------

BAD_CLIENTS = [
    # (entry, words the problem must hold) read top to bottom
    ({"host": "a.test", "client_id": "c"}, ["issuer", "client_secret", "missing"]),
    ({"host": "a.test", "issuer": f"{AK}/a/", "client_id": "c"}, ["client_secret (or client_secret_file)"]),
    ({"host": "a.test", "issuer": f"{AK}/a/", "client_secret": "s"}, ["client_id", "missing"]),
    ({"host": "a.test", "scopes": "openid"}, ["issuer", "missing"]),
    (
        {"host": "a.test", "issuer": f"{AK}/a/", "client_id": "c", "client_secret": "s", "client_secret_file": "/x"},
        ["both set"],
    ),
    ({"host": "a.test", "issuer": "auth.example.test/x", "client_id": "c", "client_secret": "s"}, ["issuer URL"]),
    ({"host": "a.test", "issuer": f"{AK}/a/", "client_id": "c", "client_secret": "s", "scopes": "email"}, ["openid"]),
    ({"host": "a.test", "header_auth": ["digest"]}, ["digest"]),
    (
        {"host": "a.test", "client_secret_file": "/nonexistent/secret", "issuer": f"{AK}/a/", "client_id": "c"},
        ["cannot read"],
    ),
]


@pytest.mark.parametrize(("entry", "words"), BAD_CLIENTS)
def test_an_incomplete_or_wrong_client_is_refused_with_its_reason(
    tmp_path: Path, entry: dict[str, Any], words: list[str]
) -> None:
    found = problems(tmp_path, [entry])
    assert any(all(w in p for w in words) for p in found), found


def test_one_client_id_with_two_settings_and_own_clients_in_domain_mode_are_refused(tmp_path: Path) -> None:
    twin = {**GRAFANA, "host": "other.test", "client_secret": "another"}
    assert any("one client id, one set of settings" in p for p in problems(tmp_path, [GRAFANA, twin]))
    found = problems(
        tmp_path, [GRAFANA], AUTHGATE_COOKIE_DOMAIN="example.test", AUTHGATE_EXTERNAL_URL="https://auth.example.test"
    )
    assert any("domain-level mode" in p and "grafana.test" in p for p in found), found
    # The same client named twice with the same settings is one client.
    settings = load_settings(
        {**GLOBAL, "AUTHGATE_CONFIG": rules_file(tmp_path, [GRAFANA, {**GRAFANA, "host": "g2.test"}])}
    )
    assert app_problems(settings, settings.apps) == []


def test_the_secret_file_is_read_when_the_rules_are_loaded(tmp_path: Path) -> None:
    secret = tmp_path / "grafana-secret"
    secret.write_text("from-a-file\n")
    entry = {k: v for k, v in GRAFANA.items() if k != "client_secret"} | {"client_secret_file": str(secret)}
    settings = load_settings({**GLOBAL, "AUTHGATE_CONFIG": rules_file(tmp_path, [entry])})
    own = settings.apps[0].own_client(settings.scopes)
    assert own is not None and own.client_secret == "from-a-file"
    assert own.scopes == tuple(settings.scope_list)


# --- the per-app services ---------------------------------------------------------------------------


@pytest.fixture
def gateway(tmp_path: Path) -> Any:
    settings = load_settings(
        {**GLOBAL, "AUTHGATE_CONFIG": rules_file(tmp_path, [GRAFANA, WIKI, API, {"host": "plain.test"}])}
    )
    return create_app(settings, store=MemoryStore()).gateway  # type: ignore[attr-defined]


def test_each_host_signs_in_with_its_apps_client(gateway: Any) -> None:
    assert gateway.client_for("grafana.test") == "client-grafana"
    assert gateway.client_for("wiki.test") == "client-wiki"
    assert gateway.client_for("deep.wiki.test") == "client-wiki"  # the entry's wildcard host
    assert gateway.client_for("plain.test") == ""  # an entry without a client: the global one
    assert gateway.client_for("api.test") == ""  # header auth of its own, the global client
    assert gateway.client_for("elsewhere.test") == ""
    names = dict(gateway.clients.named())
    assert names[""].client_id == "client-portal" and names["client-wiki"].issuer == f"{AK}/wiki/"


def test_each_app_has_its_meta_headers_and_header_auth(gateway: Any) -> None:
    grafana = gateway.apps.get(gateway.policy.for_host("grafana.test").app)
    assert (grafana.meta.app, grafana.meta.provider, grafana.meta.jwks) == ("grafana", "grafana", f"{AK}/grafana/jwks/")
    assert gateway.apps.default.meta.app == "portal"
    assert grafana.header_auth is None and gateway.header_auth is None
    api = gateway.apps.get(gateway.policy.for_host("api.test").app)
    assert api.header_auth is not None and api.header_auth.config.modes == {"bearer"}
    assert api.header_auth.config.audiences == {"client-portal"}  # the global client's tokens


def test_a_reload_keeps_unchanged_clients_and_drops_removed_ones(gateway: Any, tmp_path: Path) -> None:
    from authgate.access.policy import Policy
    from authgate.config import load_rules

    before = dict(gateway.clients.named())
    moved = {**WIKI, "client_secret": "rotated"}
    apps = load_rules(rules_file(tmp_path, [GRAFANA, moved]), [])
    gateway.swap_policy(Policy.from_settings(gateway_settings(gateway, apps)), apps)
    after = dict(gateway.clients.named())
    assert after["client-grafana"] is before["client-grafana"], "unchanged: the same client, keys and connections"
    assert after["client-wiki"] is not before["client-wiki"], "a new secret: a new client"
    assert gateway.client_for("api.test") == "" and gateway.apps.get("api.test") is gateway.apps.default


def gateway_settings(gateway: Any, apps: list[Any]) -> Any:
    return load_settings(GLOBAL).model_copy(update={"apps": apps})


# --- what carries the client ------------------------------------------------------------------------


def test_sessions_and_logins_record_their_client_only_when_it_is_an_apps_own() -> None:
    data = SessionData(Identity("u"), "at", "it", None, 0.0, 0.0, 0.0, 1.0, scope="wiki.test", client="client-wiki")
    assert data.to_json()["k"] == "client-wiki"
    assert SessionData.from_json(data.to_json()).client == "client-wiki"
    plain = SessionData(Identity("u"), "at", "it", None, 0.0, 0.0, 0.0, 1.0, scope="a.test")
    assert "k" not in plain.to_json() and SessionData.from_json(plain.to_json()).client == ""
    login = LoginState("s", "n", "v", "https://wiki.test/cb", "https://wiki.test/", 1.0, client="client-wiki")
    assert LoginState.from_json(login.to_json()) == login
    assert "k" not in LoginState("s", "n", "v", "r", "o", 1.0).to_json()


def jwt(claims: object) -> str:
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"eyJhbGciOiJSUzI1NiJ9.{body}.c2ln"


UNVERIFIED = [
    # (token, what it names): only to pick the client that then checks everything
    (jwt({"iss": f"{AK}/wiki/", "aud": "client-wiki"}), (f"{AK}/wiki/", ("client-wiki",))),
    (jwt({"iss": f"{AK}/wiki/", "aud": ["client-wiki", "x"]}), (f"{AK}/wiki/", ("client-wiki", "x"))),
    (jwt({"iss": 7, "aud": [1, "a"]}), ("", ("a",))),
    (jwt(["not", "an", "object"]), ("", ())),
    ("not.a.jwt!", ("", ())),
    ("only-one-part", ("", ())),
    ("a." + "A" * 20000 + ".c", ("", ())),  # too long to read
]


@pytest.mark.parametrize(("token", "named"), UNVERIFIED)
def test_a_logout_token_names_its_client_unverified(token: str, named: tuple[str, tuple[str, ...]]) -> None:
    assert unverified_audience(token) == named


def test_a_logout_token_is_checked_by_the_client_it_names(gateway: Any) -> None:
    wiki = gateway.clients.for_token(f"{AK}/wiki/", ("client-wiki",))
    assert wiki is not None and wiki.client_id == "client-wiki"
    assert gateway.clients.for_token(f"{AK}/wiki", ("client-wiki",)) is wiki  # a trailing slash apart
    assert gateway.clients.for_token(f"{AK}/grafana/", ("client-wiki",)) is None  # issuer and audience disagree
    assert gateway.clients.for_token("", ()) is None


def test_only_an_entry_with_services_of_its_own_is_looked_up() -> None:
    from authgate.access.policy import Policy
    from authgate.config import Settings

    entries: list[dict[str, Any]] = [
        {"host": "plain.test", "groups": ["g"]},
        {"host": ["own.test", "alias.test"], **{k: v for k, v in GRAFANA.items() if k != "host"}},
        {"host": "auth.test", "header_auth": []},  # header auth turned off here: its own services
        {"host": "aud.test", "header_auth_audiences": ["x"]},
    ]
    policy = Policy.from_settings(Settings(apps=entries))
    assert policy.for_host("plain.test").app == ""  # the global services, with no lookup
    assert policy.for_host("alias.test").app == "own.test"  # one key per entry: its first host
    assert policy.for_host("auth.test").app == "auth.test"
    assert policy.for_host("aud.test").app == "aud.test"
    assert policy.for_host("elsewhere.test").app == ""
