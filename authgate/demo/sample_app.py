"""The demo's sample app: a page that shows the identity headers it received, and the page a
sign-out ends on (``/signed-out``, public: the demo's ``AUTHGATE_SKIP_AUTH``)."""

from __future__ import annotations

import sys
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from authgate.demo import SIGNED_OUT, sign_out_link

SHOWN = (
    "X-authentik-username",
    "X-authentik-name",
    "X-authentik-email",
    "X-authentik-groups",
    "X-authentik-uid",
    "X-authentik-meta-app",  # the application (and so the OAuth client) this host signed in with
)
STYLE = (
    "body{font:16px/1.5 system-ui,sans-serif;background:#f4f5f7;color:#1d2330;margin:0}"
    "main{max-width:40rem;margin:8vh auto;background:#fff;border-radius:12px;padding:2rem 2.25rem;"
    "box-shadow:0 1px 3px rgba(0,0,0,.08)}h1{font-size:1.5rem;margin:0 0 .75rem}"
    "table{border-collapse:collapse;margin:1rem 0;width:100%}th,td{text-align:left;padding:.35rem .5rem;"
    "border-bottom:1px solid #eef0f3}th{font-weight:600;white-space:nowrap}code{background:#eef0f3;padding:.1rem .3rem;"
    "border-radius:4px}nav a{margin-right:1.25rem}"
)
# The demo's two hosts: each page links to the other (single sign-on: no second sign-in).
OTHER = {"app": "admin", "admin": "app"}


def _page(title: str, main: str) -> bytes:
    return (
        "<!doctype html><html lang=en><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style><main>{main}</main>"
    ).encode()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        def header(name: str) -> str:
            # Header bytes arrive as latin-1 text; authgate sends UTF-8.
            return (self.headers.get(name) or "").encode("latin-1", "replace").decode("utf-8", "replace")

        raw_host = self.headers.get("Host", "")
        name, _, port = raw_host.partition(".localhost")
        hosts = [f"http://{h}.localhost{port}/" for h in OTHER]
        if self.path.split("?", 1)[0] == SIGNED_OUT:
            links = "".join(f'<a href="{escape(u, quote=True)}">Sign in again on {escape(u)}</a>' for u in hosts)
            body = _page(
                "Signed out",
                "<h1>You are signed out</h1>"
                "<p>authgate ended your session on every replica, and the IdP ended its own: both demo apps "
                "ask you to sign in again.</p>"
                f"<nav>{links}</nav>",
            )
        else:
            other = f"http://{OTHER[name]}.localhost{port}/" if name in OTHER else ""
            rows = "".join(f"<tr><th>{escape(n)}</th><td>{escape(header(n))}</td></tr>" for n in SHOWN)
            links = f'<a href="{escape(other, quote=True)}">Open {escape(other)}</a>' if other else ""
            sign_out = sign_out_link(f"http://{raw_host}")
            body = _page(
                f"authgate demo: {raw_host}",
                f"<h1>Hello, {escape(header('X-authentik-name') or header('X-authentik-username'))}!</h1>"
                f"<p>This page on <code>{escape(raw_host)}</code> is protected by authgate. It received:</p>"
                f"<table>{rows}</table>"
                f'<nav>{links}<a href="{escape(sign_out, quote=True)}">Sign out</a></nav>',
            )
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
