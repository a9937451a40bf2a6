"""The mock survey's objects: galaxies, stars and lens systems of one tile, drawn at random.

:func:`draw_tile_objects` draws each kind in turn (lenses, bright stars,
ellipticals, rings, mergers, edge-on disks, spirals, faint galaxies, stars)
and returns their truth rows and light components, which
:mod:`lensfinder.surveys.mock.render` paints. The object types are described
in ``docs/surveys.md``. All randomness comes from the generator passed in.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from lensfinder.simulation import lensing
from lensfinder.surveys.mock.render import Component

__all__ = ["PopulationCounts", "draw_tile_objects", "lrg_colours"]

#: Largest half-size of a rendered component, arcsec.
MAX_HALF_SIZE_ARCSEC = 32.0


@dataclasses.dataclass
class PopulationCounts:
    """How many objects of each kind one tile holds."""

    elliptical: int
    spiral: int
    edge_on: int
    merger_pairs: int
    ring: int
    faint: int
    stars: int
    bright_stars: int
    lenses: int


# --------------------------------------------------------------------------- colours

def lrg_colours(r_mag, rng, margin_mean=0.22, margin_sigma=0.07, c_perp_sigma=0.05):
    """g-r, r-i of a red elliptical of r magnitude ``r_mag`` near the LRG locus.

    On the locus ``c_perp = 0`` one has ``c_par = g - r``, so the cut
    ``r < 14 + c_par/0.3`` (Li et al. 2020, eq. 1) becomes
    ``g - r > 0.3 (r - 14)``; we draw ``g - r = 0.3 (r - 14) + margin`` with a
    mostly positive margin and ``r - i = (g - r)/4 + 0.18 + c_perp``. Fainter
    LRGs are redder, as higher-redshift LRGs are.
    """
    r_mag = np.asarray(r_mag, dtype=float)
    g_r = np.clip(0.3 * (r_mag - 14.0) + rng.normal(margin_mean, margin_sigma, r_mag.shape), 0.8, 2.1)
    c_perp = rng.normal(0.0, c_perp_sigma, r_mag.shape)
    r_i = g_r / 4.0 + 0.18 + c_perp
    u_g = rng.normal(2.1, 0.25, r_mag.shape)
    # redshift of a passive galaxy of that g-r (rough SDSS LRG relation)
    z = np.clip((g_r - 0.75) / 2.2 + rng.normal(0, 0.02, r_mag.shape), 0.05, 0.8)
    return g_r, r_i, u_g, z


def _blue_colours(n, rng, g_r_mean=0.55, g_r_sigma=0.15):
    g_r = rng.normal(g_r_mean, g_r_sigma, n)
    r_i = 0.3 * g_r + 0.12 + rng.normal(0, 0.08, n)
    u_g = 0.5 + 0.9 * g_r + rng.normal(0, 0.2, n)
    return g_r, r_i, u_g


def _star_colours(n, rng):
    # a rough stellar locus: r-i flat for F-K stars, rising for M dwarfs
    g_r = rng.uniform(0.25, 1.5, n)
    r_i = np.where(g_r < 1.1, 0.35 * (g_r - 0.25), 0.3 + 1.6 * (g_r - 1.1)) + rng.normal(0, 0.04, n)
    u_g = 0.7 + 1.3 * g_r + rng.normal(0, 0.1, n)
    return g_r, r_i, u_g


# --------------------------------------------------------------------------- drawing

def _e1e2(rng, q_low, q_high, n=None):
    q = rng.uniform(q_low, q_high, n)
    phi = rng.uniform(0.0, np.pi, n)
    e1, e2 = lensing.phi_q_to_e1e2(phi, q)
    return e1, e2


def _mag_powerlaw(rng, lo, hi, slope, n):
    """Magnitudes in [lo, hi] with counts rising as 10**(slope m)."""
    a = 10 ** (slope * lo)
    b = 10 ** (slope * hi)
    return np.log10(a + (b - a) * rng.uniform(size=n)) / slope


class _Placer:
    """Rejection sampling of positions that keeps bright objects apart."""

    def __init__(self, size_pix: int, pixel_scale_arcsec: float, rng):
        self.size = size_pix
        self.scale = pixel_scale_arcsec
        self.rng = rng
        self.xy = np.empty((0, 2))
        self.radius = np.empty(0)

    def place(self, exclusion_arcsec: float, margin_pix: float = 0.0, tries: int = 40) -> tuple[float, float]:
        """A position at least ``exclusion_arcsec`` (plus theirs) from the objects placed so far.

        After ``tries`` failures the least crowded candidate is taken. Objects
        with zero exclusion avoid the others but do not reserve room.
        """
        lo = margin_pix
        hi = self.size - 1 - margin_pix
        r_pix = exclusion_arcsec / self.scale
        best, best_gap = None, -np.inf
        for _ in range(tries):
            xy = self.rng.uniform(lo, hi, 2)
            if len(self.xy):
                d = np.hypot(*(self.xy - xy).T)
                gap = float(np.min(d - (self.radius + r_pix)))
            else:
                gap = np.inf
            if gap > 0:
                best = xy
                break
            if gap > best_gap:
                best, best_gap = xy, gap
        if exclusion_arcsec > 0:
            self.xy = np.vstack([self.xy, best])
            self.radius = np.append(self.radius, r_pix)
        return float(best[0]), float(best[1])


def _sersic_half_size(R_sersic, n_sersic):
    return float(np.clip(R_sersic * (4.0 + 2.5 * n_sersic), 1.5, MAX_HALF_SIZE_ARCSEC))


def _row(**kw) -> dict:
    base = dict(
        object_type="", is_lens=False, group_id=-1, x_pix=np.nan, y_pix=np.nan,
        mag_r_true=np.nan, mag_r_total_true=np.nan,
        colour_g_r_true=np.nan, colour_r_i_true=np.nan, colour_u_g_true=np.nan, z_true=np.nan,
        R_sersic=np.nan, n_sersic=np.nan, light_e1=np.nan, light_e2=np.nan,
        theta_E=np.nan, e1=np.nan, e2=np.nan, gamma1=np.nan, gamma2=np.nan,
        source_R_sersic=np.nan, source_n_sersic=np.nan, source_e1=np.nan, source_e2=np.nan,
        source_center_x=np.nan, source_center_y=np.nan, mag_source=np.nan, magnification=np.nan,
        z_source=np.nan,
    )
    base.update(kw)
    return base


class _TileObjects:
    """The objects drawn so far: truth rows, light components and the row each component belongs to."""

    def __init__(self, size_pix: int, pixel_scale_arcsec: float, zeropoint_mag: float, rng: np.random.Generator):
        self.rng = rng
        self.pixel_scale_arcsec = pixel_scale_arcsec
        self.zeropoint_mag = zeropoint_mag
        self.placer = _Placer(size_pix, pixel_scale_arcsec, rng)
        self.rows: list[dict] = []
        self.comps: list[Component] = []
        self.owner: list[int] = []

    def counts_of(self, mag: float) -> float:
        """Counts of an r magnitude at the tile's zero point."""
        return float(10.0 ** (-0.4 * (mag - self.zeropoint_mag)))

    def add(self, row: dict, components=()) -> None:
        """One object: its truth row and its light components."""
        self.rows.append(row)
        for c in components:
            self.comps.append(c)
            self.owner.append(len(self.rows) - 1)


