# Configuration validation, target functions and wildcard constraints.
# Helpers only: the rules live in the per-stage files.

import json
import os
import shlex
import sys
from types import SimpleNamespace

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate


def validate_config(block, schema, prefix=()):
    """The schema's check and defaults for ``block`` (at ``prefix`` in the config; ``schema`` in
    workflow/schemas/): a failing block stops the run with one line naming the key and its file."""
    schema_path = os.path.join(workflow.basedir, "workflow", "schemas", schema)
    try:
        validate(block, schema=schema_path)
    except WorkflowError:
        from lensfinder.configcheck import schema_problem

        cli_files = [os.path.abspath(path) for path in workflow.config_settings.configfiles]
        files = [path for path in workflow.configfiles if os.path.abspath(path) not in cli_files] + cli_files
        problem = schema_problem(block, schema_path, files, dict(workflow.config_settings.config), prefix)
        if problem is None:
            raise
        raise ValueError(problem) from None


validate_config(config, "config.schema.yaml")


# Bands (docs/architecture.md): the survey preset (lensfinder.surveys.presets), the bands its
# tiles provide, the bands the networks see (config `bands`), the detection band of the
# catalogue positions and stamp centres, and the stamp size in pixels.
def _bands():
    from lensfinder.io import InputError
    from lensfinder.surveys.presets import stamp_size_pix, survey_preset

    try:
        preset = survey_preset(config["survey"], config["mock"]["preset"])
        wanted = preset.check_bands(config["bands"], "config: bands") if config["bands"] else None
    except InputError as exc:
        raise ValueError(str(exc)) from None
    # the mock survey renders all of its preset's bands, and the extra ones asked for (Euclid's NISP);
    # until the survey rules write a file per band (PER_BAND_TILES), the tiles hold the r band only
    provided = [*preset.bands, *(b for b in wanted or () if b in preset.extra_bands)] if PER_BAND_TILES else ["r"]
    # null: the survey's bands, once the simulated training sets render them; until then
    # (MULTIBAND_SIMULATION) the detection band alone, so that the default run trains
    default = [b for b in preset.bands if b in provided] if MULTIBAND_SIMULATION else [preset.detection_band]
    bands = list(wanted or default or provided)
    if set(bands) - set(provided):
        raise ValueError(f"config: bands: {bands}: survey '{config['survey']}' provides {provided}; "
                         "expected some of them")
    size = config["stamps"]["size"] or stamp_size_pix(preset)
    return preset, provided, bands, size


#: True once the survey rules write one image, weight and mask per band (P.tile_* with {band})
PER_BAND_TILES = True
#: True: the simulation recipes render every band of the preset (lensfinder.simulation.colours)
MULTIBAND_SIMULATION = True
PRESET, SURVEY_BANDS, BANDS, STAMP_SIZE = _bands()
DETECTION_BAND = PRESET.detection_band if PER_BAND_TILES else "r"
#: the band the stamps are centred on and the inspection set's first cube: the detection band, else the first
REFERENCE_BAND = DETECTION_BAND if DETECTION_BAND in BANDS else BANDS[0]
config["stamps"]["size"] = STAMP_SIZE  # null: the preset's stamp size in arcsec over its pixel scale

