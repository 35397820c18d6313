"""Self-test of the oidc-provider test IdP (tests/idp) with plain httpx: no authgate involved."""

from __future__ import annotations

import base64
import hashlib
import secrets
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
from joserfc.jwk import KeySet

from tests.support.browser import LoopbackTransport
from tests.support.node_idp import NodeIdP, follow_idp, start_node_idp
from tests.support.procs import free_port

CLIENT_ID = "authgate-test"
CLIENT_SECRET = "client-secret-for-tests"
REDIRECT_URI = "http://app.test:8080/outpost.goauthentik.io/callback"
POST_LOGOUT_URI = "http://app.test:8080/signed-out"
SCOPE = "openid email profile offline_access"


@dataclass
class Receiver:
    """A relying party's back-channel logout endpoint: records every form it is sent."""

    port: int
    forms: list[dict[str, list[str]]] = field(default_factory=list)
    got_one: threading.Event = field(default_factory=threading.Event)

    def url(self, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}/outpost.goauthentik.io/backchannel_logout"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver(free_port())

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
            rec.forms.append(parse_qs(body))
            rec.got_one.set()
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", rec.port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield rec
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    """A cookie-keeping client that does not follow redirects; ``*.test`` names go to 127.0.0.1."""
    with httpx.Client(transport=LoopbackTransport(), follow_redirects=False, timeout=10.0) as client:
        yield client


@pytest.fixture
def idp(tmp_path: Path, receiver: Receiver) -> Iterator[NodeIdP]:
    server = start_node_idp(
        tmp_path,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uris=[REDIRECT_URI],
        post_logout_redirect_uris=[POST_LOGOUT_URI],
        backchannel_logout_uri=receiver.url("rp.test"),  # *.test is loopback for the IdP too
        access_ttl=5,
    )
    yield server
    server.stop()


def meta(idp: NodeIdP, http: httpx.Client) -> dict[str, Any]:
    r = http.get(f"{idp.url}/.well-known/openid-configuration")
    assert r.status_code == 200
    return dict(r.json())


@dataclass
class Login:
    code: str
    verifier: str
    nonce: str
    state: str


def authorize(
    idp: NodeIdP, http: httpx.Client, *, user: str = "alice", pkce: bool = True
) -> tuple[httpx.Response, str, dict[str, str]]:
    """Start a code flow and walk the IdP's pages; the response that leaves the IdP, the PKCE verifier, the params."""
    m = meta(idp, http)
    verifier = secrets.token_urlsafe(48)
    params = {
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "response_type": "code",
        "scope": SCOPE,
        "state": secrets.token_urlsafe(16),
        "nonce": secrets.token_urlsafe(16),
    }
    if pkce:
        digest = hashlib.sha256(verifier.encode()).digest()
        params["code_challenge"] = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        params["code_challenge_method"] = "S256"
    response = follow_idp(http, http.get(m["authorization_endpoint"], params=params), idp, login=user)
    return response, verifier, params


def sign_in(idp: NodeIdP, http: httpx.Client, *, user: str = "alice") -> Login:
    response, verifier, params = authorize(idp, http, user=user)
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT_URI + "?")
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert query["state"] == params["state"]
    assert query["iss"] == idp.issuer
    return Login(query["code"], verifier, params["nonce"], params["state"])


def token(idp: NodeIdP, http: httpx.Client, **form: str) -> httpx.Response:
    return http.post(f"{idp.url}/token", data=form, auth=(CLIENT_ID, CLIENT_SECRET))


def redeem(idp: NodeIdP, http: httpx.Client, login: Login) -> httpx.Response:
    return token(
        idp,
        http,
        grant_type="authorization_code",
        code=login.code,
        redirect_uri=REDIRECT_URI,
        code_verifier=login.verifier,
    )


def verify(idp: NodeIdP, http: httpx.Client, token_value: str) -> dict[str, Any]:
    keys = KeySet.import_key_set(http.get(f"{idp.url}/jwks").json())
    return dict(jwt.decode(token_value, keys, algorithms=["RS256"]).claims)


ALICE = {
    "sub": "alice",
    "email": "alice@example.test",
    "email_verified": True,
    "name": "Alice Zoë Example",
    "preferred_username": "alice",
    "groups": ["admins", "staff"],
}


