"""docs/configuration.md is generated from authgate/config/ (tools/docs_gen.py) and must not drift from it."""

from __future__ import annotations

from authgate.config import SECRET_FIELDS, AppRule, Settings
from tools import docs_gen


def test_configuration_reference_is_up_to_date() -> None:
    current = docs_gen.OUTPUT.read_text() if docs_gen.OUTPUT.exists() else ""
    assert current == docs_gen.render(), (
        "docs/configuration.md differs from the Settings class: run `python -m tools.docs_gen --write`"
    )


def test_every_setting_and_secret_file_is_documented() -> None:
    text = docs_gen.render()
    for name, field in Settings.model_fields.items():
        if field.exclude:
            assert f"`AUTHGATE_{name.upper()}`" not in text, name
            continue
        assert f"| `AUTHGATE_{name.upper()}` |" in text, name
    for name in SECRET_FIELDS:
        assert f"| `AUTHGATE_{name.upper()}_FILE` |" in text, name
    for name in AppRule.model_fields:
        assert f"| `{name}` |" in text, name
