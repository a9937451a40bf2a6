# The papers' experiments: validation of the `experiments:` block and the
# helpers that turn it into image sets, subsets, networks and table inputs.
# Helpers only; the rules are in experiments.smk (which includes this file).

import math
import re
import zlib

from lensfinder.experiments.subsets import subset_pieces
from lensfinder.learning.config import HE2020_CASES
from lensfinder.io import InputError
from lensfinder.simulation.recipe_table import RECIPES
from lensfinder.simulation.recipes import PARAMS as RECIPE_PARAMS


config.setdefault("experiments", {})
validate_config(config["experiments"], "experiments.schema.yaml", ["experiments"])

EXP = config["experiments"]
EXP_SIM = EXP["simulation"]
EXP_TRAIN = EXP["training"]
EXP_DIR = "results/experiments"


def _fmt(x):
    """Compact number for file names: 0.4 -> '0.4', 1.0 -> '1' (six significant digits: not for values
    that a step reads back, see _fmt_exact)."""
    return f"{x:g}"


def _fmt_exact(x):
    """A number as command-line text that reads back as the same float: _fmt's where that is exact
    (0.5 -> '0.5', 1.0 -> '1'), else all the digits it takes (0.9999999 -> '0.9999999', not '1')."""
    short = _fmt(x)
    return short if float(short) == float(x) else repr(float(x))


def _check_distinct(values, name, *key):
    """Refuse values of experiments.KEY whose sets or subsets ``name`` gives the same name (the file names and
    labels write six significant digits): one set would be made, and its metrics counted twice or more."""
    named = {}
    for value in values:
        named.setdefault(name(value), []).append(value)
    same = [f"{' and '.join(map(str, v))} name the same {n}" for n, v in named.items() if len(v) > 1]
    if same:
        raise ValueError(f"config: experiments.{'.'.join(key)}: {values}{config_source('experiments', *key)}: "
                         f"{'; '.join(same)}; expected distinct values (to six significant digits)")


_check_distinct(EXP["psf_test"]["factors"], lambda f: f"set psf_x{_fmt(f)}", "psf_test", "factors")
_check_distinct(EXP["volume_test"]["fractions"], lambda f: f"subsets f{_fmt(f)}_r*", "volume_test", "fractions")
if "psf_x1" not in {f"psf_x{_fmt(f)}" for f in EXP["psf_test"]["factors"]}:
    raise ValueError(f"config: experiments.psf_test.factors: {EXP['psf_test']['factors']}"
                     f"{config_source('experiments', 'psf_test', 'factors')}: expected 1.0 among them, the set at "
                     f"reference_fwhm_arcsec ({EXP['psf_test']['reference_fwhm_arcsec']}\") that Fig. 10 normalises "
                     "the others to (He et al. 2020: the median KiDS seeing, 0.65\")")

#: the recipe parameter the PSF test sets to [f, f] (its current name, where psf_key gives a former one)
EXP_PSF_PARAM = next((n for n, p in RECIPE_PARAMS.items() if EXP_SIM["psf_key"] in (n, *p.aliases)), None)
if EXP_PSF_PARAM is None:
    raise ValueError(f"config: experiments.simulation.psf_key: {EXP_SIM['psf_key']!r}"
                     f"{config_source('experiments', 'simulation', 'psf_key')}: expected a parameter of the recipes "
                     "that holds the PSF FWHM range in arcsec, such as psf_fwhm_arcsec")


def _stable_seed(name):
    """A run's seed: the experiments' base seed plus a stable hash of its name."""
    return EXP["seed"] + zlib.crc32(name.encode()) % 1_000_000


#: recipes that paint arcs on the survey's stamps (need the stamps stage); he2020_semireal also builds the
#: tiles' ePSFs from their images and catalogues (He et al. 2020, section 4.2)
SEMI_REAL_RECIPES = ("li2020", "he2020_semireal")


def _stamp_cubes():
    return expand(P.stamp_cube, tile=TILES)


