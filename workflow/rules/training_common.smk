# Helpers of the search's training (docs/learning.md; rules in train.smk): the checks of the
# network's input and of training.init_weights when the workflow is parsed, `lensfinder train`'s
# options, and the exported networks (the target export_network). Included by the Snakefile
# after simulation_common.smk.


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


def _colour_residual():
    """training.colour_residual for the run's bands, (blue, red) or () for none, checked when the workflow is
    parsed (lensfinder.learning.preprocessing.resolve_colour_residual)."""
    from lensfinder.learning.preprocessing import resolve_colour_residual

    try:
        return resolve_colour_residual(config["training"]["colour_residual"], BANDS, "config: training.colour_residual")
    except ValueError as exc:
        raise ValueError(f"{exc}; set it to auto or none") from None


COLOUR_RESIDUAL = _colour_residual()


def colour_residual_option(bands=None):
    """`--colour-residual` and `--colour-residual-match` of a network that sees `bands` (default: the run's):
    training.colour_residual, or none when those bands lack one of its two, and training.colour_residual_match."""
    pair = COLOUR_RESIDUAL if set(COLOUR_RESIDUAL) <= set(bands or BANDS) else ()
    return (f"--colour-residual {'-'.join(pair) or 'none'} "
            f"--colour-residual-match {config['training']['colour_residual_match']}")


def member_init_weights(name):
    """The trained network ensemble member `name` starts from: its own init_weights, else training.init_weights
    (None: from scratch)."""
    return MEMBERS[name].init_weights or config["training"].get("init_weights")


from lensfinder.learning.ensemble import check_init_weights

check_init_weights(MEMBERS, config["training"].get("init_weights"), config["training"]["epochs"], bands=BANDS,
                   colour_residual=COLOUR_RESIDUAL,
                   colour_residual_match=config["training"]["colour_residual_match"] if COLOUR_RESIDUAL else None,
                   preprocess=config["training"]["preprocess"], normalization=config["training"]["normalization"])


def _warn_of_other_bands():
    """A run whose bands differ from those of the search's network already trained here redoes the search's
    stamps, training sets and networks in its own bands, over the others (the paper presets, config/experiments/,
    search the r band alone): say so when the workflow is parsed, before the work starts."""
    import json
    from pathlib import Path

    for name in MEMBERS:
        sidecar = P.model_settings.format(net=name)
        try:
            trained = json.loads(Path(sidecar).read_text()).get("bands")
        except (OSError, ValueError):
            continue
        if trained and list(trained) != list(BANDS):
            logger.warning(f"bands: this run's {','.join(BANDS)} differ from the {','.join(trained)} of "
                           f"the network already trained here ({sidecar}): it redoes the search's stamps, training "
                           "sets and networks in its bands, over those (a later run in the other bands redoes them "
                           "again); run it in another working directory to keep both (docs/experiments.md)")
            return


_warn_of_other_bands()


def scratch_epochs():
    """Epochs of a network the experiments train from scratch: training.epochs, or, when that is 0 (the search
    keeps training.init_weights as it is), `lensfinder train`'s default."""
    from lensfinder.learning.config import TrainConfig

    return config["training"]["epochs"] or TrainConfig.epochs


def training_options(wildcards=None, scratch=False, soup=False):
    """Training hyper-parameters from config as `lensfinder train` options (`scratch`: an experiment's own
    network, which never starts from training.init_weights, so never takes its 0 epochs; `soup`: the
    fine-tuning of training.soup, its epochs and learning rate)."""
    t = {**config["training"], **({k: SOUP[k] for k in ("epochs", "learning_rate")} if soup else {})}
    epochs = scratch_epochs() if scratch else t["epochs"]
    return (
        f"--epochs {epochs} --batch-size {t['batch_size']} --learning-rate {t['learning_rate']} "
        f"--preprocess {t['preprocess']} --normalization {t['normalization']} "
        f"--class-balance {t['class_balance']} {'--augment' if t['augment'] else '--no-augment'} "
        f"--min-arc-visible-snr {t['min_arc_visible_snr']} "
        f"--lr-schedule {t['lr_schedule']} --ema-momentum {t['ema_momentum']} --precision {t['precision']} "
        f"--bands {' '.join(BANDS)} {colour_residual_option()}"
    )


