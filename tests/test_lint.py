"""The code passes pyflakes' checks (ruff, rules F and E9 from pyproject.toml): no unused imports or
names, no undefined names, no syntax errors."""

import subprocess
import sys


def _ruff(repo_root, *paths):
    return subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--config",
                           str(repo_root / "pyproject.toml"), *map(str, paths)],
                          cwd=repo_root, capture_output=True, text=True, timeout=120)


def test_the_code_has_no_unused_or_undefined_names(repo_root):
    result = _ruff(repo_root, "src", "tests", "benchmarks")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_check_finds_an_unused_import_and_an_undefined_name(repo_root, tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import os\n\n\ndef f():\n    return undefined_name\n")
    result = _ruff(repo_root, bad)
    assert result.returncode == 1
    assert "F401" in result.stdout and "F821" in result.stdout
