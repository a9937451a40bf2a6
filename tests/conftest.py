"""Shared test settings: offline astropy, repository paths, tiny helpers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers import early_runs

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


@pytest.fixture(scope="session", autouse=True)
def _early_runs(request, tmp_path_factory):
    """Start the long end-to-end runs the selected tests take, in the background, as the session starts."""
    early_runs.start(early_runs.wanted(request.session.items), tmp_path_factory)
    yield
    early_runs.stop()
