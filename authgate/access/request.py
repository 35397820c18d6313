"""The request the proxy asks about: its scheme, host, path, query and method, as parsed once.

Pure logic: no I/O. Instances are memoised by the parse (authgate/access/forwarded.py) and shared,
so what is derived from them (the host without its port, the path a server routes on) is derived
once, here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from authgate.access.paths import PathForms, path_forms, routed_path


def hostname_of(host: str) -> str:
    """``host[:port]`` without its port (an IPv6 literal keeps its brackets)."""
    if host.startswith("["):
        return host[: host.find("]") + 1]
    return host.rsplit(":", 1)[0] if ":" in host else host


@dataclass(frozen=True, slots=True)  # frozen: parsed instances are cached and shared
class OriginalRequest:
    """The request the proxy is asking about (from X-Original-* or X-Forwarded-*)."""

    scheme: str
    host: str  # host[:port] as the browser sent it, lower-cased
    path: str  # the path as sent (not percent-decoded: see authgate.access.paths for what the app sees)
    query: str
    method: str  # "" when the proxy did not say
    hostname: str = field(default="", compare=False)  # the host without its port (derived)
    #: The path as a server routes it (authgate.access.paths.routed_path), derived once: instances are memoised.
    routed: str = field(default="", compare=False)
    #: The path's canonical form and readings, what the rules match (authgate.access.paths.path_forms), derived once.
    forms: PathForms = field(init=False, compare=False)
    #: The last verdict on this request and the host rules that gave it (policy.HostRules.verdict_for; typed
    #: loosely so that this module, which policy reads, does not read policy).
    decided: tuple[object, Any] | None = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.hostname:
            object.__setattr__(self, "hostname", hostname_of(self.host))
        if not self.routed:
            object.__setattr__(self, "routed", routed_path(self.path))
        object.__setattr__(self, "forms", path_forms(self.path))

    def remember(self, rules: object, verdict: Any) -> None:
        """Keep the verdict of ``rules`` on this (memoised, otherwise immutable) request."""
        object.__setattr__(self, "decided", (rules, verdict))

    @property
    def origin(self) -> str:
        return f"{self.scheme}://{self.host}"

    @property
    def url(self) -> str:
        return f"{self.origin}{self.path}" + (f"?{self.query}" if self.query else "")
