"""Calibration: temperature scaling recovers a known miscalibration, the ECE is computed right,
and ensembles combine calibrated probabilities."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from lensfinder.cli import main
from lensfinder.io import InputError, read_table, write_table
from lensfinder.learning.calibration import (
    LOGIT_LIMIT,
    apply_calibration,
    apply_temperature,
    calibrate_files,
    calibrate_members,
    calibration_split,
    expected_calibration_error,
    fit_calibration,
    fit_temperature,
    logit,
    read_calibration,
    reliability_table,
)
from lensfinder.learning.ensemble import combine_files, combine_scores, ensemble_members


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _miscalibrated(n, temperature, seed=0):
    """Labels drawn from sigmoid(z), scores reported as sigmoid(z * temperature)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 2.5, n)
    y = rng.random(n) < _sigmoid(z)
    return _sigmoid(z * temperature), y


@pytest.mark.parametrize("true_temperature", [3.0, 0.5])
def test_temperature_recovers_a_known_miscalibration(true_temperature):
    p, y = _miscalibrated(40_000, true_temperature)
    temperature = fit_temperature(p, y)
    assert temperature == pytest.approx(true_temperature, rel=0.05)
    calibrated = apply_temperature(p, temperature)
    assert expected_calibration_error(calibrated, y) < 0.01 < expected_calibration_error(p, y)
    # a monotonic map: the ranking is untouched
    order = np.argsort(p, kind="mergesort")
    assert np.all(np.diff(calibrated[order]) >= 0)


def test_ece_by_hand():
    p = np.array([0.1, 0.2, 0.3, 0.6, 0.9])
    y = np.array([False, False, True, True, True])
    # bin [0, 0.5): mean p 0.2, lens fraction 1/3, 3 of 5; bin [0.5, 1]: mean 0.75, fraction 1, 2 of 5
    expected = 3 / 5 * abs(0.2 - 1 / 3) + 2 / 5 * abs(0.75 - 1.0)
    assert expected_calibration_error(p, y, bins=2) == pytest.approx(expected)
    table = reliability_table(p, y, bins=2)
    assert table["n"].tolist() == [3, 2]
    np.testing.assert_allclose(table["mean_p"], [0.2, 0.75])
    np.testing.assert_allclose(table["lens_fraction"], [1 / 3, 1.0])
    # p = 1 belongs to the last bin, NaN scores are ignored, empty bins are NaN
    edge = reliability_table([1.0, np.nan, 0.0], [True, True, False], bins=4)
    assert edge["n"].tolist() == [1, 0, 0, 1] and np.isnan(edge["mean_p"].iloc[1])
    assert np.isnan(expected_calibration_error([], [], bins=4))


def test_logit_is_bounded_and_temperature_keeps_nan():
    z = logit([0.0, 0.5, 1.0])
    assert z[1] == 0 and z[2] == pytest.approx(LOGIT_LIMIT) and z[0] == pytest.approx(-LOGIT_LIMIT)
    out = apply_temperature(np.array([0.9, np.nan]), 2.0)
    assert out[0] == pytest.approx(_sigmoid(np.log(9) / 2)) and np.isnan(out[1])
    with pytest.raises(ValueError, match="temperature"):
        apply_temperature([0.5], 0.0)
    with pytest.raises(ValueError, match="lenses and non-lenses"):
        fit_temperature([0.2, 0.9], [True, True])


def test_calibrated_scores_keep_their_precision_and_saturate_only_at_one():
    """The identity map gives back tiny scores to float precision; a steep map (the default run's beta map
    has b = 1.81) takes distinct scores near 1 to exactly 1.0, never above, never out of order."""
    tiny = np.array([1e-15, 1e-12, 1e-300])
    identity = apply_calibration(tiny, {"a": 1.0, "b": 1.0, "c": 0.0})
    assert identity == pytest.approx(tiny, rel=1e-12, abs=0)  # not clipped at 2^-53, not rounded to 0
    near_one = 1.0 - np.logspace(-8, -15, 8)
    steep = apply_calibration(near_one, {"a": 1.03, "b": 1.81, "c": -1.23})
    assert (np.diff(steep) >= 0).all() and (steep <= 1.0).all()
    assert steep[0] < 1.0 and steep[-1] == 1.0