def test_discovery(idp: NodeIdP, http: httpx.Client) -> None:
    m = meta(idp, http)
    assert m["issuer"] == idp.issuer == f"http://127.0.0.1:{idp.port}"
    assert m["code_challenge_methods_supported"] == ["S256"]
    assert m["response_types_supported"] == ["code"]
    assert m["backchannel_logout_supported"] is True
    assert m["backchannel_logout_session_supported"] is True
    assert "offline_access" in m["scopes_supported"]
    for key in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri", "end_session_endpoint"):
        assert m[key].startswith(idp.issuer + "/")


def test_code_flow_refresh_rotation_and_reuse(idp: NodeIdP, http: httpx.Client) -> None:
    login = sign_in(idp, http, user="alice")
    r = redeem(idp, http, login)
    assert r.status_code == 200, r.text
    tokens = r.json()
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 5  # IDP_ACCESS_TTL
    # oidc-provider drops offline_access from requests without prompt=consent; refresh tokens come anyway.
    assert tokens["scope"] == "openid email profile"
    assert tokens["refresh_token"]

    claims = verify(idp, http, tokens["id_token"])
    assert claims["iss"] == idp.issuer
    assert claims["aud"] == CLIENT_ID
    assert claims["nonce"] == login.nonce
    assert claims["exp"] - claims["iat"] == 5  # ID tokens live as long as access tokens
    assert {k: claims[k] for k in ALICE} == ALICE
    assert claims["sid"]

    info = http.get(f"{idp.url}/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.status_code == 200
    assert info.json() == ALICE

    # A refresh rotates the refresh token.
    r = token(idp, http, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert r.status_code == 200, r.text
    refreshed = r.json()
    assert refreshed["refresh_token"] != tokens["refresh_token"]
    assert refreshed["access_token"] != tokens["access_token"]
    again = verify(idp, http, refreshed["id_token"])
    assert again["sub"] == "alice"
    assert again["sid"] == claims["sid"]

    # Presenting the rotated one again is refused...
    r = token(idp, http, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert r.status_code == 400
    assert r.json() == {"error": "invalid_grant", "error_description": "grant request is invalid"}

    counts = idp.counts()
    assert counts["authorization_code"] == 1
    assert counts["refresh_token"] == 1
    assert counts["invalid_grant"] == 1
    assert counts["refresh_token.invalid_grant"] == 1
    assert counts["refresh_token_reused"] == 1
    assert counts["grant_error"] == 1
    assert counts["grant_revoked"] == 1
    assert counts["login"] == 1
    assert counts["authorization"] == 1
    assert counts["server_error"] == 0
    events = [e["event"] for e in idp.events()]
    assert events.count("grant.success") == 2
    assert events.count("grant.error") == 1

    # ... and it revoked the grant: the newest refresh token and access token are dead too.
    r = token(idp, http, grant_type="refresh_token", refresh_token=refreshed["refresh_token"])
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_grant"
    info = http.get(f"{idp.url}/me", headers={"Authorization": f"Bearer {refreshed['access_token']}"})
    assert info.status_code == 401
    assert idp.counts()["invalid_grant"] == 2
    assert idp.counts()["refresh_token_reused"] == 1


def test_code_is_single_use_and_pkce_is_checked(idp: NodeIdP, http: httpx.Client) -> None:
    login = sign_in(idp, http, user="bob")
    wrong = token(
        idp,
        http,
        grant_type="authorization_code",
        code=login.code,
        redirect_uri=REDIRECT_URI,
        code_verifier=secrets.token_urlsafe(48),
    )
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"
    assert idp.events()[-1]["error_detail"] == "code_verifier does not match code_challenge"

    first = redeem(idp, http, login)  # a failed PKCE check does not consume the code
    assert first.status_code == 200, first.text
    assert verify(idp, http, first.json()["id_token"])["groups"] == ["guests"]
    second = redeem(idp, http, login)
    assert second.status_code == 400
    assert second.json()["error"] == "invalid_grant"
    counts = idp.counts()
    assert counts["authorization_code"] == 1
    assert counts["invalid_grant"] == 2
    assert counts["authorization_code_reused"] == 1
    assert counts["grant_revoked"] == 1
    # The second redemption revoked what the first one issued.
    r = token(idp, http, grant_type="refresh_token", refresh_token=first.json()["refresh_token"])
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_grant"

    # Same browser again: single sign-on at the IdP, no form this time (a new grant is consented implicitly).
    login = sign_in(idp, http, user="bob")
    assert idp.counts()["login"] == 1
    assert redeem(idp, http, login).status_code == 200


def test_pkce_is_required_and_unknown_users_are_refused(idp: NodeIdP, http: httpx.Client) -> None:
    response, _, _ = authorize(idp, http, pkce=False)
    assert response.status_code == 303
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert query["error"] == ["invalid_request"]
    assert query["error_description"] == ["Authorization Server policy requires PKCE to be used for this request"]

    response, _, _ = authorize(idp, http, user="mallory")
    assert response.status_code == 200
    assert "unknown user" in response.text
    assert idp.counts()["login"] == 0


def test_admin_backchannel_logout(idp: NodeIdP, http: httpx.Client, receiver: Receiver) -> None:
    tokens = redeem(idp, http, sign_in(idp, http)).json()
    sid = verify(idp, http, tokens["id_token"])["sid"]
    assert [(s["sub"], s["sid"], s["client_id"]) for s in idp.sessions()] == [("alice", sid, CLIENT_ID)]

    result = idp.backchannel_logout(sub="alice")
    assert result == {
        "matched": 1,
        "notified": [{"client_id": CLIENT_ID, "sub": "alice", "sid": sid, "ok": True, "error": None}],
    }
    assert receiver.got_one.wait(5)
    (form,) = receiver.forms
    logout = verify(idp, http, form["logout_token"][0])
    assert logout["iss"] == idp.issuer
    assert logout["aud"] == CLIENT_ID
    assert logout["sub"] == "alice"
    assert logout["sid"] == sid
    assert "http://schemas.openid.net/event/backchannel-logout" in logout["events"]
    assert "nonce" not in logout

    assert idp.sessions() == []
    r = token(idp, http, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert r.json()["error"] == "invalid_grant"
    counts = idp.counts()
    assert counts["backchannel_logout"] == 1
    assert counts["grant_revoked"] == 1


def test_rp_initiated_logout(idp: NodeIdP, http: httpx.Client, receiver: Receiver) -> None:
    tokens = redeem(idp, http, sign_in(idp, http)).json()
    m = meta(idp, http)
    params = {"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": POST_LOGOUT_URI, "state": "bye"}
    response = follow_idp(http, http.get(m["end_session_endpoint"], params=params), idp)
    assert response.status_code == 303
    assert response.headers["location"] == POST_LOGOUT_URI + "?state=bye"
    assert receiver.got_one.wait(5)
    assert verify(idp, http, receiver.forms[0]["logout_token"][0])["sub"] == "alice"
    counts = idp.counts()
    assert counts["end_session"] == 1
    assert counts["backchannel_logout"] == 1
    assert idp.sessions() == []
    # Offline refresh tokens outlive an RP-initiated logout (Back-Channel Logout 1.0 §2.7: they "normally
    # SHOULD NOT be revoked"); the relying party drops its own copy. /__test/backchannel_logout revokes them.
    r = token(idp, http, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert r.status_code == 200
    assert idp.counts()["grant_revoked"] == 0


def test_public_issuer_host(tmp_path: Path, http: httpx.Client) -> None:
    idp = start_node_idp(
        tmp_path,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uris=[REDIRECT_URI],
        public_host="idp.test",
    )
    try:
        public = http.get(f"{idp.issuer}/.well-known/openid-configuration").json()
        internal = http.get(f"{idp.url}/.well-known/openid-configuration").json()
        assert public["issuer"] == internal["issuer"] == f"http://idp.test:{idp.port}"
        # Endpoint URLs follow the Host header, as Authentik's do.
        assert public["token_endpoint"] == f"http://idp.test:{idp.port}/token"
        assert internal["token_endpoint"] == f"http://127.0.0.1:{idp.port}/token"
        tokens = redeem(idp, http, sign_in(idp, http)).json()
        assert verify(idp, http, tokens["id_token"])["iss"] == idp.issuer
        assert idp.counts()["discovery"] == 3
    finally:
        idp.stop()


def test_backchannel_logout_failure_is_counted(tmp_path: Path, http: httpx.Client) -> None:
    closed = free_port()  # nothing listens there
    idp = start_node_idp(
        tmp_path,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uris=[REDIRECT_URI],
        backchannel_logout_uri=f"http://127.0.0.1:{closed}/backchannel_logout",
    )
    try:
        redeem(idp, http, sign_in(idp, http, user="bob"))
        result = idp.backchannel_logout(sub="bob", keep=True)
        assert result["matched"] == 1
        (note,) = result["notified"]
        assert note["ok"] is False
        assert "ECONNREFUSED" in note["error"]
        assert idp.counts()["backchannel_logout_error"] == 1
        assert len(idp.sessions()) == 1  # keep=1: the IdP session and grant stay
    finally:
        idp.stop()