# Every file the workflow reads or writes, named once (wildcards in braces).
# Rules, target functions and the experiments use these names; logs and
# benchmarks are named in their own rule.
RESULTS = "results"
P = SimpleNamespace(
    # survey (mock-survey, download-catalog, download-tile, download-legacy-field, merge-catalog)
    tile_image=f"{RESULTS}/survey/tiles/{{tile}}.{{band}}.fits",
    tile_weight=f"{RESULTS}/survey/tiles/{{tile}}.{{band}}.weight.fits",
    tile_mask=f"{RESULTS}/survey/tiles/{{tile}}.{{band}}.mask.fits",
    catalog_part=f"{RESULTS}/survey/catalog/{{tile}}.parquet",
    tile_list=f"{RESULTS}/survey/tiles.csv",
    truth=f"{RESULTS}/survey/truth/{{tile}}.parquet",
    catalog=f"{RESULTS}/catalog/catalog.parquet",
    # preselection and stamps
    flags=f"{RESULTS}/preselect/flags.parquet",
    cutflow=f"{RESULTS}/preselect/cutflow.parquet",
    cutflow_csv=f"{RESULTS}/preselect/cutflow.csv",
    stamp_cube=f"{RESULTS}/stamps/{{tile}}.fits",
    stamp_index=f"{RESULTS}/stamps/{{tile}}.parquet",
    # simulated sets
    sim_cube=f"{RESULTS}/sim/{{simset}}/shard_{{shard}}.fits",
    sim_meta=f"{RESULTS}/sim/{{simset}}/shard_{{shard}}.parquet",
    # networks, scores and their evaluation
    model=f"{RESULTS}/models/{{net}}.keras",
    model_settings=f"{RESULTS}/models/{{net}}.json",
    history=f"{RESULTS}/models/{{net}}.history.csv",
    checkpoints=f"{RESULTS}/models/{{net}}_checkpoints",
    # a trained network exported for other runs to start from (training.init_weights): export_network
    network=f"{RESULTS}/networks/{{net}}_{PRESET.name}_{''.join(BANDS)}.keras",
    network_settings=f"{RESULTS}/networks/{{net}}_{PRESET.name}_{''.join(BANDS)}.json",
    network_history=f"{RESULTS}/networks/{{net}}_{PRESET.name}_{''.join(BANDS)}.history.csv",
    predictions=f"{RESULTS}/predictions/{{net}}/{{tile}}.parquet",
    collected=f"{RESULTS}/predictions/{{net}}.parquet",
    # ensembles and calibration: each member's raw scores; predictions (net = NET)
    # holds their combined calibrated p_cnn (docs/learning.md)
    # every round scores inference.tiles_per_job tiles per job (INFER_CHUNKS): one table,
    # its shard column naming each row's tile
    member_chunk=f"{RESULTS}/predictions/members/{{net}}/chunks/{{chunk}}.parquet",
    calibration=f"{RESULTS}/models/calibration.json",
    calibration_summary=f"{RESULTS}/eval/calibration.parquet",
    calibration_csv=f"{RESULTS}/eval/calibration.csv",
    reliability=f"{RESULTS}/eval/reliability.parquet",
    reliability_csv=f"{RESULTS}/eval/reliability.csv",
    # retraining rounds: round k >= 1 mirrors the layout of round 0 under
    # results/rounds/{k}/ (round_path); its fine-tuning set, and all rounds' evaluation
    finetune_cube=f"{RESULTS}/rounds/{{round}}/train/shard_000.fits",
    finetune_table=f"{RESULTS}/rounds/{{round}}/train/shard_000.parquet",
    rounds=f"{RESULTS}/eval/rounds.parquet",
    rounds_csv=f"{RESULTS}/eval/rounds.csv",
    test_predictions=f"{RESULTS}/eval/{{net}}/test_{{shard}}.parquet",
    metrics=f"{RESULTS}/eval/{{net}}_metrics.parquet",
    metrics_csv=f"{RESULTS}/eval/{{net}}_metrics.csv",
    roc=f"{RESULTS}/eval/{{net}}_roc.parquet",
    completeness=f"{RESULTS}/eval/{{net}}_completeness.parquet",
    # inspection and the ranked list
    candidates=f"{RESULTS}/inspect/candidates.parquet",
    known=f"{RESULTS}/inspect/known.parquet",
    manifest=f"{RESULTS}/inspect/manifest.parquet",
    manifest_csv=f"{RESULTS}/inspect/manifest.csv",
    inspect_png=f"{RESULTS}/inspect/png",
    inspect_stamps=f"{RESULTS}/inspect/stamps_{REFERENCE_BAND}.fits",
    inspect_band_stamps=f"{RESULTS}/inspect/stamps_{{band}}.fits",
    mosaic=f"{RESULTS}/inspect/mosaic.png",
    mock_grades=f"{RESULTS}/inspect/grades.csv",
    crossmatch=f"{RESULTS}/candidates/crossmatch.parquet",
    ranked=f"{RESULTS}/candidates/ranked.parquet",
    ranked_csv=f"{RESULTS}/candidates/ranked.csv",
    ranked_tex=f"{RESULTS}/candidates/ranked.tex",
    ranked_fits=f"{RESULTS}/candidates/ranked.fits",
    ranked_ecsv=f"{RESULTS}/candidates/ranked.ecsv",
    ranked_vot=f"{RESULTS}/candidates/ranked.vot",
    ranked_summary=f"{RESULTS}/candidates/summary/index.html",
    ranked_inspectors=f"{RESULTS}/candidates/ranked.inspectors.csv",
    ranked_agreement=f"{RESULTS}/candidates/ranked.agreement.csv",
    figures=f"{RESULTS}/figures",
)


def figure(name):
    """A report figure's path."""
    return f"{P.figures}/{name}.png"


def sim_path(pattern, simset):
    """A simulated-set path pattern with its set filled in (the shard left as a wildcard)."""
    return pattern.replace("{simset}", simset)

SURVEY = config["survey"]
TILES_FROM_ARCHIVE = False
from lensfinder.learning.ensemble import ensemble_members

try:  # inference.ensemble: networks (model, seed) trained and scored side by side
    MEMBERS = {m.name: m for m in ensemble_members(
        config["inference"]["ensemble"], config["training"]["model"], config["seed"])}
except ValueError as exc:
    raise ValueError(str(exc)) from None
#: the first member keeps the single network's name and paths; it names the ensemble
NET = next(iter(MEMBERS))
SIM_SETS = config["simulation"]["sets"]

