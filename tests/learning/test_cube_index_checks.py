"""A stamp cube must be its index's (lensfinder.checks.require_cube_matches_index) in `infer`, the training
shards and the subsets: a cube of another tile with as many rows as the index is refused (it was scored, trained
on or copied as the index's objects), as is a cube shorter or longer than its table, each naming both files."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from helpers.cli_errors import one_error_line

from lensfinder.cli import main
from lensfinder.experiments import subsets
from lensfinder.io import InputError, read_table, write_cube, write_table
from lensfinder.learning.datasets import ShardSet


def _tile(directory, tile: str, n: int, *, cube_n=None, cube_tile=None):
    """A survey stamp index of ``n`` rows of ``tile`` and its cube (header TILE, ``cube_n`` 24x24 stamps)."""
    directory.mkdir(parents=True, exist_ok=True)
    index = pd.DataFrame({"object_id": [f"{tile}_o{k}" for k in range(n)], "tile": tile,
                          "is_lens": [k % 2 == 0 for k in range(n)], "lrg_li2020": True})
    write_table(index, directory / f"{tile}.parquet")
    images = np.random.default_rng(len(tile)).normal(size=(cube_n or n, 24, 24)).astype(np.float32)
    write_cube(images, directory / f"{tile}.fits", 0.2, 30.0, header_cards={"TILE": cube_tile or tile})
    return directory / f"{tile}.fits", directory / f"{tile}.parquet"


_error = one_error_line

def _swapped(tmp_path, cube, index):
    """A shard pair ``swapped/TA.fits``, ``swapped/TA.parquet``: TA's cube with another tile's rows and labels."""
    swapped = tmp_path / "swapped"
    swapped.mkdir()
    shutil.copy(cube, swapped / "TA.fits")
    shutil.copy(index, swapped / "TA.parquet")
    return swapped


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    from lensfinder.learning.modelfiles import save_model
    from lensfinder.learning.models import build_model
    from lensfinder.learning.sidecar import write_settings

    path = save_model(build_model("he2020", (24, 24, 1)), tmp_path_factory.mktemp("model") / "net.keras")
    write_settings({"model": "he2020", "input_shape": [24, 24, 1], "stamp_size": 24, "preprocess": "crop",
                    "normalization": "minmax"}, path)
    return path


def test_infer_refuses_a_cube_of_another_tile(model, tmp_path, capsys):
    cube_a, index_a = _tile(tmp_path, "TA", 4)
    cube_b, index_b = _tile(tmp_path, "TB", 4)
    out = tmp_path / "p.parquet"
    base = ["infer", "--model", model, "--out", out, "--tta", "none"]
    # TA's stamps under TB's object ids: was exit 0, every row scored as another galaxy
    _error(capsys, [*base, "--stamps", cube_a, "--index", index_b], "TB.parquet", "TA.fits", "tile: 'TB'", "TILE 'TA'")
    _error(capsys, [*base, "--stamps", cube_a, cube_b, "--index", index_b, index_a], "TB.parquet", "TA.fits")
    assert not out.exists()
    _, long_index = _tile(tmp_path / "long", "TA", 5)
    _error(capsys, [*base, "--stamps", cube_a, "--index", long_index], "TA.parquet: 5 rows", "TA.fits holds 4")
    assert main([str(a) for a in [*base, "--stamps", cube_a, cube_b, "--index", index_a, index_b]]) == 0
    table = read_table(out)
    assert list(table["shard"]) == ["TA"] * 4 + ["TB"] * 4
    assert list(table["object_id"][:4]) == [f"TA_o{k}" for k in range(4)]


def test_training_shards_refuse_a_cube_of_another_tile(tmp_path):
    cube_a, _ = _tile(tmp_path, "TA", 4)
    _, index_b = _tile(tmp_path, "TB", 4)
    swapped = _swapped(tmp_path, cube_a, index_b)
    with pytest.raises(InputError, match=r"swapped/TA\.parquet: tile: 'TB', but the cube TA\.fits is of TILE 'TA'"):
        ShardSet([swapped / "TA.fits"])
    assert len(ShardSet([cube_a])) == 4  # survey stamps with their own table
    # simulated shards have no TILE: a tile column there (e.g. the hosts') is not compared with anything
    sim = tmp_path / "sim"
    sim.mkdir()
    write_cube(np.zeros((3, 24, 24), np.float32), sim / "shard_000.fits", 0.2, 30.0)
    write_table(pd.DataFrame({"object_id": ["s0", "s1", "s2"], "is_lens": [True, False, True],
                              "tile": ["TA", "TB", "TC"]}), sim / "shard_000.parquet")
    assert len(ShardSet([sim, cube_a])) == 7
    write_table(pd.DataFrame({"object_id": ["s0", "s1"], "is_lens": [True, False]}), sim / "shard_000.parquet")
    with pytest.raises(InputError, match=r"sim/shard_000\.parquet: 2 rows, but the cube shard_000\.fits holds 3"):
        ShardSet([sim])


def test_subsets_refuse_a_cube_that_is_not_its_tables(tmp_path):
    cube_a, index_a = _tile(tmp_path, "TA", 4)
    cube_b, index_b = _tile(tmp_path, "TB", 4)
    swapped = _swapped(tmp_path, cube_a, index_b)
    with pytest.raises(InputError, match=r"swapped/TA\.parquet: tile: 'TB', but the cube .*swapped/TA\.fits is of"):
        subsets.write_subset([swapped / "TA.fits"], 2, 0, tmp_path / "subset")
    assert not (tmp_path / "subset" / "shard_000.parquet").exists()

    sim = tmp_path / "sim"
    sim.mkdir()
    write_cube(np.ones((4, 24, 24), np.float32), sim / "shard_000.fits", 0.2, 30.0)
    write_table(pd.DataFrame({"object_id": [f"s{k}" for k in range(4)], "is_lens": True}), sim / "shard_000.parquet")
    options = dict(sample="lrg_li2020", n_positives=2, n_negatives=2, seed=0)
    out = tmp_path / "roc.fits", tmp_path / "roc.parquet"
    # the survey negatives were TB's stamps under TA's ids
    with pytest.raises(InputError, match=r"TA\.parquet: tile: 'TA', but its --stamp-cubes .*TB\.fits is of TILE 'TB'"):
        subsets.write_roc_sample([sim], [cube_b], [index_a], *out, **options)
    cube_c, index_c = _tile(tmp_path, "TC", 6, cube_n=4)  # an index longer than its cube: was an IndexError
    with pytest.raises(InputError, match=r"TC\.parquet: 6 rows, but its --stamp-cubes .*TC\.fits holds 4 stamps"):
        subsets.write_roc_sample([sim], [cube_c], [index_c], *out, **dict(options, n_negatives=6))
    assert not out[1].exists()
    subsets.write_roc_sample([sim], [cube_b], [index_b], *out, **options)
    sample = read_table(out[1])
    assert len(sample) == 4 and all(sample.loc[sample["source"] == "survey", "object_id"].str.startswith("TB_o"))
