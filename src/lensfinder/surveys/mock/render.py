"""Light components of the mock survey's objects and their rendering onto a tile, before and through the PSF.

A :class:`Component` is one piece of light (Sersic, spiral disk, ring, tidal
tail, star-forming knots, lensed source); :func:`render_components` paints components on an
oversampled grid, :func:`render_stars` adds Moffat point sources. Positions are
tile pixels ``(x_pix, y_pix)``, 0-based, ``x`` the column; shapes use
lenstronomy's names (``R_sersic`` arcsec, ``n_sersic``, ``e1``, ``e2``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from lensfinder.progress import progress
from lensfinder.simulation import lensing

__all__ = ["Component", "render_components", "render_stars", "moffat_alpha_arcsec"]

#: Oversampling of the pre-PSF light per pixel axis (lensed arcs: 4).
OVERSAMPLE = 3
OVERSAMPLE_LENSED = 4


@dataclasses.dataclass
class Component:
    """One light component, before the PSF.

    ``kind`` is ``sersic``, ``spiral``, ``ring``, ``tail``, ``knots`` (``params``:
    offsets ``dx``, ``dy`` in arcsec of equal-flux points) or ``lensed``;
    ``x_pix, y_pix`` its centre on the tile; ``flux`` its total counts
    (``lensed``: the *unlensed* source counts); ``params`` the shape.
    """

    kind: str
    x_pix: float
    y_pix: float
    flux: float
    half_size_arcsec: float
    params: dict[str, Any]


def moffat_alpha_arcsec(fwhm_arcsec: float, beta: float) -> float:
    """Moffat core width ``alpha = FWHM / (2 sqrt(2^(1/beta) - 1))``, arcsec."""
    return fwhm_arcsec / (2.0 * np.sqrt(2.0 ** (1.0 / beta) - 1.0))


def _local_grid(comp: Component, pixel_scale_arcsec: float, oversample: int):
    """Oversampled grid around a component: pixel box and coordinates (arcsec, float32)."""
    half = int(np.ceil(comp.half_size_arcsec / pixel_scale_arcsec))
    xc, yc = int(np.rint(comp.x_pix)), int(np.rint(comp.y_pix))
    n = 2 * half + 1
    sub = (np.arange(n * oversample) + 0.5) / oversample - 0.5 - half  # pixel units, 0 at xc
    dx0 = comp.x_pix - xc
    dy0 = comp.y_pix - yc
    xs = ((sub - dx0) * pixel_scale_arcsec).astype(np.float32)
    ys = ((sub - dy0) * pixel_scale_arcsec).astype(np.float32)
    y, x = np.meshgrid(ys, xs, indexing="ij")
    return xc - half, yc - half, n, x, y


def _bin(fine: np.ndarray, n: int, oversample: int) -> np.ndarray:
    return fine.reshape(n, oversample, n, oversample).sum(axis=(1, 3))


def _add_stamp(image: np.ndarray, stamp: np.ndarray, x0: int, y0: int) -> None:
    """Add a square ``stamp`` whose corner pixel is ``(x0, y0)`` to ``image``; parts beyond the tile are cut off."""
    ny, nx = image.shape
    n = stamp.shape[0]
    ys0, xs0 = max(y0, 0), max(x0, 0)
    ys1, xs1 = min(y0 + n, ny), min(x0 + n, nx)
    if ys1 <= ys0 or xs1 <= xs0:
        return
    image[ys0:ys1, xs0:xs1] += stamp[ys0 - y0:ys1 - y0, xs0 - x0:xs1 - x0]


def _disk_frame(x, y, e1, e2):
    """Deprojected radius and azimuth in the frame of an inclined disk (arcsec, radian)."""
    phi, q = lensing.e1e2_to_phi_q(e1, e2)
    c, s = np.float32(np.cos(phi)), np.float32(np.sin(phi))
    xp = c * x + s * y
    yp = (-s * x + c * y) / np.float32(q)
    return np.hypot(xp, yp), np.arctan2(yp, xp)


def _profile(comp: Component, x, y):
    p = comp.params
    if comp.kind == "knots":  # point-like knots (GalSim's RandomKnots): equal weights at the nearest sub-pixels
        out = np.zeros(x.shape)
        xs, ys = x[0], y[:, 0]
        step = float(xs[1] - xs[0])
        ix = np.rint((np.asarray(p["dx"]) - xs[0]) / step).astype(int)
        iy = np.rint((np.asarray(p["dy"]) - ys[0]) / step).astype(int)
        ok = (ix >= 0) & (ix < x.shape[1]) & (iy >= 0) & (iy < x.shape[0])
        np.add.at(out, (iy[ok], ix[ok]), 1.0)
        return out
    if comp.kind == "sersic":
        return lensing.sersic(x, y, 1.0, p["R_sersic"], p["n_sersic"], p["e1"], p["e2"])
    if comp.kind == "spiral":
        disk = lensing.sersic(x, y, 1.0, p["R_sersic"], 1.0, p["e1"], p["e2"])
        r, theta = _disk_frame(x, y, p["e1"], p["e2"])
        rr = np.maximum(r / p["R_sersic"], 1e-3)
        arms = np.cos(2.0 * (theta - p["handedness"] * np.log(rr) / np.tan(p["pitch"]) - p["arm_phase"]))
        # arms fade in outside the bulge
        weight = np.clip((rr - 0.3) / 0.5, 0, 1)
        return disk * np.maximum(1.0 + p["arm_amp"] * weight * arms, 0.0)
    if comp.kind == "ring":
        r, theta = _disk_frame(x, y, p["e1"], p["e2"])
        ring = np.exp(-0.5 * ((r - p["R_ring"]) / p["width"]) ** 2)
        knots = 1.0 + p["knot_amp"] * np.cos(p["n_knots"] * theta + p["knot_phase"])
        return ring * knots
    if comp.kind == "tail":
        # an arc of a circle that passes through the galaxy centre
        d = p["direction"]
        cx, cy = p["R_arc"] * np.cos(d), p["R_arc"] * np.sin(d)
        r = np.hypot(x - cx, y - cy)
        ang = np.arctan2(y - cy, x - cx)
        start = d + np.pi  # the angle of the galaxy seen from the arc centre
        t = np.mod(p["handedness"] * (ang - start), 2 * np.pi)
        along = np.where(t < p["span"], 1.0 - t / p["span"], 0.0)
        return np.exp(-0.5 * ((r - p["R_arc"]) / p["width"]) ** 2) * along
    raise ValueError(f"unknown component kind {comp.kind!r}")


def _lensed(comp: Component, x, y):
    """Lensed source surface brightness and its unlensed sum on the same grid."""
    p = comp.params
    s = p["source"]
    ax, ay = lensing.sie_deflection(x, y, p["theta_E"], p["e1"], p["e2"], 0.0, 0.0)
    gx, gy = lensing.shear_deflection(x, y, p["gamma1"], p["gamma2"])
    args = (1.0, s["R_sersic"], s["n_sersic"], s["e1"], s["e2"], s["center_x"], s["center_y"])
    image = lensing.sersic(x - ax - gx, y - ay - gy, *args)
    unlensed = lensing.sersic(x, y, *args)
    return image, float(unlensed.sum(dtype=np.float64))


def render_components(image: np.ndarray, components: list[Component], pixel_scale_arcsec: float,
                      oversample: int = OVERSAMPLE) -> np.ndarray:
    """Add the components' light, in counts per pixel, to ``image`` (in place).

    Each component is evaluated on an oversampled grid around it, normalised
    to its flux (a lensed source to its unlensed flux, so that its rendered
    flux is the magnified one) and binned to pixels; parts beyond the tile
    are cut off.

    Returns
    -------
    ndarray
        The rendered flux of each component, counts (lensed: after magnification).
    """
    rendered = np.zeros(len(components))
    for i, comp in enumerate(progress(components, desc="rendering galaxies", unit="component")):
        os_ = OVERSAMPLE_LENSED if comp.kind == "lensed" else oversample
        x0, y0, n, x, y = _local_grid(comp, pixel_scale_arcsec, os_)
        if comp.kind == "lensed":
            fine, norm = _lensed(comp, x, y)
        else:
            fine = _profile(comp, x, y)
            norm = float(fine.sum(dtype=np.float64))
        if norm <= 0:
            continue
        stamp = _bin(fine.astype(np.float64) * (comp.flux / norm), n, os_)
        rendered[i] = stamp.sum()
        _add_stamp(image, stamp, x0, y0)
    return rendered


def render_stars(image: np.ndarray, x_pix, y_pix, flux, fwhm_arcsec: float, beta: float,
                 pixel_scale_arcsec: float, oversample: int = OVERSAMPLE) -> None:
    """Add Moffat point sources (pixel-integrated by oversampling) to ``image`` in place.

    Bright stars get wide stamps so that their wings reach the mask radius.
    """
    alpha = moffat_alpha_arcsec(fwhm_arcsec, beta)
    for x, y, f in zip(np.atleast_1d(x_pix), np.atleast_1d(y_pix), np.atleast_1d(flux)):
        mag = 30.0 - 2.5 * np.log10(max(f, 1e-3))  # only sets the stamp size
        half_arcsec = 30.0 if mag < 16.5 else (12.0 if mag < 19 else 5.0)
        comp = Component("star", x, y, f, half_arcsec, {})
        x0, y0, n, gx, gy = _local_grid(comp, pixel_scale_arcsec, oversample)
        fine = (1.0 + (gx * gx + gy * gy) / np.float32(alpha * alpha)) ** np.float32(-beta)
        stamp = _bin(fine.astype(np.float64), n, oversample)
        # normalise to the Moffat's total, not the stamp's: the wings beyond are lost
        total = np.pi * (alpha / pixel_scale_arcsec) ** 2 / (beta - 1.0) * oversample**2
        stamp *= f / total
        _add_stamp(image, stamp, x0, y0)
