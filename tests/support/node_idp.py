"""A strict, certified OpenID provider for the tests: `oidc-provider` (npm) run by tests/idp/server.mjs.

Install it once with ``npm ci --prefix tests/idp``. See the comment at the top of tests/idp/server.mjs for
the HTTP steps of its sign-in and sign-out, and for its ``/__test/*`` endpoints.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from authgate.demo.devstack import IDP_DIR, IDP_SERVER, node_idp_env
from tests.support.procs import IN_CI, Proc, free_port, require_binary, wait_for

SERVER = IDP_SERVER
START_HANG = 10.0  # seconds; a normal start listens in about 0.4 s
START_ATTEMPTS = 3
INSTALL_HINT = "run `npm ci --prefix tests/idp` (needs node >= 20 and npm)"


@dataclass
class NodeIdP:
    proc: Proc
    port: int
    issuer: str
    client_id: str
    client_secret: str
    http: httpx.Client = field(repr=False)

    @property
    def url(self) -> str:
        """The loopback address (the back-channel address when ``issuer`` names a public ``*.test`` host)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def origins(self) -> set[str]:
        return {_origin(self.issuer), _origin(self.url)}

    def counts(self) -> dict[str, int]:
        """Events since start (or the last reset): {"authorization_code": n, "refresh_token": n, ...}."""
        return dict(self._get("/__test/counts"))

    def reset_counts(self) -> None:
        self.http.post(f"{self.url}/__test/reset").raise_for_status()

    def events(self) -> list[dict[str, Any]]:
        return list(self._get("/__test/events"))

    def sessions(self) -> list[dict[str, Any]]:
        """Live IdP sessions, one row per client: {"sub", "sid", "client_id", "grant_id", ...}."""
        return list(self._get("/__test/sessions"))

    def delay_token(self, ms: int) -> None:
        """Make every token endpoint request wait ``ms`` first (0: none); counted as ``token_delayed``."""
        self.http.post(f"{self.url}/__test/delay", params={"token": str(ms)}).raise_for_status()

    def rename(self, sub: str, preferred_username: str) -> None:
        """Give the user ``sub`` a new username at the IdP (its next tokens carry it)."""
        r = self.http.post(f"{self.url}/__test/rename", params={"sub": sub, "preferred_username": preferred_username})
        r.raise_for_status()

    def backchannel_logout(
        self,
        *,
        sub: str | None = None,
        sid: str | None = None,
        keep: bool = False,
        client_id: str | None = None,
        nosid: bool = False,
    ) -> Any:
        """Send logout tokens for the matching sessions (of ``client_id`` only, when given; without a
        ``sid`` claim with ``nosid``); unless ``keep``, end them and revoke their grants."""
        flags = {"keep": "1" if keep else None, "nosid": "1" if nosid else None}
        given = {"sub": sub, "sid": sid, "client_id": client_id, **flags}
        params = {k: v for k, v in given.items() if v}
        r = self.http.post(f"{self.url}/__test/backchannel_logout", params=params)
        r.raise_for_status()
        return r.json()

    def stop(self) -> None:
        self.http.close()
        self.proc.stop()

    def _get(self, path: str) -> Any:
        r = self.http.get(self.url + path)
        r.raise_for_status()
        return r.json()


def require_node_idp() -> str:
    """The node binary, once tests/idp is installed; fails in CI, skips elsewhere, saying how to fix it."""
    node = require_binary("node", "nodejs")
    if not (IDP_DIR / "node_modules" / "oidc-provider" / "package.json").is_file():
        message = f"tests/idp/node_modules is missing (the oidc-provider test IdP): {INSTALL_HINT}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return node


def _start_listening(proc: Proc, port: int, timeout: float) -> Proc:
    """Start ``proc`` until it listens on ``port``. Node 20 now and then deadlocks before listening
    (seen about once in 300 starts here: the main thread in a futex wait, no CPU used, nothing
    logged but oidc-provider's runtime warning); a fresh process then starts in under a second,
    so a start that has not listened within ``START_HANG`` seconds is killed and made again."""
    for attempt in range(1, START_ATTEMPTS + 1):
        proc.start()
        try:
            return proc.wait_port(port, timeout=min(timeout, START_HANG))
        except TimeoutError:
            proc.stop()
            if attempt == START_ATTEMPTS:
                raise RuntimeError(f"the node IdP never listened on {port}:\n{proc.log()}") from None
            print(f"node IdP: not listening on {port} after {START_HANG}s; starting it again", file=sys.stderr)
    raise AssertionError  # unreachable


