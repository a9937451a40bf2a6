"""The inspection steps' command line (TEMPORARY re-exports; the code moves here)."""

from lensfinder.inspection.candidates import add_candidates_arguments, run_candidates  # noqa: F401
from lensfinder.inspection.candidates import add_mock_grades_arguments, run_mock_grades  # noqa: F401
from lensfinder.inspection.server import add_grade_arguments, run_grade  # noqa: F401
from lensfinder.inspection.ranking import add_merge_scores_arguments, run_merge_scores  # noqa: F401
from lensfinder.inspection.crossmatch import add_crossmatch_arguments, run_crossmatch  # noqa: F401
