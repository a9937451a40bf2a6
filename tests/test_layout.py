"""The package's shape: argparse only in the CLI, no import cycles, no private
names crossing modules, modules of one concern (read from the source with ast)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "lensfinder"
MAX_MODULE_LINES = 600


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
PACKAGES = {name for name, p in MODULES.items() if p.name == "__init__.py"}


def _imports(path: Path, name: str | None = None):
    """(imported module, imported names, line) for every import anywhere in a file."""
    name = name or _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, [], node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            yield base, [a.name for a in node.names], node.lineno


def _edges(path: Path) -> set[str]:
    """lensfinder modules a file imports (module level or inside functions)."""
    out = set()
    for module, names, _ in _imports(path):
        if not module.startswith("lensfinder"):
            continue
        submodules = [f"{module}.{n}" for n in names if f"{module}.{n}" in MODULES]
        out.update(submodules or [module])
    return out & set(MODULES)


def test_the_modules_are_found():
    assert {"lensfinder.cli", "lensfinder.io", "lensfinder.simulation", "lensfinder.learning",
            "lensfinder.inspection", "lensfinder.surveys", "lensfinder.selection",
            "lensfinder.experiments", "lensfinder.plots"} <= set(MODULES)


def test_argparse_only_in_the_cli_package():
    offenders = [f"{name}:{line}" for name, path in MODULES.items() if not name.startswith("lensfinder.cli")
                 for module, _, line in _imports(path) if module == "argparse"]
    assert not offenders, f"argparse imported outside lensfinder.cli: {offenders}"


def test_no_private_name_imported_across_modules():
    offenders = [f"{name}:{line} imports {module}.{n}" for name, path in MODULES.items()
                 for module, names, line in _imports(path) if module.startswith("lensfinder")
                 for n in names if n.startswith("_") and not n.startswith("__")]
    assert not offenders, offenders


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of a module graph (depth-first), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycle():
    graph = {name: _edges(path) - {name} for name, path in MODULES.items()}
    cycle = _find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_a_cycle_is_detected_by_the_graph_walk(tmp_path):
    # the check above must be able to fail: two files importing each other
    (tmp_path / "lensfinder").mkdir()
    a = tmp_path / "lensfinder" / "a.py"
    a.write_text("def f():\n    from lensfinder.b import g\n")
    b = tmp_path / "lensfinder" / "b.py"
    b.write_text("from lensfinder.a import f\n")
    assert [m for m, _, _ in _imports(a, "lensfinder.a")] == ["lensfinder.b"]
    assert [m for m, _, _ in _imports(b, "lensfinder.b")] == ["lensfinder.a"]
    graph = {"lensfinder.a": {"lensfinder.b"}, "lensfinder.b": {"lensfinder.a"}, "lensfinder.c": {"lensfinder.a"}}
    assert _find_cycle(graph) == ["lensfinder.a", "lensfinder.b", "lensfinder.a"]
    assert _find_cycle({"lensfinder.a": {"lensfinder.b"}, "lensfinder.b": set()}) is None


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_has_one_concern_and_fits_on_a_few_screens(name):
    path = MODULES[name]
    n_lines = len(path.read_text().splitlines())
    assert n_lines <= MAX_MODULE_LINES, f"{path}: {n_lines} lines (at most {MAX_MODULE_LINES})"
    tree = ast.parse(path.read_text())
    assert ast.get_docstring(tree), f"{path}: no module docstring"
    if name in PACKAGES:
        return
    public = [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and not n.name.startswith("_")]
    if public:
        assigned = {t.id for n in tree.body if isinstance(n, (ast.Assign, ast.AnnAssign))
                    for t in (n.targets if isinstance(n, ast.Assign) else [n.target]) if isinstance(t, ast.Name)}
        assert "__all__" in assigned, f"{path}: public names but no __all__"


@pytest.mark.parametrize("package", sorted(PACKAGES - {"lensfinder", "lensfinder.cli"}))
def test_every_lazily_exported_name_resolves(package):
    import importlib

    module = importlib.import_module(package)
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert module.__all__ and not missing, f"{package} exports names it cannot resolve: {missing}"


def test_make_clean_keeps_snakemakes_conda_environments(tmp_path, repo_root):
    """`make clean` removes results/ and Snakemake's records, not the `--sdm conda` environments built once on a
    login node (docs/cluster.md): it removed all of .snakemake/."""
    import shutil
    import subprocess

    make = shutil.which("make")
    if make is None:
        pytest.skip("no make")
    for path in ("results/sim/shard_000.fits", ".snakemake/conda/abc/bin/python", ".snakemake/metadata/x",
                 ".snakemake/log/run.log"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("x")
    subprocess.run([make, "-f", str(repo_root / "Makefile"), "clean"], cwd=tmp_path, check=True, capture_output=True)
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert left == [".snakemake/conda/abc/bin/python"]