def test_distinct_tiny_scores_stay_distinct_and_in_order():
    """A confident network's float64 scores reach far below 2^-53 (a logit of -50 is p = 2e-22): calibration
    keeps them apart and in order, so thresholds and rankings on calibrated scores see no ties there; the
    fit still sees them clipped at 2^-53, so a few confident misses weigh no more than one at 1e-16."""
    raw = 1 / (1 + np.exp(-np.array([-38.0, -45.0, -50.0, -100.0, -300.0, -600.0])))
    for params in ({"a": 1.0, "b": 1.0, "c": 0.0}, {"a": 1.03, "b": 1.81, "c": -1.23}, {"a": 0.4, "b": 2.0, "c": 3.0}):
        out = apply_calibration(raw, params)
        assert (np.diff(out) < 0).all() and (out > 0).all(), params
    p, y = _miscalibrated(2_000, 3.0)
    extreme = np.r_[p, 1e-30, 1e-200, 2.0**-53]
    labels = np.r_[y, True, False, False]
    assert fit_calibration(extreme, labels) == fit_calibration(np.maximum(extreme, 2.0**-53), labels)


def test_beta_calibration_corrects_what_a_temperature_cannot():
    """A network that calls too many lenses (a biased logit) and is asymmetric: beta calibration fixes it."""
    rng = np.random.default_rng(5)
    p = _sigmoid(rng.normal(0.0, 3.0, 40_000))  # the network's scores
    truth = {"a": 1.8, "b": 0.6, "c": -1.0}  # the true lens probability is a beta map of them
    y = rng.random(p.size) < apply_calibration(p, truth)
    beta = fit_calibration(p, y, "beta")
    for key in "abc":
        assert beta[key] == pytest.approx(truth[key], rel=0.1), key
    errors = {m: expected_calibration_error(apply_calibration(p, fit_calibration(p, y, m)), y)
              for m in ("none", "temperature", "platt", "beta")}
    assert errors["beta"] < 0.01 < errors["temperature"] < errors["none"]
    assert errors["beta"] < errors["platt"]
    # every map is strictly increasing: no reordering, no ties
    grid = np.linspace(0, 1, 1001)
    assert np.all(np.diff(apply_calibration(grid, beta)) > 0)
    assert fit_calibration(p, y, "none") == {"a": 1.0, "b": 1.0, "c": 0.0}
    with pytest.raises(ValueError, match="increasing"):
        apply_calibration(grid, {"a": -1.0, "b": 1.0, "c": 0.0})


def test_split_is_seeded_per_object_and_about_half():
    ids = [f"sim-{k}" for k in range(2000)]
    fit = calibration_split(ids, seed=3)
    assert 900 < fit.sum() < 1100
    np.testing.assert_array_equal(calibration_split(ids[::-1], seed=3), fit[::-1])
    assert (calibration_split(ids, seed=4) != fit).any()


def _member_table(p, ids, name):
    return pd.DataFrame({"object_id": ids, "p_cnn": p, "model": name})


