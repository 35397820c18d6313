"""Hostile input through the real proxies, read top to bottom: each table is one kind of attack.

Every request here is one an attacker can send with curl or a raw socket to a site protected by
the recipes in deploy/ (real nginx, Traefik and Caddy in front of one authgate). docs/security.md
lists each attack with what stops it and the test below that proves it. Rules of the stack:

- ``AUTHGATE_SKIP_AUTH=^/public/,GET=^/status``: public paths on every host;
- ``open.test`` is wholly public, ``admin.test`` admits the group ``admins``, ``mail.test``
  admits email addresses in ``corp.test``; ``app.test`` and ``other.test`` admit anyone signed in;
  on ``office.test`` ``/office`` admits clients from 10.0.0.0/8 only, ``/local`` from 127.0.0.0/8 (the
  tests' own address), and ``/closed`` is denied to everyone.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import redis

from tests.support.browser import Browser
from tests.support.caddy import caddy_server
from tests.support.flows import PREFIX, echoed_header_list, echoed_headers, idp_callback_url, session_cookie
from tests.support.procs import free_port, wait_for
from tests.support.servers import (
    USERS,
    Gateway,
    IdP,
    Redis,
    gateway_env,
    nginx_server,
    render_auth_host,
    start_echo,
    start_gateway,
    start_mock_idp,
    start_redis,
    traefik_server,
)

pytestmark = pytest.mark.e2e

RULES = """
[[apps]]
host = "open.test"
skip_auth = ["^/"]

[[apps]]
host = "admin.test"
allowed_groups = ["admins"]

[[apps]]
host = "mail.test"
allowed_email_domains = ["corp.test"]

[[apps]]
host = "office.test"
rules = [
  { path = "^/office", networks = ["10.0.0.0/8"] },
  { path = "^/local", networks = ["127.0.0.0/8"] },
  { path = "^/closed", policy = "deny" },
]
"""

USERS_WITH_TRAPS = [
    *USERS,
    {"sub": "vera", "preferred_username": "vera", "email": "vera@corp.test", "email_verified": True},
    {"sub": "uma", "preferred_username": "uma", "email": "uma@corp.test", "email_verified": False},
    {"sub": "nova", "preferred_username": "nova", "email": "nova@corp.test"},  # no email_verified claim
    {"sub": "mallory", "preferred_username": "mallory", "email": "mallory@evil.test@corp.test", "email_verified": True},
    {"sub": "pipe", "preferred_username": "pipe", "groups": ["ops|admins", "a,b", "staff"]},
]


@dataclass
class Hostile:
    tmp: Path
    idp: IdP
    redis: Redis
    gateway: Gateway
    echo_port: int
    nginx: int
    traefik: int
    caddy: int

    def port(self, proxy: str) -> int:
        return {"nginx": self.nginx, "traefik": self.traefik, "caddy": self.caddy}[proxy]


@pytest.fixture(scope="module")
def world(module_tmp: Path) -> Iterator[Hostile]:
    idp = start_mock_idp(module_tmp, users=USERS_WITH_TRAPS)
    store = start_redis(module_tmp, "hostile-redis")
    rules = module_tmp / "hostile.toml"
    rules.write_text(RULES)
    env = gateway_env(idp.issuer, redis_url=store.url, config=str(rules), skip_auth="^/public/,GET=^/status")
    gateway = start_gateway(module_tmp, env, name="authgate-hostile")
    echo, echo_port = start_echo(module_tmp)
    hosts = "app.test open.test admin.test mail.test other.test office.test"
    try:
        with (
            nginx_server(module_tmp, gateway_url=gateway.url, app_port=echo_port, server_name=hosts) as nginx,
            traefik_server(module_tmp, gateway_url=gateway.url, app_port=echo_port) as traefik,
            caddy_server(module_tmp, gateway_url=gateway.url, app_port=echo_port) as caddy,
        ):
            wait_for(lambda: raw_get(traefik, "/public/x", f"app.test:{traefik}").status != 404, what="routers")
            yield Hostile(module_tmp, idp, store, gateway, echo_port, nginx, traefik, caddy)
    finally:
        for proc in (echo, gateway.proc, store.proc, idp.proc):
            proc.stop()


PROXIES = ["nginx", "traefik", "caddy"]


# --- Raw requests: what curl --path-as-is and a socket can send -------------------------------


@dataclass
class Raw:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def served(self) -> bool:
        """The echo app answered: the request went past the proxy's auth check."""
        return self.status == 200 and b'"path"' in self.body

    def echoed(self) -> dict[str, str]:
        return {n.lower(): v for n, v in json.loads(self.body)["headers"]}


