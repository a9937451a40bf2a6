"""Conda environment files and the pip pins agree with pyproject.toml.

No conda channel is reachable from CI, so the environments in envs/ (one per
rule group, for `snakemake --sdm conda`) and environment.yml are checked
statically: they parse, use conda-forge only, name only packages that
pyproject.toml declares (with the same version bounds), and every rule's
`conda:` file exists. envs/constraints.txt, the pip pins `make setup` installs,
pins every requirement within pyproject's bounds.
"""

from __future__ import annotations

import functools
import os
import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
ENV_DIR = REPO / "envs"
RULE_ENVS = sorted(ENV_DIR.glob("*.yaml"))
ALL_ENVS = [*RULE_ENVS, REPO / "environment.yml"]

#: conda-forge package name -> the PyPI name pyproject.toml uses
CONDA_TO_PYPI = {"matplotlib-base": "matplotlib"}
#: installer tooling an environment may list beyond pyproject's dependencies
TOOLING = {"python", "pip", "setuptools", "wheel"}


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def _declared(groups: tuple[str, ...] = ("test", "crossmatch")) -> dict[str, SpecifierSet]:
    """pyproject's requirements (dependencies, the given extras, build-system) by name."""
    project = _pyproject()
    lines = list(project["project"]["dependencies"])
    for group in groups:
        lines += project["project"]["optional-dependencies"].get(group, [])
    lines += _pyproject()["build-system"]["requires"]
    declared: dict[str, SpecifierSet] = {}
    for line in lines:
        req = Requirement(line)
        declared[canonicalize_name(req.name)] = req.specifier
    declared["python"] = SpecifierSet(project["project"]["requires-python"])
    return declared


def _conda_spec(entry: str) -> tuple[str, SpecifierSet]:
    """`name >=1.2` / `name=1.2` (conda match spec, simple forms) -> (PyPI name, specifier)."""
    match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*(.*?)\s*", entry)
    assert match, f"unparsable conda dependency {entry!r}"
    name, spec = match.group(1), match.group(2).replace(" ", "")
    if re.fullmatch(r"=?[0-9][0-9.*]*", spec):  # conda's `=1.2` / `1.2` pins
        spec = "==" + spec.lstrip("=").replace(".*", "")
    name = CONDA_TO_PYPI.get(name, name)
    return canonicalize_name(name), SpecifierSet(spec)


def _packages(env_file: Path) -> dict[str, SpecifierSet]:
    """Every package of a conda env file (conda and pip sections) -> its specifier."""
    env = yaml.safe_load(env_file.read_text())
    packages: dict[str, SpecifierSet] = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            assert set(dep) == {"pip"}, f"{env_file.name}: unexpected dependency section {sorted(dep)}"
            for line in dep["pip"]:
                req = Requirement(line)
                assert not req.extras, f"{env_file.name}: pip: {line}: extras are not expected"
                name = canonicalize_name(req.name)
                assert name not in packages, f"{env_file.name}: {name} listed twice"
                packages[name] = req.specifier
        else:
            name, spec = _conda_spec(dep)
            assert name not in packages, f"{env_file.name}: {name} listed twice"
            packages[name] = spec
    return packages


@pytest.mark.parametrize("env_file", ALL_ENVS, ids=lambda p: p.name)
def test_env_file_parses_and_uses_conda_forge(env_file: Path) -> None:
    env = yaml.safe_load(env_file.read_text())
    assert isinstance(env, dict), f"{env_file.name}: top level must be a mapping"
    assert isinstance(env.get("name"), str) and env["name"], f"{env_file.name}: name: expected a string"
    assert env.get("channels") == ["conda-forge"], f"{env_file.name}: channels: expected [conda-forge] only"
    assert env.get("dependencies"), f"{env_file.name}: dependencies: expected a non-empty list"
    assert "python" in _packages(env_file), f"{env_file.name}: dependencies: python is not pinned"


@pytest.mark.parametrize("env_file", ALL_ENVS, ids=lambda p: p.name)
def test_env_packages_are_declared_with_the_same_bounds(env_file: Path) -> None:
    declared = _declared()
    for name, spec in _packages(env_file).items():
        if name in declared:
            assert spec == declared[name], (
                f"{env_file.name}: {name}: version '{spec}' but pyproject.toml says '{declared[name]}'"
            )
        else:
            assert name in TOOLING, f"{env_file.name}: {name}: not a dependency in pyproject.toml"
            assert not spec, f"{env_file.name}: {name}: pinned '{spec}' but pyproject.toml does not pin it"