def test_members_are_calibrated_and_measured_by_cross_fitting(tmp_path):
    n = 6000
    p_hot, y = _miscalibrated(n, 4.0, seed=1)
    p_good = np.clip(_sigmoid(logit(p_hot) / 4.0 + np.random.default_rng(2).normal(0, 0.3, n)), 0, 1)
    ids = np.array([f"sim-{k}" for k in range(n)], dtype=object)
    labels = pd.DataFrame({"object_id": ids, "is_lens": y})
    members = {"hot": _member_table(p_hot, ids, "hot"), "good": _member_table(p_good, ids, "good")}
    params, summary, reliability = calibrate_members(members, labels, method="temperature", seed=7)
    assert 1 / params["hot"]["a"] == pytest.approx(4.0, rel=0.1) and params["hot"]["c"] == 0
    rows = summary.set_index("member")
    assert set(rows.index) == {"hot", "good", "ensemble"} and (rows["n"] == n).all()
    assert rows.loc["hot", "temperature"] == pytest.approx(1 / params["hot"]["a"])
    assert rows.loc["hot", "ece_calibrated"] < 0.02 < rows.loc["hot", "ece_raw"]
    assert rows.loc["ensemble", "ece_calibrated"] < 0.03
    assert set(params) == {"hot", "good", "ensemble"}  # the ensemble's mean gets a map of its own
    assert set(reliability["scores"]) == {"raw", "calibrated"}
    assert reliability.groupby(["member", "scores"])["n"].sum().eq(n).all()
    # cross-fitting: each half is calibrated by the map fitted on the other half
    half = calibration_split(ids, 7)
    crossed = np.empty(n)
    for h in (True, False):
        crossed[half != h] = apply_calibration(p_hot[half != h], fit_calibration(p_hot[half == h], y[half == h],
                                                                                  "temperature"))
    assert rows.loc["hot", "ece_calibrated"] == pytest.approx(expected_calibration_error(crossed, y))
    none, _, _ = calibrate_members({"hot": members["hot"]}, labels, method="none")
    assert none == {"hot": {"a": 1.0, "b": 1.0, "c": 0.0}}

    # the files: shards of two members with their labels, then the JSON read back
    for name, p in (("hot", p_hot), ("good", p_good)):
        for k, rows_k in enumerate(np.array_split(np.arange(n), 2)):
            write_table(_member_table(p[rows_k], ids[rows_k], name), tmp_path / f"{name}_{k}.parquet")
    write_table(labels, tmp_path / "labels.parquet")
    paths = sorted(tmp_path.glob("*_?.parquet"))
    written = calibrate_files(paths, [tmp_path / "labels.parquet"], tmp_path / "cal.json", tmp_path / "sum.parquet",
                              tmp_path / "rel.parquet", method="temperature", seed=7)
    assert read_calibration(tmp_path / "cal.json") == written
    assert written["hot"] == pytest.approx(params["hot"])
    assert (tmp_path / "sum.csv").exists() and (tmp_path / "rel.csv").exists()
    (tmp_path / "bad.json").write_text(json.dumps({"params": {"hot": {"a": -1, "b": 1, "c": 0}}}))
    with pytest.raises(InputError, match="bad.json: params: 'hot'"):
        read_calibration(tmp_path / "bad.json")
    with pytest.raises(InputError, match="good.*twice"):
        calibrate_files(paths + paths[:1], [tmp_path / "labels.parquet"], tmp_path / "c.json",
                        tmp_path / "s.parquet", tmp_path / "r.parquet")
    # a missing label is refused, naming the file: read as bool it would count as a lens
    gappy = labels.assign(is_lens=labels["is_lens"].astype(object).where(np.arange(n) % 2 == 0, None))
    write_table(gappy, tmp_path / "gappy.parquet")
    with pytest.raises(InputError, match=r"gappy.parquet: is_lens: None is not a boolean"):
        calibrate_files(paths, [tmp_path / "gappy.parquet"], tmp_path / "c.json", tmp_path / "s.parquet",
                        tmp_path / "r.parquet")
    with pytest.raises(InputError, match="is_lens: nan is not a boolean"):
        calibrate_members(members, labels.assign(is_lens=np.where(np.arange(n) % 2 == 0, 1.0, np.nan)))
    assert not (tmp_path / "c.json").exists()