if SURVEY == "mock":
    TILES = [f"MOCK_{i}" for i in range(config["mock"]["n_tiles"])]
    #: the mock_survey jobs' settings (--set): mock.params and the preset
    MOCK_SETTINGS = {**config["mock"]["params"], "preset": config["mock"]["preset"]}
    from lensfinder.io import InputError
    from lensfinder.surveys.mock.settings import mock_survey_config

    try:  # checked here, before any job
        mock_survey_config(MOCK_SETTINGS, "config: mock.params")
    except InputError as exc:
        raise ValueError(str(exc)) from None
elif SURVEY == "legacy_dr10":
    from lensfinder.io import InputError
    from lensfinder.surveys.legacy import check_field

    LEGACY_FIELDS = {}
    for _field in config["legacy"]["fields"]:
        try:  # numbers may arrive as text from --config; ranges are checked here, before any job
            _name, _ra, _dec, _size = check_field(
                _field["name"], _field["ra"], _field["dec"], _field.get("size_pix", 2000)
            )
        except InputError as exc:
            raise ValueError(f"config: legacy.fields: {exc}") from None
        LEGACY_FIELDS[_name] = {"ra": _ra, "dec": _dec, "size_pix": _size}
    TILES = list(LEGACY_FIELDS)
    if not TILES or len(TILES) != len(config["legacy"]["fields"]):
        raise ValueError(
            "config: legacy.fields must list fields with distinct names; survey 'legacy_dr10' needs e.g. "
            "legacy: {fields: [{name: F1, ra: 150.1, dec: 2.2, size_pix: 2000}]}"
        )
else:
    from lensfinder.surveys.kids import read_tile_list

    # kids.tiles: all, or kids.region: the list_tiles checkpoint asks the archive when
    # the run starts (survey.smk); parsing and dry runs ask no server
    TILES_FROM_ARCHIVE = config["kids"]["tiles"] == "all" or config["kids"]["region"] is not None
    if config["kids"]["region"] is not None and config["kids"]["tiles"] not in ([], "all"):
        raise ValueError("config: kids.region and a kids.tiles list exclude each other; give one of them")
    if TILES_FROM_ARCHIVE:  # the last list, for rules that expand tiles at parse time
        TILES = read_tile_list(P.tile_list) if os.path.isfile(P.tile_list) else []
    else:
        TILES = list(config["kids"]["tiles"])
    if not TILES and not TILES_FROM_ARCHIVE:
        raise ValueError(
            f"config: kids.tiles is empty; survey '{SURVEY}' needs a list of KiDS tile "
            "names, e.g. kids: {tiles: [KIDS_5.6_-28.2]}, tiles: all, or kids.region"
        )


#: the survey's scoring jobs of every round (the infer and rescore rules), inference.tiles_per_job tiles
#: each, in tile order, so that TensorFlow starts and the networks load once per job rather than once per
#: tile; tiles appended to kids.tiles leave the earlier full jobs as they were
INFER_CHUNKS = {f"{k:03d}": TILES[i:i + config["inference"]["tiles_per_job"]]
                for k, i in enumerate(range(0, len(TILES), config["inference"]["tiles_per_job"]))}
CHUNK_OF = {tile: chunk for chunk, tiles in INFER_CHUNKS.items() for tile in tiles}


def chunk_files(pattern):
    """Input function: ``pattern`` over the tiles of the job's ``{chunk}`` (the infer and rescore rules)."""
    return lambda wildcards: expand(pattern, tile=INFER_CHUNKS[wildcards.chunk])


def tile_chunk(wildcards) -> str:
    """The scoring job (chunk) whose table holds the tile's scores."""
    try:
        return CHUNK_OF[wildcards.tile]
    except KeyError:
        raise ValueError(f"tile {wildcards.tile}: not among the {len(TILES)} tiles this run scores; "
                         "with kids.tiles: all or kids.region, run snakemake again after the tile list is made") from None


def survey_tiles():
    """The survey's tiles; with kids.tiles: all or kids.region, those the list_tiles checkpoint wrote."""
    if not TILES_FROM_ARCHIVE:
        return TILES
    return read_tile_list(checkpoints.list_tiles.get().output[0])


def tile_files(pattern, **fixed):
    """Input function: ``pattern`` over every survey tile (known after list_tiles when the archive lists them);
    other placeholders from ``fixed``, else from the rule's wildcards (e.g. ``{net}``)."""

    def files(wildcards):
        values = {k: v for k, v in wildcards.items() if k != "tile"}
        return expand(pattern, tile=survey_tiles(), **{**values, **fixed})

    return files


