"""The request the proxy asks about and who may pass: parsed, decided and answered with headers."""
