"""Physical populations of lenses and sources for the ``he2020`` recipe (He et al. 2020, section 3.2).

Halo masses and redshifts (eq. 11), velocity dispersions and Einstein radii
(eq. 10, 13), subhaloes (eq. 12), Faber-Jackson lens light and Benitez (2000)
source magnitudes; the choices the paper leaves open are listed in
``docs/simulation.md`` (he2020 populations).
"""

from __future__ import annotations

import functools

import numpy as np

from lensfinder.simulation.lensing import sis_theta_E_arcsec

__all__ = [
    "HE2020_REDSHIFT_PAIRS",
    "Cosmology",
    "LensPopulation",
    "subhalo_population",
    "faber_jackson_abs_mag_r",
    "k_correction_elliptical_r",
    "source_mag_distribution",
    "huertas_company_n",
]

#: He et al. 2020, Table A1: lens redshift -> its four source redshifts.
HE2020_REDSHIFT_PAIRS = {
    0.01: (0.02, 0.03, 0.06, 3.5),
    0.1: (0.2, 0.3, 0.5, 3.5),
    0.2: (0.4, 0.55, 0.9, 3.5),
    0.3: (0.5, 0.7, 1.15, 3.5),
    0.4: (0.6, 0.85, 1.35, 3.5),
    0.5: (0.8, 0.9, 1.05, 3.5),
    0.6: (0.9, 1.2, 1.8, 3.5),
    0.7: (1.1, 1.4, 2.0, 3.5),
    0.8: (1.3, 1.65, 2.2, 3.5),
    0.9: (1.4, 1.7, 2.3, 3.5),
    1.0: (1.6, 1.95, 2.5, 3.5),
}

#: Gravitational constant in Mpc (km/s)^2 / Msun.
G_MPC_KMS2_MSUN = 4.30091e-9
#: Xu et al. (2009) via He et al. 2020, eq. 12: amplitude and pivot mass (h^-1 Msun).
SUBHALO_AMPLITUDE_PER_H2KPC2 = 0.01
SUBHALO_PIVOT_MSUN_H = 3e8
#: Faber-Jackson normalisation (``docs/simulation.md``, he2020 populations).
FJ_M_R_AT_SIGMA_PIVOT = -21.5
FJ_SIGMA_PIVOT_KM_S = 200.0
#: Approximate r-band K-correction of an elliptical (Fukugita et al. 1995 E template).
K_CORR_Z = np.array([0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.2, 1.5])
K_CORR_R = np.array([0.0, 0.12, 0.25, 0.40, 0.60, 0.85, 1.10, 1.35, 1.60, 1.80, 2.00, 2.3, 2.7])
#: Benitez (2000), table 1 (HDF-N, I_814 band): p(T|m) and p(z|T,m) coefficients for E/S0, Sbc/Scd, Irr.
BENITEZ_ALPHA = np.array([2.46, 1.81, 0.91])
BENITEZ_Z0 = np.array([0.431, 0.390, 0.063])
BENITEZ_KM = np.array([0.091, 0.0636, 0.123])
BENITEZ_FT = np.array([0.35, 0.50])
BENITEZ_KT = np.array([0.147, 0.450])
#: Galaxy number-count slope, dN/dm ∝ 10^(slope m).
NUMBER_COUNT_SLOPE = 0.33


