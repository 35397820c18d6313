"""``authgate check``'s reading of the discovery document (authgate/cli/check_features.py): warnings and notes
about refresh tokens, consent, logout and the addresses to register; never a failure."""

from __future__ import annotations

from typing import Any

import pytest

from authgate.cli.check_features import header_auth, offline_access, sign_out
from authgate.cli.report import Report
from authgate.config import Settings
from authgate.oidc.discovery import ProviderMetadata

ISSUER = "https://idp.example.test/"


def meta(**fields: Any) -> ProviderMetadata:
    doc = {
        "issuer": ISSUER,
        "authorization_endpoint": ISSUER + "authorize",
        "token_endpoint": ISSUER + "token",
        "jwks_uri": ISSUER + "jwks",
        **fields,
    }
    return ProviderMetadata.from_json(doc, issuer=ISSUER)


def settings(**fields: Any) -> Settings:
    return Settings(issuer=ISSUER, client_id="c", client_secret="s", **fields)


def lines(fn: Any, *args: Any) -> tuple[str, bool]:
    report = Report()
    fn(*args, report)
    return "\n".join(report.lines), report.failed


LLNG = {
    "scopes_supported": ["openid", "profile", "email"],
    "grant_types_supported": ["authorization_code", "refresh_token"],
}


@pytest.mark.parametrize(
    ("doc", "prompt", "expected", "absent"),
    [
        # LemonLDAP::NG: no offline_access listed, the refresh_token grant offered
        (LLNG, "", ["WARN", "but it offers the refresh_token grant", "without prompt=consent"], ["no refresh tokens"]),
        (LLNG, "consent", ["WARN", "but it offers the refresh_token grant"], ["without prompt=consent"]),
        (
            {"scopes_supported": ["openid"], "grant_types_supported": ["authorization_code"]},
            "",
            ["WARN", "nor the refresh_token grant: it may issue no refresh token"],
            [],
        ),
        ({"scopes_supported": ["openid"]}, "", ["nor the refresh_token grant"], []),
        # offline_access listed (Authentik, Keycloak): a note on consent, no warning about scopes
        ({"scopes_supported": ["openid", "offline_access"]}, "", ["INFO offline_access is asked for without"], []),
        (
            {"scopes_supported": ["openid", "offline_access"]},
            "consent login",
            ["OK   offline_access is asked for with"],
            [],
        ),
        # no scopes_supported at all: nothing to say about scopes
        ({}, "", ["INFO offline_access is asked for without"], ["does not list"]),
    ],
)
def test_offline_access(doc: dict[str, Any], prompt: str, expected: list[str], absent: list[str]) -> None:
    out, failed = lines(offline_access, settings(prompt=prompt), meta(**doc, backchannel_logout_supported=True))
    assert not failed
    for text in expected:
        assert text in out
    for text in absent:
        assert text not in out


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"backchannel_logout_supported": True}, "OK   the IdP offers back-channel logout: register https://<host>"),
        (
            {"backchannel_logout_supported": False, "frontchannel_logout_supported": True},
            "OK   the IdP offers front-channel logout (no back-channel): register https://<host>/outpost.goauthentik.io/frontchannel_logout",
        ),
        (
            {"backchannel_logout_supported": False, "frontchannel_logout_supported": False},
            "WARN the IdP advertises neither",
        ),
        ({}, "WARN the IdP advertises neither"),
        ({"backchannel_logout_supported": "yes"}, "WARN the IdP advertises neither"),  # not a boolean: not said
    ],
)
def test_logout_that_reaches_authgate(doc: dict[str, Any], expected: str) -> None:
    out, failed = lines(offline_access, settings(), meta(scopes_supported=["openid", "offline_access"], **doc))
    assert expected in out and not failed


def test_without_offline_access_nothing_is_said() -> None:
    out, _ = lines(offline_access, settings(scopes="openid email profile"), meta(scopes_supported=["openid"]))
    assert out == ""


def test_the_addresses_to_register_are_named() -> None:
    out, _ = lines(sign_out, settings(), meta(end_session_endpoint=ISSUER + "logout"))
    assert "comes back to https://<host>/outpost.goauthentik.io/signed_out" in out
    domain = settings(cookie_domain="example.test", external_url="https://auth.example.test")
    out, _ = lines(sign_out, domain, meta(end_session_endpoint=ISSUER + "logout"))
    assert "comes back to https://auth.example.test/outpost.goauthentik.io/signed_out" in out
    out, _ = lines(sign_out, settings(), meta())
    assert out == "", "no end-session endpoint: nothing comes back"


def test_bearer_header_auth_is_told_it_needs_jwt_access_tokens() -> None:
    out, _ = lines(header_auth, settings(header_auth=["bearer"]))
    assert "accepts JWT access tokens only" in out
    out, _ = lines(header_auth, settings(header_auth=["basic"]))
    assert out == ""