def tile_selection_options():
    """`lensfinder list-tiles` options of kids.tiles: all / kids.region (numbers checked here, before any job)."""
    from lensfinder.io import InputError
    from lensfinder.surveys.tap import check_region

    region = config["kids"]["region"]
    if region is None:
        return "--all"
    try:
        return "--region {!r} {!r} {!r}".format(*check_region((region["ra"], region["dec"], region["radius_deg"])))
    except InputError as exc:
        raise ValueError(f"config: kids.region: {exc}") from None


def catalog_columns_option():
    """`--columns` of download-catalog: the release's default columns plus the optional ones the
    preselection needs (DR3's unverified Kron and FLAG_R columns), or nothing when it needs none."""
    from lensfinder.selection.preselect import required_columns
    from lensfinder.surveys.columns import column_map

    default = column_map(RELEASE).download_columns
    needed = required_columns(RELEASE, mask_cut=config["preselection"]["mask_cut"])
    extra = [c for c in needed if c not in default]
    return f"--columns {','.join(default + extra)}" if extra else ""

RELEASE = {"mock": "dr4", "kids_dr4": "dr4", "kids_dr3": "dr3", "legacy_dr10": "dr4"}[SURVEY]
if config["preselection"]["release"] != RELEASE:
    raise ValueError(
        f"config: preselection.release is '{config['preselection']['release']}' but survey "
        f"'{SURVEY}' has {RELEASE} columns; set preselection.release: {RELEASE}"
    )

RELEASE_SAMPLES = {"dr4": {"bg_li2020", "lrg_li2020", "disk_blue"},
                   "dr3": {"lrg_he2020", "lrg_he2020_refined", "disk_blue"}}
_foreign = set(config["preselection"]["samples"]) - RELEASE_SAMPLES[RELEASE]
if _foreign:
    raise ValueError(
        f"config: preselection.samples has {sorted(_foreign)}, which {RELEASE} catalogues do not define; "
        f"expected some of {sorted(RELEASE_SAMPLES[RELEASE])}"
    )

# A grades file without a producer would let an old ranked list stand ("Nothing to be done"): stop here.
if config["inspection"]["grades"] and not os.path.isfile(config["inspection"]["grades"]):
    raise ValueError(
        f"config: inspection.grades: {config['inspection']['grades']}: file not found (relative paths are from "
        f"the working directory {os.getcwd()}); expected your grades CSV (object_id,inspector,grade)"
    )

wildcard_constraints:
    tile=r"KIDS_\d{1,3}(?:\.\d+)?_-?\d{1,2}(?:\.\d+)?" if TILES_FROM_ARCHIVE else ("|".join(TILES) or "NO_TILES"),
    simset="|".join(SIM_SETS),
    shard=r"\d{3}",
    chunk=r"\d\d\d+",
    net="|".join(MEMBERS),
    round=r"[1-9]\d*",
    band="|".join(SURVEY_BANDS),


def band_options(wildcards=None):
    """`--bands ... --detection-band B` of `lensfinder stamps`."""
    return f"--bands {' '.join(BANDS)} --detection-band {DETECTION_BAND}"


def band_tile_files(pattern):
    """Input function's list: a tile file (P.tile_*) in every band of BANDS, the tile left a wildcard;
    tiles without {band} in their path are the r band alone."""
    return expand(pattern, band=BANDS, allow_missing=True) if "{band}" in pattern else [pattern]


def set_options(overrides):
    """`--set key=value` options (values JSON, which YAML reads) for a step."""
    return " ".join(
        f"--set {shlex.quote(f'{key}={json.dumps(value)}')}" for key, value in overrides.items()
    )


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


def threshold_options(wildcards=None):
    """`--threshold sample=value` for each configured sample."""
    thresholds = config["inference"]["thresholds"]
    return " ".join(f"--threshold {s}={thresholds[s]}" for s in config["preselection"]["samples"] if s in thresholds)


def grades_file(wildcards=None):
    """The user's grades, or the simulated inspectors' on the mock survey."""
    return config["inspection"]["grades"] or P.mock_grades


def notes_files(wildcards=None):
    """The grading page's flags and comments beside the grades file, when there are any."""
    from lensfinder.inspection.grades import notes_path

    notes = notes_path(grades_file())
    return [str(notes)] if notes.exists() else []


def notes_option(wildcards, input):
    """`--notes CSV` for merge-scores' summary page (nothing without notes)."""
    return f"--notes {shlex.quote(input.notes[0])}" if input.notes else ""


def truth_files(wildcards=None):
    return expand(P.truth, tile=TILES)


def has_grades():
    return bool(config["inspection"]["grades"]) or SURVEY == "mock"


