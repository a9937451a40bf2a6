"""The inspection steps' command line: candidates, mock-grades, grade, merge-scores, crossmatch."""

from __future__ import annotations

import argparse
import logging

from lensfinder.inspection.candidates import PROCEDURE_THRESHOLDS, parse_thresholds
from lensfinder.inspection.crossmatch import crossmatch_file
from lensfinder.inspection.export import export_inspection_set
from lensfinder.inspection.grades import SCHEMES
from lensfinder.inspection.mock_inspectors import MOCK_CUTS, mock_grades_for_manifest, read_truth, truth_of_pieces
from lensfinder.inspection.pixels import SURVEY_VIEWERS
from lensfinder.inspection.ranking import merge_scores_from_files, ranked_digest, write_ranked
from lensfinder.inspection.server import SCHEME_KEYS, serve_grading
from lensfinder.inspection.session import DEFAULT_FLAGS
from lensfinder.inspection.summary import summary_page
from lensfinder.io import InputError, read_table, write_csv
from lensfinder.surveys.designation import DESIGNATIONS

__all__ = [
    "add_candidates_arguments", "run_candidates",
    "add_mock_grades_arguments", "run_mock_grades",
    "add_grade_arguments", "run_grade",
    "add_merge_scores_arguments", "run_merge_scores",
    "add_crossmatch_arguments", "run_crossmatch",
]

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- candidates


def add_candidates_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--predictions", nargs="+", required=True, metavar="PARQUET",
                        help="CNN predictions (object_id, p_cnn, ...), one or more tiles of one model")
    parser.add_argument("--stamp-index", nargs="+", required=True, metavar="PARQUET",
                        help="stamp indexes (object_id + sample flags), one per cube, same order as --stamp-cube")
    parser.add_argument("--stamp-cube", nargs="+", required=True, metavar="FITS",
                        help="stamp cubes (any bands, the same for all), row k belongs to index row k")
    parser.add_argument("--stamp-cube-g", nargs="+", default=None, metavar="FITS",
                        help="g-band cubes (same rows) beside r-band --stamp-cube; with --stamp-cube-i a g,r,i set")
    parser.add_argument("--stamp-cube-i", nargs="+", default=None, metavar="FITS", help="i-band cubes (same rows)")
    parser.add_argument("--catalog", default=None, metavar="PARQUET",
                        help="merged catalogue; fills ra/dec (RAJ2000/DECJ2000) where the index lacks them")
    parser.add_argument("--threshold", action="append", default=None, metavar="SAMPLE=P",
                        help="p_cnn threshold per sample flag (repeatable); default from --procedure")
    parser.add_argument("--procedure", choices=sorted(PROCEDURE_THRESHOLDS), default="li2020",
                        help="inspection procedure: default thresholds (li2020: lrg 0.75, bg 0.98; "
                             "he2020: lrg 0.999999)")
    parser.add_argument("--include", default=None, metavar="CSV",
                        help="object_id list added whatever their p_cnn (He et al.: known lenses the CNN missed)")
    parser.add_argument("--exclude", default=None, metavar="CSV",
                        help="object_id list removed (Li et al.: pre-filtered non-lenses, already known candidates)")
    parser.add_argument("--mix-simulated", nargs=2, action="append", default=None, metavar=("SIMCUBE", "SIMMETA"),
                        help="mix known simulated lenses and non-lenses from this shard into the set (repeatable)")
    parser.add_argument("--n-mix", type=int, default=20,
                        help="number of simulated objects mixed in (half lenses), default 20")
    parser.add_argument("--seed", type=int, default=42, help="seed of the mixing draw and the blinded order")
    parser.add_argument("--mosaic-max", type=int, default=100, help="stamps shown in mosaic.png (default 100)")
    parser.add_argument("--out-dir", required=True, help="output directory (results/inspect)")


def run_candidates(args: argparse.Namespace) -> int:
    export_inspection_set(
        args.predictions, args.stamp_index, args.stamp_cube, args.out_dir,
        parse_thresholds(args.threshold, args.procedure),
        g_cube_paths=args.stamp_cube_g, i_cube_paths=args.stamp_cube_i, catalog_path=args.catalog,
        include_path=args.include, exclude_path=args.exclude, simulated=args.mix_simulated or (),
        n_mix=args.n_mix, seed=args.seed, mosaic_max=args.mosaic_max,
    )
    return 0


# ---------------------------------------------------------------- mock-grades


def add_mock_grades_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--manifest", required=True, help="inspection manifest (results/inspect/manifest.parquet)")
    parser.add_argument("--truth", nargs="+", required=True, metavar="PARQUET",
                        help="truth tables: mock-survey truth (ID, is_lens, theta_E) and/or the set's known.parquet "
                             "(object_id, is_lens, theta_E)")
    parser.add_argument("--positions", metavar="PARQUET",
                        help="object_id, ra, dec of the set's survey objects (its candidates.parquet): detections "
                             "without a truth row take the truth of the object they are a piece of (a lensed arc "
                             "is graded as its lens); without it they are graded as non-lenses")
    parser.add_argument("--scheme", choices=sorted(MOCK_CUTS), default="li2020", help="grading scheme")
    parser.add_argument("--n-inspectors", type=int, default=5, help="number of simulated inspectors (Li et al.: 5)")
    parser.add_argument("--seed", type=int, default=42, help="seed of the simulated inspectors")
    parser.add_argument("--out", required=True, help="grades CSV (object_id,inspector,grade,time)")


