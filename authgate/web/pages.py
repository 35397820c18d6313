"""The few HTML pages a person may see: denied, sign-in failed, signed out.

Every value is HTML-escaped; no page ever shows a stack trace.
"""

from __future__ import annotations

from html import escape

from authgate.model import Identity

_STYLE = (
    "body{font:16px/1.5 system-ui,sans-serif;background:#f4f5f7;color:#1d2330;margin:0}"
    "main{max-width:34rem;margin:12vh auto;background:#fff;border-radius:12px;padding:2rem 2.25rem;"
    "box-shadow:0 1px 3px rgba(0,0,0,.08)}h1{font-size:1.35rem;margin:0 0 .75rem}"
    "p{margin:.5rem 0}code{background:#eef0f3;padding:.1rem .3rem;border-radius:4px}"
    "a.button{display:inline-block;margin-top:1rem;padding:.55rem 1rem;border-radius:8px;background:#2a5bd7;"
    "color:#fff;text-decoration:none}small{color:#667}"
)


def _page(title: str, body: str) -> bytes:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main><h1>{escape(title)}</h1>{body}<p><small>authgate</small></p></main></body></html>"
    ).encode()


def forbidden_page(identity: Identity, sign_out_url: str, reason: str = "") -> bytes:
    who = escape(identity.username or identity.sub)
    email = f" (<code>{escape(identity.email)}</code>)" if identity.email else ""
    groups = ", ".join(escape(g) for g in identity.groups) or "none"
    why = f"<p>Why: {escape(reason)}.</p>" if reason else ""
    return _page(
        "Access denied",
        f"<p>You are signed in as <strong>{who}</strong>{email}, but this account may not open this application.</p>"
        f"{why}<p>Your groups: {groups}.</p>"
        "<p>If you should have access, ask an administrator to admit you, or sign out and sign in with "
        "another account.</p>"
        f'<a class=button href="{escape(sign_out_url, quote=True)}">Sign out</a>',
    )


def error_page(title: str, message: str, retry_url: str | None) -> bytes:
    retry = f'<a class=button href="{escape(retry_url, quote=True)}">Try again</a>' if retry_url else ""
    return _page(title, f"<p>{escape(message)}</p>{retry}")


def signed_out_page(back_url: str) -> bytes:
    """After a sign-out with nowhere else to go (no ``rd``, an IdP without end_session_endpoint)."""
    return _page(
        "Signed out",
        "<p>You have been signed out.</p>"
        f'<a class=button href="{escape(back_url, quote=True)}">Back to the application</a>',
    )
