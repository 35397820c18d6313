"""Sign-in state in a sealed cookie per login (authgate/session/login.py): nothing stored before the callback,
bound to the browser that started it, capped per browser, readable across a secret rotation."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from authgate.errors import LoginStateError, ReturnURLTooLong, TokenValidationError
from authgate.model import TokenSet
from authgate.oidc.clients import Clients
from authgate.session.login import MAX_LOGIN_COOKIES, MAX_RETURN_URL, Begun, LoginService, return_url
from authgate.session.service import SessionService
from authgate.store import MemoryStore

SECRET_A = "a" * 20 + "-first-secret-0123456789"
SECRET_B = "b" * 20 + "-second-secret-987654321"
CALLBACK = "https://app.test/outpost.goauthentik.io/callback"


class RecordingStore(MemoryStore):
    """The in-process store, remembering every key written."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[str] = []

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        self.written.append(key)
        await super().set(key, value, ttl)

    async def set_nx(self, key: str, value: bytes, ttl: float) -> bool:
        self.written.append(key)
        return await super().set_nx(key, value, ttl)

    async def index_add(self, key: str, member: str, ttl: float) -> None:
        self.written.append(key)
        await super().index_add(key, member, ttl)


class FakeIdP:
    """What LoginService asks of the OIDC client; ``redeem`` checks the PKCE verifier and nonce."""

    issuer, client_id = "https://idp.test", "authgate"  # its lane (authgate.oidc.clients.lane)
    scopes = ("openid", "offline_access")

    def __init__(self) -> None:
        self.issued: dict[str, tuple[str, str]] = {}  # state -> (verifier, nonce)
        self.redeemed = 0

    async def ensure_reachable(self) -> None:
        return None

    async def check_response_issuer(self, iss: str | None) -> None:
        if iss is not None and iss != self.issuer:
            raise TokenValidationError("the sign-in response came from another issuer")

    async def authorization_url(self, *, redirect_uri: str, state: str, nonce: str, code_verifier: str) -> str:
        self.issued[state] = (code_verifier, nonce)
        return f"https://idp.test/authorize?state={state}"

    async def redeem(self, *, code: str, redirect_uri: str, code_verifier: str, nonce: str) -> TokenSet:
        assert (code_verifier, nonce) == self.issued[code], "the login state carried the verifier and nonce"
        assert redirect_uri == CALLBACK
        self.redeemed += 1
        return TokenSet("at", "it", "rt", 3600, {"sub": "alice"})


def service(store: RecordingStore, idp: FakeIdP, secrets: list[str], ttl: int = 600) -> LoginService:
    sessions = SessionService(store, idp, ttl=3600)  # type: ignore[arg-type]
    return LoginService(store, Clients(idp), sessions, ttl=ttl, secrets=secrets, cookie_prefix="authgate_session")  # type: ignore[arg-type]


def state_of(begun: Begun) -> str:
    return begun.authorization_url.split("state=")[1]


async def begin(svc: LoginService, url: str = "https://app.test/page", held: dict[str, str] | None = None) -> Begun:
    return await svc.begin(original_url=url, redirect_uri=CALLBACK, held=held or {})


async def test_beginning_a_sign_in_stores_nothing_and_the_callback_finishes_it() -> None:
    store, idp = RecordingStore(), FakeIdP()
    svc = service(store, idp, [SECRET_A])
    begun = await begin(svc)
    assert store.written == [], "a visitor who has not signed in stores nothing"
    state = state_of(begun)
    assert begun.cookie_name == svc.cookie_name(state) and begun.cookie_name.startswith("authgate_session_login_")
    assert state not in begun.cookie_value, "the state travels sealed"
    finished = await svc.finish(state=state, code=state, values=[begun.cookie_value])
    assert finished.original_url == "https://app.test/page"
    assert finished.cookie_name == begun.cookie_name
    assert idp.redeemed == 1
    session = await svc.sessions.load(finished.ticket)
    assert session is not None and session.scope == "app.test"


Tamper = Callable[[Begun, str], list[str]]


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda b, s: [], id="no login cookie (another browser: login CSRF)"),
        pytest.param(lambda b, s: [b.cookie_value[:-4] + "AAAA"], id="tampered value"),
        pytest.param(lambda b, s: ["not base64 !"], id="garbage"),
        pytest.param(lambda b, s: ["x" * 5000], id="over-long"),
    ],
)
async def test_a_callback_without_its_own_login_cookie_touches_nothing(tamper: Tamper) -> None:
    store, idp = RecordingStore(), FakeIdP()
    svc = service(store, idp, [SECRET_A])
    begun = await begin(svc)
    state = state_of(begun)
    with pytest.raises(LoginStateError):
        await svc.finish(state=state, code=state, values=tamper(begun, state))
    assert store.written == [] and idp.redeemed == 0


async def test_a_login_cookie_opens_only_its_own_state() -> None:
    store, idp = RecordingStore(), FakeIdP()
    svc = service(store, idp, [SECRET_A])
    first, second = await begin(svc), await begin(svc)
    with pytest.raises(LoginStateError):  # the other tab's cookie, offered for this state
        await svc.finish(state=state_of(first), code=state_of(first), values=[second.cookie_value])
    assert store.written == []


async def test_an_expired_login_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    store, idp = RecordingStore(), FakeIdP()
    svc = service(store, idp, [SECRET_A], ttl=30)
    begun = await begin(svc)
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 31)
    with pytest.raises(LoginStateError, match="too long"):
        await svc.finish(state=state_of(begun), code=state_of(begun), values=[begun.cookie_value])
    assert store.written == []


async def test_a_sign_in_begun_before_a_secret_rotation_finishes_after_it() -> None:
    store, idp = RecordingStore(), FakeIdP()
    begun = await begin(service(store, idp, [SECRET_A]))
    state = state_of(begun)
    with pytest.raises(LoginStateError):
        await service(store, idp, [SECRET_B]).finish(state=state, code=state, values=[begun.cookie_value])
    rotated = service(store, idp, [SECRET_B, SECRET_A])  # the new key signs, the old one still opens
    assert (await rotated.finish(state=state, code=state, values=[begun.cookie_value])).original_url


async def test_a_new_sign_in_drops_the_oldest_login_cookies_past_the_cap() -> None:
    store, idp = RecordingStore(), FakeIdP()
    svc = service(store, idp, [SECRET_A])
    held: dict[str, str] = {}
    order = []
    for _ in range(MAX_LOGIN_COOKIES):
        begun = await begin(svc, held=held)
        assert begun.dropped == ()
        held[begun.cookie_name] = begun.cookie_value
        order.append(begun.cookie_name)
        time.sleep(0.002)  # distinct creation times
    fifth = await begin(svc, held=held)
    assert fifth.dropped == (order[0],), "the oldest goes, so the browser keeps at most the cap"
    held["authgate_session_login_ffffffffffffffff"] = "forged"
    assert "authgate_session_login_ffffffffffffffff" in (await begin(svc, held=held)).dropped


def test_a_long_return_url_loses_its_query_and_an_over_long_path_is_refused() -> None:
    assert return_url("https://app.test/a?b=1") == "https://app.test/a?b=1"
    assert return_url("https://app.test/a?" + "q" * MAX_RETURN_URL) == "https://app.test/a"
    with pytest.raises(ReturnURLTooLong):
        return_url("https://app.test/" + "p" * MAX_RETURN_URL)
