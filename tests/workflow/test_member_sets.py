"""An ensemble member trained on a simulated set of its own (inference.ensemble[].train_set, a key of
simulation.sets with its own member_params), as config/pair.yaml trains one: dry runs plan the set's
simulation with its overrides and seed, the member's training on it alone, its provenance, the
domain_shift leak check over every member's set, and refuse a set that is missing, the test set, or
overrides a recipe cannot take, at the dry run; a tiny real run trains such a pair and ranks by it.
(The members' names and checks themselves: tests/learning/test_calibration.py.)"""

from __future__ import annotations

import json
import re
import shlex
from shutil import rmtree

import pandas as pd
import pytest
import yaml
from helpers.early_runs import early_run, early_test, result
from helpers.workflow_run import REPO, copy_workflow, snakemake

#: config/pair.yaml's second network
MEMBER = "he2020_half_s42_train_neighbours"


def _commands(plan: str, step: str) -> list[list[str]]:
    return [shlex.split(m.group(1)) for line in plan.splitlines()
            if (m := re.search(rf"(lensfinder {step} .*)", line))]


def _value(command: list[str], option: str) -> str:
    return command[command.index(option) + 1]


@early_test(3)
def test_config_pair_trains_its_second_network_on_its_own_set(tmp_path, repo_root=REPO):
    """config/pair.yaml: the default's network on `train`, he2020_half on 24,000 images with
    config/search.yaml's neighbours (the same overrides, as its comments say), seed 3."""
    workdir = copy_workflow(tmp_path)
    neighbours = yaml.safe_load((repo_root / "config" / "search.yaml").read_text())["simulation"]["member_params"]
    default = yaml.safe_load((repo_root / "config" / "config.yaml").read_text())["simulation"]["sets"]["train"]
    plan = snakemake(workdir, "-n", "-p", "--cores", "1", "--configfile", "config/pair.yaml", "--",
                     "results/models/he2020.keras", f"results/models/{MEMBER}.keras", "export_network").stdout

    simulations = {(_value(c, "--set-name"), _value(c, "--shard")): c for c in _commands(plan, "simulate")}
    shards = [f"{k:03d}" for k in range(default["n_shards"])]
    assert sorted(simulations) == [("train", k) for k in shards] + [("train_neighbours", f"{k:03d}") for k in range(4)]
    for (name, _), command in simulations.items():
        if name == "train":  # the default's set, as without the pair
            assert _value(command, "--seed") == str(default["seed"]) and "--member-set" not in command
            continue
        assert (_value(command, "--seed"), _value(command, "--n")) == ("3", "6000")
        assert _value(command, "--out") == "results/sim/train_neighbours"
        overrides = {o.split("=", 1)[0]: json.loads(o.split("=", 1)[1])
                     for o in command[1:] if o.startswith("broad:")}
        assert overrides == {f"broad:{key}": value for key, value in neighbours["broad"].items()}

    trainings = {_value(c, "--out"): c for c in _commands(plan, "train")}
    assert set(trainings) == {"results/models/he2020.keras", f"results/models/{MEMBER}.keras"}

    def shards(command):
        return command[command.index("--shards") + 1:command.index("--model")]

    assert shards(trainings[f"results/models/{MEMBER}.keras"]) == [
        f"results/sim/train_neighbours/shard_{k:03d}.fits" for k in range(4)]
    assert _value(trainings[f"results/models/{MEMBER}.keras"], "--model") == "he2020_half"
    assert all("train/" in path for path in shards(trainings["results/models/he2020.keras"]))

    # each exported network records the set it was trained on; the pair in one file both
    provenance = {_value(c, "--out").rsplit("/", 1)[1]: json.loads(_value(c, "--provenance-json"))["simulation"]
                  for c in _commands(plan, "export-network")}
    assert set(provenance[f"{MEMBER}_kids_gri.keras"]) - {"recipe", "mix", "params", "member_params"} == {
        "train_neighbours"}
    assert provenance[f"{MEMBER}_kids_gri.keras"]["train_neighbours"]["member_params"] == neighbours
    assert "train" in provenance["he2020_kids_gri.keras"] and "train_neighbours" not in provenance["he2020_kids_gri.keras"]
    assert {"train", "train_neighbours"} <= set(provenance["ensemble_kids_gri.keras"])


