"""Vectorised lens and light profiles in lenstronomy's conventions (SIE, shear, SIS, Sersic).

Every function broadcasts over a batch of images and computes in the dtype
of its coordinates; these numpy profiles are the reference of the compiled
kernels. Conventions: ``docs/simulation.md`` (lensing conventions).
"""

from __future__ import annotations

import numpy as np
from scipy.special import gamma as gamma_function

__all__ = [
    "phi_q_to_e1e2",
    "e1e2_to_phi_q",
    "sie_deflection",
    "sis_deflection",
    "shear_deflection",
    "sersic",
    "sersic_b_n",
    "sie_coefficients",
    "sie_deflection_core",
    "sersic_coefficients",
    "sersic_core",
    "sersic_total_flux",
    "hessian_numerical",
    "magnification_determinant",
    "tangential_critical_curve",
    "tangential_caustic",
    "sis_theta_E_arcsec",
]

#: lenstronomy's SIE core (``SIE._s_scale``), kept so that centres agree bit for bit.
SIE_CORE_ARCSEC = 1e-10
#: lenstronomy caps q just below 1 in the NIE deflection (1/sqrt(1-q^2) terms).
SIE_Q_MAX = 0.99999999
#: lenstronomy caps |e| in ellipticity2phi_q.
E_MODULUS_MAX = 0.9999
#: Sersic radii are floored here (lenstronomy's SersicUtil smoothing), arcsec.
SERSIC_SMOOTHING_ARCSEC = 1e-4
#: Floor of the Sersic exponent -b_n R^(1/n) (avoids slow denormal floats).
SERSIC_MIN_EXPONENT = -80.0
#: Speed of light in km/s (for eq. 10).
C_KM_S = 299_792.458


def _as(value, dtype):
    """``value`` as an array of ``dtype`` (parameters follow the grid's precision)."""
    return np.asarray(value, dtype=dtype)


def _full(array, shape):
    """``array`` itself when it already has ``shape`` (then it may be modified in place), else a full copy."""
    return array if array.shape == shape else np.array(np.broadcast_to(array, shape))


def _shape(*arrays):
    return np.broadcast_shapes(*(np.shape(a) for a in arrays))


def _float_dtype(x):
    dtype = np.asarray(x).dtype
    return dtype if np.issubdtype(dtype, np.floating) else np.dtype(np.float64)


def phi_q_to_e1e2(phi_rad, q):
    """Position angle and axis ratio to lenstronomy's ellipticity components.

    Parameters
    ----------
    phi_rad : array_like
        Position angle of the major axis, radian, counter-clockwise from +x.
    q : array_like
        Minor/major axis ratio, 0 < q <= 1.

    Returns
    -------
    e1, e2 : ndarray
        ``(1-q)/(1+q) * (cos 2phi, sin 2phi)``.
    """
    phi_rad = np.asarray(phi_rad, dtype=float)
    q = np.asarray(q, dtype=float)
    e = (1.0 - q) / (1.0 + q)
    return e * np.cos(2.0 * phi_rad), e * np.sin(2.0 * phi_rad)


def e1e2_to_phi_q(e1, e2):
    """Inverse of :func:`phi_q_to_e1e2`.

    Returns
    -------
    phi_rad, q : ndarray
        Position angle in (-pi/2, pi/2] (radian) and axis ratio; ``|e|`` is capped
        at 0.9999 as in lenstronomy.
    """
    e1 = np.asarray(e1, dtype=float)
    e2 = np.asarray(e2, dtype=float)
    phi = np.arctan2(e2, e1) / 2.0
    c = np.minimum(np.sqrt(e1 * e1 + e2 * e2), E_MODULUS_MAX)
    return phi, (1.0 - c) / (1.0 + c)