def draw_tile_objects(counts: PopulationCounts, size_pix: int, pixel_scale_arcsec: float,
                      zeropoint_mag: float, rng: np.random.Generator,
                      theta_E_range=(1.2, 3.0)) -> tuple[pd.DataFrame, list[Component], list[int]]:
    """Draw one tile's objects.

    Parameters
    ----------
    counts : PopulationCounts
        Number of objects per kind.
    size_pix : int
        Tile side, pixels.
    pixel_scale_arcsec : float
        Pixel size, arcsec.
    zeropoint_mag : float
        Photometric zero point of the counts.
    rng : numpy.random.Generator
        Drawn from in a fixed order (the kinds in the order below), so a seed gives one tile.
    theta_E_range : (float, float)
        Einstein radii of the lenses, arcsec.

    Returns
    -------
    truth : pandas.DataFrame
        One row per object (columns of :func:`_row` plus ``truth_id``).
    components : list of Component
        Extended light, before the PSF.
    component_owner : list of int
        ``truth_id`` of each component (the lensed source belongs to its lens).
    """
    sky = _TileObjects(size_pix, pixel_scale_arcsec, zeropoint_mag, rng)
    _draw_lenses(sky, counts.lenses, theta_E_range)  # first: isolated, so their stamps are clean
    _draw_bright_stars(sky, counts.bright_stars)
    _draw_ellipticals(sky, counts.elliptical)
    _draw_rings(sky, counts.ring)
    _draw_mergers(sky, counts.merger_pairs)
    _draw_edge_on(sky, counts.edge_on)
    _draw_spirals(sky, counts.spiral)
    _draw_faint(sky, counts.faint)
    _draw_stars(sky, counts.stars)
    truth = pd.DataFrame(sky.rows)
    if "source_colour_g_r_true" not in truth:
        truth["source_colour_g_r_true"] = np.nan
        truth["source_colour_r_i_true"] = np.nan
    truth.insert(0, "truth_id", np.arange(len(truth), dtype=np.int64))
    truth["is_lens"] = truth["is_lens"].astype(bool)
    return truth, sky.comps, sky.owner


