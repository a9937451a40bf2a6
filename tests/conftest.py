"""Shared test settings: offline astropy, repository paths, tiny helpers, and a frugal use of disk."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# the early runs' session fixture and hook, and the removal of each module's directories
from helpers.early_runs import (  # noqa: F401
    early_runs_session,
    pytest_collection_modifyitems,
    pytest_runtest_makereport,
    pytest_runtest_teardown,
    pytest_terminal_summary,
)
from helpers.tmp_dirs import module_tmp_dirs, pytest_report_header, pytest_sessionstart  # noqa: F401

# Tests run offline: no IERS downloads, no TensorFlow chatter.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from astropy.utils import iers  # noqa: E402

iers.conf.auto_download = False

REPO = Path(__file__).resolve().parents[1]
TEST_DATA = REPO / "tests" / "data"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def test_data() -> Path:
    return TEST_DATA
