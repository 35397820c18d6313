"""The pages a person may see: every one says what happened and offers a next step."""

from __future__ import annotations

from authgate.model import Identity
from authgate.web.pages import error_page, forbidden_page, signed_out_page


def test_the_signed_out_page_leads_back_to_the_application() -> None:
    page = signed_out_page("https://app.test/").decode()
    assert "You have been signed out" in page
    assert 'href="https://app.test/">Back to the application</a>' in page


def test_the_403_page_says_why_and_offers_a_sign_out() -> None:
    who = Identity(sub="s", username="bob", email="bob@x.test", groups=("guests",))
    page = forbidden_page(who, "https://admin.test/outpost.goauthentik.io/sign_out", "not in <admins>").decode()
    assert "Why: not in &lt;admins&gt;." in page, "the reason, escaped"
    assert 'href="https://admin.test/outpost.goauthentik.io/sign_out">Sign out</a>' in page


def test_an_error_page_offers_a_retry_when_there_is_one() -> None:
    assert ">Try again</a>" in error_page("Failed", "why", "https://app.test/retry").decode()
    assert "Try again" not in error_page("Failed", "why", None).decode()


def test_the_403_page_names_what_would_admit_and_not_the_rules_inner_name() -> None:
    from authgate.access.verdicts import AccessRule

    bob = Identity(sub="s", username="bob", groups=("guests",))
    why = AccessRule.build(groups=["admins"], name="host admin.test (its allow-lists)").refusal(bob)
    assert why is not None
    page = forbidden_page(bob, "https://admin.test/outpost.goauthentik.io/sign_out", why).decode()
    assert "Why: only members of the group admins may open this application." in page
    assert "Your groups: guests." in page
    assert "allow-lists" not in page
