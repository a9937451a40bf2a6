"""The negatives the sky has: what a lens finder must learn to reject, drawn ``n`` at a time.

:func:`draw_negatives` draws the images of one negative kind
(:data:`lensfinder.simulation.recipes.NEGATIVE_KINDS`): the Table 2 shapes of
He et al. (2020) and the confusers of real searches — ellipticals with
satellites and chance companions, clumpy irregular galaxies (GalSim's
``RandomKnots``), spirals with arms, rings, mergers with tidal tails, edge-on
disks, small groups, stars and star-galaxy blends. :func:`central_galaxy`,
:func:`add_satellites` and :func:`add_field_galaxies` are shared with the
lenses, so that no component tells the classes apart. Each choice and its
source: ``docs/simulation.md`` (the sky's confusers).
"""

from __future__ import annotations

import numpy as np

from lensfinder.simulation.components import (
    Group,
    disk_offsets,
    ellipse,
    integers,
    random_knots,
    sersic_columns,
    uniform,
)
from lensfinder.simulation.optics import mag_to_counts

__all__ = ["draw_negatives", "central_galaxy", "add_satellites", "add_field_galaxies"]

#: A passive ring: this many overlapping blobs of this Gaussian sigma (arcsec) make a smooth annulus
#: 0.3-0.8" wide (Buta & Combes 1996, Fund. Cosmic Phys. 17, 95: resonance rings of S0s are smooth)
PASSIVE_RING_BLOBS = (80, 160)
PASSIVE_RING_SIGMA_ARCSEC = (0.12, 0.3)
#: ... lopsided: blob fluxes 1 + a cos(theta - theta_0), a in this range (rings are rarely uniform)
PASSIVE_RING_LOPSIDEDNESS = (0.0, 0.8)
#: A grand-design spiral: 1-4 continuous arms (Elmegreen & Elmegreen 1987, ApJ 314, 3: grand-design,
#: multi-armed and flocculent arm classes), each this many overlapping blobs, of Gaussian sigma this
#: fraction of their radius (arms widen outward: ~1-2 kpc at 5-10 kpc), at least the floor (arcsec)
GRAND_DESIGN_BLOBS_PER_ARM = (100, 200)
GRAND_DESIGN_ARM_WIDTH = (0.05, 0.12)
GRAND_DESIGN_SIGMA_FLOOR_ARCSEC = 0.1
#: ... large disks (half-light radius, arcsec: M51's and M100's 3-6 kpc at z ~ 0.05-0.3) whose arms
#: hold this fraction of the light (the arms dominate a grand-design disk in blue light)
GRAND_DESIGN_R_ARCSEC = (1.0, 4.0)
GRAND_DESIGN_ARM_FRACTION = (0.3, 0.7)
#: Colour class by a boolean "blue" (0: red, 1: blue).
_RED_BLUE = np.array(["red", "blue"], dtype=object)


def _choice(rng, weights, n):
    """Indices into ``weights`` (a mapping) for ``n`` draws, and the keys."""
    keys = list(weights)
    w = np.array([weights[k] for k in keys], dtype=float)
    return rng.choice(len(keys), size=n, p=w / w.sum()), keys


def central_galaxy(rng, p, g: Group, counts, cx, cy, R_range, n_range, q_range=None, e12=None, colour="red"):
    """The light of a lens or of a negative's central galaxy: one of ``lens_light_mix``.

    ``sersic`` is one profile; ``bulge_disk`` adds an exponential-like disk (``disk_n_sersic``,
    own axis ratio ``disk_q``); ``double_sersic`` an envelope of the same shape (``envelope_n_sersic``);
    the second component holds ``second_light_fraction`` of the flux with ``second_light_R_factor``
    times the radius. Columns ``lens_light_*``, ``disk_*`` and ``lens_light_model``; ``e12``:
    the (e1, e2) to use (a lens's light follows its mass), else drawn from ``q_range``.
    """
    n = g.n
    model_index, models = _choice(rng, p.lens_light_mix, n)
    R = uniform(rng, R_range, n)
    n_sersic = uniform(rng, n_range, n)
    e1, e2 = e12 if e12 is not None else ellipse(rng, q_range, n)[2:]
    fraction = uniform(rng, p.second_light_fraction, n)
    R2 = R * uniform(rng, p.second_light_R_factor, n)
    n_disk = uniform(rng, p.disk_n_sersic, n)
    n_env = uniform(rng, p.envelope_n_sersic, n)
    _, _, de1, de2 = ellipse(rng, p.disk_q, n)
    model = np.asarray(models, dtype=object)[model_index]
    second = model != "sersic"
    disk = model == "bulge_disk"
    first = np.where(second, 1.0 - fraction, 1.0) * counts
    g.update(sersic_columns("lens_light", first, R, n_sersic, e1, e2, cx, cy, colour, g.bands))
    g.update(sersic_columns("disk", np.where(second, fraction * counts, np.nan), R2, np.where(disk, n_disk, n_env),
                            np.where(disk, de1, e1), np.where(disk, de2, e2), cx, cy, colour, g.bands))
    g.update({"lens_light_model": model})


