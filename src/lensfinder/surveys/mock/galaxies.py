"""The mock survey's objects: galaxies, stars and lens systems of one tile, drawn at random.

:func:`draw_tile_objects` draws each kind in turn (lenses, bright stars,
ellipticals, rings, mergers, edge-on disks, spirals, faint galaxies, stars)
and returns their truth rows and light components, which
:mod:`lensfinder.surveys.mock.render` paints. The object types are described
in ``docs/surveys.md``; the confusers a lens finder meets (satellites of
ellipticals, clumpy irregulars) come from :mod:`lensfinder.surveys.mock.confusers`. All randomness comes from the generator passed in.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from lensfinder.simulation import lensing
from lensfinder.surveys.mock.confusers import draw_irregulars, draw_satellites
from lensfinder.surveys.mock.population import (
    TileObjects,
    blue_colours,
    lrg_colours,
    mag_powerlaw,
    random_e1e2,
    sersic_half_size,
    star_colours,
    truth_row,
)
from lensfinder.surveys.mock.render import Component

__all__ = ["PopulationCounts", "draw_tile_objects", "lrg_colours"]

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
    #: clumpy irregulars (None: a third of the spirals) and the fraction of ellipticals with satellites
    irregular: int | None = None
    satellite_fraction: float = 0.4


# --------------------------------------------------------------------------- drawing

def draw_tile_objects(counts: PopulationCounts, size_pix: int, pixel_scale_arcsec: float,
                      zeropoint_mag: float, rng: np.random.Generator,
                      theta_E_range=(1.2, 3.0)) -> tuple[pd.DataFrame, list[Component], list[int]]:
    """Draw one tile's objects (the confusers last: satellites of ellipticals, clumpy irregulars).

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
    sky = TileObjects(size_pix, pixel_scale_arcsec, zeropoint_mag, rng)
    _draw_lenses(sky, counts.lenses, theta_E_range)  # first: isolated, so their stamps are clean
    _draw_bright_stars(sky, counts.bright_stars)
    _draw_ellipticals(sky, counts.elliptical)
    _draw_rings(sky, counts.ring)
    _draw_mergers(sky, counts.merger_pairs)
    _draw_edge_on(sky, counts.edge_on)
    _draw_spirals(sky, counts.spiral)
    _draw_faint(sky, counts.faint)
    _draw_stars(sky, counts.stars)
    draw_satellites(sky, counts.satellite_fraction)
    draw_irregulars(sky, counts.irregular if counts.irregular is not None else int(round(counts.spiral / 3)))
    # no objects at all: the columns still, with the dtypes a row gives them
    truth = pd.DataFrame(sky.rows) if sky.rows else pd.DataFrame([truth_row()]).iloc[:0]
    if "source_colour_g_r_true" not in truth:
        truth["source_colour_g_r_true"] = np.nan
        truth["source_colour_r_i_true"] = np.nan
    truth.insert(0, "truth_id", np.arange(len(truth), dtype=np.int64))
    truth["is_lens"] = truth["is_lens"].astype(bool)
    return truth, sky.comps, sky.owner


