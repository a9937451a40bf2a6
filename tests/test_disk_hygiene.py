"""The test session's own use of disk: what the early runs and the modules leave behind, and when.

CI machines have little disk to spare (a run of the suite once stopped at
"No space left on device"), and the session's runs, shards and networks
come to gigabytes if nothing is removed before the session ends. This runs
a small pytest session in a subprocess with the two plugins the suite uses
(tests/helpers/early_runs.py, tests/helpers/tmp_dirs.py) and checks which
directories it removes, and that it keeps those a failed test used.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

INNER_RUNS = '''
import os
from pathlib import Path

import pytest

from helpers.early_runs import early_run, result

NOTES = Path(os.environ["NOTES"])


@early_run("shared", expected_s=2)
def shared(workdir):
    (workdir / "output").write_text("made")
    return workdir


@early_run("failing", expected_s=1)
def failing(workdir):
    return workdir


@early_run("unselected", expected_s=1)
def unselected(workdir):
    raise AssertionError("a run no selected test takes must not start")


@pytest.mark.early_run("shared")
def test_first_of_two():
    (NOTES / "shared").write_text(str(result("shared")))
    assert (result("shared") / "output").read_text() == "made"


def test_the_run_stays_while_a_test_still_takes_it():
    assert Path((NOTES / "shared").read_text(), "output").exists()


@pytest.mark.early_run("shared")
def test_last_of_two():
    assert (result("shared") / "output").exists()


def test_the_run_goes_after_its_last_test():
    assert not Path((NOTES / "shared").read_text()).exists()


@pytest.mark.early_run("failing")
def test_fails():
    (NOTES / "failing").write_text(str(result("failing")))
    assert False, "meant to fail"


def test_a_run_a_failed_test_took_is_kept():
    assert Path((NOTES / "failing").read_text()).is_dir()


@pytest.mark.early_run("unselected")
def test_deselected():
    result("unselected")
'''

INNER_MODULE = '''
import os
from pathlib import Path

import pytest

NOTES = Path(os.environ["NOTES"])


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    directory = tmp_path_factory.mktemp("{name}")
    (directory / "data").write_text("x")
    (NOTES / "{name}").write_text(str(directory))
    return directory


def test_uses_it(made):
    assert (made / "data").exists(){fail}
'''

INNER_AFTER = '''
import os
from pathlib import Path

NOTES = Path(os.environ["NOTES"])


def test_a_passing_modules_directory_is_gone():
    assert not Path((NOTES / "passing").read_text()).exists()


def test_a_failing_modules_directory_is_kept():
    assert Path((NOTES / "failing_module").read_text(), "data").exists()


def test_modules_that_take_early_runs_come_after_the_others():
    assert not (NOTES / "shared").exists()  # test_a_runs.py, first by name, has not run yet
'''


INNER_LAST = '''
import os
from pathlib import Path

import pytest

from helpers.early_runs import early_run, result

NOTES = Path(os.environ["NOTES"])


@early_run("last", expected_s=1)
def last(workdir):
    return workdir


@pytest.mark.early_run("last")
def test_the_sessions_last_test_takes_a_run():
    (NOTES / "last").write_text(str(result("last")))
'''


def _inner_session(tmp_path, repo_root, *args):
    """A pytest session of its own over the test files written in ``tmp_path``, with the early-runs plugin
    (and ``args``); its notes directory and the finished process."""
    (tmp_path / "pytest.ini").write_text(textwrap.dedent("""\
        [pytest]
        markers =
            early_run(name): takes an early run
        """))
    notes = tmp_path / "notes"
    notes.mkdir()
    env = {**os.environ, "NOTES": str(notes), "PYTHONPATH": str(repo_root / "tests")}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-rA", "-p", "no:cacheprovider", "-p", "helpers.early_runs",
         "--basetemp", str(tmp_path / "base"), *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    return notes, proc


def test_early_runs_and_module_directories_are_removed_once_no_test_needs_them(tmp_path, repo_root):
    (tmp_path / "test_a_runs.py").write_text(INNER_RUNS)
    (tmp_path / "test_b_module.py").write_text(INNER_MODULE.format(name="passing", fail=""))
    failing = INNER_MODULE.format(name="failing_module", fail='\n    assert False, "meant to fail"')
    (tmp_path / "test_c_module.py").write_text(failing)
    (tmp_path / "test_d_after.py").write_text(INNER_AFTER)
    (tmp_path / "test_e_last.py").write_text(INNER_LAST)
    notes, proc = _inner_session(tmp_path, repo_root, "-p", "helpers.tmp_dirs", "-k", "not deselected")
    outcomes = {}
    for line in proc.stdout.splitlines():
        word, _, rest = line.partition(" ")
        if word in ("PASSED", "FAILED", "ERROR"):
            outcomes[rest.split(" - ")[0]] = word
    expected = {f"test_a_runs.py::{name}": "PASSED" for name in (
        "test_first_of_two", "test_the_run_stays_while_a_test_still_takes_it", "test_last_of_two",
        "test_the_run_goes_after_its_last_test", "test_a_run_a_failed_test_took_is_kept")}
    expected |= {"test_a_runs.py::test_fails": "FAILED", "test_b_module.py::test_uses_it": "PASSED",
                 "test_c_module.py::test_uses_it": "FAILED",
                 "test_d_after.py::test_a_passing_modules_directory_is_gone": "PASSED",
                 "test_d_after.py::test_a_failing_modules_directory_is_kept": "PASSED",
                 "test_d_after.py::test_modules_that_take_early_runs_come_after_the_others": "PASSED",
                 "test_e_last.py::test_the_sessions_last_test_takes_a_run": "PASSED"}
    assert outcomes == expected, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert f"GB free under {tmp_path}" in proc.stdout  # the header says how much disk there is
    # the summary says when each run that started began and how long it took; the deselected one never started
    summary = proc.stdout.partition("early runs (start after session start, wall time, expected)")[2]
    timed = {line.split()[0]: line for line in summary.splitlines() if "(expected" in line}
    assert set(timed) == {"shared", "failing", "last"}, proc.stdout[-3000:]
    assert "(expected 2 s)" in timed["shared"] and " s  " in timed["shared"]
    # the session ended: what failed tests used is still there to look at; the last test's run is gone
    assert (tmp_path / "base").is_dir() and os.path.isdir((notes / "failing").read_text())
    assert not os.path.exists((notes / "last").read_text())


INNER_QUEUED = '''
import os
import threading
import time
from pathlib import Path

import pytest

from helpers.early_runs import MAX_AT_ONCE, early_run, early_test, result

NOTES = Path(os.environ["NOTES"])
HELD = [f"held_{i}" for i in range(MAX_AT_ONCE)]


def held(workdir):
    deadline = time.monotonic() + 60
    while not (NOTES / "release").exists():
        assert time.monotonic() < deadline, "never released"
        time.sleep(0.05)
    return threading.current_thread().name


for name in HELD:  # the longest: they take every worker until the first test lets them go
    early_run(name, expected_s=10)(held)


@early_run("queued", expected_s=1)
def queued(workdir):
    return threading.current_thread().name


@pytest.mark.early_run("queued")
def test_takes_the_queued_run():
    try:
        assert result("queued") == threading.current_thread().name == "MainThread"
    finally:
        (NOTES / "release").write_text("")


@pytest.mark.parametrize("name", [pytest.param(name, marks=pytest.mark.early_run(name)) for name in HELD])
def test_takes_a_held_run(name):
    assert result(name).startswith("early-run")


@early_test(1)
@pytest.mark.parametrize("n", [1, 2])
def test_a_whole_test_as_a_run(tmp_path, n):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "data").write_text("x" * n)
    assert (tmp_path / "out" / "data").read_text() == "x" * n
'''


def test_a_run_queued_behind_others_runs_in_the_sessions_process(tmp_path, repo_root):
    """A test that takes a run no worker has started yet (the workers busy with longer runs) runs it
    itself rather than wait; the summary says where each run ran."""
    (tmp_path / "test_queued.py").write_text(INNER_QUEUED)
    _, proc = _inner_session(tmp_path, repo_root)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    summary = proc.stdout.partition("early runs (start after session start, wall time, expected)")[2]
    where = {line.split()[0]: line for line in summary.splitlines() if "(expected" in line}
    assert "in the session's process" in where["queued"], summary
    background = {name for name, line in where.items() if "in the background" in line}
    whole = {name for name in where if "::test_a_whole_test_as_a_run[" in name}
    assert len(whole) == 2 and "test_queued.py::test_a_whole_test_as_a_run[1] PASSED" not in proc.stdout
    assert background == set(where) - {"queued"}, summary
    assert all(name.startswith("held_") for name in background - whole), summary
    passed = {line.split()[1] for line in proc.stdout.splitlines() if line.startswith("PASSED ")}
    assert {"test_queued.py::test_a_whole_test_as_a_run[1]", "test_queued.py::test_a_whole_test_as_a_run[2]"} <= passed


def test_a_whole_test_run_leaves_no_files_once_it_passes_and_all_if_it_fails(tmp_path):
    """`early_test`'s body: once its assertions have passed, what it wrote goes at once (its directory waits
    for its test); a failed one keeps everything for a look."""
    from helpers.early_runs import _call_test

    def body(workdir, fail):
        (workdir / "results").mkdir()
        (workdir / "results" / "table.parquet").write_bytes(b"x" * 1000)
        (workdir / "log.txt").write_text("done")
        assert not fail, "meant to fail"

    passed, failed = tmp_path / "passed", tmp_path / "failed"
    for directory in (passed, failed):
        directory.mkdir()
    assert _call_test(body, None, {"fail": False}, passed) is None
    assert passed.is_dir() and not list(passed.iterdir())
    with pytest.raises(AssertionError, match="meant to fail"):
        _call_test(body, None, {"fail": True}, failed)
    assert (failed / "results" / "table.parquet").stat().st_size == 1000 and (failed / "log.txt").exists()
