"""The presets by name, and the preset of each searchable survey."""

from __future__ import annotations

from lensfinder.io import InputError
from lensfinder.surveys.presets import des, euclid, hsc, kids, legacy, lsst
from lensfinder.surveys.presets.base import SurveyPreset

__all__ = ["PRESETS", "PRESET_NAMES", "MOCK_PRESETS", "get_preset", "survey_preset"]

#: Every preset by name.
PRESETS = {p.name: p for p in (kids.PRESET, hsc.PRESET, lsst.PRESET, euclid.PRESET, des.PRESET, legacy.PRESET)}
PRESET_NAMES = tuple(PRESETS)
#: Presets the mock survey can imitate (``mock.preset``).
MOCK_PRESETS = ("kids", "hsc", "lsst", "euclid", "des")
#: The preset of each real survey backend (the ``survey`` config key).
_SURVEY_PRESETS = {"kids_dr4": "kids", "kids_dr3": "kids", "legacy_dr10": "legacy"}


def get_preset(name: str) -> SurveyPreset:
    """The preset called ``name`` (:data:`PRESET_NAMES`); :class:`~lensfinder.io.InputError` otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise InputError(f"survey preset {name!r}: expected one of {', '.join(PRESET_NAMES)}") from None


def survey_preset(survey: str, mock_preset: str = "kids") -> SurveyPreset:
    """The preset of a ``survey`` config value: ``mock`` takes ``mock_preset``; KiDS and Legacy their own."""
    if survey == "mock":
        if mock_preset not in MOCK_PRESETS:
            raise InputError(f"mock.preset: {mock_preset!r}: expected one of {', '.join(MOCK_PRESETS)}")
        return get_preset(mock_preset)
    try:
        return get_preset(_SURVEY_PRESETS[survey])
    except KeyError:
        raise InputError(f"survey: {survey!r}: expected mock or one of {', '.join(_SURVEY_PRESETS)}") from None