def add_satellites(rng, p, g: Group, where, central_mag, cx, cy):
    """Satellites and chance companions of the galaxies at positions ``where``: ``satellite_count``
    of them, ``satellite_distance_arcsec`` from the centre, ``satellite_mag_offset`` fainter, red or
    blue (``satellite_blue_fraction``), compact to extended (unlensed ``extra_*`` components);
    ``satellite_knot_fraction`` of the blue ones put ``knot_flux_fraction`` of their light in
    ``source_knots`` knots (``blob_*``), as the knotty lensed sources do."""
    where = np.asarray(where, dtype=np.int64)
    count = integers(rng, p.satellite_count, len(where))
    owner = np.repeat(where, count)
    m = len(owner)
    dx, dy = disk_offsets(rng, p.satellite_distance_arcsec, m)
    mag = np.asarray(central_mag)[owner] + uniform(rng, p.satellite_mag_offset, m)
    R = uniform(rng, p.satellite_R_sersic_arcsec, m)
    n = uniform(rng, p.satellite_n_sersic, m)
    q, phi, e1, e2 = ellipse(rng, (0.4, 1.0), m)
    blue = rng.uniform(size=m) < p.satellite_blue_fraction
    counts = mag_to_counts(mag, p.zeropoint_mag)
    x, y = np.asarray(cx)[owner] + dx, np.asarray(cy)[owner] + dy
    if p.satellite_knot_fraction > 0:  # star-forming satellites: a share of the light in knots, as a source's
        counts = _knotty_blue(rng, p, g, p.satellite_knot_fraction, p.knot_flux_fraction, owner, counts, R, q, phi,
                              x, y, blue, p.source_knots, p.knot_sigma_arcsec)
    g.extras(owner, counts, R, n, e1, e2, x, y, _RED_BLUE[blue.astype(int)])


def add_field_galaxies(rng, p, g: Group):
    """``field_galaxies`` galaxies (``field_mag``) anywhere in each stamp at least
    ``field_min_distance_arcsec`` from its centre, lenses and negatives alike: half-light radii
    ``field_R_sersic_arcsec``, Sersic 0.5-2.5, ``field_blue_fraction`` of them blue and the others red
    (``extra_*`` components); ``field_knot_fraction`` of the blue ones put ``irregular_knot_fraction`` of their
    light in ``confuser_knots`` knots (``blob_*``), clumpy irregulars as the irregular kind's."""
    count = integers(rng, p.field_galaxies, g.n)
    owner = np.repeat(np.arange(g.n), count)
    m = len(owner)
    half = (p.stamp_size - 1) / 2 * p.pixel_scale_arcsec - 0.5
    x, y = rng.uniform(-half, half, (2, m))
    if p.field_min_distance_arcsec > 0:  # below half: recipes._check_together
        inside = np.hypot(x, y) < p.field_min_distance_arcsec
        while inside.any():  # redrawn uniformly over the square outside the disk
            x[inside], y[inside] = rng.uniform(-half, half, (2, int(inside.sum())))
            inside = np.hypot(x, y) < p.field_min_distance_arcsec
    mag = uniform(rng, p.field_mag, m)
    R = uniform(rng, p.field_R_sersic_arcsec, m)
    n = uniform(rng, (0.5, 2.5), m)
    q, phi, e1, e2 = ellipse(rng, (0.3, 1.0), m)
    blue = rng.uniform(size=m) < p.field_blue_fraction
    counts = mag_to_counts(mag, p.zeropoint_mag)
    if p.field_knot_fraction > 0:  # clumpy irregular neighbours, as the irregular kind's (no draw when 0)
        counts = _knotty_blue(rng, p, g, p.field_knot_fraction, p.irregular_knot_fraction, owner, counts, R, q, phi,
                              x, y, blue, p.confuser_knots)
    g.extras(owner, counts, R, n, e1, e2, x, y, _RED_BLUE[blue.astype(int)])