def _draw_lenses(sky: _TileObjects, count: int, theta_E_range) -> None:
    """LRG-like lenses (SIE + shear) and their lensed blue Sersic sources; isolated, away from the edges."""
    rng = sky.rng
    stamp_margin = 70.0
    for _ in range(count):
        theta_E = rng.uniform(*theta_E_range)
        x, y = sky.placer.place(theta_E + 5.0, margin_pix=stamp_margin)
        mag = rng.uniform(17.8, 19.5)
        g_r, r_i, u_g, z = lrg_colours(mag, rng)
        R = float(np.clip(1.3 * 10 ** (-0.12 * (mag - 18.5)) * 10 ** rng.normal(0, 0.1), 0.6, 3.5))
        n = rng.uniform(3.0, 5.0)
        q_light = rng.uniform(0.6, 0.95)
        phi = rng.uniform(0, np.pi)
        le1, le2 = lensing.phi_q_to_e1e2(phi, q_light)
        # mass roughly aligned with the light, a little rounder
        q_mass = float(np.clip(q_light + rng.normal(0.05, 0.05), 0.5, 0.98))
        e1, e2 = lensing.phi_q_to_e1e2(phi + rng.normal(0, 0.15), q_mass)
        g1, g2 = rng.normal(0, 0.03, 2)
        # source inside about half the Einstein radius: bright arcs, rings, quads
        beta = theta_E * 0.5 * np.sqrt(rng.uniform())
        ang = rng.uniform(0, 2 * np.pi)
        src = dict(R_sersic=rng.uniform(0.2, 0.6), n_sersic=rng.uniform(0.6, 1.5),
                   e1=0.0, e2=0.0, center_x=beta * np.cos(ang), center_y=beta * np.sin(ang))
        src["e1"], src["e2"] = _e1e2(rng, 0.5, 1.0)
        mag_src = rng.uniform(21.0, 22.5)
        sg_r, sr_i, _ = _blue_colours(1, rng, 0.35, 0.1)
        z_s = rng.uniform(0.9, 2.5)
        row = _row(object_type="lens", is_lens=True, x_pix=x, y_pix=y, mag_r_true=mag,
                   colour_g_r_true=float(g_r), colour_r_i_true=float(r_i), colour_u_g_true=float(u_g),
                   z_true=float(z), R_sersic=R, n_sersic=n, light_e1=float(le1), light_e2=float(le2),
                   theta_E=theta_E, e1=float(e1), e2=float(e2), gamma1=float(g1), gamma2=float(g2),
                   source_R_sersic=src["R_sersic"], source_n_sersic=src["n_sersic"],
                   source_e1=float(src["e1"]), source_e2=float(src["e2"]),
                   source_center_x=float(src["center_x"]), source_center_y=float(src["center_y"]),
                   mag_source=mag_src, z_source=z_s,
                   source_colour_g_r_true=float(sg_r[0]), source_colour_r_i_true=float(sr_i[0]))
        light = Component("sersic", x, y, sky.counts_of(mag), _sersic_half_size(R, n),
                          dict(R_sersic=R, n_sersic=n, e1=float(le1), e2=float(le2)))
        lensed = Component("lensed", x, y, sky.counts_of(mag_src), theta_E + 4.0,
                           dict(theta_E=theta_E, e1=float(e1), e2=float(e2), gamma1=float(g1),
                                gamma2=float(g2), source=src))
        sky.add(row, [light, lensed])


