"""Fine-tuning sets from a grades table (which stamps become lenses, hard negatives, random
negatives), their images, and fine-tuning a trained network on them."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from lensfinder.inspection.grades import read_grades
from lensfinder.io import InputError, write_cube, write_table
from lensfinder.learning.datasets import ShardSet, toy_lens_images, write_toy_shard
from lensfinder.learning.finetune import (
    dihedral_copies,
    finetune_set,
    finetune_set_files,
    graded_labels,
    select_training_objects,
)
from lensfinder.learning.finetune_network import finetune

#: object -> grades of five inspectors (Li et al. 2020: A 10, B 7, C 3, D 0)
ROUND_0 = {
    "lens_a": "AAABB",       # mean 8.8: a lens
    "lens_b": "ABBBB",       # mean 7.6: a lens
    "edge_b": "BBBBC",       # mean 6.2: in between, left out
    "ring": "CCCDD",         # mean 1.8: a hard negative
    "spiral": "DDDDC",       # mean 0.6: a hard negative
    "c_only": "CCCCC",       # mean 3.0: not below 3, left out
    "regraded": "DDDDD",     # graded again in round 1
    "eval_lens": "AAAAA",    # on an evaluation tile: never trained on
    "sim-3": "AAAAA",        # a blind-mixed simulation
}
ROUND_1 = {"regraded": "AAAAB", "new_ring": "DDDDD"}


def _write_grades(path, grades):
    rows = [(oid, f"simulated-{k + 1}", g) for oid, letters in grades.items() for k, g in enumerate(letters)]
    pd.DataFrame(rows, columns=["object_id", "inspector", "grade"]).to_csv(path, index=False)
    return path


@pytest.fixture
def grades_files(tmp_path):
    return [_write_grades(tmp_path / "g0.csv", ROUND_0), _write_grades(tmp_path / "g1.csv", ROUND_1)]


def test_labels_follow_the_mean_grade_and_the_latest_round(grades_files):
    labels = graded_labels([read_grades(p, "li2020") for p in grades_files], "li2020")
    assert labels.loc["lens_a", "score_mean"] == pytest.approx(8.8)
    lenses = set(labels.index[labels["label"] == "lens"])
    nonlenses = set(labels.index[labels["label"] == "nonlens"])
    assert lenses == {"lens_a", "lens_b", "regraded", "eval_lens", "sim-3"}
    assert nonlenses == {"ring", "spiral", "new_ring"}
    assert set(labels.index[labels["label"] == ""]) == {"edge_b", "c_only"}
    assert labels.loc["regraded", "round"] == 1 and labels.loc["ring", "round"] == 0
    # He et al.'s 2/1/0 scheme on the same scale: mean >= 1.4 a lens, < 0.6 a non-lens
    he = pd.DataFrame({"object_id": ["x"] * 3 + ["y"] * 3, "inspector": list("abcabc"),
                       "grade": ["2", "1", "2", "0", "1", "0"], "score": [2, 1, 2, 0, 1, 0]})
    assert graded_labels([he], "he2020")["label"].to_dict() == {"x": "lens", "y": "nonlens"}


def test_selection_keeps_search_tiles_drops_mixed_simulations_and_draws_random_negatives(grades_files):
    labels = graded_labels([read_grades(p, "li2020") for p in grades_files], "li2020")
    survey = ["lens_a", "lens_b", "edge_b", "ring", "spiral", "c_only", "regraded", "new_ring", "sim-3",
              *[f"galaxy_{k}" for k in range(20)]]
    pick = select_training_objects(labels, survey, np.random.default_rng(1), 8, exclude=["sim-3"])
    by_source = pick.groupby("source")["object_id"].apply(set).to_dict()
    assert by_source["graded_lens"] == {"lens_a", "lens_b", "regraded"}
    assert by_source["graded_nonlens"] == {"ring", "spiral", "new_ring"}
    random_ids = by_source["random_survey"]
    assert len(random_ids) == 8 and all(oid.startswith("galaxy_") for oid in random_ids)
    assert pick.loc[pick["source"] == "graded_lens", "is_lens"].all()
    assert not pick.loc[pick["source"] != "graded_lens", "is_lens"].any()
    again = select_training_objects(labels, survey, np.random.default_rng(1), 8, exclude=["sim-3"])
    pd.testing.assert_frame_equal(pick, again)
    everything = select_training_objects(labels, survey, np.random.default_rng(2), 1000)
    assert (everything["source"] == "random_survey").sum() == 20


def test_dihedral_copies_are_the_eight_symmetries():
    square = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
    two = dihedral_copies(np.concatenate([square, square + 100]), 8)
    assert two.shape == (16, 4, 4) and (two[8:] >= 100).all() and (two[:8] < 100).all()
    copies = dihedral_copies(square, 8)
    np.testing.assert_array_equal(copies[0], square[0])
    np.testing.assert_array_equal(copies[1], np.rot90(square[0]))
    np.testing.assert_array_equal(copies[4], square[0][:, ::-1])
    assert len({c.tobytes() for c in copies}) == 8
    np.testing.assert_array_equal(dihedral_copies(square, 10)[8:], copies[:2])  # then again
    with pytest.raises(ValueError, match="n_copies"):
        dihedral_copies(square, 0)
    with pytest.raises(ValueError, match="square"):
        dihedral_copies(np.zeros((1, 3, 4)), 2)


def _selection():
    return pd.DataFrame({"object_id": ["L1", "L2", "N1", "R1", "R2"], "is_lens": [True, True, False, False, False],
                         "source": ["graded_lens"] * 2 + ["graded_nonlens"] + ["random_survey"] * 2,
                         "p_human": [0.9, 0.8, 0.1, np.nan, np.nan]})


def test_set_holds_copies_survey_negatives_and_simulations(tmp_path):
    write_toy_shard(tmp_path, 0, 60, size=21, seed=3)
    sims = ShardSet([tmp_path / "shard_000.fits"])
    stamps = {oid: np.full((21, 21), k, np.float32) for k, oid in enumerate(["L1", "L2", "N1", "R1", "R2"])}
    images, table = finetune_set(_selection(), lambda ids: np.stack([stamps[i] for i in ids]), sims,
                                 graded_copies=4, sim_ratio=2.0, rng=np.random.default_rng(0))
    assert len(images) == len(table) == 3 * 4 + 2 + 2 * 14
    counts = table["source"].value_counts().to_dict()
    assert counts == {"graded_lens": 8, "graded_nonlens": 4, "random_survey": 2, "simulated": 28}
    assert table["object_id"].is_unique
    assert table.loc[:13, "source_id"].tolist() == ["L1"] * 4 + ["L2"] * 4 + ["N1"] * 4 + ["R1", "R2"]
    assert table.loc[:3, "copy"].tolist() == [0, 1, 2, 3] and table["object_id"].iloc[13] == "R2"
    for k, oid in enumerate(["L1", "L2", "N1", "R1", "R2"]):
        assert (images[(table["source_id"] == oid).to_numpy()] == k).all(), oid
    sim_rows = table["source"] == "simulated"
    assert table.loc[sim_rows, "object_id"].str.startswith("toy-3-0-").all()
    truth = pd.read_parquet(tmp_path / "shard_000.parquet").set_index("object_id")["is_lens"]
    np.testing.assert_array_equal(table.loc[sim_rows, "is_lens"], truth[table.loc[sim_rows, "object_id"]])
    no_lens = _selection().iloc[2:]
    with pytest.raises(InputError, match="0 lenses"):
        finetune_set(no_lens, lambda ids: np.zeros((len(ids), 21, 21), np.float32), None,
                     rng=np.random.default_rng(0))


def _tiny_survey(directory, n=24, size=49, seed=5):
    """Two stamp tiles of toy images whose ids the grades use."""
    rng = np.random.default_rng(seed)
    images, _, _ = toy_lens_images(2 * n, size, rng)
    cubes, indexes = [], []
    for t in range(2):
        ids = [f"T{t}_{k}" for k in range(n)]
        write_cube(images[t * n:(t + 1) * n], directory / f"T{t}.fits", 0.2, 30.0)
        write_table(pd.DataFrame({"object_id": ids, "tile": f"T{t}"}), directory / f"T{t}.parquet")
        cubes.append(directory / f"T{t}.fits")
        indexes.append(directory / f"T{t}.parquet")
    return cubes, indexes


def test_set_files_and_finetuning_a_trained_network(tmp_path):
    from lensfinder.learning.inference import predict_shard
    from lensfinder.learning.models import build_model
    from lensfinder.learning.modelfiles import file_hash, save_model
    from lensfinder.learning.sidecar import write_settings

    cubes, indexes = _tiny_survey(tmp_path)
    # the first tile's index carries its Moffat fits (lensfinder stamps), one object's tile had no stars
    index = pd.read_parquet(indexes[0])
    index = index.assign(psf_moffat_fwhm_arcsec_r=0.7 + 0.01 * np.arange(len(index)), psf_moffat_beta_r=4.0,
                         psf_moffat_n_stars_r=5)
    index.loc[index["object_id"] == "T0_3", ["psf_moffat_fwhm_arcsec_r", "psf_moffat_beta_r"]] = np.nan
    write_table(index, indexes[0])
    grades = _write_grades(tmp_path / "g.csv", {"T0_1": "AAAAA", "T0_2": "AABBB", "T0_3": "DDDDD",
                                                 "T1_0": "AAAAA", "sim-x": "AAAAA"})
    write_table(pd.DataFrame({"object_id": ["sim-x"], "is_lens": [True]}), tmp_path / "known.parquet")
    (tmp_path / "sims").mkdir()
    sim_cube = write_toy_shard(tmp_path / "sims", 0, 40, size=49, seed=9)
    out = tmp_path / "round" / "shard_000.fits"
    table = finetune_set_files([grades], [tmp_path / "known.parquet"], indexes[:1], cubes[:1], [sim_cube], out,
                               n_random_negatives=10, graded_copies=8, sim_ratio=0.5, seed=4)
    assert set(table.loc[table["source"] == "graded_lens", "source_id"]) == {"T0_1", "T0_2"}
    assert table.loc[table["source"] == "graded_nonlens", "source_id"].tolist() == ["T0_3"] * 8
    assert not table["source_id"].isin(["T1_0", "sim-x"]).any()  # other tile, mixed simulation
    assert (table["source"] == "random_survey").sum() == 10
    # 8 + 10 survey non-lens images: each of the 2 graded lenses is repeated 9 times to match
    assert table.loc[table["source"] == "graded_lens", "source_id"].value_counts().tolist() == [9, 9]
    assert (table["source"] == "simulated").sum() == round(0.5 * (18 + 18))
    # each survey row (every copy) carries its stamp's fits, the simulations none; the star counts stay behind
    assert "psf_moffat_n_stars_r" not in table
    survey = table[table["source"] != "simulated"]
    expected = index.set_index("object_id").loc[survey["source_id"], ["psf_moffat_fwhm_arcsec_r", "psf_moffat_beta_r"]]
    np.testing.assert_array_equal(survey[["psf_moffat_fwhm_arcsec_r", "psf_moffat_beta_r"]], expected)
    assert survey["psf_moffat_fwhm_arcsec_r"].notna().sum() == len(survey) - 8  # T0_3's eight copies have none
    assert table.loc[table["source"] == "simulated", "psf_moffat_fwhm_arcsec_r"].isna().all()
    shards = ShardSet([out])
    assert len(shards) == len(table)

    # a parent network with its sidecar, as `lensfinder train` writes them
    parent = tmp_path / "models" / "he2020.keras"
    from lensfinder.learning.models import import_keras

    keras = import_keras()
    try:  # trained in mixed precision, as on a GPU
        keras.mixed_precision.set_global_policy("mixed_float16")
        save_model(build_model("he2020", (24, 24, 1)), parent)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    write_settings({"model": "he2020", "input_shape": [24, 24, 1], "stamp_size": 49, "preprocess": "bin2",
                    "normalization": "minmax", "seed": 1, "training": {"epochs": 1},
                    "history": "elsewhere/parent.history.csv", "soup": [{"path": "a.keras"}]}, parent)
    child = tmp_path / "rounds" / "1" / "he2020.keras"
    history = finetune(parent, [out], child, epochs=1, learning_rate=1e-4, batch_size=16, seed=3, threads=2)
    assert len(history) == 1 and np.isfinite(history["loss"]).all()
    settings = json.loads(child.with_suffix(".json").read_text())
    assert settings["training"]["finetuned_from"] == str(parent)
    assert settings["training"]["parent_hash"] == file_hash(parent) != file_hash(child)
    assert settings["weights_hash"] == file_hash(child)
    assert settings["input_shape"] == [24, 24, 1] and settings["preprocess"] == "bin2"
    # its own learning curve, not the parent's (nor the parent's averaged networks)
    assert settings["history"].endswith("rounds/1/he2020.history.csv") and "soup" not in settings
    # the convolutions keep the parent's weights (freeze_features), the head learns
    from lensfinder.learning.modelfiles import load_model

    before, after = load_model(parent), load_model(child)
    np.testing.assert_array_equal(before.get_layer("conv1").get_weights()[0], after.get_layer("conv1").get_weights()[0])
    assert not np.array_equal(before.get_layer("fc1").get_weights()[0], after.get_layer("fc1").get_weights()[0])
    assert settings["training"]["freeze_features"] is True
    # fine-tuned on this CPU: in float32, the parent's float16 layers too
    assert settings["training"]["precision"] == "float32" and before.get_layer("conv1").compute_dtype == "float16"
    assert {layer.compute_dtype for layer in after.layers} == {"float32"}
    scores = predict_shard(cubes[1], indexes[1], [child], threads=2)
    assert len(scores) == 24 and scores["p_cnn"].between(0, 1).all()
    with pytest.raises(InputError, match="49-pixel stamps"):
        (tmp_path / "small").mkdir()
        small = write_toy_shard(tmp_path / "small", 0, 20, size=21, seed=1)
        finetune(parent, [small], tmp_path / "x.keras", epochs=1)


def test_set_files_refuse_grades_that_train_nothing_and_match_ids_as_merge_scores(tmp_path, caplog):
    """A header-only grades file, or one whose ids are none of the search's (another round's, a typo),
    used to give a round of random stamps and simulations alone, exit 0; an id with a trailing space
    (hand-edited), which merge-scores ranks, was dropped."""
    cubes, indexes = _tiny_survey(tmp_path)
    write_table(pd.DataFrame({"object_id": ["sim-x"], "is_lens": [True]}), tmp_path / "known.parquet")
    out = tmp_path / "round" / "shard_000.fits"

    def run(grades):
        return finetune_set_files([grades], [tmp_path / "known.parquet"], indexes[:1], cubes[:1], [], out,
                                  n_random_negatives=4, graded_copies=2, sim_ratio=0.0, seed=4)

    empty = tmp_path / "empty.csv"
    empty.write_text("object_id,inspector,grade\n")
    with pytest.raises(InputError, match=r"empty\.csv: no grades \(header only\)"):
        run(empty)
    with pytest.raises(InputError, match=r"unknown\.csv: none of its 2 graded objects .* e\.g\. 'T9_1'"):
        run(_write_grades(tmp_path / "unknown.csv", {"T9_1": "AAAAA", "T9_2": "DDDDD"}))
    spaced = tmp_path / "spaced.csv"
    pd.DataFrame({"object_id": ["T0_1 ", "T0_2"], "inspector": ["ann", "ann"], "grade": ["A", "D"]}).to_csv(
        spaced, index=False)
    table = run(spaced)
    assert table.loc[table["source"] == "graded_lens", "source_id"].unique().tolist() == ["T0_1"]
    assert table.loc[table["source"] == "graded_nonlens", "source_id"].unique().tolist() == ["T0_2"]
    with caplog.at_level("WARNING"):
        table = run(_write_grades(tmp_path / "some.csv", {"T0_1": "AAAAA", "T0_4": "DDDDD", "T9_9": "AAAAA"}))
    assert "some.csv: 1 graded objects are neither stamps of the search tiles" in caplog.text and "T9_9" in caplog.text
    assert set(table.loc[table["source"] != "random_survey", "source_id"]) == {"T0_1", "T0_4"}
