"""Outpost mode against the fake Authentik (tests/support/fake_authentik.py): the API client reads every
page, and ``authgate check`` names a refused token, a wrong outpost type, no providers, lists each
provider with its host and mode, and probes each one's OIDC side."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from authgate.errors import OutpostError, OutpostTokenRefused
from authgate.outpost.api import AuthentikAPI
from tests.support.authentik_idp import App, start_authentik_idp
from tests.support.fake_authentik import FakeAuthentik, start_fake_authentik
from tests.support.procs import free_port
from tests.support.servers import ROOT

TOKEN = "outpost-token-" + "Zq8Lw3Nv6Rt1Yp4Kc7Hd0Jf2"
PORT = 8443  # the proxy port of the providers' external hosts (nothing listens: check reads, never visits)
SLUGS = ("grafana", "wiki", "legacy")


def provider(slug: str, **changes: Any) -> dict[str, Any]:
    return {
        "pk": SLUGS.index(slug) + 1,
        "name": slug.title(),
        "slug": slug,
        "client_id": f"client-{slug}",
        "client_secret": f"secret-{slug}-0123456789abcdef",
        "external_host": f"http://{slug}.test:{PORT}",
        **changes,
    }


@pytest.fixture(scope="module")
def fake(module_tmp: Path) -> Iterator[FakeAuthentik]:
    port = free_port()
    callback = "/outpost.goauthentik.io/callback?X-authentik-auth-callback=true"
    apps = [
        App(
            s,
            f"client-{s}",
            f"secret-{s}-0123456789abcdef",
            redirect_uris=[f"http://{s}.test:{PORT}{callback}"],
            extra={"id_token_signed_response_alg": "HS256"},
        )
        for s in SLUGS
    ]
    idp = start_authentik_idp(module_tmp, apps, base=f"http://auth.test:{port}")
    fake = start_fake_authentik(module_tmp, idp.url, TOKEN, port=port)
    try:
        yield fake
    finally:
        fake.proc.stop()
        idp.stop()


def check(fake: FakeAuthentik, **env: str) -> tuple[int, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AUTHGATE_", "AUTHENTIK_"))}
    base |= {"AUTHENTIK_HOST": fake.url, "AUTHENTIK_TOKEN": TOKEN, "AUTHENTIK_HOST_BROWSER": fake.browser_url}
    proc = subprocess.run(
        [sys.executable, "-m", "authgate", "check"],
        check=False,
        env=base | env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return proc.returncode, proc.stdout + proc.stderr


def test_the_api_client_reads_every_page(fake: FakeAuthentik) -> None:
    many = [provider("grafana", pk=n, name=f"P{n:02}", external_host=f"http://p{n}.test") for n in range(1, 6)]
    fake.set_providers(many)

    async def read() -> tuple[str, list[dict[str, Any]]]:
        api = AuthentikAPI(fake.url, TOKEN)
        try:
            return (await api.outpost()).type, await api.providers()
        finally:
            await api.aclose()

    kind, found = asyncio.run(read())
    assert kind == "proxy"
    assert [p["name"] for p in found] == [f"P{n:02}" for n in range(1, 6)], "three pages of two, in order"


def test_a_refused_token_and_a_wrong_outpost_type_are_errors_of_their_own(fake: FakeAuthentik) -> None:
    async def outpost(token: str) -> None:
        api = AuthentikAPI(fake.url, token)
        try:
            await api.outpost()
        finally:
            await api.aclose()

    with pytest.raises(OutpostTokenRefused, match="AUTHENTIK_TOKEN"):
        asyncio.run(outpost("wrong-token"))
    fake.set_outpost(type="ldap")
    try:
        with pytest.raises(OutpostError, match="'ldap'"):
            asyncio.run(outpost(TOKEN))
    finally:
        fake.set_outpost(type="proxy")


def test_check_lists_and_probes_every_provider(fake: FakeAuthentik) -> None:
    fake.set_providers([provider("grafana"), provider("wiki"), provider("legacy", mode="proxy")])
    code, out = check(fake)
    assert code == 0, out
    assert "AUTHENTIK_TOKEN accepted: outpost 'authgate-outpost'" in out
    assert "provider 'Grafana': host grafana.test, mode forward_single" in out
    assert "provider 'Wiki': host wiki.test, mode forward_single" in out
    assert "provider 'Legacy': host legacy.test, mode proxy: not served" in out
    for slug in ("grafana", "wiki"):
        assert f"provider '{slug.title()}': client 'client-{slug}' accepted by the IdP" in out
        redirect = f"http://{slug}.test:{PORT}/outpost.goauthentik.io/callback?X-authentik-auth-callback=true"
        assert f"provider '{slug.title()}': redirect URI {redirect} accepted" in out
    assert "FAIL" not in out


def test_check_says_what_a_forward_domain_provider_serves(fake: FakeAuthentik) -> None:
    domain = {"mode": "forward_domain", "external_host": f"http://wiki.test:{PORT}"}
    fake.set_providers(
        [
            provider("grafana", mode="forward_domain", cookie_domain="elsewhere.test"),  # does not cover it
            provider("wiki", cookie_domain=".test", **domain),  # a top-level domain: no cookie domain
            provider(
                "legacy",
                cookie_domain="legacy.test",
                mode="forward_domain",
                basic_auth_enabled=True,
                skip_path_regex="^/open/\n^https://legacy\\.test/public/",
            ),
        ]
    )
    code, out = check(fake)
    assert "provider 'Grafana': host grafana.test, mode forward_domain: its cookie domain 'elsewhere.test'" in out
    assert "served for grafana.test only" in out and "WARN" in out
    assert "provider 'Wiki': host wiki.test, mode forward_domain: its cookie domain '.test'" in out
    assert "provider 'Legacy': host legacy.test, mode forward_domain: every host under legacy.test, signed in at" in out
    assert "provider 'Legacy': HTTP-Basic authentication is on without a password attribute" in out
    assert "provider 'Legacy': skip_path_regex line '^/open/' is anchored to a path" in out
    assert "e.g. ^https://[^/]+/open/" in out and "'^https://legacy" not in out, "a URL regex is fine"
    assert code == 0, out  # warnings, no failure


def test_check_names_a_refused_token(fake: FakeAuthentik) -> None:
    code, out = check(fake, AUTHENTIK_TOKEN="not-this-outposts-token")
    assert code == 1
    assert "FAIL Authentik refused AUTHENTIK_TOKEN (403" in out
    assert "not-this-outposts-token" not in out


def test_check_fails_on_an_outpost_of_another_type_and_on_no_providers(fake: FakeAuthentik) -> None:
    fake.set_outpost(type="ldap")
    try:
        code, out = check(fake)
    finally:
        fake.set_outpost(type="proxy")
    assert code == 1 and "is of type 'ldap': authgate serves proxy outposts" in out
    fake.set_providers([])
    code, out = check(fake)
    assert code == 1 and "has no proxy providers" in out


def test_check_fails_on_a_provider_whose_secret_authentik_no_longer_has(fake: FakeAuthentik) -> None:
    fake.set_providers([provider("grafana", client_secret="not-the-idps-secret")])
    code, out = check(fake)
    assert code == 1
    assert "FAIL provider 'Grafana': the IdP refused the client credentials" in out
