"""The shipped network (src/lensfinder/data/networks) and config/pretrained.yaml, which searches with it
instead of training: it still finds lenses in freshly simulated stamps, it fits the default run's
input, and the run plans to keep it as it is."""

from __future__ import annotations

import json
import re
import shutil
from importlib.resources import files

import numpy as np
import pandas as pd
import pytest
import yaml
from helpers.workflow_run import copy_workflow, snakemake

from lensfinder.cli import main
from lensfinder.learning.metrics import auroc
from lensfinder.learning.models import file_hash, load_model

SHIPPED = files("lensfinder") / "data" / "networks" / "he2020_kids_gri.keras"


@pytest.fixture(scope="module")
def pretrained(repo_root):
    return yaml.safe_load((repo_root / "config" / "pretrained.yaml").read_text())


def test_the_shipped_network_finds_fresh_lenses_as_it_is(tmp_path, pretrained, repo_root):
    """400 fresh stamps of the default recipe (a seed no training set uses): a run with epochs 0 keeps
    the shipped weights bit for bit and records them; scored as they are it separates lenses from
    non-lenses (its 2,000-image own test: AUROC 0.989; an untrained network scores about 0.5)."""
    assert SHIPPED.is_file() and str(SHIPPED).endswith(pretrained["training"]["init_weights"])
    sims = tmp_path / "sims"
    assert main(["simulate", "--recipe", "broad", "--n", "400", "--seed", "907", "--shard", "000",
                 "--set-name", "test", "--out", str(sims), "--set", "preset=kids", "--set", "bands=[g,r,i]",
                 "--set", "stamp_size=101", "--set", "pixel_scale_arcsec=0.2"]) == 0
    model = tmp_path / "models" / "he2020.keras"
    assert main(["train", "--shards", str(sims), "--out", str(model), "--epochs", "0", "--init-weights",
                 str(SHIPPED), "--bands", "g", "r", "i", "--threads", "2"]) == 0
    settings = json.loads(model.with_suffix(".json").read_text())
    assert settings["init"]["weights_hash"] == file_hash(SHIPPED) and settings["training"]["epochs"] == 0
    for ours, shipped in zip(load_model(model).get_weights(), load_model(SHIPPED).get_weights(), strict=True):
        np.testing.assert_array_equal(ours, shipped)
    out = tmp_path / "pred.parquet"
    assert main(["infer", "--stamps", str(sims / "shard_000.fits"), "--index", str(sims / "shard_000.parquet"),
                 "--model", str(model), "--tta", "none", "--threads", "2", "--out", str(out)]) == 0
    scores = pd.read_parquet(out)[["object_id", "p_cnn"]]
    scored = scores.merge(pd.read_parquet(sims / "shard_000.parquet")[["object_id", "is_lens"]], on="object_id")
    assert len(scored) == 400 and 150 < scored["is_lens"].sum() < 250
    assert auroc(scored["is_lens"].astype(bool).to_numpy(), scored["p_cnn"].to_numpy()) >= 0.95


def test_the_shipped_network_fits_the_default_input(repo_root):
    """Its sidecar: the default run's network, bands (the mock survey's g, r, i), input, preprocess and
    normalisation, and the weights it was written for; its provenance names how to train it again."""
    settings = json.loads((SHIPPED.parent / "he2020_kids_gri.json").read_text())
    default = yaml.safe_load((repo_root / "config" / "config.yaml").read_text())["training"]
    for key in ("model", "preprocess", "normalization"):
        assert settings[key] == default[key], key
    assert settings["bands"] == ["g", "r", "i"] and settings["input_shape"] == [49, 49, 6]
    assert settings["weights_hash"] == file_hash(SHIPPED)
    assert "config/search_large.yaml" in settings["provenance"]["recipe"]
    assert settings["training"]["n_train"] + settings["training"]["n_val"] == 96000


def test_pretrained_config_plans_no_training_and_the_default_plans_one(tmp_path, pretrained):
    """A dry run with config/pretrained.yaml: one `train` job, 0 epochs from the shipped file (an input,
    so replacing it reruns the job), over the smaller training set; the default's has no init weights.
    Other bands than the network's, or epochs 0 without a network, stop the dry run naming the key;
    without the file the plan stops, naming it."""
    workdir = copy_workflow(tmp_path)
    networks = workdir / "src" / "lensfinder" / "data" / "networks"
    networks.mkdir(parents=True)
    for name in ("he2020_kids_gri.keras", "he2020_kids_gri.json"):
        shutil.copy2(SHIPPED.parent / name, networks / name)

    def trainings(*args, target="results/models/he2020.keras"):
        plan = snakemake(workdir, "-n", "-p", "--cores", "1", *args, "--", target).stdout
        return [line.strip().removeprefix("Shell command: ") for line in plan.splitlines()
                if "lensfinder train " in line]

    (train,) = trainings("--configfile", "config/pretrained.yaml")
    assert f"--init-weights {pretrained['training']['init_weights']} " in train and "--epochs 0 " in train
    n_train = pretrained["simulation"]["sets"]["train"]["n_shards"]
    assert len(re.search(r"--shards (.*?) --", train).group(1).split()) == n_train
    (default,) = trainings()
    assert "--init-weights" not in default and "--epochs 12 " in default
    (dr4,) = trainings("--configfile", "config/kids_dr4.yaml", "config/pretrained.yaml")  # over ResNet-18's file
    for key in ("model", "preprocess", "normalization", "epochs"):
        assert f"--{key} {pretrained['training'][key]} " in dr4, key
    assert f"--init-weights {pretrained['training']['init_weights']} " in dr4
    # domain_shift scores the kept network beside networks of its own, trained from scratch for the default epochs
    experiment = trainings("--configfile", "config/pretrained.yaml", target="domain_shift")
    kept = [command for command in experiment if "--init-weights" in command]
    assert len(kept) == 1 and "--epochs 0 " in kept[0] and len(experiment) > 1
    assert all("--epochs 12 " in command for command in experiment if command not in kept)

    for layered, message in (({"bands": ["r"]}, "holds a network with bands ['g', 'r', 'i'], but this run's bands "
                                                "is ['r']"),
                             ({"training": {"init_weights": None}}, "training.epochs 0 keeps the network given as "
                                                                    "training.init_weights, but init_weights is null")):
        (workdir / "config" / "other.yaml").write_text(yaml.safe_dump(layered))
        result = snakemake(workdir, "-n", "--cores", "1", "--configfile", "config/pretrained.yaml",
                           "config/other.yaml", check=False)
        assert result.returncode != 0 and message in result.stdout + result.stderr, message

    (networks / "he2020_kids_gri.json").unlink()
    result = snakemake(workdir, "-n", "--cores", "1", "--configfile", "config/pretrained.yaml", check=False)
    assert result.returncode != 0 and "he2020_kids_gri.json" in result.stdout + result.stderr
