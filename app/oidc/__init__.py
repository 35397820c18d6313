"""OpenID Connect: discovery, keys, the code flow, refresh, logout tokens.

The only package that imports authlib and joserfc.
"""

from app.oidc.client import OIDCClient
from app.oidc.transport import BackchannelTransport

__all__ = ["BackchannelTransport", "OIDCClient"]
