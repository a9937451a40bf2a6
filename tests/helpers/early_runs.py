"""End-to-end runs that start when the session starts and overlap with the quick tests.

The long runs of the workflow (the tiny run, its reproducibility twin, the
Slurm run) are chains of short jobs: one job at a time is runnable most of
the time, so on two cores they leave one idle, and so do the quick
single-process tests. Run serially at the end of the session they cost
about as much wall time as everything else together.

A test module registers such a run with ``@early_run("name", expected_s)``
(a function of a fresh directory; ``expected_s``, its usual wall time in the
session, beside the rest: the session's summary gives it); a
test that needs it is marked ``@pytest.mark.early_run("name")`` and takes
its value with ``result("name")``. When the session starts
(tests/conftest.py), the runs of the selected tests start in the
background, at most ``MAX_AT_ONCE`` at a time, longest first (so that the
last to end is a short one), and the modules whose tests take runs go after
the others; a run no selected test needs never starts, and
``result`` refuses a test that does not carry the marker. A test that takes
a run still queued behind others runs it itself, in the session's process,
rather than wait idle for a free worker. Exceptions,
``pytest.skip`` and ``pytest.fail`` raised by a run (its assertions too)
reach the test that takes its result. A test that spends its time in
subprocesses (dry runs of the workflow) can be one run of its own:
``@early_test(expected_s)`` over its body. tests/conftest.py takes the
session fixture and the hooks below from here (``-p helpers.early_runs``
does too); the session's summary gives each run's start and wall time.

A run's directory is removed as soon as the last selected test that takes
it has run, unless one of them failed (then it is kept for a look, as
pytest keeps a failed test's ``tmp_path``): the runs are the session's
largest files, and CI machines have little disk to spare.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path
from shutil import rmtree
from threading import current_thread
from time import monotonic
from typing import Any

import pytest

__all__ = ["MARKER", "MAX_AT_ONCE", "early_run", "early_runs_session", "early_test", "finished",
           "pytest_collection_modifyitems", "pytest_runtest_makereport", "pytest_runtest_teardown",
           "pytest_terminal_summary", "result", "start", "stop", "timings"]

#: the marker that says which early run a test takes
MARKER = "early_run"
#: runs at once beside the tests: one chain of jobs each, so with the
#: session's own process that is about one busy process per core and a bit
MAX_AT_ONCE = 2

_REGISTERED: dict[str, Callable[[Path], Any]] = {}
_EXPECTED_S: dict[str, float] = {}
_STARTED: dict[str, Future] = {}
_WORKDIR: dict[str, Path] = {}
#: selected tests yet to run, per run; and the runs a failed test took
_PENDING: dict[str, int] = {}
_KEEP: set[str] = set()
#: each run's thread and its start and end (monotonic seconds; no end while it runs), for the session's summary
_TIMES: dict[str, list] = {}
_state: dict[str, Any] = {"pool": None, "t0": None}


def early_run(name: str, expected_s: float) -> Callable[[Callable[[Path], Any]], Callable[[Path], Any]]:
    """Register ``fn(workdir)`` as the early run ``name``, usually ``expected_s`` seconds long."""

    def register(fn: Callable[[Path], Any]) -> Callable[[Path], Any]:
        if _REGISTERED.get(name, fn) is not fn:
            raise ValueError(f"early run {name!r} registered twice")
        _REGISTERED[name], _EXPECTED_S[name] = fn, expected_s
        return fn

    return register


def early_test(expected_s: float, prepare: Callable[[Path], Path] | None = None
               ) -> Callable[[Callable[..., Any]], Callable[..., None]]:
    """A test whose whole body is an early run of its own: ``fn(workdir)`` runs in the background from
    the session's start (or in the session's process, if the test comes first), and the test named
    after it takes its outcome. For tests that spend their time in subprocesses (dry runs, tiny runs
    of the workflow), with no fixture but a fresh directory, their first parameter (``prepare(workdir)``
    where given, e.g. a copy of the workflow in it); ``expected_s``, their usual wall time.

    A ``pytest.mark.parametrize`` under it makes one run per case, under the ids pytest would give
    them (a list of ``ids``, or values of str, int, float, bool or None; ``argname`` + index else)."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., None]:
        base = f"{fn.__module__.removeprefix('tests.')}::{fn.__name__}"
        marks = list(getattr(fn, "pytestmark", []))
        parametrize = [mark for mark in marks if mark.name == "parametrize"]
        if len(parametrize) > 1:
            raise ValueError(f"{base}: early_test takes one parametrize mark, not {len(parametrize)}")
        cases: list[tuple[str, str | None, dict[str, Any]]] = [(base, None, {})]
        if parametrize:
            argnames, argvalues = parametrize[0].args[:2]
            names = [n.strip() for n in argnames.split(",")] if isinstance(argnames, str) else list(argnames)
            ids = parametrize[0].kwargs.get("ids")
            cases = []
            for index, values in enumerate(argvalues):
                values = (values,) if len(names) == 1 else tuple(values)
                if isinstance(ids, (list, tuple)):
                    case_id = str(ids[index])
                else:
                    case_id = "-".join(str(v) if v is None or isinstance(v, (str, int, float, bool)) else f"{n}{index}"
                                       for n, v in zip(names, values))
                cases.append((f"{base}[{case_id}]", case_id, dict(zip(names, values))))
        for name, _, kwargs in cases:
            early_run(name, expected_s)(partial(_call_test, fn, prepare, kwargs))

        if parametrize:
            def test(early_case: str) -> None:
                result(early_case)

            test = pytest.mark.parametrize("early_case", [pytest.param(name, id=case_id, marks=pytest.mark.early_run(name))
                                                           for name, case_id, _ in cases])(test)
        else:
            def test() -> None:
                result(base)

            test = pytest.mark.early_run(base)(test)
        test.__name__, test.__qualname__, test.__doc__ = fn.__name__, fn.__qualname__, fn.__doc__
        test.__module__ = fn.__module__
        test.pytestmark = [mark for mark in marks if mark.name != "parametrize"] + test.pytestmark
        return test

    return wrap