def _draw_lenses(sky: TileObjects, count: int, theta_E_range) -> None:
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
        src["e1"], src["e2"] = random_e1e2(rng, 0.5, 1.0)
        mag_src = rng.uniform(21.0, 22.5)
        sg_r, sr_i, _ = blue_colours(1, rng, 0.35, 0.1)
        z_s = rng.uniform(0.9, 2.5)
        row = truth_row(object_type="lens", is_lens=True, x_pix=x, y_pix=y, mag_r_true=mag,
                   colour_g_r_true=float(g_r), colour_r_i_true=float(r_i), colour_u_g_true=float(u_g),
                   z_true=float(z), R_sersic=R, n_sersic=n, light_e1=float(le1), light_e2=float(le2),
                   theta_E=theta_E, e1=float(e1), e2=float(e2), gamma1=float(g1), gamma2=float(g2),
                   source_R_sersic=src["R_sersic"], source_n_sersic=src["n_sersic"],
                   source_e1=float(src["e1"]), source_e2=float(src["e2"]),
                   source_center_x=float(src["center_x"]), source_center_y=float(src["center_y"]),
                   mag_source=mag_src, z_source=z_s,
                   source_colour_g_r_true=float(sg_r[0]), source_colour_r_i_true=float(sr_i[0]))
        light = Component("sersic", x, y, sky.counts_of(mag), sersic_half_size(R, n),
                          dict(R_sersic=R, n_sersic=n, e1=float(le1), e2=float(le2)))
        lensed = Component("lensed", x, y, sky.counts_of(mag_src), theta_E + 4.0,
                           dict(theta_E=theta_E, e1=float(e1), e2=float(e2), gamma1=float(g1),
                                gamma2=float(g2), source=src))
        sky.add(row, [light, lensed])


def _draw_bright_stars(sky: TileObjects, count: int) -> None:
    """Bright stars (r 13.5-16; their haloes are masked)."""
    rng = sky.rng
    for _ in range(count):
        mag = rng.uniform(13.5, 16.0)
        x, y = sky.placer.place(8.0)
        g_r, r_i, u_g = star_colours(1, rng)
        sky.add(truth_row(object_type="star", x_pix=x, y_pix=y, mag_r_true=mag, colour_g_r_true=float(g_r[0]),
                     colour_r_i_true=float(r_i[0]), colour_u_g_true=float(u_g[0]), z_true=0.0))


def _draw_ellipticals(sky: TileObjects, count: int) -> None:
    """Red ellipticals on the LRG colour locus."""
    rng = sky.rng
    mags = rng.uniform(16.8, 21.0, count)
    for mag in mags:
        g_r, r_i, u_g, z = lrg_colours(mag, rng)
        R = float(np.clip(1.3 * 10 ** (-0.12 * (mag - 18.5)) * 10 ** rng.normal(0, 0.12), 0.4, 4.0))
        n = rng.uniform(3.0, 5.5)
        e1, e2 = random_e1e2(rng, 0.55, 0.95)
        x, y = sky.placer.place(1.5 * R + 1.0)
        sky.add(truth_row(object_type="elliptical", x_pix=x, y_pix=y, mag_r_true=mag, colour_g_r_true=float(g_r),
                     colour_r_i_true=float(r_i), colour_u_g_true=float(u_g), z_true=float(z),
                     R_sersic=R, n_sersic=n, light_e1=float(e1), light_e2=float(e2)),
                [Component("sersic", x, y, sky.counts_of(mag), sersic_half_size(R, n),
                           dict(R_sersic=R, n_sersic=n, e1=float(e1), e2=float(e2)))])


def _draw_rings(sky: TileObjects, count: int) -> None:
    """Ring galaxies: a bulge and a knotty Gaussian ring."""
    rng = sky.rng
    for _ in range(count):
        mag = rng.uniform(17.5, 21.0)
        R_ring = rng.uniform(1.5, 4.0)
        x, y = sky.placer.place(R_ring + 1.5)
        f_ring = rng.uniform(0.25, 0.5)
        R_b = rng.uniform(0.3, 0.8)
        n_b = rng.uniform(2.0, 4.0)
        e1, e2 = random_e1e2(rng, 0.6, 1.0)
        g_r = rng.normal(0.75, 0.15)
        r_i = 0.3 * g_r + 0.15 + rng.normal(0, 0.06)
        flux = sky.counts_of(mag)
        sky.add(truth_row(object_type="ring", x_pix=x, y_pix=y, mag_r_true=mag, colour_g_r_true=g_r,
                     colour_r_i_true=r_i, colour_u_g_true=1.4 + rng.normal(0, 0.2), z_true=rng.uniform(0.05, 0.4),
                     R_sersic=R_b, n_sersic=n_b, light_e1=float(e1), light_e2=float(e2)),
                [Component("sersic", x, y, flux * (1 - f_ring), sersic_half_size(R_b, n_b),
                           dict(R_sersic=R_b, n_sersic=n_b, e1=float(e1), e2=float(e2))),
                 Component("ring", x, y, flux * f_ring, R_ring + 2.0,
                           dict(R_ring=R_ring, width=rng.uniform(0.2, 0.5), e1=float(e1), e2=float(e2),
                                n_knots=int(rng.integers(3, 8)), knot_amp=rng.uniform(0.3, 0.9),
                                knot_phase=rng.uniform(0, 2 * np.pi)))])


