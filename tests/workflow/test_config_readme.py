"""config/README.md documents every key of the configuration schema."""

from __future__ import annotations

import re

import yaml


def _schema_keys(node, prefix=""):
    for key, sub in node.get("properties", {}).items():
        yield f"{prefix}{key}"
        if sub.get("type") == "object":
            yield from _schema_keys(sub, f"{prefix}{key}.")


def test_every_schema_key_is_documented(repo_root):
    schema = yaml.safe_load((repo_root / "workflow/schemas/config.schema.yaml").read_text())
    documented = set(re.findall(r"^\| \**`([\w.]+)`", (repo_root / "config/README.md").read_text(), re.M))
    keys = set(_schema_keys(schema))
    assert len(keys) > 30
    assert keys - documented == set(), f"config/README.md lacks {sorted(keys - documented)}"
    assert documented - keys == set(), f"config/README.md names keys the schema lacks: {sorted(documented - keys)}"


def test_every_documented_default_is_the_schemas(repo_root):
    """The page's default column (its first backticked value) is the schema's default: the page said
    training.soup.copies defaults to 1 where the schema (and config.yaml) say 2."""
    schema = yaml.safe_load((repo_root / "workflow/schemas/config.schema.yaml").read_text())

    def walk(node, prefix=""):
        for key, sub in node.get("properties", {}).items():
            yield f"{prefix}{key}", sub
            if sub.get("type") == "object":
                yield from walk(sub, f"{prefix}{key}.")

    defaults = {key: sub["default"] for key, sub in walk(schema) if "default" in sub}
    rows = re.findall(r"^\| \**`([\w.]+)`\**\s*\|\s*`([^`]*)`", (repo_root / "config/README.md").read_text(), re.M)
    compared = [(key, yaml.safe_load(shown) if shown else None, defaults[key]) for key, shown in rows
                if key in defaults and shown != "see schema"]
    assert len(compared) > 60
    wrong = [(key, shown, default) for key, shown, default in compared
             if shown != default and not (default in ({}, []) and shown in ({}, [], None))]
    assert wrong == [], f"config/README.md shows other defaults than the schema: {wrong}"
