"""The mock survey's confusers: what a lens search meets that is not a lens.

Drawn after the other objects (so that they leave the rest of a tile as it
was): satellites and chance companions of the ellipticals, 0.5-5" from them
and 1-6 magnitudes fainter, red or blue, compact to extended
(:func:`draw_satellites`); clumpy irregular star-forming galaxies, an
exponential disk with most of its light in knots placed as GalSim's
``RandomKnots`` places them (:func:`draw_irregulars`). The simulations'
confusers (``lensfinder.simulation.confusers``) follow the same recipes;
``docs/simulation.md`` gives their sources.
"""

from __future__ import annotations

import numpy as np

from lensfinder.simulation.lensing import phi_q_to_e1e2
from lensfinder.surveys.mock.population import TileObjects, blue_colours, lrg_colours, random_e1e2, truth_row
from lensfinder.surveys.mock.render import Component

__all__ = ["draw_satellites", "draw_irregulars"]

#: Group ids of satellite systems start here (mergers use 1000 + k).
SATELLITE_GROUP_BASE = 100_000


def draw_satellites(sky: TileObjects, fraction: float) -> None:
    """Give ``fraction`` of the ellipticals 1-3 satellites (object type ``satellite``, ``group_id`` shared
    with their central). Positions are not reserved: satellites overlap what is there, as on the sky."""
    rng = sky.rng
    centrals = [i for i, r in enumerate(sky.rows) if r["object_type"] == "elliptical"]
    chosen = [i for i in centrals if rng.uniform() < fraction]
    for k, i in enumerate(chosen):
        central = sky.rows[i]
        central["group_id"] = SATELLITE_GROUP_BASE + k
        for _ in range(int(rng.integers(1, 4))):
            r, t = rng.uniform(0.5, 5.0), rng.uniform(0, 2 * np.pi)
            x = central["x_pix"] + r * np.cos(t) / sky.pixel_scale_arcsec
            y = central["y_pix"] + r * np.sin(t) / sky.pixel_scale_arcsec
            mag = central["mag_r_true"] + rng.uniform(1.0, 6.0)
            R, n = rng.uniform(0.1, 1.0), rng.uniform(0.5, 4.0)
            e1, e2 = random_e1e2(rng, 0.4, 1.0)
            if rng.uniform() < 0.5:  # blue: star-forming
                g_r, r_i, u_g = (float(v[0]) for v in blue_colours(1, rng))
                z = central["z_true"]
            else:
                g_r, r_i, u_g, z = (float(v) for v in lrg_colours(mag, rng))
            sky.add(truth_row(object_type="satellite", group_id=SATELLITE_GROUP_BASE + k, x_pix=x, y_pix=y,
                              mag_r_true=mag, colour_g_r_true=g_r, colour_r_i_true=r_i, colour_u_g_true=u_g,
                              z_true=central["z_true"] if np.isfinite(central["z_true"]) else z, R_sersic=R,
                              n_sersic=n, light_e1=float(e1), light_e2=float(e2)),
                    [Component("sersic", x, y, sky.counts_of(mag), float(np.clip(R * (4.0 + 2.5 * n), 1.5, 12.0)),
                               dict(R_sersic=R, n_sersic=n, e1=float(e1), e2=float(e2)))])


def draw_irregulars(sky: TileObjects, count: int) -> None:
    """``count`` clumpy irregular galaxies (object type ``irregular``, r 18-22.5): an exponential disk
    of half-light radius 0.6-2.5" holding 10-40% of the light, the rest in 15-60 knots drawn from a
    Gaussian of the same half-light radius and shape (GalSim's ``RandomKnots``)."""
    rng = sky.rng
    for _ in range(count):
        mag = rng.uniform(18.0, 22.5)
        R = rng.uniform(0.6, 2.5)
        x, y = sky.placer.place(R + 0.5)
        q, phi = rng.uniform(0.4, 1.0), rng.uniform(0, np.pi)
        e1, e2 = phi_q_to_e1e2(phi, q)
        f_knots = rng.uniform(0.6, 0.9)
        n_knots = int(rng.integers(15, 61))
        sigma = R / np.sqrt(2 * np.log(2))
        u, v = rng.standard_normal((2, n_knots)) * sigma
        u, v = u / np.sqrt(q), v * np.sqrt(q)
        dx, dy = u * np.cos(phi) - v * np.sin(phi), u * np.sin(phi) + v * np.cos(phi)
        g_r, r_i, u_g = (float(c[0]) for c in blue_colours(1, rng, 0.4, 0.12))
        flux = sky.counts_of(mag)
        sky.add(truth_row(object_type="irregular", x_pix=x, y_pix=y, mag_r_true=mag, colour_g_r_true=g_r,
                          colour_r_i_true=r_i, colour_u_g_true=u_g, z_true=rng.uniform(0.05, 0.6), R_sersic=R,
                          n_sersic=1.0, light_e1=float(e1), light_e2=float(e2)),
                [Component("sersic", x, y, flux * (1 - f_knots), float(np.clip(R * 6.5, 1.5, 20.0)),
                           dict(R_sersic=R, n_sersic=1.0, e1=float(e1), e2=float(e2))),
                 Component("knots", x, y, flux * f_knots, float(np.abs(np.r_[dx, dy]).max() + 1.0),
                           dict(dx=dx.tolist(), dy=dy.tolist()))])
