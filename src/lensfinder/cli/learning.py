"""The learning steps' command line: ``train``, ``infer``, ``evaluate``, ``collect-predictions``."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from lensfinder.cli.options import add_precision_argument, add_scoring_precision_argument
from lensfinder.io import InputError
from lensfinder.learning.config import CLASS_BALANCE, HE2020_CASES, LR_SCHEDULES, TrainConfig, resolve_config
from lensfinder.learning.evaluation import COMPLETENESS_COLUMNS, evaluate_files
from lensfinder.learning.inference import DEFAULT_MAX_NAN_FRACTION, DEFAULT_TTA, TTA_MODES, infer_files
from lensfinder.learning.stream import DEFAULT_CACHE_MB
from lensfinder.learning.metrics import DEFAULT_THRESHOLDS
from lensfinder.learning.models import DEFAULT_INPUT_SIZE, MODEL_NAMES
from lensfinder.learning.predictions import collect_prediction_files
from lensfinder.learning.preprocessing import COLOUR_RESIDUAL_MATCHES, NORMALIZATIONS, PREPROCESS_METHODS
from lensfinder.learning.training import export_network, train

__all__ = [
    "add_train_arguments", "run_train",
    "add_infer_arguments", "run_infer",
    "add_evaluate_arguments", "run_evaluate",
    "add_collect_predictions_arguments", "run_collect_predictions",
    "add_export_network_arguments", "run_export_network",
    "add_average_networks_arguments", "run_average_networks",
]


def _default_threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``lensfinder train``; the defaults are :class:`TrainConfig`'s."""
    d = TrainConfig()
    lr = np.format_float_scientific(d.learning_rate, trim="-", exp_digits=1)
    parser.add_argument("--shards", nargs="+", required=True, metavar="DIR_OR_FILE",
                        help="shard directories or shard_XXX.fits/.parquet files (label column is_lens)")
    parser.add_argument("--model", choices=MODEL_NAMES, default=d.model, help=f"network (default {d.model})")
    parser.add_argument("--out", required=True, help="output model, must end in .keras (settings go to .json beside it)")
    parser.add_argument("--history", help="learning-curve CSV (default: OUT with .history.csv)")
    parser.add_argument("--checkpoint-dir", help="per-epoch checkpoints; a killed run resumes from here "
                        "(default: OUT's directory, OUT's stem + _checkpoints)")
    parser.add_argument("--preset", choices=sorted(HE2020_CASES), help="He et al. 2020 case (section 5.2); explicit options override it")
    parser.add_argument("--epochs", type=int, help=f"epochs (default {d.epochs}, or the preset's; "
                        "0 with --init-weights: that network as it is)")
    parser.add_argument("--batch-size", type=int, help=f"batch size (default {d.batch_size}, or the preset's)")
    parser.add_argument("--learning-rate", type=float, help=f"Adam learning rate (default {lr}, or the preset's)")
    parser.add_argument("--preprocess", choices=PREPROCESS_METHODS, default=d.preprocess,
                        help=f"stamp -> input resizing (default {d.preprocess})")
    parser.add_argument("--normalization", choices=NORMALIZATIONS, default=d.normalization,
                        help=f"per-image normalisation (default {d.normalization})")
    parser.add_argument("--colour-residual", default=d.colour_residual, metavar="auto|none|BLUE-RED",
                        help="one more input band: BLUE minus RED scaled to the central galaxy's core (its light "
                             "cancels, a blue arc stays); auto: g-r when the network sees g and r "
                             f"(default {d.colour_residual})")
    parser.add_argument("--colour-residual-match", choices=COLOUR_RESIDUAL_MATCHES, default=d.colour_residual_match,
                        help="psf: blur the sharper of the two bands to the other's PSF before scaling (a PSF "
                             "mismatch leaves no ring); scale: the scale alone, as networks trained before the "
                             f"PSF match (default {d.colour_residual_match})")
    sizes = ", ".join(f"{size} for {name}" for name, size in DEFAULT_INPUT_SIZE.items())
    parser.add_argument("--input-size", type=int, help=f"network input in pixels (default: {sizes})")
    parser.add_argument("--class-balance", choices=CLASS_BALANCE, default=d.class_balance,
                        help=f"class weights or balanced sampling (default {d.class_balance})")
    parser.add_argument("--augment", action=argparse.BooleanOptionalAction, default=d.augment,
                        help=f"rotations, flips, shifts, flux scale (default {'on' if d.augment else 'off'})")
    parser.add_argument("--val-fraction", type=float, default=d.val_fraction,
                        help=f"fraction held out for validation (default {d.val_fraction})")
    parser.add_argument("--min-arc-visible-snr", type=float, default=d.min_arc_visible_snr,
                        help="leave out lenses whose arc_visible_snr (the arc S/N where it outshines the rest of "
                        f"the light) is below this (default {d.min_arc_visible_snr:g}: every lens)")
    parser.add_argument("--lr-schedule", choices=LR_SCHEDULES, default=d.lr_schedule,
                        help=f"learning-rate schedule: constant, or cosine decay to 0 over the run (default {d.lr_schedule})")
    parser.add_argument("--ema-momentum", type=float, default=d.ema_momentum,
                        help="keep a moving average of the weights with this momentum and save it "
                        f"(default {d.ema_momentum:g}: the last weights)")
    parser.add_argument("--init-weights", metavar="MODEL.keras",
                        help="start from this trained network's weights (its MODEL.json must match the network, "
                             "input, bands, preprocess and normalization) instead of random ones")
    parser.add_argument("--seed", type=int, default=d.seed, help=f"master seed (default {d.seed})")
    parser.add_argument("--bands", nargs="+", default=None,
                        help="bands the network sees, in channel order, picked from the shards' BANDS "
                        "(default: all of the shards' bands)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: all available)")
    add_precision_argument(parser)
    parser.add_argument("--cache-mb", type=float, default=DEFAULT_CACHE_MB,
                        help="memory (MB) for keeping each image's prepared network input between epochs: later "
                             "epochs skip reading and preprocessing it, with the same batches; 0 prepares every "
                             f"image every epoch (default {DEFAULT_CACHE_MB}; 12,000 g, r, i two-scale images "
                             "with the g-r residual take 922)")


