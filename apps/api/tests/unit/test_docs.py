from __future__ import annotations

from pathlib import Path

from app.config import Settings

README = Path(__file__).resolve().parents[4] / "README.md"


def test_readme_documents_every_setting() -> None:
    text = README.read_text()
    missing = []
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        names = list(getattr(alias, "choices", [])) if alias else [f"SELLERCOLLECTION_{name.upper()}"]
        if not any(f"`{n}`" in text for n in names):
            missing.append(name)
    assert missing == []
