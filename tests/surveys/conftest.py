"""The archive clients' tests: each test's garbage is collected at its end, after its servers
have stopped, so that a socket or file a test leaks fails that test (``ResourceWarning`` under
``filterwarnings = error``), not a later one."""

from __future__ import annotations

import gc

import pytest


@pytest.fixture(scope="module", autouse=True)
def _frozen_session_heap():
    """Freeze what the session held before this module (TensorFlow, astropy, ...).

    ``gc.collect()`` then walks only the objects made since: under a millisecond per test
    instead of 0.25 s with Keras imported, and about 1 s late in a whole-suite session; what
    a test leaks is still among them.
    """
    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()


@pytest.fixture(autouse=True)
def _collect_garbage():
    """Collect after the test; autouse, so torn down after the test's own fixtures (its servers)."""
    yield
    gc.collect()
