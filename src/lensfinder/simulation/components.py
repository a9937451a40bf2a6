"""Vectorised building blocks of the per-block draws: ranges, shapes, Sersic columns, knots, colours.

Every function draws ``n`` values at once from the generator it is given
(one call per parameter, in a fixed order), and returns arrays or the
columns of :mod:`lensfinder.simulation.metadata`. Amplitudes are drawn in the
detection band; :mod:`lensfinder.simulation.colours` adds the other bands
after the draw (SED colours per component, ``docs/simulation.md``, bands).
"""

from __future__ import annotations

import math

import numpy as np

from lensfinder.simulation.lensing import phi_q_to_e1e2, sersic_total_flux
from lensfinder.simulation.metadata import SERSIC_KEYS

__all__ = ["DETECTION_BAND", "uniform", "log_uniform", "integers", "ellipse", "disk_offsets",
           "sersic_amp", "band_amplitudes", "sersic_columns", "Ragged", "Group", "random_knots",
           "gaussian_sigma_for_hlr", "source_offset_fraction"]

#: The band every recipe renders today; its amplitudes are the ``*_amp`` columns.
DETECTION_BAND = "r"


def uniform(rng, lo_hi, n=None):
    """``n`` uniform draws in ``[low, high)`` (one float when ``n`` is None); ``low`` itself (no draw)
    when ``low == high``."""
    lo, hi = (float(v) for v in lo_hi)
    if n is None:
        return lo if lo == hi else float(rng.uniform(lo, hi))
    return np.full(n, lo) if lo == hi else rng.uniform(lo, hi, n)


def source_offset_fraction(rng, weighting: str, n=None):
    """Source offsets from the lens centre in units of the placement disk's radius (``n`` of them, or
    one float when ``n`` is None), one uniform draw each.

    ``area``: uniform over the disk (``sqrt(u)``). ``magnification``: uniform in radius (``u``), the
    disk's area weighted by the magnification ``2 theta_E / beta`` of a singular isothermal sphere,
    as a flux-limited survey sees sources whose counts go as ``N(>S) ~ S^-1`` (magnification bias:
    Turner, Ostriker & Gott 1984): arcs, rings and quads from sources near the caustic, fewer lone
    images of sources far from it.
    """
    u = rng.uniform(size=n)
    if weighting == "area":
        return np.sqrt(u)
    if weighting == "magnification":
        return u
    raise ValueError(f"source_offset_weighting: {weighting!r}: expected area or magnification")


def log_uniform(rng, lo_hi, n):
    """``n`` draws uniform in the logarithm between ``low`` and ``high`` (> 0)."""
    lo, hi = (float(v) for v in lo_hi)
    return np.full(n, lo) if lo == hi else np.exp(rng.uniform(math.log(lo), math.log(hi), n))


def integers(rng, lo_hi, n):
    """``n`` integers uniform in ``[low, high]`` (both included)."""
    lo, hi = (int(v) for v in lo_hi)
    return np.full(n, lo, dtype=np.int64) if lo == hi else rng.integers(lo, hi + 1, n)


def ellipse(rng, q_range, n):
    """Axis ratio, position angle (uniform in [0, pi)) and lenstronomy's e1, e2 of ``n`` ellipses."""
    q = uniform(rng, q_range, n)
    phi = rng.uniform(0.0, np.pi, n)
    e1, e2 = phi_q_to_e1e2(phi, q)
    return q, phi, e1, e2


def disk_offsets(rng, r_range, n):
    """Offsets (dx, dy) at a distance uniform in ``r_range`` and a uniform angle."""
    r = uniform(rng, r_range, n)
    t = rng.uniform(0.0, 2.0 * np.pi, n)
    return r * np.cos(t), r * np.sin(t)


def sersic_amp(counts, R_sersic, n_sersic):
    """Sersic ``amp`` (counts arcsec^-2 at R_sersic) of a profile with ``counts`` in total."""
    return np.asarray(counts, dtype=float) / sersic_total_flux(1.0, R_sersic, n_sersic)


def band_amplitudes(prefix, amp, colour, bands, key="amp"):
    """Column ``{prefix}_{key}``: the detection-band amplitudes.

    Parameters
    ----------
    prefix : str
        Component column prefix (``lens_light``, ``extra``, ``blob``, ...).
    amp : ndarray
        Amplitudes in the detection band.
    colour : str or ndarray of str
        Colour class (``red``/``blue``) of each component, as the drawer sees it; the
        other bands' amplitudes come after the draw, from
        :func:`lensfinder.simulation.colours.add_band_columns`.
    bands : sequence of str
        The detection band alone.
    """
    if tuple(bands) != (DETECTION_BAND,):
        raise ValueError(f"band_amplitudes: drawers write the detection band {DETECTION_BAND} alone, got {bands}; "
                         "lensfinder.simulation.colours adds the others")
    return {f"{prefix}_{key}": np.asarray(amp, dtype=float)}


