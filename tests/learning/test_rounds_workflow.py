"""The workflow's plan of retraining rounds and ensembles (dry runs): rounds appear with
learning.rounds >= 1 and are absent with 0; members get their own networks; without simulated
inspectors only graded rounds are ranked."""

from __future__ import annotations

import pytest

from tests.workflow.test_workflow import copy_workflow, snakemake
from helpers.early_runs import early_test

ROUND_RULES = ("finetune_set", "finetune", "rescore", "round_infer_test", "round_calibrate", "round_combine_scores",
               "round_candidates", "round_mock_grades", "round_merge_scores", "evaluate_rounds", "figure_rounds")


def _plan(workdir, config_text):
    (workdir / "config" / "plan.yaml").write_text(config_text)
    return snakemake(workdir, "-n", "-p", "--configfile", "config/plan.yaml").stdout


def _blocks(plan, rule):
    return [b for b in plan.split("\n\n") if f"rule {rule}:" in b]


@pytest.fixture
def workdir(tmp_path):
    return copy_workflow(tmp_path)


@early_test(10, prepare=copy_workflow)
def test_rounds_and_ensemble_members_appear_and_vanish_with_no_rounds(workdir):
    plan = _plan(workdir, "inference: {ensemble: [{seed: 42}, {model: he2020, seed: 43}]}\n"
                          "learning: {rounds: 2}\n")
    for rule in ROUND_RULES:
        assert f"rule {rule}:" in plan, rule
    assert "rule merge_scores:" not in plan  # the ranked list comes from the last round
    # each member is trained, calibrated and fine-tuned in every round
    trains = _blocks(plan, "train")
    # (and, training.soup, each member's two copies fine-tuned on the neighbours, averaged into results/models/)
    assert len(trains) == 2 and any("--seed 43 " in b and "results/models/soup/he2020_s43/trained.keras" in b
                                    for b in trains)
    assert len(_blocks(plan, "soup_finetune")) == 4 and "results/models/he2020_s43.keras" in plan
    assert len(_blocks(plan, "finetune")) == 4 and "results/rounds/2/models/he2020_s43.keras" in plan
    (calibrate,) = _blocks(plan, "calibrate")
    assert "results/eval/he2020/test_000.parquet" in calibrate and "results/eval/he2020_s43/test_000.parquet" in calibrate
    combine = _blocks(plan, "combine_scores")[0]
    assert "results/predictions/members/he2020_s43/chunks/MOCK_0.parquet" in combine
    assert "results/models/calibration.json" in combine
    # every round rescores the tiles per inference.tiles_per_job (all six in one job here) and the test set
    rescores = _blocks(plan, "rescore")
    assert len(rescores) == 4 and len(_blocks(plan, "round_infer_test")) == 4
    assert any("results/rounds/2/models/he2020_s43.keras" in b and "results/stamps/MOCK_5.fits" in b
               and "results/rounds/2/predictions/members/he2020_s43/chunks/MOCK_0.parquet" in b for b in rescores)
    round_combine = [b for b in _blocks(plan, "round_combine_scores") if "rounds/2/predictions/he2020/MOCK_4" in b]
    assert len(round_combine) == 1 and "--shard MOCK_4 " in round_combine[0]
    assert "results/rounds/2/predictions/members/he2020_s43/chunks/MOCK_0.parquet" in round_combine[0]
    # round 1 trains on round 0's grades and the search tiles only (the last two tiles are evaluation
    # only); round 2 on the grades of rounds 0 and 1
    sets = {("rounds/2/" in b): b for b in _blocks(plan, "finetune_set")}
    assert "results/inspect/grades.csv" in sets[False] and "results/inspect/known.parquet" in sets[False]
    assert "results/stamps/MOCK_3.fits" in sets[False] and "MOCK_4" not in sets[False]
    assert "results/rounds/1/inspect/grades.csv" in sets[True] and "results/inspect/grades.csv" in sets[True]
    (evaluation,) = _blocks(plan, "evaluate_rounds")
    assert "results/predictions/he2020/MOCK_5.parquet" in evaluation
    assert "results/rounds/2/predictions/he2020/MOCK_4.parquet" in evaluation
    assert "results/survey/truth/MOCK_5.parquet" in evaluation and "MOCK_0" not in evaluation
    (merge,) = _blocks(plan, "round_merge_scores")
    assert "results/rounds/2/inspect/candidates.parquet" in merge and "results/candidates/ranked.parquet" in merge

    plan = _plan(workdir, "learning: {rounds: 0}\n")
    assert "results/rounds/" not in plan
    for rule in ROUND_RULES:
        assert f"rule {rule}:" not in plan, rule
    for rule in ("calibrate", "combine_scores", "merge_scores", "figure_reliability"):
        assert f"rule {rule}:" in plan, rule


@early_test(10, prepare=copy_workflow)
def test_without_simulated_inspectors_only_graded_rounds_are_ranked(workdir):
    (workdir / "round0.csv").write_text("object_id,inspector,grade\nKiDS-1,ann,A\n")
    (workdir / "round1.csv").write_text("object_id,inspector,grade\nKiDS-2,ann,B\n")
    config = ("survey: kids_dr4\nkids: {tiles: [KIDS_5.6_-28.2]}\n"
              "inspection: {grades: round0.csv}\nlearning: {rounds: 3}\n")
    plan = _plan(workdir, config)
    # round 1 is trained on round 0's grades and gives a new inspection set to grade; no truth, no evaluation
    assert "results/rounds/1/inspect/manifest.csv" in plan and "results/rounds/2/" not in plan
    assert "rule merge_scores:" in plan and "rule round_merge_scores:" not in plan
    assert "rule evaluate_rounds:" not in plan and "rule round_mock_grades:" not in plan
    plan = _plan(workdir, config.replace("rounds: 3}", "rounds: 3, grades: [round1.csv]}"))
    (merge,) = _blocks(plan, "round_merge_scores")
    assert "round1.csv" in merge and "results/rounds/1/inspect/candidates.parquet" in merge
    assert "results/rounds/2/inspect/manifest.csv" in plan


@early_test(5, prepare=copy_workflow)
def test_evaluation_tiles_must_leave_tiles_to_search(workdir):
    (workdir / "config" / "bad.yaml").write_text("mock: {n_tiles: 2}\nlearning: {eval_tiles: 2}\n")
    result = snakemake(workdir, "-n", "--configfile", "config/bad.yaml", check=False)
    assert result.returncode != 0 and "learning.eval_tiles" in result.stdout + result.stderr
