"""Run the workflow as a user does: a copy of Snakefile, workflow/, config/ and envs/ in a
temporary directory, and snakemake from this environment's bin directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["REPO", "BIN", "snakemake", "copy_workflow", "snakefile_asking"]

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def snakemake(workdir, *args, check=True, timeout=900):
    """``snakemake *args`` in ``workdir``; with ``check``, an AssertionError carrying its output on failure."""
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(
        [str(BIN / "snakemake"), *args], cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout
    )
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-6000:]}")
    return result


def copy_workflow(dest: Path) -> Path:
    """Copy the workflow's files into ``dest`` (returned)."""
    for name in ("Snakefile", "workflow", "config", "envs"):
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name)
        elif src.exists():
            shutil.copy2(src, dest / name)
    return dest


def snakefile_asking(dest: Path, code: str) -> Path:
    """A Snakefile in ``dest`` that includes the repository's and then runs ``code`` (Python with the parsed
    ``workflow`` in scope: ask Snakemake itself about rules, params or reports), with workflow/, config/ and
    envs/ linked beside it (what the Snakefile finds beside itself, workflow.basedir). Returns its path."""
    for name in ("workflow", "config", "envs"):
        (dest / name).symlink_to(REPO / name)
    snakefile = dest / "Snakefile"
    snakefile.write_text(f'include: "{REPO / "Snakefile"}"\n' + code)
    return snakefile
