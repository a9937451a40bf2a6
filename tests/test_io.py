"""Atomic writes and the shared cube format."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lensfinder.io import InputError, atomic_path, read_cube, read_table, write_cube, write_table


def test_cube_roundtrip_and_header(tmp_path):
    images = np.random.default_rng(1).normal(size=(5, 11, 13)).astype(np.float32)
    path = write_cube(images, tmp_path / "c.fits", pixel_scale_arcsec=0.2, zeropoint_mag=30.0, header_cards={"SIMSET": "x"})
    back, header = read_cube(path)
    np.testing.assert_array_equal(back, images)
    assert header["PIXSCALE"] == 0.2 and header["ZEROPT"] == 30.0 and header["NIMAGES"] == 5
    assert header["SIMSET"] == "x"


def test_empty_cube_keeps_its_stamp_shape(tmp_path):
    path = write_cube(np.zeros((0, 101, 101), np.float32), tmp_path / "e.fits", 0.2, 30.0)
    back, header = read_cube(path)
    assert back.shape == (0, 101, 101)
    assert header["NIMAGES"] == 0


def test_failed_write_leaves_nothing(tmp_path):
    target = tmp_path / "t.parquet"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half written")
            raise RuntimeError("killed")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_read_table_names_missing_column(tmp_path):
    path = write_table(pd.DataFrame({"a": [1]}), tmp_path / "t.parquet")
    with pytest.raises(InputError, match=r"t\.parquet.*missing column\(s\) b"):
        read_table(path, required=["b"])


def test_read_cube_rejects_non_fits(tmp_path):
    bad = tmp_path / "bad.fits"
    bad.write_bytes(b"not a fits file at all" * 100)
    with pytest.raises(InputError, match="bad.fits"):
        read_cube(bad)


def test_atomic_write_has_normal_permissions(tmp_path):
    import os

    umask = os.umask(0o022)
    try:
        path = write_table(pd.DataFrame({"a": [1]}), tmp_path / "p.parquet")
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644
