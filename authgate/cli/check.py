"""``authgate check``: validate the configuration and probe the IdP, printing cause and fix.

Each finding is one line, ``OK``, ``WARN`` or ``FAIL``, with a ``fix:`` line under each failure;
the exit status is 0 only when nothing failed. The IdP is probed through the addresses the
gateway will use: the public issuer (what browsers use) and ``BACKCHANNEL_URL`` when set.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from authgate.cli.check_outpost import check_outpost
from authgate.config import Settings, load_settings
from authgate.errors import ConfigError, IdPError, IdPRejected, IdPUnavailable, IssuerMismatch, StoreError
from authgate.oidc import OIDCClient
from authgate.oidc.client import new_secret
from authgate.oidc.discovery import ProviderMetadata
from authgate.store import open_store
from authgate.wiring.gateway import build_oidc


@dataclass
class Report:
    lines: list[str] = field(default_factory=list)
    failed: bool = False
    prefix: str = ""  # names the app a line is about ("app wiki.example.com: ")
    callback: str = ""  # the redirect URI to probe, when known (an app's own host, or domain mode's)

    def ok(self, text: str) -> None:
        self.lines.append(f"OK   {self.prefix}{text}")

    def warn(self, text: str, fix: str = "") -> None:
        self.lines.append(f"WARN {self.prefix}{text}" + (f"\n     fix: {fix}" if fix else ""))

    def fail(self, text: str, fix: str) -> None:
        self.failed = True
        self.lines.append(f"FAIL {self.prefix}{text}\n     fix: {fix}")


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


async def _discovery(s: Settings, report: Report) -> ProviderMetadata | None:
    """Discovery through the address the gateway uses; the public one is probed too."""
    public = _client(s, backchannel=False)
    try:
        await public.metadata()
        report.ok(f"IdP reachable at its public issuer {s.issuer}")
    except IdPUnavailable as exc:
        text = f"IdP not usable at the public issuer: {exc}"
        if isinstance(exc, IssuerMismatch):
            report.fail(text, _issuer_fix(exc.found, s.issuer))
        elif s.backchannel_url:
            report.warn(text + " (fine if only browsers can reach it; authgate uses AUTHGATE_BACKCHANNEL_URL)")
        else:
            report.fail(
                text,
                "check AUTHGATE_ISSUER for typos; if authgate runs where the public name does not "
                "resolve (Docker), set AUTHGATE_BACKCHANNEL_URL to the IdP's internal address, "
                "e.g. http://authentik-server:9000",
            )
    finally:
        await public.aclose()
    if not s.backchannel_url:
        return await _metadata(s, report, backchannel=False)
    return await _metadata(s, report, backchannel=True)


async def _metadata(s: Settings, report: Report, *, backchannel: bool) -> ProviderMetadata | None:
    client = _client(s, backchannel=backchannel)
    where = f"back-channel address {s.backchannel_url}" if backchannel else "public issuer"
    try:
        meta = await client.metadata()
        keys = await client.keys.keys()
        if backchannel:
            report.ok(f"IdP reachable through the {where}, answering as {s.issuer}")
        report.ok(f"signing keys fetched ({len(keys.keys)} key(s))")
        await _client_checks(s, client, meta, report)
        return meta
    except IdPUnavailable as exc:
        text = f"IdP not usable through the {where}: {exc}"
        if isinstance(exc, IssuerMismatch):
            report.fail(text, _issuer_fix(exc.found, s.issuer))
        else:
            report.fail(text, "check that the address is right and reachable from where authgate runs")
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
    if "offline_access" in s.scope_list and scopes is not None and "offline_access" not in scopes:
        report.fail(
            "AUTHGATE_SCOPES asks for offline_access, which the IdP does not offer (no refresh tokens)",
            "enable the offline_access scope for this client at the IdP (Authentik: add the 'offline_access' "
            "scope mapping to the provider), or remove offline_access from AUTHGATE_SCOPES",
        )
    for scope in s.scope_list:
        if scopes is not None and scope not in scopes and scope != "offline_access":  # offline_access: above
            report.warn(
                f"AUTHGATE_SCOPES asks for {scope!r}, which the IdP does not list (scopes_supported): it may refuse "
                "the sign-in or ignore the scope (Authentik: add the scope mapping to the provider)"
            )
    callback = report.callback or _callback_for_check(s)
    try:
        answer = await probe_client(client, callback or s.issuer)
    except IdPError as exc:
        report.warn(f"could not probe the client credentials: {exc}")
        return
    if answer in ("invalid_client", "unauthorized_client"):
        report.fail(
            f"the IdP refused the client credentials ({answer})",
            "copy AUTHGATE_CLIENT_ID and AUTHGATE_CLIENT_SECRET again from the IdP's provider (a confidential client)",
        )
    elif answer == "invalid_grant":
        report.ok(f"client {s.client_id!r} accepted by the IdP (a made-up code was refused, as it should be)")
    else:
        report.warn(f"the IdP answered a made-up code with {answer!r}; client credentials not confirmed")
    if callback:
        status = await probe_authorization(client, callback)
        if 400 <= status < 500:
            report.fail(
                f"the IdP refuses the redirect URI {callback} (HTTP {status})",
                "register exactly this redirect URI at the IdP (scheme, host, port and path must match)",
            )
        else:
            report.ok(f"redirect URI {callback} accepted by the authorization endpoint")


def _callback_for_check(s: Settings) -> str:
    if s.cookie_domain and s.external_url:
        return s.external_url.rstrip("/") + s.path_prefix + "/callback"
    return ""


async def _store(s: Settings, report: Report) -> None:
    if not s.redis_url:
        report.warn(
            "AUTHGATE_REDIS_URL is not set: sessions live in one process (one replica, one worker)",
            "set AUTHGATE_REDIS_URL=redis://... to run several replicas",
        )
        return
    store = open_store(s.redis_url, timeout=s.store_timeout)
    try:
        await store.ping()
        report.ok(f"Redis reachable at {urlsplit(s.redis_url).hostname}")
    except StoreError as exc:
        report.fail(f"Redis not reachable: {exc}", "check AUTHGATE_REDIS_URL and that Redis is running")
        await store.close()
        return
    try:
        if s.session_idle_ttl:
            # The idle timeout reads sessions with GETEX (Redis 6.2+): an older Redis refuses every read.
            await store.getex("ag:check:getex", 1.0)
            report.ok("Redis runs GETEX, which AUTHGATE_SESSION_IDLE_TTL needs (Redis 6.2 or newer)")
    except StoreError as exc:
        report.fail(
            f"Redis refuses GETEX ({exc}): with AUTHGATE_SESSION_IDLE_TTL set, every session check would fail",
            "upgrade Redis to 6.2 or newer, or unset AUTHGATE_SESSION_IDLE_TTL",
        )
    finally:
        await store.close()


def _rules(s: Settings, report: Report) -> None:
    """What the access rules rely on, said before the first refusal surprises anyone."""
    email_rules = bool(s.allowed_email_domains) or any(
        a.email_domains or any(r.email_domains for r in a.rules) for a in s.apps
    )
    if email_rules and not s.allow_unverified_email:
        report.warn(
            "email-domain rules admit only addresses the IdP marks email_verified: true "
            "(Authentik 2025.10 and later sends false unless told otherwise)",
            "have the IdP send email_verified: true for addresses it trusts (Authentik: a scope mapping for "
            "the email scope), or set AUTHGATE_ALLOW_UNVERIFIED_EMAIL=true",
        )
    elif email_rules:
        report.warn("AUTHGATE_ALLOW_UNVERIFIED_EMAIL=true: email-domain rules also admit unverified addresses")


async def _apps(s: Settings, report: Report) -> None:
    """Every app of the rules file with its own client, probed as the global one is, lines named by app."""
    done: set[str] = set()
    for app in s.apps:
        own = app.own_client(s.scopes)
        if own is None or own.client_id in done:
            continue
        done.add(own.client_id)
        host = app.hosts[0]
        update = {"issuer": own.issuer, "client_id": own.client_id, "client_secret": own.client_secret}
        update["scopes"] = " ".join(own.scopes)
        callback = "" if host.startswith("*.") else f"https://{host}{s.path_prefix}/callback"
        sub = Report(report.lines, prefix=f"app {host}: ", callback=callback)
        await _discovery(s.model_copy(update=update), sub)
        report.failed |= sub.failed


async def _run(s: Settings, report: Report) -> None:
    _rules(s, report)
    if s.outpost_mode:

        async def probe(app: Settings, prefix: str, callback: str) -> bool:
            sub = Report(report.lines, prefix=prefix, callback=callback)
            await _discovery(app, sub)
            return sub.failed

        await check_outpost(s, report, probe)
    else:
        await _discovery(s, report)
    await _apps(s, report)
    await _store(s, report)


def run_check() -> int:
    report = Report()
    try:
        settings = load_settings()
    except ConfigError as exc:
        for problem in exc.problems:
            report.fail(problem, "see docs/configuration.md")
        print("\n".join(report.lines))
        return 1
    report.ok("configuration valid")
    asyncio.run(_run(settings, report))
    print("\n".join(report.lines))
    print("authgate check: " + ("FAILED" if report.failed else "all good"))
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(run_check())