def raw_get(port: int, target: str, host: str, *headers: str, method: str = "GET", connection: str = "close") -> Raw:
    """One request written byte for byte (no client normalises the path), read to the end."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", "Accept: text/html", f"Connection: {connection}", *headers]
    with socket.create_connection(("127.0.0.1", port), timeout=15) as conn:
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parsed = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        parsed[name.strip().lower()] = value.strip()
    if parsed.get("transfer-encoding") == "chunked":
        body = _unchunk(body)
    return Raw(int(status_line.split(" ")[1]), parsed, body)


def _unchunk(body: bytes) -> bytes:
    out = b""
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2 :]
    return out


def signed_in_cookie(world: Hostile, proxy: str, sub: str = "alice", host: str = "app.test") -> str:
    with Browser() as b:
        r = b.visit(f"http://{host}:{world.port(proxy)}/", sub=sub)
        assert r.status_code == 200, r.text[:300]
        return session_cookie(b)


# --- 1. Skip rules see the path the app will see -----------------------------------------------

AMBIGUOUS_PATHS = [
    # (path as written on the request line, why an app may read it as /admin)
    ("/public/..;/admin", "Tomcat and Jetty resolve ..; as .."),
    ("/public/%2e%2e;/admin", "encoded dots with a ;parameter"),
    ("/public/%2e%2e/admin", "encoded dots"),
    ("/public/.%2e/admin", "half-encoded dots"),
    ("/public/..%5cadmin", "IIS and many frameworks read %5c as /"),
    ("/public/..%3b/admin", "an encoded ; after the dots"),
    ("/public/..%2fadmin", "an encoded /"),
    ("/public/%252e%252e/admin", "apps that decode twice"),
    ("/public/#/../admin", "a raw # that one reader ends the path at and another does not"),
    ("/public/..\\admin", "a raw backslash"),
]


@pytest.mark.parametrize("proxy", PROXIES)
@pytest.mark.parametrize(("path", "why"), AMBIGUOUS_PATHS)
def test_an_ambiguous_path_is_never_public(world: Hostile, proxy: str, path: str, why: str) -> None:
    port = world.port(proxy)
    assert raw_get(port, "/public/plain", f"app.test:{port}").served, "the public rule works through " + proxy
    r = raw_get(port, path, f"app.test:{port}")
    assert not r.served, f"{proxy} served {path} ({why}) without a session"


def test_an_ambiguous_path_is_no_error_for_a_signed_in_user(world: Hostile) -> None:
    cookie = signed_in_cookie(world, "nginx")
    for path, why in AMBIGUOUS_PATHS:
        r = raw_get(world.nginx, path, f"app.test:{world.nginx}", f"Cookie: {cookie}")
        assert r.served, f"{path} ({why}): a signed-in user gets the app, not an error ({r.status})"


# --- 2. Method and host come only from the proxy -------------------------------------------------


def test_a_method_rule_never_matches_when_the_proxy_does_not_say_the_method(world: Hostile) -> None:
    port = world.nginx
    assert raw_get(port, "/status", f"app.test:{port}").served  # the recipe sends X-Original-Method
    assert not raw_get(port, "/status", f"app.test:{port}", method="POST").served
    # Authentik's own snippet sends no X-Original-Method: then GET=^/status opens nothing at all.
    no_method = {"    proxy_set_header        X-Original-Method $request_method;\n": ""}
    with nginx_server(
        world.tmp, gateway_url=world.gateway.url, app_port=world.echo_port, snippet_replacements=no_method
    ) as bare:
        for method in ("POST", "DELETE", "GET"):
            assert not raw_get(bare, "/status", f"app.test:{bare}", method=method).served, method


FORGED_FORWARDING = [
    # (headers a client adds, what they would claim)
    (("X-Forwarded-Uri: /public/x",), "that it asked for a public path"),
    (("X-Forwarded-Host: open.test",), "that it asked a public host"),
    (("X-Forwarded-Method: GET", "X-Forwarded-Uri: /status"), "a GET of a GET-only public path"),
    (("X-Original-URL: http://open.test/",), "nginx's header, sent to another proxy"),
    # Spellings a proxy may not strip (Traefik passed "_" forms on to forwardAuth services, which some
    # read as the real header): authgate reads only the exact names.
    (("X_Forwarded_Uri: /public/x",), "a public path, in an underscore spelling"),
    (("X.Forwarded.Uri: /public/x",), "a public path, in a dot spelling"),
    (("X_Forwarded_Host: open.test",), "a public host, in an underscore spelling"),
    (("X-Forwarded-Prefix: /public",), "a public prefix, a header Traefik did not rebuild"),
]


@pytest.mark.parametrize("proxy", ["traefik", "caddy"])
@pytest.mark.parametrize(("forged", "claim"), FORGED_FORWARDING)
def test_a_client_cannot_forge_the_forwarding_headers(
    world: Hostile, proxy: str, forged: tuple[str, ...], claim: str
) -> None:
    """Traefik's entry point and Caddy set X-Forwarded-* themselves, whatever the client sent."""
    port = world.port(proxy)
    r = raw_get(port, "/secret", f"app.test:{port}", *forged, method="POST")
    assert not r.served, f"a client claimed {claim} through {proxy}"


