"""The domain_shift experiment: the independent renderer, its streams and hosts, the tables, a tiny run."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from lensfinder.cli import main
from lensfinder.experiments import domain_shift as ds
from lensfinder.experiments.independent import (
    KIDS_BANDS,
    NEGATIVE_KINDS,
    RENDERED_NEGATIVE_KINDS,
    draw_row,
    image_generator,
    independent_spec,
)
from lensfinder.experiments.independent_render import HostPool, render_from_metadata
from lensfinder.io import InputError, read_cube, read_table, write_cube, write_table
from lensfinder.learning.metrics import roc_curve

from helpers.early_runs import early_test
from helpers.workflow_run import REPO


def _host_stamps(directory, tile, n=6, seed=0):
    """A tiny stamp cube of round galaxies with sky noise, and its index (row 1 flagged, row 2 a true lens)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:101, :101] - 50.0
    images = np.stack([4000 * np.exp(-0.5 * (x**2 + y**2) / rng.uniform(4, 9) ** 2) + rng.normal(0, 5, (101, 101))
                       for _ in range(n)]).astype(np.float32)
    cube = write_cube(images, directory / f"{tile}.fits", 0.2, 30.0)
    ids = [f"{tile}-{i}" for i in range(n)]
    flag = np.ones(n, bool)
    flag[1] = False
    write_table(pd.DataFrame({"object_id": ids, "tile": tile, "psf_fwhm_arcsec": 0.7, "zeropoint_mag": 30.0,
                              "psf_moffat_fwhm_arcsec_r": 0.71, "psf_moffat_beta_r": 3.5, "psf_moffat_n_stars_r": 12,
                              "lrg_li2020": flag, "edge": False, "nan_fraction": 0.0}), directory / f"{tile}.parquet")
    truth = write_table(pd.DataFrame({"ID": ids, "is_lens": [i == 2 for i in range(n)]}),
                        directory / f"{tile}.truth.parquet")
    return cube, truth


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """32 independent images on held-out hosts, rendered by the step (small PSF bank, 2x supersampling)."""
    directory = tmp_path_factory.mktemp("independent")
    cube, truth = _host_stamps(directory, "HELD_OUT")
    assert main(["domain-shift-render", "--n", "32", "--seed", "5", "--hosts", str(cube), "--truth", str(truth),
                 "--set", "psf_bank_size=2", "--set", "supersampling=2", "--set", "min_arc_snr=8",
                 "--out-dir", str(directory / "ind")]) == 0
    hosts = HostPool([cube], truth=[truth])
    spec = independent_spec({"psf_bank_size": 2, "supersampling": 2, "min_arc_snr": 8.0})
    images = read_cube(directory / "ind" / "shard_000.fits")[0]
    return spec, hosts, {"r": np.asarray(images)}, read_table(directory / "ind" / "shard_000.parquet"), directory


def test_independent_set_holds_what_it_says(rendered):
    spec, hosts, cubes, table, _ = rendered
    # the flag and the truth leave out two of the six stamps
    assert len(hosts) == 4 and not {"HELD_OUT-1", "HELD_OUT-2"} & set(hosts.table["host_object_id"])
    assert cubes["r"].shape == (32, 101, 101) and np.isfinite(cubes["r"]).all()
    assert table["is_lens"].sum() == 16 and list(table["is_lens"][:4]) == [False, True, False, True]
    assert set(table["kind"]) <= {"lens_rendered", "lens_host", *NEGATIVE_KINDS}
    lenses = table[table["is_lens"]]
    assert (lenses["arc_snr"] >= 8.0).all() and table.loc[~table["is_lens"], "arc_snr"].isna().all()
    assert lenses["theta_E"].between(*spec.theta_E_arcsec_log).all()
    on_hosts = table["kind"].isin(["lens_host", "survey_host"])
    assert set(table.loc[on_hosts, "host_object_id"]) <= set(hosts.table["host_object_id"])
    assert table.loc[~on_hosts, "host_object_id"].isna().all()
    # PSFs of the host kinds take the host's seeing; all are drawn families no recipe uses
    assert np.allclose(table.loc[on_hosts, "psf_fwhm_arcsec"], 0.7, atol=0.02)
    # and carry the host tile's Moffat fits from its stamp index, as a search knows them; the rest NaN
    assert (table.loc[on_hosts, "psf_moffat_fwhm_arcsec_r"] == 0.71).all() and on_hosts.any()
    assert (table.loc[on_hosts, "psf_moffat_beta_r"] == 3.5).all()
    assert table.loc[~on_hosts, ["psf_moffat_fwhm_arcsec_r", "psf_moffat_beta_r"]].isna().all().all()
    assert set(table["psf_family"]) <= {"kolmogorov_optical", "double_gaussian"}
    assert set(lenses["source_morphology"]) <= {"shapelets", "clumpy"}


def test_every_image_recreates_from_its_row(rendered):
    _, hosts, cubes, table, _ = rendered
    for i in (1, int(np.flatnonzero(table["kind"].isin(["lens_host", "survey_host"]))[0])):
        again = render_from_metadata(table.iloc[i])
        np.testing.assert_array_equal(again["r"], cubes["r"][i])


def test_a_lens_differs_from_its_own_image_without_the_arc(rendered):
    spec, hosts, cubes, table, _ = rendered
    i = int(np.flatnonzero(table["kind"] == "lens_host")[0]) if (table["kind"] == "lens_host").any() else None
    if i is None:
        pytest.skip("no lens on a host in this draw")
    host = hosts.image(table["host_file"][i], table["host_row"][i])
    p = __import__("json").loads(table["params_json"][i])
    host = np.rot90(host, p["aug_rot90"])[:, ::-1] if p["aug_flip"] else np.rot90(host, p["aug_rot90"])
    arc = cubes["r"][i] - host
    # the painted light is the arc of its row: arc_mag is its magnitude in the stamp (zero point 30)
    expected = 10 ** (-0.4 * (table["arc_mag"][i] - 30.0))
    assert arc.sum() == pytest.approx(expected, rel=0.05) and (arc != 0).mean() < 0.9


def test_provenance_says_nothing_of_the_class():
    """As many survey stamps among the negatives as among the lenses: rendered-or-survey is no shortcut."""
    spec = independent_spec()
    kinds = pd.Series([draw_row(spec, 3, 0, i, n_hosts=5)["kind"] for i in range(600)])
    on_survey = kinds.isin(["lens_host", "survey_host"])
    lens = kinds.str.startswith("lens")
    assert abs(on_survey[lens].mean() - on_survey[~lens].mean()) < 0.08
    assert 0.2 < on_survey.mean() < 0.4 and set(kinds[~lens & ~on_survey]) <= set(spec.negative_mix)


def test_streams_are_apart_from_the_simulations():
    """Item 6: at equal seeds, shard and index the independent images draw from other streams."""
    for seed, shard, index in ((0, 0, 0), (1, 0, 5), (42, 3, 17)):
        mine = image_generator(seed, shard, index).integers(0, 2**63, 4)
        training = np.random.default_rng(np.random.SeedSequence([seed, shard, index])).integers(0, 2**63, 4)
        assert not np.intersect1d(mine, training).size


