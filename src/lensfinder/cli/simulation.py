"""``lensfinder simulate`` and ``lensfinder entropy``: arguments and hand-off to lensfinder.simulation."""

from __future__ import annotations

import logging
from pathlib import Path

from lensfinder.cli.options import non_negative_int, parse_key_values
from lensfinder.io import InputError


__all__ = ["add_simulate_arguments", "run_simulate", "add_entropy_arguments", "run_entropy"]

log = logging.getLogger(__name__)


def add_simulate_arguments(parser) -> None:
    """Arguments of ``lensfinder simulate``."""
    from lensfinder.simulation.recipes import RECIPES

    parser.add_argument("--recipe", default="skeleton", choices=sorted(RECIPES), help="simulation recipe")
    parser.add_argument("--mix", nargs="+", default=None, metavar="RECIPE=WEIGHT",
                        help="several recipes in one shard, e.g. --mix li2020=0.5 sky=0.5 (weights normalised; "
                             "replaces --recipe; --set applies to every member, --member-set to one)")
    parser.add_argument("--member-set", action="append", default=[], metavar="RECIPE:KEY=VALUE",
                        help="override a parameter of one recipe alone (a member of --mix, or --recipe), over --set, "
                             "e.g. --member-set broad:field_galaxies=[0,2] beside li2020 (which cannot draw neighbours)")
    parser.add_argument("--n", type=int, required=True, help="number of images in the shard")
    parser.add_argument("--seed", type=non_negative_int, default=1, help="set seed")
    parser.add_argument("--shard", type=non_negative_int, default=0, help="shard number (file shard_{shard:03d})")
    parser.add_argument("--set-name", default="sim", help="set name, prefix of object_id")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--noiseless", action="store_true", help="no noise (validation sets)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a recipe parameter (value parsed as YAML), e.g. psf_fwhm_arcsec=[0.55,0.75]; "
                             "the parameters are listed in docs/simulation.md")
    parser.add_argument("--psf-tiles", nargs="*", default=[], metavar="PATH",
                        help="tile images {tile}.fits of the host stamps' tiles, or their directory "
                             "(psf_model=epsf: the tile ePSF; same as --set psf_tiles=[...])")
    parser.add_argument("--psf-catalogs", nargs="*", default=[], metavar="PATH",
                        help="catalogues {tile}.parquet of those tiles, or their directory (same as --set psf_catalogs=[...])")
    parser.add_argument("--batch-size", type=int, default=32, help="images rendered per call of the compiled kernels")


def run_simulate(args) -> int:
    """``lensfinder simulate``: write ``shard_{k:03d}.fits`` and ``.parquet`` into ``--out``."""
    from lensfinder.io import write_cube, write_table
    from lensfinder.simulation.recipes import recipe_params
    from lensfinder.simulation.shards import simulate_shard

    overrides = parse_key_values(args.set)
    for key, paths in (("psf_tiles", args.psf_tiles), ("psf_catalogs", args.psf_catalogs)):
        if paths:
            if key in overrides:
                raise InputError(f"--{key.replace('_', '-')}: also given as --set {key}; give it once")
            overrides[key] = list(paths)
    if args.n < 0:
        raise InputError(f"--n: expected a non-negative number of images, got {args.n}")
    member_params = _parse_member_sets(args.member_set)
    if args.mix:
        from lensfinder.simulation.mix import member_recipes, simulate_mix_shard

        mix = _parse_mix(args.mix)
        recipe = next(iter(member_recipes(mix, overrides, member_params=member_params).values()))
        images, meta = simulate_mix_shard(mix, args.n, args.seed, args.shard, overrides, set_name=args.set_name,
                                          noiseless=args.noiseless, batch_size=args.batch_size,
                                          member_params=member_params)
        name = "mix:" + ",".join(f"{k}={v:g}" for k, v in mix.items())
    else:
        from lensfinder.simulation.mix import checked_member_params
        from lensfinder.simulation.recipes import layered_overrides

        own = checked_member_params(member_params, {args.recipe: 1.0}).get(args.recipe)
        recipe = recipe_params(args.recipe, layered_overrides(overrides, own), "--member-set" if own else "--set")
        images, meta = simulate_shard(recipe, args.n, args.seed, args.shard, set_name=args.set_name,
                                      noiseless=args.noiseless, batch_size=args.batch_size)
        name = args.recipe
    out = Path(args.out)
    stem = f"shard_{int(args.shard):03d}"
    cards = {"RECIPE": name[:68], "SEED": int(args.seed), "SHARD": int(args.shard), "SIMSET": args.set_name,
             "NOISELES": bool(args.noiseless)}
    write_cube(images, out / f"{stem}.fits", recipe.pixel_scale_arcsec, recipe.zeropoint_mag, cards,
               dtype=recipe.cube_dtype, bands=recipe.bands or None)
    write_table(meta, out / f"{stem}.parquet")
    log.info("wrote %s/%s.{fits,parquet}", out, stem)
    return 0


def _parse_mix(items) -> dict:
    """``["li2020=0.5", "sky=0.5"]`` -> {"li2020": 0.5, "sky": 0.5}, checked by lensfinder.simulation.mix."""
    from lensfinder.simulation.mix import mix_weights

    mix = {}
    for item in items:
        name, sep, weight = item.partition("=")
        try:
            mix[name] = float(weight)
        except ValueError:
            raise InputError(f"--mix: {item}: expected RECIPE=WEIGHT with a number") from None
        if not sep:
            raise InputError(f"--mix: {item}: expected RECIPE=WEIGHT")
    mix_weights(mix, "--mix")
    return mix


def _parse_member_sets(items) -> dict:
    """``["broad:field_galaxies=[0,2]", ...]`` -> {"broad": {"field_galaxies": [0, 2]}} (values as YAML)."""
    out: dict = {}
    for item in items:
        name, sep, key_value = item.partition(":")
        if not sep or "=" not in key_value or "=" in name:
            raise InputError(f"--member-set: {item!r}: expected RECIPE:KEY=VALUE, e.g. broad:field_galaxies=[0,2]")
        for key, value in parse_key_values([key_value], f"--member-set {name}").items():
            if key in out.setdefault(name, {}):
                raise InputError(f"--member-set: {name}:{key}: given twice")
            out[name][key] = value
    return out


def add_entropy_arguments(parser) -> None:
    """Arguments of ``lensfinder entropy``."""
    parser.add_argument("--shards", nargs="+", required=True,
                        help="simulation directories (all shard_*.fits) or cube files (each with its .parquet)")
    parser.add_argument("--out", required=True, help="output table (Parquet; a .csv copy is written beside it)")
    parser.add_argument("--max-images", type=int, default=None,
                        help="use at most this many images per shard (the paper used 50,000 in all)")
    parser.add_argument("--batch-size", type=int, default=2000, help="images per batch")


def run_entropy(args) -> int:
    """``lensfinder entropy``: per-class entropy statistics of simulated shards."""
    from lensfinder.io import write_csv, write_table
    from lensfinder.learning.datasets import resolve_shards
    from lensfinder.simulation.entropy import shard_entropy_table

    table = shard_entropy_table(resolve_shards(args.shards), args.max_images, args.batch_size)
    out = Path(args.out)
    write_table(table, out)
    write_csv(table, out.with_suffix(".csv"))
    log.info("entropy: %s", table.to_dict("records"))
    return 0