def test_nginx_never_takes_the_host_from_a_client_x_forwarded_host(world: Hostile) -> None:
    # An older snippet: X-Original-URI instead of X-Original-URL; the client names a public host.
    uri_only = {"X-Original-URL $scheme://$http_host$request_uri": "X-Original-URI $request_uri"}
    with nginx_server(
        world.tmp, gateway_url=world.gateway.url, app_port=world.echo_port, snippet_replacements=uri_only
    ) as port:
        r = raw_get(port, "/secret", f"app.test:{port}", "X-Forwarded-Host: open.test")
        assert r.status == 302 and not r.served


def test_an_absolute_form_request_cannot_choose_whose_rules_apply(world: Hostile) -> None:
    """nginx routes ``GET http://app.test/secret`` on app.test while its Host header says open.test."""
    port = world.nginx
    r = raw_get(port, f"http://app.test:{port}/secret", f"open.test:{port}")
    assert not r.served and r.status == 403
    # The same request with matching names is an ordinary one.
    assert raw_get(port, f"http://open.test:{port}/secret", f"open.test:{port}").served


def test_an_absolute_form_request_through_the_domain_level_recipes(world: Hostile) -> None:
    port = free_port()
    external = f"http://auth.example.test:{port}"
    env = gateway_env(world.idp.issuer, cookie_domain="example.test", external_url=external, skip_auth="^/public/")
    gateway = start_gateway(world.tmp, env, name="authgate-hostile-domain")
    auth_host = render_auth_host(port=port, gateway_url=gateway.url)
    try:
        with nginx_server(
            world.tmp,
            gateway_url=gateway.url,
            app_port=world.echo_port,
            port=port,
            extra_http=auth_host,
            server_name="app.example.test",
            snippet="deploy/nginx/npm-advanced-domain.conf",
            snippet_replacements={"https://auth.example.com": external},
        ):
            host = f"app.example.test:{port}"
            assert raw_get(port, "/public/x", host).served
            r = raw_get(port, f"http://app.example.test:{port}/public/x", "evil.test")
            assert r.status == 403 and not r.served
            start = f"{PREFIX}/start?rd=http://app.example.test:{port}/"
            assert raw_get(port, start, f"auth.example.test:{port}").status == 302
            r = raw_get(port, f"http://auth.example.test:{port}{start}", "evil.test")
            assert r.status == 400
    finally:
        gateway.proc.stop()


# --- 3. Sessions belong to one host; the app never sees authgate's cookies -----------------------


def test_a_session_cookie_copied_to_another_host_opens_nothing(world: Hostile) -> None:
    cookie = signed_in_cookie(world, "nginx")
    port = world.nginx
    assert raw_get(port, "/", f"app.test:{port}", f"Cookie: {cookie}").served
    copied = raw_get(port, "/", f"other.test:{port}", f"Cookie: {cookie}")
    assert copied.status == 302 and not copied.served
    with traefik_server(world.tmp, gateway_url=world.gateway.url, app_port=world.echo_port, host="other.test") as t:
        wait_for(lambda: raw_get(t, "/public/x", f"other.test:{t}").status != 404, what="Traefik's routers")
        r = raw_get(t, "/", f"other.test:{t}", f"Cookie: {cookie}")
        assert r.status == 302 and not r.served


@pytest.mark.parametrize("proxy", PROXIES)
def test_the_app_never_sees_authgates_cookies(world: Hostile, proxy: str) -> None:
    port = world.port(proxy)
    with Browser() as b:
        assert b.visit(f"http://app.test:{port}/").status_code == 200
        names = {c.name for c in b.http.cookies.jar}
        assert "authgate_session" in names
        alone = b.get(f"http://app.test:{port}/only-ours")
        assert "cookie" not in echoed_headers(alone), "only authgate's cookie: the app gets none"
        b.http.cookies.set("theme", "dark", domain="app.test")
        for path in ("/page", "/public/page"):
            r = b.get(f"http://app.test:{port}{path}")
            assert r.status_code == 200
            assert [v for n, v in echoed_header_list(r) if n == "cookie"] == ["theme=dark"], path


# The auth route as a page may spell it: the proxy (and authgate's server) route each of these to
# the auth check itself, while the URL the check is asked about keeps the spelling.
AUTH_ROUTE_SPELLINGS = [
    "{prefix}/auth/{kind}",
    "/{prefix}/auth/{kind}",
    "{prefix}//auth/{kind}",
    "{prefix}/auth//{kind}",
    "{prefix}/%61uth/{kind}",
    "{prefix}/auth/%6e%67%69%6e%78",
    "{prefix}/auth/./{kind}",
    "{prefix}/x/../auth/{kind}",
]


