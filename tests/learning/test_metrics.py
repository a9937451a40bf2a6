"""Metrics against hand-checkable cases, and ``lensfinder evaluate``."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from lensfinder.learning import metrics as m
from lensfinder.cli import main
from lensfinder.io import read_table, write_table


def test_hand_checked_case():
    y = np.array([1, 1, 0, 1, 0], bool)
    s = np.array([0.9, 0.8, 0.7, 0.6, 0.1])
    # lens/non-lens pairs ranked correctly: 0.9 and 0.8 beat both, 0.6 beats 0.1 only
    assert m.auroc(y, s) == pytest.approx(5 / 6)
    assert m.tpr0(y, s) == pytest.approx(2 / 3)  # the third lens comes after a false positive
    assert m.tpr10(y, s) == 1.0
    row = m.threshold_metrics(y, s, 0.7)  # >= threshold is a lens
    assert (row["tp"], row["fp"], row["tn"], row["fn"]) == (2, 1, 1, 1)
    assert row["accuracy"] == pytest.approx(3 / 5)
    assert row["completeness"] == pytest.approx(2 / 3)
    assert row["fpr"] == pytest.approx(1 / 2)
    assert row["purity"] == pytest.approx(2 / 3)
    fpr, tpr, thr, n_fp, n_tp = m.roc_curve(y, s)
    assert thr[0] == np.inf and (fpr[0], tpr[0]) == (0, 0) and (fpr[-1], tpr[-1]) == (1, 1)
    np.testing.assert_array_equal(n_tp, [0, 1, 2, 2, 3, 3])
    np.testing.assert_array_equal(n_fp, [0, 0, 0, 1, 1, 2])


def test_perfect_reversed_random_and_ties():
    y = np.r_[np.zeros(50, bool), np.ones(50, bool)]
    s = np.linspace(0, 1, 100)
    assert m.auroc(y, s) == 1.0 and m.tpr0(y, s) == 1.0
    assert m.auroc(y, 1 - s) == 0.0 and m.tpr0(y, 1 - s) == 0.0 and m.tpr10(y, 1 - s) == 0.0
    rng = np.random.default_rng(0)
    yr = rng.random(20000) < 0.5
    assert m.auroc(yr, rng.random(20000)) == pytest.approx(0.5, abs=0.02)
    flat = np.full(100, 0.3)
    assert m.auroc(y, flat) == 0.5  # a tie counts one half
    assert m.tpr0(y, flat) == 0.0  # a threshold takes the whole tie, false positives included


def test_tpr10_counts_fewer_than_ten_false_positives():
    y = np.r_[np.zeros(9, bool), np.ones(5, bool), np.zeros(20, bool)]
    s = np.linspace(1, 0, y.size)  # 9 non-lenses above all lenses
    assert m.tpr0(y, s) == 0.0 and m.tpr10(y, s) == 1.0
    y10 = np.r_[np.zeros(10, bool), np.ones(5, bool), np.zeros(20, bool)]
    assert m.tpr10(y10, np.linspace(1, 0, y10.size)) == 0.0


def test_agrees_with_scikit_learn():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(1)
    y = rng.random(400) < 0.3
    s = np.round(rng.random(400) + 0.4 * y, 2)  # many ties
    assert m.auroc(y, s) == pytest.approx(sklearn_metrics.roc_auc_score(y, s))
    fpr, tpr, *_ = m.roc_curve(y, s)
    fpr2, tpr2, _ = sklearn_metrics.roc_curve(y, s, drop_intermediate=False)
    np.testing.assert_allclose(fpr, fpr2)
    np.testing.assert_allclose(tpr, tpr2)


def test_degenerate_inputs():
    assert np.isnan(m.auroc([True, True], [0.1, 0.2]))
    assert m.tpr0([True, True], [0.1, 0.2]) == 1.0  # no non-lens: no false positive possible
    assert np.isnan(m.tpr0([False, False], [0.1, 0.2]))
    with pytest.raises(ValueError, match="length"):
        m.auroc([True], [0.1, 0.2])
    with pytest.raises(ValueError, match="finite"):
        m.auroc([True, False], [np.nan, 0.2])


def _resampled_metrics(y, s, counts):
    """AUROC, TPR0 and TPR at FPR <= 1 % of the set with image i repeated counts[i] times."""
    from lensfinder.experiments.domain_shift import tpr_at_fpr

    yy, ss = np.repeat(y, counts), np.repeat(s, counts)
    return m.auroc(yy, ss), m.tpr0(yy, ss), tpr_at_fpr(yy, ss, 0.01)


def test_bootstrap_weights_give_the_metrics_of_the_resampled_set():
    rng = np.random.default_rng(3)
    y = rng.random(300) < 0.4
    s = np.round(rng.random(300) + 0.5 * y, 2)  # many ties
    order = np.argsort(-s, kind="mergesort")
    s_sorted = s[order]
    last = np.r_[np.flatnonzero(np.diff(s_sorted)), s.size - 1]
    counts = rng.integers(0, 4, size=(5, s.size))
    got = m._weighted_rank_metrics(y[order], last, counts[:, order].astype(float), 0.01)
    for row, c in enumerate(counts):
        assert got[:, row] == pytest.approx(_resampled_metrics(y, s, c))
    assert got[:, 0] != pytest.approx(_resampled_metrics(y, s, np.ones(s.size, int)))  # the weights count


def test_bootstrap_intervals_cover_the_true_auroc_and_shrink_with_the_set():
    from scipy.stats import norm

    d = 1.5
    true_auroc = norm.cdf(d / np.sqrt(2))  # two unit Gaussians d apart
    covered, widths = 0, {}
    for rep in range(40):
        rng = np.random.default_rng(100 + rep)
        y = np.r_[np.ones(200, bool), np.zeros(200, bool)]
        s = np.r_[rng.normal(d, 1, 200), rng.normal(0, 1, 200)]
        lo, hi = m.bootstrap_intervals(y, s, n_resamples=400, seed=rep)["auroc"]
        assert lo <= m.auroc(y, s) <= hi
        covered += lo <= true_auroc <= hi
    assert covered >= 33  # 95 % intervals: 38 of 40 expected
    for n in (100, 1600):
        rng = np.random.default_rng(n)
        y = np.r_[np.ones(n, bool), np.zeros(n, bool)]
        s = np.r_[rng.normal(d, 1, n), rng.normal(0, 1, n)]
        widths[n] = {k: hi - lo for k, (lo, hi) in m.bootstrap_intervals(y, s, n_resamples=400).items()}
    assert widths[1600]["auroc"] < 0.4 * widths[100]["auroc"]  # 1/sqrt(16) = 0.25 expected
    assert widths[1600]["tpr_fpr1"] < widths[100]["tpr_fpr1"]


def test_bootstrap_draws_the_stamps_of_one_cluster_together():
    rng = np.random.default_rng(4)
    y = np.r_[np.ones(100, bool), np.zeros(100, bool)]
    s = np.r_[rng.normal(1.5, 1, 100), rng.normal(0, 1, 100)]
    groups = np.array([f"g{i:03d}" for i in range(200)])
    alone = m.bootstrap_intervals(y, s, groups, n_resamples=300, seed=7)
    # each image five times (e.g. five stamps of one host): as many clusters, the same intervals ...
    five = m.bootstrap_intervals(np.repeat(y, 5), np.repeat(s, 5), np.repeat(groups, 5), n_resamples=300, seed=7)
    for name, interval in alone.items():
        assert five[name] == pytest.approx(interval)
    # ... where taking the copies for independent images makes them look about sqrt(5) times too narrow
    naive = m.bootstrap_intervals(np.repeat(y, 5), np.repeat(s, 5), n_resamples=300, seed=7)
    width = {k: hi - lo for k, (lo, hi) in alone.items()}
    assert naive["auroc"][1] - naive["auroc"][0] < 0.6 * width["auroc"]
    assert m.bootstrap_intervals(y, s, groups, n_resamples=300, seed=7) == alone  # the seed fixes them
    assert m.bootstrap_intervals(y, s, groups, n_resamples=300, seed=8) != alone
    one_lens = m.bootstrap_intervals(np.r_[True, y[100:]], np.r_[2.0, s[100:]])
    assert all(np.isnan(v).all() for v in one_lens.values())  # a class of one cluster: no interval
    with pytest.raises(ValueError, match="groups"):
        m.bootstrap_intervals(y, s, groups[:10])


def test_bootstrap_clusters_are_within_each_class():
    """A host's lens stamp and its negative stamp are two clusters, one in each class, drawn independently
    (each class keeps its number of clusters); two stamps of one host in the same class are drawn together."""
    y = np.array([1, 0, 1, 0, 1, 0, 1, 0, 1], bool)
    groups = np.array(["h1", "h1", "h2", "h2", "h3", "h3", "h4", "h4", "h1"])  # h1: two lenses, one negative
    seen = []

    def statistic(weights):
        seen.append(weights.copy())
        return np.zeros((1, weights.shape[0]))

    m._cluster_bootstrap(y, groups, statistic, n_resamples=2000, confidence_level=0.95, seed=0)
    w = np.vstack(seen)
    assert (w[:, 0] == w[:, 8]).all()  # h1's two lenses: one cluster
    assert (w[:, [0, 2, 4, 6]].sum(axis=1) == 4).all() and (w[:, ~y].sum(axis=1) == 4).all()  # 4 clusters each
    assert np.mean(w[:, 0] == w[:, 1]) < 0.5 and abs(np.corrcoef(w[:, 0], w[:, 1])[0, 1]) < 0.1


def test_paired_differences_of_two_networks_on_the_same_images():
    rng = np.random.default_rng(5)
    y = np.r_[np.ones(300, bool), np.zeros(300, bool)]
    reference = np.r_[rng.normal(1.0, 1, 300), rng.normal(0, 1, 300)]
    better = reference + np.where(y, 0.3, 0.0) + rng.normal(0, 0.1, 600)  # the same images, lenses lifted
    diff = m.paired_differences(y, better, reference, n_resamples=400)
    assert diff["auroc"][0] == pytest.approx(m.auroc(y, better) - m.auroc(y, reference))
    assert 0 < diff["auroc"][1] < diff["auroc"][0] < diff["auroc"][2]  # better, beyond the images' noise
    # the images both find hard cancel: the difference is known far better than either network's AUROC
    own = m.bootstrap_intervals(y, reference, n_resamples=400)["auroc"]
    assert diff["auroc"][2] - diff["auroc"][1] < 0.5 * (own[1] - own[0])
    # the other way round: the same resamples, the opposite sign
    back = m.paired_differences(y, reference, better, n_resamples=400)
    for name in m.BOOTSTRAP_METRICS:
        assert back[name] == pytest.approx((-diff[name][0], -diff[name][2], -diff[name][1]))
    assert m.paired_differences(y, reference, reference, n_resamples=100) == {
        name: (0.0, 0.0, 0.0) for name in m.BOOTSTRAP_METRICS}


def test_completeness_in_bins():
    theta_e = np.array([1.0, 1.2, 2.5, 2.8, 2.9, 0.0, np.nan])
    y = np.array([1, 1, 1, 1, 1, 0, 1], bool)
    s = np.array([0.9, 0.1, 0.9, 0.9, 0.2, 0.99, 0.9])
    table = m.completeness_in_bins(theta_e, y, s, 0.5, bins=[1.0, 2.0, 3.0])
    np.testing.assert_array_equal(table["n_lenses"], [2, 3])
    np.testing.assert_array_equal(table["n_found"], [1, 2])
    np.testing.assert_allclose(table["completeness"], [0.5, 2 / 3])
    np.testing.assert_allclose(table["completeness_err"], [np.sqrt(0.25 / 2), np.sqrt(2 / 9 / 3)])


def test_completeness_in_bins_counts_the_lenses_outside_the_edges(caplog):
    theta_e = np.array([0.2, 1.5, 2.5, 6.0, 7.0, 9.0])
    y = np.array([1, 1, 1, 1, 1, 0], bool)
    with caplog.at_level("WARNING", logger="lensfinder.learning.metrics"):
        table = m.completeness_in_bins(theta_e, y, np.full(6, 0.9), 0.5, bins=[1.0, 2.0, 3.0], name="theta_E")
    assert table["n_lenses"].sum() == 2
    assert "theta_E: 3 of 5 lenses outside the completeness bins [1, 3] left out" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="lensfinder.learning.metrics"):
        m.completeness_in_bins(theta_e, y, np.full(6, 0.9), 0.5, bins=4)  # bins over the lenses' range
    assert "outside" not in caplog.text


def _predictions(tmp_path, n=200, seed=0):
    rng = np.random.default_rng(seed)
    is_lens = rng.random(n) < 0.4
    p = np.clip(rng.normal(0.3 + 0.4 * is_lens, 0.15), 0, 1)
    ids = [f"obj{i}" for i in range(n)]
    preds = pd.DataFrame({"object_id": ids, "p_cnn": p, "model": "he2020", "model_hash": "abc", "shard": "s0"})
    labels = pd.DataFrame({"object_id": ids[::-1], "is_lens": is_lens[::-1],
                           "theta_E": rng.uniform(1, 3, n), "snr": rng.uniform(5, 50, n)})
    write_table(preds, tmp_path / "pred.parquet")
    write_table(labels, tmp_path / "meta.parquet")
    return preds, labels, is_lens, p


def test_evaluate_cli_joins_labels(tmp_path):
    _, _, is_lens, p = _predictions(tmp_path)
    rc = main(["evaluate", "--predictions", str(tmp_path / "pred.parquet"), "--labels", str(tmp_path / "meta.parquet"),
               "--out", str(tmp_path / "metrics.parquet"), "--roc", str(tmp_path / "roc.parquet"),
               "--thresholds", "0.5", "0.75", "--completeness", str(tmp_path / "comp.parquet")])
    assert rc == 0
    metrics = read_table(tmp_path / "metrics.parquet")
    assert list(metrics["threshold"]) == [0.5, 0.75]
    assert {"auroc", "tpr0", "tpr10", "accuracy", "completeness", "fpr", "model"} <= set(metrics.columns)
    assert metrics["auroc"].iloc[0] == pytest.approx(m.auroc(is_lens, p))
    assert metrics["completeness"].iloc[0] == pytest.approx(m.threshold_metrics(is_lens, p, 0.5)["completeness"])
    assert (tmp_path / "metrics.csv").exists() and (tmp_path / "roc.csv").exists()
    roc = read_table(tmp_path / "roc.parquet")
    assert list(roc.columns) == ["threshold", "fpr", "tpr", "n_fp", "n_tp"]
    comp = read_table(tmp_path / "comp.parquet")
    assert set(comp["column"]) == {"theta_E", "snr"} and comp["n_lenses"].sum() == 2 * 2 * is_lens.sum()


def test_evaluate_uses_is_lens_in_predictions_and_drops_nan(tmp_path):
    preds, _, is_lens, p = _predictions(tmp_path)
    preds["is_lens"] = is_lens
    preds.loc[0, "p_cnn"] = np.nan
    write_table(preds, tmp_path / "pred2.parquet")
    assert main(["evaluate", "--predictions", str(tmp_path / "pred2.parquet"),
                 "--out", str(tmp_path / "m.parquet"), "--roc", str(tmp_path / "r.parquet")]) == 0
    metrics = read_table(tmp_path / "m.parquet")
    assert list(metrics["threshold"]) == list(m.DEFAULT_THRESHOLDS)
    assert metrics["n"].iloc[0] == len(preds) - 1
    assert metrics["auroc"].iloc[0] == pytest.approx(m.auroc(is_lens[1:], p[1:]))


def test_evaluate_bad_inputs(tmp_path, capsys):
    preds, labels, _, _ = _predictions(tmp_path)
    write_table(labels.iloc[5:], tmp_path / "partial.parquet")
    args = ["--out", str(tmp_path / "m.parquet"), "--roc", str(tmp_path / "r.parquet")]
    assert main(["evaluate", "--predictions", str(tmp_path / "pred.parquet"), "--labels",
                 str(tmp_path / "partial.parquet"), *args]) == 2
    assert "partial.parquet: object_id: no label for 5 predictions" in capsys.readouterr().err
    assert main(["evaluate", "--predictions", str(tmp_path / "pred.parquet"), *args]) == 2
    assert "is_lens: missing" in capsys.readouterr().err
    assert main(["evaluate", "--predictions", str(tmp_path / "pred.parquet"), str(tmp_path / "pred.parquet"),
                 "--labels", str(tmp_path / "meta.parquet"), *args]) == 2
    assert "duplicated" in capsys.readouterr().err
    text = labels.assign(is_lens=labels["is_lens"].map({True: "yes", False: "no"}))
    write_table(text, tmp_path / "text.parquet")
    assert main(["evaluate", "--predictions", str(tmp_path / "pred.parquet"), "--labels",
                 str(tmp_path / "text.parquet"), *args]) == 2
    assert re.search(r"text.parquet: is_lens: '(yes|no)' is not a boolean", capsys.readouterr().err)
    assert not (tmp_path / "m.parquet").exists()


def test_evaluate_matches_integer_ids_of_the_labels_with_text_ids(tmp_path):
    """Labels whose object_id column is stored as integers match the scores' text ids (no pandas merge error)."""
    is_lens = np.array([True, False, True, False, True, False])
    p = np.array([0.9, 0.2, 0.8, 0.1, 0.3, 0.4])
    write_table(pd.DataFrame({"object_id": [str(i) for i in range(6)], "p_cnn": p}), tmp_path / "s.parquet")
    write_table(pd.DataFrame({"object_id": np.arange(6)[::-1], "is_lens": is_lens[::-1]}), tmp_path / "l.parquet")
    assert main(["evaluate", "--predictions", str(tmp_path / "s.parquet"), "--labels", str(tmp_path / "l.parquet"),
                 "--out", str(tmp_path / "m.parquet"), "--roc", str(tmp_path / "r.parquet")]) == 0
    assert read_table(tmp_path / "m.parquet")["auroc"].iloc[0] == pytest.approx(m.auroc(is_lens, p))