@early_test(3)
def test_config_pair_over_a_survey_file_trains_the_defaults_pair(tmp_path):
    """Layered after config/kids_dr4.yaml (li2020 recipe, ResNet-18, 400,000 images), config/pair.yaml
    still trains the default's network and its neighbour-trained partner, with the default's input."""
    workdir = copy_workflow(tmp_path)
    plan = snakemake(workdir, "-n", "-p", "--cores", "1", "--configfile", "config/kids_dr4.yaml", "config/pair.yaml",
                     "--", "results/models/he2020.keras", f"results/models/{MEMBER}.keras").stdout
    trainings = {_value(c, "--out"): c for c in _commands(plan, "train")}
    assert {out: _value(c, "--model") for out, c in trainings.items()} == {
        "results/models/he2020.keras": "he2020", f"results/models/{MEMBER}.keras": "he2020_half"}
    for command in trainings.values():
        assert (_value(command, "--preprocess"), _value(command, "--normalization")) == ("bin2_crop", "sky")
    recipes = {_value(c, "--set-name"): _value(c, "--recipe") for c in _commands(plan, "simulate")}
    assert recipes == {"train": "broad", "train_neighbours": "broad"}
    assert len(_commands(plan, "simulate")) == 2 + 4


@early_test(4)
def test_domain_shift_checks_the_ensemble_against_every_members_set(tmp_path):
    """The leak check of the domain_shift tables takes the training images of the row they score: the
    ensemble's are both members' sets, the default row's its first member's, the second member's row
    its own set."""
    workdir = copy_workflow(tmp_path)
    plan = snakemake(workdir, "-n", "-p", "--cores", "1", "--configfile", "config/experiments/quick.yaml",
                     "config/pair.yaml", "--", "domain_shift").stdout
    (table,) = _commands(plan, "domain-shift-table")
    files = table[table.index("--train-metadata") + 1:table.index("--train-labels")]
    after = table[table.index("--train-labels") + 1:]
    labels = after[:next(k for k, arg in enumerate(after) if arg.startswith("--"))]
    by_net: dict[str, set] = {}
    for label, path in zip(labels, files, strict=True):
        by_net.setdefault(label.removeprefix("model="), set()).add(path.split("/")[-2])
    assert by_net["default"] == {"train"}
    assert by_net[MEMBER] == {"train_neighbours"}  # the second network alone
    assert by_net["ensemble"] == {"train", "train_neighbours"}
    (combined, *_) = [c for c in _commands(plan, "combine-scores") if "/scores/ensemble/independent/" in _value(c, "--out")]
    members = combined[combined.index("--predictions") + 1:combined.index("--calibration")]
    assert [path.split("/")[-3] for path in members] == ["default", MEMBER]


@early_test(3)
def test_semi_real_member_sets_paint_on_the_training_hosts(tmp_path):
    """A semi-real recipe paints a member's set, and training.soup's, on the training side of the host split,
    as `train`'s; the test set keeps the held-out side. (The default's soup set, broad's neighbours, is not
    simulated, so not checked, when the soup fine-tunes on another.)"""
    workdir = copy_workflow(tmp_path)
    (workdir / "config" / "semi.yaml").write_text(
        "simulation: {recipe: li2020, sets: {train_b: {n_images: 400, n_shards: 1, seed: 7},"
        " train_c: {n_images: 400, n_shards: 1, seed: 8}}}\n"
        "training: {soup: {train_set: train_c}}\n"
        "inference: {ensemble: [{seed: 42}, {seed: 43, train_set: train_b}]}\n")
    plan = snakemake(workdir, "-n", "-p", "--cores", "1", "--configfile", "config/semi.yaml", "--",
                     "results/models/he2020_s43_train_b.keras", "results/sim/test/shard_000.fits").stdout
    splits = {_value(c, "--set-name"): [v for v in c if v.startswith("host_split=")] for c in _commands(plan, "simulate")}
    assert splits["train_b"] == splits["train_c"] == ['host_split="train"']
    assert "train_neighbours" not in splits
    assert splits["test"] == ['host_split="test"']


