# The domain_shift experiment (independent validation): its paths, the host
# tiles of each side, and the helpers that turn `experiments.domain_shift`
# into image sets, networks and table inputs. Helpers only; the rules are in
# domain_shift.smk (which includes this file, after experiments_common.smk).

from lensfinder.cli.domain_shift import TABLE_NAMES as DS_TABLE_NAMES  # in `--out` order
from lensfinder.experiments.domain_shift_plan import HOST_SIDE as DS_HOST_SIDE
from lensfinder.experiments.domain_shift_plan import RENDERER as DS_RENDERER
from lensfinder.experiments.domain_shift_plan import SEMI_REAL as DS_RECIPES_SEMI_REAL
from lensfinder.experiments.domain_shift_plan import check_network_names, network_sets, plan_sets, side_tiles
from lensfinder.io import InputError

DS = EXP["domain_shift"]
DS_DIR = f"{EXP_DIR}/domain_shift"
#: every path of the experiment, named once (wildcards: dsset, dsnet, shard)
DSP = SimpleNamespace(
    cube=f"{DS_DIR}/sets/{{dsset}}/shard_{{shard}}.fits",
    meta=f"{DS_DIR}/sets/{{dsset}}/shard_{{shard}}.parquet",
    model=f"{DS_DIR}/models/{{dsnet}}.keras",
    settings=f"{DS_DIR}/models/{{dsnet}}.json",
    history=f"{DS_DIR}/models/{{dsnet}}.history.csv",
    checkpoints=f"{DS_DIR}/models/{{dsnet}}_checkpoints",
    scores=f"{DS_DIR}/scores/{{dsnet}}/{{dsset}}/shard_{{shard}}.parquet",
    # the workflow's ensemble scored as one (ensset: `own`, the workflow's test set, or `independent`)
    ensemble_scores=f"{DS_DIR}/scores/ensemble/{{ensset}}/shard_{{shard}}.parquet",
    tables={name: f"{DS_DIR}/tables/{name}.parquet" for name in DS_TABLE_NAMES},
    summary_csv=f"{DS_DIR}/tables/summary.csv",
    seeds_csv=f"{DS_DIR}/tables/seeds.csv",
    top_negatives_csv=f"{DS_DIR}/tables/top_negatives.csv",
    #: the CSV copies of the other tables, which `domain-shift-table` writes beside them
    other_csvs={f"{name}_csv": f"{DS_DIR}/tables/{name}.csv" for name in DS_TABLE_NAMES
                if name not in ("summary", "seeds", "top_negatives")},
    figure=f"{DS_DIR}/figures/domain_shift.png",
    logs=f"{DS_DIR}/logs",
    benchmarks=f"{DS_DIR}/benchmarks",
)
#: the workflow's own network (results/models/{net}.keras), scored beside the experiment's
DS_DEFAULT = "default"
#: network -> the training set it learns from: `training_seeds` networks per set, NAME, NAME.seed2, ...
DS_NET_SET = network_sets(DS)
DS_NETS = list(DS_NET_SET)
#: the workflow's ensemble (inference.ensemble, two networks or more) scored as one network: the mean
#: of its members' probabilities (as `lensfinder infer --ensemble`); None for a single network
DS_ENSEMBLE = "ensemble" if len(MEMBERS) > 1 and DS["default_model"] else None
#: the rows of the workflow's own networks -> the member each scores: `default` the first, and with an
#: ensemble each later member alone too, its row named after it
DS_WORKFLOW_ROWS = {DS_DEFAULT: NET, **({name: name for name in list(MEMBERS)[1:]} if DS_ENSEMBLE else {})}
check_network_names(DS, list(DS_WORKFLOW_ROWS))


def ds_tiles(side):
    """Tiles of one side (`independent`, `own`, `train`): lensfinder.experiments.domain_shift_plan.side_tiles."""
    return side_tiles(TILES, side, DS["held_out_tiles"], DS["own_test_tiles"])


#: every image set: {net}_train and {net}_test per training set, and `independent` (recipe(s), size, seed, shards)
try:
    DS_SETS = plan_sets(DS, EXP_SIM["shard_size"])
except InputError as exc:
    raise ValueError(f"{exc}{config_source('experiments', 'domain_shift')}") from None
#: sets of the simulation stage (`lensfinder simulate`), and those of the independent renderer
#: (`lensfinder domain-shift-render`: the independent set and the controls' sets)
DS_SIM_SETS = [name for name, spec in DS_SETS.items() if spec["recipe"] != DS_RENDERER]
DS_RENDER_SETS = [name for name, spec in DS_SETS.items() if spec["recipe"] == DS_RENDERER]


def ds_shards(dsset):
    return [f"{k:03d}" for k in range(DS_SETS[dsset]["n_shards"])]