def all_targets():
    """Everything a default run leaves in results/."""
    if TILES_FROM_ARCHIVE and not TILES:
        # a first run with kids.tiles: all / kids.region lists the tiles (checkpoint), then
        # fetches and preselects their catalogue; the per-tile stages expand their tile lists
        # when the workflow is parsed, so they run in the next invocation (docs/surveys.md)
        sys.stderr.write("lensfinder: the tile list is made first; run snakemake again afterwards "
                         "to search the listed tiles\n")
        return [P.tile_list, P.cutflow_csv]
    targets = [
        # the trained network is a product in its own right: deleting it
        # retrains it and reruns what depends on it
        P.model.format(net=NET),
        P.metrics_csv.format(net=NET),
        P.manifest_csv,
        P.cutflow_csv,
        figure("roc"),
        figure("completeness"),
        figure("pcnn_samples"),
        figure("cutflow"),
        figure("learning_curve"),
    ]
    if has_grades():
        targets += [
            P.ranked,
            P.ranked_csv,
            P.ranked_tex,
            P.ranked_fits,
            P.ranked_ecsv,
            P.ranked_vot,
            P.ranked_summary,
            figure("pcnn_vs_phuman"),
            figure("top_candidates"),
            figure("score_histogram"),
        ]
    return targets + learning_targets()


def legacy_field_options(wildcards):
    """`--ra --dec --size-pix` of one Legacy Surveys field."""
    field = LEGACY_FIELDS[wildcards.tile]
    return f"--ra {field['ra']!r} --dec {field['dec']!r} --size-pix {field['size_pix']}"


def tile_index(wildcards):
    """Position of a tile in the survey's tile list (the mock survey's layout)."""
    return TILES.index(wildcards.tile)


RECIPE = config["simulation"]["recipe"]
#: simulation.mix (recipe -> weight), when set, replaces simulation.recipe; its members
SIM_MIX = {name: w for name, w in config["simulation"]["mix"].items() if w > 0}
SIM_MEMBERS = list(SIM_MIX) or [RECIPE]
if config["simulation"]["mix"] and not SIM_MIX:
    raise ValueError(f"config: simulation.mix: weights must not all be zero, got {config['simulation']['mix']}")
#: simulation.member_params: overrides of one recipe alone, a member of the mix or simulation.recipe
#: (checked in _checked_recipes)
SIM_MEMBER_PARAMS = config["simulation"]["member_params"]
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


def sim_params(simset, host_stamps):
    """Recipe overrides from config, on the survey's pixel grid; semi-real recipes also get the
    survey's stamp cubes ``host_stamps`` as hosts, the `train` set one side of the host split and
    the other sets the held-out side (simulation.host_holdout), so no test set shares a host with
    training.

    he2020_semireal: arcs on the release's LRGs, negatives from the LRGs (He et
    al.: 3,037 LRGs, irregular ones included) and, for ``disk_fraction`` of
    them, from the disk_blue galaxies.
    """
    params = dict(SIM_PARAMS)
    if SEMI_REAL:
        params.setdefault("host_stamps", host_stamps)
        params.setdefault("host_flag", HOST_SAMPLE)
        if config["simulation"]["host_holdout"] > 0:
            params.setdefault("host_holdout", config["simulation"]["host_holdout"])
            params.setdefault("host_split", "train" if simset == "train" else "test")
    if HE_SEMI_REAL:
        params.setdefault("negative_flag", HOST_SAMPLE)
        params.setdefault("disk_flag", "disk_blue")
    return params


def _checked_recipes():
    """Every member's recipe with the overrides its `simulate` jobs get, checked when the workflow
    is parsed: a dry run names a key a member cannot take (e.g. field_galaxies beside li2020) before
    the survey is fetched, not a simulate job after it. The host stamps and tiles are not there
    yet: their directories stand in for them. simulation.member_params are laid over each one's."""
    later = {"psf_tiles": ["results/survey/tiles"], "psf_catalogs": ["results/survey/catalog"]} if HE_SEMI_REAL else {}
    recipes = []
    try:
        own = checked_member_params(SIM_MEMBER_PARAMS, config["simulation"]["mix"] or {RECIPE: 1},
                                    "config: simulation.member_params")
        for simset in SIM_SETS:
            members = {r: recipe_params(r, layered_overrides({**later, **sim_params(simset, ["results/stamps"])},
                                                             own.get(r)),
                                        source=f"config: simulation.params{f' and member_params.{r}' if r in own else ''} "
                                               f"(recipe {r}, set {simset})")
                       for r in SIM_MEMBERS}
            check_shared(members, "config: simulation.member_params")
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


def _check_network_input():
    """stamps.size must reach the network's input through training.preprocess (else `train` fails late)."""
    import numpy as np

    from lensfinder.learning.models import DEFAULT_INPUT_SIZE
    from lensfinder.learning.preprocessing import resize_stamps

    size, preprocess = config["stamps"]["size"], config["training"]["preprocess"]
    for model in dict.fromkeys(m.model for m in MEMBERS.values()):
        try:
            resize_stamps(np.zeros((0, size, size), np.float32), DEFAULT_INPUT_SIZE[model], preprocess)
        except ValueError as exc:
            raise ValueError(f"config: stamps.size {size}, training.preprocess {preprocess}, model {model}: "
                             f"{exc}; set training.preprocess: crop or a larger stamps.size") from None


