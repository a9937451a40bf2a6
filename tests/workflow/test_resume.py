"""Resuming after a kill: `--rerun-incomplete` redoes only the unfinished jobs.

Runs the tiny test configuration on a copy of the workflow, SIGKILLs the
whole Snakemake process group while training (and whatever runs beside it)
is under way, then reruns with `--rerun-incomplete` and checks that

- every job that had finished is not run again (its outputs keep their
  modification times),
- every job that was running is run again (after `--unlock`: a killed
  Snakemake leaves its lock behind; the rerun asks for their outputs),
- no half-written file is ever taken for a complete output: Snakemake
  refuses the outputs of the killed jobs without `--rerun-incomplete`, and
  every output of the finished run reads back (FITS, Parquet, CSV, PNG).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from helpers.early_runs import early_run, result
from helpers.workflow_run import copy_workflow

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
#: config/test.yaml, smaller: this test needs the search's stages (and a
#: training that runs for a while to be killed in), not a network that
#: separates lenses, nor the retraining rounds, which resume as any other
#: job (test_workflow.py's tiny run checks both)
SMALLER = """\
mock: {params: {size_pix: 600}}
simulation:
  sets:
    train: {n_images: 400, n_shards: 2, seed: 11}
    test: {n_images: 100, n_shards: 1, seed: 12}
