"""training.soup through the workflow: the default trains its network, fine-tunes two copies of it
(seeds 42 and 43) on stamps with bright neighbours (simulation.sets.train_neighbours) and averages the
three into results/models/he2020.keras. Dry runs check the plan and the refusals; the tiny run
(config/test.yaml, its own small set) checks the averaged network it leaves. (The averaging itself:
tests/learning/test_soup.py.)"""

from __future__ import annotations

import json
import re
import shlex

import pytest
import yaml
from helpers.early_runs import early_test, result
from helpers.tiny_run import tiny_run_in  # noqa: F401 (registers the tiny run this module takes)
from helpers.workflow_run import REPO, copy_workflow, snakemake


def _commands(plan: str, step: str) -> list[list[str]]:
    return [shlex.split(m.group(1)) for line in plan.splitlines()
            if (m := re.search(rf"(lensfinder {step} .*)", line))]


def _value(command: list[str], option: str) -> str:
    return command[command.index(option) + 1]


def _shards(command: list[str]) -> list[str]:
    return command[command.index("--shards") + 1:command.index("--model")]


@early_test(4)
def test_default_plan_averages_the_network_with_copies_fine_tuned_on_neighbours(tmp_path, repo_root=REPO):
    """The built-in default: 2 shards of `broad` with config/search.yaml's neighbours (seed 3), the
    network trained on `train` as before, 3 epochs of each of its two copies on the neighbours (the
    network's seed, then the next), the three averaged in equal shares into the file every later step
    (and the held-back check) reads."""
    workdir = copy_workflow(tmp_path)
    default = yaml.safe_load((repo_root / "config" / "config.yaml").read_text())
    neighbours = yaml.safe_load((repo_root / "config" / "search.yaml").read_text())["simulation"]["member_params"]
    assert default["training"]["soup"] == {"train_set": "train_neighbours", "epochs": 3, "learning_rate": 0.001,
                                           "copies": 2, "share": None}
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
    names = ["trained", "finetuned_1", "finetuned_2"]
    assert set(trainings) == {f"results/models/soup/he2020/{n}.keras" for n in names}
    trained, *copies = (trainings[f"results/models/soup/he2020/{n}.keras"] for n in names)
    assert all("/train/" in path for path in _shards(trained)) and "--init-weights" not in trained
    assert _value(trained, "--epochs") == "12" and _value(trained, "--history") == "results/models/he2020.history.csv"
    for k, finetuned in enumerate(copies):
        assert _shards(finetuned) == [f"results/sim/train_neighbours/shard_{s:03d}.fits" for s in range(2)]
        assert _value(finetuned, "--init-weights") == "results/models/soup/he2020/trained.keras"
        assert (_value(finetuned, "--epochs"), _value(finetuned, "--learning-rate")) == ("3", "0.001")
        assert int(_value(finetuned, "--seed")) == int(_value(trained, "--seed")) + k
        assert _value(finetuned, "--history") == f"results/models/soup/he2020/finetuned_{k + 1}.history.csv"
        for option in ("--preprocess", "--normalization", "--model", "--batch-size"):
            assert _value(finetuned, option) == _value(trained, option), option
        assert finetuned[finetuned.index("--bands") + 1:finetuned.index("--bands") + 4] == ["g", "r", "i"]

    [average] = _commands(plan, "average-networks")
    assert average[average.index("--models") + 1:average.index("--shares")] == [
        f"results/models/soup/he2020/{n}.keras" for n in names]
    assert average[average.index("--shares") + 1:average.index("--out")] == ["1", "1", "1"]
    assert _value(average, "--out") == "results/models/he2020.keras"

    # the exported network records both sets it learnt from
    [export] = _commands(plan, "export-network")
    provenance = json.loads(_value(export, "--provenance-json"))["simulation"]
    assert {"train", "train_neighbours"} <= set(provenance)
    assert provenance["train_neighbours"]["member_params"] == neighbours


@early_test(4)
@pytest.mark.parametrize("soup, shares", [("{copies: 1}", ["1", "1"]), ("{share: 0.4}", ["0.6", "0.2", "0.2"]),
                                          ("{copies: 3, share: 0.75}", ["0.25", "0.25", "0.25", "0.25"])])
def test_soup_share_is_split_among_the_copies(tmp_path, soup, shares):
    """training.soup.share is the copies' share together, split evenly; null gives each network the same."""
    workdir = copy_workflow(tmp_path)
    (workdir / "share.yaml").write_text(f"training: {{soup: {soup}}}\n")
    plan = snakemake(workdir, "-n", "-p", "--cores", "1", "--configfile", "share.yaml", "--",
                     "results/models/he2020.keras").stdout
    [average] = _commands(plan, "average-networks")
    assert average[average.index("--shares") + 1:average.index("--out")] == shares
    assert len(_commands(plan, "train")) == len(shares)


@early_test(4)
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


@early_test(7)
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


@early_test(4)
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
    ("training: {soup: {copies: 0}}", "training.soup.copies"),
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
    """config/test.yaml fine-tunes two copies on a small set of its own (train_b) for 1 epoch: the network
    every step scored holds the three networks' mean weights, and its sidecar names them."""
    import numpy as np

    from lensfinder.learning.modelfiles import file_hash, load_model

    models = result("tiny") / "results" / "models"
    settings = json.loads((models / "he2020.json").read_text())
    ingredients = [models / f"soup/he2020/{n}.keras" for n in ("trained", "finetuned_1", "finetuned_2")]
    assert [i["weights_hash"] for i in settings["soup"]] == [file_hash(p) for p in ingredients]
    assert [i["share"] for i in settings["soup"]] == pytest.approx([1 / 3] * 3)
    assert settings["weights_hash"] == file_hash(models / "he2020.keras")
    fine = [json.loads(p.with_suffix(".json").read_text()) for p in ingredients[1:]]
    assert [f["training"]["epochs"] for f in fine] == [1, 1]
    assert fine[1]["seed"] == fine[0]["seed"] + 1  # the copies differ by their seeds alone
    weights = [load_model(p).get_weights() for p in (*ingredients, models / "he2020.keras")]
    assert not all(np.array_equal(a, b) for a, b in zip(weights[1], weights[2], strict=True))
    for a, b, c, mean in zip(*weights, strict=True):
        np.testing.assert_allclose(mean, (np.float64(a) + b + c) / 3, rtol=1e-6, atol=1e-7)
