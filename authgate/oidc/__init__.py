"""OpenID Connect: discovery, keys, the code flow, refresh, logout tokens.

The only package that imports authlib and joserfc.
"""

from authgate.oidc.client import OIDCClient
from authgate.oidc.transport import BackchannelTransport

__all__ = ["BackchannelTransport", "OIDCClient"]