def _knotty_blue(rng, p, g: Group, fraction, flux_fraction, owner, counts, R, q, phi, x, y, blue, count_range,
                 sigma_range=None):
    """``fraction`` of the ``blue`` components (satellites, field galaxies) put ``flux_fraction`` of their light in
    :func:`_knots` round themselves; returns the counts left in their smooth profiles (a new array)."""
    knotty = np.flatnonzero(blue & (rng.uniform(size=len(owner)) < fraction))
    f = uniform(rng, flux_fraction, len(knotty))
    _knots(rng, p, g, owner[knotty], f * counts[knotty], R[knotty], q[knotty], phi[knotty], x[knotty], y[knotty],
           "blue", count_range, sigma_range)
    counts = counts.copy()
    counts[knotty] *= 1 - f
    return counts


def _knots(rng, p, g: Group, owner, counts, hlr, q, phi, cx, cy, colour, count_range, sigma_range=None):
    """GalSim ``RandomKnots``: ``count_range`` equal-flux knots with ``counts`` in all, Gaussian
    of half-light radius ``hlr`` sheared to ``q``/``phi``, each a blob of ``sigma_range``
    (default ``confuser_knot_sigma_arcsec``)."""
    count = integers(rng, count_range, len(owner))
    k_owner, dx, dy = random_knots(rng, count, hlr, q, phi)
    sigma = uniform(rng, p.confuser_knot_sigma_arcsec if sigma_range is None else sigma_range, len(k_owner))
    g.blobs(np.asarray(owner)[k_owner], (counts / count)[k_owner], cx[k_owner] + dx, cy[k_owner] + dy, sigma,
            colour)


def _projected(r, theta, q, phi):
    """Disk-plane polar coordinates -> sky offsets of a disk with axis ratio ``q`` at angle ``phi``."""
    u, v = r * np.cos(theta), r * np.sin(theta) * q
    return u * np.cos(phi) - v * np.sin(phi), u * np.sin(phi) + v * np.cos(phi)