_check_network_input()


def _check_init_weights():
    """training.epochs 0 needs training.init_weights; a network to start from must have the search's network,
    bands, preprocess and normalization (its sidecar, read here, so a dry run names what differs)."""
    t = config["training"]
    path = t.get("init_weights")
    if not path:
        if t["epochs"] == 0:
            raise ValueError("config: training.epochs 0 keeps the network given as training.init_weights, "
                             "but init_weights is null; set it or give epochs >= 1")
        return
    from lensfinder.learning.sidecar import settings_mismatch, sidecar_path

    sidecar = sidecar_path(path)
    if not os.path.exists(sidecar):
        return  # the missing input is reported by the plan, naming the file
    try:
        with open(sidecar) as handle:
            theirs = json.load(handle)
    except (OSError, ValueError) as exc:
        raise ValueError(f"config: training.init_weights: {sidecar}: not readable JSON ({exc})") from None
    for name, member in MEMBERS.items():
        mismatch = settings_mismatch(theirs, model=member.model, bands=BANDS, preprocess=t["preprocess"],
                                     normalization=t["normalization"])
        if mismatch:
            key, stored, value = mismatch
            where = {"model": f"training.model (network {name})", "bands": "bands"}.get(key, f"training.{key}")
            raise ValueError(f"config: training.init_weights: {path} holds a network with {key} {stored!r}, "
                             f"but this run's {where} is {value!r}; start from a network with the run's "
                             "settings, or set training.init_weights: null")


_check_init_weights()


def sim_host_files(ext):
    """Host stamps of the semi-real recipes (none for the fully simulated ones): the stamps of the
    searched tiles, never those of the mock survey's evaluation tiles (EVAL_TILES, which also hold
    the domain_shift experiment's held-out tile), so that no evaluation shares a host with training."""
    return expand(P.stamp_cube if ext == "fits" else P.stamp_index, tile=SEARCH_TILES) if SEMI_REAL else []


def sim_psf_tiles():
    """Tile images (every simulated band) for the tile ePSFs of he2020_semireal (lensfinder.simulation.epsf)."""
    if not HE_SEMI_REAL:
        return []
    return expand(P.tile_image, tile=SEARCH_TILES, band=BANDS if SIM_BANDS else DETECTION_BAND)


def sim_psf_catalogs():
    """Tile catalogues that pick the ePSF stars of he2020_semireal."""
    return expand(P.catalog_part, tile=SEARCH_TILES) if HE_SEMI_REAL else []


def recipe_options(recipe, mix, member_params):
    """`--recipe NAME`, or `--mix NAME=WEIGHT ...`; and `--member-set NAME:KEY=VALUE` (values JSON) per
    override of one recipe (member_params)."""
    options = ["--mix", *(f"{name}={weight}" for name, weight in mix.items())] if mix else ["--recipe", recipe]
    options += [f"--member-set {shlex.quote(f'{name}:{key}={json.dumps(value)}')}"
                for name, overrides in member_params.items() if (name in mix if mix else name == recipe)
                for key, value in overrides.items()]  # not those of members of weight 0, which the jobs drop
    return " ".join(options)


def sim_recipe_options(wildcards=None):
    """`--recipe NAME`, or `--mix NAME=WEIGHT ...` for simulation.mix, and simulation.member_params."""
    return recipe_options(RECIPE, SIM_MIX, SIM_MEMBER_PARAMS)


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


def scratch_epochs():
    """Epochs of a network the experiments train from scratch: training.epochs, or, when that is 0 (the search
    keeps training.init_weights as it is), `lensfinder train`'s default."""
    from lensfinder.learning.config import TrainConfig

    return config["training"]["epochs"] or TrainConfig.epochs


def training_options(wildcards=None, scratch=False):
    """Training hyper-parameters from config as `lensfinder train` options (`scratch`: an experiment's own
    network, which never starts from training.init_weights, so never takes its 0 epochs)."""
    t = config["training"]
    epochs = scratch_epochs() if scratch else t["epochs"]
    return (
        f"--epochs {epochs} --batch-size {t['batch_size']} --learning-rate {t['learning_rate']} "
        f"--preprocess {t['preprocess']} --normalization {t['normalization']} "
        f"--class-balance {t['class_balance']} {'--augment' if t['augment'] else '--no-augment'} "
        f"--min-arc-visible-snr {t['min_arc_visible_snr']} "
        f"--lr-schedule {t['lr_schedule']} --ema-momentum {t['ema_momentum']} "
        f"--bands {' '.join(BANDS)}"
    )


