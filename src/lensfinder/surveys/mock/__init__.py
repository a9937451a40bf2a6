"""The built-in mock KiDS-like survey: objects, rendering, observing conditions, catalogue, tiles."""

from lensfinder.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "MockSurveyConfig": "tiles",
    "MockTile": "tiles",
    "mock_survey_config": "tiles",
    "make_tile": "tiles",
    "write_tile": "tiles",
    "tile_center": "tiles",
    "tile_wcs": "tiles",
    "build_catalog": "catalog",
    "measure_catalog": "catalog",
    "kids_id": "catalog",
    "CATALOG_COLUMNS": "catalog",
    "draw_tile_objects": "galaxies",
    "PopulationCounts": "galaxies",
    "Component": "render",
    "render_components": "render",
    "render_stars": "render",
    "MASK_HALO": "sky",
    "MASK_CORE": "sky",
})
