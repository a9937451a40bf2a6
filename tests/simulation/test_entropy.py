"""Image entropy (He et al. 2020, eq. 2) and the ``lensfinder entropy`` step."""

from __future__ import annotations

import numpy as np
import pytest

from lensfinder.simulation.entropy import entropy_table, image_entropy, rebin_to, to_uint8
from lensfinder.io import InputError, read_table, write_cube, write_table


def test_known_entropies():
    flat = np.ones((64, 64))
    assert image_entropy(flat) == 0.0
    half = np.zeros((64, 64))
    half[:, 32:] = 1.0
    assert image_entropy(half) == pytest.approx(1.0)  # two equally frequent levels
    levels = np.repeat(np.arange(64.0), 64).reshape(64, 64)  # 64 levels, 64 pixels each
    assert image_entropy(levels) == pytest.approx(6.0)


def test_uniform_noise_is_close_to_eight_bits():
    rng = np.random.default_rng(0)
    e = image_entropy(rng.random((3, 64, 64)))
    assert np.all((e > 7.8) & (e <= 8.0))


def test_rebinning_conserves_the_mean_and_handles_101_pixels():
    rng = np.random.default_rng(1)
    img = rng.random((2, 101, 101))
    small = rebin_to(img, 64)
    assert small.shape == (2, 64, 64)
    np.testing.assert_allclose(small.mean(axis=(1, 2)), img.mean(axis=(1, 2)), rtol=1e-12)
    grey = to_uint8(img)
    assert grey.dtype == np.uint8 and grey.min() == 0 and grey.max() == 255


def test_bad_images():
    with pytest.raises(InputError):
        image_entropy(np.full((4, 4), np.nan))


def test_table_and_cli(tmp_path):
    from lensfinder.cli import main
    from lensfinder.simulation.shards import simulate_shard

    images, meta = simulate_shard("skeleton", 8, seed=1, shard=0, set_name="e", progress=False)
    write_cube(images, tmp_path / "sim" / "shard_000.fits", 0.2, 30.0)
    write_table(meta, tmp_path / "sim" / "shard_000.parquet")
    rc = main(["entropy", "--shards", str(tmp_path / "sim"), "--out", str(tmp_path / "entropy.parquet")])
    assert rc == 0
    table = read_table(tmp_path / "entropy.parquet")
    assert list(table["class"]) == ["positive", "negative", "all"]
    assert list(table["n_images"]) == [4, 4, 8]
    expected = image_entropy(images)
    assert table["entropy_mean"][2] == pytest.approx(expected.mean())
    assert (tmp_path / "entropy.csv").exists()
    direct = entropy_table(expected, meta["is_lens"])
    assert direct["entropy_std"][0] == pytest.approx(table["entropy_std"][0])
    assert main(["entropy", "--shards", str(tmp_path / "nothing"), "--out", str(tmp_path / "x.parquet")]) == 2