def _call_test(fn: Callable[..., Any], prepare: Callable[[Path], Path] | None, kwargs: dict[str, Any],
               workdir: Path) -> Any:
    """``fn`` with the run's directory as its first argument, and a parametrized case's values; once it has
    passed, what it wrote goes (no test reads it: disk), the directory itself stays until its test has run."""
    value = fn(workdir if prepare is None else prepare(workdir), **kwargs)
    for child in workdir.iterdir():
        rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    return value


def _names(item: pytest.Item) -> list[str]:
    """The early runs ``item`` takes."""
    return list(dict.fromkeys(marker.args[0] for marker in item.iter_markers(MARKER)))


def start(items: list[pytest.Item], tmp_path_factory: pytest.TempPathFactory) -> None:
    """Start the registered runs the selected ``items`` take in the background, longest first (each in a new directory)."""
    for item in items:
        for name in _names(item):
            _PENDING[name] = _PENDING.get(name, 0) + 1
    names = list(_PENDING)  # the runs the selected items take, in their order
    unknown = sorted(set(names) - set(_REGISTERED))
    if unknown:
        raise KeyError(f"no early run {unknown} is registered (known: {sorted(_REGISTERED)})")
    for name in sorted(names, key=lambda name: -_EXPECTED_S[name]):
        if name in _STARTED:
            continue
        if _state["pool"] is None:
            _state["pool"] = ThreadPoolExecutor(max_workers=MAX_AT_ONCE, thread_name_prefix="early-run")
            _state["t0"] = monotonic()
        # made here (mktemp is not for threads), under a short name of safe characters (names hold test ids)
        workdir = _WORKDIR[name] = tmp_path_factory.mktemp(re.sub(r"[^\w.-]+", "_", name)[:60])
        _STARTED[name] = _state["pool"].submit(_timed, name, workdir)


def _timed(name: str, workdir: Path) -> Any:
    """Run ``name`` in ``workdir``, noting when it starts and ends."""
    _TIMES[name] = [current_thread().name, monotonic()]
    try:
        return _REGISTERED[name](workdir)
    finally:
        _TIMES[name].append(monotonic())