def draw_negatives(rng, p, kind: str, g: Group, counts, cx, cy):
    """Draw the ``g.n`` images of negative kind ``kind`` into ``g``.

    Parameters
    ----------
    rng : numpy.random.Generator
        The kind's generator (drawn from in a fixed order).
    p : lensfinder.simulation.recipes.Recipe
    kind : str
        A negative kind.
    g : lensfinder.simulation.components.Group
        Columns of the images (``g.n`` of them).
    counts, cx, cy : ndarray (g.n,)
        Detection-band counts of the main galaxy (or star), and its centre, arcsec.
    """
    n = g.n
    mag = p.zeropoint_mag - 2.5 * np.log10(counts)
    g.update({"mag_lens": mag})
    if kind in ("elliptical", "satellites", "group", "star_blend", "elliptical_pair"):
        central_galaxy(rng, p, g, counts, cx, cy, p.elliptical_R_sersic_arcsec, p.elliptical_n_sersic, p.elliptical_q)
    if kind == "satellites":
        add_satellites(rng, p, g, np.arange(n), mag, cx, cy)
    elif kind == "elliptical_pair":  # He et al. 2020, Table 2: a second elliptical anywhere in the stamp
        half = (p.stamp_size - 1) / 2 * p.pixel_scale_arcsec - 1.0
        px, py = rng.uniform(-half, half, (2, n))
        for _ in range(100):  # redraw those too close
            near = np.hypot(px - cx, py - cy) < p.companion_min_distance_arcsec
            if not near.any():
                break
            px[near], py[near] = rng.uniform(-half, half, (2, int(near.sum())))
        mag2 = mag + uniform(rng, p.companion_mag_offset, n)
        _, _, e1, e2 = ellipse(rng, p.elliptical_q, n)
        g.update(sersic_columns("companion", mag_to_counts(mag2, p.zeropoint_mag),
                                uniform(rng, p.companion_R_sersic_arcsec, n), uniform(rng, p.elliptical_n_sersic, n),
                                e1, e2, px, py, "red", g.bands))
        g.update({"mag_companion": mag2})
    elif kind == "group":  # 2-4 more members, up to 2.5 mag fainter, red
        m_count = integers(rng, p.group_members, n)
        owner = np.repeat(np.arange(n), m_count)
        m = len(owner)
        dx, dy = disk_offsets(rng, p.group_radius_arcsec, m)
        mag_m = mag[owner] + uniform(rng, (0.0, 2.5), m)
        _, _, e1, e2 = ellipse(rng, p.elliptical_q, m)
        g.extras(owner, mag_to_counts(mag_m, p.zeropoint_mag), uniform(rng, (0.3, 1.5), m),
                 uniform(rng, p.elliptical_n_sersic, m), e1, e2, cx[owner] + dx, cy[owner] + dy, "red")
    elif kind in ("star", "star_blend"):
        smag = uniform(rng, p.star_mag, n)
        dx, dy = disk_offsets(rng, p.star_distance_arcsec, n) if kind == "star_blend" else (0.0, 0.0)
        g.blobs(np.arange(n), mag_to_counts(smag, p.zeropoint_mag), cx + dx, cy + dy, 0.0, "red")
        g.update({"mag_companion": smag} if kind == "star_blend" else {"mag_lens": smag})
    elif kind == "elongated":  # He et al. 2020, Table 2
        _, _, e1, e2 = ellipse(rng, p.elongated_q, n)
        g.update(sersic_columns("lens_light", counts, uniform(rng, p.elongated_R_sersic_arcsec, n),
                                uniform(rng, p.elongated_n_sersic, n), e1, e2, cx, cy, "red", g.bands))
    elif kind == "bulge_disk":  # He et al. 2020, Table 2
        bd = uniform(rng, p.bulge_to_disk, n)
        _, _, e1, e2 = ellipse(rng, p.bulge_q, n)
        _, _, de1, de2 = ellipse(rng, p.disk_q, n)
        g.update(sersic_columns("lens_light", counts * bd / (1 + bd), uniform(rng, p.bulge_disk_R_sersic_arcsec, n),
                                uniform(rng, p.bulge_n_sersic, n), e1, e2, cx, cy, "red", g.bands))
        g.update(sersic_columns("disk", counts / (1 + bd), uniform(rng, p.bulge_disk_R_sersic_arcsec, n),
                                uniform(rng, p.disk_n_sersic, n), de1, de2, cx, cy, "blue", g.bands))
        g.update({"bulge_to_disk": bd})
    elif kind in ("irregular", "spiral", "grand_design", "ring", "passive_ring", "edge_on"):
        _disk_galaxy(rng, p, kind, g, counts, cx, cy)
    elif kind == "merger":
        _merger(rng, p, g, counts, cx, cy)
    if kind in ("elongated", "bulge_disk", "star"):
        model = {"elongated": "sersic", "bulge_disk": "bulge_disk", "star": ""}[kind]
        g.update({"lens_light_model": np.full(n, model, dtype=object)})