def sie_deflection(x, y, theta_E, e1, e2, center_x=0.0, center_y=0.0):
    """Deflection of a singular isothermal ellipsoid (He et al. 2020, eq. 9).

    Parameters
    ----------
    x, y : array_like
        Image-plane coordinates, arcsec.
    theta_E : array_like
        Product-averaged Einstein radius, arcsec (lenstronomy's ``SIE``).
    e1, e2 : array_like
        Ellipticity components (see :func:`phi_q_to_e1e2`).
    center_x, center_y : array_like
        Lens centre, arcsec.

    Returns
    -------
    alpha_x, alpha_y : ndarray
        Deflection angles, arcsec, in the dtype of ``x``.

    Notes
    -----
    Keeton & Kochanek (1998) in the major-axis frame, with
    ``b = theta_E sqrt(q)`` and ``psi = sqrt(q^2 x'^2 + y'^2)``:
    ``alpha_x' = b/sqrt(1-q^2) arctan(sqrt(1-q^2) x' / psi)``,
    ``alpha_y' = b/sqrt(1-q^2) arctanh(sqrt(1-q^2) y' / psi)``.
    """
    dtype = _float_dtype(x)
    coeffs = sie_coefficients(theta_E, e1, e2, center_x, center_y, dtype)
    return sie_deflection_core(x, y, coeffs, _shape(x, y, theta_E, e1, e2, center_x, center_y))


def sie_coefficients(theta_E, e1, e2, center_x=0.0, center_y=0.0, dtype=np.float32):
    """Per-lens constants of :func:`sie_deflection_core` (computed in float64, returned in ``dtype``).

    Precomputing them once for a whole table keeps the per-batch work to the
    pixel arithmetic.
    """
    phi, q = e1e2_to_phi_q(e1, e2)
    q = np.minimum(q, SIE_Q_MAX)
    eps = np.sqrt(1.0 - q * q)
    b = np.asarray(theta_E, dtype=float) * np.sqrt(q)
    s = SIE_CORE_ARCSEC / np.sqrt(q)
    cos, sin = np.cos(phi), np.sin(phi)
    scale = b / eps
    values = (center_x, center_y, cos * eps, sin * eps, cos, sin, q / eps, s, q * q * s, eps, cos * scale, sin * scale)
    return tuple(_as(v, dtype) for v in values)


def sie_deflection_core(x, y, coeffs, shape):
    """SIE deflection from :func:`sie_coefficients`; ``shape`` is the output shape."""
    cx, cy, ce, se, cos, sin, q_over_eps, s1, s2, eps, cs, ss = coeffs
    dx = x - cx
    dy = y - cy
    # A sparse grid (x of shape (..., 1, n), y of shape (..., n, 1)) keeps the
    # terms that depend on one coordinate small; in-place arithmetic on the
    # full arrays keeps a batch in cache. eps and b/eps are folded into the
    # rotations.
    xe = _full(ce * dx + se * dy, shape)  # eps x'
    yp = _full(cos * dy - sin * dx, shape)  # y'
    psi = xe * q_over_eps  # q x'
    psi *= psi
    psi += yp * yp
    np.sqrt(psi, out=psi)
    ax = psi + s1
    np.divide(xe, ax, out=ax)
    np.arctan(ax, out=ax)
    psi += s2
    ay = np.divide(yp, psi, out=psi)
    ay *= eps
    np.arctanh(ay, out=ay)
    out_x = cs * ax
    out_x -= ss * ay
    out_y = np.multiply(ss, ax, out=xe)
    ay *= cs
    out_y += ay
    return out_x, out_y


def sis_deflection(x, y, theta_E, center_x=0.0, center_y=0.0):
    """Deflection of a singular isothermal sphere, ``theta_E * r_hat`` (arcsec).

    Zero at the exact centre, as in lenstronomy's ``SIS``.
    """
    dtype = _float_dtype(x)
    dx = x - _as(center_x, dtype)
    dy = y - _as(center_y, dtype)
    r = np.sqrt(dx * dx + dy * dy)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(r > 0, _as(theta_E, dtype) / r, 0).astype(dtype, copy=False)
    return a * dx, a * dy


def shear_deflection(x, y, gamma1, gamma2):
    """Deflection of an external shear about the origin, arcsec.

    ``alpha_x = gamma1 x + gamma2 y``, ``alpha_y = gamma2 x - gamma1 y``
    (lenstronomy ``SHEAR`` with ``ra_0 = dec_0 = 0``).
    """
    dtype = _float_dtype(x)
    g1, g2 = _as(gamma1, dtype), _as(gamma2, dtype)
    return g1 * x + g2 * y, g2 * x - g1 * y


def sersic_b_n(n_sersic):
    """``b_n = 1.9992 n - 0.3271`` (He et al. 2020, eq. 14; Capaccioli 1989)."""
    return np.maximum(1.9992 * np.asarray(n_sersic, dtype=float) - 0.3271, 1e-5)


