"""The ``figures`` step: one report figure per call, drawn from result tables.

Each kind in :data:`FIGURES` reads its ``--inputs`` and hands off to a drawing
function of :mod:`lensfinder.plots`.
"""

from __future__ import annotations

import logging

from lensfinder.io import InputError, read_csv_table, read_table
from lensfinder.plots.ranking import plot_pcnn_vs_phuman, plot_ranked_mosaic, plot_score_histogram
from lensfinder.plots.report import plot_completeness, plot_cutflow, plot_learning_curve, plot_pcnn_samples, plot_roc

__all__ = ["FIGURES", "add_figures_arguments", "run_figures"]

log = logging.getLogger(__name__)

#: Li et al. 2020, Fig. 8 shows the 82 candidates with P >= 0.5
TOP_CANDIDATES = 82


def _roc_figure(inputs, out, args):
    if len(inputs) != 2:
        raise InputError("figures --kind roc: expected --inputs ROC.parquet METRICS.parquet")
    return plot_roc(read_table(inputs[0]), read_table(inputs[1]), out)


def _completeness_figure(inputs, out, args):
    return plot_completeness(read_table(inputs[0]), out)


def _learning_curve_figure(inputs, out, args):

    history = read_csv_table(inputs[0], ["epoch", "loss"], "the history CSV of `lensfinder train` (epoch, loss, ...)")
    return plot_learning_curve(history, out)


def _pcnn_samples_figure(inputs, out, args):
    thresholds = dict(_parse_threshold(t) for t in (args.threshold or []))
    return plot_pcnn_samples(read_table(inputs[0]), out, thresholds)


def _cutflow_figure(inputs, out, args):
    return plot_cutflow(read_table(inputs[0]), out)


def _pcnn_vs_phuman_figure(inputs, out, args):
    return plot_pcnn_vs_phuman(read_table(inputs[0], required=["n_graders", "p_human", "p_cnn", "n_top", "n_zero"]),
                               out)


def _score_histogram_figure(inputs, out, args):
    scores = ["score_sum"] if args.scheme == "he2020" else ["score_mean"]
    return plot_score_histogram(read_table(inputs[0], required=scores), out, scheme=args.scheme)


def _top_candidates_figure(inputs, out, args):
    """inputs: RANKED.parquet, then the stamp indexes, then their cubes (same order)."""
    from lensfinder.inspection.candidates import load_band_stamps

    ranked, rest = read_table(inputs[0], required=["object_id"]), inputs[1:]
    if len(rest) % 2:
        raise InputError("figures --kind top_candidates: expected --inputs RANKED INDEX... CUBE... (one cube per index)")
    half = len(rest) // 2
    top = ranked.head(TOP_CANDIDATES)
    stamps, bands = load_band_stamps(top["object_id"].astype(str), rest[:half], rest[half:])
    return plot_ranked_mosaic(top, out, stamps=stamps, bands=bands)


def _parse_threshold(text):
    sample, _, value = text.partition("=")
    try:
        return sample, float(value)
    except ValueError:
        raise InputError(f"--threshold {text!r}: expected SAMPLE=VALUE with a number") from None


#: figure kind -> drawing function(inputs, out, args)
FIGURES = {
    "roc": _roc_figure,
    "completeness": _completeness_figure,
    "learning_curve": _learning_curve_figure,
    "pcnn_samples": _pcnn_samples_figure,
    "cutflow": _cutflow_figure,
    "pcnn_vs_phuman": _pcnn_vs_phuman_figure,
    "score_histogram": _score_histogram_figure,
    "top_candidates": _top_candidates_figure,
}


def add_figures_arguments(parser):
    parser.add_argument("--kind", required=True, choices=sorted(FIGURES), help="which figure")
    parser.add_argument("--inputs", nargs="+", required=True, help="the result tables the figure reads")
    parser.add_argument("--threshold", action="append", help="SAMPLE=VALUE threshold to mark (pcnn_samples)")
    parser.add_argument("--scheme", choices=["li2020", "he2020"], default="li2020",
                        help="grading scheme of the ranked list (score_histogram): li2020 shows the mean score "
                        "s_ave, he2020 the summed scores (default li2020)")
    parser.add_argument("--out", required=True, help="output PNG")


def run_figures(args) -> int:
    path = FIGURES[args.kind](args.inputs, args.out, args)
    log.info("wrote %s figure %s", args.kind, path)
    return 0