def run_mock_grades(args: argparse.Namespace) -> int:
    manifest = read_table(args.manifest, required=["object_id"])
    truth = read_truth(args.truth)
    if args.positions:
        import pandas as pd

        parents = [t for t in map(read_table, args.truth) if {"ra", "dec"} <= set(t.columns)]
        truth = truth_of_pieces(truth, read_table(args.positions, required=["object_id", "ra", "dec"]),
                                pd.concat(parents, ignore_index=True) if parents else pd.DataFrame())
    grades = mock_grades_for_manifest(manifest, truth, scheme=args.scheme,
                                      n_inspectors=args.n_inspectors, seed=args.seed)
    write_csv(grades, args.out)
    log.info("SIMULATED inspectors: %d grades from %d simulated inspectors on %d objects -> %s",
             len(grades), args.n_inspectors, len(manifest), args.out)
    return 0


# ---------------------------------------------------------------- grade


def add_grade_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--inspection-set", "--set", required=True, dest="set_dir", metavar="DIR",
                        help="inspection set directory (manifest.parquet + png/), e.g. results/inspect "
                             "(--set is the old spelling)")
    parser.add_argument("--inspector", required=True, help="your name, written in every grade row")
    parser.add_argument("--scheme", choices=sorted(SCHEME_KEYS), default="li2020",
                        help="li2020: A/B/C/D; he2020: 2/1/0")
    parser.add_argument("--port", type=_port, default=0,
                        help="port on 127.0.0.1, 0-65535 (0: any free port, printed in the log)")
    parser.add_argument("--grades", default=None, metavar="CSV",
                        help="grades CSV to append to (default DIR/human_grades.csv, shared by inspectors); "
                             "notes go to the .notes.csv beside it")
    parser.add_argument("--unblind", action="store_true",
                        help="allow the unblinded view: object ids, p_CNN, positions, the truth of mixed-in "
                             "simulations and the other inspectors' grades (default: blind)")
    parser.add_argument("--feedback", action="store_true",
                        help="Space Warps-style feedback: after grading a mixed-in simulation, say what it was")
    parser.add_argument("--tile-dir", default=None, metavar="DIR",
                        help="survey tile images DIR/{tile}.fits (e.g. results/survey/tiles): wider field around "
                             "candidates")
    parser.add_argument("--field-arcsec", type=float, default=60.0, help="side of the wider field (arcsec, default 60)")
    parser.add_argument("--survey", choices=sorted(SURVEY_VIEWERS), default=None,
                        help="survey of the set, for links to its own viewer (none for mock)")
    parser.add_argument("--flag", action="append", default=None, metavar="NAME",
                        help=f"a flag inspectors can set (repeatable; default: {', '.join(DEFAULT_FLAGS)})")


