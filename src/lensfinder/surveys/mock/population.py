"""Shared pieces of the mock survey's objects: colours, shapes, magnitudes, positions, truth rows.

Used by :mod:`lensfinder.surveys.mock.galaxies` (the tile's populations) and
:mod:`lensfinder.surveys.mock.confusers`; all randomness comes from the
generator passed in.
"""

from __future__ import annotations

import numpy as np

from lensfinder.simulation import lensing
from lensfinder.surveys.mock.render import Component

__all__ = ["MAX_HALF_SIZE_ARCSEC", "lrg_colours", "blue_colours", "star_colours", "random_e1e2", "mag_powerlaw",
           "Placer", "sersic_half_size", "truth_row", "TileObjects"]

#: Largest half-size of a rendered component, arcsec.
MAX_HALF_SIZE_ARCSEC = 32.0


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


def blue_colours(n, rng, g_r_mean=0.55, g_r_sigma=0.15):
    """g-r, r-i, u-g of ``n`` blue (star-forming) galaxies."""
    g_r = rng.normal(g_r_mean, g_r_sigma, n)
    r_i = 0.3 * g_r + 0.12 + rng.normal(0, 0.08, n)
    u_g = 0.5 + 0.9 * g_r + rng.normal(0, 0.2, n)
    return g_r, r_i, u_g


def star_colours(n, rng):
    """g-r, r-i, u-g of ``n`` stars."""
    # a rough stellar locus: r-i flat for F-K stars, rising for M dwarfs
    g_r = rng.uniform(0.25, 1.5, n)
    r_i = np.where(g_r < 1.1, 0.35 * (g_r - 0.25), 0.3 + 1.6 * (g_r - 1.1)) + rng.normal(0, 0.04, n)
    u_g = 0.7 + 1.3 * g_r + rng.normal(0, 0.1, n)
    return g_r, r_i, u_g


def random_e1e2(rng, q_low, q_high, n=None):
    """e1, e2 of axis ratios uniform in [q_low, q_high) at random position angles."""
    q = rng.uniform(q_low, q_high, n)
    phi = rng.uniform(0.0, np.pi, n)
    e1, e2 = lensing.phi_q_to_e1e2(phi, q)
    return e1, e2


def mag_powerlaw(rng, lo, hi, slope, n):
    """Magnitudes in [lo, hi] with counts rising as 10**(slope m)."""
    a = 10 ** (slope * lo)
    b = 10 ** (slope * hi)
    return np.log10(a + (b - a) * rng.uniform(size=n)) / slope


class Placer:
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


def sersic_half_size(R_sersic, n_sersic):
    """Half-size (arcsec) of the box a Sersic component is rendered in."""
    return float(np.clip(R_sersic * (4.0 + 2.5 * n_sersic), 1.5, MAX_HALF_SIZE_ARCSEC))


def truth_row(**kw) -> dict:
    """One truth row: every column, NaN or empty unless given in ``kw``."""
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


class TileObjects:
    """The objects drawn so far: truth rows, light components and the row each component belongs to."""

    def __init__(self, size_pix: int, pixel_scale_arcsec: float, zeropoint_mag: float, rng: np.random.Generator):
        self.rng = rng
        self.pixel_scale_arcsec = pixel_scale_arcsec
        self.zeropoint_mag = zeropoint_mag
        self.placer = Placer(size_pix, pixel_scale_arcsec, rng)
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
