# Configuration validation, bands, paths (paths.smk, included below), the survey's tiles, target
# functions and wildcard constraints. Helpers only: the rules live in the per-stage files. The
# helpers of the simulated sets, of training and of learning from the graders are in
# simulation_common.smk, training_common.smk and rounds_common.smk, which the Snakefile includes
# after this file.

import json
import os
import re
import shlex
import sys
from types import SimpleNamespace

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate


def _config_files():
    """The configuration files, lowest precedence first: the Snakefile's, then each --configfile."""
    cli_files = [os.path.abspath(path) for path in workflow.config_settings.configfiles]
    return [path for path in workflow.configfiles if os.path.abspath(path) not in cli_files] + cli_files


def validate_config(block, schema, prefix=()):
    """The schema's check and defaults for ``block`` (at ``prefix`` in the config; ``schema`` in
    workflow/schemas/): a failing block stops the run with one line naming the key and its file."""
    schema_path = os.path.join(workflow.basedir, "workflow", "schemas", schema)
    try:
        validate(block, schema=schema_path)
    except WorkflowError:
        from lensfinder.configcheck import schema_problem

        problem = schema_problem(block, schema_path, _config_files(), dict(workflow.config_settings.config), prefix)
        if problem is None:
            raise
        raise ValueError(problem) from None


validate_config(config, "config.schema.yaml")


def config_source(*path) -> str:
    """`` (set in FILE)`` for the key at ``path`` (``--config`` or the last configuration file that sets it),
    for the checks after the schema's; empty where no file sets it (a default)."""
    from lensfinder.configcheck import setting_source

    source = setting_source(list(path), _config_files(), dict(workflow.config_settings.config))
    return f" (set in {source})" if source else ""


if config["ranking"]["golden"] < config["ranking"]["high"]:  # no candidate could then be "high"
    raise ValueError(f"config: ranking.golden {config['ranking']['golden']} is below ranking.high "
                     f"{config['ranking']['high']}{config_source('ranking', 'golden')}; expected golden >= high "
                     "(Li et al. 2020: 0.7 and 0.5)")


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
if STAMP_SIZE % 2 == 0:  # cut_stamps puts the object on pixel size // 2, the simulations on (size - 1) / 2
    raise ValueError(f"config: stamps.size: {STAMP_SIZE}{config_source('stamps', 'size')}: expected an odd number "
                     "of pixels, so that the object sits on the centre pixel of survey stamps and simulations alike "
                     "(Li et al. 2020: 101; He et al. 2020: 97)")

# Every file the workflow reads or writes, named once: P (paths.smk; it uses PRESET, BANDS and
# REFERENCE_BAND above).
include: "paths.smk"


SURVEY = config["survey"]
TILES_FROM_ARCHIVE = False
from lensfinder.learning.chunks import scoring_chunks
from lensfinder.learning.ensemble import ensemble_members

try:  # inference.ensemble: networks (model, seed) trained and scored side by side
    MEMBERS = {m.name: m for m in ensemble_members(
        config["inference"]["ensemble"], config["training"]["model"], config["seed"])}
except ValueError as exc:
    raise ValueError(str(exc)) from None
#: the first member keeps the single network's name and paths; it names the ensemble
NET = next(iter(MEMBERS))
SIM_SETS = config["simulation"]["sets"]
for _member in MEMBERS.values():
    if _member.train_set not in SIM_SETS:
        raise ValueError(f"config: inference.ensemble: {_member.name} trains on set {_member.train_set!r}, which "
                         f"simulation.sets lacks (it has {', '.join(SIM_SETS)}); add it, e.g. "
                         f"{_member.train_set}: {{n_images: 12000, n_shards: 2, seed: 3, member_params: ...}}")
#: training.soup: each network of the search, once trained, fine-tuned on another set (training.soup.copies
#: copies) and averaged with its copies (train.smk); None: off
SOUP = config["training"]["soup"] if config["training"]["soup"].get("train_set") else None
if SOUP and SOUP["train_set"] in SIM_SETS:
    # a soup set made for other recipes (the built-in default's neighbours are broad's) cannot be drawn by this
    # run's: the paper recipes, selected alone, train as the papers did, without averaging
    _run_recipes = config["simulation"]["mix"] or {config["simulation"]["recipe"]: 1}
    _foreign = [r for r in SIM_SETS[SOUP["train_set"]].get("member_params") or {} if r not in _run_recipes]
    if _foreign:
        logger.warning(f"training.soup: off in this run: its set {SOUP['train_set']!r} holds overrides of "
                       f"{', '.join(_foreign)}, which this run does not simulate (recipes: {', '.join(_run_recipes)}); "
                       "the network is kept as trained. Give training.soup.train_set a set for this run's recipes "
                       "to average, or null to silence this.")
        SOUP = None
if SOUP:
    _soup_set, _soup_key = SOUP["train_set"], "config: training.soup.train_set"
    if _soup_set not in SIM_SETS or _soup_set == "test":
        raise ValueError(f"{_soup_key}: {_soup_set!r} is not a set networks can learn from (simulation.sets has "
                         f"{', '.join(s for s in SIM_SETS if s != 'test')} besides test); add it, or set "
                         "training.soup.train_set: null to keep each network as trained")
    for _member in MEMBERS.values():
        if _member.train_set == _soup_set:
            raise ValueError(f"{_soup_key}: network {_member.name} trains on set {_soup_set!r} already; fine-tune "
                             "on another set, or set training.soup.train_set: null")
    if config["training"]["epochs"] == 0:
        raise ValueError(f"{_soup_key}: training.epochs 0 keeps the network given as it is, and training.soup would "
                         "change it; set training.soup.train_set: null")


