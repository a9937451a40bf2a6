"""The Snakemake report's captions of the inspection: rendered as Snakemake renders them (Jinja, then docutils)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

jinja2 = pytest.importorskip("jinja2")
docutils_core = pytest.importorskip("docutils.core")

ROOT = Path(__file__).resolve().parents[2]


def _caption(name: str, config: dict, **output) -> str:
    """The caption's HTML body, as snakemake.report renders it (trim_blocks, lstrip_blocks)."""
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
    text = env.from_string((ROOT / "workflow" / "report" / name).read_text())
    rst = text.render(snakemake=SimpleNamespace(config=config, output=SimpleNamespace(**output)))
    return " ".join(docutils_core.publish_parts(rst, writer="html")["body"].split())


def _config(survey="mock", rounds=1, grades=None, later=()):
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config["survey"] = survey
    config["learning"] = {**config["learning"], "rounds": rounds, "grades": list(later)}
    config["inspection"] = {**config["inspection"], "grades": grades}
    return config


@pytest.mark.parametrize("config, ranked_round", [
    (_config(), 1),  # the default run: simulated inspectors grade round 1's set, which makes the ranked list
    (_config(rounds=2), 2),
    (_config(rounds=0), 0),
    (_config("kids_dr4", rounds=2, grades="mine.csv"), 0),  # no grades of later rounds: round 0's list
    (_config("kids_dr4", rounds=2, grades="mine.csv", later=["round1.csv"]), 1),
    (_config("kids_dr4", rounds=1, grades="mine.csv", later=["r1.csv", "r2.csv"]), 1),
])
def test_mosaic_caption_says_which_rounds_set_it_shows(config, ranked_round):
    # the report showed round 0's mosaic beside the last round's ranked list without a word on it
    html = _caption("mosaic.rst", config, mosaic="results/inspect/mosaic.png")
    assert "Round 0's inspection set" in html and "results/inspect/mosaic.png" in html
    if ranked_round:
        assert f"comes from retraining round {ranked_round}'s inspection set" in html
        assert f"results/rounds/{ranked_round}/inspect/mosaic.png" in html
    else:
        assert "rounds/" not in html and "retraining" not in html


def _inference(config, **inference):
    return {**config, "inference": {**config["inference"], **inference}}


@pytest.mark.parametrize("name", ["roc.rst", "metrics.rst", "completeness.rst"])
def test_test_set_captions_say_the_scores_are_raw_and_the_search_cut_calibrated(name):
    # evaluate scores the raw test-set p_CNN at 0.5/0.75/0.98; the search cuts the calibrated p_CNN
    html = _caption(name, _inference(_config(), thresholds={"lrg_li2020": 0.9, "bg_li2020": 0.9999},
                                     calibration="platt"))
    assert "raw (uncalibrated) p_CNN" in html and "not the search's cut" in html
    assert "lrg_li2020 0.9" in html and "bg_li2020 0.9999" in html
    assert "the calibrated p_CNN" in html and "platt" in html
    html = _caption(name, _inference(_config(), calibration="none"))
    assert "the raw p_CNN as well" in html and "the calibrated p_CNN" not in html


@pytest.mark.parametrize("method, words", [("beta", "beta calibration"), ("platt", "Platt scaling"),
                                           ("temperature", "temperature scaling")])
def test_calibration_captions_name_the_configured_method_and_the_cross_fitting(method, words):
    # the captions said: temperature scaling fitted on half the test set, ECE on the other half
    config = _inference(_config(), calibration=method)
    html = _caption("calibration.rst", config)
    assert words in html and "on all n images of the test set" in html and "two-fold cross-fitting" in html
    assert "other half" not in html and ("temperature" in html) == (method == "temperature")
    html = _caption("reliability.rst", config)
    assert f"{method} calibration" in html and "two-fold cross-fitted" in html
    assert "map fitted on the whole test set" in html and "not used to fit" not in html
    assert "raw p_CNN" in _caption("calibration.rst", _inference(_config(), calibration="none"))


@pytest.mark.parametrize("name", ["rounds.rst", "rounds_figure.rst"])
def test_rounds_captions_give_the_configured_thresholds(name):
    # the caption said "LRG 0.75, BG 0.98" whatever inference.thresholds held
    html = _caption(name, _inference(_config(), thresholds={"lrg_li2020": 0.9, "bg_li2020": 0.9999}))
    assert "lrg_li2020 0.9" in html and "bg_li2020 0.9999" in html
    assert "0.75" not in html and "0.98" not in html
    assert "lrg_li2020 0.75" in _caption(name, _config())


def test_pcnn_vs_phuman_caption_marks_a_and_d_separately():
    html = _caption("pcnn_vs_phuman.rst", _config())
    assert "at least one A and at least one D" not in html
    assert "graded A (score 10) by at least one inspector" in html
    assert "graded D (score 0) by at least one inspector" in html
