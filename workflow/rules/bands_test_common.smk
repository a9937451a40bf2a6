# The bands_test experiment (one band against several): its paths and the helpers that turn
# `experiments.bands_test` into image sets, networks and table inputs. Helpers only; the rules
# are in bands_test.smk (which includes this file, after experiments_common.smk and, for the
# independent set, domain_shift_common.smk).

from lensfinder.experiments.bands import band_label
from lensfinder.learning.models import DEFAULT_INPUT_SIZE
from lensfinder.surveys.presets import get_preset, stamp_size_pix

BT = EXP["bands_test"]
BT_DIR = f"{EXP_DIR}/bands_test"
#: every path of the experiment, named once (wildcards: btset, btnet, shard)
BTP = SimpleNamespace(
    cube=f"{BT_DIR}/sets/{{btset}}/shard_{{shard}}.fits",
    meta=f"{BT_DIR}/sets/{{btset}}/shard_{{shard}}.parquet",
    model=f"{BT_DIR}/models/{{btnet}}.keras",
    settings=f"{BT_DIR}/models/{{btnet}}.json",
    history=f"{BT_DIR}/models/{{btnet}}.history.csv",
    checkpoints=f"{BT_DIR}/models/{{btnet}}_checkpoints",
    scores=f"{BT_DIR}/scores/{{btnet}}/{{btset}}/shard_{{shard}}.parquet",
    metrics=f"{BT_DIR}/tables/metrics.parquet",
    metrics_csv=f"{BT_DIR}/tables/metrics.csv",
    gain=f"{BT_DIR}/tables/colour_gain.parquet",
    gain_csv=f"{BT_DIR}/tables/colour_gain.csv",
    figure=f"{BT_DIR}/figures/bands_test.png",
    logs=f"{BT_DIR}/logs",
    benchmarks=f"{BT_DIR}/benchmarks",
)
#: the domain_shift independent set, scored by the kids networks when bands_test.independent is on
BT_INDEPENDENT = "independent"


def _bt_presets():
    """Per preset: its band sets (the detection band alone, and the colour bands), grid and sets."""
    presets = {}
    for k, name in enumerate(BT["presets"]):
        preset = get_preset(name)
        colour = tuple(BT["euclid_bands"]) if name == "euclid" else preset.bands
        if len(colour) < 2:
            raise ValueError(f"config: experiments.bands_test.presets: {name} has one band ({colour[0]}); "
                             "nothing to compare")
        size = stamp_size_pix(preset)
        presets[name] = {
            "band_sets": [(preset.detection_band,), colour],
            "size": size,
            # he2020 takes 49x49: bin2 needs 98 pixels; smaller stamps are cropped instead (no preset's are:
            # KiDS, DES and LSST have 101, HSC 119, Euclid 201; stamp_size_pix)
            "preprocess": "bin2" if size >= 2 * DEFAULT_INPUT_SIZE[BT["model"]] else "crop",
            "sim_params": {"preset": name, "bands": list(colour), "stamp_size": size,
                           "pixel_scale_arcsec": preset.pixel_scale_arcsec, **BT["params"]},
            "sets": {split: {"n_images": BT[split]["n_images"], "seed": BT[split]["seed"] + k,
                             "n_shards": subset_pieces(BT[split]["n_images"], EXP_SIM["shard_size"])}
                     for split in ("train", "test")},
        }
    return presets


BT_PRESETS = _bt_presets()
_shared = sorted({BT["train"]["seed"] + k for k in range(len(BT_PRESETS))}
                 & {BT["test"]["seed"] + k for k in range(len(BT_PRESETS))})
if _shared:  # preset k's sets draw from train.seed + k and test.seed + k
    raise ValueError(f"config: experiments.bands_test{config_source('experiments', 'bands_test')}: preset k's training set draws from train.seed + k "
                     f"({BT['train']['seed']}) and its test set from test.seed + k ({BT['test']['seed']}), so seed(s) "
                     f"{', '.join(map(str, _shared))} would render a test set from a training set's streams; give "
                     f"test.seed at least {len(BT_PRESETS)} away from train.seed")
if BT["independent"] and "kids" in BT_PRESETS:
    # the independent set is rendered in the run's bands unless domain_shift.independent.params (or the set's
    # own params) name others (ds_independent_options); the kids colour network needs all of its bands
    _ds_bands = {"bands": list(BANDS), **DS["independent"]["params"],
                 **DS_SETS.get(BT_INDEPENDENT, {}).get("params", {})}["bands"]
    _missing = [b for b in BT_PRESETS["kids"]["band_sets"][-1] if b not in _ds_bands]
    if _missing:
        _where = ("this run's bands" if list(_ds_bands) == list(BANDS) else
                  "the bands of experiments.domain_shift.independent.params")
        raise ValueError(f"config: experiments.bands_test.independent: the domain_shift independent set is rendered "
                         f"in {_where} ({','.join(_ds_bands)}), which lack {','.join(_missing)} of the kids "
                         f"colour network; render it in {list(BT_PRESETS['kids']['band_sets'][-1])} (the default "
                         "config's bands), or set independent: false")