def test_environment_yml_has_every_dependency() -> None:
    """environment.yml = pyproject's dependencies + the `test` extra, nothing missing."""
    packages = _packages(REPO / "environment.yml")
    missing = sorted(set(_declared(groups=("test",))) - set(packages))
    assert not missing, f"environment.yml: missing pyproject.toml dependencies: {missing}"


def test_tensorflow_only_in_the_learning_env() -> None:
    """TensorFlow is large: only the training/scoring rules' environment carries it."""
    with_tf = sorted(p.name for p in RULE_ENVS if "tensorflow" in _packages(p))
    assert with_tf == ["learn.yaml"]


def _rule_conda_files() -> dict[str, Path]:
    """`conda:` file of every rule in workflow/rules/*.smk, resolved like Snakemake does."""
    files = {}
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        for match in re.finditer(r"^\s*conda:\s*\n\s*\"([^\"]+)\"", smk.read_text(), re.MULTILINE):
            files[f"{smk.name}: {match.group(1)}"] = (smk.parent / match.group(1)).resolve()
    return files


def test_every_rule_env_exists_and_every_env_is_used() -> None:
    files = _rule_conda_files()
    if not files:
        pytest.skip("no rule declares conda: yet")
    missing = sorted(where for where, path in files.items() if not path.is_file())
    assert not missing, f"conda: files that do not exist: {missing}"
    unused = sorted({p.resolve() for p in RULE_ENVS} - set(files.values()))
    assert not unused, f"envs/ files no rule uses: {[p.name for p in unused]}"


@pytest.mark.parametrize("env_file", RULE_ENVS, ids=lambda p: p.name)
def test_rule_env_installs_lensfinder_after_deploy(env_file: Path) -> None:
    """Rules call `lensfinder STEP`: Snakemake's post-deploy script installs it."""
    script = env_file.with_name(env_file.stem + ".post-deploy.sh")
    assert script.is_file(), f"{script.name}: missing"
    assert os.access(script, os.X_OK), f"{script.name}: not executable"
    text = script.read_text()
    assert "pip install" in text and "--no-deps" in text, f"{script.name}: does not install lensfinder"


# --- each rule's environment has what its `lensfinder` step imports -----------


def _rules() -> list[tuple[str, str, str]]:
    """(rule, conda file name, lensfinder step) of every rule that calls a step."""
    rules = []
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        blocks = re.split(r"^\s*rule (\w+):\s*$", smk.read_text(), flags=re.MULTILINE)
        for name, body in zip(blocks[1::2], blocks[2::2]):
            conda = re.search(r"conda:\s*\n\s*\"([^\"]+)\"", body)
            step = re.search(r"\"lensfinder ([a-z0-9-]+)", body)
            if conda and step:
                rules.append((name, Path(conda.group(1)).name, step.group(1)))
    return rules


@functools.cache
def _direct_imports(module: str) -> tuple[frozenset[str], frozenset[str]]:
    """What a lensfinder module's own source imports: top-level third-party names, and lensfinder modules."""
    import ast
    import importlib.util

    spec = importlib.util.find_spec(module)
    assert spec and spec.origin, f"{module}: not importable"
    tree = ast.parse(Path(spec.origin).read_text())
    package = module if spec.origin.endswith("__init__.py") else module.rpartition(".")[0]
    names: set[str] = set()
    own: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: lensfinder's own module(s)
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                stem = f"{base}.{node.module}" if node.module else base
                targets = [stem] + ([f"{stem}.{a.name}" for a in node.names] if not node.module else [])
            else:
                targets = [node.module]
        else:
            continue
        for target in targets:
            if target.split(".")[0] == "lensfinder":
                if importlib.util.find_spec(target) is not None:
                    own.add(target)
            else:
                names.add(target.split(".")[0])
    return frozenset(names), frozenset(own)


def _third_party_imports(module: str) -> set[str]:
    """Top-level names a lensfinder module imports, following lensfinder's own imports (each module
    parsed once for the whole session)."""
    names: set[str] = set()
    todo, seen = [module], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        third_party, own = _direct_imports(current)
        names |= third_party
        todo.extend(own)
    return names


