"""Mixed sets: several recipes in one shard, in given proportions (``simulation.mix``).

:func:`simulate_mix_shard` gives each image of a shard to one member recipe
(random, with the normalised weights, from a generator keyed by set, seed,
shard and block of images, so an image's member does not depend on the
shard's size), lets every member draw its own images with its own scheme
(the papers' recipes from their per-image streams), and renders them
together. Every member renders at one geometry: the host stamps' when a
member is semi-real, else the ``stamp_size``/``pixel_scale_arcsec``/
``zeropoint_mag`` of ``params`` or their declared defaults (the survey's);
``params`` apply to every member, and ``member_params`` (recipe -> overrides)
to one member alone, over ``params`` (e.g. bright neighbours for a fully
simulated member beside ``li2020``, which cannot draw them). Settings every
image of a shard renders with (:data:`SHARED`) must agree across members.
Each row's ``recipe`` names its member.
"""

from __future__ import annotations

import logging
import math
import zlib
from collections.abc import Mapping

import numpy as np

from lensfinder.io import InputError, nearest_hint
from lensfinder.simulation.recipes import PARAMS, RECIPES, Recipe, layered_overrides, recipe_params

__all__ = ["mix_weights", "member_recipes", "checked_member_params", "check_shared", "assign_members",
           "simulate_mix_shard", "GEOMETRY", "SHARED"]

log = logging.getLogger(__name__)

#: Images per block of the member assignment (as lensfinder.simulation.batch).
_BLOCK = 256
#: spawn-key tag of the assignment stream, apart from the per-block draws' keys
_MIX_TAG = 0x4D4958
#: The mix's one pixel grid: from ``params`` or the host stamps, never per member.
GEOMETRY = ("stamp_size", "pixel_scale_arcsec", "zeropoint_mag")
#: Settings the shard's rows render and are written with together: every member must have the same.
SHARED = ("bands", "preset", "grf_slope", "cube_dtype")


def mix_weights(mix: Mapping, source: str = "simulation.mix") -> dict:
    """The mix as recipe -> weight, normalised to sum 1 (members of weight 0 dropped).

    Raises
    ------
    InputError
        An unknown recipe, a weight that is not a number >= 0, or no positive weight.
    """
    if not isinstance(mix, Mapping) or not mix:
        raise InputError(f"{source}: expected a mapping recipe -> weight, e.g. {{li2020: 0.5, sky: 0.5}}, got {mix!r}")
    for name, w in mix.items():
        if name not in RECIPES:
            raise InputError(f"{source}: {name}: unknown recipe{nearest_hint(name, RECIPES)}; "
                             f"expected among {', '.join(RECIPES)}")
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0:
            raise InputError(f"{source}: {name}: weight must be a number >= 0, got {w!r}")
    total = float(sum(mix.values()))
    if total <= 0:
        raise InputError(f"{source}: weights must not all be zero, got {dict(mix)!r}")
    if not math.isfinite(total):  # huge weights (1e308): their sum overflows, their ratios do not
        top = max(float(w) for w in mix.values())
        return mix_weights({name: float(w) / top for name, w in mix.items()}, source)
    return {name: float(w) / total for name, w in mix.items() if w > 0}


def member_recipes(mix: Mapping, params: Mapping | None = None, source: str = "--set",
                   member_params: Mapping | None = None, member_source: str = "--member-set") -> dict[str, Recipe]:
    """Each member's validated recipe, ``params`` and its ``member_params`` applied, at the mix's one geometry.

    Raises
    ------
    InputError
        Besides the recipes' own checks: ``member_params`` for a recipe not in the mix or not a
        mapping, a geometry key (:data:`GEOMETRY`) set per member, or members that differ in a
        :data:`SHARED` setting; each names the member and the key.
    """
    from lensfinder.simulation.shards import with_host_geometry

    params = dict(params or {})
    weights = mix_weights(mix)
    own = checked_member_params(member_params, mix, member_source)
    members = {name: recipe_params(name, layered_overrides(params, own.get(name)),
                                   f"{source} and {member_source} {name}" if own.get(name) else source)
               for name in weights}
    semi = [p for p in members.values() if p.semi_real]
    if semi:
        ref = with_host_geometry(semi[0])
        geometry = (ref.stamp_size, ref.pixel_scale_arcsec, ref.zeropoint_mag)
    else:
        geometry = tuple(params.get(k, PARAMS[k].default) for k in GEOMETRY)
    check_shared(members, member_source)
    return {name: p.replace(stamp_size=int(geometry[0]), pixel_scale_arcsec=float(geometry[1]),
                            zeropoint_mag=float(geometry[2])) for name, p in members.items()}


