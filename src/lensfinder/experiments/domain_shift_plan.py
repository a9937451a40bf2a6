"""The ``domain_shift`` experiment's plan: which image sets, networks and host tiles a configuration asks for.

Pure functions of ``experiments.domain_shift`` (the configuration after the
schema's defaults, workflow/schemas/experiments.schema.yaml); the workflow
(workflow/rules/domain_shift_common.smk) turns their answers into rules. A
configuration they cannot plan is refused with an :class:`~lensfinder.io.InputError`
naming the key, before any job runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from lensfinder.experiments.subsets import subset_pieces
from lensfinder.io import InputError
from lensfinder.simulation.mix import checked_member_params

__all__ = ["RENDERER", "SEMI_REAL", "HOST_SIDE", "KEY", "network_sets", "check_network_names", "side_tiles",
           "set_members", "plan_sets"]

#: the independent renderer's ``recipe``: the independent set's, and a training set's that asks for its
#: own images (a control): the control's training images take their survey hosts from the semi-real
#: training tiles, its own test from the own-test tiles, each from its own seed, so the independent set
#: shares no host, image or stream with it (docs/experiments.md)
RENDERER = "independent"
#: recipes whose images are painted on survey hosts
SEMI_REAL = ("li2020", "he2020_semireal")
#: the tiles (:func:`side_tiles` side) that host each kind of set's survey stamps
HOST_SIDE = {"train": "train", "test": "own", "independent": "independent"}
#: the configuration's key, as errors name it
KEY = "config: experiments.domain_shift"


def network_sets(ds: Mapping) -> dict:
    """Network -> the training set it learns from: ``training_seeds`` networks per set, named NAME, NAME.seed2, ..."""
    return {name if k == 1 else f"{name}.seed{k}": name
            for name in ds["training_sets"] for k in range(1, int(ds["training_seeds"]) + 1)}


def check_network_names(ds: Mapping, workflow_rows: Sequence[str]) -> None:
    """Refuse a plan with no network to score, or a training set named as one of the workflow's own rows
    (``default``, ``ensemble``, an ensemble's later members): its row would hide theirs in the tables."""
    nets = network_sets(ds)
    if not nets and not ds["default_model"]:
        raise InputError(f"{KEY}: training_sets is empty and default_model is false: no network to score; "
                         "name a training set or set default_model: true")
    for name in ("ensemble", *workflow_rows):
        if name in nets:
            raise InputError(f"{KEY}.training_sets: {name!r} names the workflow's own network(s) in the tables; "
                             "call the training set otherwise")


def side_tiles(tiles: Sequence[str], side: str, held_out: int, own_test: int) -> list:
    """The tiles of one side: the last ``held_out`` host the independent set, the ``own_test`` before them the
    semi-real own test sets, the rest the semi-real training sets (no host is shared)."""
    tiles = list(tiles)
    if side == "train" and len(tiles) <= held_out + own_test:
        raise InputError(f"{KEY}: held_out_tiles ({held_out}) + own_test_tiles ({own_test}) leave none of the "
                         f"survey's {len(tiles)} tiles for semi-real training sets; lower them or add tiles "
                         "(mock.n_tiles)")
    n = len(tiles)
    return {"independent": tiles[n - held_out:], "own": tiles[n - held_out - own_test:n - held_out],
            "train": tiles[:n - held_out - own_test]}[side]


def set_members(spec: Mapping) -> list:
    """Recipes of a training set: its mix's members (weight > 0), or its one recipe."""
    return [name for name, weight in spec.get("mix", {}).items() if weight > 0] or [spec["recipe"]]


def _check_training_set(ds: Mapping, name: str, spec: Mapping) -> bool:
    """Refuse a training set the experiment cannot make; whether it is a control (the renderer's images)."""
    key = f"{KEY}.training_sets.{name}"
    if bool(spec.get("recipe")) == bool(spec.get("mix")):
        raise InputError(f"{key}: give a recipe or a mix, not {'both' if spec.get('recipe') else 'neither'}")
    if spec.get("mix") and not any(weight > 0 for weight in spec["mix"].values()):
        raise InputError(f"{key}.mix: weights must not all be zero, got {dict(spec['mix'])}")
    control = spec.get("recipe") == RENDERER
    if RENDERER in spec.get("mix", {}):
        raise InputError(f"{key}.mix: {RENDERER!r} (the independent renderer) is a set's one recipe "
                         f"(recipe: {RENDERER}), not a member of a mix")
    if control and spec.get("member_params"):
        raise InputError(f"{key}.member_params: the independent renderer has no members; its overrides "
                         "(IndependentSpec keys) go in params")
    if not control:
        checked_member_params(spec.get("member_params", {}), spec.get("mix") or {spec["recipe"]: 1},
                              f"{key}.member_params")
    return control


def plan_sets(ds: Mapping, shard_size: int) -> dict:
    """Every image set of the experiment: ``{NAME}_train`` and ``{NAME}_test`` per training set, then
    ``independent``; each a dict of ``net`` (the training set, None for the independent set), ``split``,
    ``recipe``, ``mix``, ``members`` (the simulated recipes; none for the renderer's sets),
    ``member_params``, ``params``, ``n_images``, ``seed`` and ``n_shards`` (``shard_size`` images at most
    for the simulated ones). Set ``k`` (in the configuration's order) draws from ``train.seed + k`` and
    ``test.seed + k``; a control may not draw from the independent set's seed."""
    sets = {}
    n_sets = len(ds["training_sets"])
    shared = sorted({ds["train"]["seed"] + k for k in range(n_sets)} & {ds["test"]["seed"] + k for k in range(n_sets)})
    if shared:
        raise InputError(f"{KEY}.test.seed: {ds['test']['seed']} beside train.seed {ds['train']['seed']}: training set "
                         f"k draws from train.seed + k and its own test from test.seed + k, so seed(s) "
                         f"{', '.join(map(str, shared))} would render a test set from a training set's streams (the "
                         f"same images, for the papers' recipes); give test.seed at least {n_sets} away from train.seed")
    for k, (name, spec) in enumerate(ds["training_sets"].items()):
        control = _check_training_set(ds, name, spec)
        for split in ("train", "test"):
            size = ds[split]
            seed = size["seed"] + k
            if control and seed == ds["independent"]["seed"]:
                raise InputError(f"{KEY}.training_sets.{name}: its {split} images would be rendered from the "
                                 f"independent set's seed ({seed}: experiments.domain_shift.{split}.seed + {k}, its "
                                 "place among the training sets); give experiments.domain_shift.independent.seed "
                                 "another value")
            sets[f"{name}_{split}"] = {"net": name, "split": split, "recipe": spec.get("recipe"),
                                       "mix": spec.get("mix", {}), "members": [] if control else set_members(spec),
                                       "member_params": spec.get("member_params", {}),
                                       "params": spec.get("params", {}), "n_images": size["n_images"],
                                       "seed": seed, "n_shards": subset_pieces(size["n_images"], shard_size)}
    ind = ds["independent"]
    sets["independent"] = {"net": None, "split": "independent", "recipe": RENDERER, "mix": {}, "member_params": {},
                           "members": [], "params": {}, "n_images": ind["n_images"], "seed": ind["seed"],
                           "n_shards": ind["n_shards"]}
    return sets
