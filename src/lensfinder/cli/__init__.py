"""The ``lensfinder`` command line: one subcommand per pipeline step.

Start-up is cheap: the table below names each step's module, which is
imported only when that step runs (or its ``--help`` is asked for). No step
module imports TensorFlow at module level; the training and scoring
functions import it inside.

A step module ``M`` registered as ``"name": ("M", "func", help)`` provides
``M.add_<func>_arguments(parser)`` and ``M.run_<func>(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from pathlib import Path

from lensfinder import __version__

__all__ = ["main", "STEPS"]

#: step name -> (module, function stem, one-line help)
STEPS: dict[str, tuple[str, str, str]] = {
    # survey access
    "mock-survey": ("lensfinder.cli.survey", "mock_survey", "generate one tile of the built-in mock KiDS-like survey"),
    "list-tiles": ("lensfinder.cli.survey", "list_tiles", "list the KiDS tiles of a release, a sky region or a list, as a table"),
    "download-catalog": ("lensfinder.cli.survey", "download_catalog", "download one KiDS tile's catalogue through TAP"),
    "download-tile": ("lensfinder.cli.survey", "download_tile", "download one band (--band, default r) of one KiDS tile: its coadd, weight and mask, or cutouts, through ObsCore/SODA"),
    "download-legacy-field": ("lensfinder.cli.survey", "download_legacy_field", "download one DESI Legacy Surveys DR10 field: Tractor catalogue (TAP) and an image, weight and mask per band of --bands (cutout service; default r)"),
    "merge-catalog": ("lensfinder.cli.selection", "merge_catalog", "concatenate per-tile catalogue parts into one table"),
    # selection and stamps
    "preselect": ("lensfinder.cli.selection", "preselect", "LRG and bright-galaxy preselection with per-cut flags and cut flow"),
    "merge-preselection": ("lensfinder.cli.selection", "merge_preselection", "the whole catalogue's preselection flags and cut flow from each tile's"),
    "stamps": ("lensfinder.cli.selection", "stamps", "cut stamps of the selected galaxies from one tile, in every band"),
    # training data
    "simulate": ("lensfinder.cli.simulation", "simulate", "simulate one shard of lenses and non-lenses"),
    "entropy": ("lensfinder.cli.simulation", "entropy", "Shannon entropy of simulated images (He et al. 2020, eq. 2)"),
    # learning
    "train": ("lensfinder.cli.learning", "train", "train a CNN on simulated shards"),
    "export-network": ("lensfinder.cli.learning", "export_network", "a trained network without its optimiser's state, for other runs to start from"),
    "average-networks": ("lensfinder.cli.learning", "average_networks", "average the weights of networks fine-tuned from one (a model soup), as one network"),
    "infer": ("lensfinder.cli.learning", "infer", "score one stamp shard with a trained CNN"),
    "evaluate": ("lensfinder.cli.learning", "evaluate", "ROC, AUROC, TPR0/TPR10 of predictions against labels"),
    "collect-predictions": ("lensfinder.cli.learning", "collect_predictions", "join per-tile scores with stamp flags and catalogue columns"),
    # learning from the graders: calibration, ensembles, retraining rounds
    "calibrate": ("lensfinder.cli.rounds", "calibrate", "calibrate each network on held-out simulations; reliability and ECE"),
    "combine-scores": ("lensfinder.cli.rounds", "combine_scores", "combined p_CNN of an ensemble: mean of calibrated probabilities"),
    "finetune-set": ("lensfinder.cli.rounds", "finetune_set", "a round's fine-tuning set: graded lenses, hard negatives, survey stamps, simulations"),
    "finetune": ("lensfinder.cli.rounds", "finetune", "train a network further on a fine-tuning set"),
    "rescore": ("lensfinder.cli.rounds", "rescore", "score many stamp cubes with one network in one process, a table per cube (infer: one table of all)"),
    "evaluate-rounds": ("lensfinder.cli.rounds", "evaluate_rounds", "R-precision, completeness and false positives per round (mock survey)"),
    "learning-figures": ("lensfinder.cli.rounds", "learning_figures", "reliability diagram and retraining-rounds figure"),
    # human inspection and ranking
    "candidates": ("lensfinder.cli.inspection", "candidates", "select candidates above threshold and export an inspection set"),
    "mock-grades": ("lensfinder.cli.inspection", "mock_grades", "grades from simulated inspectors (mock survey only)"),
    "grade": ("lensfinder.cli.inspection", "grade", "serve the local grading page for one inspector"),
    "merge-scores": ("lensfinder.cli.inspection", "merge_scores", "merge human grades with p_CNN into the ranked list"),
    "crossmatch": ("lensfinder.cli.inspection", "crossmatch", "cross-match candidates with known lenses (lenscat)"),
    "digest": ("lensfinder.cli.inspection", "digest", "a ranked list in a few lines: candidates per class, known lenses, the top rows"),
    # figures
    "figures": ("lensfinder.cli.report", "figures", "draw the report figures from result tables"),
    # the papers' experiments
    "experiment-subset": ("lensfinder.cli.experiments", "experiment_subset", "class-balanced (optionally Sersic-resampled) subset of a parent set"),
    "experiment-table": ("lensfinder.cli.experiments", "experiment_table", "aggregate an experiment's metrics into its table, beside the papers' values"),
    "experiment-figure": ("lensfinder.cli.experiments", "experiment_figure", "draw an experiment's figure from its tables"),
    "experiment-roc-sample": ("lensfinder.cli.experiments", "experiment_roc_sample", "Li et al. 2020 test sample: mock lenses plus survey LRGs"),
    # independent validation (domain_shift)
    "domain-shift-render": ("lensfinder.cli.domain_shift", "domain_shift_render", "render one shard of an independent test set with lenstronomy and GalSim"),
    "domain-shift-table": ("lensfinder.cli.domain_shift", "domain_shift_table", "own-test vs independent metrics, per-kind rates, completeness and the top-ranked negatives of networks"),
    "domain-shift-figure": ("lensfinder.cli.domain_shift", "domain_shift_figure", "draw the domain_shift figure from its tables"),
    # one band against several (bands_test)
    "bands-test-table": ("lensfinder.cli.bands", "bands_test_table", "AUROC, TPR0, TPR10 of one-band and colour networks per survey preset"),
    "bands-test-figure": ("lensfinder.cli.bands", "bands_test_figure", "draw the bands_test figure from its metrics table"),
    # the machine
    "info": ("lensfinder.cli.info", "info", "versions, CPU, memory, GPUs and settings of this machine, for bug reports"),
}


#: the help of ``--tiles-from`` (read before argparse, by :func:`expand_tile_patterns`), in every --help
TILES_FROM_HELP = ("--tiles-from FILE (any step, anywhere on the line): every other argument holding {tile} "
                   "stands for one argument per tile name in FILE (one per line, or a .csv table's tile column, "
                   "as `lensfinder list-tiles` writes), in FILE's order; e.g. `lensfinder merge-catalog "
                   "--tiles-from names.txt --parts parts/{tile}.parquet --out catalog.parquet`.")


def _build_parser(selected: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lensfinder",
        description="CNN strong-lens search pipeline (He et al. 2020; Li et al. 2020). "
        "Each subcommand is one pipeline step; see `lensfinder STEP --help`.",
        epilog=TILES_FROM_HELP,
    )
    parser.add_argument("--version", action="version", version=f"lensfinder {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    sub = parser.add_subparsers(dest="step", metavar="STEP")
    for name, (module, stem, help_text) in STEPS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text, epilog=TILES_FROM_HELP)
        if name == selected:
            mod = importlib.import_module(module)
            getattr(mod, f"add_{stem}_arguments")(sp)
            sp.set_defaults(_run=getattr(mod, f"run_{stem}"))
    return parser


#: ``--tiles-from FILE`` (any step): every other argument holding ``{tile}`` stands for one argument per tile
#: name in FILE (one per line, or a ``.csv`` table's ``tile`` column: ``lensfinder list-tiles``), in FILE's
#: order. The workflow passes the survey's per-tile files so: Linux caps one argument, a rule's whole
#: `bash -c` command, at 128 KiB, which a DR4 search's file lists reach.
TILES_FROM = "--tiles-from"


def expand_tile_patterns(argv: list[str]) -> list[str]:
    """``argv`` with :data:`TILES_FROM` and its file replaced by the per-tile arguments it stands for."""
    from lensfinder.io import InputError

    if TILES_FROM not in argv:
        return argv
    k = argv.index(TILES_FROM)
    if k + 1 >= len(argv):
        raise InputError(f"{TILES_FROM}: expected a file of tile names, one per line")
    path = Path(argv[k + 1])
    if not path.is_file():
        raise InputError(f"{TILES_FROM}: {path}: file not found; expected the tile names, one per line")
    if path.suffix == ".csv":
        from lensfinder.surveys.kids import read_tile_list

        tiles = read_tile_list(path)
    else:
        try:
            tiles = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        except OSError as exc:
            raise InputError(f"{TILES_FROM}: {path}: cannot read the tile names ({exc.strerror})") from None
        except UnicodeDecodeError:
            raise InputError(f"{TILES_FROM}: {path}: not a text file; expected the tile names, one per line") from None
    rest = argv[:k] + argv[k + 2:]
    if not any("{tile}" in a for a in rest):
        raise InputError(f"{TILES_FROM} {path}: no argument holds {{tile}} to expand")
    return [item for a in rest for item in ([a.replace("{tile}", t) for t in tiles] if "{tile}" in a else [a])]


def main(argv: list[str] | None = None) -> int:
    from lensfinder.io import InputError

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        argv = expand_tile_patterns(argv)
    except InputError as exc:  # as argparse reports a bad option
        print(f"lensfinder: error: {exc}", file=sys.stderr)
        return 2
    selected = next((a for a in argv if not a.startswith("-")), None)
    parser = _build_parser(selected if selected in STEPS else None)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "_run", None):
        parser.print_help()
        return 0 if args.step is None else 2
    terminate = _exit_on_sigterm()
    try:
        return int(args._run(args) or 0)
    except InputError as exc:
        # once, as argparse reports a bad option; the workflow's rules send stderr to their logs
        print(f"lensfinder {args.step}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `lensfinder info | head -1`: the reader has what it wanted; no error, as `cat` does
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the interpreter's last flush, too
        return 141  # 128 + SIGPIPE, the status of a command the closed pipe stopped
    except OSError as exc:  # a path that cannot be made, read or written (a file where a folder is due, a full disk)
        if args.verbose:
            logging.getLogger(__name__).exception("lensfinder %s", args.step)
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        print(f"lensfinder {args.step}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    finally:
        terminate()


def _exit_on_sigterm():
    """Make SIGTERM (Slurm's scancel, Snakemake stopping its jobs) unwind like an exception, so that atomic
    writes remove their temporary files; returns the function that puts the previous handler back."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum, frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    return lambda: signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
