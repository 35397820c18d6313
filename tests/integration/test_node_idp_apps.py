"""Self-test of the node test IdP in Authentik's layout (IDP_AUTHENTIK_APPS): two applications, two clients,
two issuers on one host, with plain httpx. No authgate involved."""

from __future__ import annotations

import base64
import hashlib
import secrets
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet

from authgate.demo.devstack import IDP_DIR, node_idp_env
from tests.support.authentik_idp import App, AuthentikIdP, start_authentik_idp
from tests.support.browser import LoopbackTransport
from tests.support.node_idp import SERVER, follow_idp, require_node_idp
from tests.support.procs import Proc, free_port

SCOPE = "openid email profile offline_access"
ALICE = {
    "sub": "alice",
    "email": "alice@example.test",
    "email_verified": True,
    "name": "Alice Zoë Example",
    "preferred_username": "alice",
    "groups": ["admins", "staff"],
}
SHARED = {
    "authorization_endpoint": "authorize",
    "token_endpoint": "token",
    "userinfo_endpoint": "userinfo",
    "revocation_endpoint": "revoke",
    "introspection_endpoint": "introspect",
}


@dataclass
class Receiver:
    """A relying party's back-channel logout endpoint: records every form it is sent."""

    port: int
    forms: list[dict[str, list[str]]] = field(default_factory=list)
    got_one: threading.Event = field(default_factory=threading.Event)

    def url(self, host: str) -> str:
        return f"http://{host}:{self.port}/outpost.goauthentik.io/backchannel_logout"


@pytest.fixture
def receivers() -> Iterator[dict[str, Receiver]]:
    """One back-channel logout receiver per application."""
    out: dict[str, Receiver] = {}
    servers = []
    for slug in ("grafana", "wiki"):
        rec = out[slug] = Receiver(free_port())

        class Handler(BaseHTTPRequestHandler):
            target = rec

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
                self.target.forms.append(parse_qs(body))
                self.target.got_one.set()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", rec.port), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    yield out
    for server in servers:
        server.shutdown()
        server.server_close()


def redirect_uri(slug: str) -> str:
    return f"http://{slug}.test:8080/outpost.goauthentik.io/callback"


def signed_out_uri(slug: str) -> str:
    return f"http://{slug}.test:8080/signed-out"


@pytest.fixture
def idp(tmp_path: Path, receivers: dict[str, Receiver]) -> Iterator[AuthentikIdP]:
    apps = [
        App(
            slug,
            f"client-{slug}",
            f"secret-{slug}",
            redirect_uris=[redirect_uri(slug)],
            post_logout_redirect_uris=[signed_out_uri(slug)],
            backchannel_logout_uri=receivers[slug].url(f"{slug}.test"),
        )
        for slug in ("grafana", "wiki")
    ]
    server = start_authentik_idp(tmp_path, apps, access_ttl=60, public_host="auth.test")
    yield server
    server.stop()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    """A cookie-keeping browser that does not follow redirects; ``*.test`` names go to 127.0.0.1."""
    with httpx.Client(transport=LoopbackTransport(), follow_redirects=False, timeout=10.0) as client:
        yield client


@dataclass
class Login:
    slug: str
    code: str
    verifier: str
    nonce: str


def sign_in(idp: AuthentikIdP, http: httpx.Client, slug: str, *, user: str = "alice") -> Login:
    m = http.get(idp.discovery_url(slug)).json()
    verifier = secrets.token_urlsafe(48)
    params = {
        "client_id": f"client-{slug}",
        "redirect_uri": redirect_uri(slug),
        "response_type": "code",
        "scope": SCOPE,
        "state": secrets.token_urlsafe(16),
        "nonce": secrets.token_urlsafe(16),
        "code_challenge": base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode(),
        "code_challenge_method": "S256",
    }
    response = follow_idp(http, http.get(m["authorization_endpoint"], params=params), idp, login=user)
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith(redirect_uri(slug) + "?")
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert query["state"] == params["state"]
    assert query["iss"] == idp.issuer_for(slug)
    return Login(slug, query["code"], verifier, params["nonce"])


def token(idp: AuthentikIdP, http: httpx.Client, slug: str, **form: str) -> httpx.Response:
    return http.post(idp.shared_url("token"), data=form, auth=(f"client-{slug}", f"secret-{slug}"))


def redeem(idp: AuthentikIdP, http: httpx.Client, login: Login, *, as_app: str | None = None) -> httpx.Response:
    form = {"grant_type": "authorization_code", "code": login.code, "code_verifier": login.verifier}
    return token(idp, http, as_app or login.slug, redirect_uri=redirect_uri(login.slug), **form)