def _true_lenses():
    """The mock survey's truth: its planted lenses are never a semi-real set's hosts or negatives (about one
    LRG stamp in eight is a lens there, against about one in a thousand on the sky; host_exclude)."""
    return expand(P.truth, tile=TILES) if SURVEY == "mock" else []


def _simset(spec, params=None, recipe=None):
    recipe = recipe or EXP_SIM["recipe"]
    if recipe in SEMI_REAL_RECIPES:
        # the hosts fix the grid: the survey's stamp size and pixel scale
        grid = {k: v for k, v in EXP_SIM["params"].items() if k not in ("stamp_size", "pixel_scale_arcsec")}
        own = {"host_stamps": _stamp_cubes(), **({"host_exclude": _true_lenses()} if _true_lenses() else {})}
        if recipe == "he2020_semireal":  # negatives from the LRG sample, disks where the stamps stage cut them
            own.update(he2020_semireal_hosts())
        merged = {**grid, **own, **(params or {})}
    else:
        merged = {**EXP_SIM["params"], **(params or {})}
    return {
        "n_images": spec["n_images"],
        "seed": spec["seed"],
        "recipe": recipe,
        "params": merged,
        "n_shards": subset_pieces(spec["n_images"], EXP_SIM["shard_size"]),
    }


def _experiment_sets():
    """Simulated sets of all experiments: name -> n_images, seed, recipe, params, n_shards."""
    psf, vol, li = EXP["psf_test"], EXP["volume_test"], EXP["li2020_roc"]
    sets = {"fiducial": _simset(EXP["fiducial"]), "volume_parent": _simset(vol["parent"])}
    for k, factor in enumerate(psf["factors"]):
        fwhm = round(factor * psf["reference_fwhm_arcsec"], 6)
        sets[f"psf_x{_fmt(factor)}"] = _simset(
            {"n_images": psf["n_images"], "seed": psf["seed"] + k}, {EXP_SIM["psf_key"]: [fwhm, fwhm]}
        )
    for k, seed in enumerate(vol["validation"]["seeds"]):
        sets[f"volume_val{k + 1}"] = _simset({"n_images": vol["validation"]["n_images"], "seed": seed})
    vs = vol["validation_sizes"]
    for k, size in enumerate(vs["sizes"]):
        sets[f"valsize_{size}"] = _simset({"n_images": size, "seed": vs["seed"] + k})
    r_net = EXP["net_comparison"]["r_net"]
    sets["r_net_train"] = _simset(r_net, r_net["params"], r_net["recipe"])
    sets["li2020_train"] = _simset(li["train"], li["params"], li["recipe"])
    sets["li2020_lenses"] = _simset(li["lenses"], li["params"], li["recipe"])
    return sets


EXP_SETS = _experiment_sets()
_by_seed = {}
for _name, _spec in EXP_SETS.items():
    _by_seed.setdefault(_spec["seed"], []).append(_name)
_shared = {seed: names for seed, names in _by_seed.items() if len(names) > 1}
if _shared:  # the papers' recipes draw image i of shard k from SeedSequence([seed, k, i]), whatever the set
    raise ValueError(f"config: experiments{config_source('experiments')}: " + "; ".join(f"sets {', '.join(n)} are all drawn from seed {s}"
                                                         for s, n in _shared.items())
                     + ": a test or validation set would repeat a training set's images (or their noise); give "
                     "each set its own seed (fiducial.seed, psf_test.seed + k, volume_test.parent.seed, "
                     "volume_test.validation.seeds, volume_test.validation_sizes.seed + k, net_comparison.r_net.seed, "
                     "li2020_roc.train.seed and lenses.seed)")
#: sets made by a step other than `simulate` (one shard each)
EXP_DERIVED_SETS = {"li2020_test": {"n_shards": 1}}
EXP_SIM_SET_PATTERN = "|".join(re.escape(name) for name in EXP_SETS)