@pytest.mark.parametrize("proxy", PROXIES)
@pytest.mark.parametrize("kind", ["nginx", "traefik", "caddy"])
@pytest.mark.parametrize("spelling", AUTH_ROUTE_SPELLINGS)
def test_a_page_cannot_read_the_auth_checks_answer(world: Hostile, proxy: str, kind: str, spelling: str) -> None:
    """The proxies route /outpost.goauthentik.io/* to authgate for the sign-in: a script on the app's
    origin asking for the auth route itself must not get the identity headers and the access token."""
    port = world.port(proxy)
    cookie = signed_in_cookie(world, proxy)
    target = spelling.format(prefix=PREFIX, kind=kind)
    if kind != "nginx":
        target = target.replace("%6e%67%69%6e%78", kind)
    r = raw_get(port, target, f"app.test:{port}", f"Cookie: {cookie}")
    assert not [n for n in r.headers if n.startswith(("x-authentik-", "x-auth-request-"))], (r.status, r.headers)
    assert b"alice" not in r.body


# The gateway's own paths, as a hostile client spells them (also through Authentik's own proxy
# configurations: tests/e2e/test_older_snippets.py). None may reach the app (nothing there
# is signed in) nor send the browser off the site; the checks that are not the sign-in's own
# (ambiguous spellings, another case, another method) are plain page checks: a sign-in or a 401.
HOSTILE_OWN_PATHS = [
    # (request target, method, why)
    (f"{PREFIX}/callback/../../admin", "GET", "dot segments after the callback"),
    (f"{PREFIX}/callback/%2e%2e/%2e%2e/admin", "GET", "encoded dot segments"),
    (f"{PREFIX}/%2e%2e/admin", "GET", "encoded dots right after the prefix"),
    (f"{PREFIX}/callback%2f..%2f..%2fadmin", "GET", "encoded slashes"),
    (f"{PREFIX}/callback;/../admin", "GET", "a ;parameter and dots (Tomcat, Jetty)"),
    ("/OUTPOST.goauthentik.io/callback?state=x&code=y", "GET", "the prefix in another case"),
    (f"{PREFIX.upper()}/CALLBACK?state=x&code=y", "GET", "the whole path in another case"),
    (f"{PREFIX}//callback?state=x&code=y", "GET", "a doubled slash"),
    (f"{PREFIX}/callback?state=x&code=y", "POST", "another method"),
    (f"{PREFIX}/start?rd=https://evil.test/", "GET", "a sign-in that would end on another site"),
    (f"{PREFIX}/start?rd=//evil.test/", "GET", "a scheme-relative return URL"),
    (f"{PREFIX}/start?rd=%2F%2Fevil.test%2F", "GET", "an encoded scheme-relative return URL"),
    (f"{PREFIX}/userinfo", "GET", "another gateway route, not signed in"),
    (f"{PREFIX}/auth/caddy", "GET", "the auth check itself"),
    (f"{PREFIX}/auth/traefik", "GET", "the auth check itself"),
    (f"{PREFIX}/signed_out?state=https://evil.test/", "GET", "a sign-out return naming another site"),
    (f"{PREFIX}/signed_out?state=%2F%2Fevil.test%2F", "GET", "an encoded scheme-relative sign-out return"),
    (f"{PREFIX}/frontchannel_logout?iss=https://evil.test/&sid=alice", "GET", "a front-channel logout of a stranger"),
    # Authentik's callback query, which its outpost answers on any path (the callback, never the page)
    ("/admin?X-authentik-auth-callback=true", "GET", "the callback query on a page, no state"),
    ("/admin?X-authentik-auth-callback=true&state=forged&code=forged", "GET", "the callback query, a forged state"),
    ("/admin?X-authentik-auth-callback=TRUE&error=access_denied", "GET", "the callback query with an IdP error"),
    ("/admin?X-authentik-auth-callback=true", "POST", "the callback query, another method"),
    ("/admin?next=X-authentik-auth-callback=true", "GET", "the callback query inside another parameter"),
    ("/admin?x-authentik-auth-callback=true", "GET", "the callback query's name in another case"),
    (f"{PREFIX}/userinfo?X-authentik-auth-callback=true", "GET", "the callback query on a gateway route"),
]


def assert_kept_from_the_app(r: Raw, what: str) -> None:
    assert not r.served, f"{what} reached the app without a session"
    assert r.status != 200 or b'"sub"' not in r.body, f"{what}: an identity without a session"
    location = r.headers.get("location", "")
    assert "evil.test" not in urlsplit(location).netloc, f"{what} sent the browser to {location}"
    assert not [n for n in r.headers if n.startswith(("x-authentik-", "x-auth-request-"))], what