training: {epochs: 2}
learning: {rounds: 0}
"""
CONFIG = ["--configfile", "config/test.yaml", "resume.yaml"]
#: rule whose start we wait for before killing (the longest job of the run)
KILL_DURING = "train"
#: seconds into that job at which to kill
KILL_AFTER_S = 3.0
RUN_TIMEOUT_S = 600

pytestmark = pytest.mark.slow


@dataclass
class Job:
    jobid: int
    rule: str
    outputs: list[str] = field(default_factory=list)


def parse_jobs(log: str) -> tuple[dict[int, Job], set[int]]:
    """Jobs a Snakemake log shows as started (by jobid) and the jobids it shows finished."""
    started: dict[int, Job] = {}
    current: Job | None = None
    outputs: list[str] = []
    for line in log.splitlines():
        if m := re.match(r"^(?:local)?rule (\w+):$", line):
            current, outputs = Job(-1, m.group(1)), []
        elif current is not None and (m := re.match(r"^\s+output: (.*)$", line)):
            outputs = [p.strip() for p in m.group(1).split(",")]
        elif current is not None and (m := re.match(r"^\s+jobid: (\d+)$", line)):
            current.jobid, current.outputs = int(m.group(1)), outputs
            started[current.jobid] = current
            current = None
    finished = {int(m) for m in re.findall(r"^Finished jobid: (\d+)", log, re.MULTILINE)}
    return started, finished


def _env() -> dict[str, str]:
    bindir = str(Path(sys.executable).parent)  # the venv's `lensfinder`
    return dict(os.environ, PATH=bindir + os.pathsep + os.environ["PATH"], TF_CPP_MIN_LOG_LEVEL="2")


def _snakemake(work: Path, *args: str, timeout: float = RUN_TIMEOUT_S) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*SNAKEMAKE, *args, *CONFIG],
        cwd=work,
        env=_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )


def _run_and_kill(work: Path, log_path: Path) -> str:
    """Start the workflow; SIGKILL its process group a little after KILL_DURING starts."""
    with open(log_path, "w") as log_file:
        proc = subprocess.Popen(
            [*SNAKEMAKE, "--cores", "2", *CONFIG],
            cwd=work,
            env=_env(),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: we kill the jobs too
        )
        deadline = time.monotonic() + RUN_TIMEOUT_S
        started_at = None
        try:
            while proc.poll() is None and time.monotonic() < deadline:
                log = log_path.read_text()
                if started_at is None and re.search(rf"^(?:local)?rule {KILL_DURING}:$", log, re.MULTILINE):
                    started_at = time.monotonic()
                if started_at is not None and time.monotonic() - started_at >= KILL_AFTER_S:
                    break
                time.sleep(0.2)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    log = log_path.read_text()
    if started_at is None:
        pytest.fail(f"rule {KILL_DURING} never started before the run ended:\n{log[-3000:]}")
    return log


def _check_readable(path: Path) -> None:
    """Open an output the way its readers do; a truncated file raises."""
    if path.is_dir():
        for child in path.iterdir():
            if not child.name.startswith("."):  # Snakemake's .snakemake_timestamp
                _check_readable(child)
        return
    suffix = path.suffix
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        pq.read_table(path)
    elif suffix == ".fits":
        from astropy.io import fits

        with fits.open(path) as hdul:
            for hdu in hdul:
                _ = hdu.data
    elif suffix == ".csv":
        import pandas as pd

        pd.read_csv(path)
    elif suffix == ".png":
        data = path.read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and data.endswith(b"IEND\xaeB`\x82"), f"{path}: truncated PNG"
    elif suffix == ".keras":
        import zipfile

        with zipfile.ZipFile(path) as archive:
            assert archive.testzip() is None, f"{path}: corrupt .keras archive"
    else:
        assert path.stat().st_size > 0, f"{path}: empty"


@early_run("resume", expected_s=100)
def _kill_and_resume(tmp_path: Path) -> None:
    """The whole test, started with the session (tests/helpers/early_runs.py); raises what it finds."""
    work = tmp_path / "work"
    work.mkdir()
    copy_workflow(work)  # envs/ too: Snakemake records each rule's conda: file in its metadata
    (work / "resume.yaml").write_text(SMALLER)

    # 1. Kill the run in the middle.
    log1 = _run_and_kill(work, tmp_path / "run1.log")
    started, finished = parse_jobs(log1)
    killed = {jid: job for jid, job in started.items() if jid not in finished}
    assert killed, f"no job was running at the kill:\n{log1[-3000:]}"
    done_outputs = {out for jid in finished if jid in started for out in started[jid].outputs}
    assert done_outputs, "no job had finished before the kill"
    mtimes = {}
    for out in sorted(done_outputs):
        path = work / out
        assert path.exists(), f"{out}: output of a finished job is missing after the kill"
        mtimes[out] = path.stat().st_mtime_ns

    # 2. Whatever a killed job left behind is not taken for complete: either
    #    its outputs are absent (atomic writes: nothing under the final name
    #    until the file is whole), or Snakemake flags them as incomplete.
    left_behind = sorted(out for job in killed.values() for out in job.outputs if (work / out).exists())
    dry = _snakemake(work, "-n")
    if left_behind:
        assert dry.returncode != 0 and "incomplete" in dry.stdout.lower(), (
            f"outputs of killed jobs {left_behind} were accepted without --rerun-incomplete:\n{dry.stdout[-3000:]}"
        )
        for out in left_behind:
            assert out in dry.stdout, f"{out}: not listed as incomplete:\n{dry.stdout[-3000:]}"
    else:
        assert dry.returncode == 0, dry.stdout[-3000:]

    # 3. Resume: a killed Snakemake leaves its lock behind (as after a power
    #    loss); --unlock removes it, then --rerun-incomplete redoes the killed
    #    jobs (their outputs are the targets: the jobs that had not started
    #    yet are the tiny run's business, test_workflow.py).
    unlock = _snakemake(work, "--unlock")
    assert unlock.returncode == 0, unlock.stdout[-3000:]
    targets = sorted({out for job in killed.values() for out in job.outputs})
    rerun = _snakemake(work, *targets, "--cores", "2", "--rerun-incomplete")
    (tmp_path / "run2.log").write_text(rerun.stdout)
    assert rerun.returncode == 0, f"rerun failed:\n{rerun.stdout[-4000:]}"
    restarted, refinished = parse_jobs(rerun.stdout)
    rerun_outputs = {out for job in restarted.values() for out in job.outputs}

    # Finished jobs were not redone ...
    redone = sorted(done_outputs & rerun_outputs)
    assert not redone, f"outputs of jobs finished before the kill were made again: {redone}"
    for out, mtime in mtimes.items():
        assert (work / out).stat().st_mtime_ns == mtime, f"{out}: rewritten by the rerun"
    # ... the killed ones were, and all of the rerun's jobs finished.
    killed_rules = {(job.rule, tuple(job.outputs)) for job in killed.values()}
    rerun_rules = {(job.rule, tuple(job.outputs)) for job in restarted.values()}
    assert killed_rules <= rerun_rules, f"killed jobs not rerun: {sorted(killed_rules - rerun_rules)}"
    assert set(restarted) == refinished, "some jobs of the rerun did not finish"

    # 4. Nothing left to do, and every output reads back whole.
    final = _snakemake(work, *targets, "-n")
    assert final.returncode == 0 and "Nothing to be done" in final.stdout, final.stdout[-3000:]
    for out in sorted(done_outputs | rerun_outputs):
        _check_readable(work / out)
    # Passed: its files go now, not at the end of the session (disk; a failure above keeps them).
    shutil.rmtree(work)


@pytest.mark.early_run("resume")
def test_rerun_incomplete_redoes_only_unfinished_jobs() -> None:
    result("resume")