def init_weights_files(wildcards=None):
    """The network the search's training starts from (training.init_weights) and its sidecar; [] from scratch.

    The experiments' own networks (domain_shift, PSF, volume) always start from scratch."""
    from lensfinder.learning.sidecar import sidecar_path

    path = config["training"].get("init_weights")
    return [path, str(sidecar_path(path))] if path else []


def init_weights_option(wildcards, input):
    return f"--init-weights {input.init[0]}" if input.init else ""


#: every network of the search, exported (the target export_network)
EXPORTED_NETWORKS = expand(P.network, net=list(MEMBERS))


def _export_clash():
    """training.init_weights when it is one of EXPORTED_NETWORKS (the run keeps or fine-tunes the network it
    would export over), else None."""
    init = config["training"].get("init_weights")
    exported = {os.path.abspath(path) for path in EXPORTED_NETWORKS}
    return init if init and os.path.abspath(init) in exported else None


EXPORT_CLASH = _export_clash()


def exported_networks(wildcards=None):
    """EXPORTED_NETWORKS, or an error when the export would write over training.init_weights."""
    if EXPORT_CLASH:
        raise ValueError(f"export_network: training.init_weights is {EXPORT_CLASH}, the file the export would "
                         "write; export a network this run keeps or fine-tunes elsewhere: `lensfinder "
                         "export-network --model results/models/NET.keras --out OTHER.keras`")
    return EXPORTED_NETWORKS


def network_provenance(wildcards):
    """The `provenance` of an exported network: what made it beyond the training settings its sidecar holds
    (the config files layered over config/config.yaml, the survey, and the training set's simulation)."""
    sim = config["simulation"]
    return json.dumps({
        "exported_by": "snakemake export_network",
        "configfiles": [os.path.relpath(path) for path in workflow.overwrite_configfiles],
        "survey": SURVEY, "preset": PRESET.name, "bands": list(BANDS), "stamp_size": STAMP_SIZE,
        "simulation": {**{key: sim[key] for key in ("recipe", "mix", "params", "member_params")},
                       "train": SIM_SETS["train"]},
    }, sort_keys=True)


def output_dir(wildcards, output):
    """Directory of a rule's first output (for steps that write several files there)."""
    return os.path.dirname(output[0])


def mix_sim_files(ext):
    """Simulated test images mixed blind into the inspection set (to measure inspectors)."""
    return sim_files("test", ext) if config["inspection"]["n_mix_simulated"] > 0 else []


def mix_options(wildcards, input):
    """`--mix-simulated CUBE META` per test shard, and how many to draw."""
    if not input.sim_cubes:
        return ""
    pairs = " ".join(f"--mix-simulated {c} {m}" for c, m in zip(input.sim_cubes, input.sim_meta))
    return f"{pairs} --n-mix {config['inspection']['n_mix_simulated']}"


# ---------------------------------------------------------------- learning from the graders
# Ensembles, calibration and retraining rounds (docs/learning.md; rules in
# infer.smk and rounds.smk). Round 0 is the search above; retraining round
# k >= 1 fine-tunes round k-1's networks on the grades so far and keeps
# round 0's layout under results/rounds/{k}/.

LEARNING = config["learning"]
#: the mock survey's simulated inspectors grade every round's inspection set
SIMULATED_INSPECTORS = SURVEY == "mock" and not config["inspection"]["grades"]


def graded_rounds():
    """How many rounds' inspection sets have grades: all with simulated inspectors, else the files given."""
    if SIMULATED_INSPECTORS:
        return LEARNING["rounds"] + 1
    if not config["inspection"]["grades"]:
        if LEARNING["grades"]:
            raise ValueError("config: learning.grades lists the grades of later rounds, but inspection.grades "
                             "(round 0's) is null; set inspection.grades first")
        return 0
    return 1 + len(LEARNING["grades"])


#: retraining rounds that run: round k trains on the grades of rounds 0 .. k-1
ROUNDS = min(LEARNING["rounds"], graded_rounds())
if ROUNDS < LEARNING["rounds"]:
    from snakemake.logging import logger

    logger.warning(f"learning.rounds is {LEARNING['rounds']}, but {graded_rounds()} round(s) have grades "
                   f"(inspection.grades, learning.grades): running {ROUNDS} retraining round(s)")
#: the round whose inspection set and grades make the ranked list: the last one with grades
RANKED_ROUND = ROUNDS if SIMULATED_INSPECTORS else max(0, min(ROUNDS, graded_rounds() - 1))
#: mock survey: the last learning.eval_tiles tiles are never trained on, only evaluated
EVAL_TILES = TILES[len(TILES) - LEARNING["eval_tiles"]:] if SURVEY == "mock" and ROUNDS and LEARNING["eval_tiles"] else []
if EVAL_TILES and len(EVAL_TILES) >= len(TILES):
    raise ValueError(f"config: learning.eval_tiles is {LEARNING['eval_tiles']}, which leaves none of the "
                     f"{len(TILES)} mock tiles to search and train on; set it below mock.n_tiles")
