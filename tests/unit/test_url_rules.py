"""Public routes matched on the whole URL (``skip_auth_url``): an Authentik forward_domain provider's
*Unauthenticated paths*, which its outpost matches on ``scheme://host/path?query``, not the path.

The table reads top to bottom: the regex, the request as the proxy names it, and whether it passes
without a session. A query can keep a URL from matching (as at the outpost), never make it match
(unlike at the outpost, where ``/public/`` in ``?next=/public/`` opens any page).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from authgate.access.forwarded import from_forwarded
from authgate.access.policy import Policy
from authgate.access.verdicts import Public
from authgate.cli.explain import explain
from authgate.config import AppRule, Settings
from authgate.outpost.providers import Provider, app_rule, merge, path_anchored, path_anchored_warning

CASES = [
    # (regex, method, proto, host, uri as the proxy sends it, passes without a session)
    (r"^https://files\.corp\.test/public/", "GET", "https", "files.corp.test", "/public/a.png", True),
    (r"^https://files\.corp\.test/public/", "GET", "https", "files.corp.test", "/private", False),
    (r"^https://files\.corp\.test/public/", "GET", "https", "files.corp.test", "/public/a?size=2", True),
    # The query alone never opens a page, however the regex is written.
    (r"/public/", "GET", "https", "a.corp.test", "/private?next=/public/", False),
    (r"^https://a\.corp\.test/x\?", "GET", "https", "a.corp.test", "/x?y=1", False),
    (r"/public/", "GET", "https", "a.corp.test", "/public/x?y=1", True),
    # ... but it may keep one closed: the outpost matches the URL with its query too.
    (r"^https://a\.corp\.test/public$", "GET", "https", "a.corp.test", "/public", True),
    (r"^https://a\.corp\.test/public$", "GET", "https", "a.corp.test", "/public?y=1", False),
    # A regex written for the path finds no path at the start of a URL, as at the outpost.
    (r"^/public/", "GET", "https", "a.corp.test", "/public/x", False),
    # The path is the one the app serves: dot segments, encodings and doubled slashes do not escape.
    (r"^https://a\.corp\.test/public/", "GET", "https", "a.corp.test", "/public/../admin", False),
    (r"^https://a\.corp\.test/public/", "GET", "https", "a.corp.test", "/public/%2e%2e/admin", False),
    (r"^https://a\.corp\.test/public/", "GET", "https", "a.corp.test", "/public//x", False),
    (r"^https://a\.corp\.test/public/", "GET", "https", "a.corp.test", "/publi%63/x", True),
    # Scheme, host and port are the proxy's, the host lower-cased.
    (r"^https://a\.corp\.test/", "GET", "http", "a.corp.test", "/x", False),
    (r"^https://a\.corp\.test/", "GET", "https", "b.corp.test", "/x", False),
    (r"^https://a\.corp\.test/", "GET", "https", "A.Corp.Test", "/x", True),
    (r"^https://a\.corp\.test/", "GET", "https", "a.corp.test:8443", "/x", False),
    (r"^https://a\.corp\.test:8443/", "GET", "https", "a.corp.test:8443", "/x", True),
    # METHOD=regex, as in skip_auth.
    (r"POST=^https://a\.corp\.test/hook$", "POST", "https", "a.corp.test", "/hook", True),
    (r"POST=^https://a\.corp\.test/hook$", "GET", "https", "a.corp.test", "/hook", False),
]


def policy(*, skip_auth_url: list[str], skip_auth: list[str] | None = None) -> Policy:
    app = AppRule(host=["*.corp.test", "corp.test"], skip_auth_url=skip_auth_url, skip_auth=skip_auth or [])
    return Policy.from_settings(Settings(apps=[app]))


def passes(p: Policy, method: str, proto: str, host: str, uri: str) -> bool:
    headers = {
        "x-forwarded-proto": proto,
        "x-forwarded-host": host,
        "x-forwarded-uri": uri,
        "x-forwarded-method": method,
    }
    request = from_forwarded(headers, default_scheme="https")
    return isinstance(p.for_request(request).verdict_for(request), Public)


@pytest.mark.parametrize(("regex", "method", "proto", "host", "uri", "public"), CASES)
def test_a_url_rule_opens_what_it_matches_and_no_more(
    regex: str, method: str, proto: str, host: str, uri: str, public: bool
) -> None:
    assert passes(policy(skip_auth_url=[regex]), method, proto, host, uri) is public


def test_url_rules_and_path_rules_sit_side_by_side() -> None:
    p = policy(skip_auth_url=[r"^https://a\.corp\.test/feed$"], skip_auth=["^/health$"])
    assert passes(p, "GET", "https", "a.corp.test", "/feed")
    assert passes(p, "GET", "https", "b.corp.test", "/health")
    assert not passes(p, "GET", "https", "b.corp.test", "/feed")
    assert not passes(p, "GET", "https", "a.corp.test", "/admin")


def test_without_the_url_no_url_rule_matches() -> None:
    host = policy(skip_auth_url=[".*"]).for_host("a.corp.test")
    assert not isinstance(host.decide("GET", "/x"), Public)
    assert isinstance(host.decide("GET", "/x", ("https://a.corp.test", "")), Public)


def provider(mode: str, skip: str) -> Provider:
    """A provider as Authentik's API lists it, with the fields these tests read."""
    return Provider.from_api(
        {
            "name": "files",
            "external_host": "https://files.corp.test",
            "mode": mode,
            "cookie_domain": "corp.test",
            "skip_path_regex": skip,
            "client_id": "c",
            "client_secret": "s",
            "oidc_configuration": {"issuer": "https://auth.corp.test/application/o/files/"},
        }
    )