def test_each_rule_env_has_what_its_step_imports() -> None:
    """A rule's conda env lists every declared dependency its step's code imports."""
    from importlib.metadata import packages_distributions

    from lensfinder.cli import STEPS

    rules = _rules()
    if not rules:
        pytest.skip("no rule calls a lensfinder step with a conda: env yet")
    declared = set(_declared())
    dists = packages_distributions()
    missing = []
    for rule, env_name, step in rules:
        assert step in STEPS, f"rule {rule}: `lensfinder {step}` is not a step of lensfinder.cli"
        env_file = ENV_DIR / env_name
        if not env_file.is_file():
            continue  # reported by test_every_rule_env_exists_and_every_env_is_used
        env_packages = set(_packages(env_file))
        for name in sorted(_third_party_imports(STEPS[step][0])):
            for dist in dists.get(name, []):
                dist = canonicalize_name(dist)
                if dist in declared and dist not in env_packages:
                    missing.append(f"rule {rule} (lensfinder {step}) imports {name}: {dist} not in envs/{env_name}")
    assert not missing, "\n".join(sorted(set(missing)))


# --- envs/constraints.txt: the exact versions `make setup` installs -------------

CONSTRAINTS = ENV_DIR / "constraints.txt"


def _pins() -> dict[str, str]:
    """envs/constraints.txt -> {canonical name: version}; every line must be `name==version`."""
    pins: dict[str, str] = {}
    for number, line in enumerate(CONSTRAINTS.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        specs = list(req.specifier)
        assert len(specs) == 1 and specs[0].operator == "==" and not req.marker and not req.extras, (
            f"envs/constraints.txt line {number}: {line!r}: expected name==version"
        )
        name = canonicalize_name(req.name)
        assert name not in pins, f"envs/constraints.txt line {number}: {name} pinned twice"
        pins[name] = specs[0].version
    return pins


def test_constraints_pin_every_requirement_within_pyproject_bounds() -> None:
    pins = _pins()
    assert "lensfinder" not in pins, "envs/constraints.txt pins lensfinder itself (pip freeze without --exclude-editable?)"
    problems = []
    for name, spec in _declared(groups=("test", "crossmatch")).items():
        if name in TOOLING:
            continue
        if name not in pins:
            problems.append(f"{name}: not pinned")
        elif not spec.contains(pins[name], prereleases=True):
            problems.append(f"{name}=={pins[name]} outside pyproject.toml's '{spec}'")
    assert not problems, "envs/constraints.txt: " + "; ".join(problems) + " (refresh it: make lock)"


def test_installed_versions_are_the_pins() -> None:
    """Under `make test` the venv holds exactly the pinned versions (what CI tests)."""
    from importlib.metadata import PackageNotFoundError, version

    constraints = os.environ.get("LENSFINDER_PIP_CONSTRAINTS", "")
    if not constraints:
        pytest.skip("not installed by `make setup` with pins (LENSFINDER_PIP_CONSTRAINTS unset or empty)")
    if Path(constraints).resolve() != CONSTRAINTS.resolve():
        pytest.skip(f"installed with other constraints ({constraints})")
    drift = []
    for name, pinned in _pins().items():
        try:
            installed = version(name)
        except PackageNotFoundError:
            continue  # pinned for another platform's dependency tree
        if installed != pinned:
            drift.append(f"{name} {installed} (pinned {pinned})")
    assert not drift, f"installed versions differ from envs/constraints.txt: {drift}; run `make setup`"


def _make_plan(tmp_path: Path, stamp: str, *args: str) -> str:
    """`make -n setup ARGS` in a copy of the Makefile whose venv stamp holds `stamp`."""
    import shutil
    import subprocess

    if shutil.which("make") is None:
        pytest.skip("make not installed")
    for name in ("Makefile", "pyproject.toml", "envs/constraints.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / name, tmp_path / name)
    (tmp_path / ".venv").mkdir(exist_ok=True)
    (tmp_path / ".venv" / ".installed").write_text(stamp + "\n")  # newer than its prerequisites
    result = subprocess.run(["make", "-n", "setup", *args], cwd=tmp_path, capture_output=True, text=True, check=True)
    return result.stdout


def test_make_setup_installs_with_the_pins_and_reinstalls_when_they_change(tmp_path: Path) -> None:
    assert "pip install" not in _make_plan(tmp_path, "envs/constraints.txt")  # up to date
    plan = _make_plan(tmp_path, "")  # installed without pins: `make setup` pins it
    assert "-c envs/constraints.txt -e '.[test]'" in plan
    newest = _make_plan(tmp_path, "envs/constraints.txt", "PIP_CONSTRAINTS=")
    assert "pip install" in newest and " -c " not in newest
