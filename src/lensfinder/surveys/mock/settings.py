"""Settings of the built-in mock survey: :class:`MockSurveyConfig`, its keys and their check.

Light on imports (no numpy, pandas or astropy at import time), so that the
workflow can check ``mock.params`` when it parses the configuration, as it
checks ``simulation.params``, and a dry run names a bad setting before any
job starts. The tiles themselves are drawn by :mod:`lensfinder.surveys.mock.tiles`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

from lensfinder.io import InputError, nearest_hint

if TYPE_CHECKING:
    from lensfinder.surveys.mock.galaxies import PopulationCounts

__all__ = [
    "DEFAULT_GALAXY_MIX",
    "MockSurveyConfig",
    "CONFIG_KEYS",
    "check_config",
    "mock_survey_config",
]

#: Default object counts of a 2000 x 2000 pixel tile (scaled with the area).
DEFAULT_TILE_AREA_PIX = 2000 * 2000
DEFAULT_N_GALAXIES = 400
DEFAULT_N_STARS = 60
DEFAULT_N_BRIGHT_STARS = 2
#: A detection's least area when ``detect_npixels`` is None: KiDS's 5 pixels of 0.2" (arcsec^2).
DEFAULT_DETECT_AREA_ARCSEC2 = 5 * 0.2**2
#: Fractions of the non-lens galaxies per type (merger: galaxies in pairs).
DEFAULT_GALAXY_MIX = {"elliptical": 0.12, "spiral": 0.34, "edge_on": 0.06, "merger": 0.08,
                      "ring": 0.02, "faint": 0.38}


@dataclasses.dataclass
class MockSurveyConfig:
    """Settings of the mock survey; every field can be set with ``--set key=value``.

    Ranges are ``[low, high]`` lists from which each tile draws uniformly.
    Counts left ``None`` scale with the tile area from the defaults of a
    2000 x 2000 pixel tile (400 galaxies, 60 stars, 2 bright stars); the
    number of lenses does not. ``galaxy_mix`` splits the galaxies by type
    (relative weights; keys left out keep their defaults). ``preset`` is the
    survey imitated (:mod:`lensfinder.surveys.presets`): its bands, pixel
    scale and zero points; ``psf_fwhm_arcsec``, ``depth_mag`` and
    ``sky_mag_arcsec2`` set the detection band's (``None``: the preset's),
    the other bands always take the preset's. ``detect_npixels`` (``None``) is
    the area of KiDS's 5 connected pixels at 0.2"/px, 0.2 arcsec^2, in the
    preset's pixels (:meth:`detection_npixels`).
    """

    preset: str = "kids"
    size_pix: int = 2000
    n_galaxies: int | None = None
    galaxy_mix: dict = dataclasses.field(default_factory=lambda: dict(DEFAULT_GALAXY_MIX))
    n_stars: int | None = None
    n_bright_stars: int | None = None
    n_lenses: int = 5
    theta_E_arcsec: list = dataclasses.field(default_factory=lambda: [1.2, 3.0])
    psf_fwhm_arcsec: list | None = None
    moffat_beta: list = dataclasses.field(default_factory=lambda: [2.8, 4.8])
    depth_mag: list | None = None
    sky_mag_arcsec2: float | None = None
    read_noise_fraction: float = 0.1
    chip_gaps: bool = True
    star_mask_mag: float = 17.0
    field_ra_deg: float = 180.0
    field_dec_deg: float = 0.0
    tile_spacing_deg: float = 1.0
    tiles_per_row: int = 4
    detect_threshold_sigma: float = 1.5
    detect_npixels: int | None = None
    deblend_contrast: float = 0.005
    deblend_nlevels: int = 32

    def detection_npixels(self, pixel_scale_arcsec: float) -> int:
        """Connected pixels a detection needs: ``detect_npixels``, or (``None``) 0.2 arcsec^2 in pixels.

        SExtractor's ``DETECT_MINAREA`` counts pixels; KiDS's 5 at 0.2"/px kept in pixels at Euclid's 0.1"/px
        would cover a quarter of the area, and at a 1.5 sigma threshold its correlated noise peaks and a
        galaxy's knots pass: a default Euclid tile gave 3,203 detections of 562 objects, against 1,097 with
        the same area (20 pixels).
        """
        if self.detect_npixels is not None:
            return int(self.detect_npixels)
        return max(1, int(round(DEFAULT_DETECT_AREA_ARCSEC2 / pixel_scale_arcsec**2)))

    def counts(self) -> PopulationCounts:
        """Objects per kind for this tile size."""
        from lensfinder.surveys.mock.galaxies import PopulationCounts

        scale = self.size_pix**2 / DEFAULT_TILE_AREA_PIX
        n_gal = self.n_galaxies if self.n_galaxies is not None else int(round(DEFAULT_N_GALAXIES * scale))
        mix = {k: float(v) for k, v in {**DEFAULT_GALAXY_MIX, **self.galaxy_mix}.items()}
        total = sum(mix.values()) or 1.0
        n = {k: int(round(n_gal * v / total)) for k, v in mix.items()}
        return PopulationCounts(
            elliptical=n["elliptical"], spiral=n["spiral"], edge_on=n["edge_on"],
            merger_pairs=n["merger"] // 2, ring=n["ring"], faint=n["faint"],
            stars=self.n_stars if self.n_stars is not None else int(round(DEFAULT_N_STARS * scale)),
            bright_stars=(self.n_bright_stars if self.n_bright_stars is not None
                          else int(round(DEFAULT_N_BRIGHT_STARS * scale))),
            lenses=self.n_lenses,
        )


#: Settings that default to the preset's detection band (``None``).
_PRESET_KEYS = ("psf_fwhm_arcsec", "depth_mag", "sky_mag_arcsec2")

#: The settings' names (the keys of ``lensfinder mock-survey --set key=value``).
CONFIG_KEYS = tuple(f.name for f in dataclasses.fields(MockSurveyConfig))

#: Integer settings with a lower bound above 0 (the others must be >= 0).
_INT_MINIMUM = {"size_pix": 200, "tiles_per_row": 1, "detect_npixels": 1, "deblend_nlevels": 1}


def check_config(cfg: MockSurveyConfig, source: str) -> None:
    """Raise :class:`~lensfinder.io.InputError` naming ``source`` and the key of the first bad setting."""
    def bad(key, expected):
        raise InputError(f"{source}: {key}: expected {expected}, got {getattr(cfg, key)!r}")

    from lensfinder.surveys.presets import MOCK_PRESETS

    if cfg.preset not in MOCK_PRESETS:
        bad("preset", f"one of {', '.join(MOCK_PRESETS)}")
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        if f.name in _PRESET_KEYS:
            if v is None:
                continue
            default = [0.0, 0.0] if f.name != "sky_mag_arcsec2" else 0.0
        if isinstance(default, list):
            if (not isinstance(v, (list, tuple)) or len(v) != 2
                    or not all(isinstance(t, (int, float)) and not isinstance(t, bool) and math.isfinite(t)
                               for t in v) or v[0] > v[1]):
                bad(f.name, "a range [low, high] of two numbers")
        elif isinstance(default, bool):
            if not isinstance(v, bool):
                bad(f.name, "true or false")
        elif isinstance(default, int) or f.name.startswith("n_") or f.name in _INT_MINIMUM:
            if v is None and default is None:
                continue
            low = _INT_MINIMUM.get(f.name, 0)
            if not isinstance(v, int) or isinstance(v, bool) or v < low:
                bad(f.name, f"an integer >= {low}" if low else "a non-negative integer")
        elif isinstance(default, float):
            if not isinstance(v, (int, float)) or isinstance(v, bool):
                bad(f.name, "a number")
        elif isinstance(default, dict):
            if not isinstance(v, dict) or any(k not in DEFAULT_GALAXY_MIX for k in v) or \
                    any(not isinstance(x, (int, float)) or x < 0 for x in v.values()):
                bad(f.name, f"a mapping of {sorted(DEFAULT_GALAXY_MIX)} to non-negative fractions")
    if cfg.psf_fwhm_arcsec is not None and not 0 < cfg.psf_fwhm_arcsec[0]:
        bad("psf_fwhm_arcsec", "positive FWHMs")
    if not cfg.moffat_beta[0] > 1.0:
        bad("moffat_beta", "Moffat beta > 1")
    if not 0 < cfg.theta_E_arcsec[0]:
        bad("theta_E_arcsec", "a range [low, high] of Einstein radii with 0 < low <= high, arcsec")
    if not 0.0 <= cfg.read_noise_fraction < 1.0:
        # the sky's share of the background variance is 1 - read_noise_fraction: it sets the gain
        bad("read_noise_fraction", "a fraction of the background variance in [0, 1)")
    if not 0.0 <= cfg.deblend_contrast <= 1.0:
        bad("deblend_contrast", "a flux fraction in [0, 1]")
    if not cfg.tile_spacing_deg > 0:
        bad("tile_spacing_deg", "a spacing > 0 deg")
    if not -90.0 <= cfg.field_dec_deg <= 90.0:
        bad("field_dec_deg", "a declination in [-90, 90] deg")


def mock_survey_config(values: dict, source: str = "mock survey settings") -> MockSurveyConfig:
    """A validated :class:`MockSurveyConfig` from a ``{key: value}`` mapping (keys left out keep their defaults).

    Raises
    ------
    lensfinder.io.InputError
        For an unknown key or a bad value; the message names ``source`` and the key.
    """
    unknown = [key for key in values if key not in CONFIG_KEYS]
    if unknown:
        raise InputError(f"{source}: unknown key {unknown[0]!r}{nearest_hint(unknown[0], CONFIG_KEYS)}; "
                         f"valid keys: {', '.join(sorted(CONFIG_KEYS))}")
    cfg = MockSurveyConfig(**values)
    check_config(cfg, source)
    return cfg
