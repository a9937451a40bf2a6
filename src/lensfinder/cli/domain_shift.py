"""The ``domain_shift`` experiment's steps: ``domain-shift-render``, ``-table`` and ``-figure``.

Each ``run_*`` hands off to :mod:`lensfinder.experiments.independent_render`
(the independent sets), :mod:`lensfinder.experiments.domain_shift` (the
tables) or :mod:`lensfinder.plots.domain_shift` (the figure); the experiment
is described in docs/experiments.md.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from lensfinder.cli.options import parse_key_values
from lensfinder.io import InputError

__all__ = [
    "add_domain_shift_render_arguments",
    "run_domain_shift_render",
    "add_domain_shift_table_arguments",
    "run_domain_shift_table",
    "add_domain_shift_figure_arguments",
    "run_domain_shift_figure",
]

log = logging.getLogger(__name__)

#: tables of ``domain-shift-table``, in ``--out`` order
TABLE_NAMES = ("summary", "metrics", "kinds", "completeness", "roc", "seeds", "top_negatives")


def add_domain_shift_render_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--n", type=int, required=True, help="images in this shard (half lenses by default)")
    parser.add_argument("--seed", type=int, required=True, help="the set's seed (its streams are its own)")
    parser.add_argument("--shard", type=int, default=0, help="shard number")
    parser.add_argument("--hosts", nargs="*", default=[],
                        help="stamp cubes {tile}.fits (beside their .parquet index) of the held-out tiles")
    parser.add_argument("--truth", nargs="*", default=[], help="mock-survey truth tables: true lenses are not hosts")
    parser.add_argument("--host-flag", default="lrg_li2020", help="bool index column of the hosts ('' = all stamps)")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="override a field of IndependentSpec (value read as YAML), e.g. --set host_fraction=0.3")
    parser.add_argument("--out-dir", required=True,
                        help="writes shard_NNN.fits (the bands along axis 1, header BANDS) and shard_NNN.parquet")


def run_domain_shift_render(args) -> int:
    import numpy as np

    from lensfinder.experiments.independent import independent_spec
    from lensfinder.experiments.independent_render import HostPool, render_independent
    from lensfinder.io import write_cube, write_table

    spec = independent_spec(parse_key_values(args.set))
    hosts = HostPool(args.hosts, host_flag=args.host_flag, truth=args.truth) if args.hosts else None
    if hosts is not None and not len(hosts):
        raise InputError(f"--hosts: no stamp passes the host cuts ({args.host_flag or 'all'}, not a true lens)")
    cubes, table = render_independent(spec, args.seed, args.shard, args.n, hosts)
    out = Path(args.out_dir)
    images = np.stack([cubes[band] for band in spec.bands], axis=1)
    write_cube(images, out / f"shard_{args.shard:03d}.fits", spec.pixel_scale_arcsec, spec.zeropoint_mag,
               bands=list(spec.bands))
    write_table(table, out / f"shard_{args.shard:03d}.parquet")
    return 0


def add_domain_shift_table_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scores", nargs="+", required=True, help="score tables of `lensfinder infer`")
    parser.add_argument("--score-labels", nargs="+", required=True,
                        help="one model=NAME,test_set=own|independent label per --scores file, optionally "
                             "with ,training_set=SET: the networks of one set trained from different seeds "
                             "(the seeds table gives their spread; default: each model its own set)")
    parser.add_argument("--metadata", nargs="+", required=True, help="metadata tables of every scored set")
    parser.add_argument("--train-metadata", nargs="*", default=[], help="training sets' metadata (host counts)")
    parser.add_argument("--train-labels", nargs="*", default=[], help="one model=NAME label per --train-metadata file")
    parser.add_argument("--threshold", type=float, default=0.5, help="p_CNN threshold of the rates (default 0.5)")
    parser.add_argument("--subset", action="append", default=None, metavar="NAME:LENS_KINDS:NEGATIVE_KINDS",
                        help="also the metrics on the independent set's images of these kinds alone (comma-separated), "
                             "test_set independent:NAME in the metrics table; repeatable (default: "
                             "held_back_like, the held-back set's kinds; rendered, the lenses rendered whole "
                             "against the rendered negatives; on_hosts, the lenses on survey hosts against the "
                             "hosts' stamps alone; 'none' for no subset)")
    parser.add_argument("--out", nargs=len(TABLE_NAMES), required=True, metavar="PARQUET",
                        help=f"the {', '.join(TABLE_NAMES)} tables (a CSV is written beside each)")


def run_domain_shift_table(args) -> int:
    import pandas as pd

    from lensfinder.experiments import domain_shift as ds
    from lensfinder.experiments.tables import read_labelled
    from lensfinder.io import read_table, write_csv, write_table

    scores = read_labelled(args.scores, args.score_labels, "--scores", required=["object_id", "p_cnn"])
    bad = sorted(set(scores.get("test_set", pd.Series(["?"]))) - {"own", "independent"})
    if "model" not in scores or bad:
        raise InputError(f"--score-labels: expected model=NAME,test_set=own|independent, got test sets {bad}")
    metadata = pd.concat([read_table(p, required=["object_id", "is_lens"]) for p in args.metadata],
                         ignore_index=True)
    train = None
    if args.train_metadata:
        train = read_labelled(args.train_metadata, args.train_labels, "--train-metadata", required=["object_id"])
    joined = ds.join_scores(scores, metadata, "--metadata " + ", ".join(map(str, args.metadata)))
    texts = list(ds.DEFAULT_SUBSETS) if args.subset is None else [t for t in args.subset if t != "none"]
    subsets = [ds.parse_subset(t) for t in texts]
    long = ds.metrics_long(joined, args.threshold, train, subsets)
    training_sets = {}
    if "training_set" in scores:
        for model, sets in scores.groupby("model", sort=False)["training_set"]:
            names = sorted(set(sets.dropna().astype(str)))
            if len(names) > 1:
                raise InputError(f"--score-labels: model={model} is labelled with training sets {names}; "
                                 "expected one training_set per model")
            training_sets.update({model: names[0]} if names else {})
    summary = ds.side_by_side(long, training_sets)
    tables = (summary, long, ds.kind_rates(joined, args.threshold),
              ds.completeness_table(joined, args.threshold), ds.roc_table(joined), ds.seed_spread(summary),
              ds.top_negatives(joined, metadata))
    named = dict(zip(TABLE_NAMES, tables))
    for table, path in zip(tables, args.out):
        write_table(table, path)
        write_csv(table, Path(path).with_suffix(".csv"))
    for row in summary.itertuples():
        log.info("%s: own AUROC %.3f TPR0 %.2f TPR@1%% %.2f | independent AUROC %.3f (95%% %.3f-%.3f) TPR0 %.2f "
                 "TPR@1%% %.2f (95%% %.2f-%.2f)", row.model, row.own_auroc, row.own_tpr0, row.own_tpr_fpr1,
                 row.independent_auroc, row.independent_auroc_lo, row.independent_auroc_hi, row.independent_tpr0,
                 row.independent_tpr_fpr1, row.independent_tpr_fpr1_lo, row.independent_tpr_fpr1_hi)
    for row in long[long["test_set"].str.startswith("independent:")].itertuples():
        log.info("%s on %s (%d images): AUROC %.3f (95%% %.3f-%.3f) TPR0 %.2f TPR@1%% %.2f (95%% %.2f-%.2f)",
                 row.model, row.test_set, row.n, row.auroc, row.auroc_lo, row.auroc_hi, row.tpr0, row.tpr_fpr1,
                 row.tpr_fpr1_lo, row.tpr_fpr1_hi)
    for row in long[long["vs"].notna()].itertuples():
        log.info("%s minus %s on %s (the same images): AUROC %+.3f (95%% %+.3f to %+.3f), TPR@1%% %+.2f "
                 "(95%% %+.2f to %+.2f)", row.model, row.vs, row.test_set, row.auroc_diff, row.auroc_diff_lo,
                 row.auroc_diff_hi, row.tpr_fpr1_diff, row.tpr_fpr1_diff_lo, row.tpr_fpr1_diff_hi)
    for (model, test_set), part in named["top_negatives"].groupby(["model", "test_set"], sort=False):
        log.info("%s on %s: the %d negatives that set TPR at FPR 1 %% (of %d): %s", model, test_set, len(part),
                 part["n_negatives"].iloc[0], ", ".join(f"{k} {n}" for k, n in part["kind"].value_counts().items()))
    spread = named["seeds"]
    for row in spread[(spread["n_networks"] > 1) & spread["metric"].str.endswith("_auroc")].itertuples():
        log.info("%s, %d networks: %s mean %.3f, %.3f-%.3f", row.training_set, row.n_networks, row.metric,
                 row.mean, row.min, row.max)
    return 0


def add_domain_shift_figure_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tables", nargs=4, required=True, metavar="PARQUET",
                        help="the summary, roc, kinds and completeness tables")
    parser.add_argument("--out", required=True, help="output PNG")


def run_domain_shift_figure(args) -> int:
    from lensfinder.io import read_table
    from lensfinder.plots.domain_shift import figure_domain_shift

    figure_domain_shift([read_table(p) for p in args.tables], args.out)
    return 0
