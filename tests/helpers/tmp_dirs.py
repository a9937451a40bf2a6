"""A module's ``tmp_path_factory`` directories go when the module ends (a pytest plugin).

pytest removes a passing test's ``tmp_path`` at once (``tmp_path_retention_policy``
in pyproject.toml) but keeps ``mktemp`` directories to the end of the session:
the simulated shards, trained networks and stamps of every module would add up
to gigabytes. As for ``tmp_path``, nothing is removed where a test failed.
Directories made before the module started (the early runs', the session's)
are left alone. tests/conftest.py takes the fixture from here.
"""

from __future__ import annotations

from shutil import rmtree

import pytest

__all__ = ["module_tmp_dirs"]


@pytest.fixture(scope="module", autouse=True)
def module_tmp_dirs(request, tmp_path_factory):
    """Remove the directories made under the session's base directory while the module ran."""
    base = tmp_path_factory.getbasetemp()
    before, failed_before = set(base.iterdir()), request.session.testsfailed
    yield
    if request.session.testsfailed == failed_before:
        for path in set(base.iterdir()) - before:
            if path.is_dir() and not path.is_symlink():
                rmtree(path, ignore_errors=True)
