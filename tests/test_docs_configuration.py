"""docs/configuration.md is the rendering of src/videoapi/settings.py by scripts/gen_config_docs.py."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _generator():
    spec = importlib.util.spec_from_file_location("gen_config_docs", ROOT / "scripts" / "gen_config_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_configuration_doc_is_current() -> None:
    gen = _generator()
    current = gen.OUTPUT.read_text(encoding="utf-8") if gen.OUTPUT.exists() else ""
    assert current == gen.render(), f"docs/configuration.md is stale; regenerate it with: {gen.COMMAND}"


def test_every_field_is_rendered() -> None:
    from videoapi.settings import Settings

    text = _generator().render()
    for section in Settings.__struct_fields__:
        for name in getattr(Settings(), section).__struct_fields__:
            assert f"`{section}.{name}`" in text, f"{section}.{name} missing from the rendering"