def _draw_bright_stars(sky: _TileObjects, count: int) -> None:
    """Bright stars (r 13.5-16; their haloes are masked)."""
    rng = sky.rng
    for _ in range(count):
        mag = rng.uniform(13.5, 16.0)
        x, y = sky.placer.place(8.0)
        g_r, r_i, u_g = _star_colours(1, rng)
        sky.add(_row(object_type="star", x_pix=x, y_pix=y, mag_r_true=mag, colour_g_r_true=float(g_r[0]),
                     colour_r_i_true=float(r_i[0]), colour_u_g_true=float(u_g[0]), z_true=0.0))


def _draw_ellipticals(sky: _TileObjects, count: int) -> None:
    """Red ellipticals on the LRG colour locus."""
    rng = sky.rng
    mags = rng.uniform(16.8, 21.0, count)
    for mag in mags:
        g_r, r_i, u_g, z = lrg_colours(mag, rng)
        R = float(np.clip(1.3 * 10 ** (-0.12 * (mag - 18.5)) * 10 ** rng.normal(0, 0.12), 0.4, 4.0))
        n = rng.uniform(3.0, 5.5)
        e1, e2 = _e1e2(rng, 0.55, 0.95)
        x, y = sky.placer.place(1.5 * R + 1.0)
        sky.add(_row(object_type="elliptical", x_pix=x, y_pix=y, mag_r_true=mag, colour_g_r_true=float(g_r),
                     colour_r_i_true=float(r_i), colour_u_g_true=float(u_g), z_true=float(z),
                     R_sersic=R, n_sersic=n, light_e1=float(e1), light_e2=float(e2)),
                [Component("sersic", x, y, sky.counts_of(mag), _sersic_half_size(R, n),
                           dict(R_sersic=R, n_sersic=n, e1=float(e1), e2=float(e2)))])


def _draw_rings(sky: _TileObjects, count: int) -> None:
    """Ring galaxies: a bulge and a knotty Gaussian ring."""
    rng = sky.rng
    for _ in range(count):
        mag = rng.uniform(17.5, 21.0)
        R_ring = rng.uniform(1.5, 4.0)
        x, y = sky.placer.place(R_ring + 1.5)
        f_ring = rng.uniform(0.25, 0.5)
        R_b = rng.uniform(0.3, 0.8)
        n_b = rng.uniform(2.0, 4.0)
        e1, e2 = _e1e2(rng, 0.6, 1.0)
        g_r = rng.normal(0.75, 0.15)
        r_i = 0.3 * g_r + 0.15 + rng.normal(0, 0.06)
        flux = sky.counts_of(mag)
        sky.add(_row(object_type="ring", x_pix=x, y_pix=y, mag_r_true=mag, colour_g_r_true=g_r,
                     colour_r_i_true=r_i, colour_u_g_true=1.4 + rng.normal(0, 0.2), z_true=rng.uniform(0.05, 0.4),
                     R_sersic=R_b, n_sersic=n_b, light_e1=float(e1), light_e2=float(e2)),
                [Component("sersic", x, y, flux * (1 - f_ring), _sersic_half_size(R_b, n_b),
                           dict(R_sersic=R_b, n_sersic=n_b, e1=float(e1), e2=float(e2))),
                 Component("ring", x, y, flux * f_ring, R_ring + 2.0,
                           dict(R_ring=R_ring, width=rng.uniform(0.2, 0.5), e1=float(e1), e2=float(e2),
                                n_knots=int(rng.integers(3, 8)), knot_amp=rng.uniform(0.3, 0.9),
                                knot_phase=rng.uniform(0, 2 * np.pi)))])


