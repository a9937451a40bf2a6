#!/usr/bin/env bash
# Post-deploy script of the envs/*.yaml conda environments (linked as
# envs/<env>.post-deploy.sh). Snakemake runs it inside the new environment,
# from the workflow's working directory, right after creating it: install
# lensfinder itself (editable, so the environment follows the checkout),
# without dependencies (the environment file lists them).
set -euo pipefail
root=$(git rev-parse --show-toplevel 2>/dev/null || pwd)
if [[ ! -f $root/pyproject.toml ]]; then
    echo "post-deploy: $root has no pyproject.toml; run snakemake from the lensfinder checkout" >&2
    exit 1
fi
python -m pip install --quiet --no-deps --no-build-isolation -e "$root"
