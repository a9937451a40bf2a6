"""The papers' experiments: reference values, seeded subsets and aggregation tables."""

from lensfinder.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    # reference values (He et al. 2020; Li et al. 2020)
    "PAPER": "reference",
    "reference_table": "reference",
    # subsets
    "SERSIC_COLUMNS": "subsets",
    "huertas_company_density": "subsets",
    "sersic_weights": "subsets",
    "select_subset": "subsets",
    "subset_pieces": "subsets",
    "write_subset_shards": "subsets",
    "write_subset": "subsets",
    "roc_sample_rows": "subsets",
    "write_roc_sample": "subsets",
    # tables
    "parse_label": "tables",
    "read_labelled": "tables",
    "read_tables": "tables",
    "survey_table": "tables",
    "read_survey_scores": "tables",
    "in_sample": "tables",
    "psf_table": "tables",
    "volume_points": "tables",
    "volume_table5": "tables",
    "volume_valsize": "tables",
    "candidate_sets": "candidate_tables",
    "overlap_pct": "candidate_tables",
    "sersic_tables": "candidate_tables",
    "entropy_summary": "tables",
    "net_comparison_tables": "candidate_tables",
    "roc_tables": "tables",
    "survey_counts": "tables",
    # one band against several (bands_test)
    "bands_metrics": "bands",
    "colour_gain": "bands",
})
