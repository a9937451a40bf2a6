"""The bands_test experiment: metrics and colour gain per preset, its steps, and its workflow (dry run)."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from lensfinder.cli import main
from lensfinder.experiments.bands import band_label, bands_metrics, colour_gain, label_bands
from lensfinder.io import InputError, read_table, write_table
from lensfinder.learning.metrics import auroc, tpr0, tpr10
from helpers.early_runs import early_test
from helpers.workflow_run import REPO


def _scores(rng, n=200):
    """Scores of an r network and a sharper g, r, i network on one test set."""
    is_lens = rng.random(n) < 0.5
    ids = [f"t{k}" for k in range(n)]
    single = np.clip(0.5 + 0.25 * (is_lens - 0.5) + rng.normal(0, 0.2, n), 0, 1)
    colour = np.clip(0.5 + 0.8 * (is_lens - 0.5) + rng.normal(0, 0.1, n), 0, 1)
    labels = pd.DataFrame({"object_id": ids, "is_lens": is_lens})
    return ids, single, colour, labels


def test_metrics_and_gain_per_preset_band_set_and_test_set():
    rng = np.random.default_rng(0)
    ids, single, colour, labels = _scores(rng)
    scores = pd.concat([  # infer's scores of simulated shards carry a (wrong here) is_lens: the labels win
        pd.DataFrame({"object_id": ids, "p_cnn": single, "preset": "kids", "bands": "r", "test_set": "own",
                      "is_lens": False}),
        pd.DataFrame({"object_id": ids, "p_cnn": colour, "preset": "kids", "bands": band_label("gri"),
                      "test_set": "own"}),
        pd.DataFrame({"object_id": ids[:50], "p_cnn": colour[:50], "preset": "euclid", "bands": "VIS",
                      "test_set": "own"}),
    ])
    scores.loc[3, "p_cnn"] = np.nan  # a skipped stamp
    metrics = bands_metrics(scores, labels)
    assert list(metrics[["preset", "bands", "n_bands"]].itertuples(index=False, name=None)) == [
        ("euclid", "VIS", 1), ("kids", "r", 1), ("kids", "g+r+i", 3)]
    row = metrics.iloc[1]
    keep = np.arange(len(ids)) != 3
    assert row["n_nan"] == 1 and row["n_lenses"] + row["n_non_lenses"] == len(ids) - 1
    y = labels["is_lens"].to_numpy()
    assert row["auroc"] == pytest.approx(auroc(y[keep], single[keep]))
    assert row["tpr0"] == pytest.approx(tpr0(y[keep], single[keep]))
    assert metrics.iloc[2]["tpr10"] == pytest.approx(tpr10(y, colour))
    gain = colour_gain(metrics)
    assert gain["preset"].tolist() == ["kids"]  # euclid has one band set: nothing to compare
    assert gain["auroc_gain"].iloc[0] == pytest.approx(metrics.iloc[2]["auroc"] - metrics.iloc[1]["auroc"])
    assert gain["auroc_gain"].iloc[0] > 0 and (gain["single_bands"] == "r").all()
    assert label_bands("VIS+Y+J+H") == ("VIS", "Y", "J", "H")
    with pytest.raises(InputError, match="no is_lens for scored image 'nope'"):
        bands_metrics(scores.assign(object_id="nope"), labels)


def test_table_and_figure_steps(tmp_path):
    rng = np.random.default_rng(1)
    ids, single, colour, labels = _scores(rng)
    write_table(labels, tmp_path / "meta.parquet")
    for name, p in (("r", single), ("gri", colour)):
        write_table(pd.DataFrame({"object_id": ids, "p_cnn": p}), tmp_path / f"{name}.parquet")
    out = tmp_path / "tables"
    assert main(["bands-test-table", "--scores", str(tmp_path / "r.parquet"), str(tmp_path / "gri.parquet"),
                 "--score-labels", "preset=kids,bands=r,test_set=own", "preset=kids,bands=g+r+i,test_set=own",
                 "--labels", str(tmp_path / "meta.parquet"), "--out", str(out / "metrics.parquet"),
                 "--out-gain", str(out / "gain.parquet")]) == 0
    assert pd.read_csv(out / "metrics.csv")["bands"].tolist() == ["r", "g+r+i"]
    gain = read_table(out / "gain.parquet")
    assert gain["colour_bands"].iloc[0] == "g+r+i" and gain["auroc_colour"].iloc[0] > gain["auroc_single"].iloc[0]
    assert main(["bands-test-figure", "--metrics", str(out / "metrics.parquet"), "--out", str(tmp_path / "f.png")]) == 0
    assert (tmp_path / "f.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _dry_run(repo_root, tmp_path, extra: str = ""):
    config = tmp_path / "bands.yaml"
    config.write_text(extra)
    cmd = [sys.executable, "-m", "snakemake", "-n", "-p", "bands_test", "-s", str(repo_root / "Snakefile"),
           "-d", str(tmp_path), "--configfile", str(repo_root / "config/config.yaml"),
           str(repo_root / "config/experiments/quick.yaml"), str(config)]
    result = subprocess.run(cmd, cwd=repo_root, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return [m.group(1) for line in result.stdout.splitlines() if (m := re.search(r"(lensfinder [a-z-]+ .*)", line))]


@early_test(7)
def test_workflow_trains_one_band_and_all_bands_on_the_same_images(tmp_path, repo_root=REPO):
    commands = _dry_run(repo_root, tmp_path, "experiments:\n  bands_test:\n    presets: [kids, des, euclid]\n")
    train = {re.search(r"models/(\S+)\.keras", c).group(1): c for c in commands if c.startswith("lensfinder train")}
    assert sorted(train) == ["des_g-r-i", "des_r", "euclid_VIS", "euclid_VIS-Y-J-H", "kids_g-r-i", "kids_r"]
    assert "--bands r " in train["kids_r"] and "--bands g r i " in train["kids_g-r-i"]
    assert "--bands VIS Y J H " in train["euclid_VIS-Y-J-H"]
    for net, command in train.items():  # both networks of a preset read the same training shards
        preset = net.split("_")[0]
        assert set(re.findall(r"sets/(\w+)/shard", command)) == {f"{preset}_train"}
    assert "--preprocess bin2" in train["kids_r"] and "--preprocess bin2" in train["euclid_VIS"]  # 101, 201 px
    simulate = [c for c in commands if c.startswith("lensfinder simulate")]
    kids = next(c for c in simulate if "--set-name kids_train" in c)
    assert "--set 'preset=\"kids\"'" in kids and "'bands=[\"g\", \"r\", \"i\"]'" in kids
    assert "--set stamp_size=101 " in kids
    assert "--set stamp_size=201 " in next(c for c in simulate if "--set-name euclid_test" in c)
    infer = [c for c in commands if c.startswith("lensfinder infer")]
    assert any("kids_test/shard_000.fits" in c and "kids_r.keras" in c for c in infer)
    table = next(c for c in commands if c.startswith("lensfinder bands-test-table"))
    assert "preset=kids,bands=g+r+i,test_set=own" in table and "test_set=independent" not in table


@early_test(18)
def test_workflow_scores_the_independent_set_when_asked(tmp_path, repo_root=REPO):
    """The independent set is rendered in the run's bands: g, r, i for the kids colour network. In the quick
    preset's r band alone the colour network would meet a one-band cube after its training: refused at once."""
    asked = "experiments:\n  bands_test:\n    independent: true\n"
    with pytest.raises(AssertionError, match="the domain_shift independent set is rendered in this run's bands \\(r\\), "
                                             "which lack g,i of the kids colour network"):
        _dry_run(repo_root, tmp_path, asked)
    commands = _dry_run(repo_root, tmp_path, "bands: [g, r, i]\n" + asked)
    render = [c for c in commands if c.startswith("lensfinder domain-shift-render")]
    assert render and all("'bands=[\"g\", \"r\", \"i\"]'" in c for c in render)
    infer = [c for c in commands if c.startswith("lensfinder infer")]
    assert any("domain_shift/sets/independent/shard_000.fits" in c and "kids_g-r-i.keras" in c for c in infer)
    table = next(c for c in commands if c.startswith("lensfinder bands-test-table"))
    assert "preset=kids,bands=r,test_set=independent" in table
    # the set's own bands (domain_shift.independent.params) count, not the run's: refused as well
    with pytest.raises(AssertionError, match="rendered in the bands of experiments.domain_shift.independent.params "
                                             "\\(r\\), which lack g,i"):
        _dry_run(repo_root, tmp_path, "bands: [g, r, i]\n" + asked + "  domain_shift:\n    independent:\n"
                 "      params: {bands: [r]}\n")
