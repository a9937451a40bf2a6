"""Human inspection: candidate sets, simulated inspectors, the grading page, grades, the ranked list, cross-match."""

from lensfinder.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    # candidates and inspection sets
    "PROCEDURE_THRESHOLDS": "candidates",
    "MANIFEST_COLUMNS": "candidates",
    "parse_thresholds": "candidates",
    "select_candidates": "candidates",
    "load_stamps": "candidates",
    "load_band_stamps": "candidates",
    "manifest_columns": "candidates",
    "mix_simulated": "candidates",
    "build_manifest": "candidates",
    "export_inspection_set": "export",
    # simulated inspectors
    "mock_inspector_grades": "mock_inspectors",
    "mock_grades_for_manifest": "mock_inspectors",
    # grading page
    "GradingSession": "server",
    "serve_grading": "server",
    # grades
    "SCHEMES": "grades",
    "GRADES_COLUMNS": "grades",
    "read_grades": "grades",
    "inspector_confusion": "grades",
    "skill_posterior": "grades",
    "fleiss_kappa": "grades",
    # the ranked list
    "merge_scores": "ranking",
    "merge_scores_from_files": "ranking",
    "write_ranked": "ranking",
    "ranked_latex": "latex",
    "add_catalogue_columns": "catalogue",
    "catalogue_table": "catalogue",
    "write_catalogue": "catalogue",
    "summary_html": "summary",
    "summary_page": "summary",
    # cross-match
    "crossmatch_candidates": "crossmatch",
    "crossmatch_file": "crossmatch",
})