def sersic(x, y, amp, R_sersic, n_sersic, e1=0.0, e2=0.0, center_x=0.0, center_y=0.0):
    """Elliptical Sersic surface brightness (lenstronomy ``SERSIC_ELLIPSE``).

    Parameters
    ----------
    x, y : array_like
        Coordinates, arcsec.
    amp : array_like
        Surface brightness at ``R_sersic`` (counts arcsec^-2 in our images).
    R_sersic : array_like
        Half-light radius (product average of the semi-axes), arcsec.
    n_sersic : array_like
        Sersic index.
    e1, e2 : array_like
        Ellipticity components.
    center_x, center_y : array_like
        Centre, arcsec.

    Returns
    -------
    ndarray
        Surface brightness at ``(x, y)`` in the units of ``amp``.
    """
    dtype = _float_dtype(x)
    coeffs = sersic_coefficients(amp, R_sersic, n_sersic, e1, e2, center_x, center_y, dtype)
    return sersic_core(x, y, coeffs, _shape(x, y, amp, R_sersic, n_sersic, e1, e2, center_x, center_y))


def sersic_coefficients(amp, R_sersic, n_sersic, e1=0.0, e2=0.0, center_x=0.0, center_y=0.0, dtype=np.float32):
    """Per-profile constants of :func:`sersic_core` (float64 arithmetic, returned in ``dtype``)."""
    e1 = np.asarray(e1, dtype=float)
    e2 = np.asarray(e2, dtype=float)
    # R^2 = v^T M^2 v with M = [[1-e1, -e2], [-e2, 1+e1]] / sqrt(1-|e|^2),
    # lenstronomy's transform_e1e2_product_average.
    norm = np.maximum(np.abs(1.0 - e1 * e1 - e2 * e2), 1e-6)
    rs = np.maximum(np.asarray(R_sersic, dtype=float), SERSIC_SMOOTHING_ARCSEC)
    inv = 1.0 / (norm * rs * rs)
    n = np.asarray(n_sersic, dtype=float)
    bn = sersic_b_n(n)
    values = (center_x, center_y, ((1 - e1) ** 2 + e2 * e2) * inv, ((1 + e1) ** 2 + e2 * e2) * inv, -4.0 * e2 * inv,
              (SERSIC_SMOOTHING_ARCSEC / rs) ** 2, 0.5 / n, -bn, np.asarray(amp, dtype=float) * np.exp(bn))
    return tuple(_as(v, dtype) for v in values)


def sersic_core(x, y, coeffs, shape):
    """Sersic surface brightness from :func:`sersic_coefficients`; ``shape`` is the output shape."""
    cx, cy, cxx, cyy, cxy, r2_floor, inv_2n, minus_bn, amp_e_bn = coeffs
    dx = x - cx
    dy = y - cy
    # r2 = (R / R_sersic)^2 = cxx dx^2 + cyy dy^2 + cxy dx dy; on a sparse grid the squares are 1-D
    r2 = _full((cxx * dx) * dx + (cyy * dy) * dy, shape)
    r2 += (cxy * dy) * dx
    np.maximum(r2, r2_floor, out=r2)
    # amp exp(b_n (1 - R^(1/n))) = amp e^b_n exp(-b_n exp(log(r2) / 2n))
    t = np.log(r2, out=r2)
    t *= inv_2n
    np.exp(t, out=t)
    t *= minus_bn
    # exp(-80) ~ 2e-35 of the central value; below that exp() would return
    # float32 denormals, which are ~10x slower to produce
    np.maximum(t, SERSIC_MIN_EXPONENT, out=t)
    np.exp(t, out=t)
    t *= amp_e_bn
    return t


def sersic_total_flux(amp, R_sersic, n_sersic):
    """Total flux of a Sersic profile (independent of ellipticity in this convention).

    ``F = 2 pi n amp R^2 e^{b_n} Gamma(2n) / b_n^{2n}`` (units of ``amp`` x arcsec^2).
    """
    n = np.asarray(n_sersic, dtype=float)
    bn = sersic_b_n(n)
    r = np.asarray(R_sersic, dtype=float)
    return np.asarray(amp, dtype=float) * r * r * 2 * np.pi * n * np.exp(bn) * gamma_function(2 * n) / bn ** (2 * n)


