"""Seeded subsets: class balance, Sersic resampling, the subset step and the Li et al. test sample."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lensfinder.cli import main
from lensfinder.experiments import subsets
from lensfinder.io import InputError, read_table, write_cube, write_table


def test_select_subset_is_deterministic_balanced_and_sorted():
    labels = np.arange(1000) % 3 == 0
    a = subsets.select_subset(labels, 200, seed=5)
    b = subsets.select_subset(labels, 200, seed=5)
    c = subsets.select_subset(labels, 200, seed=6)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.size == 200 and np.all(np.diff(a) > 0)
    assert labels[a].sum() == 100
    with pytest.raises(InputError, match="eligible lenses"):
        subsets.select_subset(labels, 800, seed=1)


def test_sersic_weights_follow_the_huertas_company_distribution():
    rng = np.random.default_rng(0)
    n = 40_000
    meta = pd.DataFrame({"lens_light_n_sersic": rng.uniform(2, 5, n), "is_lens": np.arange(n) % 2 == 0})
    assert np.all(subsets.sersic_weights(meta, "flat", ["lens_light_n_sersic"]) == 1)
    edges = np.linspace(2, 5, 4)
    density = (np.array([1.0, 2.0, 4.0]) / 7 / 1.0, edges)  # target pdf rising with n
    w = subsets.sersic_weights(meta, "huertas_company", ["lens_light_n_sersic", "source_n_sersic"], density=density)
    assert w.max() == pytest.approx(1.0) and w.min() == pytest.approx(0.25)
    rows = subsets.select_subset(meta["is_lens"].to_numpy(), 4000, seed=2, weights=w)
    counts = np.histogram(meta["lens_light_n_sersic"].to_numpy()[rows], edges)[0]
    assert counts / counts.sum() == pytest.approx([1 / 7, 2 / 7, 4 / 7], abs=0.03)
    # the default density comes from the simulator's own sampler
    dens, edges = subsets.huertas_company_density(draws=20_000)
    assert edges[0] == 2 and edges[-1] == 5 and dens.argmax() > len(dens) // 2


def test_experiment_subset_cli_writes_balanced_shards(tmp_path):
    parent = tmp_path / "parent"
    for k in range(2):
        n = 30
        images = np.arange(n * 4 * 4, dtype=np.float32).reshape(n, 4, 4) + 1000 * k
        write_cube(images, parent / f"shard_{k:03d}.fits", 0.2, 30.0)
        write_table(pd.DataFrame({"object_id": [f"p-{k}-{i}" for i in range(n)], "is_lens": np.arange(n) % 2 == 0,
                                  "lens_light_n_sersic": np.linspace(2, 5, n)}), parent / f"shard_{k:03d}.parquet")
    out = tmp_path / "subset"
    args = ["experiment-subset", "--parent", str(parent), "--n", "20", "--seed", "3", "--n-shards", "2",
            "--name", "f0.3_r0", "--out-dir", str(out)]
    assert main(args) == 0
    tables = [read_table(out / f"shard_{k:03d}.parquet") for k in range(2)]
    table = pd.concat(tables)
    assert len(table) == 20 and table["is_lens"].sum() == 10 and (table["subset"] == "f0.3_r0").all()
    from lensfinder.learning.datasets import CubeReader

    reader = CubeReader(out / "shard_000.fits")
    first = tables[0].iloc[0]
    expected = np.arange(first["parent_row"] * 16, first["parent_row"] * 16 + 16, dtype=np.float32).reshape(4, 4)
    expected += 1000 * int(first["parent_shard"][-3:])
    assert np.array_equal(reader.read(0, 1)[0], expected)
    reader.close()
    out2 = tmp_path / "again"
    assert main(args[:-1] + [str(out2)]) == 0
    assert read_table(out2 / "shard_000.parquet")["object_id"].tolist() == tables[0]["object_id"].tolist()


def test_experiment_subset_keeps_the_bands_of_a_multiband_parent(tmp_path):
    """A g, r, i parent gives g, r, i subset shards, each image with its bands in order."""
    from lensfinder.io import cube_bands
    from lensfinder.learning.datasets import CubeReader

    parent = tmp_path / "parent"
    n = 12
    images = np.arange(n * 3 * 4 * 4, dtype=np.float32).reshape(n, 3, 4, 4)
    write_cube(images, parent / "shard_000.fits", 0.2, 30.0, bands=("g", "r", "i"))
    write_table(pd.DataFrame({"object_id": [f"p-{i}" for i in range(n)], "is_lens": np.arange(n) % 2 == 0,
                              "lens_light_n_sersic": np.linspace(2, 5, n)}), parent / "shard_000.parquet")
    out = tmp_path / "subset"
    assert main(["experiment-subset", "--parent", str(parent), "--n", "6", "--seed", "1", "--name", "gri",
                 "--out-dir", str(out)]) == 0
    table = read_table(out / "shard_000.parquet")
    reader = CubeReader(out / "shard_000.fits")
    assert cube_bands(reader.header) == ("g", "r", "i") and len(table) == 6
    assert np.array_equal(reader.read(0, 6), images[table["parent_row"].to_numpy()])
    reader.close()




def test_roc_sample_rows_and_step(tmp_path):
    sim = tmp_path / "sim"
    write_cube(np.zeros((6, 4, 4), np.float32), sim / "shard_000.fits", 0.2, 30.0)
    write_table(pd.DataFrame({"object_id": [f"s{i}" for i in range(6)], "is_lens": [True, False] * 3}),
                sim / "shard_000.parquet")
    write_cube(np.ones((5, 4, 4), np.float32), tmp_path / "stamps.fits", 0.2, 30.0)
    ids = [f"G{i}" for i in range(5)]
    write_table(pd.DataFrame({"object_id": ids, "lrg_li2020": [True, True, True, True, False]}), tmp_path / "index.parquet")
    write_table(pd.DataFrame({"ID": ids, "is_lens": [True, False, False, False, False]}), tmp_path / "truth.parquet")
    args = ["experiment-roc-sample", "--sim", str(sim), "--stamp-cubes", str(tmp_path / "stamps.fits"),
            "--stamp-index", str(tmp_path / "index.parquet"), "--truth", str(tmp_path / "truth.parquet"),
            "--n-positives", "2", "--n-negatives", "3", "--seed", "1",
            "--out-cube", str(tmp_path / "roc.fits"), "--out-index", str(tmp_path / "roc.parquet")]
    assert main(args) == 0
    table = read_table(tmp_path / "roc.parquet")
    assert table["is_lens"].tolist() == [True, True, False, False, False]
    # negatives: LRGs that are not true lenses (G1-G3); positives: simulated lenses
    assert sorted(table.loc[~table["is_lens"], "object_id"]) == ["G1", "G2", "G3"]
    assert set(table.loc[table["is_lens"], "object_id"]) <= {"s0", "s2", "s4"}
    from lensfinder.learning.datasets import CubeReader

    reader = CubeReader(tmp_path / "roc.fits")
    assert reader.n == 5 and reader.read(0, 5)[2:].min() == 1.0
    reader.close()
    assert main(args[:12] + ["4"] + args[13:]) == 2  # only 3 eligible negatives
    with pytest.raises(InputError, match="lenses, need"):
        subsets.roc_sample_rows(pd.DataFrame({"is_lens": [True, False]}), pd.DataFrame(index=range(5)), 2, 1, 0)


def test_roc_sample_takes_the_simulations_bands_from_the_survey_stamps(tmp_path):
    """The sample has the simulations' bands: g, r, i stamps in another order are reordered, r-band
    simulations take their r plane, and stamps without a simulated band are refused by name."""
    from lensfinder.io import cube_bands
    from lensfinder.learning.datasets import CubeReader

    survey = np.arange(3 * 3 * 16, dtype=np.float32).reshape(3, 3, 4, 4)  # g, r, i
    write_cube(survey, tmp_path / "stamps.fits", 0.2, 30.0, bands=("g", "r", "i"))
    write_cube(survey[:, ::-1], tmp_path / "stamps_irg.fits", 0.2, 30.0, bands=("i", "r", "g"))
    write_cube(survey[:, 1], tmp_path / "stamps_r.fits", 0.2, 30.0)
    write_table(pd.DataFrame({"object_id": ["G0", "G1", "G2"], "lrg_li2020": True}), tmp_path / "index.parquet")

    def sample(sim_bands, stamps):
        sim = tmp_path / f"sim_{''.join(sim_bands)}"
        shape = (4, len(sim_bands), 4, 4) if len(sim_bands) > 1 else (4, 4, 4)
        write_cube(np.full(shape, -1, np.float32), sim / "shard_000.fits", 0.2, 30.0, bands=sim_bands)
        write_table(pd.DataFrame({"object_id": [f"s{i}" for i in range(4)], "is_lens": [True, False] * 2}),
                    sim / "shard_000.parquet")
        out = tmp_path / f"roc_{''.join(sim_bands)}_{stamps}"
        args = ["experiment-roc-sample", "--sim", str(sim), "--stamp-cubes", str(tmp_path / f"{stamps}.fits"),
                "--stamp-index", str(tmp_path / "index.parquet"), "--n-positives", "2", "--n-negatives", "3",
                "--seed", "1", "--out-cube", str(out) + ".fits", "--out-index", str(out) + ".parquet"]
        if main(args) != 0:
            return None, None
        reader = CubeReader(str(out) + ".fits")
        bands, images = cube_bands(reader.header), reader.read(0, 5)
        reader.close()
        assert (images[:2] == -1).all()  # the two simulated lenses first
        return bands, images[2:]

    for stamps in ("stamps", "stamps_irg"):
        bands, negatives = sample(("g", "r", "i"), stamps)
        assert bands == ("g", "r", "i") and np.array_equal(negatives, survey)
    bands, negatives = sample(("r",), "stamps")
    assert bands == ("r",) and np.array_equal(negatives, survey[:, 1])
    assert sample(("g", "r", "i"), "stamps_r") == (None, None)
    sim = tmp_path / "sim_gri"
    with pytest.raises(InputError, match=r"stamps_r.fits: holds bands r, but g,r,i are needed \(missing: g,i\)"):
        subsets.write_roc_sample([str(sim)], [str(tmp_path / "stamps_r.fits")], [str(tmp_path / "index.parquet")],
                                 tmp_path / "x.fits", tmp_path / "x.parquet", sample="lrg_li2020", n_positives=2,
                                 n_negatives=3, seed=1)
