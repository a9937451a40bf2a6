"""Host stamps of the semi-real recipes (Li et al. 2020, section 2.2; He et al. 2020, section 4.2).

Reads and chooses the stamps that arcs are painted on (and that serve as
negatives), augments them, and makes the Gaussian random field that perturbs
the lens potential; the choices are listed in ``docs/simulation.md``
(semi-real images).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from lensfinder.constants import MOFFAT_FIT_PREFIXES, STAMP_BAND_PREFIXES
from lensfinder.io import InputError, bool_column, read_table, require_columns
from lensfinder.simulation.components import uniform

__all__ = ["HostStamps", "load_hosts", "draw_host", "draw_augmentation", "host_stamp", "augment", "augment_image",
           "sky_sigma", "host_flux", "grf_deflection", "holdout_fraction_of"]


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

        from lensfinder.io import read_table

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
        #: the index's Moffat fits of its tiles' PSFs, every band's (the stamps stage's ``psf_moffat_*``)
        self.moffat_columns = [c for c in self.index.columns if c.startswith(MOFFAT_FIT_PREFIXES)]
        #: the index's seeing and zero point of each band (``psf_fwhm_arcsec_{band}``, ``zeropoint_mag_{band}``)
        self.band_columns = [c for c in self.index.columns if c.startswith(STAMP_BAND_PREFIXES)]
        self._selected = {}

    def select(self, flag: str, exclude: tuple = ()):
        """Positions (rows of :attr:`index`) usable as hosts, with ``flag`` true if given, none whose
        ``object_id`` :func:`excluded_ids` of the tables ``exclude`` names (cached)."""
        key = (flag, tuple(exclude))
        if key not in self._selected:
            rows = self._select(flag)
            if exclude:
                out = self.index["object_id"].astype(str).isin(excluded_ids(tuple(exclude))).to_numpy()
                rows = rows[~out[rows]]
            self._selected[key] = rows
        return self._selected[key]

    def _select(self, flag: str):
        ok = np.ones(len(self.index), dtype=bool)
        if flag and flag in self.index.columns:
            ok &= self.index[flag].fillna(False).to_numpy(dtype=bool)
        if "edge" in self.index.columns:
            ok &= ~self.index["edge"].fillna(False).to_numpy(dtype=bool)
        if "nan_fraction" in self.index.columns:
            ok &= self.index["nan_fraction"].fillna(0).to_numpy(dtype=float) <= 0
        return np.flatnonzero(ok)

    def held_out(self, holdout: float, by: str = "object"):
        """Bool per index row: on the test side of a split holding out ``holdout`` of the hosts
        (:func:`holdout_fraction_of` of the ``object_id``, or of the ``tile`` with ``by="tile"``)."""
        key = ("held_out", by)
        if key not in self._selected:
            column = "tile" if by == "tile" else "object_id"
            if column not in self.index.columns:
                raise InputError(f"host_split_by: {by}: the host index of {', '.join(self.files)} has no "
                                 f"column {column!r}")
            self._selected[key] = holdout_fraction_of(self.index[column].astype(str))
        return self._selected[key] < holdout

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
def excluded_ids(paths: tuple) -> frozenset:
    """The ids of ``host_exclude``'s tables: ``ID`` or ``object_id`` of the rows with ``is_lens`` true, every
    row of a table without that column (a list of known lenses)."""
    ids = set()
    for path in paths:
        table = read_table(path)
        column = "ID" if "ID" in table.columns else "object_id"
        require_columns(table, [column], str(path), "host_exclude: the ids of stamps never used as hosts")
        if "is_lens" in table.columns:
            table = table[bool_column(table["is_lens"].to_numpy(), str(path), "is_lens")]
        ids |= set(table[column].astype(str))
    return frozenset(ids)


@functools.lru_cache(maxsize=4)
def load_hosts(paths: tuple) -> HostStamps:
    """Cached :class:`HostStamps` for a tuple of paths."""
    return HostStamps(list(paths))


def holdout_fraction_of(names):
    """A number in [0, 1) per name, fixed by the name alone (BLAKE2b): names below ``host_holdout``
    are the test side of the host split, whatever the seed, set or recipe."""
    import hashlib

    return np.array([int.from_bytes(hashlib.blake2b(str(v).encode(), digest_size=8).digest(), "big") / 2.0**64
                     for v in names])


def _flag_columns(index):
    """The boolean (sample flag) columns of a stamp index."""
    return [c for c in index.columns if index[c].dtype == bool and c != "edge"]


def _host_pool(recipe, is_lens, disk):
    """(HostStamps, candidate positions) for a semi-real row."""
    p = recipe
    if disk and p.disk_stamps:
        hosts, flag, key = load_hosts(tuple(p.disk_stamps)), "", "disk_stamps"
    else:
        hosts = load_hosts(tuple(p.host_stamps))
        flag = p.disk_flag if disk else (p.host_flag if is_lens else p.negative_flag)
        key = "host_stamps"
        if flag and flag not in hosts.index.columns:
            name = "disk_flag" if disk else ("host_flag" if is_lens else "negative_flag")
            raise InputError(f"{name}: column {flag!r} not in the stamp index of {', '.join(hosts.files)}; expected "
                             f"one of its sample flags ({', '.join(_flag_columns(hosts.index)) or 'none'}), or "
                             f"empty for every stamp")
    candidates = hosts.select(flag, p.host_exclude)
    if not disk and p.disk_flag and p.disk_flag in hosts.index.columns:  # disks only as disks
        is_disk = hosts.index[p.disk_flag].fillna(False).to_numpy(dtype=bool)
        candidates = candidates[~is_disk[candidates]]
    split = ""
    if p.host_holdout > 0 and p.host_split != "all":  # train and test sets draw from disjoint hosts
        test = hosts.held_out(p.host_holdout, p.host_split_by)[candidates]
        candidates = candidates[test if p.host_split == "test" else ~test]
        split = f", {p.host_split} side of host_holdout={p.host_holdout}"
    if not len(candidates):
        raise InputError(f"{key}: no usable stamp (flag {flag!r}, no edge, no NaN, not in host_exclude{split}) in "
                         f"{', '.join(hosts.files)}")
    return hosts, candidates


def draw_host(rng, recipe, is_lens: bool):
    """The host stamp of a semi-real row and its first augmentation stage.

    Parameters
    ----------
    rng : numpy.random.Generator
        The image's generator.
    recipe : lensfinder.simulation.recipes.Recipe
        A semi-real recipe (``host_stamps``, flags, ``disk_fraction``, ``aug_rot90_flip``).
    is_lens : bool
        Host of an arc (``host_flag``) or a negative (``negative_flag``; a
        disk galaxy with probability ``disk_fraction``).

    Returns
    -------
    host : dict
        ``host_file, host_row, host_object_id``, ``psf_fwhm_host`` and
        ``host_tile`` (the index's seeing and tile), the index's Moffat
        fits of its tile's PSF in every band where it has them
        (``psf_moffat_fwhm_arcsec_{band}``, ``psf_moffat_beta_{band}``: the
        colour residual's PSF match reads them in training as scoring reads
        them from the survey's stamp index), its seeing and zero point in every band the index has
        (``host_psf_fwhm_arcsec_{band}``, ``host_zeropoint_mag_{band}``: the arcs of each band are
        painted with them) and, with ``aug_rot90_flip``,
        ``aug_rot90, aug_flip``.
    disk : bool
        Whether the negative is a disk galaxy.
    """
    disk = (not is_lens) and recipe.disk_fraction > 0 and bool(rng.uniform() < recipe.disk_fraction)
    hosts, candidates = _host_pool(recipe, is_lens, disk)
    info = hosts.index.iloc[int(candidates[int(rng.integers(len(candidates)))])]
    host = {"host_file": str(info["host_file"]), "host_row": int(info["row"]), "host_object_id": str(info["object_id"]),
            "psf_fwhm_host": float(info["psf_fwhm_arcsec"]), "host_tile": str(info.get("tile", ""))}
    host.update({c: float(info[c]) for c in hosts.moffat_columns})
    host.update({f"host_{c}": float(info[c]) for c in hosts.band_columns})
    if recipe.host_holdout > 0 and recipe.host_split != "all":
        host["host_split"] = recipe.host_split
    if recipe.aug_rot90_flip:
        host.update(aug_rot90=int(rng.integers(4)), aug_flip=bool(rng.integers(2)))
    try:  # bad pixels are an error naming the object, before anything is written
        host_stamp(host["host_file"], host["host_row"])
    except InputError as exc:
        raise InputError(f"{exc} (object {host['host_object_id']})") from None
    return host, disk


def draw_augmentation(rng, recipe) -> dict:
    """The second augmentation stage of a semi-real row, applied by :func:`augment_image`: a rotation,
    a shift, a crop on each side (zero-padded back), a flux scale and the interpolation order."""

    def integer(lo_hi):
        return int(rng.integers(int(lo_hi[0]), int(lo_hi[1]) + 1))

    p = recipe
    return {"aug_rotation_deg": uniform(rng, p.aug_rotation_deg),
            "aug_shift_x_pix": integer(p.aug_shift_pix), "aug_shift_y_pix": integer(p.aug_shift_pix),
            "aug_crop_left": integer(p.aug_crop_pix), "aug_crop_right": integer(p.aug_crop_pix),
            "aug_crop_bottom": integer(p.aug_crop_pix), "aug_crop_top": integer(p.aug_crop_pix),
            "aug_flux_scale": uniform(rng, p.aug_flux_scale), "aug_seed": int(rng.integers(2**63)),
            "aug_interpolation_order": int(p.aug_interpolation_order)}


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
def _cube(host_file: str, band: str = "r"):
    """The host cube's images in ``band`` (the detection band, where the arcs are painted)."""
    from lensfinder.io import cube_bands, read_cube, select_bands

    images, header = read_cube(host_file)
    if images.ndim == 3 and "BANDS" not in header:
        if band != "r":
            raise InputError(f"{host_file}: band {band!r}: the host stamps hold the r band alone (a 3-D cube "
                             "without BANDS); cut them in every band of the simulation's bands")
        return images
    return select_bands(images, cube_bands(header, host_file), (band,), host_file)[:, 0]


def host_stamp(host_file: str, row: int, rot90: int = 0, flip: bool = False, band: str = "r"):
    """One host stamp by file, row and band, checked and augmented (float32).

    Raises
    ------
    InputError
        Missing file, row outside the cube, NaN/infinite pixels or an all-zero stamp.
    """
    images = _cube(str(host_file), band)
    if not 0 <= int(row) < len(images):
        raise InputError(f"{host_file}: host row {row} outside the cube ({len(images)} stamps)")
    stamp = np.asarray(images[int(row)], dtype=np.float32)
    if not np.all(np.isfinite(stamp)):
        raise InputError(f"{host_file}: host row {row}: stamp has NaN or infinite pixels")
    if not np.any(stamp):
        raise InputError(f"{host_file}: host row {row}: stamp is all zeros")
    return augment(stamp, rot90, flip)


def sky_sigma(pixels) -> float:
    """Robust sky sigma of background-subtracted pixels: 1.4826 x median absolute deviation."""
    v = np.asarray(pixels, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if not len(v):
        return 0.0
    return float(1.4826 * np.median(np.abs(v - np.median(v))))


def host_flux(stamp, radius_arcsec: float, pixel_scale_arcsec: float) -> float:
    """Counts of a stamp within ``radius_arcsec`` of its centre pixel."""
    n = stamp.shape[-1]
    c = (n - 1) / 2.0
    yy, xx = np.ogrid[:n, :n]
    inside = (xx - c) ** 2 + (yy - c) ** 2 <= (radius_arcsec / pixel_scale_arcsec) ** 2
    return float(np.sum(stamp[inside], dtype=np.float64))


def augment_image(image, rotation_deg: float = 0.0, shift_x_pix: int = 0, shift_y_pix: int = 0,
                  crop=(0, 0, 0, 0), flux_scale: float = 1.0, seed: int = 0, order: int = 3):
    """Rotate, shift, crop (noise-filled) and rescale one stamp (second augmentation stage).

    Parameters
    ----------
    image : ndarray (n, n)
        Counts, background subtracted.
    rotation_deg : float
        Counter-clockwise rotation about the stamp centre (x = column, y = row).
    shift_x_pix, shift_y_pix : int
        Shift after the rotation, whole pixels.
    crop : (left, right, bottom, top)
        Pixels cropped from each edge (bottom = the first rows); refilled with noise.
    flux_scale : float
        Factor applied to all pixels at the end.
    seed : int
        Seed of the fill noise.
    order : int
        Spline order of the rotation (not used for multiples of 90 deg).

    Returns
    -------
    ndarray, float32, same shape.
    """
    from scipy import ndimage

    img = np.asarray(image, dtype=np.float32)
    n_y, n_x = img.shape
    sx, sy = int(shift_x_pix), int(shift_y_pix)
    angle = float(rotation_deg) % 360.0
    left, right, bottom, top = (int(v) for v in crop)
    if angle == 0.0 and sx == 0 and sy == 0 and not any(crop) and flux_scale == 1.0:
        return img.copy()
    valid = np.ones((n_y, n_x), dtype=bool)
    if angle in (0.0, 90.0, 180.0, 270.0):  # exact: no interpolation
        out = np.rot90(img, -int(angle // 90))  # counter-clockwise with y (rows) up, as below
        shifted = np.zeros_like(out)
        valid[:] = False
        ys = slice(max(sy, 0), n_y + min(sy, 0))
        xs = slice(max(sx, 0), n_x + min(sx, 0))
        ys0 = slice(max(-sy, 0), n_y + min(-sy, 0))
        xs0 = slice(max(-sx, 0), n_x + min(-sx, 0))
        shifted[ys, xs] = out[ys0, xs0]
        valid[ys, xs] = True
        out = shifted
    else:
        cy, cx = (n_y - 1) / 2.0, (n_x - 1) / 2.0
        rows, cols = np.mgrid[:n_y, :n_x].astype(np.float64)
        dx, dy = cols - cx - sx, rows - cy - sy
        t = np.radians(angle)
        src_x = cx + np.cos(t) * dx + np.sin(t) * dy
        src_y = cy - np.sin(t) * dx + np.cos(t) * dy
        out = ndimage.map_coordinates(img.astype(np.float64), [src_y, src_x], order=int(order), mode="nearest")
        out = out.astype(np.float32)
        eps = 1e-9
        valid = (src_x >= -eps) & (src_x <= n_x - 1 + eps) & (src_y >= -eps) & (src_y <= n_y - 1 + eps)
    if left:
        valid[:, :left] = False
    if right:
        valid[:, n_x - right:] = False
    if bottom:
        valid[:bottom, :] = False
    if top:
        valid[n_y - top:, :] = False
    if not valid.all():
        sigma = sky_sigma(out[valid])
        rng = np.random.default_rng(np.random.SeedSequence(int(seed)))
        out[~valid] = (rng.standard_normal(int((~valid).sum())) * sigma).astype(np.float32)
    if flux_scale != 1.0:
        out *= np.float32(flux_scale)
    return np.ascontiguousarray(out, dtype=np.float32)
