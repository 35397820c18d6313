"""The X-authentik-meta-* values (apps.global_meta): named in the settings, or derived from an
issuer in Authentik's layout; and the basic-auth settings that decide who owns Authorization."""

from __future__ import annotations

import pytest

from authgate import __version__
from authgate.access.identity_headers import Meta
from authgate.config import load_settings
from authgate.wiring.apps import global_meta as authentik_meta
from authgate.wiring.gateway import build_gateway

BASE = {
    "AUTHGATE_CLIENT_ID": "client-1",
    "AUTHGATE_SECRET": "Zq8Xw3Lm5Np7Rt2Vb9Kc4Hd6Jf1Gs0Ya",
}


def meta(issuer: str, **settings: str) -> Meta:
    env = {**BASE, "AUTHGATE_ISSUER": issuer, **{f"AUTHGATE_{k.upper()}": v for k, v in settings.items()}}
    return authentik_meta(load_settings(env))


@pytest.mark.parametrize(
    ("issuer", "slug", "jwks"),
    [
        ("https://auth.test/application/o/wiki/", "wiki", "https://auth.test/application/o/wiki/jwks/"),
        ("https://auth.test/application/o/wiki", "wiki", "https://auth.test/application/o/wiki/jwks/"),
        ("https://auth.test/sub/application/o/my-app/", "my-app", "https://auth.test/sub/application/o/my-app/jwks/"),
        ("https://keycloak.test/realms/main", "", ""),
        ("https://auth.test/application/o/", "", ""),
        ("https://auth.test/application/o/wiki/extra/", "", ""),
    ],
)
def test_derived_from_the_issuer(issuer: str, slug: str, jwks: str) -> None:
    m = meta(issuer)
    assert (m.app, m.provider, m.jwks) == (slug, slug, jwks)
    assert m.outpost == "authgate"
    assert m.version == f"authgate/{__version__}"


def test_named_in_the_settings() -> None:
    m = meta(
        "https://auth.test/application/o/wiki/",
        authentik_outpost_name="edge outpost",
        authentik_provider_name="Wiki Provider",
        authentik_app_slug="knowledge",
        authentik_jwks_url="https://auth.test/keys",
    )
    assert m == Meta("https://auth.test/keys", "edge outpost", "Wiki Provider", "knowledge", f"authgate/{__version__}")
    assert meta("https://kc.test/realms/x", authentik_app_slug="wiki").provider == "wiki"


def test_the_site_owns_authorization_only_with_basic_credentials() -> None:
    issuer = "https://auth.test/application/o/wiki/"
    env = {**BASE, "AUTHGATE_ISSUER": issuer, "AUTHGATE_DEV_MODE": "true"}
    assert not build_gateway(load_settings(env)).site.sends_basic_auth
    env["AUTHGATE_AUTHENTIK_BASIC_AUTH_PASSWORD_ATTRIBUTE"] = "app_password"
    gw = build_gateway(load_settings(env))
    assert gw.site.sends_basic_auth
    assert gw.sessions.basic_auth.password_attribute == "app_password"
    assert gw.site.meta.app == "wiki"
