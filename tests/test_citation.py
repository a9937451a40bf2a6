"""CITATION.cff agrees with the package and with the README's "Citing" section.

A release that bumps the version in pyproject.toml, or a README that changes a reference, without
CITATION.cff would have users cite the wrong thing: these tests name what drifted.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

import lensfinder

REPO = Path(__file__).resolve().parents[1]


def _citation() -> dict:
    return yaml.safe_load((REPO / "CITATION.cff").read_text(encoding="utf-8"))


def _readme_references() -> list[str]:
    """The README's "Citing" list, one string per item."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Citing", 1)[1].split("\n## ", 1)[0]
    items = re.split(r"\n- ", section.split("\n\nand the tools", 1)[0])[1:]
    return [" ".join(item.split()) for item in items]


def test_citation_file_has_the_required_keys_and_the_package_version():
    cff = _citation()
    assert cff["cff-version"] == "1.2.0"
    for key in ("message", "title", "authors", "type", "license"):
        assert cff[key], key
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert cff["version"] == pyproject["project"]["version"] == lensfinder.__version__
    assert (REPO / "LICENSE").read_text().startswith("BSD 3-Clause License") and cff["license"] == "BSD-3-Clause"


def test_citation_references_are_the_readmes_papers_with_the_same_authors():
    references = _citation()["references"]
    readme = _readme_references()
    assert len(references) == len(readme) == 2
    for ref, item in zip(references, readme):
        authors = ", ".join(f"{a['family-names']}, {a['given-names']}" for a in ref["authors"])
        assert item.startswith(f"{authors} {ref['year']},"), (authors, item[:200])
        assert " ".join(ref["title"].split()) in item
        assert f"{ref['volume']}, {ref['start']}." in item
