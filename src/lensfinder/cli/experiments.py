"""The experiments' steps: ``experiment-subset``, ``-table``, ``-figure`` and ``-roc-sample``.

Each ``run_*`` hands off to :mod:`lensfinder.experiments` (subsets, tables) or
:mod:`lensfinder.plots.experiments` (figures); the experiments are described in docs/experiments.md.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from lensfinder.cli.options import parse_key_values
from lensfinder.cli.options import non_negative_int
from lensfinder.experiments.reference import PAPER, reference_table
from lensfinder.experiments.subsets import SERSIC_COLUMNS, write_roc_sample, write_subset
from lensfinder.experiments.candidate_tables import net_comparison_tables, sersic_tables
from lensfinder.experiments.tables import (
    entropy_summary,
    psf_table,
    read_labelled,
    read_survey_scores,
    read_tables,
    roc_tables,
    survey_counts,
    volume_points,
    volume_table5,
    volume_valsize,
)
from lensfinder.io import InputError, read_table, write_csv, write_table
from lensfinder.plots.experiments import FIGURES

__all__ = [
    "TABLES",
    "add_experiment_subset_arguments",
    "run_experiment_subset",
    "add_experiment_table_arguments",
    "run_experiment_table",
    "add_experiment_figure_arguments",
    "run_experiment_figure",
    "add_experiment_roc_sample_arguments",
    "run_experiment_roc_sample",
]

log = logging.getLogger(__name__)

#: Li et al. 2020 Fig. 2's thresholds, the li2020_roc table's without --thresholds
ROC_THRESHOLDS = (0.25, 0.5, 0.75)


# ---------------------------------------------------------------------------
# experiment-subset

def add_experiment_subset_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--parent", nargs="+", required=True, help="parent shards (.fits, .parquet or directories)")
    parser.add_argument("--n", type=int, required=True, help="images in the subset (half lenses), at least 1")
    parser.add_argument("--seed", type=non_negative_int, required=True, help="the subset's seed")
    parser.add_argument("--distribution", choices=["flat", "huertas_company"], default="flat",
                        help="Sersic-index distribution of the subset (default flat = the parent's)")
    parser.add_argument("--sersic-columns", nargs="+", default=list(SERSIC_COLUMNS),
                        help="metadata columns whose Sersic index is resampled (those present are used)")
    parser.add_argument("--n-shards", type=int, default=1, help="output shards, at least 1")
    parser.add_argument("--name", default="subset", help="subset name stored in the metadata")
    parser.add_argument("--out-dir", required=True, help="directory for shard_000.fits/.parquet ...")


def run_experiment_subset(args) -> int:
    if args.n < 1:
        raise InputError(f"--n: {args.n}: expected at least 1 image (half of them lenses)")
    if args.n_shards < 1:
        raise InputError(f"--n-shards: {args.n_shards}: expected at least 1 output shard")
    write_subset(args.parent, args.n, args.seed, args.out_dir, distribution=args.distribution,
                 sersic_columns=args.sersic_columns, n_shards=args.n_shards, name=args.name)
    return 0


# ---------------------------------------------------------------------------
# experiment-table: one adapter per kind, args -> list of tables

def _metrics(args):
    return read_labelled(args.metrics, args.labels, "--metrics")


def _table_psf(args):
    return [psf_table(_metrics(args), args.reference_fwhm_arcsec)]


def _table_volume_points(args):
    return [volume_points(_metrics(args), args.threshold, args.parent_size)]


def _table_volume_table5(args):
    return [volume_table5(_metrics(args), args.threshold)]


def _table_volume_valsize(args):
    return [volume_valsize(_metrics(args), args.thresholds)]


def _scores(args):
    return read_survey_scores(args.predictions, args.labels, args.stamp_index, args.truth)


def _table_sersic(args):
    return list(sersic_tables(_scores(args), args.threshold, args.fiducial_threshold, args.sample))


def _table_entropy(args):
    if not args.entropy:
        raise InputError("--entropy: no tables; kind entropy reads the tables `lensfinder entropy` writes")
    return [entropy_summary(read_tables(args.entropy))]


def _table_net_comparison(args):
    return list(net_comparison_tables(_scores(args), args.sample, args.refined_sample, args.refined_max_masked_fraction,
                                      {"s_net": args.fiducial_threshold, "r_net": args.threshold}))


def _table_roc(args):
    if not args.predictions:
        raise InputError("--predictions: no tables; kind li2020_roc reads the test sample's predictions "
                         "(p_cnn, is_lens)")
    thresholds = args.thresholds if args.thresholds is not None else ROC_THRESHOLDS
    return list(roc_tables(read_tables(args.predictions, ["p_cnn", "is_lens"]), thresholds))


def _table_survey_counts(args):
    thresholds = parse_key_values(args.sample_thresholds, "--sample-thresholds")
    return [survey_counts(_scores(args), {k: float(v) for k, v in thresholds.items()})]


def _table_reference(args):
    return [reference_table()]


#: kind -> function(args) -> list of tables, written to --out in order.
TABLES = {
    "psf_test": _table_psf,
    "volume_points": _table_volume_points,
    "volume_table5": _table_volume_table5,
    "volume_valsize": _table_volume_valsize,
    "sersic_test": _table_sersic,
    "entropy": _table_entropy,
    "net_comparison": _table_net_comparison,
    "li2020_roc": _table_roc,
    "survey_counts": _table_survey_counts,
    "reference": _table_reference,
}


def add_experiment_table_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kind", required=True, choices=sorted(TABLES))
    parser.add_argument("--metrics", nargs="*", default=[], help="per-threshold metrics tables from `lensfinder evaluate`")
    parser.add_argument("--predictions", nargs="*", default=[], help="prediction tables from `lensfinder infer`")
    parser.add_argument("--labels", nargs="*", default=[], help="one key=value[,key=value] label per --metrics/--predictions file")
    parser.add_argument("--stamp-index", nargs="*", default=[], help="stamp index tables (sample flags, masked_fraction)")
    parser.add_argument("--truth", nargs="*", default=[], help="mock-survey truth tables (ID, is_lens)")
    parser.add_argument("--entropy", nargs="*", default=[], help="tables from `lensfinder entropy`")
    parser.add_argument("--threshold", type=float, default=0.8, help="p_CNN threshold of the experiment")
    parser.add_argument("--fiducial-threshold", type=float, default=0.999999, help="threshold of the fiducial s-Net")
    parser.add_argument("--thresholds", type=float, nargs="*", default=None,
                        help="li2020_roc: thresholds of the ROC points (default "
                             f"{' '.join(map(str, ROC_THRESHOLDS))}); volume_valsize: the thresholds kept "
                             "(default all in the metrics)")
    parser.add_argument("--sample-thresholds", nargs="*", default=[], help="SAMPLE=THRESHOLD for survey counts")
    parser.add_argument("--sample", default=None, help="stamp sample flag column (the LRG test sample)")
    parser.add_argument("--refined-sample", default=None, help="sample flag column of the refined sample")
    parser.add_argument("--refined-max-masked-fraction", type=float, default=None,
                        help="refined sample: stamps with at most this masked fraction and not at a tile edge")
    parser.add_argument("--reference-fwhm-arcsec", type=float, default=PAPER["psf_test"]["reference_fwhm_arcsec"])
    parser.add_argument("--parent-size", type=int, default=None, help="parent set size (volume test)")
    parser.add_argument("--out", nargs="+", required=True, help="output Parquet table(s); a CSV is written beside each")


def run_experiment_table(args) -> int:
    tables = TABLES[args.kind](args)
    if len(tables) != len(args.out):
        raise InputError(f"--out: kind {args.kind} writes {len(tables)} table(s), got {len(args.out)} path(s)")
    for table, path in zip(tables, args.out):
        write_table(table, path)
        write_csv(table, Path(path).with_suffix(".csv"))
        log.info("%s: %d rows -> %s", args.kind, len(table), path)
    return 0


# ---------------------------------------------------------------------------
# experiment-figure

def add_experiment_figure_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kind", required=True, choices=sorted(FIGURES))
    parser.add_argument("--tables", nargs="+", required=True, help="the experiment's Parquet tables")
    parser.add_argument("--out", required=True, help="output PNG")


def run_experiment_figure(args) -> int:
    func, n_tables = FIGURES[args.kind]
    if len(args.tables) != n_tables:
        raise InputError(f"--tables: figure {args.kind} reads {n_tables} table(s), got {len(args.tables)}")
    try:
        func([read_table(p) for p in args.tables], args.out)
    except KeyError as exc:  # a table of another kind: name the tables and the column the figure wants
        raise InputError(f"--tables {' '.join(args.tables)}: no column {exc.args[0]!r} for figure {args.kind}; "
                         f"expected the {args.kind} tables `lensfinder experiment-table` writes") from None
    return 0


# ---------------------------------------------------------------------------
# experiment-roc-sample (Li et al. 2020, section 2.3)

def add_experiment_roc_sample_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sim", nargs="+", required=True, help="simulated shards (lenses are drawn from them)")
    parser.add_argument("--stamp-cubes", nargs="+", required=True)
    parser.add_argument("--stamp-index", nargs="+", required=True)
    parser.add_argument("--truth", nargs="*", default=[], help="mock truth: true lenses are left out of the negatives")
    parser.add_argument("--sample", default="lrg_li2020", help="sample flag of the negatives (default lrg_li2020)")
    parser.add_argument("--n-positives", type=int, default=2000)
    parser.add_argument("--n-negatives", type=int, default=2000)
    parser.add_argument("--seed", type=non_negative_int, default=0)
    parser.add_argument("--out-cube", required=True)
    parser.add_argument("--out-index", required=True)


def run_experiment_roc_sample(args) -> int:
    write_roc_sample(args.sim, args.stamp_cubes, args.stamp_index, args.out_cube, args.out_index, truth=args.truth,
                     sample=args.sample, n_positives=args.n_positives, n_negatives=args.n_negatives, seed=args.seed)
    return 0