def check_shared(members: Mapping[str, Recipe], source: str = "--member-set") -> None:
    """Raise an :class:`InputError` unless the members' recipes agree on every :data:`SHARED` setting."""
    for key in SHARED:
        values = {name: getattr(p, key) for name, p in members.items()}
        if len(set(values.values())) > 1:
            raise InputError(f"{source}: {key}: every member of a mix renders with one {key}, got "
                             f"{', '.join(f'{k}: {v!r}' for k, v in values.items())}; set it for all (--set, "
                             "simulation.params), not per member")


def checked_member_params(member_params, mix: Mapping, source: str = "--member-set") -> dict:
    """``member_params`` as recipe -> dict of overrides, each recipe a member of ``mix`` (of any
    weight; a single recipe is the mix ``{recipe: 1}``) and no key of the mix's one pixel grid
    (:data:`GEOMETRY`) among them."""
    if member_params is None:
        return {}
    if not isinstance(member_params, Mapping):
        raise InputError(f"{source}: expected a mapping recipe -> overrides, e.g. {{broad: {{field_galaxies: [0, 2]}}}}, "
                         f"got {member_params!r}")
    out = {}
    for name, overrides in member_params.items():
        if name not in mix:
            raise InputError(f"{source}: {name}: not simulated here (recipes: {', '.join(mix) or 'none'}); "
                             "member parameters apply to the recipe or to the members of the mix")
        if not isinstance(overrides, Mapping):
            raise InputError(f"{source}: {name}: expected a mapping key -> value, got {overrides!r}")
        geometry = [k for k in overrides if k in GEOMETRY]
        if geometry:
            raise InputError(f"{source}: {name}: {geometry[0]}: every member renders on the mix's one pixel grid; "
                             "set it for all (--set, simulation.params), not per member")
        out[name] = dict(overrides)
    return out


def assign_members(weights: Mapping, seed: int, shard: int, indices, set_name: str = "sim"):
    """Index into ``list(weights)`` of each image ``indices`` of a shard (block by block)."""
    names = list(weights)
    w = np.array([weights[k] for k in names], dtype=float)
    indices = np.asarray(indices, dtype=np.int64)
    out = np.empty(len(indices), dtype=np.int64)
    key = zlib.crc32(set_name.encode())
    for block in np.unique(indices // _BLOCK):
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(shard)], spawn_key=(_MIX_TAG, key, int(block))))
        member = rng.choice(len(w), size=_BLOCK, p=w / w.sum())
        sel = indices // _BLOCK == block
        out[sel] = member[indices[sel] - block * _BLOCK]
    return out


def simulate_mix_shard(mix: Mapping, n: int, seed: int, shard: int, params: Mapping | None = None,
                       set_name: str = "sim", noiseless: bool = False, batch_size: int = 32, progress: bool = True,
                       member_params: Mapping | None = None):
    """Simulate one shard of ``n`` images from the recipes of ``mix`` (see the module docstring);
    ``member_params``: recipe -> overrides of that member alone, over ``params``.

    Returns
    -------
    images : ndarray, float32 (n, stamp_size, stamp_size)
    metadata : pandas.DataFrame
        One row per image, in index order; ``recipe`` names each row's member.
    """
    import pandas as pd

    from lensfinder.simulation.shards import draw_table, render_table

    if int(n) < 0:
        raise InputError(f"n: expected a non-negative number of images, got {n!r}")
    weights = mix_weights(mix)
    members = member_recipes(mix, params, member_params=member_params)
    indices = np.arange(int(n))
    member = assign_members(weights, seed, shard, indices, set_name)
    # members that draw by block take generators of their own when there are several (else the k-th
    # elliptical of each would share its draws); a lone one keeps the set's, as when drawn alone
    by_block = [name for name, p in members.items() if p.draw_scheme == "per_block"]
    frames = [draw_table(p, seed, shard, indices[member == k], set_name, noiseless, progress,
                         stream=name if len(by_block) > 1 and name in by_block else "")
              for k, (name, p) in enumerate(members.items()) if (member == k).any()]
    first = next(iter(members.values()))
    if not frames:
        shape = (0, len(first.bands), first.stamp_size, first.stamp_size) if first.bands else \
            (0, first.stamp_size, first.stamp_size)
        return np.zeros(shape, dtype=np.float32), draw_table(first, seed, shard, [])
    df = pd.concat(frames, ignore_index=True).sort_values("index", kind="stable").reset_index(drop=True)
    scatter = df["recipe"].map({name: p.band_depth_scatter_mag for name, p in members.items()}).to_numpy(float)
    colour_scatter = df["recipe"].map({name: p.colour_scatter_mag for name, p in members.items()}).to_numpy(float)
    images, df = render_table(df, first.stamp_size, batch_size, progress, first.grf_slope, first.bands, first.preset,
                              scatter, colour_scatter)
    log.info("simulated %d images (%d lenses) from the mix %s, seed %d, shard %d: %s", len(df),
             int(df["is_lens"].sum()), weights, seed, shard, df["recipe"].value_counts().to_dict())
    return images, df
