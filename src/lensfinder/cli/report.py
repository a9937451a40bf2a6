"""The report steps' command line (TEMPORARY re-exports; the code moves here)."""

from lensfinder.plots.report import add_figures_arguments, run_figures  # noqa: F401
