"""config/search.yaml, the training set that generalised best in the domain_shift experiment: the jobs a
user's run plans with it, alone (the mock survey) and layered over a real survey's configuration."""

from __future__ import annotations

import os
import re
import subprocess

import numpy as np
import pandas as pd
import pytest
import yaml
from helpers.workflow_run import BIN, copy_workflow, snakemake


@pytest.fixture(scope="module")
def preset(repo_root):
    return yaml.safe_load((repo_root / "config" / "search.yaml").read_text())


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return copy_workflow(tmp_path_factory.mktemp("search"))


def _planned(workdir, *args) -> tuple[dict, list[str]]:
    """``--n``, ``--set key=value`` and ``--member-set recipe:key=value`` options (as ``recipe:key``) and
    the command of every planned training-set simulation (by shard), and the training commands, from a
    dry run."""
    plan = snakemake(workdir, "-n", "-p", "--cores", "1", *args).stdout
    shards, trainings = {}, []
    for line in plan.splitlines():
        line = line.strip().removeprefix("Shell command: ")
        if line.startswith("lensfinder simulate ") and "--set-name train " in line:
            sets = dict(re.findall(r"--set '?(\w+)=(.*?)'?(?= --| >)", line))
            sets.update(re.findall(r"--member-set '?(\w+:\w+)=(.*?)'?(?= --| >)", line))
            n = int(re.search(r"--n (\d+)", line).group(1))
            shards[re.search(r"--shard (\d+)", line).group(1)] = (n, sets, line)
        elif line.startswith("lensfinder train "):
            trainings.append(line)
    return shards, trainings


def _lens_extras(workdir, command: str, out) -> list[np.ndarray]:
    """Run a planned simulation command for 40 images into ``out``; the distances (arcsec) from the
    centre of each lens's extra galaxies."""
    command = re.sub(r"--n \d+", "--n 40", command.split(" > ")[0])
    command = re.sub(r"--out \S+", f"--out {out}", command)
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    subprocess.run(command, shell=True, cwd=workdir, env=env, check=True, capture_output=True, timeout=300)
    meta = pd.read_parquet(next(out.glob("shard_*.parquet")))
    lenses = meta[meta["is_lens"].astype(bool)]
    return [np.hypot(np.asarray(x, float), np.asarray(y, float))
            for x, y in zip(lenses["extra_center_x"], lenses["extra_center_y"])]


def _check(preset, shards, trainings):
    train_set = preset["simulation"]["sets"]["train"]
    assert len(shards) == train_set["n_shards"]
    assert sum(n for n, _, _ in shards.values()) == train_set["n_images"]
    recipe = preset["simulation"]["recipe"]
    for _, sets, command in shards.values():
        assert f"--recipe {recipe} " in command
        for key, value in preset["simulation"]["member_params"][recipe].items():
            assert yaml.safe_load(sets[f"{recipe}:{key}"]) == value, key
    (train,) = trainings
    assert len(re.search(r"--shards (.*?) --", train).group(1).split()) == train_set["n_shards"]
    for key in ("model", "preprocess", "normalization", "epochs"):
        assert f"--{key} {preset['training'][key]} " in train, key


def test_search_preset_on_the_mock_survey(workdir, preset, tmp_path):
    """Over the default: every training shard renders neighbours around the lenses (which the default's
    lenses never have), outside field_min_distance_arcsec, and the network trains on all the shards."""
    shards, trainings = _planned(workdir, "--configfile", "config/search.yaml")
    _check(preset, shards, trainings)
    default_shards, _ = _planned(workdir)
    assert all(not any("field_galaxies" in key for key in sets) for _, sets, _ in default_shards.values())

    ours = _lens_extras(workdir, shards["000"][2], tmp_path / "search")
    theirs = _lens_extras(workdir, default_shards["000"][2], tmp_path / "default")
    assert sum(len(d) for d in theirs) == 0
    neighbours = preset["simulation"]["member_params"]["broad"]
    low, high = neighbours["field_galaxies"]
    assert all(low <= len(d) <= high for d in ours) and sum(len(d) for d in ours) > len(ours) / 2
    assert min(d.min() for d in ours if len(d)) >= neighbours["field_min_distance_arcsec"]


def test_a_mix_layered_over_the_search_preset_keeps_the_neighbours_on_broad(workdir, preset):
    """The mix config/search.yaml's comment gives (Li et al.'s painted lenses beside the preset's): the
    dry run passes, every training shard mixes the two with the neighbours set for broad alone, at the
    size the comment names. (With the neighbours in simulation.params, li2020 would refuse them.)"""
    match = re.search(r"^#\s+(simulation: \{mix: .*)$", (workdir / "config" / "search.yaml").read_text(), re.M)
    layered = yaml.safe_load(match.group(1))
    (workdir / "config" / "with_li2020.yaml").write_text(yaml.safe_dump(layered))
    shards, trainings = _planned(workdir, "--configfile", "config/search.yaml", "config/with_li2020.yaml")
    train = layered["simulation"]["sets"]["train"]
    assert len(shards) == train["n_shards"] and sum(n for n, _, _ in shards.values()) == train["n_images"]
    mix = " ".join(f"{name}={weight}" for name, weight in layered["simulation"]["mix"].items())
    for _, sets, command in shards.values():
        assert f"--mix {mix} " in command and "--recipe" not in command
        assert {key for key in sets if "field" in key} == {f"broad:{key}" for key in
                                                           preset["simulation"]["member_params"]["broad"]}
    (trained,) = trainings
    assert len(re.search(r"--shards (.*?) --", trained).group(1).split()) == train["n_shards"]


def test_search_preset_layered_over_kids_dr4(workdir, preset):
    """Over kids_dr4.yaml (Li et al.'s ResNet-18 on painted survey stamps) the preset's fully simulated
    recipe and network replace them, while the run stays a KiDS DR4 search (it starts by listing the tiles)."""
    shards, trainings = _planned(workdir, "--configfile", "config/kids_dr4.yaml", "config/search.yaml", "--",
                                 "results/models/he2020.keras")
    _check(preset, shards, trainings)
    plan = snakemake(workdir, "-n", "-p", "--cores", "1", "--configfile", "config/kids_dr4.yaml",
                     "config/search.yaml").stdout
    assert re.search(r"^list_tiles\s+1$", plan, re.M), plan[-2000:]


def test_search_large_layered_over_the_preset_trains_on_96000_images_with_its_neighbours(workdir, preset, repo_root):
    """config/search_large.yaml after config/search.yaml: the preset's recipe, neighbours, network and
    epochs, at the larger set's size and shards (and the default's simulation seed), in one training."""
    large = yaml.safe_load((repo_root / "config" / "search_large.yaml").read_text())
    shards, trainings = _planned(workdir, "--configfile", "config/search.yaml", "config/search_large.yaml")
    merged = {**preset, "simulation": {**preset["simulation"], "sets": {
        "train": {**preset["simulation"]["sets"]["train"], **large["simulation"]["sets"]["train"]}}}}
    assert merged["simulation"]["sets"]["train"]["n_images"] > preset["simulation"]["sets"]["train"]["n_images"]
    _check(merged, shards, trainings)
    assert {re.search(r"--seed (\d+)", command).group(1) for _, _, command in shards.values()} == {"1"}
