# Configuration validation, target functions and wildcard constraints.
# Helpers only: the rules live in the per-stage files.

import json
import os
import shlex
from types import SimpleNamespace

from snakemake.utils import validate


validate(config, schema="../schemas/config.schema.yaml")

# Every file the workflow reads or writes, named once (wildcards in braces).
# Rules, target functions and the experiments use these names; logs and
# benchmarks are named in their own rule.
RESULTS = "results"
P = SimpleNamespace(
    # survey (mock-survey, download-catalog, download-tile, download-legacy-field, merge-catalog)
    tile_image=f"{RESULTS}/survey/tiles/{{tile}}.fits",
    tile_weight=f"{RESULTS}/survey/tiles/{{tile}}.weight.fits",
    tile_mask=f"{RESULTS}/survey/tiles/{{tile}}.mask.fits",
    catalog_part=f"{RESULTS}/survey/catalog/{{tile}}.parquet",
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
    predictions=f"{RESULTS}/predictions/{{net}}/{{tile}}.parquet",
    collected=f"{RESULTS}/predictions/{{net}}.parquet",
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
    mosaic=f"{RESULTS}/inspect/mosaic.png",
    mock_grades=f"{RESULTS}/inspect/grades.csv",
    crossmatch=f"{RESULTS}/candidates/crossmatch.parquet",
    ranked=f"{RESULTS}/candidates/ranked.parquet",
    ranked_csv=f"{RESULTS}/candidates/ranked.csv",
    ranked_tex=f"{RESULTS}/candidates/ranked.tex",
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
NET = config["training"]["model"]
SIM_SETS = config["simulation"]["sets"]

if SURVEY == "mock":
    TILES = [f"MOCK_{i}" for i in range(config["mock"]["n_tiles"])]
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
    TILES = list(config["kids"]["tiles"])
    if not TILES:
        raise ValueError(
            f"config: kids.tiles is empty; survey '{SURVEY}' needs a list of KiDS tile "
            "names, e.g. kids: {tiles: [KIDS_5.6_-28.2]}"
        )

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

wildcard_constraints:
    tile="|".join(TILES) if TILES else "NO_TILES",
    simset="|".join(SIM_SETS),
    shard=r"\d{3}",
    net="he2020|resnet18",


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


def truth_files(wildcards=None):
    return expand(P.truth, tile=TILES)


def has_grades():
    return bool(config["inspection"]["grades"]) or SURVEY == "mock"


def all_targets():
    """Everything a default run leaves in results/."""
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
            figure("pcnn_vs_phuman"),
            figure("top_candidates"),
            figure("score_histogram"),
        ]
    return targets


def legacy_field_options(wildcards):
    """`--ra --dec --size-pix` of one Legacy Surveys field."""
    field = LEGACY_FIELDS[wildcards.tile]
    return f"--ra {field['ra']!r} --dec {field['dec']!r} --size-pix {field['size_pix']}"


def tile_index(wildcards):
    """Position of a tile in the survey's tile list (the mock survey's layout)."""
    return TILES.index(wildcards.tile)


RECIPE = config["simulation"]["recipe"]
#: recipes that paint arcs on the survey's own stamps (Li et al. 2020, section 2.2; He et al. 2020, section 4.2)
SEMI_REAL = RECIPE in ("li2020", "he2020_semireal")
#: the LRG sample of the release: the hosts (and negatives) of the semi-real recipes
HOST_SAMPLE = next((s for s in config["preselection"]["samples"] if s.startswith("lrg_")),
                   {"dr4": "lrg_li2020", "dr3": "lrg_he2020"}[RELEASE])
#: samples whose galaxies get stamps: the configured ones, plus the LRG hosts and the
#: disk stand-in (preselect's disk_blue) that he2020_semireal draws its negatives from
STAMP_SAMPLES = list(config["preselection"]["samples"])
if RECIPE == "he2020_semireal":
    STAMP_SAMPLES += [s for s in (HOST_SAMPLE, "disk_blue") if s not in STAMP_SAMPLES]


def sim_host_files(ext):
    """Host stamps of the semi-real recipes (none for the fully simulated ones)."""
    return expand(P.stamp_cube if ext == "fits" else P.stamp_index, tile=TILES) if SEMI_REAL else []


def sim_psf_tiles():
    """Tile images for the tile ePSFs of he2020_semireal (lensfinder.simulation.epsf)."""
    return expand(P.tile_image, tile=TILES) if RECIPE == "he2020_semireal" else []


def sim_psf_catalogs():
    """Tile catalogues that pick the ePSF stars of he2020_semireal."""
    return expand(P.catalog_part, tile=TILES) if RECIPE == "he2020_semireal" else []


def sim_psf_options(wildcards, input):
    """`--psf-tiles ... --psf-catalogs ...` when the recipe builds tile ePSFs."""
    if not input.psf_tiles:
        return ""
    return f"--psf-tiles {' '.join(input.psf_tiles)} --psf-catalogs {' '.join(input.psf_catalogs)}"


def sim_overrides():
    """Recipe overrides from config; semi-real recipes also get the survey's stamp cubes as hosts.

    he2020_semireal: arcs on the release's LRGs, negatives from the LRGs (He et
    al.: 3,037 LRGs, irregular ones included) and, for ``disk_fraction`` of
    them, from the disk_blue galaxies.
    """
    params = dict(config["simulation"]["params"])
    if SEMI_REAL:
        params.setdefault("host_stamps", sim_host_files("fits"))
        params.setdefault("host_flag", HOST_SAMPLE)
    if RECIPE == "he2020_semireal":
        params.setdefault("negative_flag", HOST_SAMPLE)
        params.setdefault("disk_flag", "disk_blue")
    return set_options(params)


def sim_dir(wildcards):
    """Directory of one simulated set's shards."""
    return os.path.dirname(sim_path(P.sim_cube, wildcards.simset))


def training_options(wildcards=None):
    """Training hyper-parameters from config as `lensfinder train` options."""
    t = config["training"]
    return (
        f"--epochs {t['epochs']} --batch-size {t['batch_size']} --learning-rate {t['learning_rate']} "
        f"--preprocess {t['preprocess']} --normalization {t['normalization']} "
        f"--class-balance {t['class_balance']} {'--augment' if t['augment'] else '--no-augment'}"
    )


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
