"""``authgate check``: what the IdP's discovery document says about what authgate relies on beyond
the sign-in itself: refresh tokens (offline_access, consent), logout reaching authgate, the sign-out
return address to register, and JWT access tokens for bearer header auth.

Discovery may leave things out, so these are warnings and notes, never failures.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from authgate.config import Settings
from authgate.oidc.discovery import ProviderMetadata

if TYPE_CHECKING:
    from authgate.cli.report import Report


def domain_callback(s: Settings) -> str:
    """Domain-level mode's single callback, else "" (each app's host has its own)."""
    if s.cookie_domain and s.external_url:
        return s.external_url.rstrip("/") + s.path_prefix + "/callback"
    return ""


def offline_access(s: Settings, meta: ProviderMetadata, report: Report) -> None:
    """offline_access: whether refresh tokens can come, how they are asked for, and whether a sign-out
    at the IdP can still reach authgate (a refresh token outlives the IdP's session)."""
    if "offline_access" not in s.scope_list:
        return
    scopes, grants = meta.scopes_supported, meta.grant_types_supported
    consent = "consent" in s.prompt.split()
    if scopes is not None and "offline_access" not in scopes:
        # Discovery may leave scopes out (OpenID Connect Discovery: "SHOULD", and not all of them).
        if grants is not None and "refresh_token" in grants:
            found = "but it offers the refresh_token grant, so it may well honour offline_access"
        else:
            found = "nor the refresh_token grant: it may issue no refresh token"
        ask = (
            ""
            if consent
            else (
                "; authgate asks without prompt=consent (AUTHGATE_PROMPT), and an IdP that follows OpenID Connect "
                "Core strictly (LemonLDAP::NG) then ignores offline_access unless the client skips consent"
            )
        )
        report.warn(
            f"AUTHGATE_SCOPES asks for offline_access, which the IdP does not list (scopes_supported), {found}{ask}",
            "if authgate logs 'issued no refresh token' at the first sign-in, allow offline access for this client "
            "at the IdP (LemonLDAP::NG: 'Allow offline access', and 'Bypass consent' or AUTHGATE_PROMPT=consent; "
            "Authentik: the offline_access scope mapping), or remove offline_access from AUTHGATE_SCOPES; "
            "without refresh tokens sessions last AUTHGATE_SESSION_TTL without asking the IdP again",
        )
    elif consent:
        report.ok("offline_access is asked for with prompt=consent (AUTHGATE_PROMPT), as OpenID Connect Core asks")
    else:
        report.info(
            "offline_access is asked for without prompt=consent: Authentik and Keycloak issue refresh tokens "
            "anyway; an IdP that follows OpenID Connect Core strictly may need AUTHGATE_PROMPT=consent"
        )
    back, front = meta.backchannel_logout_supported, meta.frontchannel_logout_supported
    where = _gateway_url(s, report)
    if back:
        report.ok(f"the IdP offers back-channel logout: register {where}/backchannel_logout as this client's URI")
    elif front:
        report.ok(
            f"the IdP offers front-channel logout (no back-channel): register {where}/frontchannel_logout "
            "as this client's front-channel logout URI, with the session (iss and sid) required"
        )
    else:
        report.warn(
            "the IdP advertises neither back-channel nor front-channel logout, and AUTHGATE_SCOPES asks for "
            "offline_access: signing out at the IdP does not end authgate's sessions (their refresh token "
            "outlives the IdP's session); only /sign_out through authgate does",
            f"register {where}/backchannel_logout (or /frontchannel_logout) at the IdP if it can call one, "
            "or remove offline_access from AUTHGATE_SCOPES so sessions follow the IdP's",
        )


def sign_out(s: Settings, meta: ProviderMetadata, report: Report) -> None:
    if meta.end_session_endpoint:
        report.info(
            f"sign-out ends at the IdP's end-session endpoint and comes back to {_gateway_url(s, report)}/signed_out: "
            "register it as a post-logout redirect URI of this client (each app host's; in domain mode, the auth "
            "host's)"
        )


def _gateway_url(s: Settings, report: Report) -> str:
    """The gateway's public routes as the IdP must know them (``https://<host>/prefix`` when unknown)."""
    callback = report.callback or domain_callback(s)
    return callback.removesuffix("/callback") if callback else "https://<host>" + s.path_prefix


def header_auth(s: Settings, report: Report) -> None:
    if "bearer" in s.header_auth:
        report.info(
            "AUTHGATE_HEADER_AUTH=bearer accepts JWT access tokens only: an IdP issuing opaque access tokens "
            "(LemonLDAP::NG and Authelia by default) needs its JWT access-token option for this client"
        )
