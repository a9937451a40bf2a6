"""Bad input and interrupted writes on the command line: one line naming the file, exit status 2, no traceback;
a terminated step leaves no temporary file, and a rerun clears what a kill -9 left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lensfinder.cli import _exit_on_sigterm, main
from lensfinder.io import atomic_path, write_cube, write_table

BIN = Path(sys.executable).parent


def _run(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "lensfinder"), *argv], cwd=cwd, capture_output=True, text=True, timeout=300)


def _one_clear_line(result, *needles: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    line = [x for x in result.stderr.splitlines() if "error:" in x]
    assert len(line) == 1 and all(n in line[0] for n in needles), result.stderr[-2000:]


def test_an_output_path_that_cannot_be_made_is_one_line(tmp_path):
    (tmp_path / "blocker").write_text("a file where a folder is due\n")
    result = _run("simulate", "--recipe", "skeleton", "--n", "2", "--out", "blocker/sim", cwd=tmp_path)
    _one_clear_line(result, "lensfinder simulate: error:", "blocker")


def test_truncated_cube_missing_column_and_binary_csv_are_one_line(tmp_path, capsys):
    images = np.random.default_rng(0).normal(size=(20, 33, 33)).astype(np.float32)
    cube = write_cube(images, tmp_path / "shard_000.fits", 0.2, 30.0)
    write_table(pd.DataFrame({"object_id": [f"o{k}" for k in range(20)], "is_lens": [k % 2 == 0 for k in range(20)]}),
                tmp_path / "shard_000.parquet")
    data = cube.read_bytes()
    (tmp_path / "cut.fits").write_bytes(data[: len(data) // 2])
    write_table(pd.read_parquet(tmp_path / "shard_000.parquet"), tmp_path / "cut.parquet")
    assert main(["entropy", "--shards", str(tmp_path / "cut.fits"), "--out", str(tmp_path / "e.parquet")]) == 2
    assert "cut.fits: truncated: 46080 bytes, its header promises 90000" in capsys.readouterr().err

    write_table(pd.DataFrame({"object_id": ["o1"], "p_cnn": [0.5], "model": ["m"]}), tmp_path / "pred.parquet")
    write_table(pd.DataFrame({"x": [1]}), tmp_path / "nocol.parquet")
    argv = ["calibrate", "--predictions", str(tmp_path / "pred.parquet"), "--labels", str(tmp_path / "nocol.parquet"),
            "--out", str(tmp_path / "c.json"), "--summary", str(tmp_path / "s.parquet"),
            "--reliability", str(tmp_path / "r.parquet")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "nocol.parquet: missing column(s) object_id, is_lens" in err and "FieldRef" not in err

    (tmp_path / "binary.csv").write_bytes(b"name,ra,dec\n\xff\xfe\x00,1,2\n")
    write_table(pd.DataFrame({"object_id": ["o1"], "ra": [1.0], "dec": [2.0]}), tmp_path / "cand.parquet")
    assert main(["crossmatch", "--candidates", str(tmp_path / "cand.parquet"), "--known", str(tmp_path / "binary.csv"),
                 "--no-lenscat", "--out", str(tmp_path / "x.parquet")]) == 2
    assert "binary.csv: byte 0xff is not UTF-8: not a CSV text file" in capsys.readouterr().err

    assert main(["experiment-figure", "--kind", "psf_test", "--tables", str(tmp_path / "nocol.parquet"),
                 "--out", str(tmp_path / "f.png")]) == 2
    assert "no column 'psf_factor' for figure psf_test" in capsys.readouterr().err

    # evaluate --bins 0 was a ValueError traceback after the metrics files had been written
    argv = ["evaluate", "--predictions", str(tmp_path / "pred.parquet"), "--labels", str(tmp_path / "shard_000.parquet"),
            "--out", str(tmp_path / "m.parquet"), "--roc", str(tmp_path / "roc.parquet"), "--bins", "0"]
    assert main(argv) == 2
    assert "--bins: 0: expected at least 1 bin" in capsys.readouterr().err and not (tmp_path / "m.parquet").exists()


def test_sigterm_unwinds_an_atomic_write_and_a_rerun_clears_a_kill_9s_leftover(tmp_path):
    target = tmp_path / "table.parquet"
    restore = _exit_on_sigterm()
    try:
        with pytest.raises(SystemExit) as stopped:
            with atomic_path(target) as tmp:
                tmp.write_bytes(b"half")
                os.kill(os.getpid(), signal.SIGTERM)
    finally:
        restore()
    assert stopped.value.code == 128 + signal.SIGTERM
    assert list(tmp_path.iterdir()) == []
    leftover = tmp_path / ".table.parquet.x1y2z3.part"  # what a kill -9 during a write leaves
    leftover.write_bytes(b"half")
    write_table(pd.DataFrame({"a": [1]}), target)
    assert [p.name for p in tmp_path.iterdir()] == ["table.parquet"]
    assert signal.getsignal(signal.SIGTERM) is not None


def test_a_reader_that_closes_the_pipe_is_not_an_error(tmp_path):
    """`lensfinder info | head -1` printed "error: Broken pipe" (exit 2) most of the time."""
    for _ in range(3):
        shell = subprocess.run(f"'{BIN / 'lensfinder'}' info | head -c 1 > /dev/null; echo ${{PIPESTATUS[0]}}",
                               shell=True, executable="/bin/bash", cwd=tmp_path, capture_output=True, text=True,
                               timeout=120)
        assert "error" not in shell.stderr and "Traceback" not in shell.stderr, shell.stderr
        assert shell.stdout.strip() in ("0", "141")
