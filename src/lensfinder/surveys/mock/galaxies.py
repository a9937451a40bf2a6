"""The mock survey's sky: a population of galaxies, stars and lens systems, and its light.

:func:`draw_population` draws the objects of one tile (their truth) and the
light components that make them; :func:`render_components` paints those
components, before the PSF, onto a tile; :func:`render_stars` adds the stars
through the PSF. The tile itself (PSF, noise, weight, mask, catalogue) is
assembled in :mod:`lensfinder.surveys.mock.tiles`.

Object types (``object_type`` in the truth table)
-------------------------------------------------
``elliptical``
    red early-type galaxy (Sersic n 3-5.5); its g-r, r-i lie on the Li et al.
    (2020) LRG colour locus so that most of those with r <= 20 pass the LRG
    cut (eq. 1; see :func:`lrg_colours`).
``lens``
    an LRG-like elliptical with an SIE + external shear mass
    (:func:`lensfinder.simulation.lensing.sie_deflection`, ``shear_deflection``) lensing
    a blue Sersic source into arcs or a ring; ``theta_E`` 1.2"-3".
``spiral``
    bulge + exponential disk with two logarithmic spiral arms.
``edge_on``
    thin (q 0.1-0.22) exponential disk with a small bulge.
``merger``
    each member of a close pair (0.8"-3" apart, same ``group_id``); the
    brighter one carries a curved tidal tail.
``ring``
    bulge with a knotty Gaussian ring (1.5"-4" radius): a classic lens
    impostor.
``faint``
    small faint background galaxy (r 22-25.5).
``star``
    Moffat PSF (rendered in :mod:`lensfinder.surveys.mock.tiles`'s PSF).

Coordinates: tile pixels ``(x_pix, y_pix)``, 0-based, ``x`` the column; light
parameters in lenstronomy's names (``R_sersic`` arcsec, ``n_sersic``,
``e1``, ``e2``). All randomness comes from the generator passed in.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from lensfinder.simulation import lensing
from lensfinder.progress import progress

__all__ = [
    "Component",
    "PopulationCounts",
    "draw_population",
    "render_components",
    "render_stars",
    "lrg_colours",
    "moffat_alpha_arcsec",
]

#: Oversampling of the pre-PSF light per pixel axis (lensed arcs: 4).
OVERSAMPLE = 3
OVERSAMPLE_LENSED = 4
#: Largest half-size of a rendered component, arcsec.
MAX_HALF_SIZE_ARCSEC = 32.0


@dataclasses.dataclass
class Component:
    """One light component, before the PSF.

    ``kind`` is ``sersic``, ``spiral``, ``ring``, ``tail`` or ``lensed``;
    ``x_pix, y_pix`` its centre on the tile; ``flux`` its total counts
    (``lensed``: the *unlensed* source counts); ``params`` the shape.
    """

    kind: str
    x_pix: float
    y_pix: float
    flux: float
    half_size_arcsec: float
    params: dict[str, Any]


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


def moffat_alpha_arcsec(fwhm_arcsec: float, beta: float) -> float:
    """Moffat core width ``alpha = FWHM / (2 sqrt(2^(1/beta) - 1))``, arcsec."""
    return fwhm_arcsec / (2.0 * np.sqrt(2.0 ** (1.0 / beta) - 1.0))


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


# --------------------------------------------------------------------------- population

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


def draw_population(counts: PopulationCounts, size_pix: int, pixel_scale_arcsec: float,
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
    rows: list[dict] = []
    comps: list[Component] = []
    owner: list[int] = []
    placer = _Placer(size_pix, pixel_scale_arcsec, rng)

    def counts_of(mag):
        return float(10.0 ** (-0.4 * (mag - zeropoint_mag)))

    def add(row, components=()):
        rows.append(row)
        for c in components:
            comps.append(c)
            owner.append(len(rows) - 1)

    # lenses first: isolated and away from the edges so their stamps are clean
    stamp_margin = 70.0
    for _ in range(counts.lenses):
        theta_E = rng.uniform(*theta_E_range)
        x, y = placer.place(theta_E + 5.0, margin_pix=stamp_margin)
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
        light = Component("sersic", x, y, counts_of(mag), _sersic_half_size(R, n),
                          dict(R_sersic=R, n_sersic=n, e1=float(le1), e2=float(le2)))
        lensed = Component("lensed", x, y, counts_of(mag_src), theta_E + 4.0,
                           dict(theta_E=theta_E, e1=float(e1), e2=float(e2), gamma1=float(g1),
                                gamma2=float(g2), source=src))
        add(row, [light, lensed])

    # bright stars (masked haloes)
    for _ in range(counts.bright_stars):
        mag = rng.uniform(13.5, 16.0)
        x, y = placer.place(8.0)
        g_r, r_i, u_g = _star_colours(1, rng)
        add(_row(object_type="star", x_pix=x, y_pix=y, mag_r_true=mag, colour_g_r_true=float(g_r[0]),
                 colour_r_i_true=float(r_i[0]), colour_u_g_true=float(u_g[0]), z_true=0.0))

    # red ellipticals, LRG-like
    mags = rng.uniform(16.8, 21.0, counts.elliptical)
    for mag in mags:
        g_r, r_i, u_g, z = lrg_colours(mag, rng)
        R = float(np.clip(1.3 * 10 ** (-0.12 * (mag - 18.5)) * 10 ** rng.normal(0, 0.12), 0.4, 4.0))
        n = rng.uniform(3.0, 5.5)
        e1, e2 = _e1e2(rng, 0.55, 0.95)
        x, y = placer.place(1.5 * R + 1.0)
        add(_row(object_type="elliptical", x_pix=x, y_pix=y, mag_r_true=mag, colour_g_r_true=float(g_r),
                 colour_r_i_true=float(r_i), colour_u_g_true=float(u_g), z_true=float(z),
                 R_sersic=R, n_sersic=n, light_e1=float(e1), light_e2=float(e2)),
            [Component("sersic", x, y, counts_of(mag), _sersic_half_size(R, n),
                       dict(R_sersic=R, n_sersic=n, e1=float(e1), e2=float(e2)))])

    # ring galaxies
    for _ in range(counts.ring):
        mag = rng.uniform(17.5, 21.0)
        R_ring = rng.uniform(1.5, 4.0)
        x, y = placer.place(R_ring + 1.5)
        f_ring = rng.uniform(0.25, 0.5)
        R_b = rng.uniform(0.3, 0.8)
        n_b = rng.uniform(2.0, 4.0)
        e1, e2 = _e1e2(rng, 0.6, 1.0)
        g_r = rng.normal(0.75, 0.15)
        r_i = 0.3 * g_r + 0.15 + rng.normal(0, 0.06)
        flux = counts_of(mag)
        add(_row(object_type="ring", x_pix=x, y_pix=y, mag_r_true=mag, colour_g_r_true=g_r,
                 colour_r_i_true=r_i, colour_u_g_true=1.4 + rng.normal(0, 0.2), z_true=rng.uniform(0.05, 0.4),
                 R_sersic=R_b, n_sersic=n_b, light_e1=float(e1), light_e2=float(e2)),
            [Component("sersic", x, y, flux * (1 - f_ring), _sersic_half_size(R_b, n_b),
                       dict(R_sersic=R_b, n_sersic=n_b, e1=float(e1), e2=float(e2))),
             Component("ring", x, y, flux * f_ring, R_ring + 2.0,
                       dict(R_ring=R_ring, width=rng.uniform(0.2, 0.5), e1=float(e1), e2=float(e2),
                            n_knots=int(rng.integers(3, 8)), knot_amp=rng.uniform(0.3, 0.9),
                            knot_phase=rng.uniform(0, 2 * np.pi)))])

    # merging pairs
    for k in range(counts.merger_pairs):
        mag_pair = rng.uniform(17.5, 21.5)
        sep = rng.uniform(0.8, 3.0)
        x, y = placer.place(sep + 2.5)
        ang = rng.uniform(0, 2 * np.pi)
        ratio = rng.uniform(0.3, 1.0)  # flux of the second over the first
        f_tail = rng.uniform(0.08, 0.2)
        total = counts_of(mag_pair)
        f1 = total * (1 - f_tail) / (1 + ratio)
        f2 = f1 * ratio
        g_r = rng.normal(0.9, 0.25)
        r_i = 0.3 * g_r + 0.15 + rng.normal(0, 0.06)
        z = rng.uniform(0.05, 0.6)
        group = 1000 + k
        members = [(x, y, f1 + total * f_tail), (x + sep / pixel_scale_arcsec * np.cos(ang),
                                                 y + sep / pixel_scale_arcsec * np.sin(ang), f2)]
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
            add(_row(object_type="merger", x_pix=mx, y_pix=my, group_id=group,
                     mag_r_true=-2.5 * np.log10(mflux) + zeropoint_mag,
                     colour_g_r_true=g_r + rng.normal(0, 0.05), colour_r_i_true=r_i + rng.normal(0, 0.03),
                     colour_u_g_true=1.5 + rng.normal(0, 0.2), z_true=z, R_sersic=R, n_sersic=n,
                     light_e1=float(e1), light_e2=float(e2)), comps_i)

    # edge-on disks
    for _ in range(counts.edge_on):
        mag = rng.uniform(18.0, 22.5)
        R = float(np.clip(1.6 * 10 ** (-0.12 * (mag - 19.5)) * 10 ** rng.normal(0, 0.1), 0.6, 4.0))
        x, y = placer.place(R + 0.5)
        e1, e2 = _e1e2(rng, 0.1, 0.22)
        be1, be2 = _e1e2(rng, 0.7, 0.9)
        f_b = rng.uniform(0.0, 0.2)
        g_r = rng.normal(0.85, 0.15)
        flux = counts_of(mag)
        add(_row(object_type="edge_on", x_pix=x, y_pix=y, mag_r_true=mag, colour_g_r_true=g_r,
                 colour_r_i_true=0.3 * g_r + 0.15 + rng.normal(0, 0.06), colour_u_g_true=1.4 + rng.normal(0, 0.2),
                 z_true=float(np.clip(0.05 + 0.1 * (mag - 17.5) + rng.normal(0, 0.05), 0.03, 1.2)),
                 R_sersic=R, n_sersic=1.0, light_e1=float(e1), light_e2=float(e2)),
            [Component("sersic", x, y, flux * (1 - f_b), _sersic_half_size(R, 1.0),
                       dict(R_sersic=R, n_sersic=1.0, e1=float(e1), e2=float(e2))),
             Component("sersic", x, y, flux * f_b, _sersic_half_size(0.3 * R, 3.0),
                       dict(R_sersic=0.3 * R, n_sersic=3.0, e1=float(be1), e2=float(be2)))])

    # spirals: bulge + disk with arms
    mags = _mag_powerlaw(rng, 18.0, 23.5, 0.25, counts.spiral)
    for mag in mags:
        R = float(np.clip(1.5 * 10 ** (-0.12 * (mag - 19.0)) * 10 ** rng.normal(0, 0.12), 0.3, 5.0))
        x, y = placer.place(R)
        cos_i = rng.uniform(0.35, 1.0)
        phi = rng.uniform(0, np.pi)
        e1, e2 = lensing.phi_q_to_e1e2(phi, cos_i)
        f_b = rng.uniform(0.05, 0.4)
        g_r, r_i, u_g = _blue_colours(1, rng)
        flux = counts_of(mag)
        add(_row(object_type="spiral", x_pix=x, y_pix=y, mag_r_true=mag, colour_g_r_true=float(g_r[0]),
                 colour_r_i_true=float(r_i[0]), colour_u_g_true=float(u_g[0]),
                 z_true=float(np.clip(0.05 + 0.12 * (mag - 17.5) + rng.normal(0, 0.06), 0.02, 1.3)),
                 R_sersic=R, n_sersic=1.0, light_e1=float(e1), light_e2=float(e2)),
            [Component("spiral", x, y, flux * (1 - f_b), _sersic_half_size(R, 1.0),
                       dict(R_sersic=R, e1=float(e1), e2=float(e2), arm_amp=rng.uniform(0.3, 0.8),
                            pitch=np.radians(rng.uniform(12, 30)), arm_phase=rng.uniform(0, 2 * np.pi),
                            handedness=float(rng.choice([-1.0, 1.0])))),
             Component("sersic", x, y, flux * f_b, _sersic_half_size(0.2 * R, 3.0),
                       dict(R_sersic=max(0.2 * R, 0.1), n_sersic=3.0, e1=float(e1) * 0.3, e2=float(e2) * 0.3))])

    # faint background galaxies
    mags = _mag_powerlaw(rng, 22.0, 25.5, 0.3, counts.faint)
    for mag in mags:
        R = float(np.clip(0.5 * 10 ** (-0.1 * (mag - 23.0)) * 10 ** rng.normal(0, 0.12), 0.12, 1.2))
        n = rng.uniform(0.7, 2.5)
        e1, e2 = _e1e2(rng, 0.3, 1.0)
        x, y = placer.place(0.0)
        g_r, r_i, u_g = _blue_colours(1, rng, 0.7, 0.3)
        add(_row(object_type="faint", x_pix=x, y_pix=y, mag_r_true=mag, colour_g_r_true=float(g_r[0]),
                 colour_r_i_true=float(r_i[0]), colour_u_g_true=float(u_g[0]), z_true=rng.uniform(0.3, 1.5),
                 R_sersic=R, n_sersic=n, light_e1=float(e1), light_e2=float(e2)),
            [Component("sersic", x, y, counts_of(mag), _sersic_half_size(R, n),
                       dict(R_sersic=R, n_sersic=n, e1=float(e1), e2=float(e2)))])

    # the other stars
    mags = _mag_powerlaw(rng, 16.0, 23.5, 0.12, counts.stars)
    g_r, r_i, u_g = _star_colours(counts.stars, rng)
    for i, mag in enumerate(mags):
        x, y = placer.place(0.0)
        add(_row(object_type="star", x_pix=x, y_pix=y, mag_r_true=mag, colour_g_r_true=float(g_r[i]),
                 colour_r_i_true=float(r_i[i]), colour_u_g_true=float(u_g[i]), z_true=0.0))

    truth = pd.DataFrame(rows)
    if "source_colour_g_r_true" not in truth:
        truth["source_colour_g_r_true"] = np.nan
        truth["source_colour_r_i_true"] = np.nan
    truth.insert(0, "truth_id", np.arange(len(truth), dtype=np.int64))
    truth["is_lens"] = truth["is_lens"].astype(bool)
    return truth, comps, owner


# --------------------------------------------------------------------------- rendering

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


def _disk_frame(x, y, e1, e2):
    """Deprojected radius and azimuth in the frame of an inclined disk (arcsec, radian)."""
    phi, q = lensing.e1e2_to_phi_q(e1, e2)
    c, s = np.float32(np.cos(phi)), np.float32(np.sin(phi))
    xp = c * x + s * y
    yp = (-s * x + c * y) / np.float32(q)
    return np.hypot(xp, yp), np.arctan2(yp, xp)


def _profile(comp: Component, x, y):
    p = comp.params
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
    ny, nx = image.shape
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
        ys0, xs0 = max(y0, 0), max(x0, 0)
        ys1, xs1 = min(y0 + n, ny), min(x0 + n, nx)
        if ys1 <= ys0 or xs1 <= xs0:
            continue
        image[ys0:ys1, xs0:xs1] += stamp[ys0 - y0:ys1 - y0, xs0 - x0:xs1 - x0]
    return rendered


def render_stars(image: np.ndarray, x_pix, y_pix, flux, fwhm_arcsec: float, beta: float,
                 pixel_scale_arcsec: float, oversample: int = OVERSAMPLE) -> None:
    """Add Moffat point sources (pixel-integrated by oversampling) to ``image`` in place.

    Bright stars get wide stamps so that their wings reach the mask radius.
    """
    ny, nx = image.shape
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
        ys0, xs0 = max(y0, 0), max(x0, 0)
        ys1, xs1 = min(y0 + n, ny), min(x0 + n, nx)
        if ys1 <= ys0 or xs1 <= xs0:
            continue
        image[ys0:ys1, xs0:xs1] += stamp[ys0 - y0:ys1 - y0, xs0 - x0:xs1 - x0]
