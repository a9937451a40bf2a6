"""Lens systems and their sources, drawn ``n`` at a time: knots, irregulars, several sources, quasars.

:func:`draw_lens_systems` draws the per-block lenses (SIE + shear, light,
satellites) and, with ``near_miss``, the negative kind of that name: the same
systems with the source outside the multiply imaged region.

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
    log_uniform,
    random_knots,
    sersic_columns,
    source_offset_fraction,
    uniform,
)
from lensfinder.simulation.confusers import add_satellites, central_galaxy
from lensfinder.simulation.lensequation import point_images
from lensfinder.simulation.optics import mag_to_counts

__all__ = ["draw_lens_systems", "draw_sources", "disk_source_offset", "with_counter_image"]

#: Half-light radius / sigma of a Gaussian (a Sersic profile of n = 0.5).
_HLR_PER_SIGMA = math.sqrt(2.0 * math.log(2.0))


def _clumps(g: Group, owner, counts, R, n, e1, e2, x, y):
    """Lensed Sersic components beside the source (``clump_*`` lists, per-band amplitudes)."""
    g.lists.add(owner, sersic_columns("clump", counts, R, n, e1, e2, x, y, "blue", g.bands))


def draw_lens_systems(rng, p, g: Group, counts, cx, cy, near_miss: bool = False) -> None:
    """SIE + shear lenses (uniform population), their light, satellites and sources, ``g.n`` of them.

    ``near_miss``: the same systems with every source outside the multiply imaged
    region, ``near_miss_offset_theta_E`` from the lens centre (negative kind
    ``near_miss``: a background galaxy beside a massive galaxy, weakly distorted
    and singly imaged, drawn as the lenses' sources are).
    """
    n = g.n
    q, phi, e1, e2 = ellipse(rng, p.lens_q, n)
    draw_theta = log_uniform if p.theta_E_distribution == "log_uniform" else uniform
    theta_E = draw_theta(rng, p.theta_E_arcsec, n)
    gamma = uniform(rng, p.shear_gamma, n)
    phi_shear = rng.uniform(0.0, np.pi, n)
    mag = p.zeropoint_mag - 2.5 * np.log10(counts)
    central_galaxy(rng, p, g, counts, cx, cy, p.lens_light_R_sersic_arcsec, p.lens_light_n_sersic, e12=(e1, e2))
    add_satellites(rng, p, g, np.flatnonzero(rng.uniform(size=n) < p.lens_satellite_fraction), mag, cx, cy)
    mag_source = uniform(rng, p.source_mag, n)
    lens = {"theta_E": theta_E, "e1": e1, "e2": e2, "center_x": cx, "center_y": cy,
            "gamma1": gamma * np.cos(2 * phi_shear), "gamma2": gamma * np.sin(2 * phi_shear)}
    draw_sources(rng, p, g, mag_to_counts(mag_source, p.zeropoint_mag), lens,
                 offset_theta_E=tuple(p.near_miss_offset_theta_E) if near_miss else None)
    target = log_uniform(rng, p.arc_snr, n) if p.source_brightness == "arc_snr" else np.full(n, np.nan)
    g.update({**lens, "lens_q": q, "lens_phi_deg": np.degrees(phi), "mag_lens": mag, "mag_source": mag_source,
              "arc_snr_target": target})


def _annulus(rng, lo_hi, n):
    """``n`` radii uniform over the area of the annulus ``lo_hi`` (in units of theta_E)."""
    lo, hi = (float(v) for v in lo_hi)
    return np.sqrt(rng.uniform(lo * lo, hi * hi, n))


def disk_source_offset(rng, p, theta_E: float) -> tuple[float, float]:
    """One source's offset (arcsec) and angle from its lens's centre, placed in the recipe's disk
    (``source_offset_theta_E``, ``source_offset_weighting``)."""
    r = p.source_offset_theta_E * theta_E * float(source_offset_fraction(rng, p.source_offset_weighting))
    return r, float(rng.uniform(0.0, 2.0 * np.pi))


def with_counter_image(rng, p, lens: dict, r: float, t: float, tries: int = 50) -> tuple[float, float]:
    """The offset ``r`` (arcsec) and angle ``t`` of a source from its lens's centre, redrawn (up to
    ``tries`` times) while the source centre has no second image magnified
    ``source_min_counter_magnification`` or more (SIE + shear,
    :func:`~lensfinder.simulation.lensequation.point_images`); ``lens``: the one lens's parameters.
    With ``source_counter_image_share`` below 1, a lens is first drawn into that share or left as it is."""
    share = p.source_counter_image_share
    if share < 1 and rng.uniform() >= share:
        return r, t
    for _ in range(tries):
        _, _, mu = point_images(lens["center_x"] + r * np.cos(t), lens["center_y"] + r * np.sin(t), lens)
        if len(mu) > 1 and abs(mu[1]) >= p.source_min_counter_magnification:
            break
        r, t = disk_source_offset(rng, p, lens["theta_E"])
    return r, t


def draw_sources(rng, p, g: Group, counts, lens: dict, offset_theta_E=None) -> None:
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
    offset_theta_E : (float, float), optional
        Place the sources (each of a ``multiple`` model's too) in this annulus, theta_E, uniform
        over its area, instead of the recipe's disk (``near_miss``).
    """
    n = g.n
    keys = list(p.source_mix)
    w = np.array([p.source_mix[k] for k in keys], dtype=float)
    model = np.asarray(keys, dtype=object)[rng.choice(len(keys), size=n, p=w / w.sum())]
    R = uniform(rng, p.source_R_sersic_arcsec, n)
    n_sersic = uniform(rng, p.source_n_sersic, n)
    q, phi, e1, e2 = ellipse(rng, p.source_q, n)
    if offset_theta_E is None:
        r = p.source_offset_theta_E * lens["theta_E"] * source_offset_fraction(rng, p.source_offset_weighting, n)
    else:
        r = lens["theta_E"] * _annulus(rng, offset_theta_E, n)
    t = rng.uniform(0.0, 2.0 * np.pi, n)
    if offset_theta_E is None and p.source_min_counter_magnification > 0:
        for i in range(n):
            r[i], t[i] = with_counter_image(rng, p, {k: v[i] for k, v in lens.items()}, r[i], t[i])
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
        if offset_theta_E is None:
            ox, oy = disk_offsets(rng, (0.0, 1.0), m)
        else:
            ro, to = _annulus(rng, offset_theta_E, m), rng.uniform(0.0, 2.0 * np.pi, m)
            ox, oy = ro * np.cos(to), ro * np.sin(to)
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