SEARCH_TILES = [t for t in TILES if t not in EVAL_TILES]


def round_path(path, k):
    """Round ``k``'s file of a round-0 path: results/X -> results/rounds/{k}/X (``k`` may be "{round}")."""
    return path if str(k) == "0" else path.replace(f"{RESULTS}/", f"{RESULTS}/rounds/{k}/", 1)


def round_grades(k):
    """The grades of round ``k``'s inspection set."""
    if k == 0:
        return grades_file()
    return round_path(P.mock_grades, k) if SIMULATED_INSPECTORS else LEARNING["grades"][k - 1]


def member_model(wildcards):
    """Network of an ensemble member (`lensfinder train --model`)."""
    return MEMBERS[wildcards.net].model


def member_seed(wildcards):
    """Training seed of an ensemble member."""
    return MEMBERS[wildcards.net].seed


def parent_model(wildcards):
    """The network a round fine-tunes: the member's model of the round before."""
    k = int(wildcards.round) - 1
    return {"parent": round_path(P.model, k).format(net=wildcards.net),
            "parent_settings": round_path(P.model_settings, k).format(net=wildcards.net)}


def member_test_predictions(k):
    """Every member's scores of the simulated test set in round ``k`` (``k`` may be "{round}")."""
    return expand(round_path(P.test_predictions, k), net=list(MEMBERS), shard=sim_shards("test"), allow_missing=True)


def member_chunk_predictions(k):
    """Input function: every member's table, in round ``k`` (may be "{round}"), of the scoring job that
    holds the tile (combine-scores picks its rows with --shard)."""

    def tables(wildcards):
        k_ = wildcards.round if str(k) == "{round}" else k
        return expand(round_path(P.member_chunk, k_), net=list(MEMBERS), chunk=tile_chunk(wildcards))

    return tables


def finetune_inputs(wildcards):
    """Grades and inspection sets of the rounds before, the search tiles' stamps, simulations to mix in."""
    k = int(wildcards.round)
    return {
        "grades": [round_grades(j) for j in range(k)],
        "known": [round_path(P.known, j) for j in range(k)],
        "indexes": expand(P.stamp_index, tile=SEARCH_TILES),
        "cubes": expand(P.stamp_cube, tile=SEARCH_TILES),
        "sim_cubes": sim_files("train", "fits") if LEARNING["sim_ratio"] > 0 else [],
        "sim_meta": sim_files("train", "parquet") if LEARNING["sim_ratio"] > 0 else [],
    }


def finetune_set_options(wildcards):
    """`lensfinder finetune-set` options from config (seeded per round)."""
    return (f"--scheme {config['inspection']['scheme']} --n-random-negatives {LEARNING['n_random_negatives']} "
            f"--graded-copies {LEARNING['graded_copies']} --sim-ratio {LEARNING['sim_ratio']} "
            f"--seed {config['seed'] + int(wildcards.round)}")


def finetune_options(wildcards):
    """`lensfinder finetune` options from config; the member's seed, moved on per round."""
    return (f"--epochs {LEARNING['epochs']} --learning-rate {LEARNING['learning_rate']} "
            f"{'--freeze-features' if LEARNING['freeze_features'] else '--no-freeze-features'} "
            f"--batch-size {config['training']['batch_size']} "
            f"{'--augment' if config['training']['augment'] else '--no-augment'} "
            f"--seed {member_seed(wildcards) + int(wildcards.round)}")


def rounds_evaluation_inputs(wildcards=None):
    """Each round's combined scores of the evaluation tiles, their stamps and truth, the fine-tuning sets."""
    inputs = {f"round_{k}": expand(round_path(P.predictions, k), net=NET, tile=EVAL_TILES) for k in range(ROUNDS + 1)}
    inputs.update(indexes=expand(P.stamp_index, tile=EVAL_TILES), truth=expand(P.truth, tile=EVAL_TILES),
                  sets=[P.finetune_table.format(round=k) for k in range(1, ROUNDS + 1)])
    return inputs


def rounds_prediction_options(wildcards, input):
    """`--predictions ...` once per round, round 0 first."""
    return " ".join(f"--predictions {' '.join(input[f'round_{k}'])}" for k in range(ROUNDS + 1))


def reliability_tables(wildcards=None):
    """Reliability and calibration-summary tables of every round, in pairs."""
    return [path for k in range(ROUNDS + 1)
            for path in (round_path(P.reliability, k), round_path(P.calibration_summary, k))]


def learning_targets():
    """Calibration, the last round's inspection set and, on the mock survey, the rounds' evaluation."""
    targets = [P.calibration_csv, figure("reliability")]
    if ROUNDS:
        targets.append(round_path(P.manifest_csv, ROUNDS))
    if ROUNDS and EVAL_TILES:
        targets += [P.rounds_csv, figure("rounds")]
    return targets