def _disk_galaxy(rng, p, kind, g: Group, counts, cx, cy):
    """Star-forming disks: clumpy irregulars, spirals with two arms of knots, grand-design spirals with
    1-4 smooth arms, rings, edge-on disks."""
    n = g.n
    R = uniform(rng, p.irregular_R_arcsec, n)
    q, phi, e1, e2 = ellipse(rng, p.edge_on_q if kind == "edge_on" else (0.3, 1.0), n)
    ar = np.arange(n)
    if kind == "irregular":  # an exponential disk + RandomKnots (GalSim's recipe for knots of star formation)
        f = uniform(rng, p.irregular_knot_fraction, n)
        g.update(sersic_columns("lens_light", (1 - f) * counts, R, np.ones(n), e1, e2, cx, cy, "blue", g.bands))
        _knots(rng, p, g, ar, f * counts, R, q, phi, cx, cy, "blue", p.confuser_knots)
    elif kind == "spiral":  # bulge + exponential disk + knots along two logarithmic arms
        f_bulge, f_arms = uniform(rng, (0.05, 0.4), n), uniform(rng, (0.2, 0.5), n)
        _bulge_and_disk(rng, g, f_bulge * counts, (1 - f_bulge - f_arms) * counts, R, e1, e2, cx, cy)
        count = integers(rng, p.confuser_knots, n)
        owner = np.repeat(ar, count)
        m = len(owner)
        pitch = np.radians(uniform(rng, (10.0, 30.0), n))[owner]  # Sa-Sc pitch angles (Kennicutt 1981)
        r = R[owner] * uniform(rng, (0.3, 2.5), m)
        theta = (uniform(rng, (0.0, 2 * np.pi), n)[owner] + np.pi * rng.integers(0, 2, m)
                 + np.log(r / R[owner]) / np.tan(pitch) + rng.normal(0.0, 0.15, m))
        dx, dy = _projected(r, theta, q[owner], phi[owner])
        g.blobs(owner, (f_arms * counts / count)[owner], cx[owner] + dx, cy[owner] + dy,
                uniform(rng, p.confuser_knot_sigma_arcsec, m), "blue")
    elif kind == "grand_design":  # bulge + exponential disk + 1-4 smooth, continuous logarithmic arms
        R = uniform(rng, GRAND_DESIGN_R_ARCSEC, n)
        f_arms = uniform(rng, GRAND_DESIGN_ARM_FRACTION, n)
        f_bulge = uniform(rng, (0.05, 0.25), n)
        _bulge_and_disk(rng, g, f_bulge * counts, (1 - f_bulge - f_arms) * counts, R, e1, e2, cx, cy)
        arms = integers(rng, p.grand_design_arms, n)
        count = arms * integers(rng, GRAND_DESIGN_BLOBS_PER_ARM, n)
        owner = np.repeat(ar, count)
        m = len(owner)
        pitch_deg = uniform(rng, (10.0, 30.0), n)  # Kennicutt (1981), as `spiral`
        pitch = np.radians(pitch_deg)[owner]
        # uniform in ln r along each arm, 0.3-2.5 disk radii: the arm's light falls as 1/r
        r = R[owner] * np.exp(uniform(rng, (np.log(0.3), np.log(2.5)), m))
        arm = rng.integers(0, arms[owner])
        theta = (uniform(rng, (0.0, 2 * np.pi), n)[owner] + 2 * np.pi * arm / arms[owner]
                 + np.log(r / R[owner]) / np.tan(pitch) + rng.normal(0.0, 0.03, m))
        dx, dy = _projected(r, theta, q[owner], phi[owner])
        sigma = np.maximum(uniform(rng, GRAND_DESIGN_ARM_WIDTH, n)[owner] * r, GRAND_DESIGN_SIGMA_FLOOR_ARCSEC)
        g.blobs(owner, (f_arms * counts / count)[owner], cx[owner] + dx, cy[owner] + dy, sigma, "blue")
        g.update({"spiral_arms": arms.astype(float), "spiral_pitch_deg": pitch_deg})  # float: NaN for other kinds
    elif kind in ("ring", "passive_ring"):
        # ring: a bulge inside a knotty star-forming ring (blue knots); passive_ring: a smooth ring of old
        # stars, the bulge's colour (the outer and inner resonance rings of S0 and early spirals)
        passive = kind == "passive_ring"
        f_ring = uniform(rng, (0.15, 0.45) if passive else (0.25, 0.6), n)
        R_ring = uniform(rng, p.ring_R_arcsec, n)
        g.update(sersic_columns("lens_light", (1 - f_ring) * counts, uniform(rng, (0.3, 0.8), n),
                                uniform(rng, (2.0, 4.0), n), e1, e2, cx, cy, "red", g.bands))
        count = integers(rng, PASSIVE_RING_BLOBS if passive else p.confuser_knots, n)
        owner = np.repeat(ar, count)
        m = len(owner)
        r = R_ring[owner] * (1.0 + (0.04 if passive else 0.08) * rng.standard_normal(m))
        theta = rng.uniform(0.0, 2 * np.pi, m)
        dx, dy = _projected(r, theta, q[owner], phi[owner])
        sigma = uniform(rng, PASSIVE_RING_SIGMA_ARCSEC if passive else p.confuser_knot_sigma_arcsec, m)
        flux = (f_ring * counts / count)[owner]
        if passive:  # lopsided: brighter on one side, 1 + a cos(theta - theta_0), a up to 0.8 (an arc-like ring)
            a, theta0 = uniform(rng, PASSIVE_RING_LOPSIDEDNESS, n), uniform(rng, (0.0, 2 * np.pi), n)
            weight = 1.0 + a[owner] * np.cos(theta - theta0[owner])
            flux = weight / np.bincount(owner, weights=weight, minlength=n)[owner] * (f_ring * counts)[owner]
        g.blobs(owner, flux, cx[owner] + dx, cy[owner] + dy, sigma, "red" if passive else "blue")
    else:  # edge-on disk with a small bulge
        f_bulge = uniform(rng, (0.0, 0.2), n)
        g.update(sersic_columns("lens_light", (1 - f_bulge) * counts, R, np.ones(n), e1, e2, cx, cy, "blue", g.bands))
        _, _, be1, be2 = ellipse(rng, (0.6, 0.9), n)
        g.update(sersic_columns("disk", f_bulge * counts, 0.3 * R, np.full(n, 3.0), be1, be2, cx, cy, "red",
                                g.bands))
    g.update({"lens_light_model": np.full(n, kind, dtype=object)})


