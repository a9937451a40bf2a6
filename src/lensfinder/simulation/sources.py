"""Lensed sources beyond a smooth Sersic, drawn ``n`` at a time: knots, irregulars, several sources, quasars.

:func:`draw_sources` gives each lens one model of ``source_mix``:
``sersic`` (one profile), ``knots`` (a Sersic plus GalSim ``RandomKnots``
knots of star formation), ``irregular`` (knots-dominated: an exponential
and most of the flux in knots), ``multiple`` (two or three separate Sersic
sources in the source plane) and ``quasar`` (a point source with a faint
host, giving doubles and quads: :mod:`lensfinder.simulation.lensequation`).
Knots and the other sources are lensed Sersic clumps (``clump_*``; a knot
is a Gaussian, n = 0.5, of ``knot_sigma_arcsec``), quasar images are
lensed points (``point_*``). Choices and sources: ``docs/simulation.md``.
"""

from __future__ import annotations

import math

import numpy as np

from lensfinder.simulation.components import (
    Group,
    band_amplitudes,
    disk_offsets,
    ellipse,
    integers,
    random_knots,
    sersic_columns,
    source_offset_fraction,
    uniform,
)
from lensfinder.simulation.lensequation import point_images

__all__ = ["draw_sources"]

#: Half-light radius / sigma of a Gaussian (a Sersic profile of n = 0.5).
_HLR_PER_SIGMA = math.sqrt(2.0 * math.log(2.0))


def _clumps(g: Group, owner, counts, R, n, e1, e2, x, y):
    """Lensed Sersic components beside the source (``clump_*`` lists, per-band amplitudes)."""
    g.lists.add(owner, sersic_columns("clump", counts, R, n, e1, e2, x, y, "blue", g.bands))


def draw_sources(rng, p, g: Group, counts, lens: dict) -> None:
    """Draw the lensed sources of ``g.n`` lenses into ``g``.

    Parameters
    ----------
    rng : numpy.random.Generator
        The lenses' generator.
    p : lensfinder.simulation.recipes.Recipe
    g : lensfinder.simulation.components.Group
    counts : ndarray (g.n,)
        Unlensed detection-band counts of each source (all its components).
    lens : dict of ndarray
        ``theta_E, e1, e2, center_x, center_y, gamma1, gamma2`` of each lens.
    """
    n = g.n
    keys = list(p.source_mix)
    w = np.array([p.source_mix[k] for k in keys], dtype=float)
    model = np.asarray(keys, dtype=object)[rng.choice(len(keys), size=n, p=w / w.sum())]
    R = uniform(rng, p.source_R_sersic_arcsec, n)
    n_sersic = uniform(rng, p.source_n_sersic, n)
    q, phi, e1, e2 = ellipse(rng, p.source_q, n)
    r = p.source_offset_theta_E * lens["theta_E"] * source_offset_fraction(rng, p.source_offset_weighting, n)
    t = rng.uniform(0.0, 2.0 * np.pi, n)
    sx, sy = lens["center_x"] + r * np.cos(t), lens["center_y"] + r * np.sin(t)
    f_knots = np.where(model == "irregular", uniform(rng, p.irregular_knot_fraction, n),
                       uniform(rng, p.knot_flux_fraction, n))
    host = uniform(rng, p.quasar_host_fraction, n)
    smooth = np.ones(n)
    n_sersic = np.where(model == "irregular", 1.0, n_sersic)
    knotty = np.flatnonzero((model == "knots") | (model == "irregular"))
    if len(knotty):  # RandomKnots around the source centre, in the source's shape
        smooth[knotty] = 1.0 - f_knots[knotty]
        count = integers(rng, p.source_knots, len(knotty))
        k_owner, dx, dy = random_knots(rng, count, R[knotty], q[knotty], phi[knotty])
        sigma = uniform(rng, p.knot_sigma_arcsec, len(k_owner))
        own = knotty[k_owner]
        _clumps(g, own, (f_knots[knotty] * counts[knotty] / count)[k_owner], _HLR_PER_SIGMA * sigma,
                np.full(len(own), 0.5), 0.0, 0.0, sx[own] + dx, sy[own] + dy)
    multiple = np.flatnonzero(model == "multiple")
    if len(multiple):  # more sources anywhere within theta_E of the lens centre, flux shared at random
        count = integers(rng, p.multiple_sources, len(multiple))
        shares = [rng.uniform(0.3, 1.0, k) for k in count]
        smooth[multiple] = [s[0] / s.sum() for s in shares]
        owner = np.repeat(multiple, count - 1)
        m = len(owner)
        frac = np.concatenate([s[1:] / s.sum() for s in shares]) if m else np.zeros(0)
        ox, oy = disk_offsets(rng, (0.0, 1.0), m)
        _, _, me1, me2 = ellipse(rng, p.source_q, m)
        _clumps(g, owner, frac * counts[owner], uniform(rng, p.source_R_sersic_arcsec, m),
                uniform(rng, p.source_n_sersic, m), me1, me2, lens["center_x"][owner] + ox * lens["theta_E"][owner],
                lens["center_y"][owner] + oy * lens["theta_E"][owner])
    quasar = np.flatnonzero(model == "quasar")
    point = np.full(n, np.nan)
    if len(quasar):  # point source + host; its images from the lens equation
        point[quasar] = counts[quasar] / (1.0 + host[quasar])
        smooth[quasar] = host[quasar] / (1.0 + host[quasar])
        for i in quasar:
            x, y, mu = point_images(sx[i], sy[i], {k: lens[k][i] for k in lens})
            g.lists.add(np.full(len(x), i), {**band_amplitudes("point", point[i] * np.abs(mu), "blue", g.bands),
                                             "point_ra_image": x, "point_dec_image": y})
    g.update(sersic_columns("source", smooth * counts, R, n_sersic, e1, e2, sx, sy, "blue", g.bands))
    g.update({**band_amplitudes("point_source", point, "blue", g.bands), "point_source_x": np.where(
        np.isfinite(point), sx, np.nan), "point_source_y": np.where(np.isfinite(point), sy, np.nan),
        "source_model": model})

