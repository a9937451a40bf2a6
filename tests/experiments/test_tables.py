"""The experiments' aggregations: labels, PSF, volume, Sersic, entropy, Table 3 and ROC tables, and the table step."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lensfinder.cli import main
from lensfinder.experiments import candidate_tables, tables
from lensfinder.io import InputError, read_table, write_table


def _metrics(rows):
    return pd.DataFrame(rows)


def test_parse_label():
    assert tables.parse_label("case=case0,fraction=0.2,repeat=1") == {"case": "case0", "fraction": 0.2, "repeat": 1}
    assert tables.parse_label("psf_factor=1") == {"psf_factor": 1}
    with pytest.raises(InputError, match="key=value"):
        tables.parse_label("case0")


# --- psf_test ---------------------------------------------------------------


def test_psf_table_normalises_to_reference_set():
    rows = []
    for factor, acc, comp in [(0.4, 0.90, 0.80), (1.0, 0.95, 0.90), (2.0, 0.855, 0.72)]:
        for thr, shift in [(0.5, 0.0), (0.8, -0.05)]:
            rows.append({"psf_factor": factor, "threshold": thr, "accuracy": acc + shift, "completeness": comp + shift})
    table = tables.psf_table(_metrics(rows), reference_fwhm_arcsec=0.65)
    ref = table[table["psf_factor"] == 1.0]
    assert np.allclose(ref["accuracy_norm"], 1.0) and np.allclose(ref["completeness_norm"], 1.0)
    row = table[(table["psf_factor"] == 2.0) & (table["threshold"] == 0.5)].iloc[0]
    assert row["accuracy_norm"] == pytest.approx(0.855 / 0.95)
    assert row["completeness_degradation"] == pytest.approx(1 - 0.72 / 0.90)
    assert row["psf_fwhm_arcsec"] == pytest.approx(1.3)
    row = table[(table["psf_factor"] == 0.4) & (table["threshold"] == 0.8)].iloc[0]
    assert row["completeness_norm"] == pytest.approx(0.75 / 0.85)
    assert (table["paper_max_degradation"] == 0.10).all()
    assert not table.loc[(table["psf_factor"] == 2.0) & (table["threshold"] == 0.5), "within_paper_limit"].item()
    assert not table.loc[(table["psf_factor"] == 0.4) & (table["threshold"] == 0.5), "within_paper_limit"].item()
    assert table.loc[table["psf_factor"] == 1.0, "within_paper_limit"].all()


def test_psf_table_needs_the_reference_set():
    with pytest.raises(InputError, match="psf_factor 1.0"):
        tables.psf_table(_metrics([{"psf_factor": 0.4, "threshold": 0.5, "accuracy": 1, "completeness": 1}]))


# --- volume_test ------------------------------------------------------------


def _volume_metrics():
    rng = np.random.default_rng(3)
    rows = []
    for case in ("case0", "case2"):
        for fraction in (0.1, 0.5):
            for repeat in range(5):
                for validation in range(1, 5):
                    for thr in (0.5, 0.8):
                        rows.append({"case": case, "fraction": fraction, "repeat": repeat, "validation": validation,
                                     "threshold": thr, "accuracy": 0.98 + 0.01 * rng.standard_normal(),
                                     "completeness": 0.97 + 0.01 * rng.standard_normal()})
    return pd.DataFrame(rows)


def test_volume_points_mean_and_std_over_20_runs():
    metrics = _volume_metrics()
    points = tables.volume_points(metrics, 0.8, parent_size=1_000_000)
    assert len(points) == 4 and (points["n_runs"] == 20).all()
    sel = metrics[(metrics["case"] == "case0") & (metrics["fraction"] == 0.5) & (metrics["threshold"] == 0.8)]
    row = points[(points["case"] == "case0") & (points["fraction"] == 0.5)].iloc[0]
    assert row["accuracy_mean"] == pytest.approx(sel["accuracy"].mean())
    assert row["accuracy_std"] == pytest.approx(sel["accuracy"].std(ddof=0))
    assert row["n_train"] == 500_000


def test_table5_pools_all_sizes_and_reports_std_and_variance():
    metrics = _volume_metrics()
    table = tables.volume_table5(metrics, 0.8).set_index("case")
    sel = metrics[(metrics["case"] == "case2") & (metrics["threshold"] == 0.8)]
    row = table.loc["case2"]
    assert row["n_runs"] == 40 and row["n_sizes"] == 2
    assert row["completeness_mean"] == pytest.approx(sel["completeness"].mean())
    assert row["completeness_std"] == pytest.approx(sel["completeness"].std(ddof=0))
    assert row["completeness_variance"] == pytest.approx(row["completeness_std"] ** 2)
    assert row["completeness_variance_1e4"] == pytest.approx(row["completeness_variance"] * 1e4)
    size_means = sel.groupby("fraction")["completeness"].mean()
    assert row["completeness_std_of_size_means"] == pytest.approx(size_means.std(ddof=0))
    assert table.loc["case0", "paper_accuracy"] == 0.984
    assert table.loc["case0", "paper_completeness"] == 0.969
    assert table.loc["case0", "paper_accuracy_error_1e4"] == 0.492


def test_table5_exact_small_case():
    rows = [{"case": "case0", "fraction": f, "repeat": 0, "validation": 1, "threshold": 0.8,
             "accuracy": a, "completeness": 1.0} for f, a in [(0.1, 0.96), (0.2, 0.98), (0.3, 1.0)]]
    row = tables.volume_table5(pd.DataFrame(rows), 0.8).iloc[0]
    assert row["accuracy_mean"] == pytest.approx(0.98)
    assert row["accuracy_variance"] == pytest.approx((0.02**2 * 2) / 3)
    assert row["completeness_std"] == 0.0


def test_volume_tables_take_their_threshold_exactly():
    """One metrics file holds volume_test.threshold and validation_sizes.thresholds: 0.99999 and
    0.999999 are two thresholds (1e-6 apart, within np.isclose's default rtol), and only the asked
    one's 20 runs count."""
    rows = [{"case": "case0", "fraction": 0.1, "repeat": r, "validation": v, "threshold": thr,
             "accuracy": acc, "completeness": acc}
            for r in range(5) for v in range(4) for thr, acc in ((0.99999, 0.5), (0.999999, 0.9))]
    metrics = pd.DataFrame(rows)
    for threshold, acc in ((0.999999, 0.9), (0.99999, 0.5)):
        point = tables.volume_points(metrics, threshold, parent_size=1000).iloc[0]
        assert point["n_runs"] == 20 and point["threshold"] == threshold
        assert point["accuracy_mean"] == pytest.approx(acc) and point["accuracy_std"] == pytest.approx(0.0)
        row = tables.volume_table5(metrics, threshold).iloc[0]
        assert row["n_runs"] == 20 and row["accuracy_mean"] == pytest.approx(acc)


def test_volume_tables_without_rows_at_the_threshold_are_an_error(tmp_path):
    metrics = _volume_metrics()
    for build in (tables.volume_points, tables.volume_table5):
        with pytest.raises(InputError, match=r"volume metrics: no rows at threshold 0\.9; expected one of the "
                                             r"thresholds evaluated: 0\.5, 0\.8"):
            build(metrics, 0.9)
    # the table step: an error, not an empty table
    path = tmp_path / "m.parquet"
    write_table(metrics[metrics["case"] == "case0"].drop(columns=["case", "fraction", "repeat", "validation"]), path)
    out = tmp_path / "t5.parquet"
    for kind in ("volume_table5", "volume_points"):
        assert main(["experiment-table", "--kind", kind, "--metrics", str(path),
                     "--labels", "case=case0,fraction=0.1,repeat=0,validation=1", "--threshold", "0.9",
                     "--out", str(out)]) == 2
        assert not out.exists() and not (tmp_path / "t5.csv").exists()


def test_volume_valsize_groups_by_size_fraction_threshold():
    rows = [{"validation_size": s, "fraction": 0.5, "repeat": r, "threshold": t, "accuracy": 0.9 + r / 100,
             "completeness": 0.8} for s in (500, 1000) for r in range(3) for t in (0.5, 0.8)]
    out = tables.volume_valsize(pd.DataFrame(rows))
    assert len(out) == 4 and (out["n_runs"] == 3).all()
    assert out["accuracy_mean"].iloc[0] == pytest.approx(0.91)


# --- survey-based tables ----------------------------------------------------


def _survey_scores():
    ids = [f"G{i}" for i in range(10)]
    index = pd.DataFrame({"object_id": ids, "lrg_li2020": [True] * 8 + [False] * 2,
                          "masked_fraction": [0.0] * 6 + [0.3] * 4, "edge": False})
    truth = pd.DataFrame({"ID": ids, "is_lens": [True, True, False, False, False, False, True, False, False, False]})
    fid = [0.99, 0.95, 0.97, 0.2, 0.1, 0.1, 0.99, 0.1, 0.99, 0.1]
    flat0 = [0.99, 0.1, 0.97, 0.2, 0.95, 0.1, 0.99, 0.1, 0.1, 0.1]
    hc0 = [0.99, 0.99, 0.1, 0.2, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]
    parts = [pd.DataFrame({"object_id": ids, "p_cnn": fid, "network": "fiducial"}),
             pd.DataFrame({"object_id": ids, "p_cnn": flat0, "network": "flat_r0", "distribution": "flat", "repeat": 0}),
             pd.DataFrame({"object_id": ids, "p_cnn": hc0, "network": "huertas_company_r0",
                           "distribution": "huertas_company", "repeat": 0})]
    return tables.survey_table(pd.concat(parts, ignore_index=True), index, truth)


def test_overlap_pct():
    assert candidate_tables.overlap_pct({1, 2, 3}, {2, 3, 4, 5}) == 50.0
    assert np.isnan(candidate_tables.overlap_pct({1}, set()))


def test_sersic_tables_overlaps_with_fiducial():
    per_net, table4 = candidate_tables.sersic_tables(_survey_scores(), threshold=0.9, fiducial_threshold=0.9, sample="lrg_li2020")
    # fiducial machine candidates within the LRG sample: G0, G1, G2, G6 (G8 is not an LRG); true lenses among them: G0, G1, G6
    flat = per_net[per_net["distribution"] == "flat"].iloc[0]
    assert flat["n_fiducial_machine"] == 4 and flat["n_fiducial_high"] == 3
    assert flat["overlap_machine_pct"] == pytest.approx(75.0)  # G0, G2, G6
    assert flat["overlap_high_pct"] == pytest.approx(200 / 3)  # G0, G6
    assert flat["in_fiducial_pct"] == pytest.approx(75.0)  # flat_r0 selects G0, G2, G4, G6
    assert flat["repeat"] == 0 and isinstance(flat["repeat"], (int, np.integer))
    hc = table4.set_index("distribution").loc["huertas_company"]
    assert hc["overlap_machine_pct_mean"] == pytest.approx(50.0)
    assert hc["paper_overlap_machine_pct"] == 77.80 and hc["paper_overlap_high_pct"] == 80.31


def test_sersic_tables_need_the_fiducial_network_and_labelled_networks():
    scores = _survey_scores()
    # labels without distribution/repeat: a clear error, not a KeyError
    with pytest.raises(InputError, match="sersic scores: missing column\\(s\\) distribution, repeat .*"
                                         "network=NAME,distribution=DIST,repeat=N"):
        candidate_tables.sersic_tables(scores.drop(columns=["distribution", "repeat"]), 0.9, 0.9, "lrg_li2020")
    unlabelled = scores.copy()
    unlabelled.loc[unlabelled["network"] == "flat_r0", "repeat"] = np.nan
    with pytest.raises(InputError, match="network\\(s\\) flat_r0: no distribution or repeat"):
        candidate_tables.sersic_tables(unlabelled, 0.9, 0.9, "lrg_li2020")
    # no fiducial network: nothing to overlap with
    with pytest.raises(InputError, match="sersic scores: network: no scores of 'fiducial'; expected the fiducial "
                                         "network's scores, labelled network=fiducial; found network\\(s\\): "
                                         "'flat_r0', 'huertas_company_r0'"):
        candidate_tables.sersic_tables(scores[scores["network"] != "fiducial"], 0.9, 0.9, "lrg_li2020")
    with pytest.raises(InputError, match="only 'fiducial'"):
        candidate_tables.sersic_tables(scores[scores["network"] == "fiducial"], 0.9, 0.9, "lrg_li2020")
    with pytest.raises(InputError, match="no fiducial scores in sample 'lrg_li2020'"):
        candidate_tables.sersic_tables(scores[(scores["network"] != "fiducial") | ~scores["lrg_li2020"]], 0.9, 0.9, "lrg_li2020")


def test_sersic_and_net_comparison_steps_refuse_missing_networks(tmp_path):
    """The table step exits with an error (2), naming the network, instead of writing NaN or zero counts."""
    scores = _survey_scores()
    paths = {}
    for net, part in scores.groupby("network"):
        paths[net] = str(tmp_path / f"{net}.parquet")
        write_table(part[["object_id", "p_cnn"]], paths[net])
    write_table(scores[scores["network"] == "fiducial"][["object_id", "lrg_li2020"]], tmp_path / "index.parquet")
    common = ["--stamp-index", str(tmp_path / "index.parquet"), "--sample", "lrg_li2020", "--threshold", "0.9"]
    out = [str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet")]
    sersic = ["experiment-table", "--kind", "sersic_test", *common, "--out", *out]
    assert main([*sersic, "--predictions", paths["fiducial"], paths["flat_r0"],
                 "--labels", "network=fiducial", "network=flat_r0,distribution=flat,repeat=0"]) == 0
    assert main([*sersic, "--predictions", paths["fiducial"], paths["flat_r0"],
                 "--labels", "network=fiducial", "network=flat_r0"]) == 2
    assert main([*sersic, "--predictions", paths["flat_r0"], paths["huertas_company_r0"],
                 "--labels", "network=flat_r0,distribution=flat,repeat=0",
                 "network=huertas_company_r0,distribution=huertas_company,repeat=0"]) == 2
    net = ["experiment-table", "--kind", "net_comparison", *common, "--out", *out,
           "--predictions", paths["fiducial"], paths["flat_r0"]]
    assert main([*net, "--labels", "network=s_net", "network=r_net"]) == 0
    assert main([*net, "--labels", "network=s_net", "network=rnet"]) == 2


def test_net_comparison_needs_both_networks():
    table = _survey_scores()
    table = table[table["network"].isin(["fiducial", "flat_r0"])].copy()
    table["network"] = table["network"].map({"fiducial": "s_net", "flat_r0": "rnet"})  # a mistyped label
    with pytest.raises(InputError, match="net-comparison scores: network: no scores of 'r_net'; expected files "
                                         "labelled network=s_net and network=r_net; found network\\(s\\): "
                                         "'s_net', 'rnet'"):
        candidate_tables.net_comparison_tables(table, "lrg_li2020", "lrg_li2020", 0.0, {"s_net": 0.9, "r_net": 0.5})
    table["network"] = table["network"].replace({"rnet": "r_net"})
    with pytest.raises(InputError, match="no threshold for network\\(s\\) r_net"):
        candidate_tables.net_comparison_tables(table, "lrg_li2020", "lrg_li2020", 0.0, {"s_net": 0.9})


def test_net_comparison_counts_and_overlaps():
    table = _survey_scores()
    table = table[table["network"].isin(["fiducial", "flat_r0"])].copy()
    table["network"] = table["network"].map({"fiducial": "s_net", "flat_r0": "r_net"})
    table3, overlaps = candidate_tables.net_comparison_tables(table, "lrg_li2020", "lrg_li2020", 0.0, {"s_net": 0.9, "r_net": 0.5})
    t = table3.set_index("case")
    assert t.loc["a", "n_sample"] == 8 and t.loc["b", "n_sample"] == 6
    assert t.loc["a", "n_candidates"] == 4 and t.loc["b", "n_candidates"] == 3  # G6 is masked
    assert t.loc["c", "n_candidates"] == 4 and t.loc["d", "n_candidates"] == 3
    assert t.loc["a", "n_true_lenses"] == 3 and t.loc["a", "paper_n_candidates"] == 8143
    o = overlaps.set_index("pair")["n_overlap"]
    assert o["M1&M2"] == 3 and o["M1&M3"] == 3 and o["M3&M4"] == 3


def test_survey_counts_fraction_and_recovery():
    table = _survey_scores()
    table = table[table["network"] == "fiducial"]
    out = tables.survey_counts(table, {"lrg_li2020": 0.75}).iloc[0]
    assert out["n_sample"] == 8 and out["n_candidates"] == 4 and out["fraction"] == 0.5
    assert out["n_true_lenses"] == 3 and out["recovered_fraction"] == 1.0
    assert out["paper_n_candidates"] == 2848 and out["paper_recovered_fraction"] == pytest.approx(0.9)


def test_missing_sample_flag_is_a_clear_error():
    with pytest.raises(InputError, match="preselection.samples"):
        candidate_tables.sersic_tables(_survey_scores(), 0.9, 0.9, "bg_li2020")


def test_entropy_summary_from_per_image_values_and_from_the_step_table():
    ent = pd.DataFrame({"entropy": [4.0, 5.0, 3.0, 3.0], "is_lens": [True, True, False, False]})
    out = tables.entropy_summary(ent).set_index("class")
    assert out.loc["positives", "entropy_mean"] == 4.5
    assert out.loc["positives", "entropy_std"] == pytest.approx(np.std([4.0, 5.0], ddof=1))
    assert out.loc["negatives", "paper_mean"] == 4.07 and out.loc["positives", "paper_std"] == 1.49
    step = pd.DataFrame({"class": ["positive", "negative", "all"], "n_images": [10, 12, 22],
                         "entropy_mean": [4.1, 3.9, 4.0], "entropy_std": [1.2, 1.1, 1.15]})
    out = tables.entropy_summary(step).set_index("class")
    assert out.loc["negatives", "n"] == 12 and out.loc["negatives", "entropy_mean"] == 3.9
    assert out.loc["imagenet (paper only)", "paper_mean"] == 7.11


def test_roc_tables():
    preds = pd.DataFrame({"p_cnn": [0.9, 0.8, 0.3, 0.1, 0.76, 0.2, 0.1, 0.05],
                          "is_lens": [True, True, True, False, False, False, False, False]})
    points, hist = tables.roc_tables(preds, [0.25, 0.75], bins=10)
    p = points.set_index("threshold")
    assert p.loc[0.75, "tpr"] == pytest.approx(2 / 3) and p.loc[0.75, "fpr"] == pytest.approx(1 / 5)
    assert p.loc[0.75, "contamination_above"] == pytest.approx(1 / 3)
    assert p.loc[0.75, "paper_max_negative_fraction"] == 0.065 and np.isnan(p.loc[0.25, "paper_max_negative_fraction"])
    assert hist["n_positives"].sum() == 3 and hist["n_negatives"].sum() == 5




def _psf_metrics(tmp_path):
    paths, labels = [], []
    for factor in (0.4, 1.0, 2.0):
        path = tmp_path / f"m{factor}.parquet"
        write_table(pd.DataFrame({"threshold": [0.5, 0.8], "accuracy": [0.9 * factor ** 0.01, 0.8],
                                  "completeness": [0.85, 0.7], "fpr": [0.05, 0.01], "auroc": 0.95}), path)
        paths.append(str(path))
        labels.append(f"psf_factor={factor:g}")
    return paths, labels


def test_table_cli_writes_parquet_and_csv(tmp_path):
    paths, labels = _psf_metrics(tmp_path)
    out = tmp_path / "psf.parquet"
    assert main(["experiment-table", "--kind", "psf_test", "--metrics", *paths, "--labels", *labels,
                 "--out", str(out)]) == 0
    assert (tmp_path / "psf.csv").exists() and len(read_table(out)) == 6
    # one --out per table the kind writes; one label per file
    assert main(["experiment-table", "--kind", "li2020_roc", "--predictions", *paths, "--out", str(out)]) == 2
    assert main(["experiment-table", "--kind", "psf_test", "--metrics", *paths, "--labels", labels[0],
                 "--out", str(out)]) == 2


def test_survey_counts_cli_reads_sample_thresholds(tmp_path):
    scores = _survey_scores()
    write_table(scores[scores["network"] == "fiducial"][["object_id", "p_cnn"]], tmp_path / "p.parquet")
    write_table(scores[scores["network"] == "fiducial"].drop(columns=["p_cnn", "network", "true_lens", "distribution", "repeat"]),
                tmp_path / "index.parquet")
    out = tmp_path / "counts.parquet"
    assert main(["experiment-table", "--kind", "survey_counts", "--predictions", str(tmp_path / "p.parquet"),
                 "--labels", "network=fiducial", "--stamp-index", str(tmp_path / "index.parquet"),
                 "--sample-thresholds", "lrg_li2020=0.75", "--out", str(out)]) == 0
    row = read_table(out).iloc[0]
    assert row["sample"] == "lrg_li2020" and row["threshold"] == 0.75 and row["n_candidates"] == 4
    assert main(["experiment-table", "--kind", "survey_counts", "--predictions", str(tmp_path / "p.parquet"),
                 "--labels", "network=fiducial", "--sample-thresholds", "lrg_li2020", "--out", str(out)]) == 2


def test_reference_table_cli(tmp_path):
    out = tmp_path / "ref.parquet"
    assert main(["experiment-table", "--kind", "reference", "--out", str(out)]) == 0
    assert len(read_table(out)) > 50