def verify(idp: AuthentikIdP, http: httpx.Client, slug: str, value: str) -> dict[str, Any]:
    keys = KeySet.import_key_set(http.get(idp.jwks_url(slug)).json())
    return dict(jwt.decode(value, keys, algorithms=["RS256"]).claims)


def test_discovery_per_app_with_shared_endpoints(idp: AuthentikIdP, http: httpx.Client) -> None:
    base = f"http://auth.test:{idp.port}"
    kids = set()
    for slug in ("grafana", "wiki"):
        m = http.get(f"{base}/application/o/{slug}/.well-known/openid-configuration").json()
        assert m["issuer"] == f"{base}/application/o/{slug}/" == idp.issuer_for(slug)
        for key, name in SHARED.items():
            assert m[key] == f"{base}/application/o/{name}/"
        assert m["jwks_uri"] == f"{base}/application/o/{slug}/jwks/"
        assert m["end_session_endpoint"] == f"{base}/application/o/{slug}/end-session/"
        assert m["backchannel_logout_supported"] is True
        assert m["code_challenge_methods_supported"] == ["S256"]
        (key,) = http.get(m["jwks_uri"]).json()["keys"]
        kids.add(key["kid"])
    assert len(kids) == 2  # each application signs with its own key
    root = http.get(idp.issuer_for("wiki"))
    assert root.status_code == 302
    assert str(root.request.url.join(root.headers["location"])) == idp.discovery_url("wiki")
    assert http.get(f"{base}/application/o/nothing/.well-known/openid-configuration").status_code == 404
    assert http.get(f"{base}/.well-known/openid-configuration").status_code == 404
    counts = idp.counts()
    assert counts["discovery"] == 2
    assert counts["jwks"] == 2


def test_code_flow_for_two_apps_with_one_sign_in(idp: AuthentikIdP, http: httpx.Client) -> None:
    claims = {}
    for slug in ("grafana", "wiki"):
        r = redeem(idp, http, login := sign_in(idp, http, slug))
        assert r.status_code == 200, r.text
        tokens = r.json()
        assert tokens["refresh_token"]
        claims[slug] = verify(idp, http, slug, tokens["id_token"])
        assert claims[slug]["iss"] == idp.issuer_for(slug)
        assert claims[slug]["aud"] == f"client-{slug}"
        assert claims[slug]["nonce"] == login.nonce
        assert {k: claims[slug][k] for k in ALICE} == ALICE
        other = "wiki" if slug == "grafana" else "grafana"
        (other_key,) = KeySet.import_key_set(http.get(idp.jwks_url(other)).json()).keys
        with pytest.raises(BadSignatureError):  # not signed with the other application's key
            jwt.decode(tokens["id_token"], other_key, algorithms=["RS256"])
        info = http.get(idp.shared_url("userinfo"), headers={"Authorization": f"Bearer {tokens['access_token']}"})
        assert info.status_code == 200
        assert info.json() == ALICE
    assert claims["grafana"]["sid"] != claims["wiki"]["sid"]
    counts = idp.counts()
    assert counts["login"] == 1  # the second application got single sign-on: no form
    assert counts["authorization_code"] == 2
    assert counts["authorization_code@client-grafana"] == counts["authorization_code@client-wiki"] == 1
    assert counts["userinfo"] == 2
    assert counts["server_error"] == 0
    assert sorted((s["client_id"], s["sub"]) for s in idp.sessions()) == [
        ("client-grafana", "alice"),
        ("client-wiki", "alice"),
    ]


def test_a_client_cannot_redeem_another_apps_code(idp: AuthentikIdP, http: httpx.Client) -> None:
    login = sign_in(idp, http, "grafana")
    stolen = redeem(idp, http, login, as_app="wiki")
    assert stolen.status_code == 400
    assert stolen.json()["error"] == "invalid_grant"
    counts = idp.counts()
    assert counts["invalid_grant@client-wiki"] == 1
    assert counts["authorization_code"] == 0
    # Wrong secret for a known client: refused as the client's own app would.
    r = http.post(
        idp.shared_url("token"),
        data={"grant_type": "authorization_code", "code": login.code, "code_verifier": login.verifier},
        auth=("client-wiki", "secret-grafana"),
    )
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_client"
    # The attempts did not spend the code: its own application still redeems it.
    r = redeem(idp, http, login)
    assert r.status_code == 200, r.text
    assert verify(idp, http, "grafana", r.json()["id_token"])["aud"] == "client-grafana"


