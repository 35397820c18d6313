"""``authgate check``: validate the configuration and probe the IdP; print causes and fixes."""

from __future__ import annotations

import asyncio
import sys

from app.config import load_settings
from app.errors import AuthgateError, ConfigError
from app.oidc import OIDCClient


def run_check() -> int:
    try:
        settings = load_settings()
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"FAIL {problem}")
        return 1

    async def probe() -> list[str]:
        oidc = OIDCClient(
            issuer=settings.issuer,
            client_id=settings.client_id,
            client_secret=settings.client_secret,
            scopes=settings.scope_list,
            backchannel_url=settings.backchannel_url,
            timeout=settings.idp_timeout,
        )
        try:
            await oidc.metadata()
            await oidc.keys.keys()
        except AuthgateError as exc:
            return [str(exc)]
        finally:
            await oidc.aclose()
        return []

    problems = asyncio.run(probe())
    for problem in problems:
        print(f"FAIL {problem}")
    if not problems:
        print("OK configuration valid, IdP reachable")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(run_check())
