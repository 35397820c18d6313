.PHONY: demo test lint unit bench bench-steps screenshots clean

# Run a complete local stack: dev IdP, Redis, two authgate replicas, Traefik, a sample app.
demo:
	scripts/bootstrap demo
	.venv/bin/authgate demo

# Everything CI runs: lint, types, unit, integration and end-to-end tests.
test: lint
	.venv/bin/python -m pytest -q -p no:cacheprovider

lint:
	scripts/bootstrap test
	.venv/bin/ruff check app tests bench
	.venv/bin/ruff format --check app tests bench
	.venv/bin/mypy

unit:
	.venv/bin/python -m pytest -q tests/unit

bench:
	scripts/bootstrap test
	.venv/bin/python bench/run.py

# What a cached auth check costs, step by step, in process.
bench-steps:
	scripts/bootstrap test
	.venv/bin/python bench/steps.py

# Retake docs/img/*.png (docs/what-you-will-see.md) by running the demo's story in Chromium.
screenshots:
	scripts/bootstrap test
	AUTHGATE_DOC_SCREENSHOTS=1 .venv/bin/python -m pytest -q -p no:cacheprovider tests/e2e/test_browser.py

clean:
	rm -rf .venv tests/idp/node_modules .pytest_cache .mypy_cache .ruff_cache
