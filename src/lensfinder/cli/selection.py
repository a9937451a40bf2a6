"""The selection steps' command line (TEMPORARY re-exports; the code moves here)."""

from lensfinder.selection.catalog import add_merge_catalog_arguments, run_merge_catalog  # noqa: F401
from lensfinder.selection.preselect import add_preselect_arguments, run_preselect  # noqa: F401
from lensfinder.selection.stamps import add_stamps_arguments, run_stamps  # noqa: F401
