"""The `domain_shift` experiment's plan (lensfinder.experiments.domain_shift_plan), in process.

The workflow builds its sets and networks from these functions; the dry runs
of tests/experiments/test_domain_shift.py check that it does, and that a
refusal stops the dry run. Here each refusal is checked directly, on the
configuration as the workflow sees it (the schema's defaults filled in).
"""

from __future__ import annotations

import copy

import pytest
import yaml
from snakemake.utils import validate

from lensfinder.experiments.domain_shift_plan import (HOST_SIDE, RENDERER, check_network_names, network_sets,
                                                      plan_sets, side_tiles)
from lensfinder.io import InputError


@pytest.fixture(scope="module")
def configured(repo_root):
    """``configured(domain_shift)``: ``experiments.domain_shift`` with the schema's defaults, as the workflow
    reads it, over the quick preset's."""
    schema = repo_root / "workflow/schemas/experiments.schema.yaml"
    quick = yaml.safe_load((repo_root / "config/experiments/quick.yaml").read_text())["experiments"]

    def make(domain_shift):
        block = copy.deepcopy(quick)
        block["domain_shift"] = {**block.get("domain_shift", {}), **domain_shift}
        validate(block, schema=str(schema))
        return block["domain_shift"], block["simulation"]["shard_size"]

    return make


def test_each_training_set_gets_a_train_and_a_test_set_from_its_own_seeds(configured):
    """Set k draws from train.seed + k and test.seed + k; a mix names its members (weight > 0), a control
    none; shards hold at most shard_size images; the independent set comes last, on its own seed."""
    ds, shard_size = configured({
        "training_sets": {"nb": {"mix": {"broad": 0.8, "li2020": 0.2, "sky": 0.0},
                                 "member_params": {"broad": {"field_galaxies": [0, 2]}}},
                          "control": {"recipe": RENDERER, "params": {"host_fraction": 0.5}}},
        "train": {"n_images": 4001, "seed": 5}, "test": {"n_images": 10, "seed": 50}})
    sets = plan_sets(ds, shard_size)
    assert list(sets) == ["nb_train", "nb_test", "control_train", "control_test", "independent"]
    assert [sets[name]["seed"] for name in ("nb_train", "nb_test", "control_train", "control_test")] == [5, 50, 6, 51]
    assert sets["nb_train"]["members"] == ["broad", "li2020"] and sets["control_train"]["members"] == []
    assert sets["nb_train"]["member_params"] == {"broad": {"field_galaxies": [0, 2]}}
    assert sets["control_test"]["params"] == {"host_fraction": 0.5} and sets["control_test"]["recipe"] == RENDERER
    assert shard_size == 2000  # the quick preset's
    assert sets["nb_train"]["n_shards"] == 3 and sets["nb_test"]["n_shards"] == 1
    assert {sets[name]["split"] for name in sets} == set(HOST_SIDE)
    independent = sets["independent"]
    assert (independent["net"], independent["recipe"], independent["seed"]) == (None, RENDERER, ds["independent"]["seed"])


@pytest.mark.parametrize("domain_shift, message", [
    ({"training_sets": {"c": {"recipe": "broad", "mix": {"broad": 1}}}}, "training_sets.c: give a recipe or a mix, not both"),
    ({"training_sets": {"c": {"mix": {RENDERER: 0.5, "broad": 0.5}}}}, "training_sets.c.mix: 'independent'"),
    ({"training_sets": {"c": {"mix": {"broad": 0, "sky": 0}}}}, "training_sets.c.mix: weights must not all be zero"),
    ({"training_sets": {"c": {"recipe": RENDERER, "member_params": {"broad": {}}}}},
     "training_sets.c.member_params: the independent renderer has no members"),
    ({"training_sets": {"c": {"mix": {"broad": 0.8, "li2020": 0.2}, "member_params": {"sky": {"field_galaxies": [0, 2]}}}}},
     "training_sets.c.member_params: sky: not simulated here"),
    ({"training_sets": {"a": {"recipe": "broad"}, "c": {"recipe": RENDERER}}, "train": {"n_images": 4000, "seed": 9},
      "test": {"n_images": 1000, "seed": 9}}, "test.seed: 9 beside train.seed 9: training set k draws from train.seed "
     "+ k and its own test from test.seed + k, so seed(s) 9, 10 would render a test set"),
    ({"training_sets": {"a": {"recipe": "broad"}, "c": {"recipe": RENDERER}}, "train": {"n_images": 4000, "seed": 9},
      "test": {"n_images": 1000, "seed": 20}, "independent": {"seed": 10}},
     "training_sets.c: its train images would be rendered from the independent set's seed (10: "
     "experiments.domain_shift.train.seed + 1"),
])
def test_a_set_the_experiment_cannot_make_is_refused_naming_its_key(configured, domain_shift, message):
    ds, shard_size = configured(domain_shift)
    with pytest.raises(InputError) as refused:
        plan_sets(ds, shard_size)
    assert "config: experiments.domain_shift." + message in str(refused.value)


def test_networks_per_set_and_names_that_would_hide_the_workflows_rows(configured):
    """training_seeds networks per set (NAME, NAME.seed2, ...); a set named as one of the workflow's rows
    (`ensemble`, `default`, an ensemble's later member) or no network at all is refused."""
    ds, _ = configured({"training_sets": {"a": {"recipe": "broad"}, "b": {"recipe": "sky"}}, "training_seeds": 2})
    assert network_sets(ds) == {"a": "a", "a.seed2": "a", "b": "b", "b.seed2": "b"}
    check_network_names(ds, ["default", "he2020_half_s43"])
    for name in ("ensemble", "default", "he2020_half_s43"):
        ds, _ = configured({"training_sets": {name: {"recipe": "broad"}}})
        with pytest.raises(InputError, match=f"experiments.domain_shift.training_sets: '{name}' names the workflow"):
            check_network_names(ds, ["default", "he2020_half_s43"])
    ds, _ = configured({"training_sets": {}, "default_model": False})
    with pytest.raises(InputError, match="training_sets is empty and default_model is false"):
        check_network_names(ds, ["default"])


def test_the_tiles_of_each_side_share_none():
    tiles = [f"T{k}" for k in range(6)]
    sides = {side: side_tiles(tiles, side, held_out=2, own_test=1) for side in ("train", "own", "independent")}
    assert sides == {"train": ["T0", "T1", "T2"], "own": ["T3"], "independent": ["T4", "T5"]}
    assert side_tiles(tiles[:3], "independent", 2, 1) == ["T1", "T2"]  # only a training side needs tiles left
    with pytest.raises(InputError, match=r"held_out_tiles \(2\) \+ own_test_tiles \(1\) leave none of the survey's 3"):
        side_tiles(tiles[:3], "train", 2, 1)
