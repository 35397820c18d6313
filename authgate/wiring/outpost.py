"""Outpost mode's wiring: Authentik's providers and the rules file, merged into the rules in force.

Two sources change the apps: the follower (authgate/outpost/follower.py) with each new provider
list, and the rules file's reload. Either one recomputes the whole (``providers.merge``) and
swaps the policy and the per-app clients at once (``Gateway.swap_policy``). A host no provider and
no entry names is refused (403): outpost mode has no global client to sign anyone in with.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from authgate.access.policy import Policy
from authgate.config import AppRule, Settings
from authgate.outpost.providers import Provider, app_rule, merge, path_anchored, path_anchored_warning, skip_rules

log = logging.getLogger("authgate.outpost")

Swap = Callable[[Policy, list[AppRule]], None]


class OutpostApps:
    """The apps in force: the providers' host entries under the rules file's."""

    def __init__(self, settings: Settings, swap: Swap) -> None:
        self._settings = settings
        self._swap = swap
        self.file_apps: list[AppRule] = list(settings.apps)
        self.provider_apps: list[AppRule] = []
        self.providers: list[Provider] = []

    def set_providers(self, providers: list[Provider], outpost_name: str = "") -> None:
        """A new list from Authentik: the served ones become apps; the others are said, once per list.
        ``outpost_name`` (Authentik's) is their X-authentik-meta-outpost, unless the settings name one."""
        rules: list[AppRule] = []
        if "authentik_outpost_name" in self._settings.model_fields_set:
            outpost_name = ""
        for p in providers:
            if not p.served:
                log.warning(
                    "provider %r (%s) is in %r mode: not served (authgate answers forward auth; it is no "
                    "reverse proxy). Switch it to forward auth, or keep Authentik's outpost for it.",
                    p.name,
                    p.host,
                    p.mode,
                )
                continue
            if p.mode == "forward_domain" and not p.domain:
                log.warning(
                    "provider %r is in forward_domain mode, but its cookie domain %r is no domain that covers its "
                    "external host %s: served for that host only. Set the provider's cookie domain in Authentik "
                    "(e.g. example.com for https://auth.example.com)",
                    p.name,
                    p.cookie_domain,
                    p.host,
                )
            bad = skip_rules(p.skip_path_regex)[1]
            for line in bad:
                log.warning("provider %r: skip_path_regex line %r does not compile here; left out", p.name, line)
            for line in path_anchored(p):
                log.warning("%s", path_anchored_warning(p, line))
            rules.append(app_rule(p, host_browser=self._settings.authentik_host_browser, outpost_name=outpost_name))
        self.providers = providers
        self.provider_apps = rules
        self._apply()

    def set_file_apps(self, _: Policy, apps: list[AppRule]) -> None:
        """The rules file was read again (authgate/wiring/reload.py): its policy is rebuilt with the providers."""
        self.file_apps = apps
        self._apply()

    def _apply(self) -> None:
        merged = merge(self.provider_apps, self.file_apps)
        policy = Policy.from_settings(self._settings.model_copy(update={"apps": merged}), closed=True)
        self._swap(policy, merged)