def test_a_providers_unauthenticated_paths_are_matched_as_its_outpost_matches_them() -> None:
    """forward_single: on the path; forward_domain: on the URL (Authentik's IsAllowlisted)."""
    single = app_rule(provider("forward_single", "^/public/\n"))
    assert (single.skip_auth, single.skip_auth_url) == (["^/public/"], [])
    domain = app_rule(provider("forward_domain", "^https://files\\.corp\\.test/public/\n^/public/"))
    assert (domain.skip_auth, domain.skip_auth_url) == ([], ["^https://files\\.corp\\.test/public/", "^/public/"])


def test_a_rules_file_entry_keeps_the_providers_url_rules_and_adds_its_own() -> None:
    domain = app_rule(provider("forward_domain", "^https://files\\.corp\\.test/public/"))
    entry = AppRule(host="files.corp.test", skip_auth_url=[r"^https://files\.corp\.test/feed$"], skip_auth=["^/ok$"])
    (merged,) = merge([domain], [entry])
    assert merged.skip_auth_url == [r"^https://files\.corp\.test/public/", r"^https://files\.corp\.test/feed$"]
    assert merged.skip_auth == ["^/ok$"]


def test_explain_matches_url_rules_on_the_url_it_is_given(tmp_path: Path) -> None:
    f = tmp_path / "rules.toml"
    f.write_text('[[apps]]\nhost = "a.test"\nskip_auth_url = ["^https://a\\\\.test/public/"]\n')
    code, lines = explain("https://a.test/public/x", file=str(f), environ={})
    assert code == 0 and "skip_auth_url" in next(line for line in lines if line.startswith("rule:")), lines
    code, lines = explain("https://a.test/private?next=/public/", file=str(f), environ={})
    assert lines[-1].startswith("decision:   allow"), lines


def test_a_bad_url_rule_is_named_where_it_stands() -> None:
    with pytest.raises(ValueError, match="skip_auth_url"):
        AppRule(host="a.test", skip_auth_url=["("])


def test_a_path_anchored_line_of_a_domain_provider_is_named() -> None:
    """``^/public/`` never matches a URL: authgate check and the log name it (nothing else does)."""
    lines = "^/public/\n/feed/\n^https://files\\.corp\\.test/x\n(?i)^/y"
    assert path_anchored(provider("forward_domain", lines)) == ["^/public/"]
    assert path_anchored(provider("forward_single", lines)) == [], "matched on the path: fine"
    assert path_anchored_warning(provider("forward_domain", lines), "^/public/") == (
        f"provider {provider('forward_domain', lines).name!r}: skip_path_regex line '^/public/' is anchored to a path, "
        "but in forward_domain mode it is matched on the whole URL (scheme://host/path): it never matches, here as "
        "at Authentik's outpost"
    )
