"""The learning steps' command line (TEMPORARY re-exports; the code moves here)."""

from lensfinder.learning.training import add_train_arguments, run_train  # noqa: F401
from lensfinder.learning.inference import add_infer_arguments, run_infer  # noqa: F401
from lensfinder.learning.metrics import add_evaluate_arguments, run_evaluate  # noqa: F401
from lensfinder.learning.predictions import add_collect_predictions_arguments, run_collect_predictions  # noqa: F401