def ds_set_files(dsset, ext):
    return expand(DSP.cube if ext == "fits" else DSP.meta, dsset=dsset, shard=ds_shards(dsset))


def ds_shard_size(wildcards):
    spec = DS_SETS[wildcards.dsset]
    n, k, shard = spec["n_images"], spec["n_shards"], int(wildcards.shard)
    return n // k + (1 if shard < n % k else 0)


def ds_seed(wildcards):
    return DS_SETS[wildcards.dsset]["seed"]


def ds_recipe_options(wildcards):
    """`--recipe NAME`, or `--mix NAME=WEIGHT ...`, and `--member-set` per member override."""
    spec = DS_SETS[wildcards.dsset]
    return recipe_options(spec["recipe"], spec["mix"], spec["member_params"])


def ds_set_dir(wildcards):
    return os.path.dirname(DSP.cube.format(dsset=wildcards.dsset, shard="000"))


def _ds_host_tiles(dsset):
    spec = DS_SETS[dsset]
    if not set(spec["members"]) & set(DS_RECIPES_SEMI_REAL):
        return []
    return ds_tiles(DS_HOST_SIDE[spec["split"]])


def ds_sim_input(wildcards):
    """Host stamps (and, for he2020_semireal, tile images and catalogues for the ePSFs) of a semi-real set."""
    tiles = _ds_host_tiles(wildcards.dsset)
    inputs = {"hosts": expand(P.stamp_cube, tile=tiles), "host_indexes": expand(P.stamp_index, tile=tiles),
              "psf_tiles": [], "psf_catalogs": [],
              # the mock survey's planted lenses are never a semi-real set's hosts or negatives (host_exclude)
              "truth": expand(P.truth, tile=tiles) if SURVEY == "mock" and
              set(DS_SETS[wildcards.dsset]["members"]) & set(DS_RECIPES_SEMI_REAL) else []}
    if "he2020_semireal" in DS_SETS[wildcards.dsset]["members"]:
        inputs["psf_tiles"], inputs["psf_catalogs"] = epsf_inputs(tiles)
    return inputs


def ds_sim_options(wildcards):
    """`--set` overrides of a set: the survey's grid, and the hosts of its side for semi-real members
    (ePSF tiles for he2020_semireal). A function of the wildcards alone, so that Snakemake records the
    options and a change of the set's params, bands or stamp size reruns the set (a function that
    takes `input` is not recorded)."""
    spec = DS_SETS[wildcards.dsset]
    files = SimpleNamespace(**ds_sim_input(wildcards))
    semi_real = bool(set(spec["members"]) & set(DS_RECIPES_SEMI_REAL))
    params = dict(SIM_BANDS) if semi_real else {**SIM_GEOMETRY, **SIM_BANDS}
    if semi_real:
        params.update(host_stamps=list(files.hosts), host_flag=HOST_SAMPLE)
        if files.truth:
            params["host_exclude"] = list(files.truth)
    if "he2020_semireal" in spec["members"]:
        # disks need the disk_blue stamps, cut only when the workflow itself trains on he2020_semireal
        params.update(he2020_semireal_hosts())
    options = set_options({**params, **spec["params"]})
    if files.psf_tiles:
        options += f" --psf-tiles {' '.join(files.psf_tiles)} --psf-catalogs {' '.join(files.psf_catalogs)}"
    return options


def ds_independent_input(wildcards):
    """Survey hosts of a rendered set and the mock truth (no true lens hosts): the held-out tiles' for
    the independent set; a control's, the tiles of its side (training or own test)."""
    if not DS["independent"]["on_survey_hosts"]:
        return {"hosts": [], "host_indexes": [], "truth": []}
    tiles = ds_tiles(DS_HOST_SIDE[DS_SETS[wildcards.dsset]["split"]])
    return {"hosts": expand(P.stamp_cube, tile=tiles), "host_indexes": expand(P.stamp_index, tile=tiles),
            "truth": expand(P.truth, tile=tiles) if SURVEY == "mock" else []}


def ds_independent_options(wildcards):
    """IndependentSpec overrides (the search's bands unless set; a control's own params over the
    independent set's), the survey hosts of its side and the truth (of the wildcards alone: recorded,
    as :func:`ds_sim_options`)."""
    files = SimpleNamespace(**ds_independent_input(wildcards))
    options = set_options({"bands": list(BANDS), **DS["independent"]["params"], **DS_SETS[wildcards.dsset]["params"]})
    if files.hosts:
        options += f" --hosts {' '.join(files.hosts)} --host-flag {HOST_SAMPLE}"
    if files.truth:
        options += f" --truth {' '.join(files.truth)}"
    return options