def test_refresh_rotation_per_app(idp: AuthentikIdP, http: httpx.Client) -> None:
    grafana = redeem(idp, http, sign_in(idp, http, "grafana")).json()
    wiki = redeem(idp, http, sign_in(idp, http, "wiki")).json()

    # Another application's client cannot use the refresh token.
    r = token(idp, http, "grafana", grant_type="refresh_token", refresh_token=wiki["refresh_token"])
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_grant"

    r = token(idp, http, "wiki", grant_type="refresh_token", refresh_token=wiki["refresh_token"])
    assert r.status_code == 200, r.text
    rotated = r.json()
    assert rotated["refresh_token"] != wiki["refresh_token"]
    assert verify(idp, http, "wiki", rotated["id_token"])["iss"] == idp.issuer_for("wiki")

    # Reusing the rotated token revokes the wiki grant only: grafana's sign-in keeps refreshing.
    r = token(idp, http, "wiki", grant_type="refresh_token", refresh_token=wiki["refresh_token"])
    assert r.status_code == 400
    r = token(idp, http, "wiki", grant_type="refresh_token", refresh_token=rotated["refresh_token"])
    assert r.status_code == 400
    r = token(idp, http, "grafana", grant_type="refresh_token", refresh_token=grafana["refresh_token"])
    assert r.status_code == 200, r.text
    counts = idp.counts()
    assert counts["refresh_token@client-wiki"] == 1
    assert counts["refresh_token@client-grafana"] == 1
    assert counts["refresh_token_reused@client-wiki"] == 1
    assert counts.get("refresh_token_reused@client-grafana", 0) == 0


def test_admin_backchannel_logout_sends_one_token_per_app(
    idp: AuthentikIdP, http: httpx.Client, receivers: dict[str, Receiver]
) -> None:
    tokens = {slug: redeem(idp, http, sign_in(idp, http, slug)).json() for slug in ("grafana", "wiki")}
    result = idp.backchannel_logout(sub="alice")
    assert result["matched"] == 2
    assert all(n["ok"] for n in result["notified"])
    for slug, rec in receivers.items():
        assert rec.got_one.wait(5)
        (form,) = rec.forms
        logout = verify(idp, http, slug, form["logout_token"][0])
        assert logout["iss"] == idp.issuer_for(slug)
        assert logout["aud"] == f"client-{slug}"
        assert logout["sid"] == verify(idp, http, slug, tokens[slug]["id_token"])["sid"]
        r = token(idp, http, slug, grant_type="refresh_token", refresh_token=tokens[slug]["refresh_token"])
        assert r.json()["error"] == "invalid_grant"
    assert idp.sessions() == []
    counts = idp.counts()
    assert counts["backchannel_logout@client-grafana"] == counts["backchannel_logout@client-wiki"] == 1


def test_signing_out_of_one_app_logs_out_the_others(
    idp: AuthentikIdP, http: httpx.Client, receivers: dict[str, Receiver]
) -> None:
    tokens = {slug: redeem(idp, http, sign_in(idp, http, slug)).json() for slug in ("grafana", "wiki")}
    m = http.get(idp.discovery_url("grafana")).json()
    params = {
        "id_token_hint": tokens["grafana"]["id_token"],
        "post_logout_redirect_uri": signed_out_uri("grafana"),
        "state": "bye",
    }
    response = follow_idp(http, http.get(m["end_session_endpoint"], params=params), idp)
    assert response.status_code == 303
    assert response.headers["location"] == signed_out_uri("grafana") + "?state=bye"
    for slug, rec in receivers.items():
        assert rec.got_one.wait(5), slug
        logout = verify(idp, http, slug, rec.forms[0]["logout_token"][0])
        assert (logout["iss"], logout["aud"], logout["sub"]) == (idp.issuer_for(slug), f"client-{slug}", "alice")
    assert idp.sessions() == []
    assert idp.counts()["end_session@client-grafana"] == 1
    # The IdP session is gone: the next sign-in shows the form again.
    sign_in(idp, http, "wiki")
    assert idp.counts()["login"] == 2


def test_app_passwords_per_app(idp: AuthentikIdP, http: httpx.Client) -> None:
    for slug in ("grafana", "wiki"):
        r = token(
            idp,
            http,
            slug,
            grant_type="client_credentials",
            username="bob",
            password="bob-app-password-0123456789",
            scope="openid profile",
        )
        assert r.status_code == 200, r.text
        claims = verify(idp, http, slug, r.json()["access_token"])
        assert (claims["iss"], claims["aud"], claims["sub"]) == (idp.issuer_for(slug), f"client-{slug}", "bob")
    r = token(idp, http, "wiki", grant_type="client_credentials", username="bob", password="wrong")
    assert r.status_code == 400
    counts = idp.counts()
    assert counts["client_credentials@client-grafana"] == counts["client_credentials@client-wiki"] == 1
    assert counts["client_credentials.invalid_grant@client-wiki"] == 1


