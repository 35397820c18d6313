"""Hot reload of the rules file: on SIGHUP, and when the file changes (polled), read, validate and
swap the policy in one assignment; a bad file keeps the rules in force.

Only the rules file (``AUTHGATE_CONFIG``) is read again; the ``AUTHGATE_*`` variables stay as they
were at startup (``AUTHGATE_SKIP_AUTH`` and ``AUTHGATE_ALLOWED_*`` still make the global rules).
Requests in flight keep the policy they started with; the next one sees the new one.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable

from authgate.access.policy import Policy
from authgate.config import AppRule, Settings, load_rules
from authgate.config.checks import app_problems
from authgate.observability import metrics

log = logging.getLogger("authgate.rules")

#: Seconds between two looks at the rules file (its modification time, size and inode).
POLL_INTERVAL = 2.0

Stamp = tuple[int, int, int] | None


def _stamp(path: str) -> Stamp:
    try:
        st = os.stat(path)  # follows symlinks: a Kubernetes ConfigMap is swapped through one
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class RulesReloader:
    """Reloads ``settings.config`` into a new ``Policy`` handed to ``apply``; ``error`` says why the
    last reload failed ("" when it did not), for /readyz."""

    def __init__(self, settings: Settings, apply: Callable[[Policy, list[AppRule]], None]) -> None:
        self.settings = settings
        self.path = settings.config
        self.apply = apply
        self.error = ""
        self._stamp = _stamp(self.path)
        metrics.rules_last_reload_ok.set(1)

    def reload(self, why: str) -> bool:
        """Read and validate the file; swap the policy only when it has no problem at all."""
        self._stamp = _stamp(self.path)
        problems: list[str] = []
        apps = load_rules(self.path, problems)
        problems += app_problems(self.settings, apps)
        if problems:
            for problem in problems:
                log.error("rules reload (%s) failed, the rules in force stay: %s", why, problem)
            self.error = f"rules reload failed: {'; '.join(problems)}"
            metrics.rules_reloads.labels("failed").inc()
            metrics.rules_last_reload_ok.set(0)
            return False
        self.apply(Policy.from_settings(self.settings.model_copy(update={"apps": apps})), apps)
        self.error = ""
        metrics.rules_reloads.labels("ok").inc()
        metrics.rules_last_reload_ok.set(1)
        log.info("rules reloaded (%s): %d host entries from %s", why, len(apps), self.path)
        return True

    def changed(self) -> bool:
        return _stamp(self.path) != self._stamp

    def listen(self) -> None:
        """Reload on SIGHUP from now on (in the event loop, between two requests)."""
        try:
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self.reload, "SIGHUP")
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no signals
            log.warning("SIGHUP cannot reload the rules in this process; the file is still watched")

    async def watch(self, interval: float = POLL_INTERVAL) -> None:
        """Reload whenever the file's stamp changes; runs until cancelled, then stops listening."""
        try:
            while True:
                await asyncio.sleep(interval)
                if self.changed():
                    self.reload("the file changed")
        finally:
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
