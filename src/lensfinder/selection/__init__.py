"""Selection: the merged catalogue, the papers' preselected samples, and the stamps cut around them."""

from lensfinder.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "merge_parts": "catalog", "merge_catalog_files": "catalog",
    # the function preselect is not re-exported: its name is its module's
    "colour_par_perp": "preselect", "is_detected": "preselect", "required_columns": "preselect",
    "SAMPLES": "preselect", "CUT_DESCRIPTIONS": "preselect", "preselect_files": "preselect",
    "PSF_KEYS": "tiles", "ZEROPOINT_KEYS": "tiles", "open_tile": "tiles", "celestial_wcs": "tiles",
    "tile_properties": "tiles",
    "cut_stamps": "cutouts", "stamp_fractions": "cutouts", "select_objects": "stamps", "extract_stamps": "stamps",
    "write_tile_stamps": "stamps", "INDEX_COLUMNS": "stamps", "extract_band_stamps": "stamps",
    "band_fractions": "cutouts", "band_columns": "stamps", "BandImage": "bands", "open_band_images": "bands",
})