TOKEN = "/application/o/token/"
BAD_CLIENT = (401, "invalid_client")
HOSTILE = [
    # (method, path, request options, status, error): nothing routes to a client it does not name.
    ("GET", "/application/o/authorize/", {"params": {"client_id": "nobody", "response_type": "code"}}, 400, None),
    ("POST", "/application/o/token/", {"data": {"grant_type": "refresh_token", "refresh_token": "x"}}, 400, None),
    (
        "POST",
        "/application/o/token/",
        {"data": {"grant_type": "client_credentials", "client_id": "nobody"}},
        401,
        "invalid_client",
    ),
    ("POST", "/application/o/token/", {"headers": {"Authorization": "Basic !!!not-base64"}, "data": {}}, 400, None),
    (
        "POST",
        "/application/o/token/",
        {"auth": ("nobody", "x"), "data": {"grant_type": "refresh_token"}},
        401,
        "invalid_client",
    ),
    ("GET", "/application/o/userinfo/", {"headers": {"Authorization": "Bearer not-a-token"}}, 401, "invalid_token"),
    ("GET", "/application/o/userinfo/", {}, 401, "invalid_token"),
    (
        "POST",
        "/application/o/revoke/",
        {"auth": ("client-wiki", "wrong"), "data": {"token": "x"}},
        401,
        "invalid_client",
    ),
    ("GET", "/application/o/nobody/.well-known/openid-configuration", {}, 404, None),
    ("GET", "/application/o/../grafana/jwks/", {}, 404, None),
    ("GET", "/application/o/grafana/%2e%2e/wiki/jwks/", {}, 404, None),
    ("GET", "/application/o/", {}, 404, None),
    ("GET", "/auth", {}, 404, None),
    ("GET", "/jwks", {}, 404, None),
]


@pytest.mark.parametrize(("method", "path", "options", "status", "error"), HOSTILE)
def test_hostile_requests_to_the_shared_layout(
    idp: AuthentikIdP, method: str, path: str, options: dict[str, Any], status: int, error: str | None
) -> None:
    with httpx.Client(base_url=idp.url, timeout=10.0) as raw:
        r = raw.request(method, path, **options)
    assert r.status_code == status, r.text
    if error:
        assert r.json()["error"] == error
    assert idp.counts()["server_error"] == 0


def test_compact_app_list_takes_client_metadata_from_idp_clients(tmp_path: Path, http: httpx.Client) -> None:
    """IDP_AUTHENTIK_APPS="slug:client_id:secret,...", the rest of each client from IDP_CLIENTS."""
    node = require_node_idp()
    port = free_port()
    listed = [{"client_id": f"client-{s}", "redirect_uris": [redirect_uri(s)]} for s in ("grafana", "wiki")]
    env = node_idp_env(
        listed,
        issuer=f"http://auth.test:{port}",
        extra={"IDP_AUTHENTIK_APPS": "grafana:client-grafana:secret-grafana, wiki:client-wiki:secret-wiki"},
    )
    proc = Proc("compact-idp", [node, str(SERVER), str(port)], log_dir=tmp_path, env=env, cwd=IDP_DIR)
    idp = AuthentikIdP(proc.start(), port, f"http://auth.test:{port}", "client-wiki", "secret-wiki", httpx.Client())
    try:
        proc.wait_port(port)
        tokens = redeem(idp, http, sign_in(idp, http, "wiki")).json()
        assert verify(idp, http, "wiki", tokens["id_token"])["iss"] == f"http://auth.test:{port}/application/o/wiki/"
        assert "applications=grafana:client-grafana,wiki:client-wiki" in proc.log()
    finally:
        idp.stop()


@pytest.mark.parametrize(
    "apps",
    [
        "grafana:client-grafana",  # no secret
        "grafana:client-grafana:secret:extra",
        "Grafana:client-grafana:secret",  # not a slug
        "grafana:a:b,grafana:c:d",  # the same slug twice
        "../x:client:secret",
        "[not json",
    ],
)
def test_bad_app_lists_are_refused_at_start(apps: str) -> None:
    node = require_node_idp()
    env = node_idp_env([], extra={"IDP_AUTHENTIK_APPS": apps, "NODE_ENV": "test"})
    argv = [node, str(SERVER), str(free_port())]
    done = subprocess.run(argv, check=False, env=env, cwd=IDP_DIR, capture_output=True, text=True, timeout=30)
    assert done.returncode != 0
    assert "IDP_AUTHENTIK_APPS" in done.stderr