def exp_set_shards(eset):
    n = (EXP_SETS.get(eset) or EXP_DERIVED_SETS[eset])["n_shards"]
    return [f"{k:03d}" for k in range(n)]


def exp_set_files(eset, ext):
    return [f"{EXP_DIR}/sets/{eset}/shard_{s}.{ext}" for s in exp_set_shards(eset)]


def _epsf_files(eset):
    """he2020_semireal's tile images and catalogue parts, for the tiles' ePSFs."""
    return epsf_inputs(TILES) if EXP_SETS[eset]["recipe"] == "he2020_semireal" else ([], [])


def exp_sim_input(wildcards):
    """Semi-real sets need the survey's stamps (cubes and indexes), the truth of the mock survey and, for
    he2020_semireal, the tiles and catalogues of the ePSFs; simulated ones nothing."""
    if EXP_SETS[wildcards.eset]["recipe"] not in SEMI_REAL_RECIPES:
        return []
    tiles, catalogs = _epsf_files(wildcards.eset)
    return _stamp_cubes() + [f.replace(".fits", ".parquet") for f in _stamp_cubes()] + _true_lenses() + tiles + catalogs


def exp_sim_n(wildcards):
    """Images in one shard of a set, split as evenly as possible."""
    spec = EXP_SETS[wildcards.eset]
    n, k, shard = spec["n_images"], spec["n_shards"], int(wildcards.shard)
    return n // k + (1 if shard < n % k else 0)


def exp_sim_seed(wildcards):
    return EXP_SETS[wildcards.eset]["seed"]


def exp_sim_recipe(wildcards):
    return EXP_SETS[wildcards.eset]["recipe"]


def exp_sim_options(wildcards):
    options = set_options(EXP_SETS[wildcards.eset]["params"])
    tiles, catalogs = _epsf_files(wildcards.eset)
    if tiles:
        options += f" --psf-tiles {' '.join(tiles)} --psf-catalogs {' '.join(catalogs)}"
    return options


def exp_sim_dir(wildcards):
    return f"{EXP_DIR}/sets/{wildcards.eset}"


# --- subsets of the parent set (volume and Sersic tests) --------------------


def _volume_subsets():
    vol = EXP["volume_test"]
    return {
        f"f{_fmt(f)}_r{r}": {"n": int(round(f * vol["parent"]["n_images"])), "distribution": "flat"}
        for f in vol["fractions"]
        for r in range(vol["repeats"])
    }


def _sersic_subsets():
    ser = EXP["sersic_test"]
    return {
        f"{d}_r{r}": {"n": ser["n_images"], "distribution": d} for d in ser["distributions"] for r in range(ser["n_sets"])
    }


EXP_SUBSETS = {"volume_test": _volume_subsets(), "sersic_test": _sersic_subsets()}


def exp_subset_spec(wildcards):
    return EXP_SUBSETS[wildcards.exp][wildcards.subset]


def exp_subset_n(wildcards):
    return exp_subset_spec(wildcards)["n"]


def exp_subset_seed(wildcards):
    return _stable_seed(f"{wildcards.exp}/subset/{wildcards.subset}")


def exp_subset_distribution(wildcards):
    return exp_subset_spec(wildcards)["distribution"]


def exp_subset_n_shards(wildcards):
    return subset_pieces(exp_subset_spec(wildcards)["n"], EXP_SIM["shard_size"])


# --- networks ---------------------------------------------------------------


def _he_options(case):
    """`lensfinder train` options of a He et al. case, epochs and learning rate scaled by config."""
    t = EXP_TRAIN
    epochs = max(1, round(HE2020_CASES[case]["epochs"] * t["epoch_scale"]))
    learning_rate = HE2020_CASES[case]["learning_rate"] * t["learning_rate_scale"]
    return (
        f"--model {t['model']} --preset {case} --epochs {epochs} --learning-rate {learning_rate:.6g} "
        f"--preprocess {t['preprocess']} "
        f"--normalization {t['normalization']} --class-balance {t['class_balance']} "
        f"{'--augment' if t['augment'] else '--no-augment'} --val-fraction {t['val_fraction']} "
        "--colour-residual none"  # the papers' networks: their bands as they are
    )


