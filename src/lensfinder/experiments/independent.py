"""Independent test sets of the ``domain_shift`` experiment: what they hold and how each image is drawn.

The images are rendered by another code than the training sets
(lenstronomy's ``LensModel``/``ImageModel``/``SimulationAPI`` for the SIE +
external shear lensing, the light and the noise; GalSim for PSFs and edge-on
disks; :mod:`lensfinder.experiments.morphologies` for the pixelised
morphologies), with source, galaxy and PSF families that no training recipe
uses. Lenses are rendered whole (``lens_rendered``) or painted on survey
stamps of tiles held out from training (``lens_host``); the negatives are
the confusers the sky has (:data:`NEGATIVE_KINDS`).

Randomness: every image draws from its own generator
``SeedSequence([seed, shard, index], spawn_key=(INDEPENDENT_STREAM,))`` and
the PSF bank from ``spawn_key=(INDEPENDENT_STREAM, 1)``, a stream the
simulation stage (``SeedSequence([seed, shard, index])``) never produces, so
a test set never shares a random stream with a training set even at equal
seeds. Rendering (:mod:`lensfinder.experiments.independent_render`) reads
only the metadata row, so a row re-creates its image.
"""

from __future__ import annotations

import dataclasses
import math
import zlib

import numpy as np

from lensfinder.experiments.morphologies import INDEPENDENT_PSF_FAMILIES, PSF_FAMILIES
from lensfinder.io import InputError, nearest_hint

__all__ = [
    "INDEPENDENT_STREAM",
    "NEGATIVE_KINDS",
    "RENDERED_NEGATIVE_KINDS",
    "POSITIVE_KINDS",
    "KIDS_BANDS",
    "IndependentSpec",
    "independent_spec",
    "image_generator",
    "draw_psf_bank",
    "draw_lens_light",
    "draw_morphology",
    "draw_row",
]

#: spawn key of the independent sets' streams (a stable hash of the experiment's name)
INDEPENDENT_STREAM = zlib.crc32(b"lensfinder.experiments.domain_shift")
POSITIVE_KINDS = ("lens_rendered", "lens_host")
#: rendered negatives: ellipticals alone and with a small galaxy 1-4" away, large irregular clumpy
#: galaxies, spirals, rings, edge-on disks (``negative_mix``); and held-out survey hosts alone
RENDERED_NEGATIVE_KINDS = ("elliptical", "elliptical_companion", "irregular", "spiral", "ring", "edge_on")
NEGATIVE_KINDS = (*RENDERED_NEGATIVE_KINDS, "survey_host")

#: KiDS-like observations per band, lenstronomy ``SingleBand`` keywords (e-/s units). Exposures: KiDS
#: u 4x250 s, g 5x180 s, r 5x360 s, i 5x216 s (de Jong et al. 2015, A&A 582, A62, table 1); zero
#: points (e-/s) and sky (mag/arcsec^2, drawn per image) set so that the 5-sigma 2"-aperture depths are
#: near KiDS DR4's u 24.2, g 25.1, r 25.0, i 23.7 (Kuijken et al. 2019, A&A 625, A2);
#: `seeing_factor` scales the PSF against r (u, g and i are taken in worse seeing).
KIDS_BANDS = {
    "u": {"exposure_time": 250.0, "num_exposures": 4, "magnitude_zero_point": 24.2, "read_noise": 5.0,
          "sky_brightness": (22.3, 22.9), "seeing_factor": 1.4, "colour": {"red": (2.0, 2.8), "blue": (0.6, 1.2)}},
    "g": {"exposure_time": 180.0, "num_exposures": 5, "magnitude_zero_point": 25.7, "read_noise": 5.0,
          "sky_brightness": (21.9, 22.5), "seeing_factor": 1.2, "colour": {"red": (1.2, 1.8), "blue": (0.2, 0.8)}},
    "r": {"exposure_time": 360.0, "num_exposures": 5, "magnitude_zero_point": 25.6, "read_noise": 5.0,
          "sky_brightness": (20.9, 21.5), "seeing_factor": 1.0, "colour": {"red": (0.0, 0.0), "blue": (0.0, 0.0)}},
    "i": {"exposure_time": 216.0, "num_exposures": 5, "magnitude_zero_point": 25.2, "read_noise": 5.0,
          "sky_brightness": (19.9, 20.5), "seeing_factor": 1.1, "colour": {"red": (-0.7, -0.45), "blue": (-0.4, -0.1)}},
}


