"""docs/configuration.md is generated from the settings classes and lists every setting.

Like .env.example (tests/unit/test_config.py), the page is written by
``make env-example``; a setting added to the code without regenerating it fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic_settings import BaseSettings

from fraudstream.config import Settings, render_configuration_md

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "configuration.md"


def _every_variable() -> set[str]:
    """Each setting's environment variable, read from the classes themselves."""
    names: set[str] = set()
    for name, field in Settings.model_fields.items():
        if name not in Settings.sections:
            names.add(str(field.validation_alias))
            continue
        section = field.default_factory
        assert isinstance(section, type)
        assert issubclass(section, BaseSettings)
        prefix = str(section.model_config.get("env_prefix", ""))
        names |= {f"{prefix}{sub}".upper() for sub in section.model_fields}
    return names


def _table_variables(text: str) -> list[str]:
    """The first cell of every table row that names a variable."""
    return re.findall(r"^\| `([A-Z0-9_]+)` \|", text, flags=re.MULTILINE)


def test_configuration_md_is_what_the_code_renders() -> None:
    assert PAGE.read_text(encoding="utf-8") == render_configuration_md(), (
        "run `make env-example` to regenerate docs/configuration.md"
    )


def test_every_setting_of_every_section_has_one_row() -> None:
    rows = _table_variables(render_configuration_md())
    assert len(rows) == len(set(rows)), "a variable is listed twice"
    assert set(rows) == _every_variable()


def test_every_section_has_its_heading() -> None:
    headings = re.findall(r"^## (\S+)$", render_configuration_md(), flags=re.MULTILINE)
    assert headings == ["general", *Settings.sections]


def test_the_page_links_to_files_that_exist() -> None:
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", render_configuration_md()):
        assert (PAGE.parent / target).exists(), target
