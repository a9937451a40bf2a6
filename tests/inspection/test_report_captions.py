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
