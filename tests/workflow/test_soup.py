"""training.soup through the workflow: the default trains its network, fine-tunes a copy on
stamps with bright neighbours (simulation.sets.train_neighbours) and averages the two into
results/models/he2020.keras. Dry runs check the plan and the refusals; the tiny run (config/test.yaml,
its own small set) checks the averaged network it leaves. (The averaging itself:
tests/learning/test_soup.py.)"""

from __future__ import annotations

import json
import re
import shlex

import pytest
import yaml
from helpers.early_runs import result
from helpers.workflow_run import copy_workflow, snakemake


def _commands(plan: str, step: str) -> list[list[str]]:
    return [shlex.split(m.group(1)) for line in plan.splitlines()
            if (m := re.search(rf"(lensfinder {step} .*)", line))]


def _value(command: list[str], option: str) -> str:
    return command[command.index(option) + 1]


def _shards(command: list[str]) -> list[str]:
    return command[command.index("--shards") + 1:command.index("--model")]


def test_default_plan_averages_the_network_with_a_copy_fine_tuned_on_neighbours(tmp_path, repo_root):
    """The built-in default: 2 shards of `broad` with config/search.yaml's neighbours (seed 3), the
    network trained on `train` as before, 3 epochs of its copy on the neighbours, the two averaged
    half and half into the file every later step (and the held-back check) reads."""
    workdir = copy_workflow(tmp_path)
    default = yaml.safe_load((repo_root / "config" / "config.yaml").read_text())
    neighbours = yaml.safe_load((repo_root / "config" / "search.yaml").read_text())["simulation"]["member_params"]
    assert default["training"]["soup"] == {"train_set": "train_neighbours", "epochs": 3, "learning_rate": 0.001,
                                           "share": 0.5}
    plan = snakemake(workdir, "-n", "-p", "--cores", "1", "--", "results/models/he2020.keras",
                     "export_network").stdout

    simulations = {(_value(c, "--set-name"), _value(c, "--shard")): c for c in _commands(plan, "simulate")}
    assert sorted(simulations) == [("train", "000"), ("train", "001"),
                                   ("train_neighbours", "000"), ("train_neighbours", "001")]
    for shard in ("000", "001"):
        command = simulations[("train_neighbours", shard)]
        assert (_value(command, "--seed"), _value(command, "--n")) == ("3", "6000")
        overrides = {o.split("=", 1)[0]: json.loads(o.split("=", 1)[1]) for o in command if o.startswith("broad:")}
        assert overrides == {f"broad:{key}": value for key, value in neighbours["broad"].items()}
        assert "--member-set" not in simulations[("train", shard)]

    trainings = {_value(c, "--out"): c for c in _commands(plan, "train")}
    assert set(trainings) == {"results/models/soup/he2020/trained.keras", "results/models/soup/he2020/finetuned.keras"}
    trained, finetuned = (trainings[f"results/models/soup/he2020/{n}.keras"] for n in ("trained", "finetuned"))
    assert all("/train/" in path for path in _shards(trained)) and "--init-weights" not in trained
    assert _value(trained, "--epochs") == "12" and _value(trained, "--history") == "results/models/he2020.history.csv"
    assert _shards(finetuned) == [f"results/sim/train_neighbours/shard_{k:03d}.fits" for k in range(2)]
    assert _value(finetuned, "--init-weights") == "results/models/soup/he2020/trained.keras"
    assert (_value(finetuned, "--epochs"), _value(finetuned, "--learning-rate")) == ("3", "0.001")
    for option in ("--seed", "--preprocess", "--normalization", "--model", "--batch-size"):
        assert _value(finetuned, option) == _value(trained, option), option
    assert finetuned[finetuned.index("--bands") + 1:finetuned.index("--bands") + 4] == ["g", "r", "i"]

    [average] = _commands(plan, "average-networks")
    assert average[average.index("--models") + 1:average.index("--shares")] == [
        "results/models/soup/he2020/trained.keras", "results/models/soup/he2020/finetuned.keras"]
    assert average[average.index("--shares") + 1:average.index("--out")] == ["0.5", "0.5"]
    assert _value(average, "--out") == "results/models/he2020.keras"

    # the exported network records both sets it learnt from
    [export] = _commands(plan, "export-network")
    provenance = json.loads(_value(export, "--provenance-json"))["simulation"]
    assert {"train", "train_neighbours"} <= set(provenance)
    assert provenance["train_neighbours"]["member_params"] == neighbours


