"""Every local link in the project's Markdown resolves: the file exists, and so does the heading it points to."""

import re

import pytest

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.MULTILINE)
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def _markdown_files(root):
    skip = {".venv", "results", ".snakemake", ".git", "node_modules", "data"}
    return sorted(p for p in root.rglob("*.md") if not skip & set(p.relative_to(root).parts))


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped (but - and _), spaces to -."""
    text = re.sub(r"`|\*\*|\*", "", heading.strip().lower())
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(path):
    text = FENCE.sub("", path.read_text())
    return {_slug(h) for h in HEADING.findall(text)}


def _links(path):
    text = FENCE.sub("", path.read_text())
    for match in LINK.finditer(text):
        target = match.group(1)
        if not re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto: ...
            yield target


def _broken(path, root):
    """The links of ``path`` whose file or heading does not exist, each with the reason."""
    broken = []
    for target in _links(path):
        file, _, anchor = target.partition("#")
        dest = (path.parent / file).resolve() if file else path
        if not dest.exists():
            broken.append(f"{path.relative_to(root)}: {target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(f"{path.relative_to(root)}: {target} (no such heading in {dest.name})")
    return broken


def test_the_slug_is_githubs():
    assert _slug("Independent validation (`domain_shift`)") == "independent-validation-domain_shift"
    assert _slug("What a real KiDS search should use") == "what-a-real-kids-search-should-use"


def test_a_broken_link_is_found(tmp_path):
    (tmp_path / "a.md").write_text("# Top\n\n[ok](#top) [bad](#nowhere) [gone](b.md) [web](https://x.org/#y)\n"
                                   "```\n[in code](c.md)\n```\n")
    assert _broken(tmp_path / "a.md", tmp_path) == ["a.md: #nowhere (no such heading in a.md)",
                                                    "a.md: b.md (no such file)"]


@pytest.mark.parametrize("name", ["README.md", "docs"])
def test_every_local_link_resolves(repo_root, name):
    files = [repo_root / name] if name.endswith(".md") else _markdown_files(repo_root / name)
    assert files
    links = [link for path in files for link in _links(path)]
    assert links, f"{name}: no local links found (is the pattern still right?)"
    broken = [problem for path in files for problem in _broken(path, repo_root)]
    assert not broken, "\n".join(broken)


def test_docs_list_every_recipes_overrides(repo_root):
    """docs/simulation.md's "The recipes override:" list names every recipe and each parameter it sets
    (the list had left out `broad`, the default run's recipe)."""
    from lensfinder.simulation.recipe_table import RECIPES

    text = (repo_root / "docs/simulation.md").read_text()
    listed = text[text.index("The recipes override:"):].split("\n\n", 2)[1]
    lines = {m.group(1): m.group(0) for m in re.finditer(r"^- `(\w+)`.*$", listed, re.M)}
    assert set(RECIPES) <= set(lines), f"docs/simulation.md lists no overrides of {sorted(set(RECIPES) - set(lines))}"
    for name, overrides in RECIPES.items():
        missing = [key for key in overrides if f"`{key}=" not in lines[name]]
        assert not missing, f"docs/simulation.md: recipe {name}'s line lacks {missing}"