def soup_copy_seed(wildcards):
    """Seed of a fine-tuned copy of training.soup: the network's for copy 1, one more for each copy after it, so
    that the copies see the soup's set in other orders and augmentations."""
    return member_seed(wildcards) + int(wildcards.soup_copy) - 1


def _soup_copies(path, net):
    """`path` (a soup_finetuned* path of P) for each of network `net`'s fine-tuned copies, in order."""
    return expand(path, net=net, soup_copy=range(1, SOUP["copies"] + 1))


def soup_finetuned_files(wildcards):
    """The fine-tuned copies of network `net` that training.soup averages with it."""
    return _soup_copies(P.soup_finetuned, wildcards.net)


def soup_settings_files(wildcards):
    """The sidecars average-networks reads: the trained network's, then each fine-tuned copy's."""
    return [P.soup_trained_settings.format(net=wildcards.net), *_soup_copies(P.soup_finetuned_settings, wildcards.net)]


def soup_shares(wildcards=None):
    """`average-networks --shares` (normalised there): the trained network's, then each copy's
    (training.soup.share split evenly among the copies; null: the same share each, a uniform soup)."""
    n, share = SOUP["copies"], SOUP["share"]
    return " ".join(["1"] * (n + 1) if share is None else [f"{1 - share:.6g}", *[f"{share / n:.6g}"] * n])


def init_weights_files(wildcards):
    """The network a member of the search starts from (its init_weights, else training.init_weights) and its
    sidecar; [] from scratch.

    The experiments' own networks (domain_shift, PSF, volume) always start from scratch."""
    from lensfinder.learning.sidecar import sidecar_path

    path = member_init_weights(wildcards.net)
    return [path, str(sidecar_path(path))] if path else []


def init_weights_option(wildcards, input):
    return f"--init-weights {input.init[0]}" if input.init else ""


def ensemble_models_option(wildcards, input):
    """`--model FIRST --ensemble OTHERS...` of a rule whose input `models` are an ensemble's networks."""
    return f"--model {input.models[0]} --ensemble {' '.join(input.models[1:])}"


#: an ensemble's networks in one file, scoring their mean (`lensfinder export-network --ensemble`)
ENSEMBLE_NETWORK = P.network.format(net="ensemble") if len(MEMBERS) > 1 else None
#: every network of the search, exported (the target export_network), and an ensemble's in one file
EXPORTED_NETWORKS = expand(P.network, net=list(MEMBERS)) + ([ENSEMBLE_NETWORK] if ENSEMBLE_NETWORK else [])


def _export_clash():
    """A network a member starts from when it is one of EXPORTED_NETWORKS (the run keeps or fine-tunes the
    network it would export over), else None."""
    exported = {os.path.abspath(path) for path in EXPORTED_NETWORKS}
    inits = [member_init_weights(name) for name in MEMBERS]
    return next((init for init in inits if init and os.path.abspath(init) in exported), None)


EXPORT_CLASH = _export_clash()


def exported_networks(wildcards=None):
    """EXPORTED_NETWORKS, or an error when the export would write over training.init_weights."""
    if EXPORT_CLASH:
        raise ValueError(f"export_network: this run starts from {EXPORT_CLASH} (training.init_weights or a "
                         "member's init_weights), the file the export would "
                         "write; export a network this run keeps or fine-tunes elsewhere: `lensfinder "
                         "export-network --model results/models/NET.keras --out OTHER.keras`")
    return EXPORTED_NETWORKS


def _exported_sets(wildcards):
    """The simulated sets an exported network learnt from: its member's (and training.soup's), or every member's
    (the ensemble)."""
    return MEMBER_SETS if wildcards.get("net", "ensemble") == "ensemble" else member_train_sets(wildcards.net)


def network_provenance(wildcards):
    """The `provenance` of an exported network: what made it beyond the training settings its sidecar holds
    (the config files layered over config/config.yaml, the survey, and the training set's simulation)."""
    sim = config["simulation"]
    return json.dumps({
        "exported_by": "snakemake export_network",
        "configfiles": [os.path.relpath(path) for path in workflow.overwrite_configfiles],
        "survey": SURVEY, "preset": PRESET.name, "bands": list(BANDS), "stamp_size": STAMP_SIZE,
        "simulation": {**{key: sim[key] for key in ("recipe", "mix", "params", "member_params")},
                       **{simset: SIM_SETS[simset] for simset in _exported_sets(wildcards)}},
    }, sort_keys=True)
