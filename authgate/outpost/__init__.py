"""Outpost mode: the apps are Authentik's proxy providers, read and followed as Authentik's outpost does.

api.py        Authentik's API: the outpost, its providers page by page
providers.py  a provider as an app (pure): its host, client, public paths; the rules file over them
follower.py   the WebSocket (Hello, TriggerUpdate, SessionEnd), re-reads, the cached list in the store
"""
