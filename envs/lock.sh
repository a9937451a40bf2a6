#!/usr/bin/env bash
# Refresh envs/constraints.txt, the exact versions `make setup` installs
# (`make lock` runs this). It installs lensfinder with its `test` extra,
# unconstrained, into a throwaway venv, so every requirement resolves to
# the newest release pyproject.toml allows, and writes that venv's
# `pip freeze`. Run `make test` afterwards: the pins are what CI and the
# README's quickstart install, so they land only once the suite passes
# with them.
#
#   envs/lock.sh [PYTHON]      # PYTHON: the interpreter (default python3.11)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
python=${1:-$(command -v python3.11 || command -v python3)}
out=$root/envs/constraints.txt
venv=$(mktemp -d "${TMPDIR:-/tmp}/lensfinder-lock.XXXXXX")
trap 'rm -rf "$venv" "$out.tmp"' EXIT

"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -e "$root[test]"
{
    echo "# Exact versions of lensfinder's requirements (pyproject.toml's dependencies"
    echo "# and its test extra, and what they pull in), as \`make setup\` installs them:"
    echo "# pip install -c envs/constraints.txt -e '.[test]'. Written by envs/lock.sh"
    echo "# (\`make lock\`) on $(date -u +%Y-%m-%d), $("$venv/bin/python" -c 'import platform; print(f"Python {platform.python_version()}, {platform.system()} {platform.machine()}")')."
    echo "# \`make setup PIP_CONSTRAINTS=\` installs the newest releases instead."
    "$venv/bin/python" -m pip freeze --exclude-editable
} > "$out.tmp"
mv "$out.tmp" "$out"
echo "envs/constraints.txt: $(grep -c '==' "$out") pinned packages"