def _li_options():
    li, t = EXP["li2020_roc"], EXP_TRAIN
    return (
        f"--model {li['model']} --epochs {li['epochs']} --batch-size {li['batch_size']} "
        f"--learning-rate {li['learning_rate']} --normalization {li['normalization']} "
        f"--preprocess {t['preprocess']} --class-balance {t['class_balance']} --augment "
        f"--val-fraction {t['val_fraction']} --colour-residual none"
    )


def volume_cases():
    """Cases trained in the volume test (the Fig. 13 case included)."""
    vol = EXP["volume_test"]
    return sorted(set(vol["cases"]) | {vol["validation_sizes"]["case"]})


def _experiment_models():
    """(experiment, network) -> training inputs and options."""
    case = EXP_TRAIN["preset"]
    models = {
        ("fiducial", "s_net"): {"input": exp_set_files("fiducial", "fits"), "options": _he_options(case)},
        ("net_comparison", "r_net"): {"input": exp_set_files("r_net_train", "fits"), "options": _he_options(case)},
        ("li2020_roc", "li2020"): {"input": exp_set_files("li2020_train", "fits"), "options": _li_options()},
    }
    for c in volume_cases():
        for subset in EXP_SUBSETS["volume_test"]:
            models[("volume_test", f"{c}_{subset}")] = {
                "input": [f"{EXP_DIR}/volume_test/subsets/{subset}"],
                "options": _he_options(c),
            }
    for subset in EXP_SUBSETS["sersic_test"]:
        models[("sersic_test", subset)] = {
            "input": [f"{EXP_DIR}/sersic_test/subsets/{subset}"],
            "options": _he_options(case),
        }
    return models


EXP_MODELS = _experiment_models()
EXP_MODEL_PATTERN = "|".join(re.escape(m) for _, m in EXP_MODELS)


def exp_train_input(wildcards):
    return EXP_MODELS[(wildcards.exp, wildcards.model)]["input"]


def exp_train_options(wildcards):
    return EXP_MODELS[(wildcards.exp, wildcards.model)]["options"]


def exp_train_seed(wildcards):
    return _stable_seed(f"{wildcards.exp}/model/{wildcards.model}")


def exp_model_file(exp, model):
    return f"{EXP_DIR}/{exp}/models/{model}.keras"


# --- scores and metrics -----------------------------------------------------


def exp_score_files(wildcards):
    return expand(
        "{d}/{exp}/scores/{model}/{eset}/shard_{shard}.parquet",
        d=EXP_DIR,
        exp=wildcards.exp,
        model=wildcards.model,
        eset=wildcards.eset,
        shard=exp_set_shards(wildcards.eset),
    )


def exp_label_files(wildcards):
    return exp_set_files(wildcards.eset, "parquet")


def exp_eval_thresholds(wildcards):
    """Thresholds at which an experiment's networks are measured."""
    vol = EXP["volume_test"]
    thresholds = {
        "fiducial": EXP["psf_test"]["thresholds"],
        "volume_test": [vol["threshold"], *vol["validation_sizes"]["thresholds"]],
        "li2020_roc": EXP["li2020_roc"]["thresholds"],
    }.get(wildcards.exp, [0.5])
    return " ".join(_fmt_exact(t) for t in sorted(set(thresholds)))


def exp_metrics(exp, model, eset):
    return f"{EXP_DIR}/{exp}/metrics/{model}/{eset}.parquet"


def exp_survey_scores(exp, model):
    return [f"{EXP_DIR}/{exp}/survey/{model}/{tile}.parquet" for tile in TILES]


def exp_truth(wildcards=None):
    """Mock-survey truth (true lenses stand in for the papers' inspected candidates); none for KiDS."""
    return truth_files() if SURVEY == "mock" else []