def _draw_mergers(sky: _TileObjects, count: int) -> None:
    """Merging pairs; the brighter member carries a tidal tail."""
    rng = sky.rng
    for k in range(count):
        mag_pair = rng.uniform(17.5, 21.5)
        sep = rng.uniform(0.8, 3.0)
        x, y = sky.placer.place(sep + 2.5)
        ang = rng.uniform(0, 2 * np.pi)
        ratio = rng.uniform(0.3, 1.0)  # flux of the second over the first
        f_tail = rng.uniform(0.08, 0.2)
        total = sky.counts_of(mag_pair)
        f1 = total * (1 - f_tail) / (1 + ratio)
        f2 = f1 * ratio
        g_r = rng.normal(0.9, 0.25)
        r_i = 0.3 * g_r + 0.15 + rng.normal(0, 0.06)
        z = rng.uniform(0.05, 0.6)
        group = 1000 + k
        members = [(x, y, f1 + total * f_tail), (x + sep / sky.pixel_scale_arcsec * np.cos(ang),
                                                     y + sep / sky.pixel_scale_arcsec * np.sin(ang), f2)]
        for i, (mx, my, mflux) in enumerate(members):
            R = rng.uniform(0.4, 1.2)
            n = rng.uniform(1.0, 4.0)
            e1, e2 = _e1e2(rng, 0.4, 0.95)
            comps_i = [Component("sersic", mx, my, f1 if i == 0 else f2, _sersic_half_size(R, n),
                                 dict(R_sersic=R, n_sersic=n, e1=float(e1), e2=float(e2)))]
            if i == 0:
                R_tail = rng.uniform(2.0, 5.0)
                comps_i.append(Component("tail", mx, my, total * f_tail, 2 * R_tail + 1.5,
                                         dict(R_arc=R_tail, direction=ang + np.pi + rng.normal(0, 0.6),
                                              span=rng.uniform(1.0, 2.4), width=rng.uniform(0.3, 0.6),
                                              handedness=float(rng.choice([-1.0, 1.0])))))
            sky.add(_row(object_type="merger", x_pix=mx, y_pix=my, group_id=group,
                         mag_r_true=-2.5 * np.log10(mflux) + sky.zeropoint_mag,
                         colour_g_r_true=g_r + rng.normal(0, 0.05), colour_r_i_true=r_i + rng.normal(0, 0.03),
                         colour_u_g_true=1.5 + rng.normal(0, 0.2), z_true=z, R_sersic=R, n_sersic=n,
                         light_e1=float(e1), light_e2=float(e2)), comps_i)


def _draw_edge_on(sky: _TileObjects, count: int) -> None:
    """Edge-on disks with a small bulge."""
    rng = sky.rng
    for _ in range(count):
        mag = rng.uniform(18.0, 22.5)
        R = float(np.clip(1.6 * 10 ** (-0.12 * (mag - 19.5)) * 10 ** rng.normal(0, 0.1), 0.6, 4.0))
        x, y = sky.placer.place(R + 0.5)
        e1, e2 = _e1e2(rng, 0.1, 0.22)
        be1, be2 = _e1e2(rng, 0.7, 0.9)
        f_b = rng.uniform(0.0, 0.2)
        g_r = rng.normal(0.85, 0.15)
        flux = sky.counts_of(mag)
        sky.add(_row(object_type="edge_on", x_pix=x, y_pix=y, mag_r_true=mag, colour_g_r_true=g_r,
                     colour_r_i_true=0.3 * g_r + 0.15 + rng.normal(0, 0.06), colour_u_g_true=1.4 + rng.normal(0, 0.2),
                     z_true=float(np.clip(0.05 + 0.1 * (mag - 17.5) + rng.normal(0, 0.05), 0.03, 1.2)),
                     R_sersic=R, n_sersic=1.0, light_e1=float(e1), light_e2=float(e2)),
                [Component("sersic", x, y, flux * (1 - f_b), _sersic_half_size(R, 1.0),
                           dict(R_sersic=R, n_sersic=1.0, e1=float(e1), e2=float(e2))),
                 Component("sersic", x, y, flux * f_b, _sersic_half_size(0.3 * R, 3.0),
                           dict(R_sersic=0.3 * R, n_sersic=3.0, e1=float(be1), e2=float(be2)))])