@pytest.mark.parametrize("proxy", PROXIES)
@pytest.mark.parametrize(("target", "method", "why"), HOSTILE_OWN_PATHS)
def test_the_gateways_own_paths_never_reach_the_app(
    world: Hostile, proxy: str, target: str, method: str, why: str
) -> None:
    port = world.port(proxy)
    assert_kept_from_the_app(raw_get(port, target, f"app.test:{port}", method=method), f"{proxy}: {target} ({why})")


def sign_out_state(world: Hostile, proxy: str) -> str:
    """Sign in on app.test, then out with an rd: the state authgate gave the IdP's end-session URL."""
    port = world.port(proxy)
    with Browser() as b:
        assert b.visit(f"http://app.test:{port}/").status_code == 200
        out = b.get(f"http://app.test:{port}{PREFIX}/sign_out?rd=http://app.test:{port}/bye")
    return httpx.URL(out.headers["location"]).params["state"]


@pytest.mark.parametrize("proxy", PROXIES)
def test_a_sign_out_return_goes_on_to_its_rd_through_every_proxy(world: Hostile, proxy: str) -> None:
    port = world.port(proxy)
    back = raw_get(port, f"{PREFIX}/signed_out?state={sign_out_state(world, proxy)}", f"app.test:{port}")
    assert back.status == 302 and back.headers["location"] == f"http://app.test:{port}/bye"


def test_a_sign_out_return_brought_to_another_host_goes_nowhere(world: Hostile) -> None:
    """The rd of /sign_out travels signed in the IdP's state; a valid state brought to another host's
    /signed_out sends nobody anywhere (the rd is checked again for the host it comes back to)."""
    state = sign_out_state(world, "nginx")
    away = raw_get(world.nginx, f"{PREFIX}/signed_out?state={state}", f"other.test:{world.nginx}")
    assert "location" not in away.headers and not away.served
    assert b"You have been signed out" in away.body


@pytest.mark.parametrize("proxy", PROXIES)
def test_a_clients_connection_header_cannot_strip_the_identity_headers(world: Hostile, proxy: str) -> None:
    """Names in ``Connection`` are hop-by-hop: a proxy or app that honours them drops those headers.
    The nginx snippets never pass the client's ``Connection`` on (``upgrade`` or ``close`` only)."""
    port = world.port(proxy)
    cookie = signed_in_cookie(world, proxy)
    hop = "close, X-authentik-username, X-authentik-groups"
    r = raw_get(port, "/", f"app.test:{port}", f"Cookie: {cookie}; theme=dark", connection=hop)
    assert r.served
    seen = r.echoed()
    assert seen.get("x-authentik-username") == "alice", seen
    assert seen.get("x-authentik-groups") == "admins|staff"
    assert seen.get("cookie") == "theme=dark"
    assert "x-authentik-username" not in seen.get("connection", "").lower()


# --- 4. Claims that decide access must be trustworthy --------------------------------------------

EMAIL_RULE = [
    # (user, expected status on mail.test, why)
    ("vera", 200, "a verified corp.test address"),
    ("uma", 403, "corp.test, but the IdP does not vouch for it (email_verified false)"),
    ("mallory", 403, "two @: not one well-formed address"),
    ("nova", 403, "corp.test, with no email_verified claim at all"),
]


@pytest.mark.parametrize(("sub", "status", "why"), EMAIL_RULE)
def test_an_email_domain_rule_admits_only_a_verified_well_formed_address(
    world: Hostile, sub: str, status: int, why: str
) -> None:
    with Browser() as b:
        r = b.visit(f"http://mail.test:{world.nginx}/", sub=sub)
        assert r.status_code == status, why


def test_the_refusal_of_an_unverified_email_says_why_and_how_to_fix_it(world: Hostile) -> None:
    # nginx shows its own 403 page; Traefik hands authgate's page to the browser.
    with traefik_server(world.tmp, gateway_url=world.gateway.url, app_port=world.echo_port, host="mail.test") as t:
        wait_for(lambda: raw_get(t, "/public/x", f"mail.test:{t}").status != 404, what="Traefik's routers")
        with Browser() as b:
            r = b.visit(f"http://mail.test:{t}/", sub="uma")
    assert r.status_code == 403
    for words in ("not marked as verified", "email_verified", "AUTHGATE_ALLOW_UNVERIFIED_EMAIL", "scope mapping"):
        assert words in r.text, words
    log = world.gateway.proc.log_path.read_text()
    assert "email-domain rules admit only addresses the IdP marks email_verified: true" in log, "said at startup"
    denied = [line for line in log.splitlines() if " access.denied " in line and " user=uma " in line]
    assert denied and "host=mail.test" in denied[-1]
    assert "rule='host mail.test (its allow-lists)'" in denied[-1]
    assert "reason='your email address uma@corp.test is not marked as verified" in denied[-1]