def test_ensemble_members_are_named_and_checked():
    assert [m.name for m in ensemble_members([], "he2020", 42)] == ["he2020"]
    members = ensemble_members([{"model": "he2020", "seed": 1}, {"seed": 2}, {"model": "resnet18", "seed": 1}],
                               "he2020", 42)
    assert [(m.name, m.model, m.seed) for m in members] == [
        ("he2020", "he2020", 1), ("he2020_s2", "he2020", 2), ("resnet18_s1", "resnet18", 1)]
    with pytest.raises(InputError, match=r"ensemble\[1\].*already a member"):
        ensemble_members([{"seed": 3}, {"seed": 3}], "he2020", 42)
    with pytest.raises(InputError, match=r"ensemble\[0\].model"):
        ensemble_members([{"model": "vgg"}], "he2020", 42)
    # a member may start from (or keep) a trained network of its own
    pair = ensemble_members([{"seed": 1, "init_weights": "a.keras"}, {"seed": 2}], "he2020", 42)
    assert [m.init_weights for m in pair] == ["a.keras", None]
    for bad in (3, ""):
        with pytest.raises(InputError, match=r"ensemble\[1\].init_weights: .*expected the path of a trained"):
            ensemble_members([{"seed": 1}, {"seed": 2, "init_weights": bad}], "he2020", 42)
    # ... and train on a simulated set of its own: the same network and seed on another set is another member
    sets = ensemble_members([{"seed": 1}, {"seed": 1, "train_set": "train_neighbours"},
                             {"model": "he2020_half", "seed": 2, "train_set": "train"}], "he2020", 42)
    assert [(m.name, m.train_set) for m in sets] == [
        ("he2020", "train"), ("he2020_s1_train_neighbours", "train_neighbours"), ("he2020_half_s2", "train")]
    with pytest.raises(InputError, match=r"ensemble\[2\]: he2020 with seed 1 on b is already a member"):
        ensemble_members([{"seed": 1}, {"seed": 1, "train_set": "b"}, {"seed": 1, "train_set": "b"}], "he2020", 42)
    for bad in ("test", "", "a/b", 3, "1x"):
        with pytest.raises(InputError, match=r"ensemble\[1\].train_set: .*other than test"):
            ensemble_members([{"seed": 1}, {"seed": 2, "train_set": bad}], "he2020", 42)


def test_combined_score_is_the_mean_of_calibrated_probabilities(tmp_path):
    ids = ["a", "b", "c"]
    one = pd.DataFrame({"object_id": ids, "p_cnn": [0.9, 0.5, 0.1], "model": "n1", "model_hash": "h1",
                        "shard": "MOCK_0"})
    two = pd.DataFrame({"object_id": ids[::-1], "p_cnn": [0.2, 0.5, 0.99], "model": "n2", "model_hash": "h2",
                        "shard": "MOCK_0"})
    maps = {"n1": {"a": 0.5, "b": 0.5, "c": 0.0}, "n2": {"a": 2.0, "b": 2.0, "c": 0.0}}  # T = 2 and 0.5
    combined = combine_scores({"n1": one, "n2": two}, maps, shard="MOCK_0")
    expected_a = (apply_temperature([0.9], 2.0)[0] + apply_temperature([0.99], 0.5)[0]) / 2
    assert combined["object_id"].tolist() == ids
    assert combined["p_cnn"].iloc[0] == pytest.approx(expected_a)
    assert combined["p_cnn"].iloc[1] == pytest.approx(0.5)
    assert combined["p_cnn_raw"].iloc[2] == pytest.approx((0.1 + 0.2) / 2)
    assert combined["model"].iloc[0] == "n1+n2" and (combined["n_members"] == 2).all()
    with_map = combine_scores({"n1": one, "n2": two}, {**maps, "ensemble": {"a": 2.0, "b": 2.0, "c": 0.0}})
    np.testing.assert_allclose(with_map["p_cnn"], apply_temperature(combined["p_cnn"], 0.5))
    with pytest.raises(InputError, match="no map for member 'n2'"):
        combine_scores({"n1": one, "n2": two}, {"n1": maps["n1"]})
    with pytest.raises(InputError, match="member 'n2': scores other objects"):
        combine_scores({"n1": one, "n2": two.iloc[:2]}, maps)

    write_table(one, tmp_path / "n1.parquet")
    write_table(two, tmp_path / "n2.parquet")
    (tmp_path / "cal.json").write_text(json.dumps({"params": maps}))
    written = combine_files([tmp_path / "n1.parquet", tmp_path / "n2.parquet"], tmp_path / "cal.json",
                            tmp_path / "out.parquet")
    pd.testing.assert_frame_equal(written, pd.read_parquet(tmp_path / "out.parquet"), check_dtype=False)
    assert written["shard"].iloc[0] == "MOCK_0"
    # `--calibration none`: the plain mean of the raw scores (the domain_shift row `ensemble`, as an
    # exported ensemble file scores), with no map required
    assert main(["combine-scores", "--predictions", str(tmp_path / "n1.parquet"), str(tmp_path / "n2.parquet"),
                 "--calibration", "none", "--out", str(tmp_path / "plain.parquet")]) == 0
    plain = read_table(tmp_path / "plain.parquet")
    np.testing.assert_allclose(plain["p_cnn"], [(0.9 + 0.99) / 2, 0.5, (0.1 + 0.2) / 2])
    np.testing.assert_array_equal(plain["p_cnn"], plain["p_cnn_raw"])