def run_train(args) -> int:
    """Entry point of ``lensfinder train``."""
    try:
        config = resolve_config(
            args.preset, model=args.model, epochs=args.epochs, batch_size=args.batch_size,
            learning_rate=args.learning_rate, preprocess=args.preprocess, normalization=args.normalization,
            class_balance=args.class_balance, augment=args.augment, val_fraction=args.val_fraction,
            seed=args.seed, input_size=args.input_size, min_arc_visible_snr=args.min_arc_visible_snr,
            lr_schedule=args.lr_schedule, ema_momentum=args.ema_momentum, colour_residual=args.colour_residual,
            colour_residual_match=args.colour_residual_match,
        )
    except ValueError as exc:
        raise InputError(f"train options: {exc}") from exc
    out = Path(args.out)
    checkpoint_dir = args.checkpoint_dir or out.with_name(f"{out.stem}_checkpoints")
    if args.bands is not None and len(set(args.bands)) != len(args.bands):
        raise InputError(f"--bands: {' '.join(args.bands)}: expected distinct band names")
    train(args.shards, config, out, args.history, checkpoint_dir, threads=args.threads or _default_threads(),
          bands=args.bands, cache_mb=args.cache_mb, init_weights=args.init_weights, precision=args.precision)
    return 0


def add_infer_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``lensfinder infer``."""
    parser.add_argument("--stamps", nargs="+", required=True, metavar="CUBE.fits",
                        help="stamp cube(s) (n, ny, nx) or (n, n_bands, ny, nx) holding the model's bands; several "
                             "are scored in one process, into one table (column shard: the cube's name)")
    parser.add_argument("--index", nargs="+", required=True, metavar="INDEX.parquet",
                        help="their indexes, same order: object_id per cube row (is_lens passed through)")
    parser.add_argument("--model", required=True, metavar="MODEL.keras", help="trained network (settings read from MODEL.json)")
    parser.add_argument("--ensemble", nargs="+", default=[], metavar="MODEL.keras", help="more networks: p_cnn is the mean over all")
    parser.add_argument("--out", required=True, metavar="PRED.parquet", help="output table (every cube's rows)")
    parser.add_argument("--batch-size", type=int, default=256, help="stamps per batch (default 256)")
    parser.add_argument("--max-nan-fraction", type=float, default=DEFAULT_MAX_NAN_FRACTION,
                        help=f"stamps with more NaN pixels get p_cnn NaN (default {DEFAULT_MAX_NAN_FRACTION})")
    parser.add_argument("--normalization", choices=NORMALIZATIONS, help="expected normalisation (error if the model's differs)")
    parser.add_argument("--preprocess", choices=PREPROCESS_METHODS, help="expected resizing (error if the model's differs)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: all available)")
    parser.add_argument("--tta", choices=TTA_MODES, default=DEFAULT_TTA,
                        help="test-time augmentation: dihedral averages p_cnn over the 8 rotations and flips of "
                             "the preprocessed stamp (bin2 of an odd stamp is not centred, so a rotated stamp can "
                             "score differently: docs/learning.md), none scores each stamp once (8 times faster); "
                             f"default {DEFAULT_TTA}, as the workflow's inference.tta")
    add_scoring_precision_argument(parser)


def run_infer(args) -> int:
    """Entry point of ``lensfinder infer``."""
    if args.batch_size < 1:
        raise InputError(f"--batch-size: {args.batch_size}, expected >= 1")
    infer_files(args.stamps, args.index, [args.model, *args.ensemble], args.out, batch_size=args.batch_size,
                max_nan_fraction=args.max_nan_fraction, threads=args.threads or _default_threads(),
                normalization=args.normalization, preprocess=args.preprocess, tta=args.tta,
                precision=args.precision)
    return 0


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``lensfinder evaluate``."""
    parser.add_argument("--predictions", nargs="+", required=True, metavar="PRED.parquet", help="tables with object_id, p_cnn")
    parser.add_argument("--labels", nargs="*", default=[], metavar="META.parquet",
                        help="tables with object_id, is_lens (+ metadata); default: is_lens in the predictions")
    parser.add_argument("--out", required=True, metavar="METRICS.parquet", help="metrics, one row per threshold (+ .csv)")
    parser.add_argument("--roc", required=True, metavar="ROC.parquet", help="ROC curve (+ .csv)")
    parser.add_argument("--thresholds", nargs="+", type=float, default=list(DEFAULT_THRESHOLDS),
                        help=f"p_CNN thresholds (default {' '.join(map(str, DEFAULT_THRESHOLDS))})")
    parser.add_argument("--completeness", metavar="COMPLETENESS.parquet",
                        help=f"completeness in bins of {', '.join(COMPLETENESS_COLUMNS)} (those present; + .csv)")
    parser.add_argument("--bins", type=int, default=8, help="bins per completeness curve (default 8)")