def test_kids_like_r_band_reaches_the_kids_depth():
    """The lenstronomy noise of the r band: 5-sigma in a 2" aperture near KiDS DR4's r = 25.0."""
    from lenstronomy.SimulationAPI.sim_api import SimAPI

    band = KIDS_BANDS["r"]
    depths = []
    for sky in band["sky_brightness"]:
        sim = SimAPI(11, {"pixel_scale": 0.2, "exposure_time": band["exposure_time"],
                          "num_exposures": band["num_exposures"], "magnitude_zero_point": band["magnitude_zero_point"],
                          "read_noise": band["read_noise"], "sky_brightness": sky}, {})
        n_pix = np.pi * 1.0**2 / 0.2**2
        depths.append(band["magnitude_zero_point"] - 2.5 * np.log10(5 * sim.background_noise * np.sqrt(n_pix)))
    assert 24.85 < np.mean(depths) < 25.15 and depths[0] < depths[1]  # a brighter sky, a shallower image


def test_bad_settings_name_the_key():
    with pytest.raises(InputError, match="unknown key 'arc_magnitude'"):
        independent_spec({"arc_magnitude": [20, 24]})
    with pytest.raises(InputError, match="negative_mix"):
        independent_spec({"negative_mix": {"spiral": 1, "blob": 1}})
    with pytest.raises(InputError, match="theta_E_arcsec_log"):
        independent_spec({"theta_E_arcsec_log": [3, 1]})
    with pytest.raises(InputError, match="bands"):
        independent_spec({"bands": ["z"]})


def test_tpr_at_fpr_is_the_best_tpr_within_the_fpr():
    rng = np.random.default_rng(1)
    y = rng.uniform(size=500) < 0.5
    s = np.round(rng.normal(y * 1.5, 1.0), 2)  # ties included
    fpr, tpr, thresholds, *_ = roc_curve(y, s)
    brute = max(np.mean(s[y] >= t) for t in thresholds if np.mean(s[~y] >= t) <= 0.01)
    assert ds.tpr_at_fpr(y, s, 0.01) == pytest.approx(brute)
    assert ds.tpr_at_fpr(y, np.where(y, 1.0, 0.0)) == 1.0


def test_tables_put_own_and_independent_side_by_side():
    rng = np.random.default_rng(2)
    parts, meta = [], []
    for test_set, shift in (("own", 3.0), ("independent", 0.5)):
        n = 200
        ids = [f"{test_set}-{i}" for i in range(n)]
        is_lens = np.arange(n) % 2 == 0
        kind = np.where(is_lens, "lens", np.where(np.arange(n) % 4 == 1, "ring", "elliptical"))
        score = 1 / (1 + np.exp(-(rng.normal(0, 1, n) + shift * (is_lens - 0.5))))
        hosts = [f"H{i % 7}" if test_set == "independent" else None for i in range(n)]
        meta.append(pd.DataFrame({"object_id": ids, "is_lens": is_lens, "kind": kind,
                                  "theta_E": np.where(is_lens, rng.uniform(0.6, 4.5, n), np.nan),
                                  "host_object_id": hosts}))
        parts.append(pd.DataFrame({"model": "net", "test_set": test_set, "object_id": ids, "p_cnn": score}))
    train = pd.DataFrame({"model": "net", "object_id": ["t1", "t2", "t3"], "host_object_id": ["H1", "H2", "X"]})
    joined = ds.join_scores(pd.concat(parts, ignore_index=True), pd.concat(meta, ignore_index=True))
    long = ds.metrics_long(joined, 0.5, train)
    wide = ds.side_by_side(long)
    assert len(wide) == 1 and wide["own_auroc"][0] > wide["independent_auroc"][0] > 0.5
    assert wide["delta_auroc"][0] == pytest.approx(wide["own_auroc"][0] - wide["independent_auroc"][0])
    assert (wide["independent_n_hosts_test"][0], wide["n_hosts_train"][0], wide["independent_n_hosts_shared"][0]) \
        == (7, 3, 2)
    assert wide["own_n_hosts_test"][0] == 0
    # 95 % bootstrap intervals beside each figure; the stamps of one survey host are drawn together
    for side in ("own", "independent"):
        assert wide[f"{side}_auroc_lo"][0] < wide[f"{side}_auroc"][0] < wide[f"{side}_auroc_hi"][0]
        for name in ("tpr0", "tpr_fpr1"):
            assert 0 <= wide[f"{side}_{name}_lo"][0] <= wide[f"{side}_{name}_hi"][0] <= 1
    clusters = ds._clusters(joined)
    assert set(clusters[joined["test_set"] == "independent"]) == {f"host:H{i}" for i in range(7)}
    assert list(clusters[joined["test_set"] == "own"][:2]) == ["image:own-0", "image:own-1"]
    assert ds.metrics_long(joined, 0.5, train).equals(long)  # a fixed seed: the same table again
    kinds = ds.kind_rates(joined, 0.5)
    rings = kinds[(kinds["test_set"] == "own") & (kinds["kind"] == "ring")].iloc[0]
    own = joined[(joined["test_set"] == "own") & (joined["kind"] == "ring")]
    assert rings["called_lens_fraction"] == pytest.approx((own["p_cnn"] >= 0.5).mean()) and rings["n"] == 50
    # threshold-free: each negative kind against all the lenses, each lens kind against all the negatives
    own_set = joined[joined["test_set"] == "own"]
    pair = own_set[own_set["is_lens"] | (own_set["kind"] == "ring")]
    assert rings["auroc"] == pytest.approx(ds.auroc(pair["is_lens"], pair["p_cnn"]))
    lens_row = kinds[(kinds["test_set"] == "own") & (kinds["kind"] == "lens")].iloc[0]
    assert lens_row["auroc"] == pytest.approx(ds.auroc(own_set["is_lens"], own_set["p_cnn"]))
    assert np.isnan(ds.kind_rates(joined[joined["is_lens"]], 0.5)["auroc"]).all()  # no negatives to rank against
    comp = ds.completeness_table(joined, 0.5)
    assert set(comp["column"]) == {"theta_E"} and comp.groupby("test_set")["n_lenses"].sum().to_dict() == {
        "own": 100, "independent": 100}
    with pytest.raises(InputError, match="no metadata for 200"):
        ds.join_scores(pd.concat(parts, ignore_index=True), meta[0])
    # subsets name the independent renderer's kinds; a typo or a class mix-up is refused
    assert ds.parse_subset(ds.HELD_BACK_LIKE) == (
        "held_back_like", ("lens_rendered",), ("elliptical", "elliptical_companion", "irregular"))
    for bad, said in (("x:lens_rendered", "expected NAME:LENS_KIND"), ("x::ring", "expected NAME:LENS_KIND")):
        with pytest.raises(InputError, match=said):
            ds.parse_subset(bad)
    for subset, said in ((("x", ("lens",), ("ring",)), "lens kind\\(s\\) lens: expected among"),
                         (("x", ("lens_rendered",), ("lens_host",)), "negative kind\\(s\\) lens_host")):
        with pytest.raises(InputError, match=said):
            ds.metrics_long(joined, 0.5, train, [subset])
    rings = ds.metrics_long(joined, 0.5, train, [("rings", ("lens_rendered",), ("ring",))])
    row = rings[rings["test_set"] == "independent:rings"].iloc[0]
    assert row["n"] == 50 and np.isnan(row["auroc"])  # the synthetic set has no lens_rendered kind: rings alone
    assert {"rings_auroc", "rings_auroc_lo", "rings_tpr_fpr1_hi"} <= set(ds.side_by_side(rings).columns)
    # the default subsets on a set without survey hosts (on_survey_hosts: false): no on_hosts row, nor columns
    parts_only = ds.metrics_long(joined, 0.5, train, [ds.parse_subset(text) for text in ds.DEFAULT_SUBSETS])
    assert "independent:rendered" in set(parts_only["test_set"])
    assert "independent:on_hosts" not in set(parts_only["test_set"])
    assert not any(c.startswith("on_hosts_") for c in ds.side_by_side(parts_only).columns)


