"""Logs, traces, the audit trail, metrics and request ids: what authgate tells its operators."""
