"""Host stamps for semi-real training images (Li et al. 2020, section 2.2).

Simulated arcs are painted onto real galaxy stamps written by the stamps
stage (``results/stamps/{tile}.fits`` cube + ``.parquet`` index, see
``docs/architecture.md``); negatives are the real stamps themselves. This
module reads and selects the hosts, augments them and makes the Gaussian
random field that perturbs the lens potential; :mod:`lensfinder.simulate`
draws and renders the images (recipe ``li2020``).

Choices (documented defaults, parameters of the recipe)
-------------------------------------------------------
- Hosts for arcs: index rows with ``host_flag`` true (``lrg_li2020``; all
  rows when the column is absent or the flag is empty); negatives: rows
  with ``negative_flag`` true (empty: all rows). Rows with ``edge`` set or
  ``nan_fraction > 0`` are left out; a chosen stamp that still holds NaNs or
  only zeros is an error naming it.
- Augmentation of hosts (positives and negatives): a rotation by k x 90 deg
  and an optional flip, which need no interpolation (Li et al. also shift
  and rescale; not done).
- Potential perturbation: a Gaussian random field with power spectrum
  ``P(k) ∝ k^-grf_slope`` (``grf_slope = 6``, smooth on the scale of the
  stamp), scaled so that the rms of its deflection over the stamp is
  ``grf_deflection_rms_arcsec`` (U(0, 0.05") by default); Petrillo et al.
  (2019a) values are not at hand.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from .io import InputError

__all__ = ["HostStamps", "load_hosts", "host_stamp", "augment", "grf_deflection"]


class HostStamps:
    """Stamp cubes and their index rows, with lazy, cached reading.

    Parameters
    ----------
    paths : sequence of str
        Cube files (``*.fits`` with a ``.parquet`` index beside) or directories
        holding them.
    """

    def __init__(self, paths):
        import pandas as pd

        from .io import read_table

        files = []
        for item in paths:
            path = Path(item)
            if path.is_dir():
                files.extend(sorted(path.glob("*.fits")))
            elif path.exists():
                files.append(path)
            else:
                raise InputError(f"host_stamps: {path}: file or directory not found")
        if not files:
            raise InputError("host_stamps: no stamp cubes given (expected *.fits with a .parquet index beside each)")
        parts = []
        for k, f in enumerate(files):
            index = read_table(f.with_suffix(".parquet"), required=["object_id", "psf_fwhm_arcsec", "pixel_scale_arcsec"])
            index = index.assign(file_index=k, row=np.arange(len(index)), host_file=str(f))
            parts.append(index)
        self.files = [str(f) for f in files]
        self.index = pd.concat(parts, ignore_index=True)
        self._selected = {}

    def select(self, flag: str):
        """Positions (rows of :attr:`index`) usable as hosts, with ``flag`` true if given (cached)."""
        if flag not in self._selected:
            self._selected[flag] = self._select(flag)
        return self._selected[flag]

    def _select(self, flag: str):
        ok = np.ones(len(self.index), dtype=bool)
        if flag and flag in self.index.columns:
            ok &= self.index[flag].fillna(False).to_numpy(dtype=bool)
        if "edge" in self.index.columns:
            ok &= ~self.index["edge"].fillna(False).to_numpy(dtype=bool)
        if "nan_fraction" in self.index.columns:
            ok &= self.index["nan_fraction"].fillna(0).to_numpy(dtype=float) <= 0
        return np.flatnonzero(ok)

    def geometry(self):
        """(stamp size, pixel scale arcsec, zero point mag) shared by all cubes; error if they differ."""
        sizes = {int(_cube(f).shape[-1]) for f in self.files}
        scales = set(np.round(self.index["pixel_scale_arcsec"].to_numpy(dtype=float), 6))
        zps = set(self.index["zeropoint_mag"].to_numpy(dtype=float)) if "zeropoint_mag" in self.index else {30.0}
        if len(sizes) != 1 or len(scales) != 1 or len(zps) != 1:
            raise InputError(f"host_stamps: stamps differ in size {sorted(sizes)}, pixel scale {sorted(scales)} "
                             f"or zero point {sorted(zps)}; simulate one geometry per shard")
        return sizes.pop(), float(scales.pop()), float(zps.pop())


@functools.lru_cache(maxsize=4)
def load_hosts(paths: tuple) -> HostStamps:
    """Cached :class:`HostStamps` for a tuple of paths."""
    return HostStamps(list(paths))


def augment(stamp, rot90: int, flip: bool):
    """Rotate a stamp by ``rot90`` x 90 deg (counter-clockwise), then flip left-right if ``flip``."""
    out = np.rot90(stamp, int(rot90) % 4)
    return np.ascontiguousarray(out[:, ::-1] if flip else out)


def grf_deflection(seed: int, rms_arcsec: float, size: int, pixel_scale_arcsec: float, slope: float = 6.0):
    """Deflection (arcsec) of a Gaussian-random-field potential on a ``size`` x ``size`` stamp.

    The potential has power spectrum ``P(k) ∝ k^-slope`` (k > 0), is drawn from
    ``default_rng(seed)`` and scaled so that the rms deflection over the
    stamp is ``rms_arcsec``.

    Returns
    -------
    alpha_x, alpha_y : ndarray, float64, shape (size, size)
    """
    if rms_arcsec <= 0:
        z = np.zeros((size, size))
        return z, z
    rng = np.random.default_rng(np.random.SeedSequence(int(seed)))
    noise = rng.standard_normal((size, size))
    kx = np.fft.fftfreq(size)
    k = np.hypot(kx[None, :], kx[:, None])
    amp = np.zeros_like(k)
    amp[k > 0] = k[k > 0] ** (-slope / 2.0)
    psi = np.fft.ifft2(np.fft.fft2(noise) * amp).real
    gy, gx = np.gradient(psi, pixel_scale_arcsec)
    rms = np.sqrt(np.mean(gx**2 + gy**2))
    if rms == 0:  # pragma: no cover
        return np.zeros_like(gx), np.zeros_like(gy)
    return gx * (rms_arcsec / rms), gy * (rms_arcsec / rms)


@functools.lru_cache(maxsize=64)
def _cube(host_file: str):
    from .io import read_cube

    images, _ = read_cube(host_file)
    return images


def host_stamp(host_file: str, row: int, rot90: int = 0, flip: bool = False):
    """One host stamp by file and row, checked and augmented (float32).

    Raises
    ------
    InputError
        Missing file, row outside the cube, NaN/infinite pixels or an all-zero stamp.
    """
    images = _cube(str(host_file))
    if not 0 <= int(row) < len(images):
        raise InputError(f"{host_file}: host row {row} outside the cube ({len(images)} stamps)")
    stamp = np.asarray(images[int(row)], dtype=np.float32)
    if not np.all(np.isfinite(stamp)):
        raise InputError(f"{host_file}: host row {row}: stamp has NaN or infinite pixels")
    if not np.any(stamp):
        raise InputError(f"{host_file}: host row {row}: stamp is all zeros")
    return augment(stamp, rot90, flip)