def test_soup_off_trains_the_network_alone(tmp_path):
    """training.soup.train_set: null (the presets that bring their own neighbours, or keep a network):
    the network is written where it always was, and the neighbour set is not simulated."""
    workdir = copy_workflow(tmp_path)
    (workdir / "off.yaml").write_text("training: {soup: {train_set: null}}\n")
    plan = snakemake(workdir, "-n", "-p", "--cores", "1", "--configfile", "off.yaml", "--",
                     "results/models/he2020.keras").stdout
    assert [_value(c, "--out") for c in _commands(plan, "train")] == ["results/models/he2020.keras"]
    assert not _commands(plan, "average-networks") and "train_neighbours" not in plan
    for preset in ("search.yaml", "pair.yaml", "pretrained.yaml", "kids_dr4.yaml"):  # their documented networks
        text = (workdir / "config" / preset).read_text()
        assert yaml.safe_load(text)["training"]["soup"] == {"train_set": None}, preset


def test_another_recipe_trains_without_averaging_and_says_so(tmp_path):
    """The default's soup set holds broad's neighbours: a run of a paper recipe alone (he2020 here) trains as
    the paper did, with no averaging, and the dry run says why and how to average anyway."""
    workdir = copy_workflow(tmp_path)
    (workdir / "he.yaml").write_text("simulation: {recipe: he2020}\nstamps: {size: 97}\ntraining: {preprocess: crop}\n")
    run = snakemake(workdir, "-n", "-p", "--cores", "1", "--configfile", "he.yaml", "--", "results/models/he2020.keras")
    assert [_value(c, "--out") for c in _commands(run.stdout, "train")] == ["results/models/he2020.keras"]
    assert not _commands(run.stdout, "average-networks")
    assert {_value(c, "--set-name") for c in _commands(run.stdout, "simulate")} == {"train"}
    assert ("training.soup: off in this run: its set 'train_neighbours' holds overrides of broad, which this run "
            "does not simulate (recipes: he2020)") in run.stdout + run.stderr
    # a soup set of the run's own recipe averages again
    (workdir / "he_soup.yaml").write_text("simulation: {sets: {train_he: {n_images: 400, n_shards: 1, seed: 9}}}\n"
                                          "training: {soup: {train_set: train_he}}\n")
    plan = snakemake(workdir, "-n", "-p", "--cores", "1", "--configfile", "he.yaml", "he_soup.yaml", "--",
                     "results/models/he2020.keras").stdout
    assert "soup: off" not in plan
    [average] = _commands(plan, "average-networks")
    assert _value(average, "--out") == "results/models/he2020.keras"


@pytest.mark.parametrize("override, named", [
    ("training: {soup: {train_set: nowhere}}",
     "config: training.soup.train_set: 'nowhere' is not a set networks can learn from (simulation.sets has train, "
     "train_neighbours besides test)"),
    ("training: {soup: {train_set: test}}", "config: training.soup.train_set: 'test' is not a set"),
    ("inference: {ensemble: [{seed: 42}, {model: he2020_half, seed: 42, train_set: train_neighbours}]}",
     "config: training.soup.train_set: network he2020_half_s42_train_neighbours trains on set 'train_neighbours' "
     "already"),
    ("training: {epochs: 0, init_weights: x.keras}",
     "config: training.soup.train_set: training.epochs 0 keeps the network given as it is"),
    ("training: {soup: {share: 1}}", "training.soup.share"),
])
def test_bad_soup_stops_the_dry_run_naming_the_key(tmp_path, override, named):
    workdir = copy_workflow(tmp_path)
    (workdir / "bad.yaml").write_text(override + "\n")
    run = snakemake(workdir, "-n", "--configfile", "bad.yaml", check=False)
    assert run.returncode != 0
    assert named in run.stdout + run.stderr


@pytest.mark.slow
@pytest.mark.early_run("tiny")
def test_tiny_run_network_is_the_average_of_the_trained_and_fine_tuned_networks():
    """config/test.yaml fine-tunes on a small set of its own (train_b) for 1 epoch: the network every
    step scored holds the two networks' mean weights, and its sidecar names them."""
    import numpy as np

    from lensfinder.learning.modelfiles import file_hash, load_model

    models = result("tiny") / "results" / "models"
    settings = json.loads((models / "he2020.json").read_text())
    trained, finetuned = models / "soup/he2020/trained.keras", models / "soup/he2020/finetuned.keras"
    assert [(i["weights_hash"], i["share"]) for i in settings["soup"]] == [
        (file_hash(trained), 0.5), (file_hash(finetuned), 0.5)]
    assert settings["weights_hash"] == file_hash(models / "he2020.keras")
    fine = json.loads(finetuned.with_suffix(".json").read_text())
    assert fine["training"]["epochs"] == 1
    weights = [load_model(p).get_weights() for p in (trained, finetuned, models / "he2020.keras")]
    for a, b, mean in zip(*weights, strict=True):
        np.testing.assert_allclose(mean, (np.float64(a) + b) / 2, rtol=1e-6, atol=1e-7)
