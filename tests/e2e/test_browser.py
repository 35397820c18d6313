"""One end-to-end run of ``authgate demo`` in a real browser (Debian's chromium, driven by Playwright).

alice signs in on the dev IdP and sees the sample app; bob is refused on ``admin.localhost`` with
authgate's 403 page, signs out (through the IdP's end-session form) and is asked to sign in again.
Screenshots go to ``test-artifacts/browser/``.
"""

from __future__ import annotations

import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.procs import IN_CI, Proc, free_port, require_binary, wait_for

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Cookie, Page, Route

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "browser"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "app.localhost", "admin.localhost"}
TIMEOUT_MS = 15_000


@pytest.fixture
def chromium() -> str:
    """Debian's chromium and the playwright package, checked before the demo starts; in CI, missing fails."""
    path = require_binary("chromium", "/usr/bin/chromium")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        if IN_CI:
            pytest.fail("the playwright package is required in CI but not installed (see .ci/run)")
        pytest.skip("the playwright package is not installed")
    return path


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[int]:
    """``authgate demo`` on a free port; stopped (SIGTERM to its process group) whatever happens.

    Its own log (every child's output) is copied to the artifacts and its work directory removed.
    """
    port = free_port()
    authgate = Path(sys.executable).parent / "authgate"
    argv = [str(authgate)] if authgate.exists() else [sys.executable, "-m", "app"]
    proc = Proc("demo", [*argv, "demo", "--port", str(port)], log_dir=tmp_path, cwd=REPO)
    proc.start()
    try:

        def ready() -> bool:
            if proc.popen is not None and proc.popen.poll() is not None:
                raise RuntimeError(f"authgate demo exited with {proc.popen.returncode}:\n{proc.log()}")
            return f"authgate demo ready: http://app.localhost:{port}/" in proc.log()

        wait_for(ready, timeout=30, what="the 'authgate demo ready' line")

        # The ready line comes once Traefik's port is open, but its file provider loads the routers
        # a moment later (a 404 until then): wait, bounded, until app.localhost is routed.
        def routed() -> bool:
            r = httpx.get(f"http://127.0.0.1:{port}/", headers={"Host": f"app.localhost:{port}", "Accept": "text/html"})
            return r.status_code != 404

        wait_for(routed, timeout=10, what="Traefik's app.localhost router")
        yield port
    finally:
        proc.stop()
        logs = re.search(r"Logs:\s+(\S+/demo\.log)", proc.log_path.read_text(errors="replace"))
        if logs:
            demo_log = Path(logs.group(1))
            if demo_log.exists():
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(demo_log, ARTIFACTS / "demo.log")
            shutil.rmtree(demo_log.parent, ignore_errors=True)


def _hermetic(context: BrowserContext) -> None:
    """Only loopback hosts: the IdP's pages link a stylesheet on a CDN, which a firewalled network may stall."""

    def route(r: Route) -> None:
        if urlsplit(r.request.url).hostname in LOCAL_HOSTS:
            r.continue_()
        else:
            r.abort()

    context.route("**/*", route)
    context.set_default_timeout(TIMEOUT_MS)


def _sign_in_as(page: Page, user: str, port: int, host: str) -> int:
    """On the IdP's sign-in page, press the predefined user's button; the status of ``host``'s answer."""
    from playwright.sync_api import expect

    expect(page.get_by_role("heading", name="Authorize Client")).to_be_visible()
    # authorization_form.html: one submit button per predefined user, under "Authenticate predefined users".
    button = page.locator(f"form[aria-labelledby='heading-auth-predefined'] button[name='sub'][value='{user}']")
    target = f"http://{host}:{port}/"
    with page.expect_response(lambda r: r.url == target and r.request.is_navigation_request()) as answer:
        button.click()
    page.wait_for_load_state("load")
    assert page.url == target
    return answer.value.status


def _session_cookie(context: BrowserContext) -> Cookie | None:
    """authgate's session cookie on admin.localhost (not its ``_login`` sign-in binding cookie)."""
    for c in context.cookies():
        if c.get("domain") == "admin.localhost" and c.get("name") == "authgate_session":
            return c
    return None


def test_sign_in_forbidden_and_sign_out_in_chromium(chromium: str, demo: int) -> None:
    from playwright.sync_api import expect, sync_playwright

    port = demo
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    app_url, admin_url = f"http://app.localhost:{port}/", f"http://admin.localhost:{port}/"
    authorize = re.compile(r"^http://127\.0\.0\.1:\d+/oauth2/authorize\?")

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        try:
            # alice: app.localhost -> the IdP's sign-in page -> back on the sample app, signed in.
            alice = browser.new_context(viewport={"width": 1000, "height": 700})
            _hermetic(alice)
            page = alice.new_page()
            page.goto(app_url)
            expect(page).to_have_url(authorize)
            assert _sign_in_as(page, "alice", port, "app.localhost") == 200
            expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Alice Admin!")
            expect(page.locator("tr", has_text="X-authentik-groups").locator("td")).to_have_text("admins|staff")
            expect(page.locator("tr", has_text="X-authentik-username").locator("td")).to_have_text("alice")
            page.screenshot(path=str(ARTIFACTS / "signed-in.png"), full_page=True)
            alice.close()

            # bob, in a fresh context: admin.localhost is for admins only -> authgate's 403 page.
            bob = browser.new_context(viewport={"width": 1000, "height": 700})
            _hermetic(bob)
            page = bob.new_page()
            page.goto(admin_url)
            expect(page).to_have_url(authorize)
            assert _sign_in_as(page, "bob", port, "admin.localhost") == 403
            expect(page).to_have_title("Access denied")
            expect(page.get_by_role("heading", level=1)).to_have_text("Access denied")
            expect(page.locator("main strong")).to_have_text("bob")
            sign_out = page.get_by_role("link", name="Sign out")
            expect(sign_out).to_have_attribute("href", f"http://admin.localhost:{port}/outpost.goauthentik.io/sign_out")
            page.screenshot(path=str(ARTIFACTS / "forbidden.png"), full_page=True)
            session = _session_cookie(bob)
            assert session is not None, bob.cookies()

            # Sign out: authgate ends the session and sends bob to the IdP's end-session form.
            sign_out.click()
            expect(page).to_have_url(re.compile(r"^http://127\.0\.0\.1:\d+/oauth2/end_session\?"))
            expect(page.get_by_role("heading", level=1)).to_have_text("End Session")
            assert "id_token_hint" in page.url
            assert _session_cookie(bob) is None, "sign-out left the session cookie"
            expect(page.locator("input[name='redirect_uri']")).to_have_value(admin_url)
            page.get_by_role("button", name="End session").click()
            # The IdP sends him back to admin.localhost, which asks him to sign in again.
            expect(page).to_have_url(authorize)
            expect(page.get_by_role("heading", name="Authorize Client")).to_be_visible()

            # A new visit asks him to sign in again as well, even with the old cookie put back:
            # the session ended in the store, not only in this browser.
            page.goto(admin_url)
            expect(page).to_have_url(authorize)
            bob.add_cookies([{"name": "authgate_session", "value": session.get("value", ""), "url": admin_url}])
            page.goto(admin_url)
            expect(page).to_have_url(authorize)
            expect(page.get_by_role("button", name="bob")).to_be_visible()
            bob.close()
        finally:
            browser.close()
