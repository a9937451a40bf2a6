"""Learning from the graders on the command line: calibrate, combine-scores, finetune-set, finetune,
rescore, evaluate-rounds, learning-figures (docs/learning.md)."""

from __future__ import annotations

import argparse
import logging

from lensfinder.cli.options import add_precision_argument, add_scoring_precision_argument
from lensfinder.io import InputError
from lensfinder.learning.inference import DEFAULT_TTA, TTA_MODES

__all__ = [
    "add_calibrate_arguments", "run_calibrate",
    "add_combine_scores_arguments", "run_combine_scores",
    "add_finetune_set_arguments", "run_finetune_set",
    "add_finetune_arguments", "run_finetune",
    "add_rescore_arguments", "run_rescore",
    "add_evaluate_rounds_arguments", "run_evaluate_rounds",
    "add_learning_figures_arguments", "run_learning_figures",
]

log = logging.getLogger(__name__)


def add_calibrate_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``lensfinder calibrate``."""
    from lensfinder.learning.calibration import CALIBRATION_METHODS, DEFAULT_BINS

    parser.add_argument("--predictions", nargs="+", required=True, metavar="PRED.parquet",
                        help="`lensfinder infer` tables of held-out simulated images, every network (column model)")
    parser.add_argument("--labels", nargs="*", default=[], metavar="META.parquet",
                        help="tables with object_id, is_lens (default: is_lens in the predictions)")
    parser.add_argument("--method", choices=CALIBRATION_METHODS, default="beta",
                        help="beta calibration (default; Kull et al. 2017), platt, temperature scaling (Guo et al. "
                             "2017) or none (raw scores)")
    parser.add_argument("--seed", type=int, default=42, help="seed of the two cross-fitting halves (default 42)")
    parser.add_argument("--bins", type=int, default=DEFAULT_BINS, help=f"reliability bins (default {DEFAULT_BINS})")
    parser.add_argument("--out", required=True, metavar="CALIBRATION.json", help="calibration map per network")
    parser.add_argument("--summary", required=True, metavar="SUMMARY.parquet",
                        help="map, ECE and NLL per network and for the ensemble, cross-fitted (+ .csv)")
    parser.add_argument("--reliability", required=True, metavar="RELIABILITY.parquet",
                        help="reliability table, raw and calibrated (+ .csv)")


def run_calibrate(args) -> int:
    """Entry point of ``lensfinder calibrate``."""
    from lensfinder.learning.calibration import calibrate_files

    if args.bins < 2:
        raise InputError(f"--bins: {args.bins}, expected >= 2")
    calibrate_files(args.predictions, args.labels, args.out, args.summary, args.reliability, method=args.method,
                    seed=args.seed, bins=args.bins)
    return 0


def add_combine_scores_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``lensfinder combine-scores``."""
    parser.add_argument("--predictions", nargs="+", required=True, metavar="PRED.parquet",
                        help="one `lensfinder infer` table per network, all of the same stamps")
    parser.add_argument("--calibration", required=True, metavar="CALIBRATION.json",
                        help="calibration maps written by `lensfinder calibrate`; `none`: the plain mean of the "
                             "raw scores, as `lensfinder infer --ensemble` computes it")
    parser.add_argument("--out", required=True, metavar="PRED.parquet",
                        help="combined table: p_cnn = mean of calibrated probabilities (p_cnn_raw: mean of raw)")
    parser.add_argument("--shard", metavar="NAME",
                        help="combine only the rows of this shard (a tile), from tables that score several; "
                             "default every row")


def run_combine_scores(args) -> int:
    """Entry point of ``lensfinder combine-scores``."""
    from lensfinder.learning.ensemble import combine_files

    calibration = None if args.calibration == "none" else args.calibration
    combine_files(args.predictions, calibration, args.out, shard=args.shard)
    return 0


