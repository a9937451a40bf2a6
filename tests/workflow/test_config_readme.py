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
