"""Figures, one module per stage, drawn from result tables only (one style: Agg backend, atomic writes)."""

from lensfinder.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "pyplot": "style", "save_figure": "style",
    "stamp_rgb": "stamps", "render_stamp_png": "stamps", "write_mosaic": "stamps", "composite_bands": "stamps",
    "stamp_composite": "stamps", "render_band_png": "stamps",
    "plot_pcnn_vs_phuman": "ranking", "plot_score_histogram": "ranking", "plot_ranked_mosaic": "ranking",
    "plot_roc": "report", "plot_learning_curve": "report", "plot_completeness": "report",
    "plot_pcnn_samples": "report", "plot_cutflow": "report",
})
