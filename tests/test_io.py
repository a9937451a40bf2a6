"""Atomic writes and the shared cube format."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lensfinder.io import (
    InputError,
    atomic_path,
    bool_column,
    cube_bands,
    cube_length,
    nearest_hint,
    read_cube,
    read_table,
    select_bands,
    with_band_axis,
    write_cube,
    write_table,
)


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
    # an int16 shard of no images (simulation.params.cube_dtype: int16, fewer images than shards)
    back, header = read_cube(write_cube(np.zeros((0, 11, 11)), tmp_path / "e16.fits", 0.2, 30.0, dtype="int16"))
    assert back.shape == (0, 11, 11) and header["NIMAGES"] == 0
    with pytest.raises(InputError, match="unsupported cube dtype 'float16'"):
        write_cube(np.zeros((0, 11, 11)), tmp_path / "e8.fits", 0.2, 30.0, dtype="float16")


def test_band_cube_roundtrip_and_band_names(tmp_path):
    images = np.random.default_rng(2).normal(size=(4, 3, 9, 9)).astype(np.float32)
    path = write_cube(images, tmp_path / "gri.fits", 0.2, 30.0, bands=("g", "r", "i"))
    back, header = read_cube(path, memmap=False)
    np.testing.assert_array_equal(back, images)
    assert header["BANDS"] == "g,r,i" and cube_bands(header) == ("g", "r", "i")
    assert cube_length(path) == 4
    # the network's i, g order: rows of the band axis picked by name
    np.testing.assert_array_equal(select_bands(back, cube_bands(header), ("i", "g")), images[:, [2, 0]])
    with pytest.raises(InputError, match=r"holds bands g,r,i, but z,r are needed \(missing: z\)"):
        select_bands(back, ("g", "r", "i"), ("z", "r"), "x.fits")


def test_one_band_cubes_stay_three_dimensional(tmp_path):
    images = np.random.default_rng(3).normal(size=(2, 5, 5)).astype(np.float32)
    r = write_cube(images[:, None], tmp_path / "r.fits", 0.2, 30.0, bands=["r"])
    plain = write_cube(images, tmp_path / "plain.fits", 0.2, 30.0)
    assert r.read_bytes() == plain.read_bytes()  # today's r-band files, byte for byte
    back, header = read_cube(r)
    assert back.ndim == 3 and "BANDS" not in header and cube_bands(header) == ("r",)
    assert with_band_axis(back).shape == (2, 1, 5, 5)
    vis, header = read_cube(write_cube(images, tmp_path / "vis.fits", 0.1, 23.9, bands=["VIS"]))
    assert vis.ndim == 3 and cube_bands(header) == ("VIS",)


def test_empty_band_cube_keeps_its_bands(tmp_path):
    back, header = read_cube(write_cube(np.zeros((0, 2, 7, 7)), tmp_path / "e.fits", 0.2, 30.0, bands=["g", "i"]))
    assert back.shape == (0, 2, 7, 7) and cube_bands(header) == ("g", "i")


def test_band_names_must_match_the_band_axis(tmp_path):
    with pytest.raises(InputError, match=r"bad\.fits: bands: \['g', 'r'\]: expected 3 distinct band names"):
        write_cube(np.zeros((1, 3, 4, 4)), tmp_path / "bad.fits", 0.2, 30.0, bands=["g", "r"])
    with pytest.raises(InputError, match="expected 3 distinct"):
        write_cube(np.zeros((1, 3, 4, 4)), tmp_path / "bad.fits", 0.2, 30.0)
    from astropy.io import fits

    path = tmp_path / "lies.fits"
    hdu = fits.PrimaryHDU(np.zeros((2, 3, 4, 4), np.float32))
    hdu.header["BANDS"] = "g,r"
    hdu.writeto(path)
    with pytest.raises(InputError, match=r"lies\.fits: header BANDS: 'g,r' names 2 band\(s\), but the cube has 3"):
        read_cube(path)


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


def test_every_atomic_writer_respects_the_umask(tmp_path):
    import os

    from lensfinder.io import write_csv, write_text
    from lensfinder.plots.style import pyplot, save_figure

    old = os.umask(0o027)
    try:
        written = [
            write_table(pd.DataFrame({"a": [1]}), tmp_path / "t.parquet"),
            write_csv(pd.DataFrame({"a": [1]}), tmp_path / "t.csv"),
            write_text("x\n", tmp_path / "t.txt"),
            write_cube(np.zeros((1, 3, 3)), tmp_path / "c.fits", 0.2, 30.0),
            save_figure(pyplot().figure(), tmp_path / "f.png"),
        ]
        with atomic_path(tmp_path / "m.keras", suffix=".part.keras") as tmp:
            assert tmp.name.endswith(".part.keras")
            tmp.write_bytes(b"zip")
        written.append(tmp_path / "m.keras")
    finally:
        os.umask(old)
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in written} == {p.name: oct(0o640) for p in written}
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in written)


def test_the_nearest_name_is_offered_wherever_a_name_is_unknown():
    from lensfinder.simulation.mix import mix_weights
    from lensfinder.surveys.mock.tiles import mock_survey_config

    assert nearest_hint("learnin_rate", ["epochs", "learning_rate"]) == " (did you mean 'learning_rate'?)"
    assert nearest_hint("zzz", ["epochs", "learning_rate"]) == ""
    with pytest.raises(InputError, match=r"brod: unknown recipe \(did you mean 'broad'\?\)"):
        mix_weights({"brod": 1.0})
    with pytest.raises(InputError, match=r"unknown key 'n_galaxys' \(did you mean 'n_galaxies'\?\)"):
        mock_survey_config({"n_galaxys": 2})


@pytest.mark.parametrize("values, bad", [
    (np.array([True, None, False], dtype=object), "None"),  # a missing label in a bool column read from Parquet
    (np.array([1.0, np.nan, 0.0]), "nan"),
    (np.array([0, 2]), "2"),
    (np.array(["True", "False"], dtype=object), "'True'"),
])
def test_bool_column_refuses_missing_and_non_boolean_labels(values, bad):
    with pytest.raises(InputError, match=rf"labels.parquet: is_lens: {bad} is not a boolean"):
        bool_column(values, "labels.parquet", "is_lens")


def test_bool_column_takes_booleans_and_zeros_and_ones():
    for values in (np.array([True, False]), np.array([True, np.False_], dtype=object), np.array([1, 0]),
                   np.array([1.0, 0.0]), np.array([], dtype=object)):
        assert bool_column(values, "t", "c").tolist() == [bool(v) for v in values]


def test_int16_cubes_are_read_back_by_default(tmp_path):
    """He et al.'s 16-bit cubes (cube_dtype: int16) carry BSCALE/BZERO, which astropy cannot memory-map:
    read_cube reads them whole instead of failing in every step that streams cubes (entropy, infer)."""
    images = np.random.default_rng(0).normal(100.0, 20.0, (3, 11, 11)).astype(np.float32)
    kept = images.copy()
    path = write_cube(images, tmp_path / "c16.fits", 0.2, 30.0, dtype="int16")
    assert np.array_equal(images, kept)  # the caller's array is left alone (astropy scales in place)
    back, header = read_cube(path)
    assert back.dtype == np.float32 and back.shape == images.shape
    scale = header["BSCALE"]
    assert np.abs(back - images).max() <= scale  # 16-bit quantisation, nothing more