@early_test(4)
@pytest.mark.parametrize(("sets", "ensemble", "error"), [
    ("", "{seed: 43, train_set: nope}",
     "config: inference.ensemble: he2020_s43_nope trains on set 'nope', which simulation.sets lacks (it has train, test, "
     "train_neighbours)"),
    ("", "{seed: 43, train_set: test}",
     "config: inference.ensemble[1].train_set: 'test', expected the name of a simulation.sets entry other than test"),
    ("train_b: {n_images: 400, n_shards: 1, seed: 7, member_params: {broad: {field_galaxy: [0, 2]}}}",
     "{seed: 43, train_set: train_b}",
     "config: simulation.params and sets.train_b.member_params.broad (recipe broad, set train_b): field_galaxy: "
     "unknown parameter"),
    ("train_b: {n_images: 400, n_shards: 1, seed: 7, member_params: {sky: {lens_fraction: 1}}}",
     "{seed: 43, train_set: train_b}",
     "config: simulation.member_params and simulation.sets.train_b.member_params: sky: not simulated here"),
])
def test_a_members_set_is_checked_at_the_dry_run(tmp_path, sets, ensemble, error):
    workdir = copy_workflow(tmp_path)
    (workdir / "config" / "bad.yaml").write_text(
        f"simulation: {{sets: {{{sets}}}}}\ninference: {{ensemble: [{{seed: 42}}, {ensemble}]}}\n")
    result = snakemake(workdir, "-n", "--cores", "1", "--configfile", "config/bad.yaml", check=False)
    assert result.returncode != 0
    assert error in result.stdout + result.stderr, (result.stdout + result.stderr)[-1500:]


TINY_PAIR = """
seed: 3
mock: {n_tiles: 1, params: {size_pix: 750}}
simulation:
  recipe: broad
  sets:
    train: {n_images: 96, n_shards: 1, seed: 11}
    test: {n_images: 32, n_shards: 1, seed: 12}
    train_b: {n_images: 64, n_shards: 1, seed: 13, member_params: {broad: {field_galaxies: [2, 2]}}}
training: {model: he2020_half, epochs: 1, batch_size: 32, soup: {train_set: null}}
inference: {ensemble: [{seed: 3}, {seed: 4, train_set: train_b}]}
learning: {rounds: 0, eval_tiles: 1}
"""
TINY_MEMBER = "he2020_half_s4_train_b"


@early_run("member_sets", 190)
def _tiny_pair_run(workdir):
    copy_workflow(workdir)
    (workdir / "tiny.yaml").write_text(TINY_PAIR)
    snakemake(workdir, "results/predictions/he2020_half/MOCK_0.parquet", f"results/models/{TINY_MEMBER}.json",
              "--cores", "1", "--configfile", "config/config.yaml", "tiny.yaml")
    rmtree(workdir / "results" / "models" / f"{TINY_MEMBER}_checkpoints", ignore_errors=True)
    return workdir


@pytest.mark.slow
@pytest.mark.early_run("member_sets")
def test_tiny_run_trains_a_member_on_its_own_set():
    """A real run: the second network trains on its own set alone, whose images carry the set's two
    bright neighbours each on top of what `train`'s images have, and the search ranks by both."""
    results = result("member_sets") / "results"
    settings = json.loads((results / "models" / f"{TINY_MEMBER}.json").read_text())
    assert settings["shards"] == ["results/sim/train_b/shard_000.fits"] and settings["seed"] == 4
    first = json.loads((results / "models" / "he2020_half.json").read_text())
    assert first["shards"] == ["results/sim/train/shard_000.fits"] and first["data_hash"] != settings["data_hash"]

    def extras(simset):
        return pd.read_parquet(results / "sim" / simset / "shard_000.parquet")["extra_amp"].map(len)

    own, default = extras("train_b"), extras("train")
    assert len(own) == 64 and (own >= 2).all()
    assert own.mean() >= default.mean() + 1.5
    scores = pd.read_parquet(results / "predictions" / "he2020_half" / "MOCK_0.parquet")
    assert len(scores) and (scores["n_members"] == 2).all()
    assert scores["model"].iloc[0] == f"he2020_half+{TINY_MEMBER}"
