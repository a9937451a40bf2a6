"""The mock survey in several bands: each object's flux per band from its colours, and one band's image.

The objects are drawn once, in the detection band's counts
(:func:`lensfinder.surveys.mock.galaxies.draw_tile_objects`); every other band
scales each light component by its owner's colour (:func:`band_magnitude_offsets`:
red ellipticals, blue disks; a lensed arc by its source's colours, not the
lens's) and renders it through the band's own PSF (:func:`render_band`).
The noise is added per band by :mod:`lensfinder.surveys.mock.sky`.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from lensfinder.surveys.mock.sky import noiseless_image

__all__ = ["band_magnitude_offsets", "component_band_fluxes", "render_band"]


def band_magnitude_offsets(band: str, g_r, r_i, u_g=None) -> np.ndarray:
    """``m_band - m_r`` from the colours ``g - r``, ``r - i`` (and ``u - g``), AB mag.

    u, g, r and i follow from the colours exactly. The bands redder than i
    (z, y, and Euclid's NISP) carry on the ``r - i`` slope per filter step,
    and Euclid's broad VIS (r + i + z) sits half-way between r and i: the
    truth tables hold no colour beyond i, so these are extrapolations.
    """
    g_r = np.nan_to_num(np.asarray(g_r, dtype=float))
    r_i = np.nan_to_num(np.asarray(r_i, dtype=float))
    steps = {"r": 0.0, "VIS": -0.5, "i": -1.0, "z": -1.5, "y": -1.8, "Y": -1.8, "J": -2.2, "H": -2.5}
    if band == "g":
        return g_r
    if band == "u":
        return g_r + (np.nan_to_num(np.asarray(u_g, dtype=float)) if u_g is not None else 1.0)
    if band not in steps:
        raise ValueError(f"band {band!r}: expected one of u, g, {', '.join(steps)}")
    return steps[band] * r_i


def component_band_fluxes(components, owner, truth: pd.DataFrame, band: str,
                          zeropoint_shift_mag: float = 0.0) -> np.ndarray:
    """Each component's flux in ``band`` (counts), from its r-band flux (the truth's ``mag_r_true`` band).

    Parameters
    ----------
    components : list of lensfinder.surveys.mock.render.Component
        Fluxes in r-band counts.
    owner : sequence of int
        Truth row of each component.
    truth : pandas.DataFrame
        ``colour_g_r_true``, ``colour_r_i_true``, ``colour_u_g_true`` and, for
        lensed components, ``source_colour_g_r_true``, ``source_colour_r_i_true``.
    band : str
    zeropoint_shift_mag : float
        ``zp_band - zp_r``: the band's counts per unit flux relative to the r counts of the components.
    """
    owner = np.asarray(owner, dtype=int)
    lensed = np.array([c.kind == "lensed" for c in components], dtype=bool)
    flux = np.array([c.flux for c in components], dtype=float)
    col = {k: truth[k].to_numpy(dtype=float) for k in ("colour_g_r_true", "colour_r_i_true", "colour_u_g_true")}
    src = {k: truth[f"source_{k}"].to_numpy(dtype=float) if f"source_{k}" in truth else col[k]
           for k in ("colour_g_r_true", "colour_r_i_true")}
    g_r = np.where(lensed, src["colour_g_r_true"][owner], col["colour_g_r_true"][owner]) if len(owner) else []
    r_i = np.where(lensed, src["colour_r_i_true"][owner], col["colour_r_i_true"][owner]) if len(owner) else []
    u_g = col["colour_u_g_true"][owner] if len(owner) else []
    dm = band_magnitude_offsets(band, g_r, r_i, u_g)
    return flux * 10 ** (-0.4 * (dm - zeropoint_shift_mag))


def render_band(size_pix: int, components, owner, truth: pd.DataFrame, band: str, *, fwhm_arcsec: float,
                beta: float, pixel_scale_arcsec: float, zeropoint_mag: float, zeropoint_r_mag: float):
    """The noiseless image of one band: every component and star at its colour, through the band's PSF.

    Returns what :func:`lensfinder.surveys.mock.sky.noiseless_image` returns
    (the image in the band's counts at ``zeropoint_mag``, each component's
    rendered flux); the components' fluxes are r counts at ``zeropoint_r_mag``.
    """
    fluxes = component_band_fluxes(components, owner, truth, band, zeropoint_mag - zeropoint_r_mag)
    comps = [dataclasses.replace(c, flux=float(f)) for c, f in zip(components, fluxes)]
    stars = truth["object_type"].to_numpy() == "star"
    s = truth.loc[stars]
    dm = band_magnitude_offsets(band, s["colour_g_r_true"], s["colour_r_i_true"], s["colour_u_g_true"])
    star_flux = 10 ** (-0.4 * (s["mag_r_true"].to_numpy(dtype=float) + dm - zeropoint_mag))
    return noiseless_image(size_pix, comps, s["x_pix"].to_numpy(), s["y_pix"].to_numpy(), star_flux,
                           fwhm_arcsec, beta, pixel_scale_arcsec)
