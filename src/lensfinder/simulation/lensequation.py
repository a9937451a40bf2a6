"""Images of a lensed point source (a quasar): the lens equation solved for SIE + external shear.

:func:`point_images` finds every image of a source position by the
triangle-mapping method (Schneider, Ehlers & Falco 1992, section 6.2; the
image-plane grid's triangles are mapped to the source plane and those that
contain the source hold an image), then refines each with Newton steps on
the float64 deflection of :mod:`lensfinder.simulation.lensing` and gives
its magnification ``1 / det A``. The tests compare it with lenstronomy's
``LensEquationSolver``.
"""

from __future__ import annotations

import numpy as np

from lensfinder.simulation.lensing import sie_coefficients, sie_deflection_core

__all__ = ["point_images"]


def _source_plane(x, y, lens):
    """beta = theta - alpha(theta); ``lens["sie"]``: the SIE's float64 coefficients."""
    ax, ay = sie_deflection_core(x, y, lens["sie"], np.shape(x))
    g1, g2 = lens["gamma1"], lens["gamma2"]
    return x - ax - (g1 * x + g2 * y), y - ay - (g2 * x - g1 * y)


def _jacobian(x, y, lens, h=1e-6):
    """d(beta)/d(theta) by central differences: (a11, a12, a21, a22)."""
    bxp, byp = _source_plane(x + h, y, lens)
    bxm, bym = _source_plane(x - h, y, lens)
    bxq, byq = _source_plane(x, y + h, lens)
    bxn, byn = _source_plane(x, y - h, lens)
    return (bxp - bxm) / (2 * h), (bxq - bxn) / (2 * h), (byp - bym) / (2 * h), (byq - byn) / (2 * h)


def _grid_starts(lens, beta_x, beta_y, cx, cy, half, n_grid):
    """Triangle mapping on a grid of ``n_grid`` cells per axis over ``+-half`` around the centre: a start for
    Newton's method in every image-plane triangle whose source-plane image holds the source."""
    t = np.linspace(-half, half, n_grid + 1)
    gx, gy = np.meshgrid(cx + t, cy + t)
    bx, by = _source_plane(gx, gy, lens)
    dx, dy = bx - beta_x, by - beta_y
    starts = []
    for (i0, j0), (i1, j1), (i2, j2) in (((0, 0), (0, 1), (1, 1)), ((0, 0), (1, 1), (1, 0))):
        sl = [(slice(i, n_grid + i), slice(j, n_grid + j)) for i, j in ((i0, j0), (i1, j1), (i2, j2))]
        (ax_, ay_), (bx_, by_), (cx_, cy_) = ((dx[s], dy[s]) for s in sl)
        # barycentric coordinates of the origin (the source) in the mapped triangle
        det = (bx_ - ax_) * (cy_ - ay_) - (cx_ - ax_) * (by_ - ay_)
        with np.errstate(divide="ignore", invalid="ignore"):
            u = ((-ax_) * (cy_ - ay_) - (cx_ - ax_) * (-ay_)) / det
            v = ((bx_ - ax_) * (-ay_) - (-ax_) * (by_ - ay_)) / det
        inside = (u >= 0) & (v >= 0) & (u + v <= 1) & np.isfinite(det) & (det != 0)
        for k in np.flatnonzero(inside.ravel()):
            a, b = np.unravel_index(k, inside.shape)
            corners = [(gx[s][a, b], gy[s][a, b]) for s in sl]
            uu, vv = u[a, b], v[a, b]
            starts.append((corners[0][0] + uu * (corners[1][0] - corners[0][0]) + vv * (corners[2][0] - corners[0][0]),
                           corners[0][1] + uu * (corners[1][1] - corners[0][1]) + vv * (corners[2][1] - corners[0][1])))
    return starts


def point_images(beta_x: float, beta_y: float, lens: dict, n_grid: int = 80, tolerance_arcsec: float = 1e-7):
    """Image positions and magnifications of a point source.

    Parameters
    ----------
    beta_x, beta_y : float
        Source position, arcsec.
    lens : dict
        ``theta_E, e1, e2, center_x, center_y`` (SIE) and ``gamma1, gamma2``
        (shear), lenstronomy's conventions.
    n_grid : int
        Cells per axis of the search grids: over +-(1.6 theta_E + |beta - centre|), and again over
        +-0.25 theta_E, where the counter-images of sources near the edge of the multiply imaged region
        lie (found down to magnifications of about 0.02).
    tolerance_arcsec : float
        Largest source-plane residual of an accepted image.

    Returns
    -------
    x, y, magnification : ndarray
        One entry per image (signed magnification), brightest first.
    """
    theta_E = float(lens["theta_E"])
    cx, cy = float(lens["center_x"]), float(lens["center_y"])
    lens = {"sie": sie_coefficients(theta_E, lens["e1"], lens["e2"], cx, cy, np.float64),
            "gamma1": float(lens["gamma1"]), "gamma2": float(lens["gamma2"])}
    half = 1.6 * theta_E * (1.0 + 2.0 * np.hypot(lens["gamma1"], lens["gamma2"])) + np.hypot(beta_x - cx, beta_y - cy)
    # the whole region, then the centre again, finer: the deflection's singular centre maps a cell around it onto
    # a large part of the source plane, where the demagnified counter-images of sources near the edge of the
    # multiply imaged region lie (within ~0.2 theta_E of the centre)
    starts = _grid_starts(lens, beta_x, beta_y, cx, cy, half, n_grid)
    starts += _grid_starts(lens, beta_x, beta_y, cx, cy, 0.25 * theta_E, n_grid)
    if not starts:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    x, y = np.array(starts, dtype=float).T
    for _ in range(20):  # Newton steps on beta(theta) = beta
        sx, sy = _source_plane(x, y, lens)
        if np.all(np.hypot(sx - beta_x, sy - beta_y) < 1e-3 * tolerance_arcsec):
            break
        a11, a12, a21, a22 = _jacobian(x, y, lens)
        det = a11 * a22 - a12 * a21
        rx, ry = beta_x - sx, beta_y - sy
        with np.errstate(divide="ignore", invalid="ignore"):
            x = x + (a22 * rx - a12 * ry) / det
            y = y + (-a21 * rx + a11 * ry) / det
    sx, sy = _source_plane(x, y, lens)
    ok = np.isfinite(x) & (np.hypot(sx - beta_x, sy - beta_y) < tolerance_arcsec)
    ok &= np.hypot(x - cx, y - cy) > 1e-3 * theta_E  # the SIE's singular centre holds no image
    x, y = x[ok], y[ok]
    keep = []
    for i in range(len(x)):  # one image per position
        if all(np.hypot(x[i] - x[j], y[i] - y[j]) > 1e-4 * theta_E for j in keep):
            keep.append(i)
    x, y = x[keep], y[keep]
    a11, a12, a21, a22 = _jacobian(x, y, lens)
    mu = 1.0 / (a11 * a22 - a12 * a21)
    order = np.argsort(-np.abs(mu))
    return x[order], y[order], mu[order]
