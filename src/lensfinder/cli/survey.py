"""The survey steps' command line (TEMPORARY re-exports; the code moves here)."""

from lensfinder.surveys.mock.tiles import add_mock_survey_arguments, run_mock_survey  # noqa: F401
from lensfinder.surveys.kids import add_download_catalog_arguments, run_download_catalog  # noqa: F401
from lensfinder.surveys.kids import add_download_tile_arguments, run_download_tile  # noqa: F401
from lensfinder.surveys.legacy import add_download_legacy_field_arguments, run_download_legacy_field  # noqa: F401