def test_one_tile_is_picked_from_tables_of_several(tmp_path):
    """`combine-scores --shard TILE`: a scoring job's table holds several tiles; each tile's combined
    scores are those of its own rows, in each member's order, exactly as from one table per tile."""
    maps = {"n1": {"a": 0.5, "b": 0.5, "c": 0.0}, "n2": {"a": 2.0, "b": 2.0, "c": 0.0}}
    (tmp_path / "cal.json").write_text(json.dumps({"params": maps}))
    tiles = {"MOCK_0": ["a", "b", "c"], "MOCK_1": ["d", "e"]}
    rng = np.random.default_rng(5)
    for name in maps:
        parts = [pd.DataFrame({"object_id": ids, "p_cnn": rng.uniform(size=len(ids)), "model": name,
                               "model_hash": f"h_{name}", "shard": tile}) for tile, ids in tiles.items()]
        write_table(pd.concat(parts, ignore_index=True), tmp_path / f"{name}_chunk.parquet")
        for tile, part in zip(tiles, parts):
            write_table(part, tmp_path / f"{name}_{tile}.parquet")
    for tile in tiles:
        picked = combine_files([tmp_path / f"{n}_chunk.parquet" for n in maps], tmp_path / "cal.json",
                               tmp_path / f"{tile}.parquet", shard=tile)
        alone = combine_files([tmp_path / f"{n}_{tile}.parquet" for n in maps], tmp_path / "cal.json",
                              tmp_path / f"{tile}_alone.parquet")
        assert picked["object_id"].tolist() == tiles[tile] and set(picked["shard"]) == {tile}
        pd.testing.assert_frame_equal(picked, alone)
    assert main(["combine-scores", "--predictions", str(tmp_path / "n1_chunk.parquet"), "--calibration",
                 str(tmp_path / "cal.json"), "--shard", "MOCK_1", "--out", str(tmp_path / "cli.parquet")]) == 0
    assert read_table(tmp_path / "cli.parquet")["object_id"].tolist() == ["d", "e"]

    write_table(pd.DataFrame({"object_id": ["a"], "p_cnn": [0.5], "model": "n1"}), tmp_path / "bare.parquet")
    with pytest.raises(InputError, match="bare.parquet: no shard column"):
        combine_files([tmp_path / "bare.parquet"], tmp_path / "cal.json", tmp_path / "x.parquet", shard="MOCK_0")


def test_sets_without_both_classes_in_each_half_are_refused_by_name():
    """One class only, or a set so small that a half of the cross-fitting lacks one, stopped `calibrate`
    with a bare ValueError traceback; now one line saying which half and what to change."""
    from lensfinder.io import InputError
    from lensfinder.learning.calibration import calibrate_members, calibration_split

    def run(ids, y):
        p = np.where(y, 0.8, 0.3) + np.linspace(0, 0.1, len(ids))
        return calibrate_members({"he2020": pd.DataFrame({"object_id": ids, "p_cnn": p})},
                                 pd.DataFrame({"object_id": ids, "is_lens": y}), seed=42)

    ids = [f"test-2-0-{k}" for k in range(40)]
    with pytest.raises(InputError, match=r"the scored set of the 40 scored held-out images .* has 0 lenses and 40"):
        run(ids, np.zeros(40, bool))
    # both classes, but every lens falls in one half of the split
    fold = calibration_split(ids, 42)
    with pytest.raises(InputError, match=r"half 1 of the 40 .* has \d+ lenses and 0 non-lenses; expected both: a la"):
        run(ids, fold)
    params, summary, _ = run(ids, np.arange(40) % 2 == 1)
    assert set(params) == {"he2020"} and summary["n"].tolist() == [40]
