"""Survey presets: bands, pixel scale, seeing, depth and zero point of KiDS, HSC, LSST, Euclid, DES and the Legacy Surveys."""

from lensfinder.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "BandSpec": "base",
    "SurveyPreset": "base",
    "stamp_size_pix": "base",
    "band_wavelength_order": "base",
    "PRESET_NAMES": "registry",
    "MOCK_PRESETS": "registry",
    "get_preset": "registry",
    "survey_preset": "registry",
})