#: simulated sets ({preset}_{split}) and networks ({preset}_{bands joined by -})
BT_SETS = {f"{p}_{split}": (p, spec) for p, v in BT_PRESETS.items() for split, spec in v["sets"].items()}
BT_NETS = {f"{p}_{'-'.join(bands)}": (p, bands) for p, v in BT_PRESETS.items() for bands in v["band_sets"]}


def bt_shards(btset):
    if btset == BT_INDEPENDENT:
        return ds_shards(BT_INDEPENDENT)
    return [f"{k:03d}" for k in range(BT_SETS[btset][1]["n_shards"])]


def bt_set_files(btset, ext):
    """The shards of a set: the experiment's own, or the domain_shift independent set."""
    pattern = (DSP.cube if ext == "fits" else DSP.meta).replace("{dsset}", BT_INDEPENDENT) \
        if btset == BT_INDEPENDENT else BTP.cube if ext == "fits" else BTP.meta
    return expand(pattern, btset=btset, shard=bt_shards(btset), allow_missing=True)


def bt_shard_size(wildcards):
    spec = BT_SETS[wildcards.btset][1]
    n, k, shard = spec["n_images"], spec["n_shards"], int(wildcards.shard)
    return n // k + (1 if shard < n % k else 0)


def bt_seed(wildcards):
    return BT_SETS[wildcards.btset][1]["seed"]


def bt_set_dir(wildcards):
    return os.path.dirname(BTP.cube.format(btset=wildcards.btset, shard="000"))


def bt_sim_options(wildcards):
    """`--set` overrides: the preset (its bands, PSFs, depths), its stamp size and pixel scale."""
    return set_options(BT_PRESETS[BT_SETS[wildcards.btset][0]]["sim_params"])


def bt_train_input(wildcards):
    return bt_set_files(f"{BT_NETS[wildcards.btnet][0]}_train", "fits")


def bt_train_options(wildcards):
    """`lensfinder train` options: the workflow's training settings (its colour residual where the network sees
    both bands), the experiment's network, epochs and bands."""
    preset, bands = BT_NETS[wildcards.btnet]
    t = config["training"]
    return (f"--model {BT['model']} --epochs {BT['epochs'] or scratch_epochs()} --batch-size {t['batch_size']} "
            f"--learning-rate {t['learning_rate']} --preprocess {BT_PRESETS[preset]['preprocess']} "
            f"--normalization {t['normalization']} --class-balance {t['class_balance']} "
            f"{'--augment' if t['augment'] else '--no-augment'} --bands {' '.join(bands)} "
            f"{colour_residual_option(bands)}")


def bt_train_seed(wildcards):
    return _stable_seed(f"bands_test/model/{wildcards.btnet}")


def bt_infer_input(wildcards):
    """The network and one shard of a test set (own, or the domain_shift independent set)."""
    files = {"model": BTP.model.format(btnet=wildcards.btnet), "settings": BTP.settings.format(btnet=wildcards.btnet)}
    if wildcards.btset == BT_INDEPENDENT:
        files.update(cube=DSP.cube.format(dsset=BT_INDEPENDENT, shard=wildcards.shard),
                     index=DSP.meta.format(dsset=BT_INDEPENDENT, shard=wildcards.shard))
    else:
        files.update(cube=BTP.cube.format(btset=wildcards.btset, shard=wildcards.shard),
                     index=BTP.meta.format(btset=wildcards.btset, shard=wildcards.shard))
    return files


def _bt_scored():
    """(network, test set, label) of every scored set: each network on its preset's test set and, with
    bands_test.independent, the kids networks on the independent set."""
    for net, (preset, bands) in BT_NETS.items():
        label = f"preset={preset},bands={band_label(bands)}"
        yield net, f"{preset}_test", f"{label},test_set=own"
        if BT["independent"] and preset == "kids":
            yield net, BT_INDEPENDENT, f"{label},test_set=independent"


def bt_table_files(wildcards=None):
    scores = [f for net, btset, _ in _bt_scored()
              for f in expand(BTP.scores, btnet=net, btset=btset, shard=bt_shards(btset))]
    labels = sorted({f for _, btset, _ in _bt_scored() for f in bt_set_files(btset, "parquet")})
    return {"scores": scores, "labels": labels}


def bt_score_labels(wildcards=None):
    return " ".join(label for _, btset, label in _bt_scored() for _ in bt_shards(btset))