class Cosmology:
    """Flat LCDM distances (astropy) and Reed et al. (2007) halo mass function (colossus)."""

    def __init__(self, h=0.7, Om0=0.3, Ob0=0.049, sigma8=0.81, ns=0.96):
        from astropy.cosmology import FlatLambdaCDM

        self.h, self.Om0, self.Ob0, self.sigma8, self.ns = h, Om0, Ob0, sigma8, ns
        self.astropy = FlatLambdaCDM(H0=100 * h, Om0=Om0, Ob0=Ob0)

    def dds_over_ds(self, z_d, z_s):
        """``D_ds / D_s`` (angular-diameter distances)."""
        dds = self.astropy.angular_diameter_distance(z_d, z_s).value
        ds = self.astropy.angular_diameter_distance(z_s).value
        return dds / ds

    def hubble_km_s_mpc(self, z):
        """H(z) in km/s/Mpc."""
        return self.astropy.H(z).value

    def dndlnm(self, mass_msun, z):
        """Reed et al. (2007) halo mass function dn/dlnM at ``z`` (arbitrary normalisation per z)."""
        from colossus.cosmology import cosmology
        from colossus.lss import mass_function

        # colossus keeps its cosmology in module state; set it each call.
        cosmology.setCosmology(
            "lensfinder",
            params=dict(flat=True, H0=100 * self.h, Om0=self.Om0, Ob0=self.Ob0, sigma8=self.sigma8, ns=self.ns),
            persistence="",
        )
        m_h = np.asarray(mass_msun, dtype=float) * self.h
        return mass_function.massFunction(m_h, z, mdef="fof", model="reed07", q_out="dndlnM")

    def sigma_from_m200(self, m200_msun, z):
        """Velocity dispersion (km/s) from He et al. 2020, eq. 13 inverted."""
        return (10.0 * G_MPC_KMS2_MSUN * self.hubble_km_s_mpc(z) * np.asarray(m200_msun, dtype=float)) ** (1.0 / 3.0)

    def r200_mpc(self, m200_msun, z):
        """R200 (physical Mpc) of a halo of M200: ``M = 100 rho_c(z) 4/3 pi R^3`` (rho_c = 3H^2/8piG)."""
        hz = self.hubble_km_s_mpc(z)
        # 100 rho_c (4/3) pi R^3 = 100 * 3 H^2/(8 pi G) * 4/3 pi R^3 = 50 H^2 R^3 / G
        return (G_MPC_KMS2_MSUN * np.asarray(m200_msun, dtype=float) / (50.0 * hz**2)) ** (1.0 / 3.0)

    def arcsec_per_mpc(self, z):
        """Angular scale: arcsec per physical Mpc at ``z``."""
        return 206264.806 / self.astropy.angular_diameter_distance(z).value

    def distance_modulus(self, z):
        return self.astropy.distmod(z).value