@pytest.mark.parametrize("proxy", ["nginx", "traefik"])
def test_a_group_holding_a_header_delimiter_is_left_out_of_that_header(world: Hostile, proxy: str) -> None:
    with Browser() as b:
        r = b.visit(f"http://app.test:{world.port(proxy)}/", sub="pipe")
        seen = echoed_headers(r)
        assert seen["x-authentik-groups"] == "a,b|staff", "ops|admins would read as ops and admins"
        assert seen["x-auth-request-groups"] == "ops|admins,staff", "a,b would read as a and b"
    log = world.gateway.proc.log_path.read_text()
    assert "'ops|admins'" in log and "left out" in log


LOOKALIKES = [
    "X-Authentik_Username: root",
    "X_Authentik_Groups: admins",
    "X-Auth-Request_User: root",
    # PHP files "." under "_" too ($_SERVER['HTTP_X_AUTHENTIK_USERNAME'] from Caddy's php_fastcgi).
    "X.Authentik.Username: root",
    "X-Authentik.Groups: admins",
    "Remote.User: root",
]
# What each proxy does with a look-alike: nginx drops header names with "_" (underscores_in_headers
# is off by default) or "." (ignore_invalid_headers), and so does Caddy; Traefik passes them on to
# the check, which refuses.
LOOKALIKE_OUTCOME = {"nginx": "dropped", "traefik": "refused", "caddy": "dropped"}


@pytest.mark.parametrize("proxy", PROXIES)
@pytest.mark.parametrize("forged", LOOKALIKES)
def test_identity_header_lookalikes_never_reach_the_app(world: Hostile, proxy: str, forged: str) -> None:
    port = world.port(proxy)
    cookie = signed_in_cookie(world, proxy)
    r = raw_get(port, "/", f"app.test:{port}", f"Cookie: {cookie}", forged)
    if LOOKALIKE_OUTCOME[proxy] == "refused":
        assert r.status == 400 and not r.served
    else:
        assert r.served
        assert not [n for n in r.echoed() if "_" in n or "." in n]


def test_the_check_refuses_a_lookalike_whatever_the_proxy(world: Hostile) -> None:
    """The refusal itself, for any proxy that passes a look-alike on (400; 403 for nginx, which
    turns other statuses into 500)."""
    base = {"X-Forwarded-Host": "app.test", "X-Forwarded-Uri": "/", "X-Forwarded-Method": "GET"}
    for name in ("X-Authentik_Username", "remote_user", "X-Auth-Request_Groups", "X.Authentik.Username", "Remote.User"):
        r = httpx.get(f"{world.gateway.url}{PREFIX}/auth/traefik", headers={**base, name: "root"})
        assert r.status_code == 400, name
        r = httpx.get(
            f"{world.gateway.url}{PREFIX}/auth/nginx",
            headers={"X-Original-URL": "http://app.test/", "X-Original-Method": "GET", name: "root"},
        )
        assert r.status_code == 403, name


FORGED_AUTHENTIK = [
    # Headers of Authentik's set that authgate sends empty here (alice has no entitlements; the mock
    # IdP's issuer is not in Authentik's layout, so no app slug, provider or JWKS URL): the proxy
    # must drop a client's copy, not pass it on.
    "X-authentik-entitlements: admins",
    "X-authentik-meta-app: forged",
    "X-authentik-meta-provider: forged",
    "X-authentik-meta-jwks: https://evil.test/jwks",
]


@pytest.mark.parametrize("proxy", PROXIES)
def test_forged_entitlements_and_meta_headers_never_reach_the_app(world: Hostile, proxy: str) -> None:
    port = world.port(proxy)
    cookie = signed_in_cookie(world, proxy)
    forged = ["X-authentik-meta-outpost: forged", *FORGED_AUTHENTIK]
    r = raw_get(port, "/", f"app.test:{port}", f"Cookie: {cookie}", *forged)
    assert r.served
    seen = r.echoed()
    assert seen["x-authentik-meta-outpost"] == "authgate", "replaced by authgate's value"
    for forged in FORGED_AUTHENTIK:
        assert forged.split(":", maxsplit=1)[0].lower() not in seen, forged


@pytest.mark.parametrize("proxy", PROXIES)
@pytest.mark.parametrize("path", ["/", "/public/x"])
def test_the_clients_own_authorization_reaches_the_app_unchanged(world: Hostile, proxy: str, path: str) -> None:
    """No HTTP Basic credentials configured: the recipes copy Authorization from authgate's 200,
    which hands the client's own back, so an app's API tokens keep working behind authgate."""
    port = world.port(proxy)
    cookie = signed_in_cookie(world, proxy)
    token = "Bearer app-api-token.with/odd+chars="
    r = raw_get(port, path, f"app.test:{port}", f"Cookie: {cookie}", f"Authorization: {token}")
    assert r.served
    assert r.echoed()["authorization"] == token
    assert "authorization" not in raw_get(port, path, f"app.test:{port}", f"Cookie: {cookie}").echoed()


