# syntax=docker/dockerfile:1
#
# authgate's container image.
#
#   docker build -t authgate:latest .
#   docker run --rm -p 9000:9000 --env-file authgate.env authgate:latest
#
# Configuration is the AUTHGATE_* environment (see docs/configuration.md and authgate/config/). Nothing secret is
# baked in: give secrets at run time, preferably as files (Docker/Kubernetes secrets) named by
# AUTHGATE_SECRET_FILE, AUTHGATE_CLIENT_SECRET_FILE and AUTHGATE_REDIS_URL_FILE.
# The image runs as uid/gid 10001 and writes nothing at run time, so it works with a read-only
# root filesystem (Compose `read_only: true`, Kubernetes `readOnlyRootFilesystem: true`).
# Scale with replicas (all sharing one Redis), not with `--workers`.

ARG PYTHON_IMAGE=python:3.12-slim-bookworm

# ---- builder: a virtualenv holding authgate and its dependencies, byte-compiled ---------------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/authgate
WORKDIR /src
# The dependencies first, in their own layer, so a code change does not reinstall them: exactly
# the locked versions, hash-checked (requirements/, `make lock`). `docker build --build-arg
# LOCK=runtime-otel .` adds OpenTelemetry traces (docs/operating.md).
ARG LOCK=runtime
COPY requirements/${LOCK}.txt /tmp/requirements.txt
RUN /opt/authgate/bin/pip install --require-hashes --no-deps -r /tmp/requirements.txt
# authgate itself, with the auth check's modules compiled by mypyc (setup.py; docs/performance.md):
# built into a wheel in a venv of its own (the locked mypy, and what its type check reads), with
# a C compiler that stays in this stage. `--build-arg COMPILE=0` builds plain Python instead.
ARG COMPILE=1
COPY requirements/compile.txt /tmp/compile.txt
RUN if [ "$COMPILE" = 1 ]; then \
      apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/* \
      && python -m venv /opt/build && /opt/build/bin/pip install --require-hashes --no-deps -r /tmp/compile.txt; \
    fi
COPY pyproject.toml setup.py README.md ./
COPY authgate ./authgate
# pip and setuptools are not needed at run time.
RUN if [ "$COMPILE" = 1 ]; then \
      AUTHGATE_COMPILE=1 /opt/build/bin/pip wheel --no-deps --no-build-isolation -w /tmp/wheels . \
      && /opt/authgate/bin/pip install --no-deps /tmp/wheels/authgate-*.whl \
      && /opt/authgate/bin/python -c "import sys, authgate.observability.metrics as m; sys.exit(not m.COMPILED)"; \
    else \
      /opt/authgate/bin/pip install --no-deps --no-build-isolation .; \
    fi \
 && /opt/authgate/bin/pip uninstall -y pip setuptools

# ---- final: the slim base, the virtualenv, an unprivileged user ---------------------------------
FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="authgate" \
      org.opencontainers.image.description="Forward-auth gateway for nginx, Traefik and Caddy with shared Redis sessions and OIDC sign-in" \
      org.opencontainers.image.licenses="MIT"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/authgate/bin:$PATH
RUN groupadd --system --gid 10001 authgate \
 && useradd --system --uid 10001 --gid authgate --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin authgate
# Owned by root, so the running process cannot modify its own code.
COPY --from=builder /opt/authgate /opt/authgate
# Numeric, so Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
EXPOSE 9000
# uvicorn stops accepting, finishes in-flight requests (up to 10 s), then exits.
STOPSIGNAL SIGTERM
# Liveness only (no Redis or IdP round trip). No curl in the slim image: Python's urllib.
# Frequent, because Traefik's Docker provider routes to a container only once it is healthy.
# If you change --port below, change it here too.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9000/healthz', timeout=3)"]
ENTRYPOINT ["authgate"]
CMD ["serve", "--host", "0.0.0.0", "--port", "9000"]
