"""LemonLDAP::NG 2.16 (Debian's ``liblemonldap-ng-portal-perl``) as a second certified OpenID provider.

Its portal is a PSGI app; ``plackup`` (Debian's ``libplack-perl``) serves it on a free loopback port,
with no system service, no web server of its own and nothing under /etc or /var: the tests render its
``lemonldap-ng.ini`` and a File configuration backend (``conf/lmConf-1.json``) into a temporary
directory, sessions included. Users come from its Demo backend (password = login):

    dwho    Doctor Who   dwho@badwolf.org    groups timelords, users
    rtyler  Rose Tyler   rtyler@badwolf.org  one group: earthlings (the claim is then a string)
    msmith  Mickey Smith msmith@badwolf.org  groups earthlings, users

One relying party, ``authgate``, as an operator would set it up for authgate (docs/identity-providers.md):
confidential client, PKCE required, refresh tokens, offline access allowed, front-channel logout with
the session required, claims name/email/preferred_username/groups from userinfo (none in the ID
token, which also carries no ``sid``), opaque access tokens. ``rp_options`` overrides any of its options.

The browser's steps (``sign_in``, ``sign_out_at_portal``) are those of the portal's HTML pages: a
login form (``user``, ``password`` and hidden fields), a consent form when the RP does not skip it
(``confirm=1``), and the logout page, whose iframes call each RP's front-channel logout URI.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.browser import Browser
from tests.support.node_idp import parse_forms
from tests.support.procs import IN_CI, Proc, free_port, require_binary, wait_for

PSGI = Path("/usr/share/lemonldap-ng/portal/htdocs/index.psgi")
TEMPLATES = Path("/usr/share/lemonldap-ng/portal/templates")
RP = "authgate"
INSTALL_HINT = "run `scripts/bootstrap test` (Debian: liblemonldap-ng-portal-perl and what it recommends)"


@dataclass
class LemonLDAP:
    proc: Proc
    port: int
    issuer: str  # http://auth.test:<port>/ (browsers map *.test to loopback; authgate uses ``url``)
    dir: Path

    @property
    def url(self) -> str:
        """The loopback address: authgate's AUTHGATE_BACKCHANNEL_URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def origin(self) -> str:
        return self.issuer.rstrip("/")

    @property
    def log_path(self) -> Path:
        """Its log: LemonLDAP::NG's messages and plackup's access log."""
        return self.proc.log_path

    def token_requests(self) -> int:
        """POSTs to its token endpoint so far (code redemptions and refreshes)."""
        return self.log_path.read_text(errors="replace").count('"POST /oauth2/token ')

    def log(self) -> str:
        return self.proc.log()

    def stop(self) -> None:
        self.proc.stop()


def require_lemonldap() -> str:
    """plackup, once LemonLDAP::NG's portal is installed; fails in CI, skips elsewhere."""
    plackup = require_binary("plackup", "/usr/bin/plackup")
    if not PSGI.is_file():
        import pytest

        message = f"LemonLDAP::NG's portal ({PSGI}) is not installed: {INSTALL_HINT}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return plackup


def _keys() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private.decode(), public.decode()


