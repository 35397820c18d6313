"""``authgate check``: validate the configuration and probe the IdP, printing cause and fix.

Each finding is one line, ``OK``, ``WARN`` or ``FAIL``, with a ``fix:`` line under each failure,
printed as it is found; the exit status is 0 only when nothing failed. The IdP is probed through
the addresses the gateway will use (authgate/cli/check_idp.py), then each app's own client, then the store.
"""

from __future__ import annotations

import asyncio
import sys
from urllib.parse import urlsplit

from authgate.cli.check_idp import discovery
from authgate.cli.check_outpost import check_outpost
from authgate.cli.report import Report
from authgate.config import Settings, load_settings
from authgate.errors import ConfigError, StoreError
from authgate.store import open_store


async def _store(s: Settings, report: Report) -> None:
    if not s.redis_url:
        report.warn(
            "AUTHGATE_REDIS_URL is not set: sessions live in one process (one replica, one worker)",
            "set AUTHGATE_REDIS_URL=redis://... to run several replicas",
        )
        return
    try:
        store = open_store(s.redis_url, timeout=s.store_timeout)
    except ConfigError as exc:
        for problem in exc.problems:
            report.fail(problem, "correct the URL's options (docs/configuration.md names the forms)")
        return
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
        sub = report.sub(f"app {host}: ", callback)
        await discovery(s.model_copy(update=update), sub)
        report.failed |= sub.failed


async def _run(s: Settings, report: Report) -> None:
    for what, probe in (
        ("the access rules", _rules_probe),
        ("the IdP", _idp),
        ("the apps' own clients", _apps),
        ("the store", _store),
    ):
        try:
            await probe(s, report)
        except Exception as exc:  # noqa: BLE001 - one probe's surprise must not hide the others' findings
            report.fail(
                f"{what} could not be checked: {type(exc).__name__}: {exc}",
                "unexpected after the settings passed validation: check what this line names, "
                "and report it to authgate's maintainers with this line",
            )


async def _idp(s: Settings, report: Report) -> None:
    """The global IdP; in outpost mode, Authentik's API and each of its providers instead
    (authgate/cli/check_outpost.py), each probed as the global IdP is."""
    if not s.outpost_mode:
        await discovery(s, report)
        return

    async def probe(app: Settings, prefix: str, callback: str) -> bool:
        sub = report.sub(prefix, callback)
        await discovery(app, sub)
        return sub.failed

    await check_outpost(s, report, probe)


async def _rules_probe(s: Settings, report: Report) -> None:
    _rules(s, report)


def run_check() -> int:
    report = Report(echo=True)
    try:
        settings = load_settings()
    except ConfigError as exc:
        for problem in exc.problems:
            report.fail(problem, "see docs/configuration.md")
        print("authgate check: FAILED (the configuration is not valid; nothing was probed)")
        return 1
    report.ok("configuration valid")
    asyncio.run(_run(settings, report))
    print("authgate check: " + ("FAILED" if report.failed else "all good"))
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(run_check())
