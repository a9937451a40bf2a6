"""The experiments steps' command line (TEMPORARY re-exports; the code moves here)."""

from lensfinder.experiments.tables import add_experiment_subset_arguments, run_experiment_subset  # noqa: F401
from lensfinder.experiments.tables import add_experiment_table_arguments, run_experiment_table  # noqa: F401
from lensfinder.experiments.tables import add_experiment_figure_arguments, run_experiment_figure  # noqa: F401
from lensfinder.experiments.tables import add_experiment_roc_sample_arguments, run_experiment_roc_sample  # noqa: F401