def member_train_sets(name):
    """The simulated sets network `name` learns from: its train_set, and training.soup's set."""
    return list(dict.fromkeys([MEMBERS[name].train_set, *([SOUP["train_set"]] if SOUP else [])]))


#: the simulated sets the search's networks learn from (each member's train_set, training.soup's set), once each,
#: the first member's first
MEMBER_SETS = list(dict.fromkeys(s for name in MEMBERS for s in member_train_sets(name)))
#: the simulated sets networks train on: `train` (the rounds' simulations too), and MEMBER_SETS
TRAIN_SETS = list(dict.fromkeys(["train", *MEMBER_SETS]))

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


#: the survey's scoring jobs of every round (the infer and rescore rules), about inference.tiles_per_job
#: tiles each, so that TensorFlow starts and the networks load once per job rather than once per tile; each
#: named by its first tile. The chunks are cut where the tiles' names hash to a cut (lensfinder.learning.chunks),
#: not by position in the list: a tile added or removed anywhere changes its own job's tiles alone, and the
#: other jobs' scores stand
INFER_CHUNKS = scoring_chunks(TILES, config["inference"]["tiles_per_job"])
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


#: the file of tile names that `lensfinder STEP --tiles-from` reads: the list_tiles checkpoint's table when the
#: archive lists the tiles, else the names of kids.tiles (or the mock survey's, legacy.fields) one per line
TILE_NAMES = P.tile_list if TILES_FROM_ARCHIVE else P.tile_names


def _but_tile(wildcards, fixed):
    """A job's wildcards but ``{tile}``, with ``fixed`` laid over them: what fills a per-tile pattern's other
    placeholders (e.g. ``{net}``, ``{round}``)."""
    return {**{k: v for k, v in wildcards.items() if k != "tile"}, **fixed}


def tile_pattern(pattern, **fixed):
    """Params function: ``pattern`` with its placeholders but ``{tile}`` filled (:func:`_but_tile`): one
    argument that `lensfinder STEP --tiles-from TILE_NAMES` expands to the file of every tile (a DR4
    search's lists of files, 1006 per option, would pass Linux's 128 KiB limit on one command)."""
    return lambda wildcards: expand(pattern, allow_missing=True, **_but_tile(wildcards, fixed))[0]


def tile_files(pattern, **fixed):
    """Input function: ``pattern`` over every survey tile (known after list_tiles when the archive lists them);
    its other placeholders filled as :func:`_but_tile` fills them."""
    return lambda wildcards: expand(pattern, tile=survey_tiles(), **_but_tile(wildcards, fixed))


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
# Every sample that gets stamps and scores needs its candidate threshold: without one its galaxies
# could never become candidates, and the candidates step would fall back to the li2020 samples' own.
_unthresholded = [s for s in config["preselection"]["samples"] if s not in config["inference"]["thresholds"]]
if _unthresholded:
    raise ValueError(
        f"config: inference.thresholds has no p_CNN threshold for preselection.samples {_unthresholded}; "
        f"expected e.g. inference: {{thresholds: {{{_unthresholded[0]}: 0.9}}}} (Li et al. 2020: lrg 0.75, "
        f"bg 0.98; He et al. 2020: 0.999999 with simulated training, 0.5 semi-real)"
    )

def check_grades_file(path, key, what="your grades CSV (object_id,inspector,grade)"):
    """Stop when the workflow is parsed if the grades file at config ``key`` is missing or merge_scores would
    refuse it (its header, its grades): a grades file without a producer would let an old ranked list stand
    ("Nothing to be done"), and a bad one would fail only after the search."""
    from lensfinder.inspection.grades import read_grades
    from lensfinder.io import InputError

    if not os.path.isfile(path):
        raise ValueError(f"config: {key}: {path}: file not found (relative paths are from the working directory "
                         f"{os.getcwd()}); expected {what}")
    try:
        if read_grades(path, config["inspection"]["scheme"]).empty:
            raise InputError(f"{path}: no grades (header only)")
    except InputError as exc:
        raise ValueError(f"config: {key}: {exc}") from None


if config["inspection"]["grades"]:
    check_grades_file(config["inspection"]["grades"], "inspection.grades")

TILE_PATTERN = (r"KIDS_\d{1,3}(?:\.\d+)?_-?\d{1,2}(?:\.\d+)?" if TILES_FROM_ARCHIVE
                else ("|".join(map(re.escape, TILES)) or "NO_TILES"))  # the names' dots are dots

wildcard_constraints:
    tile=TILE_PATTERN,
    simset="|".join(SIM_SETS),
    shard=r"\d{3}",
    chunk=TILE_PATTERN,  # a scoring job is named by its first tile
    net="|".join(MEMBERS),
    round=r"[1-9]\d*",
    soup_copy=r"[1-9]\d*",
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
        # remakes it (from the training's checkpoints when they hold every
        # epoch of the same settings and data: the same weights) and reruns
        # what depends on it; delete results/models/{net}_checkpoints/ too to train afresh
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


def output_dir(wildcards, output):
    """Directory of a rule's first output (for steps that write several files there)."""
    return os.path.dirname(output[0])


def mix_sim_files(ext):
    """Simulated test images mixed blind into the inspection set (to measure inspectors)."""
    return sim_files("test", ext) if config["inspection"]["n_mix_simulated"] > 0 else []


def mix_options(wildcards, input):
    """`--mix-simulated CUBE META` per test shard (how many to draw: the rule's own `n_mix` param, a
    plain value, so that changing it reruns the step; a function of `input` is not recorded)."""
    return " ".join(f"--mix-simulated {c} {m}" for c, m in zip(input.sim_cubes, input.sim_meta))
