"""The IdP's half of ``authgate check``: the findings' report, and the probes of one OAuth client.

Discovery through each address the gateway uses (the public issuer, and ``BACKCHANNEL_URL`` when
set), the signing keys, PKCE, scopes, the client's credentials (a made-up code redeemed) and the
redirect URI (a sign-in started). Every probe talks to the real IdP; nothing is changed there.
"""

from __future__ import annotations

from typing import Any

import httpx

from authgate.cli.check_features import domain_callback, header_auth, offline_access, sign_out
from authgate.cli.report import Report
from authgate.config import Settings
from authgate.errors import IdPError, IdPRejected, IdPUnavailable, IssuerMismatch
from authgate.oidc import OIDCClient
from authgate.oidc.client import new_secret
from authgate.oidc.discovery import ProviderMetadata
from authgate.wiring.gateway import build_oidc


def _client(s: Settings, *, backchannel: bool) -> OIDCClient:
    """The gateway's own client (authgate/wiring/gateway.py), through the back-channel address or the public one."""
    update: dict[str, Any] = {"idp_timeout": min(s.idp_timeout, 10.0)}
    if not backchannel:
        update["backchannel_url"] = ""
    return build_oidc(s.model_copy(update=update))


async def probe_client(client: OIDCClient, redirect_uri: str) -> str:
    """Redeem a made-up code: the IdP's error tells bad client credentials (``invalid_client``)
    from good ones (``invalid_grant``: the code, not the client, was refused)."""
    try:
        await client.token_request(
            {
                "grant_type": "authorization_code",
                "code": "authgate-check-" + new_secret()[:16],
                "redirect_uri": redirect_uri,
                "code_verifier": new_secret(),
            }
        )
    except IdPRejected as exc:
        return exc.error
    return "accepted"


async def probe_authorization(client: OIDCClient, redirect_uri: str) -> int:
    """The status the authorization endpoint answers a sign-in for ``redirect_uri`` with
    (a 4xx usually means the redirect URI is not registered for this client)."""
    url = await client.authorization_url(
        redirect_uri=redirect_uri, state=new_secret(), nonce=new_secret(), code_verifier=new_secret()
    )
    try:
        resp = await client.http.get(url)
    except httpx.HTTPError as exc:
        raise IdPUnavailable(f"authorization endpoint unreachable ({type(exc).__name__})") from exc
    return resp.status_code


def _issuer_fix(found: str, configured: str) -> str:
    if found.rstrip("/") == configured.rstrip("/"):
        return f"set AUTHGATE_ISSUER={found} (the trailing slash must match exactly)"
    return (
        f"set AUTHGATE_ISSUER={found}, or if that is an internal address, make the IdP build URLs from the "
        "public host (Authentik: reach it through its public URL, or set AUTHGATE_BACKCHANNEL_URL so authgate "
        "sends the public Host header)"
    )


async def discovery(s: Settings, report: Report) -> ProviderMetadata | None:
    """Discovery through the address the gateway uses. With a back-channel address, the public
    issuer is probed too (browsers use it); without one, they are the same probe, reported once."""
    if s.backchannel_url:
        await _public_side(s, report)
    return await _metadata(s, report, backchannel=bool(s.backchannel_url))


async def _public_side(s: Settings, report: Report) -> None:
    public = _client(s, backchannel=False)
    try:
        await public.metadata()
        report.ok(f"IdP reachable at its public issuer {s.issuer}")
    except IdPUnavailable as exc:
        text = f"IdP not usable at the public issuer: {exc}"
        if isinstance(exc, IssuerMismatch):
            report.fail(text, _issuer_fix(exc.found, s.issuer))
        else:
            report.warn(text + " (fine if only browsers can reach it; authgate uses AUTHGATE_BACKCHANNEL_URL)")
    finally:
        await public.aclose()