def test_networks_are_compared_with_the_first_on_the_images_they_share():
    rng = np.random.default_rng(6)
    n = 300
    is_lens = np.arange(n) % 2 == 0
    ids = [f"ind-{i}" for i in range(n)]
    meta = [pd.DataFrame({"object_id": ids, "is_lens": is_lens, "kind": np.where(is_lens, "lens_rendered", "elliptical"),
                          "host_object_id": [f"H{i % 40}" if i % 3 == 0 else None for i in range(n)]})]
    noise = rng.normal(0, 1, n)
    scores = {"a": noise + 1.0 * is_lens, "b": noise + 1.6 * is_lens + rng.normal(0, 0.2, n)}
    parts = [pd.DataFrame({"model": model, "test_set": "independent", "object_id": ids, "p_cnn": 1 / (1 + np.exp(-x))})
             for model, x in scores.items()]
    for model in scores:  # each network's own test set: other images
        own_ids = [f"own-{model}-{i}" for i in range(100)]
        meta.append(pd.DataFrame({"object_id": own_ids, "is_lens": np.arange(100) % 2 == 0}))
        parts.append(pd.DataFrame({"model": model, "test_set": "own", "object_id": own_ids,
                                   "p_cnn": rng.random(100)}))
    joined = ds.join_scores(pd.concat(parts, ignore_index=True), pd.concat(meta, ignore_index=True))
    subset = ("rendered", ("lens_rendered",), ("elliptical",))
    long = ds.metrics_long(joined, 0.5, subsets=[subset]).set_index(["model", "test_set"])
    row = long.loc[("b", "independent")]
    assert row["vs"] == "a"
    assert row["auroc_diff"] == pytest.approx(row["auroc"] - long.loc[("a", "independent"), "auroc"])
    assert 0 < row["auroc_diff_lo"] < row["auroc_diff"] < row["auroc_diff_hi"]
    assert long.loc[("b", "independent:rendered"), "auroc_diff"] == pytest.approx(row["auroc_diff"])
    # no difference for the first network, nor across own test sets that hold other images
    assert long.loc[("a", "independent"), ["vs", *ds.DIFFERENCES]].isna().all()
    assert long.loc[("b", "own"), ["vs", *ds.DIFFERENCES]].isna().all()


def _two_networks_on_the_independent_set(n=400, seed=0):
    rng = np.random.default_rng(seed)
    is_lens = np.arange(n) % 2 == 0
    meta = pd.DataFrame({"object_id": [f"i{k}" for k in range(n)], "is_lens": is_lens,
                         "kind": np.where(is_lens, "lens_rendered", "elliptical")})
    scores = pd.concat([pd.DataFrame({"model": model, "test_set": "independent", "object_id": meta["object_id"],
                                      "p_cnn": np.clip(rng.normal(0.3 + lift * is_lens, 0.2), 0, 1)})
                        for model, lift in (("a", 0.3), ("b", 0.5))], ignore_index=True)
    return scores, meta


def test_a_set_without_negatives_or_lenses_has_no_ranking_metrics():
    """TPR0 and TPR10 are NaN beside AUROC and TPR at FPR 1 % where a class is absent (not a perfect 1.0),
    and so are the networks' paired differences there."""
    scores, meta = _two_networks_on_the_independent_set()
    joined = ds.join_scores(scores, meta)
    subsets = [ds.parse_subset("spirals:lens_rendered:spiral"), ("no_lenses", ("lens_host",), ("elliptical",))]
    long = ds.metrics_long(joined, 0.5, None, subsets).set_index(["model", "test_set"])
    ranking = ["auroc", "tpr0", "tpr10", "tpr_fpr1", *ds.INTERVALS]
    for test_set, n_lenses in (("independent:spirals", 200), ("independent:no_lenses", 0)):
        for model in ("a", "b"):
            row = long.loc[(model, test_set)]
            assert row["n"] == 200 and row["n_lenses"] == n_lenses
            assert row[ranking].isna().all(), row[ranking]
        assert long.loc[("b", test_set), "vs"] == "a" and long.loc[("b", test_set), list(ds.DIFFERENCES)].isna().all()
    assert long.loc[("a", "independent:spirals"), "completeness"] == pytest.approx(
        (joined.query("model == 'a' and is_lens")["p_cnn"] >= 0.5).mean())
    full = long.loc[("b", "independent")]
    assert 0 < full["tpr0"] <= full["tpr10"] <= 1 and np.isfinite(full[list(ds.DIFFERENCES)].astype(float)).all()
    spread = ds.seed_spread(ds.side_by_side(long.reset_index())).set_index(["training_set", "metric"])
    assert (spread.loc[("b", "spirals_tpr0"), "n_networks"], spread.loc[("b", "spirals_tpr10"), "n_networks"]) == (0, 0)


def test_images_without_a_kind_take_their_class_as_kind():
    """A set whose metadata has no kind beside one that has (an older own test set beside the independent
    set): its lenses and negatives are kinds lens and nonlens, never one mixed kind."""
    scores, meta = _two_networks_on_the_independent_set(100)
    own = pd.DataFrame({"object_id": [f"o{k}" for k in range(100)], "is_lens": np.arange(100) % 2 == 0})
    own_scores = pd.DataFrame({"model": "a", "test_set": "own", "object_id": own["object_id"],
                               "p_cnn": np.linspace(0, 1, 100)})
    blank = meta.copy()
    blank.loc[blank.index[:2], "kind"] = None  # a missing value in a kind column: the same
    joined = ds.join_scores(pd.concat([scores, own_scores], ignore_index=True), pd.concat([blank, own], ignore_index=True))
    assert "unknown" not in set(joined["kind"])
    assert set(joined.loc[joined["test_set"] == "own", "kind"]) == {"lens", "nonlens"}
    assert list(joined.loc[joined["object_id"].isin(["i0", "i1"]), "kind"].unique()) == ["lens", "nonlens"]
    rates = ds.kind_rates(joined, 0.5).set_index(["model", "test_set", "kind"])
    own_set = joined[joined["test_set"] == "own"]
    for kind, is_lens in (("lens", True), ("nonlens", False)):
        row = rates.loc[("a", "own", kind)]
        assert row["is_lens"] == is_lens and row["n"] == 50
        part = own_set[own_set["is_lens"] == is_lens]
        assert row["called_lens_fraction"] == pytest.approx((part["p_cnn"] >= 0.5).mean())


def test_paired_differences_are_on_the_images_both_networks_scored(caplog):
    """One NaN score of the second network (a skipped stamp) leaves that image out of the pair, with a
    log line; the other images still give the difference, of the set and of its subsets."""
    scores, meta = _two_networks_on_the_independent_set()
    scores.loc[(scores["model"] == "b") & (scores["object_id"] == "i7"), "p_cnn"] = np.nan
    joined = ds.join_scores(scores, meta)
    with caplog.at_level("WARNING", logger="lensfinder.experiments.domain_shift"):
        long = ds.metrics_long(joined, 0.5, subsets=[("rendered", ("lens_rendered",), ("elliptical",))])
    long = long.set_index(["model", "test_set"])
    shared = joined[joined["object_id"] != "i7"]
    a, b = (shared[shared["model"] == m] for m in ("a", "b"))
    for test_set in ("independent", "independent:rendered"):
        row = long.loc[("b", test_set)]
        assert row["vs"] == "a"
        assert row["auroc_diff"] == pytest.approx(ds.auroc(b["is_lens"], b["p_cnn"]) - ds.auroc(a["is_lens"], a["p_cnn"]))
        assert row["auroc_diff_lo"] < row["auroc_diff"] < row["auroc_diff_hi"]
    assert long.loc[("b", "independent"), "n"] == 399 and long.loc[("a", "independent"), "n"] == 400
    assert "b vs a on independent: 0 of b's and 1 of a's scored images left out of the paired difference" \
        in caplog.text and "on the 399 they share" in caplog.text