def _draw_spirals(sky: _TileObjects, count: int) -> None:
    """Spirals: bulge and exponential disk with two arms."""
    rng = sky.rng
    mags = _mag_powerlaw(rng, 18.0, 23.5, 0.25, count)
    for mag in mags:
        R = float(np.clip(1.5 * 10 ** (-0.12 * (mag - 19.0)) * 10 ** rng.normal(0, 0.12), 0.3, 5.0))
        x, y = sky.placer.place(R)
        cos_i = rng.uniform(0.35, 1.0)
        phi = rng.uniform(0, np.pi)
        e1, e2 = lensing.phi_q_to_e1e2(phi, cos_i)
        f_b = rng.uniform(0.05, 0.4)
        g_r, r_i, u_g = _blue_colours(1, rng)
        flux = sky.counts_of(mag)
        sky.add(_row(object_type="spiral", x_pix=x, y_pix=y, mag_r_true=mag, colour_g_r_true=float(g_r[0]),
                     colour_r_i_true=float(r_i[0]), colour_u_g_true=float(u_g[0]),
                     z_true=float(np.clip(0.05 + 0.12 * (mag - 17.5) + rng.normal(0, 0.06), 0.02, 1.3)),
                     R_sersic=R, n_sersic=1.0, light_e1=float(e1), light_e2=float(e2)),
                [Component("spiral", x, y, flux * (1 - f_b), _sersic_half_size(R, 1.0),
                           dict(R_sersic=R, e1=float(e1), e2=float(e2), arm_amp=rng.uniform(0.3, 0.8),
                                pitch=np.radians(rng.uniform(12, 30)), arm_phase=rng.uniform(0, 2 * np.pi),
                                handedness=float(rng.choice([-1.0, 1.0])))),
                 Component("sersic", x, y, flux * f_b, _sersic_half_size(0.2 * R, 3.0),
                           dict(R_sersic=max(0.2 * R, 0.1), n_sersic=3.0, e1=float(e1) * 0.3, e2=float(e2) * 0.3))])


def _draw_faint(sky: _TileObjects, count: int) -> None:
    """Faint small background galaxies (r 22-25.5)."""
    rng = sky.rng
    mags = _mag_powerlaw(rng, 22.0, 25.5, 0.3, count)
    for mag in mags:
        R = float(np.clip(0.5 * 10 ** (-0.1 * (mag - 23.0)) * 10 ** rng.normal(0, 0.12), 0.12, 1.2))
        n = rng.uniform(0.7, 2.5)
        e1, e2 = _e1e2(rng, 0.3, 1.0)
        x, y = sky.placer.place(0.0)
        g_r, r_i, u_g = _blue_colours(1, rng, 0.7, 0.3)
        sky.add(_row(object_type="faint", x_pix=x, y_pix=y, mag_r_true=mag, colour_g_r_true=float(g_r[0]),
                     colour_r_i_true=float(r_i[0]), colour_u_g_true=float(u_g[0]), z_true=rng.uniform(0.3, 1.5),
                     R_sersic=R, n_sersic=n, light_e1=float(e1), light_e2=float(e2)),
                [Component("sersic", x, y, sky.counts_of(mag), _sersic_half_size(R, n),
                           dict(R_sersic=R, n_sersic=n, e1=float(e1), e2=float(e2)))])


def _draw_stars(sky: _TileObjects, count: int) -> None:
    """The other stars (r 16-23.5)."""
    rng = sky.rng
    mags = _mag_powerlaw(rng, 16.0, 23.5, 0.12, count)
    g_r, r_i, u_g = _star_colours(count, rng)
    for i, mag in enumerate(mags):
        x, y = sky.placer.place(0.0)
        sky.add(_row(object_type="star", x_pix=x, y_pix=y, mag_r_true=mag, colour_g_r_true=float(g_r[i]),
                     colour_r_i_true=float(r_i[i]), colour_u_g_true=float(u_g[i]), z_true=0.0))