def _options(flag, values):
    return f"{flag} {' '.join(values)}" if values else ""


def exp_truth_option(wildcards=None):
    return _options("--truth", exp_truth())


# --- per-experiment table inputs -------------------------------------------


def psf_metrics():
    return [exp_metrics("fiducial", "s_net", f"psf_x{_fmt(f)}") for f in EXP["psf_test"]["factors"]]


def psf_labels():
    return " ".join(f"psf_factor={_fmt(f)}" for f in EXP["psf_test"]["factors"])


def _fiducial_value(key):
    """A recipe parameter of the fiducial training set, as `simulate` reads it: its override in
    experiments.simulation.params (under the parameter's name or a former one), else the recipe's value,
    else the declared default."""
    spec = EXP_SETS["fiducial"]
    given = [v for k, v in spec["params"].items() if k in (key, *RECIPE_PARAMS[key].aliases)]
    value = given[-1] if given else RECIPES[spec["recipe"]].get(key, RECIPE_PARAMS[key].default)
    try:
        return RECIPE_PARAMS[key].checked(key, value, "config: experiments.simulation.params")
    except InputError as exc:
        raise ValueError(f"{exc}{config_source('experiments', 'simulation', 'params')}") from None


def _psf_test_training():
    """The fiducial network's training PSF FWHM and grid, as the PSF test's captions give them."""
    if EXP_SETS["fiducial"]["recipe"] in SEMI_REAL_RECIPES:  # arcs painted on survey stamps, in their seeing
        grid = '{:g}"/px {}x{}'.format(PRESET.pixel_scale_arcsec, STAMP_SIZE, STAMP_SIZE)
        return {"psf": "the host stamps' seeing", "grid": f"the survey stamps' {grid}"}
    fwhm = _fiducial_value(EXP_PSF_PARAM)
    low, high = fwhm if isinstance(fwhm, tuple) else (fwhm, fwhm)
    size, scale = _fiducial_value("stamp_size"), _fiducial_value("pixel_scale_arcsec")
    whose = "the survey's" if size == STAMP_SIZE and math.isclose(scale, PRESET.pixel_scale_arcsec) else "a"
    return {"psf": f'{low:g}"' if low == high else f'U({low:g}", {high:g}")',
            "grid": f"{whose} " + '{:g}"/px {}x{}'.format(scale, size, size)}


#: the psf_test captions' training PSF and grid of the fiducial network (params of its table and figure)
PSF_TEST_TRAINING = _psf_test_training()


def _volume_runs():
    vol = EXP["volume_test"]
    for c in vol["cases"]:
        for f in vol["fractions"]:
            for r in range(vol["repeats"]):
                for k in range(len(vol["validation"]["seeds"])):
                    yield c, f, r, k + 1


def volume_metrics():
    return [exp_metrics("volume_test", f"{c}_f{_fmt(f)}_r{r}", f"volume_val{k}") for c, f, r, k in _volume_runs()]


def volume_labels():
    return " ".join(f"case={c},fraction={_fmt(f)},repeat={r},validation={k}" for c, f, r, k in _volume_runs())


def _valsize_runs():
    vol = EXP["volume_test"]
    c = vol["validation_sizes"]["case"]
    for size in vol["validation_sizes"]["sizes"]:
        for f in vol["fractions"]:
            for r in range(vol["repeats"]):
                yield c, size, f, r


def valsize_metrics():
    return [exp_metrics("volume_test", f"{c}_f{_fmt(f)}_r{r}", f"valsize_{s}") for c, s, f, r in _valsize_runs()]


def valsize_labels():
    return " ".join(f"validation_size={s},fraction={_fmt(f)},repeat={r}" for c, s, f, r in _valsize_runs())


def valsize_thresholds():
    """Fig. 13's thresholds: its metrics files also hold volume_test.threshold (exp_eval_thresholds)."""
    return " ".join(_fmt_exact(t) for t in sorted(set(EXP["volume_test"]["validation_sizes"]["thresholds"])))