def ds_train_input(wildcards):
    return ds_set_files(f"{DS_NET_SET[wildcards.dsnet]}_train", "fits")


def ds_train_options(wildcards=None):
    """`lensfinder train` options: the workflow's training settings, epochs from domain_shift.epochs if set."""
    epochs = f" --epochs {DS['epochs']}" if DS["epochs"] else ""
    return f"--model {DS['model']} {training_options(scratch=True)}{epochs}"


def ds_train_seed(wildcards):
    return _stable_seed(f"domain_shift/model/{wildcards.dsnet}")


def ds_model_input(wildcards):
    """The scored network: the workflow's own for `default` (its first), an ensemble's later member for
    that member's row, else the experiment's."""
    if wildcards.dsnet in DS_WORKFLOW_ROWS:
        net = DS_WORKFLOW_ROWS[wildcards.dsnet]
        return {"model": P.model.format(net=net), "settings": P.model_settings.format(net=net)}
    return {"model": DSP.model.format(dsnet=wildcards.dsnet), "settings": DSP.settings.format(dsnet=wildcards.dsnet)}


def ds_ensemble_members(wildcards):
    """Each member's scores of one shard, the first member first: the workflow's test set (`own`, the
    workflow's own scores of it) or the independent set (the rows `default` and the later members')."""
    if wildcards.ensset == "independent":
        return [DSP.scores.format(dsnet=row, dsset="independent", shard=wildcards.shard) for row in DS_WORKFLOW_ROWS]
    return [P.test_predictions.format(net=name, shard=wildcards.shard) for name in MEMBERS]


def ds_scored_nets():
    """The tables' rows: the workflow's network (`default`), an ensemble's later members and their mean,
    then the experiment's own networks."""
    workflow_nets = [*DS_WORKFLOW_ROWS, *([DS_ENSEMBLE] if DS_ENSEMBLE else [])]
    return (workflow_nets if DS["default_model"] else []) + DS_NETS


def _ds_scores(net, dsset):
    return expand(DSP.scores, dsnet=net, dsset=dsset, shard=ds_shards(dsset))


def ds_table_inputs(wildcards=None):
    """Scores (own test and independent per network), every scored set's metadata, training metadata."""
    scores, labels, metadata, train, train_labels = [], [], [], [], []
    for net in ds_scored_nets():
        if net in DS_WORKFLOW_ROWS:  # a workflow's network: its own group in the seeds table
            training_set, member = net, DS_WORKFLOW_ROWS[net]
            own = expand(P.test_predictions, net=member, shard=sim_shards("test"))
            own_meta = sim_files("test", "parquet")
            net_train = [path for simset in member_train_sets(member) for path in sim_files(simset, "parquet")]
        elif net == DS_ENSEMBLE:  # its own group in the seeds table; trained on the workflow's sets
            training_set = DS_ENSEMBLE
            own = expand(DSP.ensemble_scores, ensset="own", shard=sim_shards("test"))
            own_meta = sim_files("test", "parquet")
            net_train = [path for simset in MEMBER_SETS for path in sim_files(simset, "parquet")]
        else:
            training_set = DS_NET_SET[net]
            own = _ds_scores(net, f"{training_set}_test")
            own_meta = ds_set_files(f"{training_set}_test", "parquet")
            net_train = ds_set_files(f"{training_set}_train", "parquet")
        independent = (expand(DSP.ensemble_scores, ensset="independent", shard=ds_shards("independent"))
                       if net == DS_ENSEMBLE else _ds_scores(net, "independent"))
        scores += own + independent
        tag = f"model={net},training_set={training_set}"
        labels += [f"{tag},test_set=own"] * len(own) + [f"{tag},test_set=independent"] * len(independent)
        metadata += [path for path in own_meta if path not in metadata]
        train += net_train
        train_labels += [f"model={net}"] * len(net_train)
    metadata += ds_set_files("independent", "parquet")
    return {"scores": scores, "metadata": metadata, "train": train,
            "labels": " ".join(labels), "train_labels": " ".join(train_labels)}


def ds_table_files(wildcards=None):
    """Input files of the tables step, by kind."""
    return {k: v for k, v in ds_table_inputs().items() if k in ("scores", "metadata", "train")}


def ds_table_labels(wildcards=None):
    return ds_table_inputs()["labels"]


def ds_train_labels(wildcards=None):
    return ds_table_inputs()["train_labels"]


def ds_subset_options():
    """`--subset NAME:LENSES:NEGATIVES` per `subsets` entry (`--subset none` when there are none)."""
    subsets = DS["subsets"]
    if not subsets:
        return "--subset none"
    return " ".join(f"--subset {name}:{','.join(s['lenses'])}:{','.join(s['negatives'])}"
                    for name, s in subsets.items())
