"""`lensfinder.learning.ensemble.check_init_weights`: the networks a run's members start from (or keep,
with training.epochs 0), refused before the run starts, each refusal naming its key. The workflow calls it
when it is parsed; tests/workflow/test_pretrained.py checks that wiring with one dry run per refusal kind."""

from __future__ import annotations

import json

import pytest

from lensfinder.learning.ensemble import check_init_weights, ensemble_members

RUN = {"bands": ["g", "r", "i"], "colour_residual": ("g", "r"), "colour_residual_match": "psf",
       "preprocess": "bin2_crop", "normalization": "sky"}


def network(path, **changes):
    """A stand-in network file (never loaded) and its sidecar with the run's settings, changed as given."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"stand-in")
    settings = {"model": "he2020", "input_shape": [49, 49, 8], "bands": ["g", "r", "i"],
                "colour_residual": ["g", "r"], "colour_residual_match": "psf", "preprocess": "bin2_crop",
                "normalization": "sky", "stamp_size": 101, **changes}
    path.with_suffix(".json").write_text(json.dumps(settings))
    return str(path)


def members(*entries):
    return {m.name: m for m in ensemble_members(list(entries), "he2020", 42)}


def refusal(*args, **expected):
    with pytest.raises(ValueError) as info:
        check_init_weights(*args, **{**RUN, **expected})
    return str(info.value)


def test_networks_with_the_runs_settings_pass(tmp_path):
    one = network(tmp_path / "a.keras")
    half = network(tmp_path / "b.keras", model="he2020_half")
    check_init_weights(members({}), None, 12, **RUN)  # from scratch
    check_init_weights(members({}), one, 0, **RUN)  # kept as it is
    check_init_weights(members({"init_weights": one}, {"model": "he2020_half", "seed": 43, "init_weights": half}),
                       None, 0, **RUN)
    # a network or sidecar that is not there: refused, naming the file (once the run's own network exists
    # the plan would not ask for it, and the run would go on with that network)
    message = refusal(members({}), str(tmp_path / "missing.keras"), 0)
    assert "config: training.init_weights: " in message and "missing.keras: file not found" in message
    sidecar = tmp_path / "a.json"
    sidecar.unlink()
    message = refusal(members({"init_weights": one}), None, 3)
    assert f"config: inference.ensemble init_weights of he2020: {sidecar}: file not found" in message


def test_epochs_zero_needs_a_network_for_every_member(tmp_path):
    one = network(tmp_path / "a.keras")
    message = refusal(members({}), None, 0)
    assert "training.epochs 0 keeps the network given as training.init_weights" in message
    assert "network he2020 has none" in message
    message = refusal(members({"init_weights": one}, {"seed": 43}), None, 0)
    assert "network he2020_s43 has none" in message
    # two members keeping one file would be two identical networks, however its path is written
    message = refusal(members({"init_weights": one}, {"seed": 43, "init_weights": str(tmp_path / "." / "a.keras")}),
                      None, 0)
    assert "networks he2020 and he2020_s43 would both keep" in message and "two identical networks" in message
    # with training they are two starts of two trainings
    check_init_weights(members({"init_weights": one}, {"seed": 43, "init_weights": one}), None, 3, **RUN)


@pytest.mark.parametrize("changes, key, what", [
    ({"bands": ["r"]}, "bands", "bands ['r'], but this run's bands is ['g', 'r', 'i']"),
    ({"colour_residual": []}, "colour_residual",
     "colour_residual 'none', but this run's training.colour_residual is 'g-r'"),
    ({"colour_residual_match": "scale"}, "colour_residual_match",
     "colour_residual_match 'scale', but this run's training.colour_residual_match is 'psf'"),
    ({"preprocess": "crop"}, "preprocess", "preprocess 'crop', but this run's training.preprocess is 'bin2_crop'"),
    ({"normalization": "max"}, "normalization", "normalization 'max', but this run's training.normalization is 'sky'"),
    ({"model": "resnet18"}, "model", "model 'resnet18', but this run's network he2020 is 'he2020'"),
])
def test_a_network_of_other_settings_is_refused_naming_the_key(tmp_path, changes, key, what):
    path = network(tmp_path / "other.keras", **changes)
    message = refusal(members({}), path, 0)
    assert message.startswith(f"config: training.init_weights: {path} holds a network with {what}"), message
    assert message.endswith("or set training.init_weights: null")
    # a member's own init_weights is named as the member's
    message = refusal(members({"init_weights": path}), None, 3)
    assert message.startswith(f"config: inference.ensemble init_weights of he2020: {path}") and what in message
    assert message.endswith("or remove the member's init_weights")


def test_an_ensemble_in_one_file_or_an_unreadable_sidecar_is_refused(tmp_path):
    path = network(tmp_path / "pair.keras", ensemble=[{"model": "he2020", "seed": 42}, {"model": "he2020", "seed": 43}])
    assert "holds an ensemble of 2 networks in one file" in refusal(members({}), path, 0)
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"stand-in")
    broken.with_suffix(".json").write_text("{not json")
    message = refusal(members({}), str(broken), 0)
    assert message.startswith(f"config: training.init_weights: {broken.with_suffix('.json')}: not readable JSON")