def sersic_predictions():
    files = exp_survey_scores("fiducial", "s_net")
    for subset in EXP_SUBSETS["sersic_test"]:
        files += exp_survey_scores("sersic_test", subset)
    return files


def sersic_labels():
    labels = ["network=fiducial"] * len(TILES)
    for subset in EXP_SUBSETS["sersic_test"]:
        dist, rep = subset.rsplit("_r", 1)
        labels += [f"network={subset},distribution={dist},repeat={rep}"] * len(TILES)
    return " ".join(labels)


def net_predictions():
    return exp_survey_scores("fiducial", "s_net") + exp_survey_scores("net_comparison", "r_net")


def net_labels():
    return " ".join(["network=s_net"] * len(TILES) + ["network=r_net"] * len(TILES))


def net_refined_option():
    value = EXP["net_comparison"]["refined_max_masked_fraction"]
    return "" if value is None else f"--refined-max-masked-fraction {value}"


def entropy_max_images():
    """Images per fiducial shard so that all shards together give entropy.n_images."""
    return math.ceil(EXP["entropy"]["n_images"] / EXP_SETS["fiducial"]["n_shards"])


def li_sample_thresholds():
    return " ".join(f"{s}={t}" for s, t in EXP["li2020_roc"]["survey_thresholds"].items())


def exp_required_samples():
    """Stamp sample flags the experiments read; they must be preselected."""
    nc, li = EXP["net_comparison"], EXP["li2020_roc"]
    return {EXP["sersic_test"]["sample"], nc["full_sample"], nc["refined_sample"], li["sample"], *li["survey_thresholds"]}


_missing = sorted(exp_required_samples() - set(config["preselection"]["samples"]))
if _missing:
    raise ValueError(
        f"config: experiments use the sample flag(s) {', '.join(_missing)}, which preselection.samples "
        f"({', '.join(config['preselection']['samples'])}) does not produce; add them there or change "
        "experiments.sersic_test.sample / net_comparison.*_sample / li2020_roc.sample"
    )


def experiment_targets(name):
    """Files a named experiment target leaves in results/experiments/."""
    d = EXP_DIR
    targets = {
        "psf_test": [f"{d}/psf_test/tables/psf_test.csv", f"{d}/psf_test/figures/fig10_psf.png"],
        "volume_test": [
            f"{d}/volume_test/tables/points.csv",
            f"{d}/volume_test/tables/table5.csv",
            f"{d}/volume_test/tables/valsize.csv",
            f"{d}/volume_test/figures/fig11_fig12_volume.png",
            f"{d}/volume_test/figures/table5.png",
            f"{d}/volume_test/figures/fig13_valsize.png",
        ],
        "sersic_test": [
            f"{d}/sersic_test/tables/nets.csv",
            f"{d}/sersic_test/tables/table4.csv",
            f"{d}/sersic_test/figures/table4.png",
        ],
        "entropy": [f"{d}/entropy/tables/entropy.csv", f"{d}/entropy/figures/entropy.png"],
        "net_comparison": [
            f"{d}/net_comparison/tables/table3.csv",
            f"{d}/net_comparison/tables/overlaps.csv",
            f"{d}/net_comparison/figures/table3.png",
        ],
        "li2020_roc": [
            f"{d}/li2020_roc/tables/roc_points.csv",
            f"{d}/li2020_roc/tables/pcnn_hist.csv",
            f"{d}/li2020_roc/tables/survey_counts.csv",
            f"{d}/li2020_roc/figures/fig2_roc.png",
        ],
        # independent validation: paths named in domain_shift_common.smk (DSP)
        "domain_shift": [f"{d}/domain_shift/tables/summary.csv", f"{d}/domain_shift/figures/domain_shift.png"],
    }
    if name == "all":
        return [f for files in targets.values() for f in files] + [f"{d}/paper_reference.csv"]
    return targets[name]