def test_the_top_negatives_are_those_that_set_the_top_of_the_ranking():
    """`top_negatives`: floor(1 % of the negatives) + 1 of them, highest first; the lenses above the first
    are TPR0, above the last TPR at FPR 1 % (a lens tied with a negative counts as below it), as the
    metrics compute them; the set's metadata beside them."""
    from lensfinder.learning.metrics import tpr0

    rng = np.random.default_rng(5)
    n_neg, n_lens = 250, 120
    scores = np.concatenate([rng.uniform(0, 0.9, n_neg), rng.uniform(0.5, 1.0, n_lens)])
    scores[n_neg] = np.sort(scores[:n_neg])[-2]  # a lens tied with the second negative
    joined = pd.DataFrame({"model": "m", "test_set": "independent", "object_id": [f"o{i}" for i in range(len(scores))],
                           "p_cnn": scores, "is_lens": np.arange(len(scores)) >= n_neg,
                           "kind": np.where(np.arange(len(scores)) >= n_neg, "lens_rendered", "elliptical")})
    meta = joined[["object_id"]].assign(companion_mag=np.arange(len(scores), dtype=float), unrelated=1)
    top = ds.top_negatives(joined, meta)
    assert list(top["rank"]) == [1, 2, 3] and (top["kind"] == "elliptical").all()
    assert list(top["p_cnn"]) == sorted(scores[:n_neg])[::-1][:3]
    y = joined["is_lens"].to_numpy()
    assert top["lenses_above"].iloc[0] == pytest.approx(tpr0(y, scores))
    assert top["lenses_above"].iloc[-1] == pytest.approx(ds.tpr_at_fpr(y, scores, 0.01))
    tied = top.loc[top["rank"] == 2, "lenses_above"].item()
    assert tied == pytest.approx(np.mean(scores[n_neg:] > scores[n_neg]))  # the tied lens is not above
    assert list(top["companion_mag"]) == [float(o[1:]) for o in top["object_id"]] and "unrelated" not in top
    # another model's negatives are ranked apart; a set without negatives gives no rows
    other = joined.assign(model="n", p_cnn=1 - joined["p_cnn"])
    lenses_only = joined[joined["is_lens"]].assign(test_set="own")
    both = ds.top_negatives(pd.concat([joined, other, lenses_only]), None, max_fpr=0.02)
    assert both.groupby(["model", "test_set"]).size().to_dict() == {("m", "independent"): 6, ("n", "independent"): 6}