def _draw_mergers(sky: TileObjects, count: int) -> None:
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
            e1, e2 = random_e1e2(rng, 0.4, 0.95)
            comps_i = [Component("sersic", mx, my, f1 if i == 0 else f2, sersic_half_size(R, n),
                                 dict(R_sersic=R, n_sersic=n, e1=float(e1), e2=float(e2)))]
            if i == 0:
                R_tail = rng.uniform(2.0, 5.0)
                comps_i.append(Component("tail", mx, my, total * f_tail, 2 * R_tail + 1.5,
                                         dict(R_arc=R_tail, direction=ang + np.pi + rng.normal(0, 0.6),
                                              span=rng.uniform(1.0, 2.4), width=rng.uniform(0.3, 0.6),
                                              handedness=float(rng.choice([-1.0, 1.0])))))
            sky.add(truth_row(object_type="merger", x_pix=mx, y_pix=my, group_id=group,
                         mag_r_true=-2.5 * np.log10(mflux) + sky.zeropoint_mag,
                         colour_g_r_true=g_r + rng.normal(0, 0.05), colour_r_i_true=r_i + rng.normal(0, 0.03),
                         colour_u_g_true=1.5 + rng.normal(0, 0.2), z_true=z, R_sersic=R, n_sersic=n,
                         light_e1=float(e1), light_e2=float(e2)), comps_i)


def _draw_edge_on(sky: TileObjects, count: int) -> None:
    """Edge-on disks with a small bulge."""
    rng = sky.rng
    for _ in range(count):
        mag = rng.uniform(18.0, 22.5)
        R = float(np.clip(1.6 * 10 ** (-0.12 * (mag - 19.5)) * 10 ** rng.normal(0, 0.1), 0.6, 4.0))
        x, y = sky.placer.place(R + 0.5)
        e1, e2 = random_e1e2(rng, 0.1, 0.22)
        be1, be2 = random_e1e2(rng, 0.7, 0.9)
        f_b = rng.uniform(0.0, 0.2)
        g_r = rng.normal(0.85, 0.15)
        flux = sky.counts_of(mag)
        sky.add(truth_row(object_type="edge_on", x_pix=x, y_pix=y, mag_r_true=mag, colour_g_r_true=g_r,
                     colour_r_i_true=0.3 * g_r + 0.15 + rng.normal(0, 0.06), colour_u_g_true=1.4 + rng.normal(0, 0.2),
                     z_true=float(np.clip(0.05 + 0.1 * (mag - 17.5) + rng.normal(0, 0.05), 0.03, 1.2)),
                     R_sersic=R, n_sersic=1.0, light_e1=float(e1), light_e2=float(e2)),
                [Component("sersic", x, y, flux * (1 - f_b), sersic_half_size(R, 1.0),
                           dict(R_sersic=R, n_sersic=1.0, e1=float(e1), e2=float(e2))),
                 Component("sersic", x, y, flux * f_b, sersic_half_size(0.3 * R, 3.0),
                           dict(R_sersic=0.3 * R, n_sersic=3.0, e1=float(be1), e2=float(be2)))])