def _bulge_and_disk(rng, g: Group, bulge_counts, disk_counts, R, e1, e2, cx, cy):
    """A spiral's bulge (Sersic n 2-4, a fifth of the disk's radius, rounder) and exponential disk."""
    g.update(sersic_columns("lens_light", bulge_counts, 0.2 * R, uniform(rng, (2.0, 4.0), g.n), 0.3 * e1, 0.3 * e2,
                            cx, cy, "red", g.bands))
    g.update(sersic_columns("disk", disk_counts, R, np.ones(g.n), e1, e2, cx, cy, "blue", g.bands))


def _merger(rng, p, g: Group, counts, cx, cy):
    """Two galaxies ``merger_separation_arcsec`` apart (flux ratio 0.3-1) and a tidal tail of
    diffuse blobs along a circle through the brighter one (``tail_flux_fraction``)."""
    n = g.n
    f_tail = uniform(rng, p.tail_flux_fraction, n)
    ratio = uniform(rng, (0.3, 1.0), n)
    f1 = (1 - f_tail) / (1 + ratio) * counts
    dx, dy = disk_offsets(rng, p.merger_separation_arcsec, n)
    blue = rng.uniform(size=n) < 0.5
    colour = _RED_BLUE[blue.astype(int)]
    for prefix, flux, x, y in (("lens_light", f1, cx, cy), ("companion", f1 * ratio, cx + dx, cy + dy)):
        _, _, e1, e2 = ellipse(rng, (0.4, 0.95), n)
        g.update(sersic_columns(prefix, flux, uniform(rng, (0.3, 1.2), n), uniform(rng, (1.0, 4.0), n), e1, e2, x, y,
                                colour, g.bands))
    R_arc = uniform(rng, (1.5, 4.0), n)
    direction = np.arctan2(-dy, -dx) + rng.normal(0.0, 0.6, n)  # away from the partner
    span = uniform(rng, (1.0, 2.4), n)
    hand = np.where(rng.uniform(size=n) < 0.5, -1.0, 1.0)
    count = integers(rng, (15, 30), n)
    owner = np.repeat(np.arange(n), count)
    t = rng.uniform(0.0, 1.0, len(owner))
    arc_cx, arc_cy = cx + R_arc * np.cos(direction), cy + R_arc * np.sin(direction)
    ang = direction[owner] + np.pi + hand[owner] * span[owner] * t
    weight = 1.0 - 0.7 * t  # fading along the tail
    flux = weight / np.bincount(owner, weights=weight, minlength=n)[owner] * (f_tail * counts)[owner]
    g.blobs(owner, flux, arc_cx[owner] + R_arc[owner] * np.cos(ang), arc_cy[owner] + R_arc[owner] * np.sin(ang),
            uniform(rng, (0.15, 0.4), len(owner)), colour[owner])
    g.update({"mag_companion": p.zeropoint_mag - 2.5 * np.log10(f1 * ratio),
              "lens_light_model": np.full(n, "merger", dtype=object)})