# --- 5. Nobody can make authgate store anything before they have signed in ----------------------


def keys(world: Hostile) -> set[bytes]:
    client = redis.Redis.from_url(world.redis.url)
    try:
        return set(client.scan_iter(count=1000))
    finally:
        client.close()


def test_anonymous_requests_write_nothing_to_the_store(world: Hostile) -> None:
    before = keys(world)
    with httpx.Client(timeout=15) as http:

        def get(port: int, target: str, **headers: str) -> int:
            nav = {"Host": f"app.test:{port}", "Accept": "text/html", **headers}
            return http.get(f"http://127.0.0.1:{port}{target}", headers=nav).status_code

        for i in range(40):
            assert get(world.traefik, f"/page{i}") == 302  # forward auth: straight to the IdP
            assert get(world.caddy, f"/page{i}") == 302
            assert get(world.nginx, f"{PREFIX}/start?rd=/page{i}") == 302
            assert get(world.nginx, f"{PREFIX}/callback?state=forged{i}&code=c") == 400
            forged_cookie = f"authgate_session_login_{i:016x}=forged"
            assert get(world.nginx, f"{PREFIX}/callback?state=s{i}&code=c", Cookie=forged_cookie) == 400
            assert get(world.nginx, f"{PREFIX}/callback?error=access_denied&state=s{i}") == 400
    assert keys(world) - before == set(), "anonymous requests stored something"


@pytest.mark.parametrize("proxy", ["traefik", "caddy"])
def test_three_tabs_signing_in_at_once_each_land_on_their_own_page(world: Hostile, proxy: str) -> None:
    origin = f"http://app.test:{world.port(proxy)}"
    with Browser() as b:
        starts = [b.get(f"{origin}/tab{i}") for i in range(3)]
        assert [s.status_code for s in starts] == [302] * 3
        callbacks = [idp_callback_url(b, s.headers["location"]) for s in starts]
        for i in (2, 0, 1):
            r = b.get(callbacks[i])
            assert r.status_code == 302, r.text[:300]
            assert r.headers["location"] == f"{origin}/tab{i}"
        assert b.get(f"{origin}/tab0").status_code == 200


def test_a_browser_holds_a_bounded_number_of_login_cookies(world: Hostile) -> None:
    origin = f"http://app.test:{world.nginx}"
    with Browser() as b:
        starts = [b.get(f"{origin}{PREFIX}/start?rd=/tab{i}") for i in range(7)]
        held = [c for c in b.http.cookies.jar if "_login_" in c.name]
        assert len(held) == 4, [c.name for c in held]
        newest = idp_callback_url(b, starts[-1].headers["location"])
        assert b.get(newest).headers["location"] == f"{origin}/tab6"
        oldest = idp_callback_url(b, starts[0].headers["location"])
        assert b.get(oldest).status_code == 400  # its cookie was dropped to make room


def test_a_long_return_url_is_cut_to_its_path_or_refused(world: Hostile) -> None:
    origin = f"http://app.test:{world.nginx}"
    with Browser() as b:
        r = b.visit(f"{origin}/reports?" + "q=" + "x" * 3000)
        assert r.status_code == 200
        assert r.json()["path"] == "/reports"
        assert all(len(c.value) < 4000 for c in b.http.cookies.jar)
    with Browser() as b:
        r = b.get(f"{origin}{PREFIX}/start?rd=/{'p' * 1500}")
        assert r.status_code == 414


# --- 6. Smaller items ---------------------------------------------------------------------------


def test_a_callback_parameter_cannot_write_its_own_log_line(world: Hostile) -> None:
    port = world.nginx
    target = f"{PREFIX}/callback?error=access_denied%0d%0aFORGED%20audit%20line&state=x"
    r = raw_get(port, target, f"app.test:{port}")
    assert r.status == 400
    assert b"FORGED" not in r.body, "only known error codes are shown"
    log = world.gateway.proc.log_path.read_text()
    assert "FORGED" in log, "the value is logged, escaped"
    assert not [line for line in log.splitlines() if line.startswith("FORGED")]


def test_a_flood_of_forged_session_cookies_is_refused_not_verified(world: Hostile) -> None:
    """Thousands of forged values (0.6 MB) are not each verified: the header is too long to be a
    browser's (tests/unit/test_hot_path.py counts the verifications)."""
    flood = "; ".join(f"authgate_session=forged{i}.aaaa.bbbb" for i in range(20000))
    r = httpx.get(
        f"{world.gateway.url}{PREFIX}/auth/nginx",
        headers={"X-Original-URL": "http://app.test/", "X-Original-Method": "GET", "Cookie": flood},
        timeout=15,
    )
    assert r.status_code == 401


