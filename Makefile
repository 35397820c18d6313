.PHONY: demo test lint unit mutation e2e bench bench-steps capacity screenshots lock upgrade clean

# Run a complete local stack: dev IdP, Redis, two authgate replicas, Traefik, a sample app.
# PORT=N: the port of the URL to open (default 8080).
PORT ?= 8080
demo:
	scripts/bootstrap demo
	.venv/bin/authgate demo --port $(PORT)

# Everything CI runs: lint, types, mutation testing of the security code, then unit, integration
# and end-to-end tests.
# The test files run in parallel (pytest-xdist), four at a time even on two cores: most of a test's
# time is spent waiting on the servers it starts, and each fixture takes its own free ports.
PYTEST_PARALLEL ?= -n 4 --dist loadfile
# Then the wire door's, the hot path's and the hostile tests again, against the gateway as the
# image ships it: the auth check's modules compiled by mypyc (setup.py, tools/compiled.py).
COMPILED_TESTS = tests/integration/test_wire.py tests/integration/test_replicas.py tests/e2e/test_hostile.py \
	tests/e2e/test_path_rules_differential.py tests/e2e/test_nginx.py tests/e2e/test_traefik.py tests/e2e/test_caddy.py \
	tests/e2e/test_outpost.py
test: lint mutation
	scripts/bootstrap test
	.venv/bin/python -m tools.compiled  # before the tests: the benchmark's smoke test runs it too
	.venv/bin/python -m pytest -q -p no:cacheprovider $(PYTEST_PARALLEL)
	AUTHGATE_TEST_BUILD=build/compiled .venv/bin/python -m pytest -q -p no:cacheprovider $(PYTEST_PARALLEL) $(COMPILED_TESTS)

# Lint and types, and the unit tests: only the Python environment is needed.
lint:
	scripts/bootstrap python
	.venv/bin/ruff check authgate tests bench tools
	.venv/bin/ruff format --check authgate tests bench tools
	.venv/bin/mypy

unit:
	scripts/bootstrap python
	.venv/bin/python -m pytest -q -p no:cacheprovider tests/unit

# Mutation testing of the security-critical pure modules against the unit tests (docs/testing.md).
# MUTATION_ARGS narrows it: MUTATION_ARGS=authgate/session/tickets.py, or MUTATION_ARGS="--changed-since origin/main".
mutation:
	scripts/bootstrap python
	.venv/bin/python -m tools.mutation $(MUTATION_ARGS)

# Through the real proxies (nginx, Traefik, Caddy) and Chromium.
e2e:
	scripts/bootstrap test
	.venv/bin/python -m pytest -q -p no:cacheprovider -m e2e

bench:
	scripts/bootstrap test
	.venv/bin/python -m bench.run

# What a cached auth check costs, step by step, in process.
bench-steps:
	scripts/bootstrap test
	.venv/bin/python -m bench.steps

# The capacity model's measured inputs (docs/scaling.md): Redis commands per sign-in, refresh, check
# and sign-out, bytes per session in Redis and in a replica, the invalidation feed's fan-out
# (standalone, and PUBLISH against SPUBLISH on a 3-master Cluster). No wrk: light on the machine.
capacity:
	scripts/bootstrap test
	.venv/bin/python -m bench.capacity

# Retake docs/img/*.png (docs/what-you-will-see.md) by running the demo's story in Chromium.
screenshots:
	scripts/bootstrap test
	AUTHGATE_DOC_SCREENSHOTS=1 .venv/bin/python -m pytest -q -p no:cacheprovider tests/e2e/test_browser.py

# The locks (requirements/*.txt): exact versions with hashes of everything the demo, the tests and
# the image install, for every platform and Python >= 3.11. `make lock` after editing pyproject.toml
# keeps every pin it can; `make upgrade` moves every pin to the newest release, then runs the tests.
LOCK = .venv/bin/uv pip compile --quiet --universal --generate-hashes --python-version 3.11 \
	--custom-compile-command "make lock" pyproject.toml requirements/build.in $(LOCK_ARGS)
lock:
	scripts/bootstrap python
	$(LOCK) -o requirements/runtime.txt
	$(LOCK) --extra otel -o requirements/runtime-otel.txt
	$(LOCK) --extra demo -o requirements/demo.txt
	$(LOCK) --extra dev -o requirements/dev.txt
	$(LOCK) --extra compile -o requirements/compile.txt

upgrade:
	$(MAKE) lock LOCK_ARGS=--upgrade
	$(MAKE) test

clean:
	rm -rf .venv tests/idp/node_modules .pytest_cache .mypy_cache .ruff_cache
