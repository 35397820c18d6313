"""Optional OpenTelemetry traces: the only module that imports ``opentelemetry``.

Off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set and the ``authgate[otel]`` extra is installed;
then spans (sign-in start, callback, refresh, each IdP call, each store call) go to that OTLP/HTTP
endpoint, read with the SDK's usual ``OTEL_*`` variables. A request's first span is parented on
the proxy's ``traceparent``. Off, ``span()`` hands back one shared no-op context: no allocation.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import Any

from authgate.observability.requestid import current_traceparent

log = logging.getLogger("authgate.tracing")

_OFF: contextlib.nullcontext[None] = contextlib.nullcontext()


class _State:
    tracer: Any = None  # an opentelemetry Tracer while tracing is on
    provider: Any = None


_on = _State()


def enabled() -> bool:
    return _on.tracer is not None


def setup(exporter: Any = None) -> bool:
    """Turn tracing on when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (or an ``exporter`` is given,
    spans then handed to it one by one: the tests' in-memory exporter). True when on."""
    if exporter is None and not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return False
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    except ImportError:
        log.warning("OTEL_EXPORTER_OTLP_ENDPOINT is set but the authgate[otel] extra is not installed: no traces")
        return False
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "authgate")})
    provider = TracerProvider(resource=resource)
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    else:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    shutdown()
    _on.provider, _on.tracer = provider, provider.get_tracer("authgate")
    log.info("OpenTelemetry traces on")
    return True


def shutdown() -> None:
    """Send what is buffered and turn tracing off."""
    if _on.provider is not None:
        _on.provider.shutdown()
    _on.tracer = _on.provider = None


def span(name: str, **attributes: str | int | bool) -> contextlib.AbstractContextManager[Any]:
    """A span around the block (its errors recorded), or a no-op when tracing is off."""
    if _on.tracer is None:
        return _OFF
    return _span(name, attributes)


@contextlib.contextmanager
def _span(name: str, attributes: dict[str, str | int | bool]) -> Iterator[Any]:
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    parent = None
    if not trace.get_current_span().get_span_context().is_valid:
        traceparent = current_traceparent()
        if traceparent:
            parent = TraceContextTextMapPropagator().extract({"traceparent": traceparent})
    with _on.tracer.start_as_current_span(name, context=parent, attributes=attributes) as current:
        yield current
