"""Header auth (AUTHGATE_HEADER_AUTH=bearer,basic) with the real node IdP, two replicas sharing
Redis, real nginx (the NPM snippet) and real Traefik (dynamic.yml): API clients get the app with
identity headers, or 401 / 403, never a redirect; refused passwords are counted across replicas.

The IdP's own counts (GET /__test/counts) prove when it was, and was not, asked.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from authgate.access.api_clients import FAILURE_LIMIT
from tests.support.cluster import Cluster, replicas_behind_nginx
from tests.support.flows import PREFIX, echoed_headers
from tests.support.node_idp import NodeIdP, start_node_idp
from tests.support.procs import free_port, wait_for
from tests.support.servers import gateway_env, start_echo, start_redis, traefik_server

pytestmark = pytest.mark.e2e

CLIENT_ID, CLIENT_SECRET = "authgate-api", "api-secret-0123456789abcdef"
OTHER_ID, OTHER_SECRET = "other-app", "other-secret-0123456789abcdef"
ALICE = ("alice", "alice-app-password-0123456789")  # tests/idp/server.mjs: USERS' app passwords
BOB = ("bob", "bob-app-password-0123456789")
API = {"Accept": "application/json"}
SCOPE = "openid email profile"


@dataclass
class World:
    cluster: Cluster
    idp: NodeIdP
    traefik_port: int

    def token(self, client: tuple[str, str] = (CLIENT_ID, CLIENT_SECRET), user: tuple[str, str] = ALICE) -> str:
        """An access token (a JWT) of ``client`` for ``user``, straight from the IdP."""
        r = httpx.post(
            f"{self.idp.url}/token",
            data={"grant_type": "client_credentials", "username": user[0], "password": user[1], "scope": SCOPE},
            auth=client,
            headers={"Host": httpx.URL(self.idp.issuer).netloc.decode()},
        )
        r.raise_for_status()
        return str(r.json()["access_token"])

    def via_nginx(self, authorization: str | None = None) -> httpx.Response:
        return _get(f"http://127.0.0.1:{self.cluster.app_port}/api/items", authorization)

    def via_traefik(self, authorization: str | None = None) -> httpx.Response:
        return _get(f"http://127.0.0.1:{self.traefik_port}/api/items", authorization)

    def check(self, replica: int, authorization: str) -> httpx.Response:
        """An nginx-style auth check asked of one replica directly."""
        gw = self.cluster.replicas[replica]
        headers = {"X-Original-URL": f"{self.cluster.origin}/api/items", "Authorization": authorization, **API}
        return httpx.get(f"{gw.url}{PREFIX}/auth/nginx", headers=headers)


def _get(url: str, authorization: str | None) -> httpx.Response:
    headers = {"Host": "app.test", **API}
    if authorization is not None:
        headers["Authorization"] = authorization
    return httpx.get(url, headers=headers, follow_redirects=False)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture(scope="module")
def world(module_tmp: Path) -> Iterator[World]:
    redis = start_redis(module_tmp, "redis-header-auth")
    echo, echo_port = start_echo(module_tmp)
    app_port, traefik_port = free_port(), free_port()
    idp = start_node_idp(
        module_tmp,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uris=[f"http://app.test:{app_port}{PREFIX}/callback"],
        extra_clients=[
            {"client_id": OTHER_ID, "client_secret": OTHER_SECRET, "redirect_uris": ["http://other.test/callback"]}
        ],
    )
    env = gateway_env(
        idp.issuer,
        redis_url=redis.url,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        header_auth="bearer,basic",
        allowed_groups="admins",
    )
    try:
        with (
            replicas_behind_nginx(module_tmp, env, echo_port=echo_port, count=2, app_port=app_port) as cluster,
            traefik_server(
                module_tmp, gateway_url=f"http://127.0.0.1:{cluster.lb_port}", app_port=echo_port, port=traefik_port
            ),
        ):
            wait_for(
                lambda: httpx.get(f"http://127.0.0.1:{traefik_port}/", headers={"Host": "app.test"}).status_code != 404,
                what="Traefik routes",
            )
            yield World(cluster, idp, traefik_port)
    finally:
        idp.stop()
        echo.stop()
        redis.proc.stop()


def test_a_bearer_jwt_reaches_the_app_with_identity_headers_through_nginx_and_traefik(world: World) -> None:
    token = world.token()
    for r in (world.via_nginx(f"Bearer {token}"), world.via_traefik(f"Bearer {token}")):
        assert r.status_code == 200, r.text
        seen = echoed_headers(r)
        assert seen["x-authentik-username"] == "alice"
        assert seen["x-authentik-groups"] == "admins|staff"
        assert seen["x-authentik-jwt"] == token
        assert seen["authorization"] == f"Bearer {token}"  # the app gets the header as the client sent it


@pytest.mark.parametrize(
    "bad",
    ["another client's token", "an opaque token", "a forged signature"],
)
def test_refused_bearers_get_401_with_a_challenge_never_a_redirect(world: World, bad: str) -> None:
    good = world.token()
    token = {
        "another client's token": world.token((OTHER_ID, OTHER_SECRET)),
        "an opaque token": "2YotnFZFEjr1zCsicMWpAA",
        "a forged signature": good[:-8] + ("A" * 8 if not good.endswith("A" * 8) else "B" * 8),
    }[bad]
    for r in (world.via_nginx(f"Bearer {token}"), world.via_traefik(f"Bearer {token}")):
        assert r.status_code == 401, (bad, r.status_code, r.headers.get("location"))
        assert r.headers["www-authenticate"] == 'Bearer realm="authgate", error="invalid_token"'
        assert "x-authentik-username" not in r.text


def test_without_credentials_an_api_call_gets_401_through_traefik(world: World) -> None:
    r = world.via_traefik()
    assert r.status_code == 401
    assert "location" not in r.headers


def test_basic_with_an_app_password_is_exchanged_at_the_idp_once(world: World) -> None:
    world.idp.reset_counts()
    header = basic(*ALICE)
    for r in (world.via_nginx(header), world.via_traefik(header), world.via_nginx(header)):
        assert r.status_code == 200, r.text
        assert echoed_headers(r)["x-authentik-email"] == "alice@example.test"
    # Remembered per replica: at most one exchange each, whatever the number of requests.
    assert 1 <= world.idp.counts().get("client_credentials", 0) <= len(world.cluster.replicas)


def test_a_wrong_password_gets_401_and_a_denied_user_403(world: World) -> None:
    r = world.via_traefik(basic("alice", "not-her-app-password"))
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == 'Basic realm="authgate", charset="UTF-8"'
    assert world.via_nginx(basic(*BOB)).status_code == 403  # bob is not in AUTHGATE_ALLOWED_GROUPS
    assert world.via_traefik(f"Bearer {world.token(user=BOB)}").status_code == 403


def test_refused_passwords_are_counted_across_replicas(world: World) -> None:
    world.idp.reset_counts()
    # Distinct guesses (a repeated one is answered from memory), alternating between the replicas.
    for i in range(FAILURE_LIMIT):
        assert world.check(i % 2, basic("mallory", f"guess-{i}")).status_code == 401
    assert world.idp.counts().get("client_credentials.invalid_grant") == FAILURE_LIMIT
    for replica in (0, 1):
        r = world.check(replica, basic("mallory", f"yet-another-guess-{replica}"))
        assert r.status_code == 401
        assert "www-authenticate" in r.headers
    assert world.idp.counts().get("client_credentials.invalid_grant") == FAILURE_LIMIT, "the IdP was asked again"
