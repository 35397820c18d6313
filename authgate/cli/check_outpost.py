"""``authgate check`` in outpost mode: the token, the outpost, its providers and each one's OIDC side.

The token is tried on Authentik's API as the gateway uses it (refused: a failure naming
``AUTHENTIK_TOKEN``; an outpost of another type: a failure), each provider is listed with its host and
mode, and each served one is probed as the rules file's apps are (discovery through
``AUTHENTIK_HOST``, keys, client credentials, Authentik's redirect URI), by authgate/cli/check.py's probe.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import httpx

from authgate.config import Settings
from authgate.errors import OutpostError, OutpostTokenRefused
from authgate.outpost.api import AuthentikAPI
from authgate.outpost.providers import Provider, app_rule, path_anchored, path_anchored_warning, skip_rules

#: Probes one app's client: (its settings, the line prefix, its callback URL) -> whether it failed.
Probe = Callable[[Settings, str, str], Awaitable[bool]]


class Findings(Protocol):
    failed: bool

    def ok(self, text: str) -> None: ...

    def warn(self, text: str, fix: str = "") -> None: ...

    def fail(self, text: str, fix: str) -> None: ...


async def check_outpost(
    s: Settings, report: Findings, probe: Probe, *, transport: httpx.AsyncBaseTransport | None = None
) -> None:
    api = AuthentikAPI(
        s.authentik_host, s.authentik_token, insecure=s.authentik_insecure, timeout=10.0, transport=transport
    )
    try:
        try:
            outpost = await api.outpost()
            raw = await api.providers()
        except OutpostTokenRefused as exc:
            report.fail(str(exc), "copy the outpost's token into AUTHENTIK_TOKEN again")
            return
        except OutpostError as exc:
            report.fail(str(exc), "check AUTHENTIK_HOST (where authgate reaches Authentik's API) and the outpost")
            return
    finally:
        await api.aclose()
    report.ok(
        f"AUTHENTIK_TOKEN accepted: outpost {outpost.name!r} (proxy), re-read every {outpost.refresh_interval_s:g} s"
    )
    providers = _parse(raw, report)
    if not providers:
        report.fail(
            f"outpost {outpost.name!r} has no proxy providers: authgate would serve no host",
            "in Authentik, edit the outpost and add the applications whose proxy providers it should serve",
        )
        return
    for p in providers:
        await _one(s, p, report, probe)


def _parse(raw: list[dict[str, Any]], report: Findings) -> list[Provider]:
    out = []
    for entry in raw:
        try:
            out.append(Provider.from_api(entry))
        except (ValueError, TypeError) as exc:
            report.fail(f"provider {entry.get('name')!r} cannot be read: {exc}", "check the provider in Authentik")
    return out


async def _one(s: Settings, p: Provider, report: Findings, probe: Probe) -> None:
    where = f"provider {p.name!r}: host {p.host}, mode {p.mode}"
    if not p.served:
        report.warn(
            f"{where}: not served (authgate answers forward auth and is no reverse proxy)",
            "switch the provider to forward auth (single application) and route it through your proxy, "
            "or keep Authentik's own outpost for it",
        )
        return
    if p.mode == "forward_domain" and not p.domain:
        report.warn(
            f"{where}: its cookie domain {p.cookie_domain!r} is no domain that covers {p.host}: served for "
            f"{p.host} only",
            "set the provider's cookie domain in Authentik to a domain above its external host "
            "(e.g. example.com for https://auth.example.com)",
        )
    elif p.domain:
        report.ok(f"{where}: every host under {p.domain}, signed in at {p.external_host}")
    else:
        report.ok(where)
    if p.basic_auth_enabled and not p.basic_auth_password_attribute:
        report.warn(
            f"provider {p.name!r}: HTTP-Basic authentication is on without a password attribute: none is sent",
            "set the provider's HTTP-Basic password key in Authentik",
        )
    for line in skip_rules(p.skip_path_regex)[1]:
        report.warn(f"provider {p.name!r}: skip_path_regex line {line!r} does not compile; it is left out")
    for line in path_anchored(p):
        report.warn(path_anchored_warning(p, line), f"write it for the URL, e.g. ^https://[^/]+{line[1:]}")
    rule = app_rule(p, host_browser=s.authentik_host_browser)
    update = {"issuer": rule.issuer, "client_id": p.client_id, "client_secret": p.client_secret}
    update |= {"scopes": rule.scopes or s.scopes}
    if s.authentik_host_browser and not s.backchannel_url:
        update["backchannel_url"] = s.authentik_host
    callback = f"{p.external_host}{s.path_prefix}/callback?X-authentik-auth-callback=true"
    if await probe(s.model_copy(update=update), f"provider {p.name!r}: ", callback):
        report.failed = True