def test_tiny_domain_shift_run(rendered, tmp_path):
    """The independent images and an own test set scored by a tiny model made here, to the tables and figure."""
    from lensfinder.learning.datasets import write_toy_shard
    from lensfinder.learning.models import build_model, import_keras
    from lensfinder.learning.modelfiles import save_model
    from lensfinder.learning.sidecar import write_settings

    ind_dir = rendered[4] / "ind"
    write_toy_shard(tmp_path / "own", 0, 40, seed=2)
    keras = import_keras()
    scores, labels = [], []
    for net, seed in (("tiny", 3), ("tiny.seed2", 4)):  # two networks of one training set, other seeds
        keras.utils.set_random_seed(seed)
        model = save_model(build_model("he2020"), tmp_path / f"{net}.keras")
        write_settings({"model": "he2020", "input_shape": [49, 49, 1], "stamp_size": 101, "preprocess": "bin2",
                        "normalization": "minmax"}, model)
        for name, directory in (("own", tmp_path / "own"), ("independent", ind_dir)):
            out = tmp_path / f"{net}_{name}_scores.parquet"
            assert main(["infer", "--stamps", str(directory / "shard_000.fits"), "--index",
                         str(directory / "shard_000.parquet"), "--model", str(model), "--out", str(out)]) == 0
            scores.append(str(out))
            labels.append(f"model={net},training_set=tiny,test_set={name}")
    from lensfinder.cli.domain_shift import TABLE_NAMES

    tables = [str(tmp_path / f"{t}.parquet") for t in TABLE_NAMES]
    assert main(["domain-shift-table", "--scores", *scores, "--score-labels", *labels,
                 "--metadata", str(tmp_path / "own" / "shard_000.parquet"),
                 str(ind_dir / "shard_000.parquet"), "--out", *tables]) == 0
    summary = read_table(tables[0])
    assert list(summary["model"]) == ["tiny", "tiny.seed2"] and set(summary["training_set"]) == {"tiny"}
    # the seeds table: both networks' independent AUROC, their mean and spread
    spread = read_table(tables[5]).set_index("metric").loc["independent_auroc"]
    values = summary["independent_auroc"].to_numpy()
    assert values[0] != values[1] and spread["n_networks"] == 2 and spread["models"] == "tiny,tiny.seed2"
    assert (spread["mean"], spread["std"], spread["min"], spread["max"]) == pytest.approx(
        (values.mean(), values.std(ddof=1), values.min(), values.max()))
    scores = scores[:2]
    ind = read_table(ind_dir / "shard_000.parquet")
    scored = read_table(scores[1]).merge(ind[["object_id", "is_lens"]], on="object_id", suffixes=("_s", ""))
    from lensfinder.learning.metrics import auroc

    assert summary["independent_auroc"][0] == pytest.approx(auroc(scored["is_lens"], scored["p_cnn"]))
    assert summary["independent_n"][0] == 32 and summary["own_n"][0] == 40
    assert summary["independent_n_hosts_test"][0] == ind["host_object_id"].nunique()
    kinds = read_table(tables[2])
    assert set(kinds.loc[kinds["test_set"] == "independent", "kind"]) == set(ind["kind"])
    # the held-back set's kinds alone (the default --subset): a row of the metrics, columns of the summary
    held_back = ["lens_rendered", "elliptical", "elliptical_companion", "irregular"]
    part = read_table(scores[1]).drop(columns="is_lens", errors="ignore").merge(
        ind[["object_id", "is_lens", "kind"]], on="object_id")
    part = part[part["kind"].isin(held_back)]
    assert 0 < part["is_lens"].sum() < len(part) < len(ind)
    metrics = read_table(tables[1])
    row = metrics[metrics["model"] == "tiny"].set_index("test_set").loc["independent:held_back_like"]
    assert row["n"] == len(part) and row["auroc"] == pytest.approx(auroc(part["is_lens"], part["p_cnn"]))
    assert summary["held_back_like_auroc"][0] == pytest.approx(row["auroc"])
    assert summary["held_back_like_n"][0] == len(part)
    # the set's two parts (default subsets too): every image is in one of them
    on_hosts = ind["kind"].isin(["lens_host", "survey_host"])
    assert summary["on_hosts_n"][0] == on_hosts.sum() > 0 and summary["rendered_n"][0] == (~on_hosts).sum()
    # the negatives at the top of each ranking: TPR0 and TPR at FPR 1 % read off them, with their metadata
    top = read_table(tables[6])
    for (model, test_set), part in top.groupby(["model", "test_set"]):
        row = metrics.set_index(["model", "test_set"]).loc[(model, test_set)]
        n_negatives = row["n"] - row["n_lenses"]
        assert list(part["rank"]) == list(range(1, n_negatives // 100 + 2)) and (part["n_negatives"] == n_negatives).all()
        assert part["p_cnn"].is_monotonic_decreasing and part["lenses_above"].is_monotonic_increasing
        assert part["lenses_above"].iloc[0] == pytest.approx(row["tpr0"])
        assert part["lenses_above"].iloc[-1] == pytest.approx(row["tpr_fpr1"])
    independent = top[top["test_set"] == "independent"].merge(ind[["object_id", "kind", "is_lens"]], on="object_id",
                                                              suffixes=("", "_set"))
    assert len(independent) == 2 and not independent["is_lens"].any()  # one negative (of 16) per network
    assert (independent["kind"] == independent["kind_set"]).all() and "companion_distance_arcsec" in top.columns
    assert main(["domain-shift-figure", "--tables", tables[0], tables[4], tables[2], tables[3],
                 "--out", str(tmp_path / "fig.png")]) == 0
    assert (tmp_path / "fig.png").stat().st_size > 20_000


def _domain_shift_plan(repo_root, workdir, *extra, check=True):
    """Dry run of `domain_shift` (quick preset, then `extra` config files): the process and the planned
    `lensfinder` commands."""
    cmd = [sys.executable, "-m", "snakemake", "-n", "-p", "domain_shift", "-s", str(repo_root / "Snakefile"),
           "-d", str(workdir), "--configfile", str(repo_root / "config/config.yaml"),
           str(repo_root / "config/experiments/quick.yaml"), *map(str, extra)]
    result = subprocess.run(cmd, cwd=repo_root, capture_output=True, text=True, timeout=180)
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    commands = [m.group(1) for line in result.stdout.splitlines() if (m := re.search(r"(lensfinder [a-z-]+ .*)", line))]
    return result, commands


@early_test(15)
def test_workflow_keeps_the_hosts_of_each_side_apart(tmp_path, repo_root=REPO):
    """Dry run of `domain_shift` (quick preset): semi-real training sets read only the first tiles, their
    own tests the next one, the independent set only the last (held-out) tile."""
    _, commands = _domain_shift_plan(repo_root, tmp_path)

    def tiles(pattern):
        return {tuple(sorted(set(re.findall(r"stamps/(MOCK_\d+)\.fits", c)))) for c in commands if re.search(pattern, c)}

    n_tiles = yaml.safe_load((repo_root / "config/config.yaml").read_text())["mock"]["n_tiles"]
    names = [f"MOCK_{i}" for i in range(n_tiles)]  # quick preset: 1 held-out tile, 1 for the own tests
    assert tiles(r"--set-name li2020_train ") == {tuple(names[:-2])}
    assert tiles(r"--set-name he2020_semireal_train ") == {tuple(names[:-2])}
    assert tiles(r"--set-name li2020_test ") == {(names[-2],)}
    assert tiles(r"domain-shift-render ") == {(names[-1],)}
    assert tiles(r"--set-name skeleton_train ") == {()}
    assert any("--model he2020" in c and "domain_shift/models/li2020.keras" in c for c in commands)


def test_seed_spread_summarises_the_networks_of_each_training_set():
    rng = np.random.default_rng(4)
    summary = pd.DataFrame({"model": ["a", "a.seed2", "a.seed3", "b", "default"],
                            "training_set": ["a", "a", "a", "b", "default"]})
    for column in ("own_auroc", "own_tpr0", "independent_auroc", "independent_tpr_fpr1", "rings_auroc",
                   "delta_auroc", "own_n"):
        summary[column] = rng.uniform(0.5, 1.0, len(summary))
    summary.loc[2, "rings_auroc"] = np.nan  # a subset without images for one network
    spread = ds.seed_spread(summary)
    a = spread[spread["training_set"] == "a"].set_index("metric")
    assert list(spread["training_set"].drop_duplicates()) == ["a", "b", "default"]
    # headline metrics only (not sizes); subsets found by their _auroc column
    assert set(a.index) == {"own_auroc", "own_tpr0", "independent_auroc", "independent_tpr_fpr1", "rings_auroc",
                            "delta_auroc"}
    values = summary.loc[:2, "independent_auroc"].to_numpy()
    row = a.loc["independent_auroc"]
    assert row["n_networks"] == 3 and row["models"] == "a,a.seed2,a.seed3"
    assert (row["mean"], row["std"], row["min"], row["max"]) == pytest.approx(
        (values.mean(), values.std(ddof=1), values.min(), values.max()))
    assert a.loc["rings_auroc", "n_networks"] == 2  # NaN left out
    b = spread[spread["training_set"] == "b"].set_index("metric").loc["own_auroc"]
    assert b["n_networks"] == 1 and np.isnan(b["std"]) and b["min"] == b["max"] == b["mean"]
    with pytest.raises(InputError, match="training_set"):
        ds.seed_spread(summary.drop(columns="training_set"))


@early_test(15)
def test_workflow_trains_each_set_from_every_seed(tmp_path, repo_root=REPO):
    """`domain_shift.training_seeds: 2`: two networks per training set, on the same images from other seeds,
    each scored on its set's own test and the independent set, labelled with the set for the seeds table.
    A set's member_params reach its one member alone, in its train and own-test sets."""
    extra = tmp_path / "seeds.yaml"
    extra.write_text(yaml.safe_dump({"experiments": {"domain_shift": {"training_seeds": 2, "training_sets": {"nb_li": {
        "mix": {"broad": 0.8, "li2020": 0.2}, "member_params": {"broad": {"field_galaxies": [0, 2]}}}}}}}))
    _, commands = _domain_shift_plan(repo_root, tmp_path, extra)
    trains = {re.search(r"models/(\S+)\.keras", c).group(1): (re.search(r"--shards (\S+)", c).group(1),
                                                             re.search(r"--seed (\d+)", c).group(1))
              for c in commands if c.startswith("lensfinder train") and "domain_shift" in c}
    sets = [*yaml.safe_load((repo_root / "workflow/schemas/experiments.schema.yaml").read_text())[
        "properties"]["domain_shift"]["properties"]["training_sets"]["default"], "nb_li"]
    assert set(trains) == {*sets, *(f"{name}.seed2" for name in sets)}
    for name in sets:
        assert trains[name][0] == trains[f"{name}.seed2"][0] and f"sets/{name}_train/" in trains[name][0]
        assert trains[name][1] != trains[f"{name}.seed2"][1]
    infer = [c for c in commands if c.startswith("lensfinder infer") and "models/li2020.seed2.keras" in c]
    assert {re.search(r"sets/(\S+)/shard", c).group(1) for c in infer} == {"li2020_test", "independent"}
    table = next(c for c in commands if c.startswith("lensfinder domain-shift-table"))
    assert "model=li2020.seed2,training_set=li2020,test_set=own" in table
    assert "model=default,training_set=default,test_set=own" in table and "tables/seeds.parquet" in table
    sims = [c for c in commands if c.startswith("lensfinder simulate ") and "/domain_shift/" in c]
    ours = [c for c in sims if "--set-name nb_li_" in c]
    assert {re.search(r"--set-name (\S+)", c).group(1) for c in ours} == {"nb_li_train", "nb_li_test"}
    assert all("--mix broad=0.8 li2020=0.2 --member-set 'broad:field_galaxies=[0, 2]'" in c for c in ours)
    assert len(sims) > len(ours) and not any("--member-set" in c for c in sims if c not in ours)


def test_figure_draws_each_training_set_once_with_its_seed_range(tmp_path):
    from lensfinder.plots.domain_shift import bar_stats, figure_domain_shift

    summary = pd.DataFrame({"model": ["default", "a", "a.seed2", "a.seed3"],
                            "training_set": ["default", "a", "a", "a"],
                            "own_auroc": [0.99, 0.97, 0.98, 0.96], "independent_auroc": [0.9, 0.8, 0.86, 0.83]})
    stats = bar_stats(summary)
    assert list(stats.index) == ["default", "a"] and list(stats["n_networks"]["own_auroc"]) == [1, 3]
    assert [stats[s]["independent_auroc"]["a"] for s in ("mean", "min", "max")] == pytest.approx([0.83, 0.8, 0.86])
    # the bars are the seeds table's figures
    seeds = ds.seed_spread(summary).set_index(["training_set", "metric"])
    assert stats["max"]["own_auroc"]["a"] == seeds.loc[("a", "own_auroc"), "max"]
    # tables without the training_set column (before training_seeds): each model its own set
    assert list(bar_stats(summary.drop(columns="training_set"))["n_networks"]["own_auroc"]) == [1, 1, 1, 1]
    for metric in ("tpr0", "tpr_fpr1"):
        summary[f"own_{metric}"] = summary[f"independent_{metric}"] = 0.5
    roc = pd.DataFrame([{"model": m, "test_set": t, "fpr": f, "tpr": f} for m in summary["model"]
                        for t in ("own", "independent") for f in (0.0, 0.5, 1.0)])
    kinds = pd.DataFrame([{"model": m, "test_set": "independent", "kind": k, "is_lens": False, "threshold": 0.5,
                           "called_lens_fraction": r, "called_lens_fraction_err": 0.05}
                          for m, r in zip(summary["model"], (0.1, 0.2, 0.4, 0.3)) for k in ("ring", "spiral")])
    completeness = pd.DataFrame([{"model": m, "test_set": "independent", "column": c, "bin_lo": 1.0,
                                  "bin_hi": 2.0, "bin_center": 1.5, "n_lenses": 10, "completeness": 0.8,
                                  "completeness_err": 0.1} for m in summary["model"] for c in ds.COMPLETENESS_BINS])
    fig_path = figure_domain_shift([summary, roc, kinds, completeness], tmp_path / "f.png")
    assert fig_path.stat().st_size > 20_000
    # a set of one network: whiskers from its bootstrap interval; tables from before the intervals: none
    from lensfinder.plots.domain_shift import _interval

    assert np.isnan(_interval(summary, ["default", "a"], "independent_auroc")).all()
    summary["independent_auroc_lo"], summary["independent_auroc_hi"] = [0.88, 0.7, 0.8, 0.75], [0.92, 0.9, 0.9, 0.9]
    lo, hi = _interval(summary, ["default", "a"], "independent_auroc")
    assert list(lo) == [0.88, 0.7] and list(hi) == [0.92, 0.9]
    assert figure_domain_shift([summary, roc, kinds, completeness], tmp_path / "g.png").stat().st_size > 20_000


def test_table_step_refuses_unknown_test_sets(tmp_path, capsys):
    scores = write_table(pd.DataFrame({"object_id": ["a", "b"], "p_cnn": [0.1, 0.9]}), tmp_path / "s.parquet")
    meta = write_table(pd.DataFrame({"object_id": ["a", "b"], "is_lens": [False, True]}), tmp_path / "m.parquet")
    from lensfinder.cli.domain_shift import TABLE_NAMES

    out = [str(tmp_path / f"{t}.parquet") for t in TABLE_NAMES]
    assert main(["domain-shift-table", "--scores", str(scores), "--score-labels", "model=x,test_set=train",
                 "--metadata", str(meta), "--out", *out]) == 2
    assert "test_set=own|independent" in capsys.readouterr().err and not (tmp_path / "summary.parquet").exists()
    assert main(["domain-shift-table", "--scores", str(scores), str(scores), "--score-labels",
                 "model=x,training_set=a,test_set=own", "model=x,training_set=b,test_set=independent",
                 "--metadata", str(meta), "--out", *out]) == 2
    assert "model=x is labelled with training sets ['a', 'b']" in capsys.readouterr().err
    assert not (tmp_path / "summary.parquet").exists()


def test_labels_must_be_booleans_and_integer_ids_match_text_ids(tmp_path, capsys):
    """is_lens read as text would make "False" a lens, a missing value too: refused by name. Metadata whose
    object_id is stored as integers matches the scores' text ids, in the join, the top negatives and the step."""
    scores = pd.DataFrame({"model": "m", "test_set": "own", "object_id": ["1", "2", "3", "4"],
                           "p_cnn": [0.9, 0.8, 0.2, 0.1]})
    for bad, shown in ((["True", "False", "False", "True"], "'True'"), ([True, False, None, True], "None")):
        meta = pd.DataFrame({"object_id": ["1", "2", "3", "4"], "is_lens": bad})
        with pytest.raises(InputError, match=rf"meta.parquet: is_lens: {shown} is not a boolean"):
            ds.join_scores(scores, meta, "meta.parquet")
    meta = pd.DataFrame({"object_id": [4, 3, 2, 1], "is_lens": [False, True, False, True], "mag_lens": [4.0, 3, 2, 1]})
    joined = ds.join_scores(scores, meta)
    assert joined["is_lens"].tolist() == [True, False, True, False] and joined["is_lens"].dtype == bool
    assert joined["kind"].tolist() == ["lens", "nonlens", "lens", "nonlens"]
    top = ds.top_negatives(joined, meta)
    assert top["object_id"].tolist() == ["2"] and top["mag_lens"].tolist() == [2.0]
    write_table(scores.drop(columns=["model", "test_set"]), tmp_path / "s.parquet")
    write_table(meta, tmp_path / "m.parquet")
    from lensfinder.cli.domain_shift import TABLE_NAMES

    out = [str(tmp_path / f"{t}.parquet") for t in TABLE_NAMES]
    assert main(["domain-shift-table", "--scores", str(tmp_path / "s.parquet"), "--score-labels",
                 "model=m,test_set=own", "--metadata", str(tmp_path / "m.parquet"), "--subset", "none",
                 "--out", *out]) == 0, capsys.readouterr().err
    assert read_table(out[1])["auroc"].tolist() == [0.75]
    # one image in two metadata files with two classes: refused naming the files, not the first one kept
    write_table(meta.assign(is_lens=~meta["is_lens"]).head(1), tmp_path / "m2.parquet")
    assert main(["domain-shift-table", "--scores", str(tmp_path / "s.parquet"), "--score-labels",
                 "model=m,test_set=own", "--metadata", str(tmp_path / "m.parquet"), str(tmp_path / "m2.parquet"),
                 "--subset", "none", "--out", *out]) == 2
    err = capsys.readouterr().err
    assert "m2.parquet: is_lens: 1 object_id(s) both a lens and a non-lens, e.g. '4'" in err
    assert "--metadata " in err


def test_completeness_counts_the_lenses_outside_the_fixed_bins(caplog):
    joined = pd.DataFrame({"model": "m", "test_set": "independent", "object_id": list("abcd"),
                           "p_cnn": [0.9, 0.8, 0.7, 0.1], "is_lens": [True, True, True, False],
                           "theta_E": [1.2, 0.3, 9.0, np.nan], "arc_snr": np.nan, "psf_fwhm_arcsec": 0.7})
    with caplog.at_level("WARNING", logger="lensfinder.learning.metrics"):
        table = ds.completeness_table(joined, 0.5)
    assert table.loc[table["column"] == "theta_E", "n_lenses"].sum() == 1
    assert "m on independent: theta_E: 2 of 3 lenses outside the completeness bins [0.5, 5] left out" in caplog.text
    assert "psf_fwhm_arcsec" not in caplog.text and "arc_snr" not in caplog.text


def test_a_band_list_renders_every_band_with_its_colours():
    from lensfinder.experiments.independent_render import render_independent

    spec = independent_spec({"bands": ["g", "r", "i"], "psf_bank_size": 1, "supersampling": 1,
                             "negative_mix": {"elliptical": 1.0}})
    cubes, table = render_independent(spec, 2, 0, 2, None)
    assert set(cubes) == {"g", "r", "i"} and all(np.isfinite(c).all() for c in cubes.values())
    # the elliptical (row 0) is red: g - r = 1.2-1.8 mag, so its g counts are 3-5 times fainter
    centre = np.s_[0, 40:61, 40:61]
    ratio = cubes["r"][centre].sum() / cubes["g"][centre].sum()
    assert 2.5 < ratio < 6.0 and table["kind"][0] == "elliptical"


def test_the_companions_colour_and_morphology_are_columns():
    """`companion_g_r` and `companion_morphology`: an elliptical_companion's companion, read from its
    parameters (the top-negatives table shows them); NaN / None for the other kinds and without g and r."""
    import json

    from lensfinder.experiments.independent_render import render_independent

    spec = independent_spec({"bands": ["g", "r", "i"], "psf_bank_size": 1, "supersampling": 1,
                             "negative_mix": {"elliptical_companion": 1.0, "elliptical": 1.0}})
    _, table = render_independent(spec, 3, 0, 16, None)
    companions = table["kind"] == "elliptical_companion"
    assert 0 < companions.sum() < (~table["is_lens"]).sum()
    for _, row in table[companions].iterrows():
        colour = json.loads(row["params_json"])["companion"]["colour"]
        assert row["companion_g_r"] == pytest.approx(colour["g"] - colour["r"])
        assert row["companion_morphology"] in ("shapelets", "clumpy")
    assert table.loc[companions, "companion_g_r"].nunique() == companions.sum()  # each its own colour
    assert table.loc[~companions, "companion_g_r"].isna().all()
    assert table.loc[~companions, "companion_morphology"].isna().all()
    r_only = independent_spec({"bands": ["r"], "psf_bank_size": 1, "supersampling": 1,
                               "negative_mix": {"elliptical_companion": 1.0}})
    _, table = render_independent(r_only, 3, 0, 4, None)
    assert table["companion_g_r"].isna().all() and table.loc[~table["is_lens"], "companion_morphology"].notna().all()


def test_lenses_are_visible_and_hosts_are_not_overused(rendered):
    """Lenses whose arc never outshines the lens light are redrawn; few hosts lower the host fraction."""
    spec, _, _, table, _ = rendered
    lenses = table[table["is_lens"]]
    assert (lenses["arc_visible_snr"] >= spec.min_visible_arc_snr).all()
    assert (lenses["arc_visible_snr"] <= lenses["arc_snr"] + 1e-6).all()
    assert table.loc[~table["is_lens"], "arc_visible_snr"].isna().all()
    kinds = pd.Series([draw_row(spec, 3, 0, i, n_hosts=5, host_probability=0.05)["kind"] for i in range(600)])
    assert kinds.isin(["lens_host", "survey_host"]).mean() < 0.09
    with pytest.raises(InputError, match="max_host_copies"):
        independent_spec({"max_host_copies": 0})


def test_table_steps_default_subsets_are_the_workflows(repo_root):
    """`domain-shift-table` without --subset and the workflow's `domain_shift.subsets` default compute the
    same subsets: the held-back-like one, and the set's two parts (rendered, on survey hosts)."""
    schema = yaml.safe_load((repo_root / "workflow/schemas/experiments.schema.yaml").read_text())
    default = schema["properties"]["domain_shift"]["properties"]["subsets"]["default"]
    assert [(name, tuple(s["lenses"]), tuple(s["negatives"])) for name, s in default.items()] == [
        ds.parse_subset(text) for text in ds.DEFAULT_SUBSETS]
    # rendered: every rendered negative kind the independent renderer makes; on_hosts: the survey hosts
    _, lenses, negatives = ds.parse_subset(ds.RENDERED)
    assert lenses == ("lens_rendered",) and set(negatives) == set(RENDERED_NEGATIVE_KINDS)
    assert ds.parse_subset(ds.ON_HOSTS)[1:] == (("lens_host",), ("survey_host",))


@early_test(12)
def test_a_training_set_names_only_its_own_recipes_in_member_params(tmp_path, repo_root=REPO):
    """`training_sets.NAME.member_params` for a recipe the set does not simulate stops the dry run, naming
    it (the overrides reaching their member: test_workflow_trains_each_set_from_every_seed)."""
    extra = tmp_path / "members.yaml"
    extra.write_text(yaml.safe_dump({"experiments": {"domain_shift": {"training_sets": {"nb_li": {
        "mix": {"broad": 0.8, "li2020": 0.2}, "member_params": {"sky": {"field_galaxies": [0, 2]}}}}}}}))
    result, _ = _domain_shift_plan(repo_root, tmp_path, extra, check=False)
    assert result.returncode != 0
    assert ("experiments.domain_shift.training_sets.nb_li.member_params: sky: not simulated here"
            in result.stdout + result.stderr)


@early_test(40)
def test_workflow_scores_its_ensemble_as_one_network(tmp_path, repo_root=REPO):
    """With `inference.ensemble` of two networks, `domain_shift` scores the second network alone as a row
    named after it (its own test scores are the workflow's), beside the first (`default`), and their
    mean probability on the workflow's test set and the independent set as the row `ensemble`, from
    those scores (`combine-scores --calibration none`); a training set may not take these rows' names
    (`ensemble` here; a member's name in tests/experiments/test_domain_shift_plan.py)."""
    extra = tmp_path / "ensemble.yaml"
    extra.write_text(yaml.safe_dump({"inference": {"ensemble": [{"model": "he2020", "seed": 42},
                                                                {"model": "he2020_half", "seed": 43}]}}))
    _, commands = _domain_shift_plan(repo_root, tmp_path, extra)
    ensemble = [c for c in commands if c.startswith("lensfinder combine-scores") and "/scores/ensemble/" in c]
    n_test = yaml.safe_load((repo_root / "config/config.yaml").read_text())["simulation"]["sets"]["test"]["n_shards"]
    own = [c for c in ensemble if "/scores/ensemble/own/" in c]
    independent = [c for c in ensemble if "/scores/ensemble/independent/" in c]
    assert len(own) == n_test and len(independent) >= 1 and len(own) + len(independent) == len(ensemble)
    for c in own:
        shard = re.search(r"/own/shard_(\d{3})", c).group(1)
        assert (f"--predictions results/eval/he2020/test_{shard}.parquet results/eval/he2020_half_s43/test_{shard}"
                ".parquet --calibration none " in c)
    for c in independent:
        shard = re.search(r"/independent/shard_(\d{3})", c).group(1)
        scores = "results/experiments/domain_shift/scores/{}/independent/shard_" + shard + ".parquet"
        assert f"--predictions {scores.format('default')} {scores.format('he2020_half_s43')} --calibration none " in c
    assert not any("--ensemble" in c for c in commands if c.startswith("lensfinder infer"))  # no network scored twice
    table = next(c for c in commands if c.startswith("lensfinder domain-shift-table"))
    assert "model=default,training_set=default,test_set=own" in table
    assert "model=ensemble,training_set=ensemble,test_set=own" in table
    assert "model=ensemble,training_set=ensemble,test_set=independent" in table
    member = "he2020_half_s43"
    assert f"model={member},training_set={member},test_set=own" in table
    assert f"results/eval/{member}/test_000.parquet" in table.split("--score-labels")[0]
    alone = [c for c in commands if c.startswith("lensfinder infer") and f"/scores/{member}/independent/" in c]
    assert len(alone) == len(independent)
    assert all(f"--model results/models/{member}.keras " in c and "--ensemble" not in c for c in alone)
    # a single network: no ensemble row, no member rows
    single, _ = _domain_shift_plan(repo_root, tmp_path)
    assert "/scores/ensemble/" not in single.stdout and "model=default" in single.stdout
    assert "/scores/he2020_half" not in single.stdout
    # a training set called `ensemble` would hide the row
    clash = tmp_path / "clash.yaml"
    clash.write_text(yaml.safe_dump({"experiments": {"domain_shift": {"training_sets": {"ensemble": {
        "recipe": "broad"}}}}}))
    refused, _ = _domain_shift_plan(repo_root, tmp_path, extra, clash, check=False)
    assert refused.returncode != 0
    assert "experiments.domain_shift.training_sets: 'ensemble'" in refused.stdout + refused.stderr


@early_test(20)
def test_large_preset_scores_the_workflows_network_on_ten_held_out_tiles(tmp_path, repo_root=REPO):
    """config/experiments/domain_shift_large.yaml over the default: the mock survey grows by ten tiles that
    host the independent set alone (the search's tiles keep out of it), 6,000 images in 12 render jobs
    of another seed, and only the workflow's network is trained and scored; with no training set and
    default_model false the dry run stops, naming the keys."""
    def plan(*extra):
        cmd = [sys.executable, "-m", "snakemake", "-n", "-p", "domain_shift", "-s", str(repo_root / "Snakefile"),
               "-d", str(tmp_path), "--configfile", str(repo_root / "config/config.yaml"),
               str(repo_root / "config/experiments/domain_shift_large.yaml"), *map(str, extra)]
        return subprocess.run(cmd, cwd=repo_root, capture_output=True, text=True, timeout=180)

    result = plan()
    assert result.returncode == 0, result.stderr[-3000:]
    commands = [m.group(1) for line in result.stdout.splitlines() if (m := re.search(r"(lensfinder [a-z-]+ .*)", line))]
    default_tiles = yaml.safe_load((repo_root / "config/config.yaml").read_text())["mock"]["n_tiles"]
    renders = [c for c in commands if c.startswith("lensfinder domain-shift-render")]
    assert len(renders) == 12 and all("--n 500 --seed 72 " in c for c in renders)
    held_out = {f"MOCK_{i}" for i in range(default_tiles, default_tiles + 10)}
    for c in renders:
        assert set(re.findall(r"stamps/(MOCK_\d+)\.fits", c)) == held_out
        assert set(re.findall(r"truth/(MOCK_\d+)\.parquet", c)) == held_out
    trains = [c for c in commands if c.startswith("lensfinder train")]
    assert trains and not any("/domain_shift/" in c for c in trains)  # the workflow's network (and its soup) alone
    scored = {re.search(r"--model (\S+)", c).group(1) for c in commands
              if c.startswith("lensfinder infer") and "/domain_shift/" in c}
    assert scored == {"results/models/he2020.keras"}
    table = next(c for c in commands if c.startswith("lensfinder domain-shift-table"))
    assert set(re.findall(r"model=([^,\s]+)", table)) == {"default"}
    # nothing to score
    off = tmp_path / "off.yaml"
    off.write_text(yaml.safe_dump({"experiments": {"domain_shift": {"default_model": False}}}))
    refused = plan(off)
    assert refused.returncode != 0
    assert "experiments.domain_shift: training_sets is empty and default_model is false" in (
        refused.stdout + refused.stderr)


@early_test(25)
def test_a_control_trains_on_the_renderers_own_images_on_its_own_hosts(tmp_path, repo_root=REPO):
    """`training_sets: {control: {recipe: independent}}`: the independent renderer draws the control's
    training images on the semi-real training tiles and its own test on the own-test tile, from seeds
    other than the independent set's, which alone reads the held-out tile; the control is trained and
    scored as any training set. Misspelt, in a mix, with member_params, on the independent set's seed or
    with one seed for its training and own-test images it is refused, naming the key (in process:
    tests/experiments/test_domain_shift_plan.py)."""
    def config(name, domain_shift):
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump({"experiments": {"domain_shift": domain_shift}}))
        return path

    result, commands = _domain_shift_plan(repo_root, tmp_path, config("ok", {
        "training_sets": {"control": {"recipe": "independent", "params": {"host_fraction": 0.5}}}}))
    renders = {re.search(r"--out-dir \S+/sets/(\S+)", c).group(1): c for c in commands
               if c.startswith("lensfinder domain-shift-render") and "--shard 000" in c}
    assert set(renders) == {"independent", "control_train", "control_test"}
    n_tiles = yaml.safe_load((repo_root / "config/config.yaml").read_text())["mock"]["n_tiles"]
    names = [f"MOCK_{i}" for i in range(n_tiles)]
    for dsset, tiles in (("control_train", names[:-2]), ("control_test", names[-2:-1]), ("independent", names[-1:])):
        assert set(re.findall(r"stamps/(MOCK_\d+)\.fits", renders[dsset])) == set(tiles)
        assert set(re.findall(r"truth/(MOCK_\d+)\.parquet", renders[dsset])) == set(tiles)
    seeds = {dsset: int(re.search(r"--seed (\d+)", c).group(1)) for dsset, c in renders.items()}
    assert len(set(seeds.values())) == 3
    assert "host_fraction=0.5" in renders["control_train"] and "host_fraction" not in renders["independent"]
    assert not any(c.startswith("lensfinder simulate") and "control_" in c for c in commands)
    train = next(c for c in commands if c.startswith("lensfinder train") and "models/control.keras" in c)
    assert re.findall(r"sets/(\w+)/shard_\d+\.fits", train.split("--out")[0]) == ["control_train"] * 2
    scored = {re.search(r"sets/(\w+)/shard", c).group(1) for c in commands
              if c.startswith("lensfinder infer") and "models/control.keras" in c}
    assert scored == {"control_test", "independent"}
    table = next(c for c in commands if c.startswith("lensfinder domain-shift-table"))
    assert "model=control,training_set=control,test_set=own" in table and "sets/control_train/shard_000.parquet" in table
    # a misspelt recipe stops the dry run, naming the key (the plan's own refusals, in process:
    # tests/experiments/test_domain_shift_plan.py)
    refused, _ = _domain_shift_plan(repo_root, tmp_path, config("typo", {"training_sets": {"c": {"recipe": "indepedent"}}}),
                                    check=False)
    assert refused.returncode != 0
    assert "training_sets.c.recipe: 'indepedent' is not one of" in refused.stdout + refused.stderr


def test_the_renderers_images_train_a_network(rendered, tmp_path):
    """A control's training shards are the renderer's own: `lensfinder train` reads them as they are."""
    shard = rendered[4] / "ind" / "shard_000.fits"
    out = tmp_path / "control.keras"
    assert main(["train", "--shards", str(shard), "--model", "he2020", "--epochs", "1", "--bands", "r",
                 "--out", str(out), "--threads", "1", "--seed", "3"]) == 0
    settings = yaml.safe_load((tmp_path / "control.json").read_text())
    assert settings["shards"][0].endswith("ind/shard_000.fits") and settings["input_shape"] == [49, 49, 2]
    history = pd.read_csv(tmp_path / "control.history.csv")
    assert len(history) == 1 and np.isfinite(history["loss"]).all()