def render_config(
    d: Path,
    *,
    portal: str,
    domain: str,
    client_id: str,
    client_secret: str,
    redirect_uris: Sequence[str],
    post_logout_redirect_uris: Sequence[str],
    frontchannel_logout_uri: str,
    rp_options: Mapping[str, Any],
) -> None:
    """lemonldap-ng.ini and conf/lmConf-1.json under ``d`` (keys missing here take LemonLDAP::NG's defaults)."""
    for sub in ("conf", "sessions/lock", "psessions/lock", "cache"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    private, public = _keys()
    options: dict[str, Any] = {
        "oidcRPMetaDataOptionsClientID": client_id,
        "oidcRPMetaDataOptionsClientSecret": client_secret,
        "oidcRPMetaDataOptionsRedirectUris": " ".join(redirect_uris),
        "oidcRPMetaDataOptionsPostLogoutRedirectUris": " ".join(post_logout_redirect_uris),
        "oidcRPMetaDataOptionsIDTokenSignAlg": "RS256",
        "oidcRPMetaDataOptionsRequirePKCE": 1,
        "oidcRPMetaDataOptionsRefreshToken": 1,
        "oidcRPMetaDataOptionsAllowOffline": 1,
        "oidcRPMetaDataOptionsBypassConsent": 1,
        "oidcRPMetaDataOptionsLogoutBypassConfirm": 1,
        "oidcRPMetaDataOptionsAccessTokenExpiration": 3600,
        "oidcRPMetaDataOptionsLogoutType": "front",
        "oidcRPMetaDataOptionsLogoutSessionRequired": 1,
        "oidcRPMetaDataOptionsLogoutUrl": frontchannel_logout_uri,
        **rp_options,
    }
    conf = {
        "cfgNum": 1,
        "cfgVersion": "2.16.1",
        "cfgAuthor": "authgate tests",
        "cfgDate": "1700000000",
        "authentication": "Demo",
        "userDB": "Same",
        "passwordDB": "Demo",
        "demoExportedVars": {"cn": "cn", "mail": "mail", "uid": "uid"},
        "domain": domain,
        "portal": portal,
        "cookieName": "lemonldap",
        "securedCookie": 0,
        "globalStorage": "Apache::Session::File",
        "globalStorageOptions": {
            "Directory": str(d / "sessions"),
            "LockDirectory": str(d / "sessions/lock"),
            "generateModule": "Lemonldap::NG::Common::Apache::Session::Generate::SHA256",
        },
        "persistentStorage": "Apache::Session::File",
        "persistentStorageOptions": {"Directory": str(d / "psessions"), "LockDirectory": str(d / "psessions/lock")},
        "localSessionStorage": "Cache::FileCache",
        "localSessionStorageOptions": {
            "cache_root": str(d / "cache"),
            "namespace": "lemonldap-ng-sessions",
            "default_expires_in": 600,
            "cache_depth": 3,
        },
        "notification": 0,
        "loginHistoryEnabled": 0,
        "locationRules": {urlsplit(portal).hostname: {"default": "accept"}},
        "whatToTrace": "uid",
        "issuerDBOpenIDConnectActivation": 1,
        "oidcServicePrivateKeySig": private,
        "oidcServicePublicKeySig": public,
        "oidcServiceKeyIdSig": "authgate-tests",
        "oidcServiceIgnoreScopeForClaims": 1,
        "oidcRPMetaDataOptions": {RP: options},
        # rtyler in one group (Demo gives everyone two or more): LemonLDAP::NG then sends a string. A
        # macro of the RP: evaluated when the claims are built, after the groups are known.
        "oidcRPMetaDataMacros": {RP: {"authgate_groups": '$uid eq "rtyler" ? "earthlings" : $groups'}},
        "oidcRPMetaDataExportedVars": {
            RP: {
                "name": "cn",
                "email": "mail",
                "preferred_username": "uid",
                "groups": "authgate_groups;string;auto",  # auto: a string for one value, an array for several
            }
        },
    }
    (d / "conf/lmConf-1.json").write_text(json.dumps(conf, indent=1))
    (d / "lemonldap-ng.ini").write_text(f"""[all]
logLevel = notice
checkTime = 1
[configuration]
type = File
dirName = {d}/conf
localStorage = Cache::FileCache
localStorageOptions = {{ 'namespace' => 'lemonldap-ng-config', 'default_expires_in' => 600, \\
    'cache_root' => '{d}/cache', 'cache_depth' => 3 }}
[portal]
staticPrefix = /static
templateDir = {TEMPLATES}
languages = en
""")


def start_lemonldap(
    tmp: Path,
    *,
    client_id: str,
    client_secret: str,
    redirect_uris: Sequence[str],
    post_logout_redirect_uris: Sequence[str] = (),
    frontchannel_logout_uri: str = "",
    rp_options: Mapping[str, Any] | None = None,
    public_host: str = "auth.test",
    name: str = "lemonldap",
    timeout: float = 30.0,
) -> LemonLDAP:
    """LemonLDAP::NG's portal with its OpenID provider on a free loopback port, issuer
    ``http://<public_host>:<port>/``, ready once its discovery document answers."""
    plackup = require_lemonldap()
    port = free_port()
    d = tmp / name
    portal = f"http://{public_host}:{port}/"
    render_config(
        d,
        portal=portal,
        domain=public_host,
        client_id=client_id,
        client_secret=client_secret,
        redirect_uris=redirect_uris,
        post_logout_redirect_uris=post_logout_redirect_uris,
        frontchannel_logout_uri=frontchannel_logout_uri,
        rp_options=rp_options or {},
    )
    env = {"PATH": "/usr/bin:/bin", "LLNG_DEFAULTCONFFILE": str(d / "lemonldap-ng.ini"), "LANG": "C.UTF-8"}
    # HTTP::Server::PSGI: one process, one request at a time (enough for a test's browser and authgate).
    argv = [plackup, "-s", "HTTP::Server::PSGI", "--host", "127.0.0.1", "--port", str(port), str(PSGI)]
    proc = Proc(name, argv, log_dir=tmp, env=env, cwd=d).start().wait_port(port, timeout=timeout)
    server = LemonLDAP(proc, port, portal, d)

    def discovery_answers() -> bool:
        try:
            r = httpx.get(f"{server.url}/.well-known/openid-configuration", timeout=5)
        except httpx.HTTPError:
            return False
        if r.status_code == 500:
            raise RuntimeError(f"LemonLDAP::NG failed to start:\n{proc.log()}")
        return r.status_code == 200

    wait_for(discovery_answers, timeout=timeout, what="LemonLDAP::NG's discovery document")
    return server


# -- a browser at the portal ----------------------------------------------------------------------


def _on(llng: LemonLDAP, response: httpx.Response) -> bool:
    return str(response.request.url).startswith(llng.origin)


def through_portal(
    browser: Browser, llng: LemonLDAP, response: httpx.Response, *, user: str | None = "dwho", consent: bool = True
) -> httpx.Response:
    """Walk ``response`` through the portal as a browser would: sign in as ``user`` (Demo: password =
    login) at the login form (None: stop there), accept the consent form when ``consent``. Returns the
    redirect that leaves the portal (e.g. to authgate's callback, not yet followed), or the last
    portal page."""
    for _ in range(20):
        browser.history.append(response)
        if response.is_redirect:
            target = urljoin(str(response.request.url), response.headers["location"])
            if not target.startswith(llng.origin):
                return response
            response = browser.get(target)
            continue
        if not _on(llng, response) or response.status_code != 200:
            return response
        forms = [f for f in parse_forms(response.text) if f["method"] == "post"]
        login = next((f for f in forms if "user" in f["fields"] and "password" in f["fields"]), None)
        agree = next((f for f in forms if "confirm" in f["fields"]), None)
        if login is not None and user is None:
            return response
        if login is not None and user is not None:
            data = {**login["fields"], "user": user, "password": user}
        elif agree is not None and consent:
            data = {**agree["fields"], "confirm": "1"}
        else:
            return response
        response = browser.http.post(_action(response, login or agree or {}), data=data, headers=_FORM_HEADERS)
    raise AssertionError(f"the portal kept us going round: last at {response.request.url}")


def visit(browser: Browser, llng: LemonLDAP, url: str, *, user: str | None = "dwho") -> httpx.Response:
    """GET ``url`` as a browser, signing in at the portal as ``user`` when sent there (None: stop at
    the login form); the final page."""
    response = browser.get(url)
    for _ in range(20):
        response = through_portal(browser, llng, response, user=user)
        if not response.is_redirect:
            return response
        response = browser.get(urljoin(str(response.request.url), response.headers["location"]))
    raise AssertionError("too many redirects: " + " -> ".join(str(r.request.url) for r in browser.history[-6:]))


_FORM_HEADERS = {"Accept": "text/html"}


def _action(response: httpx.Response, form: dict[str, Any]) -> str:
    return urljoin(str(response.request.url), unescape(form["action"]) or str(response.request.url))


def logout_iframes(page: httpx.Response) -> list[str]:
    """The front-channel logout URIs the portal's logout page loads in iframes."""
    return [unescape(src) for src in re.findall(r'<iframe[^>]*\bsrc="([^"]+)"', page.text)]


def finish_logout_page(browser: Browser, page: httpx.Response) -> httpx.Response | None:
    """What a browser does on the portal's logout page: load each iframe (cross-site: without the
    app's cookies, so from a fresh client), then let the page's script submit its GET form (to the
    post-logout redirect URI with ``state``). The form's response; None when the page has no form."""
    for src in logout_iframes(page):
        with Browser() as iframe:
            assert iframe.get(src, headers={"Sec-Fetch-Dest": "iframe"}).status_code == 200, src
    form = next((f for f in parse_forms(page.text) if f["method"] == "get" and f["action"]), None)
    if form is None:
        return None
    action = urlsplit(_action(page, form))
    return browser.get(f"{action.scheme}://{action.netloc}{action.path}", params=form["fields"])
