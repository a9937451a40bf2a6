"""End-to-end runs that start when the session starts and overlap with the quick tests.

The long runs of the workflow (the tiny run, its reproducibility twin, the
Slurm run) are chains of short jobs: one job at a time is runnable most of
the time, so on two cores they leave one idle, and so do the quick
single-process tests. Run serially at the end of the session they cost
about as much wall time as everything else together.

A test module registers such a run with ``@early_run("name", expected_s)``
(a function of a fresh directory; ``expected_s``, its usual wall time); a
test that needs it is marked ``@pytest.mark.early_run("name")`` and takes
its value with ``result("name")``. When the session starts
(tests/conftest.py), the runs of the selected tests start in the
background, at most ``MAX_AT_ONCE`` at a time, longest first (so that the
last to end is a short one); a run no selected test needs never starts, and
``result`` refuses a test that does not carry the marker. Exceptions,
``pytest.skip`` and ``pytest.fail`` raised by a run (its assertions too)
reach the test that takes its result.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

__all__ = ["MARKER", "MAX_AT_ONCE", "early_run", "result", "start", "stop"]

#: the marker that says which early run a test takes
MARKER = "early_run"
#: runs at once beside the tests: one chain of jobs each, so with the
#: session's own process that is about one busy process per core and a bit
MAX_AT_ONCE = 2

_REGISTERED: dict[str, Callable[[Path], Any]] = {}
_EXPECTED_S: dict[str, float] = {}
_STARTED: dict[str, Future] = {}
_state: dict[str, Any] = {"pool": None}


def early_run(name: str, expected_s: float) -> Callable[[Callable[[Path], Any]], Callable[[Path], Any]]:
    """Register ``fn(workdir)`` as the early run ``name``, usually ``expected_s`` seconds long."""

    def register(fn: Callable[[Path], Any]) -> Callable[[Path], Any]:
        if _REGISTERED.get(name, fn) is not fn:
            raise ValueError(f"early run {name!r} registered twice")
        _REGISTERED[name], _EXPECTED_S[name] = fn, expected_s
        return fn

    return register


def wanted(items: list[pytest.Item]) -> list[str]:
    """The early runs the selected ``items`` take."""
    names = [marker.args[0] for item in items for marker in item.iter_markers(MARKER)]
    return list(dict.fromkeys(names))


def start(names: list[str], tmp_path_factory: pytest.TempPathFactory) -> None:
    """Start the registered runs among ``names`` in the background, longest first (each in a new directory)."""
    unknown = sorted(set(names) - set(_REGISTERED))
    if unknown:
        raise KeyError(f"no early run {unknown} is registered (known: {sorted(_REGISTERED)})")
    for name in sorted(names, key=lambda name: -_EXPECTED_S[name]):
        if name in _STARTED:
            continue
        if _state["pool"] is None:
            _state["pool"] = ThreadPoolExecutor(max_workers=MAX_AT_ONCE, thread_name_prefix="early-run")
        workdir = tmp_path_factory.mktemp(name)  # made here: mktemp is not for threads
        _STARTED[name] = _state["pool"].submit(_REGISTERED[name], workdir)


def result(name: str) -> Any:
    """The value of the early run ``name``, waiting for it."""
    if name not in _STARTED:
        raise KeyError(f"early run {name!r} was not started: mark the test @pytest.mark.{MARKER}({name!r})")
    return _STARTED[name].result()


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
    _STARTED.clear()
    _state["pool"] = None