def timings() -> list[tuple[str, float, float | None, str]]:
    """Each run started this session, in the order they started: its name, its start (s after the first
    was submitted), its wall time (None while it runs) and the thread it ran in."""
    t0 = _state["t0"]
    return [(name, start - t0, end[0] - start if end else None, thread)
            for name, (thread, start, *end) in sorted(_TIMES.items(), key=lambda item: item[1][1])]


def result(name: str) -> Any:
    """The value of the early run ``name``, waiting for it."""
    if name not in _STARTED:
        raise KeyError(f"early run {name!r} was not started: mark the test @pytest.mark.{MARKER}({name!r})")
    if not _WORKDIR[name].exists():
        raise KeyError(f"early run {name!r} was removed after the last test marked for it: "
                       f"mark this test @pytest.mark.{MARKER}({name!r})")
    future = _STARTED[name]
    if future.cancel():  # still queued behind longer runs: run it here rather than wait for it idle
        future = _STARTED[name] = Future()
        try:
            future.set_result(_timed(name, _WORKDIR[name]))
        except BaseException as exc:  # pytest.skip and pytest.fail too: each test that takes the run sees them
            future.set_exception(exc)
    return future.result()


def finished(item: pytest.Item, failed: bool) -> None:
    """``item`` has run: remove the directory of each run it took that no test still needs and no test failed on."""
    for name in _names(item):
        if name not in _PENDING:
            continue
        _PENDING[name] -= 1
        if failed:
            _KEEP.add(name)
        future = _STARTED.get(name)
        if _PENDING[name] == 0 and name not in _KEEP and future is not None:
            if not future.done():  # its tests skipped without waiting for it
                future.cancel()
            if future.done():  # a run still going is ended by stop(); pytest removes the rest
                rmtree(_WORKDIR[name], ignore_errors=True)


def stop() -> None:
    """End of session: runs no test took (the session stopped early) are cancelled, their processes ended."""
    pool = _state["pool"]
    if pool is None:
        return
    unfinished = [future for future in _STARTED.values() if not future.done()]
    pool.shutdown(wait=False, cancel_futures=True)
    if any(future.running() for future in unfinished):
        import psutil

        children = psutil.Process().children(recursive=True)
        for child in children:
            child.terminate()
        _, alive = psutil.wait_procs(children, timeout=60)
        for child in alive:
            child.kill()
    for registry in (_STARTED, _WORKDIR, _PENDING, _KEEP):
        registry.clear()
    _state["pool"] = None
    _state["summary"] = timings()
    _TIMES.clear()


def pytest_collection_modifyitems(session, config, items):
    """The modules with tests that take early runs go last, each module's tests kept together and in order:
    the runs then have the rest of the session to finish in, beside the tests that need none."""
    late = {item.path for item in items if _names(item)}
    items[:] = [item for item in items if item.path not in late] + [item for item in items if item.path in late]


@pytest.fixture(scope="session", autouse=True)
def early_runs_session(request, tmp_path_factory):
    """Start the long end-to-end runs the selected tests take, in the background, as the session starts."""
    start(request.session.items, tmp_path_factory)
    yield
    stop()


_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Note a test whose setup or call failed: the runs it took are kept for a look."""
    report = yield
    if report.failed:
        item.stash[_FAILED] = True
    return report


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item, nextitem):
    """As each test's teardown starts, let go of the early runs no later test takes.

    Here rather than after the test: the last test's teardown ends the
    session's fixtures, :func:`stop` among them.
    """
    finished(item, failed=item.stash.get(_FAILED, False))


def pytest_terminal_summary(terminalreporter):
    """The early runs' start and wall time against the time each was expected to take: where the session's minutes went."""
    rows = _state.pop("summary", None)
    if not rows:
        return
    terminalreporter.section("early runs (start after session start, wall time, expected)")
    for name, start_s, wall_s, thread in rows:
        wall = "unfinished" if wall_s is None else f"{wall_s:6.0f} s"
        where = "in the session's process" if thread == "MainThread" else "in the background"
        terminalreporter.write_line(f"{name:>20}  +{start_s:5.0f} s  {wall}  (expected {_EXPECTED_S[name]:.0f} s) {where}")