class Ragged:
    """Per-image lists (the list columns) built from flat arrays of (owner image, values)."""

    def __init__(self, n: int):
        self.n = n
        self.chunks: list[tuple[np.ndarray, dict]] = []

    def add(self, owner, columns: dict) -> None:
        """Append one element per entry of ``owner`` (image positions) with ``columns`` values
        (arrays of the length of ``owner``, or scalars)."""
        owner = np.asarray(owner, dtype=np.int64)
        if not owner.size:
            return
        self.chunks.append((owner, {k: np.broadcast_to(np.asarray(v, dtype=float), owner.shape)
                                    for k, v in columns.items()}))

    def lists(self) -> dict:
        """Column -> list (one per image) of float lists, in the order the elements were added
        (an image without elements of a column gets an empty list)."""
        out = {}
        for key in dict.fromkeys(k for _, cols in self.chunks for k in cols):
            parts = [(o, cols[key]) for o, cols in self.chunks if key in cols]
            owner = np.concatenate([o for o, _ in parts])
            order = np.argsort(owner, kind="stable")
            bounds = np.searchsorted(owner[order], np.arange(self.n + 1)).tolist()
            flat = np.concatenate([v for _, v in parts])[order].tolist()
            out[key] = [flat[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
        return out


def gaussian_sigma_for_hlr(hlr):
    """Sigma of a circular Gaussian with half-light radius ``hlr``: ``hlr / sqrt(2 ln 2)``."""
    return np.asarray(hlr, dtype=float) / math.sqrt(2.0 * math.log(2.0))


def random_knots(rng, count, hlr, q=None, phi=None):
    """Knot offsets of GalSim's ``RandomKnots`` (GalSim 2.x): ``count[i]`` point-like knots of equal
    flux at positions drawn from a circular Gaussian of half-light radius ``hlr[i]`` (the profile
    GalSim shoots them from), optionally sheared to axis ratio ``q`` at angle ``phi``.

    Returns
    -------
    owner : ndarray (sum(count),)
        Image position of each knot.
    dx, dy : ndarray (sum(count),)
        Offsets from the galaxy centre, arcsec.
    """
    count = np.asarray(count, dtype=np.int64)
    owner = np.repeat(np.arange(len(count)), count)
    sigma = gaussian_sigma_for_hlr(np.asarray(hlr, dtype=float))[owner]
    gx, gy = rng.standard_normal((2, len(owner))) * sigma
    if q is None:
        return owner, gx, gy
    # stretch to the axis ratio at constant area (product-average radius), then turn by phi
    sq = np.sqrt(np.asarray(q, dtype=float))[owner]
    ang = np.asarray(phi, dtype=float)[owner]
    u, v = gx / sq, gy * sq
    return owner, u * np.cos(ang) - v * np.sin(ang), u * np.sin(ang) + v * np.cos(ang)


def sersic_columns(prefix, counts, R, n, e1, e2, cx, cy, colour, bands):
    """The ``{prefix}_{key}`` columns of Sersic components (:data:`SERSIC_KEYS`), per-band amplitudes."""
    out = band_amplitudes(prefix, sersic_amp(counts, R, n), colour, bands)
    for key, value in zip(SERSIC_KEYS[1:], (R, n, e1, e2, cx, cy)):
        out[f"{prefix}_{key}"] = np.asarray(value, dtype=float)
    return out



class Group:
    """The columns of ``n`` images of one kind while they are drawn: scalars and per-image lists."""

    def __init__(self, n: int, bands=(DETECTION_BAND,)):
        self.n = n
        self.bands = tuple(bands)
        self.columns: dict = {}
        self.lists = Ragged(n)

    def update(self, columns: dict) -> None:
        """Set columns (arrays of ``n`` values) for all images."""
        self.columns.update(columns)

    def blobs(self, owner, counts, x, y, sigma, colour) -> None:
        """Unlensed point-like light: ``counts`` (detection band) at ``x, y`` (arcsec), Gaussian ``sigma``."""
        self.lists.add(owner, {**band_amplitudes("blob", counts, colour, self.bands),
                               "blob_center_x": x, "blob_center_y": y, "blob_sigma": sigma})

    def extras(self, owner, counts, R, n, e1, e2, x, y, colour) -> None:
        """Unlensed Sersic components (satellites, group members, field galaxies), with their colour
        class ``colour`` (red or blue) in column ``extra_blue`` (1 blue, 0 red) for the colour stage."""
        blue = (np.asarray(colour) == "blue").astype(float)
        self.lists.add(owner, {**sersic_columns("extra", counts, R, n, e1, e2, x, y, colour, self.bands),
                               "extra_blue": blue})