def hessian_numerical(deflection, x, y, step_arcsec=1e-5):
    """Hessian of the lensing potential by central differences of a deflection.

    Parameters
    ----------
    deflection : callable
        ``deflection(x, y) -> (alpha_x, alpha_y)``, arcsec (float64 advised).
    x, y : array_like
        Points, arcsec.
    step_arcsec : float
        Difference step, arcsec.

    Returns
    -------
    f_xx, f_xy, f_yx, f_yy : ndarray
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    h = step_arcsec
    # the four offsets in one call (deflections are elementwise)
    ax, ay = deflection(np.stack([x + h, x - h, x, x]), np.stack([y, y, y + h, y - h]))
    axp, axm, bxp, bxm = ax
    ayp, aym, byp, bym = ay
    return (axp - axm) / (2 * h), (bxp - bxm) / (2 * h), (ayp - aym) / (2 * h), (byp - bym) / (2 * h)


def magnification_determinant(deflection, x, y, step_arcsec=1e-5):
    """``det A = (1 - f_xx)(1 - f_yy) - f_xy f_yx`` (inverse magnification)."""
    fxx, fxy, fyx, fyy = hessian_numerical(deflection, x, y, step_arcsec)
    return (1 - fxx) * (1 - fyy) - fxy * fyx


def tangential_critical_curve(deflection, theta_E, center_x=0.0, center_y=0.0, n_points=128,
                              r_max_factor=4.0, n_iter=40):
    """Outer (tangential) critical curve, found by bisection along rays.

    Along each of ``n_points`` rays from the lens centre the outermost sign
    change of ``det A`` between ``0.05 theta_E`` and ``r_max_factor theta_E``
    is located; for an SIE with modest shear this is the tangential curve.

    Parameters
    ----------
    deflection : callable
        ``deflection(x, y) -> (alpha_x, alpha_y)`` of the whole lens, arcsec.
    theta_E : float
        Einstein radius, arcsec (sets the search range).
    center_x, center_y : float
        Lens centre, arcsec.

    Returns
    -------
    x, y : ndarray, shape (n_points,)
        Points on the critical curve, arcsec; NaN on rays without a sign change.
    """
    angles = np.linspace(0.0, 2 * np.pi, n_points, endpoint=False)
    ux, uy = np.cos(angles), np.sin(angles)

    def det(r):
        return magnification_determinant(deflection, center_x + r * ux, center_y + r * uy)

    lo = np.full(n_points, 0.05 * theta_E)
    hi = np.full(n_points, r_max_factor * theta_E)
    det_lo, det_hi = det(lo), det(hi)
    ok = (det_lo < 0) & (det_hi > 0)
    for _ in range(n_iter):
        mid = 0.5 * (lo + hi)
        d = det(mid)
        neg = d < 0
        lo = np.where(neg, mid, lo)
        hi = np.where(neg, hi, mid)
    r = np.where(ok, 0.5 * (lo + hi), np.nan)
    return center_x + r * ux, center_y + r * uy


def tangential_caustic(deflection, theta_E, center_x=0.0, center_y=0.0, n_points=128, n_iter=40):
    """Tangential caustic: the critical curve mapped by the lens equation.

    Parameters are those of :func:`tangential_critical_curve` (``n_iter``:
    bisection steps, each halving the radial uncertainty).

    Returns
    -------
    x, y : ndarray
        Source-plane points ``beta = theta - alpha(theta)``, arcsec.
    """
    cx, cy = tangential_critical_curve(deflection, theta_E, center_x, center_y, n_points, n_iter=n_iter)
    ax, ay = deflection(cx, cy)
    return cx - ax, cy - ay


def sis_theta_E_arcsec(sigma_km_s, d_ls_over_d_s):
    """Einstein radius of an isothermal lens, arcsec (He et al. 2020, eq. 10).

    ``theta_E = 4 pi (sigma / c)^2 D_ds / D_s``.
    """
    rad = 4 * np.pi * (np.asarray(sigma_km_s, dtype=float) / C_KM_S) ** 2 * np.asarray(d_ls_over_d_s, dtype=float)
    return np.degrees(rad) * 3600.0
