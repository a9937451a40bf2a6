"""`inspection.grades` in the workflow: a missing file, or one merge_scores would refuse (a header without the
columns, a grade outside the scheme), stops the run when the workflow is parsed, not after the search."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from helpers.early_runs import early_test

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def snakemake(workdir, *args, check=True):
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    result = subprocess.run([str(BIN / "snakemake"), *args], cwd=workdir, env=env, capture_output=True, text=True,
                            timeout=300)
    assert not check or result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@early_test(13)
def test_missing_grades_file_stops_naming_key_and_path(tmp_path):
    workdir = tmp_path
    for name in ("Snakefile", "workflow", "config"):
        (shutil.copytree if (REPO / name).is_dir() else shutil.copy2)(REPO / name, workdir / name)
    result = snakemake(workdir, "-n", "--config", "inspection={'grades': 'my/grades.csv'}", check=False)
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "inspection.grades: my/grades.csv: file not found" in out
    (workdir / "my").mkdir()
    # a header alone: merge_scores would refuse it (and round 1's fine-tuning would train on no grade)
    (workdir / "my" / "grades.csv").write_text("object_id,inspector,grade\n")
    result = snakemake(workdir, "-n", "--config", "inspection={'grades': 'my/grades.csv'}", check=False)
    assert result.returncode != 0
    assert "config: inspection.grades: my/grades.csv: no grades (header only)" in result.stdout + result.stderr
    (workdir / "my" / "grades.csv").write_text("object_id,inspector,grade\nKiDS-1,ann,A\n")
    plan = snakemake(workdir, "-n", "--config", "inspection={'grades': 'my/grades.csv'}").stdout
    assert "merge_scores" in plan and "mock_grades" not in plan
    for text, error in (("id,who,grade\nKiDS-1,ann,A\n", "my/grades.csv: line 1: missing column(s) object_id, inspector"),
                        ("object_id,inspector,grade\nKiDS-1,ann,E\n", "my/grades.csv: line 2: grade 'E' is not in the "
                                                                      "li2020 scheme")):
        (workdir / "my" / "grades.csv").write_text(text)
        result = snakemake(workdir, "-n", "--config", "inspection={'grades': 'my/grades.csv'}", check=False)
        assert result.returncode != 0 and f"config: inspection.grades: {error}" in result.stdout + result.stderr
    # a later round's grades: checked the same way (a missing one let round 0's ranked list stand silently)
    (workdir / "my" / "grades.csv").write_text("object_id,inspector,grade\nKiDS-1,ann,A\n")
    both = ["inspection={'grades': 'my/grades.csv'}", "learning={'grades': ['my/round1.csv']}"]
    result = snakemake(workdir, "-n", "--config", *both, check=False)
    assert result.returncode != 0
    assert "config: learning.grades[0]: my/round1.csv: file not found" in result.stdout + result.stderr
    (workdir / "my" / "round1.csv").write_text("object_id,inspector,grade\nKiDS-1,ann,E\n")
    result = snakemake(workdir, "-n", "--config", *both, check=False)
    assert result.returncode != 0
    assert "config: learning.grades[0]: my/round1.csv: line 2: grade 'E'" in result.stdout + result.stderr
    (workdir / "my" / "round1.csv").write_text("object_id,inspector,grade\nKiDS-2,ann,B\n")
    assert "round_merge_scores" in snakemake(workdir, "-n", "--config", *both).stdout
    # more files than rounds: the extra ones are named as unused
    extra = [both[0], "learning={'grades': ['my/round1.csv', 'my/round1.csv']}"]  # rounds: 1, the default
    result = snakemake(workdir, "-n", "--config", *extra)
    assert "learning.grades lists 2 files but learning.rounds is 1" in result.stdout + result.stderr
    # the mock survey's simulated inspectors grade every round: a learning.grades file would be ignored
    result = snakemake(workdir, "-n", "--config", both[1], check=False)
    assert result.returncode != 0
    assert "config: learning.grades (set in --config): the mock survey's simulated inspectors grade every round" in (
        result.stdout + result.stderr)
