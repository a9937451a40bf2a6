# Helpers of the simulated training and test sets (docs/simulation.md; rules in simulate.smk):
# simulation.recipe / mix / params / member_params, checked when the workflow is parsed, and the
# `lensfinder simulate` options they become. Included by the Snakefile after common.smk, whose
# names (config, P, BANDS, PRESET, MEMBERS, ...) it uses.


RECIPE = config["simulation"]["recipe"]
#: simulation.mix (recipe -> weight), when set, replaces simulation.recipe; its members
SIM_MIX = {name: w for name, w in config["simulation"]["mix"].items() if w > 0}
SIM_MEMBERS = list(SIM_MIX) or [RECIPE]
if config["simulation"]["mix"] and not SIM_MIX:
    raise ValueError(f"config: simulation.mix: weights must not all be zero, got {config['simulation']['mix']}"
                     f"{config_source('simulation', 'mix')}")
#: simulation.member_params: overrides of one recipe alone, a member of the mix or simulation.recipe
#: (checked in _checked_recipes)
SIM_MEMBER_PARAMS = config["simulation"]["member_params"]


def set_member_params(simset):
    """simulation.member_params with a set's own (simulation.sets.<set>.member_params) laid over them,
    recipe by recipe: e.g. a training set of one ensemble member with bright neighbours in its stamps."""
    own = SIM_SETS[simset].get("member_params") or {}
    return {name: {**SIM_MEMBER_PARAMS.get(name, {}), **own.get(name, {})}
            for name in dict.fromkeys([*SIM_MEMBER_PARAMS, *own])}


if len({spec["seed"] for spec in SIM_SETS.values()}) != len(SIM_SETS):
    # the papers' recipes draw image i of shard k from SeedSequence([seed, k, i]): one seed, one stream
    raise ValueError("config: simulation.sets: every set needs its own seed (train and test would share random "
                     f"streams), got { {name: spec['seed'] for name, spec in SIM_SETS.items()} }")
#: recipes that paint arcs on the survey's own stamps (Li et al. 2020, section 2.2; He et al. 2020, section 4.2)
SEMI_REAL = any(r in ("li2020", "he2020_semireal") for r in SIM_MEMBERS)
HE_SEMI_REAL = "he2020_semireal" in SIM_MEMBERS
#: the survey's pixel grid: fully simulated sets are rendered on it, at stamps.size (he2020's own 97 x 97
#: at 0.21"/px would not fit the search's stamps)
SIM_GEOMETRY = {"stamp_size": config["stamps"]["size"], "pixel_scale_arcsec": PRESET.pixel_scale_arcsec}
#: the bands the training sets render (recipe parameters preset and bands): the networks' bands; none
#: (a 3-D cube, read as r: the papers) when the networks see r alone
SIM_BANDS = {"preset": PRESET.name, "bands": list(BANDS)} if BANDS != ["r"] else {}
SIM_PARAMS = {**({} if SEMI_REAL else SIM_GEOMETRY), **SIM_BANDS, **config["simulation"]["params"]}
#: the LRG sample of the release: the hosts (and negatives) of the semi-real recipes
HOST_SAMPLE = next((s for s in config["preselection"]["samples"] if s.startswith("lrg_")),
                   {"dr4": "lrg_li2020", "dr3": "lrg_he2020"}[RELEASE])
#: samples whose galaxies get stamps: the configured ones, plus the LRG hosts and the
#: disk stand-in (preselect's disk_blue) that he2020_semireal draws its negatives from
STAMP_SAMPLES = list(config["preselection"]["samples"])
if HE_SEMI_REAL:
    STAMP_SAMPLES += [s for s in (HOST_SAMPLE, "disk_blue") if s not in STAMP_SAMPLES]

from lensfinder.io import InputError
from lensfinder.simulation.mix import check_shared, checked_member_params
from lensfinder.simulation.recipes import layered_overrides, recipe_params


def epsf_inputs(tiles):
    """Tile images (every simulated band) and catalogue parts of ``tiles``: he2020_semireal's tile ePSFs
    (lensfinder.simulation.epsf) are built from them."""
    return (expand(P.tile_image, tile=tiles, band=BANDS if SIM_BANDS else DETECTION_BAND),
            expand(P.catalog_part, tile=tiles))


def he2020_semireal_hosts():
    """he2020_semireal's negatives: the LRG sample (He et al.: 3,037 LRGs, irregular ones included) and, where
    the stamps stage cuts them, the disk_blue galaxies (none otherwise)."""
    return {"negative_flag": HOST_SAMPLE,
            **({"disk_flag": "disk_blue"} if "disk_blue" in STAMP_SAMPLES else {"disk_fraction": 0.0})}


def sim_params(simset, host_stamps):
    """Recipe overrides from config, on the survey's pixel grid; semi-real recipes also get the
    survey's stamp cubes ``host_stamps`` as hosts, the `train` set one side of the host split and
    the other sets the held-out side (simulation.host_holdout), so no test set shares a host with
    training.

    he2020_semireal: arcs on the release's LRGs, negatives from :func:`he2020_semireal_hosts`.
    """
    params = dict(SIM_PARAMS)
    if SEMI_REAL:
        params.setdefault("host_stamps", host_stamps)
        params.setdefault("host_flag", HOST_SAMPLE)
        if config["simulation"]["host_holdout"] > 0:
            params.setdefault("host_holdout", config["simulation"]["host_holdout"])
            params.setdefault("host_split", "train" if simset in TRAIN_SETS else "test")
    if HE_SEMI_REAL:  # the workflow then cuts the disk_blue stamps too (STAMP_SAMPLES)
        for key, value in he2020_semireal_hosts().items():
            params.setdefault(key, value)
    return params


