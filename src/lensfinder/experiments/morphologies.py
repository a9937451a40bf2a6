"""Galaxy morphologies and PSFs of the independent test sets, none of which a training recipe uses.

The training recipes draw Sersic profiles (plus Gaussian/Sersic clumps and
GalSim-style knots) and Gaussian, Moffat or tile-ePSF PSFs. The independent
sets of the ``domain_shift`` experiment (:mod:`lensfinder.experiments.independent`)
use other families, each a pixelised surface brightness that lenstronomy's
``INTERPOL`` profile ray-traces (sources) or places (unlensed galaxies):

- ``shapelets``: a shapelet expansion (Refregier 2003, lenstronomy's
  ``SHAPELETS`` basis) with random coefficients, clipped at zero: irregular,
  lumpy sources;
- ``clumpy``: a log-normal Gaussian random field under an exponential,
  lopsided envelope: large irregular star-forming galaxies;
- ``spiral``: exponential disk with logarithmic arms and a Hernquist bulge,
  inclined;
- ``ring``: a lopsided, knotty Gaussian ring in an exponential disk around a
  Hernquist bulge (collisional and resonance rings);
- ``edge_on``: GalSim's ``InclinedExponential`` (a thick exponential disk)
  seen at 80-90 deg;

and two PSF families drawn by GalSim with the pixel response (the
effective PSF lenstronomy's ``PIXEL`` PSF expects): ``kolmogorov_optical``
(Kolmogorov turbulence convolved with a 2.6 m obscured, four-strut
telescope with random low-order aberrations, the VST's layout) and
``double_gaussian`` (a slightly elliptical core plus a broad halo holding
5-20 % of the light). Two more, ``moffat`` and ``gaussian``, are the
families the training recipes use (and the maintainers' held-back set):
opt-in, for checking what those PSFs cost, not for the independent set.

Every function takes its parameters explicitly, so a metadata row re-creates
the image; images are normalised to unit total flux (surface brightness per
arcsec^2 on a grid of ``scale`` arcsec pixels: ``image.sum() * scale**2 == 1``).
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = [
    "MORPHOLOGIES",
    "PSF_FAMILIES",
    "INDEPENDENT_PSF_FAMILIES",
    "VST_DIAMETER_M",
    "PSF_PARAMS",
    "morphology_image",
    "shapelet_coefficients",
    "psf_object",
    "psf_kernel",
    "psf_fwhm_arcsec",
]

#: pixelised morphologies: name -> function of (params, scale, n_pix)
MORPHOLOGIES = ("shapelets", "clumpy", "spiral", "ring", "edge_on")
#: the parameters each PSF family reads
PSF_PARAMS = {
    "kolmogorov_optical": ("psf_atm_fwhm_arcsec", "psf_e1", "psf_e2", "psf_dilation", "psf_strut_angle_deg",
                           "psf_defocus", "psf_astig1", "psf_astig2", "psf_coma1", "psf_coma2"),
    "double_gaussian": ("psf_atm_fwhm_arcsec", "psf_e1", "psf_e2", "psf_dilation", "psf_halo_width_ratio",
                        "psf_halo_fraction"),
    "moffat": ("psf_atm_fwhm_arcsec", "psf_e1", "psf_e2", "psf_dilation", "psf_moffat_beta"),
    "gaussian": ("psf_atm_fwhm_arcsec", "psf_e1", "psf_e2", "psf_dilation"),
}
PSF_FAMILIES = tuple(PSF_PARAMS)
#: the families no training recipe uses (the independent set's default mix)
INDEPENDENT_PSF_FAMILIES = ("kolmogorov_optical", "double_gaussian")
#: VLT Survey Telescope primary mirror (Capaccioli & Schipani 2011), metres
VST_DIAMETER_M = 2.61
#: central obscuration of the VST (linear fraction of the pupil), and its spider
VST_OBSCURATION = 0.37
VST_N_STRUTS = 4
#: effective wavelength of the KiDS r band (OmegaCAM r_SDSS), nm
R_BAND_LAMBDA_NM = 625.0


def _grid(scale: float, n_pix: int):
    c = (np.arange(n_pix) - (n_pix - 1) / 2.0) * scale
    return np.meshgrid(c, c)


def _normalised(image: np.ndarray, scale: float) -> np.ndarray:
    image = np.clip(np.nan_to_num(image), 0.0, None)
    total = image.sum() * scale**2
    if not total > 0:
        raise ValueError("morphology with no positive flux")
    return image / total


def _rotated(x, y, phi, q=1.0):
    """Coordinates in the galaxy frame: rotated by ``phi`` rad, minor axis stretched by ``1/q``."""
    c, s = np.cos(phi), np.sin(phi)
    return c * x + s * y, (-s * x + c * y) / q


def shapelet_coefficients(n_max: int, seed: int, decay: float) -> np.ndarray:
    """Random shapelet coefficients, lenstronomy's ordering; order ``n`` has rms ``exp(-n / decay)``.

    The zeroth coefficient is 1, so the galaxy keeps a positive core.
    """
    rng = np.random.default_rng(seed)
    orders = np.concatenate([[n] * (n + 1) for n in range(n_max + 1)])  # (n_max + 1)(n_max + 2) / 2 of them
    n_coeff = orders.size
    coeffs = rng.normal(0.0, 1.0, n_coeff) * np.exp(-orders / decay)
    coeffs[0] = 1.0
    return coeffs


def _shapelets(p, x, y):
    from lenstronomy.LightModel.Profiles.shapelets import ShapeletSet

    coeffs = shapelet_coefficients(int(p["n_max"]), int(p["morph_seed"]), float(p["decay"]))
    xr, yr = _rotated(x, y, p["phi"], p["q"])
    return ShapeletSet().function(xr.ravel(), yr.ravel(), coeffs, int(p["n_max"]), p["beta_arcsec"]).reshape(x.shape)


def _grf(n_pix: int, slope: float, seed: int) -> np.ndarray:
    """Unit-variance Gaussian random field with power spectrum ``k**-slope``."""
    rng = np.random.default_rng(seed)
    k = np.hypot(*np.meshgrid(np.fft.fftfreq(n_pix), np.fft.fftfreq(n_pix)))
    k[0, 0] = np.inf
    field = np.fft.ifft2(np.fft.fft2(rng.normal(size=(n_pix, n_pix))) * k ** (-slope / 2)).real
    return (field - field.mean()) / field.std()


def _clumpy(p, x, y):
    xr, yr = _rotated(x, y, p["phi"], p["q"])
    r = np.hypot(xr, yr)
    # lopsided envelope: the scale length changes with azimuth (m = 1)
    h = p["h_arcsec"] * (1.0 + p["lopsidedness"] * np.cos(np.arctan2(yr, xr) - p["lopsided_phi"]))
    texture = np.exp(p["clump_contrast"] * _grf(x.shape[0], p["grf_slope"], int(p["morph_seed"])))
    return np.exp(-r / h) * texture


def _bulge(x, y, a, fraction, scale):
    """Hernquist (1990) bulge (lenstronomy's ``HERNQUIST``) holding ``fraction`` of the light."""
    from lenstronomy.LightModel.Profiles.hernquist import Hernquist

    bulge = Hernquist().function(x, y, amp=1.0, Rs=a)
    return fraction * bulge / (bulge.sum() * scale**2)


def _spiral(p, x, y, scale):
    xr, yr = _rotated(x, y, p["phi"], p["q"])
    r, theta = np.hypot(xr, yr), np.arctan2(yr, xr)
    h = p["h_arcsec"]
    arms = 1.0 + p["arm_contrast"] * np.cos(
        p["n_arms"] * (theta - np.log(np.maximum(r, 0.05 * h) / h) / np.tan(np.radians(p["pitch_deg"]))))
    disk = np.exp(-r / h) * arms**2
    disk = (1.0 - p["bulge_fraction"]) * disk / (disk.sum() * scale**2)
    return disk + _bulge(xr, yr * p["q"], p["bulge_a_arcsec"], p["bulge_fraction"], scale)


def _ring(p, x, y, scale):
    xr, yr = _rotated(x, y, p["phi"], p["q"])
    r, theta = np.hypot(xr, yr), np.arctan2(yr, xr)
    ring = np.exp(-0.5 * ((r - p["ring_radius_arcsec"]) / p["ring_width_arcsec"]) ** 2)
    ring *= 1.0 + p["lopsidedness"] * np.cos(theta - p["lopsided_phi"])
    ring *= np.exp(p["knot_contrast"] * _grf(x.shape[0], 3.0, int(p["morph_seed"])))  # star-forming knots
    disk = np.exp(-r / p["disk_h_arcsec"])  # the disk the ring lives in
    ring_fraction = 1.0 - p["bulge_fraction"] - p["disk_fraction"]
    return (ring_fraction * ring / (ring.sum() * scale**2) + p["disk_fraction"] * disk / (disk.sum() * scale**2)
            + _bulge(xr, yr * p["q"], p["bulge_a_arcsec"], p["bulge_fraction"], scale))


def _edge_on(p, scale, n_pix):
    import galsim

    disk = galsim.InclinedExponential(galsim.Angle(p["inclination_deg"], galsim.degrees),
                                      scale_radius=p["h_arcsec"], scale_h_over_r=p["h_over_r"])
    disk = disk.rotate(galsim.Angle(p["phi"], galsim.radians))
    return disk.drawImage(nx=n_pix, ny=n_pix, scale=scale, method="no_pixel").array / scale**2


def morphology_image(name: str, params: dict, scale: float, n_pix: int) -> np.ndarray:
    """A morphology on an ``n_pix`` x ``n_pix`` grid of ``scale`` arcsec pixels, unit total flux.

    Parameters
    ----------
    name : str
        One of :data:`MORPHOLOGIES`.
    params : dict
        Its parameters (angles ``phi`` in rad, sizes in arcsec; see
        :func:`lensfinder.experiments.independent.draw_morphology`).
    """
    if name not in MORPHOLOGIES:
        raise ValueError(f"morphology {name!r}: expected one of {', '.join(MORPHOLOGIES)}")
    if name == "edge_on":
        return _normalised(_edge_on(params, scale, n_pix), scale)
    x, y = _grid(scale, n_pix)
    if name == "shapelets":
        image = _shapelets(params, x, y)
    elif name == "clumpy":
        image = _clumpy(params, x, y)
    elif name == "spiral":
        image = _spiral(params, x, y, scale)
    else:
        image = _ring(params, x, y, scale)
    return _normalised(image, scale)


def psf_object(params: dict):
    """The GalSim PSF of a parameter set (family in ``params["psf_family"]``), before pixelisation."""
    import galsim

    family = params["psf_family"]
    if family == "kolmogorov_optical":
        optics = galsim.OpticalPSF(
            lam=R_BAND_LAMBDA_NM, diam=VST_DIAMETER_M, obscuration=VST_OBSCURATION, nstruts=VST_N_STRUTS,
            strut_angle=galsim.Angle(params["psf_strut_angle_deg"], galsim.degrees),
            defocus=params["psf_defocus"], astig1=params["psf_astig1"], astig2=params["psf_astig2"],
            coma1=params["psf_coma1"], coma2=params["psf_coma2"])
        psf = galsim.Convolve(galsim.Kolmogorov(fwhm=params["psf_atm_fwhm_arcsec"]), optics)
    elif family == "double_gaussian":
        core = galsim.Gaussian(fwhm=params["psf_atm_fwhm_arcsec"])
        halo = galsim.Gaussian(fwhm=params["psf_atm_fwhm_arcsec"] * params["psf_halo_width_ratio"])
        f = params["psf_halo_fraction"]
        psf = galsim.Add([core * (1.0 - f), halo * f])
    elif family == "moffat":
        psf = galsim.Moffat(beta=params["psf_moffat_beta"], fwhm=params["psf_atm_fwhm_arcsec"])
    elif family == "gaussian":
        psf = galsim.Gaussian(fwhm=params["psf_atm_fwhm_arcsec"])
    else:
        raise ValueError(f"psf_family {family!r}: expected one of {', '.join(PSF_FAMILIES)}")
    return psf.shear(e1=params["psf_e1"], e2=params["psf_e2"]).dilate(params["psf_dilation"])


#: families analytic in real space, drawn there (exact wings, no Fourier ringing); the others by FFT
_REAL_SPACE_FAMILIES = ("moffat", "gaussian")


@functools.lru_cache(maxsize=256)
def _kernel_cached(items: tuple, pixel_scale: float, n_pix: int) -> np.ndarray:
    params = dict(items)
    method = "real_space" if params["psf_family"] in _REAL_SPACE_FAMILIES else "auto"
    image = psf_object(params).drawImage(nx=n_pix, ny=n_pix, scale=pixel_scale, method=method)
    # GalSim's Fourier-drawn optics ring slightly below zero far out; a PSF is non-negative
    kernel = np.clip(image.array.astype(np.float64), 0.0, None)
    kernel.setflags(write=False)
    return kernel


def _items(params: dict, dilation: float | None = None) -> tuple:
    family = params["psf_family"]
    if family not in PSF_PARAMS:
        raise ValueError(f"psf_family {family!r}: expected one of {', '.join(PSF_FAMILIES)}")
    values = {**params, **({} if dilation is None else {"psf_dilation": dilation})}
    return (("psf_family", family), *((k, float(values[k])) for k in PSF_PARAMS[family]))


def psf_kernel(params: dict, pixel_scale: float, n_pix: int) -> np.ndarray:
    """The PSF drawn with the pixel response on ``n_pix`` x ``n_pix`` pixels (cached per parameter set)."""
    kernel = _kernel_cached(_items(params), float(pixel_scale), int(n_pix))
    return kernel / kernel.sum()


@functools.lru_cache(maxsize=256)
def _fwhm_cached(items: tuple) -> float:
    return float(psf_object(dict(items)).calculateFWHM())


def psf_fwhm_arcsec(params: dict) -> float:
    """FWHM of the PSF (without the pixel), arcsec: GalSim's, of the undilated PSF times the dilation."""
    return _fwhm_cached(_items(params, dilation=1.0)) * float(params["psf_dilation"])
