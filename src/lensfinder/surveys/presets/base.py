"""What a survey preset declares: its bands and, per band, seeing, depth, zero point and filter curve.

A preset is one frozen :class:`SurveyPreset` per survey, declared in a small
cited module beside this one (the model is lenstronomy's
``SimulationAPI/ObservationConfig``, one file per survey). The mock survey,
the simulations and the stamps read it; numbers quoted from a paper carry
the paper in a comment where they are declared.
"""

from __future__ import annotations

import dataclasses

from lensfinder.io import InputError

__all__ = ["BandSpec", "SurveyPreset", "stamp_size_pix", "band_wavelength_order", "BAND_WAVELENGTH_NM"]

#: Approximate effective wavelength of each band name (nm), only to order bands blue to red
#: (composites, docs); each preset's filter curve is the physical definition.
BAND_WAVELENGTH_NM = {"u": 355, "g": 475, "r": 620, "VIS": 715, "i": 760, "z": 900, "y": 990, "Y": 1050,
                      "J": 1300, "H": 1700}


def band_wavelength_order(bands) -> tuple:
    """``bands`` sorted blue to red (:data:`BAND_WAVELENGTH_NM`; unknown names last, in their order)."""
    bands = tuple(bands)
    return tuple(sorted(bands, key=lambda b: (BAND_WAVELENGTH_NM.get(b, 10**6), bands.index(b))))


@dataclasses.dataclass(frozen=True)
class BandSpec:
    """One band of a survey preset.

    Attributes
    ----------
    name : str
        Band name as the survey writes it (``r``, ``VIS``, ``Y``).
    psf_fwhm_arcsec : float
        Median PSF FWHM, arcsec.
    psf_fwhm_range_arcsec : tuple of float
        ``(low, high)`` FWHM range a mock tile or a simulated image draws from, arcsec.
    depth_mag_5sigma : float
        5-sigma point-source limiting magnitude (AB; the aperture is named where declared).
    depth_range_mag : tuple of float
        ``(low, high)`` spread of the depth between tiles, mag.
    zeropoint_mag : float
        AB magnitude of one count per pixel of the survey's images: ``mag = zp - 2.5 log10(counts)``.
    sky_mag_arcsec2 : float
        Sky brightness, AB mag per square arcsec.
    filter_curve : str
        speclite filter name (``speclite.filters.load_filter``).
    exposure_time_s : float or None
        Total exposure of a coadd, seconds, where known.
    gain_e_per_adu, read_noise_e : float or None
        Detector gain (e-/ADU) and read noise (e-), where known.
    """

    name: str
    psf_fwhm_arcsec: float
    psf_fwhm_range_arcsec: tuple
    depth_mag_5sigma: float
    depth_range_mag: tuple
    zeropoint_mag: float
    sky_mag_arcsec2: float
    filter_curve: str
    exposure_time_s: float | None = None
    gain_e_per_adu: float | None = None
    read_noise_e: float | None = None

    def __post_init__(self):
        lo, hi = self.psf_fwhm_range_arcsec
        if not 0 < lo <= self.psf_fwhm_arcsec <= hi:
            raise ValueError(f"band {self.name}: psf_fwhm_arcsec {self.psf_fwhm_arcsec} outside its range {lo}..{hi}")
        lo, hi = self.depth_range_mag
        if not lo <= self.depth_mag_5sigma <= hi:
            raise ValueError(f"band {self.name}: depth_mag_5sigma {self.depth_mag_5sigma} outside its range {lo}..{hi}")


@dataclasses.dataclass(frozen=True)
class SurveyPreset:
    """A survey's imaging: the bands searched by default, the optional ones, and their properties.

    Attributes
    ----------
    name : str
        Preset name (``kids``, ``hsc``, ``lsst``, ``euclid``, ``des``, ``legacy``).
    title : str
        The survey and release, for logs and docs.
    bands : tuple of str
        The bands the survey provides by default, blue to red: what ``bands: null`` means
        and what the mock survey renders.
    extra_bands : tuple of str
        Bands the survey also has, used when the ``bands`` config key names them
        (Euclid's NISP Y, J, H; KiDS u).
    detection_band : str
        The band of the catalogue positions and the stamp centres.
    pixel_scale_arcsec : float
        Pixel scale of the images every band is cut from, arcsec per pixel.
    stamp_size_arcsec : float
        Stamp side, arcsec (:func:`stamp_size_pix` turns it into pixels).
    band_specs : tuple of BandSpec
        One per band of ``bands + extra_bands``.
    """

    name: str
    title: str
    bands: tuple
    detection_band: str
    pixel_scale_arcsec: float
    stamp_size_arcsec: float
    band_specs: tuple
    extra_bands: tuple = ()

    def __post_init__(self):
        declared = [b.name for b in self.band_specs]
        if sorted(declared) != sorted((*self.bands, *self.extra_bands)):
            raise ValueError(f"preset {self.name}: band_specs {declared} differ from bands + extra_bands "
                             f"{[*self.bands, *self.extra_bands]}")
        if self.detection_band not in self.bands:
            raise ValueError(f"preset {self.name}: detection_band {self.detection_band} not in {self.bands}")

    @property
    def all_bands(self) -> tuple:
        """Every band the preset declares, default ones first."""
        return (*self.bands, *self.extra_bands)

    def band(self, name: str) -> BandSpec:
        """The :class:`BandSpec` of band ``name``; :class:`~lensfinder.io.InputError` naming the known bands."""
        for spec in self.band_specs:
            if spec.name == name:
                return spec
        raise InputError(f"survey preset {self.name}: band {name!r}: expected one of {', '.join(self.all_bands)}")

    def check_bands(self, bands, source: str = "bands") -> tuple:
        """``bands`` as a tuple, every one a band of this preset (else ``InputError`` naming ``source``)."""
        bands = tuple(bands)
        unknown = [b for b in bands if b not in self.all_bands]
        if not bands or unknown or len(set(bands)) != len(bands):
            raise InputError(f"{source}: {list(bands)}: expected distinct bands of survey preset {self.name} "
                             f"({', '.join(self.all_bands)})")
        return bands


def stamp_size_pix(preset: SurveyPreset) -> int:
    """Stamp side in pixels: ``stamp_size_arcsec / pixel_scale_arcsec`` rounded, made odd (a central pixel).

    KiDS: 20" at 0.2"/px -> 101 px (Li et al. 2020); Euclid VIS: 20" at 0.1"/px -> 201 px.
    """
    size = int(round(preset.stamp_size_arcsec / preset.pixel_scale_arcsec))
    return size if size % 2 else size + 1
