"""The built-in mock survey (KiDS-like by default): objects, rendering per band, observing conditions, catalogue, tiles."""

from lensfinder.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "MockSurveyConfig": "settings",
    "MockTile": "tiles",
    "mock_survey_config": "settings",
    "make_tile": "tiles",
    "write_tile": "tiles",
    "tile_center": "tiles",
    "tile_wcs": "tiles",
    "build_catalog": "catalog",
    "measure_catalog": "catalog",
    "CATALOG_COLUMNS": "catalog",
    "matched_aperture_magnitudes": "photometry",
    "band_magnitude_offsets": "bands",
    "render_band": "bands",
    "draw_tile_objects": "galaxies",
    "PopulationCounts": "galaxies",
    "Component": "render",
    "render_components": "render",
    "render_stars": "render",
    "MASK_HALO": "sky",
    "MASK_CORE": "sky",
})