def run_evaluate(args) -> int:
    """Entry point of ``lensfinder evaluate``."""
    for t in args.thresholds:
        if not 0 <= t <= 1:
            raise InputError(f"--thresholds: {t} is outside [0, 1]")
    if args.bins < 1:
        raise InputError(f"--bins: {args.bins}: expected at least 1 bin per completeness curve")
    evaluate_files(args.predictions, args.labels, args.out, args.roc, args.thresholds,
                   completeness_out=args.completeness, bins=args.bins)
    return 0


def add_collect_predictions_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``lensfinder collect-predictions``."""
    parser.add_argument("--predictions", nargs="+", required=True, help="per-tile score tables (Parquet)")
    parser.add_argument("--stamp-index", nargs="+", required=True, help="stamp indexes (Parquet), any order")
    parser.add_argument("--catalog", required=True, help="merged catalogue (Parquet) with ID and MAG_AUTO")
    parser.add_argument("--out", required=True, help="output table (Parquet)")


def run_collect_predictions(args) -> int:
    """Entry point of ``lensfinder collect-predictions``."""
    collect_prediction_files(args.predictions, args.stamp_index, args.catalog, args.out)
    return 0


def add_export_network_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``lensfinder export-network``."""
    parser.add_argument("--model", required=True, metavar="MODEL.keras", help="a network `lensfinder train` wrote")
    parser.add_argument("--out", required=True, metavar="OUT.keras",
                        help="the network without its optimiser's state (its sidecar and learning curve beside it)")
    parser.add_argument("--ensemble", nargs="+", default=[], metavar="MODEL.keras",
                        help="more networks of the same input: OUT holds them all and gives the mean of their "
                        "probabilities (one file that scores as `lensfinder infer --ensemble`; it cannot be "
                        "trained further)")
    given = parser.add_mutually_exclusive_group()
    given.add_argument("--provenance", metavar="FILE.json",
                       help="a JSON object stored as the sidecar's `provenance`: how it was made, what it scored")
    given.add_argument("--provenance-json", metavar="JSON",
                       help="the same object given as text (`snakemake export_network` passes the run's settings)")


def run_export_network(args) -> int:
    """Entry point of ``lensfinder export-network``."""
    import json

    provenance, where = None, None
    try:
        if args.provenance:
            where = args.provenance
            provenance = json.loads(Path(args.provenance).read_text(encoding="utf-8"))
        elif args.provenance_json is not None:
            where = "--provenance-json"
            provenance = json.loads(args.provenance_json)
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{where}: not readable JSON ({exc})") from exc
    if where and not isinstance(provenance, dict):
        raise InputError(f"{where}: expected a JSON object")
    export_network(args.model, args.out, provenance, ensemble=args.ensemble)
    return 0


def add_average_networks_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``lensfinder average-networks``."""
    parser.add_argument("--models", nargs="+", required=True, metavar="MODEL.keras",
                        help="two or more networks of one architecture and input, e.g. a network and a copy of it "
                        "fine-tuned on other images (`lensfinder train --init-weights`); the first gives the sidecar")
    parser.add_argument("--shares", nargs="+", type=float, metavar="SHARE",
                        help="each network's share of the average, normalised (default: equal)")
    parser.add_argument("--out", required=True, metavar="OUT.keras",
                        help="the network with the averaged weights (its sidecar lists the ingredients)")


def run_average_networks(args) -> int:
    """Entry point of ``lensfinder average-networks``."""
    from lensfinder.learning.soup import average_networks

    if args.shares is not None and len(args.shares) != len(args.models):
        raise InputError(f"--shares: {len(args.shares)} shares for {len(args.models)} --models; give one per network")
    average_networks(args.models, args.out, args.shares)
    return 0
