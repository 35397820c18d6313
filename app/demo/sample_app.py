"""The demo's sample app: a page that shows the identity headers it received."""

from __future__ import annotations

import sys
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SHOWN = ("X-authentik-username", "X-authentik-name", "X-authentik-email", "X-authentik-groups", "X-authentik-uid")


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        def header(name: str) -> str:
            # Header bytes arrive as latin-1 text; authgate sends UTF-8.
            return (self.headers.get(name) or "").encode("latin-1", "replace").decode("utf-8", "replace")

        host = escape(self.headers.get("Host", ""))
        rows = "".join(f"<tr><th>{escape(n)}</th><td>{escape(header(n))}</td></tr>" for n in SHOWN)
        body = (
            "<!doctype html><meta charset=utf-8><title>authgate demo</title>"
            "<style>body{font:16px system-ui;margin:3rem}th{text-align:left;padding-right:1rem}</style>"
            f"<h1>Hello, {escape(header('X-authentik-name') or header('X-authentik-username'))}!</h1>"
            f"<p>This page on <code>{host}</code> is protected by authgate. It received:</p><table>{rows}</table>"
            '<p><a href="/outpost.goauthentik.io/sign_out">Sign out</a></p>'
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