def add_finetune_set_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``lensfinder finetune-set``."""
    from lensfinder.inspection.grades import SCHEMES

    parser.add_argument("--grades", nargs="+", required=True, metavar="CSV",
                        help="grades of the earlier rounds, oldest first (object_id,inspector,grade)")
    parser.add_argument("--known", nargs="*", default=[], metavar="PARQUET",
                        help="the inspection sets' known.parquet: mixed-in simulations, never trained on")
    parser.add_argument("--stamp-index", nargs="+", required=True, metavar="PARQUET",
                        help="stamp indexes of the search tiles (evaluation tiles left out)")
    parser.add_argument("--stamp-cube", nargs="+", required=True, metavar="FITS", help="their cubes, same order")
    parser.add_argument("--sim-shards", nargs="*", default=[], metavar="FITS",
                        help="simulated training shards to mix in")
    parser.add_argument("--scheme", choices=sorted(SCHEMES), default="li2020", help="grading scheme")
    parser.add_argument("--n-random-negatives", type=int, default=300,
                        help="ungraded survey stamps drawn as negatives (default 300)")
    parser.add_argument("--graded-copies", type=int, default=8,
                        help="rotated/flipped copies of each graded lens and hard negative, 1-8 (default 8); "
                             "lenses get more to weigh as much as the survey's non-lenses")
    parser.add_argument("--sim-ratio", type=float, default=0.5, help="simulated images per survey image (default 0.5)")
    parser.add_argument("--seed", type=int, default=42, help="seed of the random draws")
    parser.add_argument("--out", required=True, metavar="shard_000.fits", help="output cube (table beside it)")


def run_finetune_set(args) -> int:
    """Entry point of ``lensfinder finetune-set``."""
    from lensfinder.learning.finetune import finetune_set_files

    if args.n_random_negatives < 0:
        raise InputError(f"--n-random-negatives: {args.n_random_negatives}, expected >= 0")
    if not 1 <= args.graded_copies <= 8:
        raise InputError(f"--graded-copies: {args.graded_copies}, expected 1 to 8")
    finetune_set_files(args.grades, args.known, args.stamp_index, args.stamp_cube, args.sim_shards, args.out,
                       scheme=args.scheme, n_random_negatives=args.n_random_negatives,
                       graded_copies=args.graded_copies, sim_ratio=args.sim_ratio, seed=args.seed)
    return 0


def add_finetune_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``lensfinder finetune``."""
    from lensfinder.learning.config import CLASS_BALANCE

    parser.add_argument("--model", required=True, metavar="MODEL.keras", help="the network to start from")
    parser.add_argument("--shards", nargs="+", required=True, metavar="FITS",
                        help="fine-tuning shards (`lensfinder finetune-set`)")
    parser.add_argument("--out", required=True, metavar="MODEL.keras", help="the fine-tuned network (+ .json)")
    parser.add_argument("--history", help="learning-curve CSV (default: OUT with .history.csv)")
    parser.add_argument("--epochs", type=int, default=10, help="epochs (default 10)")
    parser.add_argument("--learning-rate", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    parser.add_argument("--batch-size", type=int, default=64, help="batch size (default 64)")
    parser.add_argument("--augment", action=argparse.BooleanOptionalAction, default=True,
                        help="rotations, flips, shifts, flux scale (default on)")
    parser.add_argument("--class-balance", choices=CLASS_BALANCE, default="weights",
                        help="class weights (default), balanced sampling or none")
    parser.add_argument("--freeze-features", action=argparse.BooleanOptionalAction, default=True,
                        help="train only the fully connected head, not the convolutions (default on)")
    parser.add_argument("--seed", type=int, default=42, help="seed (default 42)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: all available)")
    add_precision_argument(parser)


def run_finetune(args) -> int:
    """Entry point of ``lensfinder finetune``."""
    from lensfinder.learning.finetune_network import finetune

    finetune(args.model, args.shards, args.out, epochs=args.epochs, learning_rate=args.learning_rate,
             batch_size=args.batch_size, seed=args.seed, augment=args.augment, class_balance=args.class_balance,
             freeze_features=args.freeze_features, threads=args.threads,
             history_path=args.history, precision=args.precision)
    return 0


def add_rescore_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``lensfinder rescore``."""
    parser.add_argument("--model", required=True, metavar="MODEL.keras", help="trained network (settings in MODEL.json)")
    parser.add_argument("--stamps", nargs="+", required=True, metavar="CUBE.fits", help="stamp cubes to score")
    parser.add_argument("--index", nargs="+", required=True, metavar="INDEX.parquet", help="their indexes, same order")
    parser.add_argument("--out", nargs="+", required=True, metavar="PRED.parquet", help="one score table per cube")
    parser.add_argument("--batch-size", type=int, default=256, help="stamps per batch (default 256)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: all available)")
    parser.add_argument("--tta", choices=TTA_MODES, default=DEFAULT_TTA,
                        help=f"test-time augmentation, as lensfinder infer --tta (default {DEFAULT_TTA})")
    add_scoring_precision_argument(parser)


def run_rescore(args) -> int:
    """Entry point of ``lensfinder rescore``: ``lensfinder infer`` of many cubes in one process, one output per cube
    (the workflow's rounds now rescore with ``lensfinder infer``, as round 0)."""
    from lensfinder.io import write_table
    from lensfinder.learning.inference import predict_shards

    if not len(args.stamps) == len(args.index) == len(args.out):
        raise InputError(f"--stamps, --index, --out: {len(args.stamps)}, {len(args.index)} and {len(args.out)} "
                         "files; expected one index and one output per cube")
    if args.batch_size < 1:
        raise InputError(f"--batch-size: {args.batch_size}, expected >= 1")
    tables = predict_shards(args.stamps, args.index, [args.model], batch_size=args.batch_size, threads=args.threads,
                            tta=args.tta, precision=args.precision)
    for out, (_, table) in zip(args.out, tables):
        write_table(table, out)
    return 0


def add_evaluate_rounds_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``lensfinder evaluate-rounds``."""
    parser.add_argument("--predictions", nargs="+", action="append", required=True, metavar="PRED.parquet",
                        help="one round's scores of the evaluation tiles; repeat per round, round 0 first")
    parser.add_argument("--stamp-index", nargs="+", required=True, metavar="PARQUET",
                        help="stamp indexes of the evaluation tiles (the evaluation set)")
    parser.add_argument("--truth", nargs="+", required=True, metavar="PARQUET", help="mock-survey truth tables")
    parser.add_argument("--training-sets", nargs="*", default=[], metavar="PARQUET",
                        help="fine-tuning set tables of rounds 1, 2, ...")
    parser.add_argument("--threshold", action="append", default=None, metavar="SAMPLE=P",
                        help="candidate threshold per sample (repeatable; default Li et al. 2020's)")
    parser.add_argument("--out", required=True, metavar="ROUNDS.parquet", help="rounds table (+ .csv)")


def run_evaluate_rounds(args) -> int:
    """Entry point of ``lensfinder evaluate-rounds``."""
    from lensfinder.inspection.candidates import parse_thresholds
    from lensfinder.learning.rounds import evaluate_rounds_files

    evaluate_rounds_files(args.predictions, args.stamp_index, args.truth, args.training_sets,
                          parse_thresholds(args.threshold), args.out)
    return 0


#: figure kind -> what --inputs holds
FIGURES = {
    "reliability": "RELIABILITY.parquet SUMMARY.parquet pairs, one per round (lensfinder calibrate)",
    "rounds": "ROUNDS.parquet (lensfinder evaluate-rounds)",
}


def add_learning_figures_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``lensfinder learning-figures``."""
    parser.add_argument("--kind", choices=sorted(FIGURES), required=True,
                        help="; ".join(f"{k}: {v}" for k, v in FIGURES.items()))
    parser.add_argument("--inputs", nargs="+", required=True, metavar="TABLE", help="result tables (see --kind)")
    parser.add_argument("--out", required=True, metavar="PNG", help="output figure")


def run_learning_figures(args) -> int:
    """Entry point of ``lensfinder learning-figures``."""
    from lensfinder.io import read_table
    from lensfinder.plots.learning import plot_reliability, plot_rounds

    if args.kind == "rounds":
        if len(args.inputs) != 1:
            raise InputError("learning-figures --kind rounds: expected --inputs ROUNDS.parquet")
        plot_rounds(read_table(args.inputs[0]), args.out)
        return 0
    if len(args.inputs) % 2:
        raise InputError("learning-figures --kind reliability: expected --inputs RELIABILITY SUMMARY pairs")
    tables = [read_table(p) for p in args.inputs]
    plot_reliability(tables[0::2], tables[1::2], args.out)
    return 0