def _checked_recipes():
    """Every member's recipe with the overrides its `simulate` jobs get, checked when the workflow
    is parsed: a dry run names a key a member cannot take (e.g. field_galaxies beside li2020) before
    the survey is fetched, not a simulate job after it. The host stamps and tiles are not there
    yet: their directories stand in for them. simulation.member_params are laid over each one's."""
    later = {"psf_tiles": ["results/survey/tiles"], "psf_catalogs": ["results/survey/catalog"]} if HE_SEMI_REAL else {}
    recipes = []
    try:
        for simset in (s for s in SIM_SETS if s == "test" or s in TRAIN_SETS):  # the sets this run simulates
            set_own = SIM_SETS[simset].get("member_params") or {}
            where = "simulation.member_params" + (f" and simulation.sets.{simset}.member_params" if set_own else "")
            own = checked_member_params(set_member_params(simset), config["simulation"]["mix"] or {RECIPE: 1},
                                        f"config: {where}")

            def source(r):
                return ("config: simulation.params" + (f" and member_params.{r}" if r in SIM_MEMBER_PARAMS else "")
                        + (f" and sets.{simset}.member_params.{r}" if r in set_own else "")
                        + f" (recipe {r}, set {simset})")

            members = {r: recipe_params(r, layered_overrides({**later, **sim_params(simset, ["results/stamps"])},
                                                             own.get(r)), source=source(r))
                       for r in SIM_MEMBERS}
            check_shared(members, f"config: {where}")
            recipes += members.values()
    except InputError as exc:
        raise ValueError(str(exc)) from None
    return recipes


_SIM_RECIPES = _checked_recipes()
if not SEMI_REAL:  # semi-real sets take the size of the survey stamps they are painted on
    _sim_size = max(r.stamp_size for r in _SIM_RECIPES)
    if _sim_size != config["stamps"]["size"]:
        # the network trains on the simulations and scores the survey stamps: the sizes must agree
        raise ValueError(
            f"config: stamps.size is {config['stamps']['size']}, but simulation.recipe '{RECIPE}' renders "
            f"{_sim_size}x{_sim_size} stamps (simulation.params.stamp_size); set one to the other, e.g. "
            f"stamps: {{size: {_sim_size}}}"
        )


def sim_host_files(ext):
    """Host stamps of the semi-real recipes (none for the fully simulated ones): the stamps of the
    searched tiles, never those of the mock survey's evaluation tiles (EVAL_TILES, which also hold
    the domain_shift experiment's held-out tile), so that no evaluation shares a host with training."""
    return expand(P.stamp_cube if ext == "fits" else P.stamp_index, tile=SEARCH_TILES) if SEMI_REAL else []


def sim_psf_tiles():
    """Tile images (every simulated band) for the tile ePSFs of he2020_semireal (lensfinder.simulation.epsf)."""
    return epsf_inputs(SEARCH_TILES)[0] if HE_SEMI_REAL else []


def sim_psf_catalogs():
    """Tile catalogues that pick the ePSF stars of he2020_semireal."""
    return epsf_inputs(SEARCH_TILES)[1] if HE_SEMI_REAL else []


def recipe_options(recipe, mix, member_params):
    """`--recipe NAME`, or `--mix NAME=WEIGHT ...`; and `--member-set NAME:KEY=VALUE` (values JSON) per
    override of one recipe (member_params)."""
    options = ["--mix", *(f"{name}={weight}" for name, weight in mix.items())] if mix else ["--recipe", recipe]
    options += [f"--member-set {shlex.quote(f'{name}:{key}={json.dumps(value)}')}"
                for name, overrides in member_params.items() if (name in mix if mix else name == recipe)
                for key, value in overrides.items()]  # not those of members of weight 0, which the jobs drop
    return " ".join(options)


def sim_recipe_options(wildcards):
    """`--recipe NAME`, or `--mix NAME=WEIGHT ...` for simulation.mix, and the set's member_params over
    simulation.member_params."""
    return recipe_options(RECIPE, SIM_MIX, set_member_params(wildcards.simset))


def sim_psf_options(wildcards, input):
    """`--psf-tiles ... --psf-catalogs ...` when the recipe builds tile ePSFs."""
    if not input.psf_tiles:
        return ""
    return f"--psf-tiles {' '.join(input.psf_tiles)} --psf-catalogs {' '.join(input.psf_catalogs)}"


def sim_overrides(wildcards):
    """Recipe overrides from config as `--set` options (:func:`sim_params`)."""
    return set_options(sim_params(wildcards.simset, sim_host_files("fits")))


def sim_dir(wildcards):
    """Directory of one simulated set's shards."""
    return os.path.dirname(sim_path(P.sim_cube, wildcards.simset))


def sim_shards(simset):
    """Shard names of one simulated set."""
    return [f"{k:03d}" for k in range(SIM_SETS[simset]["n_shards"])]


def sim_shard_size(wildcards):
    """Images in one shard: the set split as evenly as possible."""
    spec = SIM_SETS[wildcards.simset]
    n, k = spec["n_images"], spec["n_shards"]
    shard = int(wildcards.shard)
    return n // k + (1 if shard < n % k else 0)


def sim_seed(wildcards):
    return SIM_SETS[wildcards.simset]["seed"]


def sim_files(simset, ext):
    return expand(P.sim_cube if ext == "fits" else P.sim_meta, simset=simset, shard=sim_shards(simset))


def member_sim_files(ext):
    """Input function: the shards of the simulated set ensemble member {net} trains on."""
    return lambda wildcards: sim_files(MEMBERS[wildcards.net].train_set, ext)
