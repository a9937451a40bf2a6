"""Shared test settings: offline astropy, repository paths, tiny helpers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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