def _draw_spirals(sky: TileObjects, count: int) -> None:
    """Spirals: bulge and exponential disk with two arms."""
    rng = sky.rng
    mags = mag_powerlaw(rng, 18.0, 23.5, 0.25, count)
    for mag in mags:
        R = float(np.clip(1.5 * 10 ** (-0.12 * (mag - 19.0)) * 10 ** rng.normal(0, 0.12), 0.3, 5.0))
        x, y = sky.placer.place(R)
        cos_i = rng.uniform(0.35, 1.0)
        phi = rng.uniform(0, np.pi)
        e1, e2 = lensing.phi_q_to_e1e2(phi, cos_i)
        f_b = rng.uniform(0.05, 0.4)
        g_r, r_i, u_g = blue_colours(1, rng)
        flux = sky.counts_of(mag)
        sky.add(truth_row(object_type="spiral", x_pix=x, y_pix=y, mag_r_true=mag, colour_g_r_true=float(g_r[0]),
                     colour_r_i_true=float(r_i[0]), colour_u_g_true=float(u_g[0]),
                     z_true=float(np.clip(0.05 + 0.12 * (mag - 17.5) + rng.normal(0, 0.06), 0.02, 1.3)),
                     R_sersic=R, n_sersic=1.0, light_e1=float(e1), light_e2=float(e2)),
                [Component("spiral", x, y, flux * (1 - f_b), sersic_half_size(R, 1.0),
                           dict(R_sersic=R, e1=float(e1), e2=float(e2), arm_amp=rng.uniform(0.3, 0.8),
                                pitch=np.radians(rng.uniform(12, 30)), arm_phase=rng.uniform(0, 2 * np.pi),
                                handedness=float(rng.choice([-1.0, 1.0])))),
                 Component("sersic", x, y, flux * f_b, sersic_half_size(0.2 * R, 3.0),
                           dict(R_sersic=max(0.2 * R, 0.1), n_sersic=3.0, e1=float(e1) * 0.3, e2=float(e2) * 0.3))])


def _draw_faint(sky: TileObjects, count: int) -> None:
    """Faint small background galaxies (r 22-25.5)."""
    rng = sky.rng
    mags = mag_powerlaw(rng, 22.0, 25.5, 0.3, count)
    for mag in mags:
        R = float(np.clip(0.5 * 10 ** (-0.1 * (mag - 23.0)) * 10 ** rng.normal(0, 0.12), 0.12, 1.2))
        n = rng.uniform(0.7, 2.5)
        e1, e2 = random_e1e2(rng, 0.3, 1.0)
        x, y = sky.placer.place(0.0)
        g_r, r_i, u_g = blue_colours(1, rng, 0.7, 0.3)
        sky.add(truth_row(object_type="faint", x_pix=x, y_pix=y, mag_r_true=mag, colour_g_r_true=float(g_r[0]),
                     colour_r_i_true=float(r_i[0]), colour_u_g_true=float(u_g[0]), z_true=rng.uniform(0.3, 1.5),
                     R_sersic=R, n_sersic=n, light_e1=float(e1), light_e2=float(e2)),
                [Component("sersic", x, y, sky.counts_of(mag), sersic_half_size(R, n),
                           dict(R_sersic=R, n_sersic=n, e1=float(e1), e2=float(e2)))])


def _draw_stars(sky: TileObjects, count: int) -> None:
    """The other stars (r 16-23.5)."""
    rng = sky.rng
    mags = mag_powerlaw(rng, 16.0, 23.5, 0.12, count)
    g_r, r_i, u_g = star_colours(count, rng)
    for i, mag in enumerate(mags):
        x, y = sky.placer.place(0.0)
        sky.add(truth_row(object_type="star", x_pix=x, y_pix=y, mag_r_true=mag, colour_g_r_true=float(g_r[i]),
                     colour_r_i_true=float(r_i[i]), colour_u_g_true=float(u_g[i]), z_true=0.0))
