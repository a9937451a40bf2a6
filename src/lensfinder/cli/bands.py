"""The ``bands_test`` experiment's steps: ``bands-test-table`` and ``bands-test-figure``.

Each ``run_*`` hands off to :mod:`lensfinder.experiments.bands` (the tables)
or :mod:`lensfinder.plots.bands` (the figure); the experiment is described in
docs/experiments.md.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

__all__ = [
    "add_bands_test_table_arguments",
    "run_bands_test_table",
    "add_bands_test_figure_arguments",
    "run_bands_test_figure",
]

log = logging.getLogger(__name__)


def add_bands_test_table_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scores", nargs="+", required=True, help="score tables of `lensfinder infer`")
    parser.add_argument("--score-labels", nargs="+", required=True,
                        help="one preset=NAME,bands=B1+B2,test_set=own|independent label per --scores file")
    parser.add_argument("--labels", nargs="+", required=True, help="metadata tables (object_id, is_lens) of every scored set")
    parser.add_argument("--out", required=True, help="metrics table (Parquet; a CSV is written beside it)")
    parser.add_argument("--out-gain", required=True, help="colour gain table (Parquet; a CSV is written beside it)")


def run_bands_test_table(args) -> int:
    import pandas as pd

    from lensfinder.experiments.bands import bands_metrics, colour_gain
    from lensfinder.experiments.tables import read_labelled
    from lensfinder.io import read_table, write_csv, write_table

    scores = read_labelled(args.scores, args.score_labels, "--scores", required=["object_id", "p_cnn"])
    labels = pd.concat([read_table(p, columns=["object_id", "is_lens"], required=["object_id", "is_lens"])
                        for p in args.labels], ignore_index=True)
    metrics = bands_metrics(scores, labels)
    gain = colour_gain(metrics)
    for table, path in ((metrics, args.out), (gain, args.out_gain)):
        write_table(table, path)
        write_csv(table, Path(path).with_suffix(".csv"))
    for row in gain.itertuples():
        log.info("%s, %s test: AUROC %.3f (%s) -> %.3f (%s), TPR0 %.2f -> %.2f, TPR10 %.2f -> %.2f", row.preset,
                 row.test_set, row.auroc_single, row.single_bands, row.auroc_colour, row.colour_bands,
                 row.tpr0_single, row.tpr0_colour, row.tpr10_single, row.tpr10_colour)
    return 0


def add_bands_test_figure_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--metrics", required=True, help="the metrics table of bands-test-table")
    parser.add_argument("--out", required=True, help="output PNG")


def run_bands_test_figure(args) -> int:
    from lensfinder.io import read_table
    from lensfinder.plots.bands import figure_bands_test

    figure_bands_test(read_table(args.metrics), args.out)
    return 0
