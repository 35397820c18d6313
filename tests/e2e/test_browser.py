"""One end-to-end run of ``authgate demo`` in a real browser (Debian's chromium, driven by Playwright).

The demo's story, as the README tells it: alice signs in once on the development IdP and opens both
apps; bob is refused on ``admin.localhost`` with authgate's 403 page; one sign-out ends both apps.
Screenshots go to ``test-artifacts/browser/`` (and to ``docs/img/`` with ``make screenshots``).
"""

from __future__ import annotations

import os
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
DOC_IMAGES = REPO / "docs" / "img"
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

    Its own log (every child's output), which the demo keeps, is moved to the artifacts.
    """
    port = free_port()
    authgate = Path(sys.executable).parent / "authgate"
    argv = [str(authgate)] if authgate.exists() else [sys.executable, "-m", "authgate"]
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
        logs = re.search(r"Logs\s+(\S+\.log)", proc.log_path.read_text(errors="replace"))
        if logs:
            demo_log = Path(logs.group(1))
            assert demo_log.exists(), "the demo keeps its log after it stops"
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shutil.move(demo_log, ARTIFACTS / "demo.log")


def _hermetic(context: BrowserContext) -> None:
    """Only loopback hosts: the demo must work, and look finished, on a machine without internet."""

    def route(r: Route) -> None:
        if urlsplit(r.request.url).hostname in LOCAL_HOSTS:
            r.continue_()
        else:
            r.abort()

    context.route("**/*", route)
    context.set_default_timeout(TIMEOUT_MS)


def _shot(page: Page, name: str) -> None:
    """A screenshot in the artifacts; with AUTHGATE_DOC_SCREENSHOTS=1 (`make screenshots`) also in
    docs/img/, where docs/what-you-will-see.md shows them."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name))
    if os.environ.get("AUTHGATE_DOC_SCREENSHOTS") == "1":
        DOC_IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ARTIFACTS / name, DOC_IMAGES / name)


def _sign_in_as(page: Page, user: str, port: int, host: str) -> int:
    """On the IdP's sign-in page, press the demo user's button; the status of ``host``'s answer."""
    from playwright.sync_api import expect

    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    target = f"http://{host}:{port}/"
    with page.expect_response(lambda r: r.url == target and r.request.is_navigation_request()) as answer:
        page.locator(f"form#login button[value='{user}']").click()
    page.wait_for_load_state("load")
    assert page.url == target
    return answer.value.status


def _session_cookie(context: BrowserContext, host: str) -> Cookie | None:
    """authgate's session cookie on ``host`` (not its sign-in cookies)."""
    for c in context.cookies():
        if c.get("domain") == host and c.get("name") == "authgate_session":
            return c
    return None


def test_the_demo_story_in_chromium(chromium: str, demo: int) -> None:
    """Sign in once, open both apps, bob refused on the admins' app, sign out once: both apps ask again."""
    from playwright.sync_api import expect, sync_playwright

    port = demo
    app_url, admin_url = f"http://app.localhost:{port}/", f"http://admin.localhost:{port}/"
    sign_in_page = re.compile(r"^http://127\.0\.0\.1:\d+/interaction/")

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        try:
            # alice: app.localhost -> the IdP's sign-in page -> back on the sample app, signed in.
            alice = browser.new_context(viewport={"width": 1000, "height": 720})
            _hermetic(alice)
            page = alice.new_page()
            page.goto(app_url)
            expect(page).to_have_url(sign_in_page)
            expect(page.locator("form#login button")).to_have_count(2)
            _shot(page, "sign-in.png")
            assert _sign_in_as(page, "alice", port, "app.localhost") == 200
            expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Alice Admin!")
            expect(page.locator("tr", has_text="X-authentik-groups").locator("td")).to_have_text("admins|staff")
            expect(page.locator("tr", has_text="X-authentik-username").locator("td")).to_have_text("alice")
            # Two applications at the IdP, as in Authentik: this host signs in with the global client.
            expect(page.locator("tr", has_text="X-authentik-meta-app").locator("td")).to_have_text("demo")
            _shot(page, "signed-in.png")

            # Single sign-on: the admins' app opens with no sign-in page (the IdP remembers her).
            # (A sign-in page would stop the redirects there: authgate -> IdP -> callback -> the app.)
            page.goto(admin_url)
            expect(page).to_have_url(admin_url)
            expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Alice Admin!")
            # ... and the admins' app with its own (the rules file names client authgate-admin).
            expect(page.locator("tr", has_text="X-authentik-meta-app").locator("td")).to_have_text("admin")
            _shot(page, "single-sign-on.png")
            admin_session = _session_cookie(alice, "admin.localhost")
            assert admin_session is not None

            # Sign out once, on app.localhost: authgate, then the IdP (no confirmation click), then
            # back to the app, which asks to sign in again; so does the admins' app (back-channel logout).
            page.goto(app_url + "outpost.goauthentik.io/sign_out")
            expect(page).to_have_url(sign_in_page)
            assert _session_cookie(alice, "app.localhost") is None, "sign-out left the session cookie"
            page.goto(admin_url)
            expect(page).to_have_url(sign_in_page)
            # Even with its old cookie put back: the session ended in the store, not only in this browser.
            alice.add_cookies([{"name": "authgate_session", "value": admin_session.get("value", ""), "url": admin_url}])
            page.goto(admin_url)
            expect(page).to_have_url(sign_in_page)
            alice.close()

            # bob, in a fresh context: admin.localhost is for admins only -> authgate's 403 page.
            bob = browser.new_context(viewport={"width": 1000, "height": 720})
            _hermetic(bob)
            page = bob.new_page()
            page.goto(admin_url)
            expect(page).to_have_url(sign_in_page)
            assert _sign_in_as(page, "bob", port, "admin.localhost") == 403
            expect(page).to_have_title("Access denied")
            expect(page.locator("main strong")).to_have_text("bob")
            sign_out = page.get_by_role("link", name="Sign out")
            expect(sign_out).to_have_attribute("href", f"{admin_url}outpost.goauthentik.io/sign_out")
            _shot(page, "forbidden.png")
            # ... while the other app lets him in, with no second sign-in.
            page.goto(app_url)
            expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Bob Guest!")
            page.goto(admin_url)
            page.get_by_role("link", name="Sign out").click()
            expect(page).to_have_url(sign_in_page)
            bob.close()
        finally:
            browser.close()