def _port(text: str) -> int:
    """``--port``: a TCP port, 0-65535 (0: any free one)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a port number 0-65535") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text}: expected a port number 0-65535 (0: any free port)")
    return port


def run_grade(args: argparse.Namespace) -> int:
    serve_grading(args.set_dir, args.inspector, args.scheme, args.grades, args.port, unblind=args.unblind,
                  feedback=args.feedback, tile_dir=args.tile_dir, survey=args.survey, field_arcsec=args.field_arcsec,
                  flags=args.flag or DEFAULT_FLAGS)
    return 0


# ---------------------------------------------------------------- merge-scores


def add_merge_scores_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--predictions", nargs="+", required=True, metavar="PARQUET",
                        help="predictions with object_id, p_cnn (e.g. results/inspect/candidates.parquet)")
    parser.add_argument("--grades", required=True, help="grades CSV (object_id,inspector,grade[,time])")
    parser.add_argument("--scheme", choices=sorted(SCHEMES), default="li2020", help="grading scheme")
    parser.add_argument("--out", required=True, help="ranked list (Parquet)")
    parser.add_argument("--out-csv", default=None, help="the ranked list as CSV, rounded per column")
    parser.add_argument("--out-tex", default=None, help="AASTeX deluxetable like Li et al. 2020 Table 1")
    parser.add_argument("--tex-all", action="store_true", help="all ranked rows in the LaTeX table, not only P >= high")
    parser.add_argument("--out-fits", default=None, help="the ranked list as a FITS table with units and descriptions")
    parser.add_argument("--out-ecsv", default=None, help="the same as ECSV")
    parser.add_argument("--out-votable", default=None, help="the same as VOTable")
    parser.add_argument("--out-summary", default=None, metavar="HTML",
                        help="one static page with every candidate's stamps, scores, grades, notes and cross-match")
    parser.add_argument("--notes", default=None, metavar="CSV",
                        help="the grading page's flags and comments for --out-summary (default: the .notes.csv "
                             "beside --grades, when it exists)")
    parser.add_argument("--survey", choices=sorted(DESIGNATIONS), default=None,
                        help="survey whose IAU-style designations name the objects (name column; default: object_id)")
    parser.add_argument("--out-inspectors", default=None, help="inspector skill table (default <out>.inspectors.csv)")
    parser.add_argument("--out-agreement", default=None, help="Fleiss' kappa table (default <out>.agreement.csv)")
    parser.add_argument("--catalog", default=None, help="merged catalogue (ID, RAJ2000, DECJ2000, MAG_AUTO, Z_B)")
    parser.add_argument("--crossmatch", default=None, help="output of lensfinder crossmatch")
    parser.add_argument("--known", default=None,
                        help="known mixed-in objects (object_id, is_lens): results/inspect/known.parquet")
    parser.add_argument("--manifest", default=None,
                        help="inspection manifest; adds the png column (and the stamps of --out-summary)")
    parser.add_argument("--duplicate-policy", choices=["error", "latest"], default="error",
                        help="same inspector grading the same object twice: error (default) or keep the latest")
    parser.add_argument("--keep-ungraded", action="store_true", help="keep predictions without grades (NaN scores)")
    parser.add_argument("--golden", type=float, default=0.7, help="P threshold of the golden sample (Li et al.: 0.7)")
    parser.add_argument("--high", type=float, default=0.5, help="P threshold of the high-quality sample (0.5)")
    parser.add_argument("--skill-prior", type=float, default=0.5, help="prior lens probability of p_lens_skill")


def run_merge_scores(args: argparse.Namespace) -> int:
    for option, value in (("--golden", args.golden), ("--high", args.high)):
        if not 0.0 <= value <= 1.0:  # NaN fails too
            raise InputError(f"{option}: {value}: expected a threshold on P in [0, 1]")
    if args.golden < args.high:  # no candidate could then be "high" (as workflow/rules/common.smk)
        raise InputError(f"--golden: {args.golden} is below --high {args.high}; expected golden >= high")
    ranked, inspectors, agreement = merge_scores_from_files(
        args.predictions, args.grades, args.scheme, known_path=args.known, catalog_path=args.catalog,
        crossmatch_path=args.crossmatch, manifest_path=args.manifest, duplicate_policy=args.duplicate_policy,
        golden=args.golden, high=args.high, keep_ungraded=args.keep_ungraded, skill_prior=args.skill_prior,
        survey=args.survey,
    )
    texts = {}
    if args.out_summary:  # made before any file is written, written before the ranked list (written last)
        texts[args.out_summary] = summary_page(
            ranked, grades_path=args.grades, scheme=args.scheme, manifest_path=args.manifest,
            notes_path=args.notes, survey=args.survey, duplicate_policy=args.duplicate_policy)
    write_ranked(ranked, inspectors, agreement, args.out, scheme=args.scheme, survey=args.survey,
                 out_csv=args.out_csv, out_tex=args.out_tex, tex_all=args.tex_all, out_fits=args.out_fits,
                 out_ecsv=args.out_ecsv, out_votable=args.out_votable, out_inspectors=args.out_inspectors,
                 out_agreement=args.out_agreement, texts=texts)
    return 0


# ---------------------------------------------------------------- digest


def add_digest_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ranked", metavar="RANKED.parquet", help="the ranked list of merge-scores")
    parser.add_argument("--top", type=int, default=5, help="rows shown (default 5)")


def run_digest(args: argparse.Namespace) -> int:
    if args.top < 0:
        raise InputError(f"--top: {args.top}: expected a number of rows >= 0")
    ranked = read_table(args.ranked, required=["object_id", "rank", "p_cnn"])
    for line in ranked_digest(ranked, args.top, source=str(args.ranked)):
        print(line)
    if len(ranked) and "tile" in ranked.columns and ranked["tile"].astype(str).str.startswith("MOCK_").all():
        print("(the mock survey: its grades come from simulated inspectors, lensfinder mock-grades; "
              "give your own as inspection.grades)")
    return 0


# ---------------------------------------------------------------- crossmatch


def add_crossmatch_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--candidates", required=True, help="Parquet with object_id, ra, dec (deg)")
    parser.add_argument("--radius-arcsec", type=float, default=2.0, help="match radius in arcsec (default 2)")
    parser.add_argument("--out", required=True, help="output Parquet")
    parser.add_argument("--out-csv", default=None, help="the same as CSV")
    parser.add_argument("--known", default=None,
                        help="extra reference table (CSV/Parquet: name, ra, dec [deg], optional grading)")
    parser.add_argument("--no-lenscat", action="store_true", help="match against --known only")


def run_crossmatch(args: argparse.Namespace) -> int:
    crossmatch_file(args.candidates, args.out, radius_arcsec=args.radius_arcsec, known=args.known,
                    lenscat=not args.no_lenscat, out_csv=args.out_csv)
    return 0