async def _metadata(s: Settings, report: Report, *, backchannel: bool) -> ProviderMetadata | None:
    client = _client(s, backchannel=backchannel)
    where = f"through the back-channel address {s.backchannel_url}" if backchannel else "at the public issuer"
    try:
        meta = await client.metadata()
        keys = await client.keys.keys()
        if backchannel:
            report.ok(f"IdP reachable {where}, answering as {s.issuer}")
        else:
            report.ok(f"IdP reachable at its public issuer {s.issuer}")
        report.ok(f"signing keys fetched ({len(keys.keys)} key(s))")
        await _client_checks(s, client, meta, report)
        return meta
    except IdPUnavailable as exc:
        text = f"IdP not usable {where}: {exc}"
        if isinstance(exc, IssuerMismatch):
            report.fail(text, _issuer_fix(exc.found, s.issuer))
        elif backchannel:
            report.fail(text, "check that the address is right and reachable from where authgate runs")
        else:
            report.fail(
                text,
                "check AUTHGATE_ISSUER for typos; if authgate runs where the public name does not "
                "resolve (Docker), set AUTHGATE_BACKCHANNEL_URL to the IdP's internal address, "
                "e.g. http://authentik-server:9000",
            )
        return None
    finally:
        await client.aclose()


async def _client_checks(s: Settings, client: OIDCClient, meta: ProviderMetadata, report: Report) -> None:
    methods = meta.code_challenge_methods_supported
    if methods is None:
        report.warn("the IdP does not advertise PKCE support (code_challenge_methods_supported); authgate uses S256")
    elif "S256" not in methods:
        report.fail("the IdP does not support PKCE S256", "enable PKCE S256 at the IdP; authgate requires it")
    else:
        report.ok("PKCE S256 supported")
    scopes = meta.scopes_supported
    offline_access(s, meta, report)
    header_auth(s, report)
    sign_out(s, meta, report)
    for scope in s.scope_list:
        if scopes is not None and scope not in scopes and scope != "offline_access":  # offline_access: above
            report.warn(
                f"AUTHGATE_SCOPES asks for {scope!r}, which the IdP does not list (scopes_supported): it may refuse "
                "the sign-in or ignore the scope (Authentik: add the scope mapping to the provider)"
            )
    callback = report.callback or domain_callback(s)
    if not _secret_missing(s, meta, report) and not await _credentials(s, client, callback, report):
        return
    if callback:
        status = await probe_authorization(client, callback)
        if 400 <= status < 500:
            report.fail(
                f"the IdP refuses the redirect URI {callback} (HTTP {status})",
                "register exactly this redirect URI at the IdP (scheme, host, port and path must match)",
            )
        else:
            report.ok(f"redirect URI {callback} accepted by the authorization endpoint")


async def _credentials(s: Settings, client: OIDCClient, callback: str, report: Report) -> bool:
    """Probe the client credentials; False when the IdP could not be asked at all."""
    try:
        answer = await probe_client(client, callback or s.issuer)
    except IdPError as exc:
        report.warn(f"could not probe the client credentials: {exc}")
        return False
    if answer in ("invalid_client", "unauthorized_client"):
        report.fail(
            f"the IdP refused the client credentials ({answer})",
            "copy AUTHGATE_CLIENT_ID and AUTHGATE_CLIENT_SECRET again from the IdP's provider (a confidential client)",
        )
    elif answer == "invalid_grant":
        report.ok(f"client {s.client_id!r} accepted by the IdP (a made-up code was refused, as it should be)")
    elif not s.client_secret:  # without a secret, only a confirmed acceptance will do
        report.fail(
            f"without a client secret, the IdP answered a made-up code with {answer!r}: it did not take "
            "authgate as a public client",
            "copy the client secret from the IdP's provider into AUTHGATE_CLIENT_SECRET",
        )
    else:
        report.warn(f"the IdP answered a made-up code with {answer!r}; client credentials not confirmed")
    return True


def _secret_missing(s: Settings, meta: ProviderMetadata, report: Report) -> bool:
    """No client secret while the IdP's token endpoint wants client authentication: every sign-in
    would end in ``invalid_client`` (an IdP that lists ``none`` may have a public client)."""
    if s.client_secret:
        return False
    name = "its client_secret in AUTHGATE_CONFIG" if report.prefix else "AUTHGATE_CLIENT_SECRET"
    methods = meta.token_endpoint_auth_methods_supported
    if methods is not None and "none" in methods:
        report.warn(
            f"{name} is not set: this works only if the IdP's client is public (no client authentication)",
            f"set {name} to the client secret if the IdP's provider is a confidential client",
        )
        return False
    listed = ", ".join(methods) if methods else "client_secret_basic, the default when it lists none"
    report.fail(
        f"{name} is not set, but the IdP's token endpoint wants client authentication "
        f"(token_endpoint_auth_methods_supported: {listed})",
        f"copy the client secret from the IdP's provider into {name}"
        + ("" if report.prefix else " (or a file named by AUTHGATE_CLIENT_SECRET_FILE)"),
    )
    return True