def _weights(name: str, value, choices) -> dict:
    if not isinstance(value, dict) or not value:
        raise InputError(f"independent set: {name}: expected a mapping of {', '.join(choices)} to weights")
    bad = sorted(set(value) - set(choices))
    if bad or any(not (isinstance(w, (int, float)) and w >= 0) for w in value.values()) or not sum(value.values()):
        raise InputError(f"independent set: {name}: {value!r}: expected weights >= 0 (not all 0) of "
                         f"{', '.join(choices)}")
    return {k: float(v) for k, v in value.items()}


@dataclasses.dataclass(frozen=True)
class IndependentSpec:
    """What an independent set holds (every field a ``--set key=value`` of ``domain-shift-render``).

    Ranges ``(low, high)`` are drawn uniformly unless named ``log``.
    """

    stamp_size: int = 101                      # pixels (the survey's stamps)
    pixel_scale_arcsec: float = 0.2            # KiDS coadds
    zeropoint_mag: float = 30.0                # counts of the output cubes (constants.MOCK_ZEROPOINT_MAG)
    bands: tuple = ("r",)                      # the search's bands; the first is the detection band
    lens_fraction: float = 0.5
    # lenses painted on held-out survey stamps (needs hosts), and as many negatives that are those stamps
    # alone, so that an image's provenance (rendered or survey) says nothing of its class
    host_fraction: float = 0.3
    # ... at most about this many images per host stamp and shard (the fraction shrinks when the held-out
    # tiles have few hosts: one blended host seen ten times would fill the 1% false-positive budget alone)
    max_host_copies: float = 2.0
    negative_mix: dict = dataclasses.field(default_factory=lambda: {
        "elliptical": 0.2, "elliptical_companion": 0.2, "irregular": 0.15, "spiral": 0.1, "ring": 0.1,
        "edge_on": 0.1})
    source_mix: dict = dataclasses.field(default_factory=lambda: {"shapelets": 0.5, "clumpy": 0.5})
    lens_light_mix: dict = dataclasses.field(default_factory=lambda: {
        "HERNQUIST_ELLIPSE": 0.5, "MULTI_GAUSSIAN_ELLIPSE": 0.5})
    # families no training recipe uses; moffat and gaussian (the recipes' own, and the held-back set's) are
    # opt-in, to measure what those PSFs cost
    psf_mix: dict = dataclasses.field(default_factory=lambda: dict.fromkeys(INDEPENDENT_PSF_FAMILIES, 0.5))
    moffat_beta: tuple = (2.8, 4.8)            # the opt-in moffat family's beta (the mock survey's range)
    psf_bank_size: int = 12                    # PSFs drawn per shard (GalSim optics are slow to draw)
    psf_kernel_pix: int = 41                   # PSF kernel side, pixels (8.2": the wings)
    seeing_fwhm_arcsec: tuple = (0.5, 1.0)     # r-band atmospheric FWHM (KiDS r: median 0.7")
    theta_E_arcsec_log: tuple = (0.8, 3.5)     # log-uniform Einstein radius (KiDS lenses: ~1-3")
    lens_q: tuple = (0.5, 1.0)
    shear_gamma: tuple = (0.0, 0.08)
    lens_mag: tuple = (17.0, 20.5)             # lens / negative galaxy r magnitude
    lens_R_e_arcsec: tuple = (0.6, 2.5)
    arc_mag: tuple = (19.5, 24.0)              # total lensed r magnitude of the arcs in the stamp
    min_arc_snr: float = 10.0                  # lenses are redrawn below this arc S/N (the detection limit)
    min_visible_arc_snr: float = 10.0          # ... and below this S/N of the arc pixels brighter than the lens
    source_offset_theta_E: float = 1.0         # source position: in a disk of this radius (theta_E) ...
    magnification_cap: float = 15.0            # ... kept with odds min(mu, cap) / cap (0: uniform)
    companion_distance_arcsec: tuple = (1.0, 4.0)
    companion_mag_offset: tuple = (1.0, 6.0)
    supersampling: int = 3

    def __post_init__(self):
        object.__setattr__(self, "bands", tuple(self.bands))
        unknown = [b for b in self.bands if b not in KIDS_BANDS]
        if not self.bands or unknown:
            raise InputError(f"independent set: bands: {list(self.bands)}: expected some of {', '.join(KIDS_BANDS)}")
        object.__setattr__(self, "negative_mix", _weights("negative_mix", self.negative_mix,
                                                          RENDERED_NEGATIVE_KINDS))
        object.__setattr__(self, "source_mix", _weights("source_mix", self.source_mix, ("shapelets", "clumpy")))
        object.__setattr__(self, "lens_light_mix", _weights(
            "lens_light_mix", self.lens_light_mix, ("HERNQUIST_ELLIPSE", "MULTI_GAUSSIAN_ELLIPSE")))
        object.__setattr__(self, "psf_mix", _weights(
            "psf_mix", self.psf_mix, PSF_FAMILIES))
        if not self.moffat_beta[0] > 1.1:
            raise InputError(f"independent set: moffat_beta: {list(self.moffat_beta)}: expected beta > 1.1 "
                             "(GalSim's untruncated Moffat)")
        for name in ("lens_fraction", "host_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise InputError(f"independent set: {name}: {getattr(self, name)!r}: expected a number in [0, 1]")
        if not self.max_host_copies > 0:
            raise InputError(f"independent set: max_host_copies: {self.max_host_copies!r}: expected a number > 0")
        if self.stamp_size < 9 or self.psf_kernel_pix % 2 == 0 or self.psf_bank_size < 1:
            raise InputError("independent set: stamp_size >= 9, an odd psf_kernel_pix and psf_bank_size >= 1 expected")


def independent_spec(overrides: dict | None = None) -> IndependentSpec:
    """:class:`IndependentSpec` with ``overrides``; an unknown key or bad value is an :class:`InputError`."""
    fields = {f.name: f for f in dataclasses.fields(IndependentSpec)}
    values = {}
    for key, value in (overrides or {}).items():
        if key not in fields:
            raise InputError(f"independent set: unknown key {key!r}{nearest_hint(key, fields)}; "
                             f"valid keys: {', '.join(sorted(fields))}")
        default = fields[key].default if fields[key].default is not dataclasses.MISSING else None
        if isinstance(default, tuple) and key != "bands":
            if not (isinstance(value, (list, tuple)) and len(value) == 2 and value[0] <= value[1]):
                raise InputError(f"independent set: {key}: {value!r}: expected [low, high]")
            value = (float(value[0]), float(value[1]))
        values[key] = value
    try:
        return IndependentSpec(**values)
    except TypeError as exc:
        raise InputError(f"independent set: {exc}") from exc


def image_generator(seed: int, shard: int, index: int) -> np.random.Generator:
    """The generator of one image: its own stream, apart from every training set's."""
    return np.random.default_rng(np.random.SeedSequence([seed, shard, index], spawn_key=(INDEPENDENT_STREAM,)))


def _pick(rng, weights: dict) -> str:
    names = sorted(weights)
    p = np.array([weights[n] for n in names])
    return names[int(rng.choice(len(names), p=p / p.sum()))]


def _e1e2(rng, q_range):
    q, phi = rng.uniform(*q_range), rng.uniform(0, np.pi)
    e = (1 - q) / (1 + q)
    return float(e * np.cos(2 * phi)), float(e * np.sin(2 * phi))


def draw_psf_bank(spec: IndependentSpec, seed: int, shard: int) -> list[dict]:
    """``psf_bank_size`` PSF parameter sets (r band) of one shard, from the bank's own stream."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, shard], spawn_key=(INDEPENDENT_STREAM, 1)))
    bank = []
    for _ in range(spec.psf_bank_size):
        family = _pick(rng, spec.psf_mix)
        p = {"psf_family": family, "psf_atm_fwhm_arcsec": float(rng.uniform(*spec.seeing_fwhm_arcsec)),
             "psf_e1": float(np.clip(rng.normal(0, 0.02), -0.06, 0.06)),
             "psf_e2": float(np.clip(rng.normal(0, 0.02), -0.06, 0.06)), "psf_dilation": 1.0}
        if family == "kolmogorov_optical":  # aberrations in waves (GalSim OpticalPSF)
            p.update(psf_strut_angle_deg=float(rng.uniform(0, 90)), psf_defocus=float(rng.normal(0, 0.15)),
                     **{f"psf_{k}": float(rng.normal(0, 0.08)) for k in ("astig1", "astig2", "coma1", "coma2")})
        elif family == "double_gaussian":  # core plus a halo of 5-20 % of the light, 2-4 times wider
            p.update(psf_halo_fraction=float(rng.uniform(0.05, 0.2)), psf_halo_width_ratio=float(rng.uniform(2, 4)))
        elif family == "moffat":
            p.update(psf_moffat_beta=float(rng.uniform(*spec.moffat_beta)))
        bank.append(p)
    return bank


def draw_lens_light(rng, spec: IndependentSpec, q_range=(0.6, 1.0)) -> dict:
    """An early-type galaxy's light: lenstronomy profile name and keywords (``amp`` set at rendering)."""
    profile = _pick(rng, spec.lens_light_mix)
    r_e = float(rng.uniform(*spec.lens_R_e_arcsec))
    e1, e2 = _e1e2(rng, q_range)
    kwargs = {"e1": e1, "e2": e2, "center_x": float(rng.uniform(-0.1, 0.1)), "center_y": float(rng.uniform(-0.1, 0.1))}
    light = {"profile": profile, "R_e_arcsec": r_e, "kwargs": kwargs}
    if profile == "HERNQUIST_ELLIPSE":
        kwargs["Rs"] = r_e / 1.8153  # R_e = 1.8153 a (Hernquist 1990, eq. 38)
    else:  # a Nuker law (Lauer et al. 1995), cores and power-law centres, as its multi-Gaussian expansion
        nuker = {"r_b_arcsec": r_e * float(rng.uniform(0.3, 1.0)), "alpha": float(rng.uniform(1.5, 3.0)),
                 "beta": float(rng.uniform(2.2, 3.2)), "gamma": float(rng.uniform(0.0, 0.9))}
        kwargs["amp"], kwargs["sigma"] = _nuker_mge(**nuker)
        light["nuker"] = nuker
    return light


def _nuker_mge(r_b_arcsec, alpha, beta, gamma, n_gaussians=12):
    """Flux fractions and widths (arcsec) of the multi-Gaussian expansion (lenstronomy ``mge_1d``) of the
    Nuker law ``I(r) ~ (r/r_b)^-gamma (1 + (r/r_b)^alpha)^((gamma - beta) / alpha)``, 0.01-12"."""
    from lenstronomy.Util.multi_gauss_expansion import mge_1d

    r = np.logspace(-2, np.log10(12.0), 200)
    x = r / r_b_arcsec
    amps, sigmas, _ = mge_1d(r, x**-gamma * (1 + x**alpha) ** ((gamma - beta) / alpha), N=n_gaussians)
    amps = np.asarray(amps, dtype=np.float64)
    keep = amps > 0
    return [float(a) for a in amps[keep] / amps[keep].sum()], [float(s) for s in np.asarray(sigmas)[keep]]


def draw_morphology(rng, name: str, size_arcsec: float, q_range=(0.4, 1.0)) -> dict:
    """Parameters of a pixelised morphology (:func:`lensfinder.experiments.morphologies.morphology_image`)."""
    seed = int(rng.integers(0, 2**31))
    phi, q = float(rng.uniform(0, np.pi)), float(rng.uniform(*q_range))
    if name == "shapelets":
        return {"n_max": int(rng.integers(4, 11)), "beta_arcsec": size_arcsec / 2.0, "decay": float(rng.uniform(2, 5)),
                "phi": phi, "q": q, "morph_seed": seed}
    if name == "clumpy":
        return {"h_arcsec": size_arcsec / 1.68, "lopsidedness": float(rng.uniform(0, 0.5)),
                "lopsided_phi": float(rng.uniform(-np.pi, np.pi)), "clump_contrast": float(rng.uniform(0.6, 1.3)),
                "grf_slope": float(rng.uniform(2.5, 3.5)), "phi": phi, "q": q, "morph_seed": seed}
    if name == "spiral":
        return {"h_arcsec": size_arcsec / 1.68, "n_arms": int(rng.integers(2, 4)), "pitch_deg": float(rng.uniform(12, 30)),
                "arm_contrast": float(rng.uniform(0.4, 0.9)), "bulge_fraction": float(rng.uniform(0.1, 0.5)),
                "bulge_a_arcsec": float(rng.uniform(0.1, 0.4)), "phi": phi, "q": float(rng.uniform(0.3, 1.0))}
    if name == "ring":
        return {"ring_radius_arcsec": size_arcsec, "ring_width_arcsec": float(rng.uniform(0.1, 0.4)),
                "lopsidedness": float(rng.uniform(0, 0.6)), "lopsided_phi": float(rng.uniform(-np.pi, np.pi)),
                "knot_contrast": float(rng.uniform(0.0, 0.8)), "bulge_fraction": float(rng.uniform(0.3, 0.6)),
                "disk_fraction": float(rng.uniform(0.1, 0.3)), "disk_h_arcsec": size_arcsec / float(rng.uniform(1.2, 2.5)),
                "bulge_a_arcsec": float(rng.uniform(0.2, 0.6)), "phi": phi, "q": float(rng.uniform(0.6, 1.0)),
                "morph_seed": seed}
    if name == "edge_on":
        return {"inclination_deg": float(rng.uniform(80, 90)), "h_arcsec": size_arcsec / 1.68,
                "h_over_r": float(rng.uniform(0.08, 0.2)), "phi": phi}
    raise ValueError(f"morphology {name!r}")


def _colours(rng, spec: IndependentSpec, population: str) -> dict:
    return {b: float(rng.uniform(*KIDS_BANDS[b]["colour"][population])) for b in spec.bands}


def _magnification(theta_e, e1, e2, gamma1, gamma2, x_s, y_s, radius) -> float:
    """Magnification of a disk source of ``radius`` arcsec: image-plane area that lenstronomy's SIE + SHEAR
    maps into it, over its area (rays on a grid of 200 x 200 over +-(2.5 theta_E + radius))."""
    from lenstronomy.LensModel.lens_model import LensModel

    half = 2.5 * theta_e + radius
    grid = np.linspace(-half, half, 200)
    x, y = np.meshgrid(grid, grid)
    kwargs = [{"theta_E": theta_e, "e1": e1, "e2": e2, "center_x": 0.0, "center_y": 0.0},
              {"gamma1": gamma1, "gamma2": gamma2, "ra_0": 0.0, "dec_0": 0.0}]
    bx, by = LensModel(["SIE", "SHEAR"]).ray_shooting(x.ravel(), y.ravel(), kwargs)
    inside = np.count_nonzero((bx - x_s) ** 2 + (by - y_s) ** 2 < radius**2)
    return float(inside * (grid[1] - grid[0]) ** 2 / (np.pi * radius**2))


def _lens_geometry(rng, spec: IndependentSpec) -> dict:
    theta_e = float(np.exp(rng.uniform(*np.log(spec.theta_E_arcsec_log))))
    e1, e2 = _e1e2(rng, spec.lens_q)
    gamma, angle = rng.uniform(*spec.shear_gamma), rng.uniform(0, np.pi)
    gamma1, gamma2 = float(gamma * np.cos(2 * angle)), float(gamma * np.sin(2 * angle))
    morph = _pick(rng, spec.source_mix)
    size = float(np.exp(rng.uniform(np.log(0.15), np.log(0.6))))
    # magnification bias: at a fixed lensed flux, a configuration's odds scale with mu^(gamma - 1) for
    # differential source counts S^-gamma, gamma ~ 2 at r = 23-25 (Turner, Ostriker & Gott 1984), so ~ mu
    for _ in range(200):
        radius = spec.source_offset_theta_E * theta_e * math.sqrt(rng.uniform())
        where = rng.uniform(-np.pi, np.pi)
        x_s, y_s = float(radius * np.cos(where)), float(radius * np.sin(where))
        mu = _magnification(theta_e, e1, e2, gamma1, gamma2, x_s, y_s, size / 2)
        if not spec.magnification_cap or rng.uniform() * spec.magnification_cap <= mu:
            break
    return {
        "theta_E": theta_e, "e1": e1, "e2": e2, "gamma1": gamma1, "gamma2": gamma2,
        "source_x": x_s, "source_y": y_s, "magnification": mu,
        "source_morphology": morph, "source_size_arcsec": size,
        "source_params": draw_morphology(rng, morph, size, q_range=(0.3, 1.0)),
        "arc_mag": float(rng.uniform(*spec.arc_mag)), "source_colour": _colours(rng, spec, "blue"),
    }


def draw_row(spec: IndependentSpec, seed: int, shard: int, index: int, n_hosts: int, attempt: int = 0,
             host_probability: float | None = None) -> dict:
    """Parameters of one image (``attempt`` > 0 redraws a lens whose arc was too faint).

    Lenses are the exact ``lens_fraction`` in index order; ``n_hosts`` is the
    number of survey hosts (0: no host kinds).
    """
    rng = image_generator(seed, shard, index)
    for _ in range(attempt):  # a redraw continues the image's own stream
        rng = np.random.default_rng(rng.integers(0, 2**63))
    is_lens = math.floor((index + 1) * spec.lens_fraction) > math.floor(index * spec.lens_fraction)
    on_host = bool(n_hosts) and rng.uniform() < (spec.host_fraction if host_probability is None else host_probability)
    if is_lens:
        kind = "lens_host" if on_host else "lens_rendered"
    else:
        kind = "survey_host" if on_host else _pick(rng, spec.negative_mix)
    row = {"object_id": f"independent-{seed}-{shard}-{index}", "is_lens": is_lens, "kind": kind,
           "recipe": "independent", "seed": seed, "shard": shard, "index": index, "attempt": attempt,
           "noise_seed": int(rng.integers(0, 2**31)), "psf_index": int(rng.integers(0, spec.psf_bank_size)),
           "sky_brightness": {b: float(rng.uniform(*KIDS_BANDS[b]["sky_brightness"])) for b in spec.bands}}
    if kind in ("lens_host", "survey_host"):
        row.update(host_index=int(rng.integers(0, n_hosts)), aug_rot90=int(rng.integers(0, 4)),
                   aug_flip=bool(rng.integers(0, 2)))
    else:
        mag = float(rng.uniform(*spec.lens_mag))
        row["mag_lens"] = mag
        row["lens_colour"] = _colours(rng, spec, "red")
        if kind in ("lens_rendered", "elliptical", "elliptical_companion"):
            row["lens_light"] = draw_lens_light(rng, spec)
        elif kind == "irregular":
            row["galaxy"] = draw_morphology(rng, "clumpy", float(rng.uniform(1.0, 3.5)))
        elif kind in ("spiral", "edge_on"):
            row["galaxy"] = draw_morphology(rng, kind, float(rng.uniform(1.2, 4.0)))
        else:
            row["galaxy"] = draw_morphology(rng, "ring", float(rng.uniform(1.0, 3.5)))
        if "galaxy" in row:
            row["lens_colour"] = _colours(rng, spec, "blue" if kind != "ring" else "red")
    if kind == "elliptical_companion":
        d, where = rng.uniform(*spec.companion_distance_arcsec), rng.uniform(-np.pi, np.pi)
        morph = "shapelets" if rng.uniform() < 0.5 else "clumpy"
        size = float(np.exp(rng.uniform(np.log(0.1), np.log(0.6))))
        row["companion"] = {"x": float(d * np.cos(where)), "y": float(d * np.sin(where)), "distance_arcsec": float(d),
                            "mag": row["mag_lens"] + float(rng.uniform(*spec.companion_mag_offset)),
                            "morphology": morph, "size_arcsec": size, "params": draw_morphology(rng, morph, size),
                            "colour": _colours(rng, spec, "blue" if rng.uniform() < 0.5 else "red")}
    if is_lens:
        row["lens"] = _lens_geometry(rng, spec)
    return row