def start_node_idp(
    tmp_path: Path,
    *,
    client_id: str,
    client_secret: str,
    redirect_uris: Sequence[str],
    post_logout_redirect_uris: Sequence[str] = (),
    backchannel_logout_uri: str | None = None,
    access_ttl: int = 3600,
    id_token_ttl: int | None = None,
    refresh_ttl: int | None = None,
    public_host: str | None = None,
    token_endpoint_auth_method: str = "client_secret_basic",
    users: list[dict[str, Any]] | None = None,
    extra_clients: Sequence[dict[str, Any]] = (),
    name: str | None = None,
    timeout: float = 20.0,
    port: int | None = None,
) -> NodeIdP:
    """Start the oidc-provider test IdP on a free loopback port with one confidential client.

    ``public_host`` (e.g. ``"idp.test"``) makes the issuer ``http://idp.test:<port>`` while the server
    still listens on 127.0.0.1 (the test browser maps ``*.test`` to loopback). ID tokens live as long as
    access tokens unless ``id_token_ttl`` is given.
    """
    node = require_node_idp()
    port = port or free_port()
    issuer = f"http://{public_host or '127.0.0.1'}:{port}"
    client: dict[str, Any] = {
        "client_id": client_id,
        "client_secret": client_secret,
        "redirect_uris": list(redirect_uris),
        "post_logout_redirect_uris": list(post_logout_redirect_uris),
        "token_endpoint_auth_method": token_endpoint_auth_method,
    }
    if backchannel_logout_uri:
        client["backchannel_logout_uri"] = backchannel_logout_uri
        client["backchannel_logout_session_required"] = True
    ttls = {"IDP_ACCESS_TTL": str(access_ttl), "NODE_ENV": "test"}
    if id_token_ttl is not None:
        ttls["IDP_ID_TOKEN_TTL"] = str(id_token_ttl)
    if refresh_ttl is not None:
        ttls["IDP_REFRESH_TTL"] = str(refresh_ttl)
    env = node_idp_env([client, *extra_clients], issuer=issuer, users=users, extra=ttls)
    proc = _start_listening(
        Proc(name or f"node-idp-{port}", [node, str(SERVER), str(port)], log_dir=tmp_path, env=env, cwd=IDP_DIR),
        port,
        timeout,
    )
    http = await_discovery(proc, port, ["/.well-known/openid-configuration"], timeout)
    return NodeIdP(proc, port, issuer, client_id, client_secret, http)


def await_discovery(proc: Proc, port: int, paths: list[str], timeout: float) -> httpx.Client:
    """A client for the IdP once every discovery document at ``paths`` answers (its counts then
    reset: the probes count); the process stopped, and its log raised, if it never does."""
    http = httpx.Client(timeout=10.0)
    local = f"http://127.0.0.1:{port}"
    try:

        def discovery_ok() -> bool:
            try:
                return all(http.get(f"{local}{path}").status_code == 200 for path in paths)
            except httpx.HTTPError:
                return False

        wait_for(discovery_ok, timeout=timeout, what="the node IdP's discovery documents")
        http.post(f"{local}/__test/reset").raise_for_status()  # the probes above count
    except BaseException as exc:
        http.close()
        log = proc.log()
        proc.stop()
        raise RuntimeError(f"the node IdP did not start ({exc!r}):\n{log}") from None
    return http


# ---------------------------------------------------------------- driving its pages like a browser


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self._current: dict[str, Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._current = {
                "id": a.get("id", ""),
                "action": a.get("action", ""),
                "method": a.get("method", "get").lower(),
                "fields": {},
            }
            self.forms.append(self._current)
        elif tag == "input" and self._current is not None and a.get("name"):
            if a.get("type", "text").lower() == "hidden":
                self._current["fields"][a["name"]] = a.get("value", "")
            else:
                self._current["fields"].setdefault(a["name"], a.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def parse_forms(html: str) -> list[dict[str, Any]]:
    """Every <form> of a page: {"id", "action", "method", "fields": {name: value}}."""
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def follow_idp(http: httpx.Client, response: httpx.Response, idp: NodeIdP, *, login: str = "alice") -> httpx.Response:
    """Walk through the IdP's pages as a browser would and return the first response that leaves it.

    Follows redirects that stay on the IdP, signs in as ``login`` at the sign-in form and submits the
    other forms it shows (sign-out confirmation, auto-submitting form_post pages). Returns the redirect
    that points away from the IdP (e.g. the 303 to the client's redirect_uri), or any other final page.
    """
    for _ in range(12):
        url = str(response.request.url)
        if response.is_redirect:
            target = urljoin(url, response.headers["location"])
            if _origin(target) not in idp.origins:
                return response
            response = http.get(target)
            continue
        forms = parse_forms(response.text) if response.status_code == 200 and _origin(url) in idp.origins else []
        posts = [f for f in forms if f["method"] == "post"]
        if not posts:
            return response
        form = posts[0]
        data = dict(form["fields"])
        if form["id"] == "login":
            if 'id="error"' in response.text:
                return response  # the sign-in form again, with an error (e.g. an unknown user)
            data["login"] = login
        response = http.post(urljoin(url, form["action"] or url), data=data)
    raise AssertionError(f"the IdP kept us going round: last at {response.request.url}")