class LensPopulation:
    """Joint sampler of (z_d, z_s, M200) by He et al. 2020, eq. 11.

    Parameters
    ----------
    cosmology : Cosmology
    theta_E_range_arcsec : (float, float)
        Einstein-radius range kept (Table 1: 1.4"-5").
    halo_mass_range_msun : (float, float)
        Mass grid limits, Msun.
    n_mass : int
        Grid points in log mass.
    pairs : dict
        Lens redshift -> source redshifts (default Table A1).
    """

    def __init__(self, cosmology, theta_E_range_arcsec=(1.4, 5.0), halo_mass_range_msun=(1e11, 1e16),
                 n_mass=600, pairs=None, redshift_weighting="volume"):
        if redshift_weighting not in ("volume", "none"):
            raise ValueError(f"redshift_weighting: expected 'volume' or 'none', got {redshift_weighting!r}")
        self.cosmology = cosmology
        pairs = HE2020_REDSHIFT_PAIRS if pairs is None else pairs
        self.z_d = np.array([zd for zd, zss in pairs.items() for _ in zss], dtype=float)
        self.z_s = np.array([zs for zss in pairs.values() for zs in zss], dtype=float)
        lnm = np.linspace(np.log(halo_mass_range_msun[0]), np.log(halo_mass_range_msun[1]), n_mass)
        self.dlnm = lnm[1] - lnm[0]
        self.log_mass_grid = lnm
        mass = np.exp(lnm)
        weights = np.zeros((len(self.z_d), n_mass))
        self.theta_E_grid = np.zeros_like(weights)
        self.dds_over_ds = np.array([cosmology.dds_over_ds(zd, zs) for zd, zs in zip(self.z_d, self.z_s)])
        self._hubble = {float(zd): float(cosmology.hubble_km_s_mpc(zd)) for zd in np.unique(self.z_d)}
        for zd in np.unique(self.z_d):
            p = cosmology.dndlnm(mass, zd)
            if redshift_weighting == "none":
                p = p / (p.sum() * self.dlnm)  # p(M | z_d), normalised over the mass range
            else:
                # number of haloes per unit z: comoving density x comoving volume element
                p = p * cosmology.astropy.differential_comoving_volume(zd).value
            sigma = cosmology.sigma_from_m200(mass, zd)
            for k in np.flatnonzero(self.z_d == zd):
                theta_e = sis_theta_E_arcsec(sigma, self.dds_over_ds[k])
                inside = (theta_e >= theta_E_range_arcsec[0]) & (theta_e <= theta_E_range_arcsec[1])
                weights[k] = np.where(inside, p * theta_e**2 * self.dlnm, 0.0)
                self.theta_E_grid[k] = theta_e
        total = weights.sum()
        if not total > 0:
            raise ValueError("no halo of the mass range gives an Einstein radius in the theta_E range")
        self.pair_probability = weights.sum(axis=1) / total
        self._cdf = np.cumsum(weights.ravel()) / total
        self.theta_E_range_arcsec = theta_E_range_arcsec

    def draw(self, rng):
        """One lens: dict with z_d, z_s, m200_msun, sigma_km_s, theta_E (arcsec)."""
        cell = int(np.searchsorted(self._cdf, rng.uniform(), side="right"))
        cell = min(cell, len(self._cdf) - 1)
        pair, k = divmod(cell, len(self.log_mass_grid))
        zd, zs = float(self.z_d[pair]), float(self.z_s[pair])
        lo, hi = self.theta_E_range_arcsec
        ratio = float(self.dds_over_ds[pair])
        hubble = self._hubble[zd]

        def sigma_of(m):  # eq. 13 inverted, with H(z_d) cached
            return (10.0 * G_MPC_KMS2_MSUN * hubble * m) ** (1.0 / 3.0)

        # jitter within the mass cell, keeping theta_E inside the range
        for _ in range(20):
            m200 = float(np.exp(self.log_mass_grid[k] + (rng.uniform() - 0.5) * self.dlnm))
            sigma = sigma_of(m200)
            theta_e = float(sis_theta_E_arcsec(sigma, ratio))
            if lo <= theta_e <= hi:
                break
        else:  # pragma: no cover - a cell is kept only if its centre is inside
            m200 = float(np.exp(self.log_mass_grid[k]))
            sigma = sigma_of(m200)
            theta_e = float(sis_theta_E_arcsec(sigma, ratio))
        return {"z_d": zd, "z_s": zs, "m200_msun": m200, "sigma_km_s": sigma, "theta_E": theta_e,
                "dds_over_ds": float(ratio)}