# --- Network rules: the client's address is the one the proxy saw -----------------------------------

FORGED_CLIENT_ADDRESS = [
    # (headers a client adds, to pass for an address inside 10.0.0.0/8)
    ((), "nothing: its real address is 127.0.0.1"),
    (("X-Forwarded-For: 10.0.0.5",), "one forged hop"),
    (("X-Forwarded-For: 10.0.0.5, 10.0.0.6",), "forged hops that look like trusted proxies"),
    (("X-Forwarded-For: 10.0.0.5", "X-Forwarded-For: 10.0.0.6"), "two X-Forwarded-For headers"),
    (("X-Real-IP: 10.0.0.5",), "another proxy's header"),
    (("Forwarded: for=10.0.0.5",), "the standard Forwarded header"),
    (("X-Forwarded-For: 10.0.0.5, 127.0.0.1",), "a forged hop behind its own address"),
]


@pytest.fixture(scope="module")
def office(world: Hostile) -> Iterator[dict[str, int]]:
    """A proxy of each kind routing office.test, and a session there (signed in through nginx)."""
    with (
        traefik_server(world.tmp, gateway_url=world.gateway.url, app_port=world.echo_port, host="office.test") as t,
        caddy_server(world.tmp, gateway_url=world.gateway.url, app_port=world.echo_port, host="office.test") as c,
    ):
        wait_for(lambda: raw_get(t, "/public/x", f"office.test:{t}").status != 404, what="Traefik's routers")
        yield {"nginx": world.nginx, "traefik": t, "caddy": c}


@pytest.mark.parametrize("proxy", PROXIES)
@pytest.mark.parametrize(("forged", "claim"), FORGED_CLIENT_ADDRESS)
def test_a_client_cannot_forge_its_way_into_a_network_rule(
    world: Hostile, office: dict[str, int], proxy: str, forged: tuple[str, ...], claim: str
) -> None:
    port = office[proxy]
    cookie = signed_in_cookie(world, "nginx", host="office.test")
    local = raw_get(port, "/local/x", f"office.test:{port}", f"Cookie: {cookie}", *forged)
    assert local.served, f"the client's real address passes /local through {proxy} ({local.status})"
    r = raw_get(port, "/office/x", f"office.test:{port}", f"Cookie: {cookie}", *forged)
    assert r.status == 403 and not r.served, f"a client claiming {claim} passed a network rule through {proxy}"


@pytest.mark.parametrize("proxy", PROXIES)
def test_a_deny_rule_refuses_everyone_and_names_itself(world: Hostile, office: dict[str, int], proxy: str) -> None:
    port = office[proxy]
    cookie = signed_in_cookie(world, "nginx", host="office.test")
    assert raw_get(port, "/", f"office.test:{port}", f"Cookie: {cookie}").served
    for headers in ((), (f"Cookie: {cookie}",)):
        r = raw_get(port, "/closed/x", f"office.test:{port}", *headers)
        assert r.status == 403 and not r.served, headers
    log = world.gateway.proc.log_path.read_text()
    assert "'/closed/x' on 'office.test' by host office.test rule 3 (path ^/closed)" in log


# --- The browser routes take their origin from what the proxy in front sends -------------------

# (proxy, forged header, why it must not decide the origin of /start, /sign_out, /userinfo)
FORGED_BROWSER_ORIGIN = [
    ("traefik", "X-Original-URL: http://evil.test/", "Traefik passes a client's X-Original-URL on"),
    ("caddy", "X-Original-URL: http://evil.test/", "Caddy passes a client's X-Original-URL on"),
    ("traefik", "X-Original-URL: https://evil.test/x", "another scheme too"),
    ("nginx", "X-Forwarded-Host: evil.test", "nginx passes a client's X-Forwarded-Host on"),
]
BROWSER_ROUTES = ["/start?rd=http://evil.test/", "/sign_out?rd=http://evil.test/"]


@pytest.mark.parametrize("route", BROWSER_ROUTES)
@pytest.mark.parametrize(("proxy", "forged", "why"), FORGED_BROWSER_ORIGIN)
def test_a_client_cannot_name_the_origin_of_the_browser_routes(
    world: Hostile, proxy: str, forged: str, why: str, route: str
) -> None:
    """Believed, the forged header makes evil.test the host the browser used: ``rd`` pointing there
    passes redirect validation (an open redirect after sign-in or sign-out) and the sign-in's
    redirect_uri names it. The origin comes from the headers the proxy itself sets; a second,
    contradicting origin from the client is refused (400)."""
    port = world.port(proxy)
    r = raw_get(port, f"{PREFIX}{route}", f"app.test:{port}", forged)
    assert r.status == 400, (why, r.status, r.headers.get("location"))
    assert "evil.test" not in r.headers.get("location", ""), why
