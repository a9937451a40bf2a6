"""Survey access: one backend interface, KiDS (ESO) and DESI Legacy Surveys over TAP, and the built-in mock survey."""

from lensfinder.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "SurveyBackend": "base",
    "DownloadError": "base",
    "download_file": "base",
    "with_retries": "base",
    "make_session": "base",
    "run_tap_query": "tap",
    "table_to_frame": "tap",
    "ColumnMap": "columns",
    "column_map": "columns",
    "tractor_to_kids": "columns",
    "KidsBackend": "kids",
    "download_catalog": "kids",
    "kids_tiles": "kids",
    "download_tile": "kids_images",
    "find_tile_products": "kids_images",
    "LegacySurveyBackend": "legacy",
    "download_legacy_field": "legacy",
    "download_field_image": "legacy_images",
})
