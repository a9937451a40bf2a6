"""A module's ``tmp_path_factory`` directories go when the module ends (a pytest plugin).

pytest removes a passing test's ``tmp_path`` at once (``tmp_path_retention_policy``
in pyproject.toml) but keeps ``mktemp`` directories to the end of the session:
the simulated shards, trained networks and stamps of every module would add up
to gigabytes. As for ``tmp_path``, nothing is removed where a test failed.
Directories made before the module started (the early runs', the session's)
are left alone. tests/conftest.py takes the fixture from here, and the
session header's line on free disk.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

__all__ = ["LOW_DISK_BYTES", "module_tmp_dirs", "pytest_report_header", "pytest_sessionstart"]


@pytest.fixture(scope="module", autouse=True)
def module_tmp_dirs(request, tmp_path_factory):
    """Remove the directories made under the session's base directory while the module ran."""
    base = tmp_path_factory.getbasetemp()
    before, failed_before = set(base.iterdir()), request.session.testsfailed
    yield
    if request.session.testsfailed == failed_before:
        for path in set(base.iterdir()) - before:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)


#: below this much free disk the session says so even with ``-q`` (the suite needs about 1 GB)
LOW_DISK_BYTES = 3e9


def _free_disk(config) -> tuple[str, int]:
    base = str(config.option.basetemp or tempfile.gettempdir())
    while not os.path.exists(base):
        base = os.path.dirname(base)
    return base, shutil.disk_usage(base).free


def pytest_report_header(config):
    """The free disk where the session's directories go: the first thing to read when a run dies of a full disk."""
    base, free = _free_disk(config)
    return f"disk: {free / 1e9:.1f} GB free under {base} (the suite holds up to about 1 GB there)"


def pytest_sessionstart(session):
    """With ``-q`` (no header), still say when the disk is low."""
    base, free = _free_disk(session.config)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if free < LOW_DISK_BYTES and reporter is not None and session.config.option.verbose < 0:
        reporter.write_line(f"warning: only {free / 1e9:.1f} GB free under {base}; "
                            "the suite holds up to about 1 GB there")