def subhalo_population(rng, cosmology, m200_msun, z_d, dds_over_ds, mass_fraction_range=(0.01, 0.05),
                       mass_floor_msun=1e9, n_bins=10):
    """Draw SIS subhaloes of one host (He et al. 2020, eq. 12-13).

    Returns
    -------
    dict
        ``subhalo_mass_msun``, ``subhalo_theta_E`` (arcsec), ``subhalo_center_x``,
        ``subhalo_center_y`` (arcsec, relative to the host centre), each a list.
    """
    h = cosmology.h
    m_lo = max(mass_fraction_range[0] * m200_msun, mass_floor_msun)
    m_hi = mass_fraction_range[1] * m200_msun
    out = {"subhalo_mass_msun": [], "subhalo_theta_E": [], "subhalo_center_x": [], "subhalo_center_y": []}
    if m_hi <= m_lo:
        return out
    r200_mpc = float(cosmology.r200_mpc(m200_msun, z_d))
    area_h2kpc2 = np.pi * (r200_mpc * 1e3 * h) ** 2
    edges = np.geomspace(m_lo, m_hi, n_bins + 1)
    pivot = SUBHALO_PIVOT_MSUN_H / h  # Msun
    r200_arcsec = r200_mpc * cosmology.arcsec_per_mpc(z_d)
    for a, b in zip(edges[:-1], edges[1:]):
        # integral of 0.01 (m / m0)^-1 dln m over the bin = 0.01 m0 (1/a - 1/b)
        mean = SUBHALO_AMPLITUDE_PER_H2KPC2 * pivot * (1.0 / a - 1.0 / b) * area_h2kpc2
        for _ in range(int(rng.poisson(mean))):
            m = 1.0 / (1.0 / a - rng.uniform() * (1.0 / a - 1.0 / b))  # dN/dm ∝ m^-2
            r = r200_arcsec * np.sqrt(rng.uniform())
            t = rng.uniform(0, 2 * np.pi)
            sigma = cosmology.sigma_from_m200(m, z_d)
            out["subhalo_mass_msun"].append(float(m))
            out["subhalo_theta_E"].append(float(sis_theta_E_arcsec(sigma, dds_over_ds)))
            out["subhalo_center_x"].append(float(r * np.cos(t)))
            out["subhalo_center_y"].append(float(r * np.sin(t)))
    return out


def faber_jackson_abs_mag_r(sigma_km_s):
    """Absolute r magnitude from L ∝ sigma^4 (He et al. 2020, eq. 15; normalisation above)."""
    return FJ_M_R_AT_SIGMA_PIVOT - 10.0 * np.log10(np.asarray(sigma_km_s, dtype=float) / FJ_SIGMA_PIVOT_KM_S)


def k_correction_elliptical_r(z):
    """Approximate r-band K-correction of an elliptical galaxy (mag)."""
    return np.interp(z, K_CORR_Z, K_CORR_R)


@functools.lru_cache(maxsize=64)
def source_mag_distribution(z_s, mag_range=(15.0, 25.0), n_grid=201):
    """Tabulated ``p(m | z_s)`` from Benitez (2000) (``docs/simulation.md``, he2020 populations).

    Returns
    -------
    mags, cdf : ndarray
        Magnitude grid and cumulative distribution, for inverse-CDF sampling.
    """
    m = np.linspace(mag_range[0], mag_range[1], n_grid)
    dm = m - 20.0
    f_e = BENITEZ_FT[0] * np.exp(-BENITEZ_KT[0] * dm)
    f_s = BENITEZ_FT[1] * np.exp(-BENITEZ_KT[1] * dm)
    f_irr = np.clip(1.0 - f_e - f_s, 0.0, None)
    fractions = np.stack([f_e, f_s, f_irr])
    fractions /= fractions.sum(axis=0)
    z = float(z_s)
    p_z = np.zeros_like(m)
    zz = np.linspace(1e-3, 6.0, 3000)
    for t in range(3):
        zm = np.maximum(BENITEZ_Z0[t] + BENITEZ_KM[t] * dm, 1e-3)  # (n_grid,)
        alpha = BENITEZ_ALPHA[t]
        # normalisation of z^alpha exp(-(z/zm)^alpha) over z, per magnitude
        norm = np.trapezoid(zz[None, :] ** alpha * np.exp(-((zz[None, :] / zm[:, None]) ** alpha)), zz, axis=1)
        p_z += fractions[t] * z**alpha * np.exp(-((z / zm) ** alpha)) / norm
    pdf = p_z * 10.0 ** (NUMBER_COUNT_SLOPE * m)
    cdf = np.cumsum(pdf)
    cdf /= cdf[-1]
    return m, cdf


def huertas_company_n(rng, n_range=(2.0, 5.0), mean=4.0, sigma=1.0):
    """Sersic index from the approximated Huertas-Company et al. (2013) early-type distribution."""
    for _ in range(1000):
        n = rng.normal(mean, sigma)
        if n_range[0] <= n <= n_range[1]:
            return float(n)
    return float(np.clip(mean, *n_range))  # pragma: no cover
