"""Streaming access to image cubes and training shard sets, and toy data (docs/learning.md).

:class:`CubeReader` reads cube rows with positioned reads (memory constant in
the number of images); :class:`ShardSet` joins training shards into one set
holding only labels and row offsets; :func:`toy_lens_images` is a quick,
separable fixture for tests and benchmarks.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

from lensfinder.checks import require_cube_matches_index
from lensfinder.io import InputError, bool_column, cube_bands, fits_extent, require_whole_fits

__all__ = ["CubeReader", "ShardSet", "resolve_shards", "toy_lens_images", "write_toy_shard", "TOY_COLOURS"]

_BITPIX_DTYPE = {8: "u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}


class CubeReader:
    """Row access to a FITS image cube ``(n, ny, nx)`` or ``(n, n_bands, ny, nx)`` without loading it.

    Parameters
    ----------
    path : path
        A cube written by :func:`lensfinder.io.write_cube` (primary HDU,
        float32 or scaled int16; an empty cube is a header with
        ``STAMPNY``/``STAMPNX``).

    Attributes
    ----------
    n : int
        Number of images.
    shape : tuple of int
        ``(ny, nx)`` of each image in pixels.
    bands : tuple of str
        The cube's bands (:func:`lensfinder.io.cube_bands`).
    image_shape : tuple of int
        Shape of one row as stored and read: ``(ny, nx)`` for one band,
        ``(n_bands, ny, nx)`` for several.
    header : astropy.io.fits.Header
        The primary header.
    """

    def __init__(self, path):
        self.path = Path(path)
        if not self.path.exists():
            raise InputError(f"{self.path}: file not found")
        try:
            self.header, data_offset, data_bytes = fits_extent(self.path)
        except OSError as exc:
            raise InputError(f"{self.path}: not a readable FITS file ({exc})") from exc
        hdr = self.header
        naxis = int(hdr.get("NAXIS", 0))
        self.bands = cube_bands(hdr, str(self.path))
        if naxis == 0:
            self.n = 0
            self.shape = (int(hdr.get("STAMPNY", 0)), int(hdr.get("STAMPNX", 0)))
        elif naxis in (3, 4):
            self.n = int(hdr[f"NAXIS{naxis}"])
            self.shape = (int(hdr["NAXIS2"]), int(hdr["NAXIS1"]))
        else:
            raise InputError(f"{self.path}: NAXIS: expected an image cube (n, ny, nx) or (n, n_bands, ny, nx), "
                             f"got {naxis} axes")
        self.image_shape = self.shape if len(self.bands) == 1 else (len(self.bands), *self.shape)
        bitpix = int(hdr["BITPIX"])
        if bitpix not in _BITPIX_DTYPE:
            raise InputError(f"{self.path}: BITPIX: unsupported value {bitpix}")
        self._dtype = np.dtype(_BITPIX_DTYPE[bitpix])
        self._bscale = float(hdr.get("BSCALE", 1.0))
        self._bzero = float(hdr.get("BZERO", 0.0))
        self._row_pixels = int(np.prod(self.image_shape))
        self._row_bytes = self._dtype.itemsize * self._row_pixels
        self._offset = data_offset
        if self.n:
            require_whole_fits(self.path, data_offset + data_bytes)
        self._fd = os.open(self.path, os.O_RDONLY)

    def __len__(self) -> int:
        return self.n

    def close(self) -> None:
        """Close the file descriptor (also done on garbage collection)."""
        fd, self._fd = getattr(self, "_fd", None), None
        if fd is not None:
            os.close(fd)

    def __del__(self):
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _convert(self, raw: np.ndarray, count: int) -> np.ndarray:
        if raw.dtype == np.dtype(">f4"):
            # swap the bytes in place: no second copy of the batch
            out = raw.byteswap(inplace=True).view(np.float32).reshape(count, *self.image_shape)
        else:
            out = raw.reshape(count, *self.image_shape).astype(np.float32)
        if self._bscale != 1.0 or self._bzero != 0.0:
            out = out * np.float32(self._bscale) + np.float32(self._bzero)
        return out

    def read(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` as float32 ``(stop - start, *image_shape)`` in physical units (a new, writable array)."""
        start, stop = max(0, int(start)), min(self.n, int(stop))
        count = max(0, stop - start)
        raw = np.empty(count * self._row_pixels, dtype=self._dtype)
        if count:
            got = os.preadv(self._fd, [raw], self._offset + start * self._row_bytes)
            if got != raw.nbytes:
                raise InputError(f"{self.path}: short read at rows {start}:{stop}")
        return self._convert(raw, count)

    def take(self, rows: Sequence[int]) -> np.ndarray:
        """Rows in the given order, as float32 ``(len(rows), *image_shape)``."""
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= self.n):
            raise IndexError(f"{self.path}: rows outside 0..{self.n - 1}")
        raw = np.empty(rows.size * self._row_pixels, dtype=self._dtype)
        view = raw.view(np.uint8)
        for i, row in enumerate(rows):
            chunk = view[i * self._row_bytes:(i + 1) * self._row_bytes]
            if os.preadv(self._fd, [chunk], self._offset + int(row) * self._row_bytes) != self._row_bytes:
                raise InputError(f"{self.path}: short read at row {row}")
        return self._convert(raw, rows.size)


def resolve_shards(items: Sequence[str | os.PathLike]) -> list[tuple[Path, Path]]:
    """``(cube, metadata)`` pairs from directories, ``.fits`` or ``.parquet`` paths.

    A directory contributes its ``shard_*.fits``; a file its pair with the
    same stem. Sorted, duplicates removed.
    """
    pairs: dict[Path, Path] = {}
    for item in items:
        p = Path(item)
        if p.is_dir():
            cubes = sorted(p.glob("shard_*.fits"))
            if not cubes:
                raise InputError(f"{p}: no shard_*.fits files in this directory")
        elif p.suffix in (".fits", ".parquet"):
            cubes = [p.with_suffix(".fits")]
        else:
            raise InputError(f"{p}: expected a directory of shards, a .fits cube or its .parquet table")
        for cube in cubes:
            meta = cube.with_suffix(".parquet")
            for f in (cube, meta):
                if not f.exists():
                    raise InputError(f"{f}: file not found (a shard is a .fits cube plus a .parquet table)")
            pairs[cube.resolve()] = meta.resolve()
    if not pairs:
        raise InputError("no training shards given")
    return sorted(pairs.items())


def _read_labels(meta: Path, label_column: str):
    """Only ``object_id`` and the label of a metadata table (not its other columns)."""
    import pyarrow.parquet as pq

    from lensfinder.io import read_table

    try:
        names = pq.read_schema(meta).names
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise InputError(f"{meta}: cannot read as Parquet: {exc}") from exc
    missing = [c for c in ("object_id", label_column) if c not in names]
    if missing:
        raise InputError(f"{meta}: missing column(s) {', '.join(missing)}; a shard table needs object_id and {label_column}")
    # tile too where it has one: a cube with TILE (survey stamps) is checked against it
    tile = ["tile"] if "tile" in names and label_column != "tile" else []
    return read_table(meta, columns=["object_id", label_column, *tile])


class ShardSet:
    """Training shards as one set of labelled images, read on demand.

    Parameters
    ----------
    items : sequence of path
        Directories or shard files (:func:`resolve_shards`).
    label_column : str
        Boolean metadata column holding the label (``is_lens``).

    Attributes
    ----------
    bands : tuple of str
        The shards' bands (every shard must have the same).
    shape : tuple of int
        ``(ny, nx)`` of the images.
    """

    def __init__(self, items, label_column: str = "is_lens"):
        self.pairs = resolve_shards(items)
        self.readers: list[CubeReader] = []
        labels = []
        for cube, meta in self.pairs:
            reader = CubeReader(cube)
            table = _read_labels(meta, label_column)
            require_cube_matches_index(cube, reader.header, reader.n, table, meta, cube_label=f"the cube {cube.name}")
            if reader.n and self.readers and reader.shape != self.readers[0].shape:
                raise InputError(f"{cube}: images of {reader.shape}, other shards have {self.readers[0].shape}")
            if self.readers and reader.bands != self.readers[0].bands:
                raise InputError(f"{cube}: bands {','.join(reader.bands)}, but {self.pairs[0][0].name} has "
                                 f"{','.join(self.readers[0].bands)}; every training shard needs the same bands")
            labels.append(bool_column(table[label_column].to_numpy(), str(meta), label_column))
            self.readers.append(reader)
        non_empty = [r for r in self.readers if r.n]
        if not non_empty:
            raise InputError(f"{self.pairs[0][0].parent}: all training shards are empty")
        self.shape = non_empty[0].shape
        self.bands = non_empty[0].bands
        self.image_shape = non_empty[0].image_shape
        self.pixel_scale_arcsec = float(non_empty[0].header.get("PIXSCALE", float("nan")))
        for reader in non_empty:  # one pixel grid and flux scale for the network
            for key, unit in (("PIXSCALE", "arcsec/px"), ("ZEROPT", "mag")):
                first, this = non_empty[0].header.get(key), reader.header.get(key)
                if this is not None and first is not None and not np.isclose(this, first, rtol=1e-6):
                    raise InputError(f"{reader.path}: header {key} {this} {unit}, but {non_empty[0].path.name} has "
                                     f"{first}; every training shard needs the same pixel scale and zero point")
        self.labels = np.concatenate(labels)
        self.offsets = np.concatenate([[0], np.cumsum([r.n for r in self.readers])])
        self.n = int(self.offsets[-1])
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self.n

    def column(self, name: str) -> np.ndarray:
        """A float metadata column over all shards, in global index order; NaN for the rows of a
        shard whose table lacks it."""
        import pyarrow.parquet as pq

        from lensfinder.io import read_table

        parts = []
        for (_, meta), reader in zip(self.pairs, self.readers):
            if name in pq.read_schema(meta).names:
                parts.append(read_table(meta, columns=[name])[name].to_numpy(dtype=float))
            else:
                parts.append(np.full(reader.n, np.nan))
        return np.concatenate(parts) if parts else np.zeros(0)

    def take(self, indices) -> np.ndarray:
        """Images for global indices, in the given order: float32 ``(k, *image_shape)``."""
        indices = np.asarray(indices, dtype=np.int64)
        out = np.empty((indices.size, *self.image_shape), dtype=np.float32)
        shard = np.searchsorted(self.offsets, indices, side="right") - 1
        for s in np.unique(shard):
            sel = np.flatnonzero(shard == s)
            out[sel] = self.readers[s].take(indices[sel] - self.offsets[s])
        return out

    def data_hash(self, length: int = 16) -> str:
        """SHA-256 over every shard's cube and table bytes (identifies the training data)."""
        digest = hashlib.sha256()
        for cube, meta in self.pairs:
            for f in (cube, meta):
                digest.update(f.name.encode())
                with open(f, "rb") as fh:
                    for chunk in iter(lambda: fh.read(1 << 22), b""):
                        digest.update(chunk)
        return digest.hexdigest()[:length]


#: Toy colours: flux of the galaxy (and companion) and of the ring per band, relative to r.
#: A red galaxy and a blue ring, the cue a colour network can use; other bands are grey (1, 1).
TOY_COLOURS = {"g": (0.4, 1.4), "r": (1.0, 1.0), "i": (1.5, 0.7), "z": (1.8, 0.5)}


def toy_lens_images(n: int, size: int = 101, rng=None, lens_fraction: float = 0.5,
                    noise: float = 1.0, bands=None):
    """A quick, separable set: Gaussian galaxies, half of them with an Einstein ring.

    Not physics (see ``lensfinder.simulation`` for that): a test fixture that a
    small network separates in one or two epochs.

    Parameters
    ----------
    n : int
        Number of images.
    size : int
        Side in pixels.
    rng : numpy.random.Generator
        Source of randomness (``default_rng(0)`` if None).
    lens_fraction : float
        Probability that an image gets a ring.
    noise : float
        Gaussian noise sigma in counts.
    bands : sequence of str, optional
        Several bands: a red galaxy and a blue ring (:data:`TOY_COLOURS`),
        independent noise per band. None: one band, as before bands existed.

    Returns
    -------
    images : numpy.ndarray, float32, shape (n, size, size), or (n, n_bands, size, size) with ``bands``
    is_lens : numpy.ndarray of bool, shape (n,)
    theta_E : numpy.ndarray, ring radius in pixels (0 for non-lenses)
    """
    rng = np.random.default_rng(0) if rng is None else rng
    colours = [TOY_COLOURS.get(b, (1.0, 1.0)) for b in bands] if bands is not None else None
    yy, xx = np.mgrid[:size, :size].astype(np.float32) - (size - 1) / 2
    is_lens = rng.random(n) < lens_fraction
    images = np.empty((n, size, size) if colours is None else (n, len(colours), size, size), dtype=np.float32)
    theta_e = np.where(is_lens, rng.uniform(0.12, 0.3, n) * size, 0.0)
    for i in range(n):
        dx, dy = rng.normal(0, 1.0, 2)
        r2 = (xx - dx) ** 2 + (yy - dy) ** 2
        galaxy = 40.0 * np.exp(-r2 / (2 * (0.04 * size) ** 2))
        extra = 0.0
        if is_lens[i]:
            ring = 12.0 * np.exp(-((np.sqrt(r2) - theta_e[i]) ** 2) / (2 * 1.5 ** 2))
        else:
            # a companion blob so that non-lenses are not simply "one blob"
            ox, oy = rng.uniform(-0.3, 0.3, 2) * size
            extra = 15.0 * np.exp(-((xx - ox) ** 2 + (yy - oy) ** 2) / (2 * 2.0 ** 2))
        if colours is None:
            galaxy = galaxy + ring if is_lens[i] else galaxy + extra
            images[i] = galaxy + rng.normal(0, noise, (size, size))
            continue
        for k, (red, blue) in enumerate(colours):
            light = red * (galaxy + extra) + (blue * ring if is_lens[i] else 0.0)
            images[i, k] = light + rng.normal(0, noise, (size, size))
    return images, is_lens, theta_e


def write_toy_shard(directory, shard: int, n: int, size: int = 101, seed: int = 0,
                    lens_fraction: float = 0.5, bands=None):
    """Write ``shard_XXX.fits`` + ``.parquet`` of :func:`toy_lens_images` into ``directory``.

    Returns the cube path. The table has ``object_id``, ``is_lens``,
    ``theta_E`` (arcsec at 0.2"/px), ``snr`` and ``shard``. ``bands``: a cube
    of several bands (``BANDS`` in its header).
    """
    import pandas as pd

    from lensfinder.io import write_cube, write_table

    rng = np.random.default_rng(np.random.SeedSequence([seed, shard]))
    images, is_lens, theta_e_pix = toy_lens_images(n, size, rng, lens_fraction, bands=bands)
    directory = Path(directory)
    cube = directory / f"shard_{shard:03d}.fits"
    write_cube(images, cube, pixel_scale_arcsec=0.2, zeropoint_mag=30.0, bands=bands)
    table = pd.DataFrame({
        "object_id": [f"toy-{seed}-{shard}-{i}" for i in range(n)],
        "is_lens": is_lens,
        "theta_E": theta_e_pix * 0.2,
        "snr": np.where(is_lens, rng.uniform(5, 50, n), 0.0),
        "shard": np.full(n, shard, dtype=np.int64),
    })
    write_table(table, cube.with_suffix(".parquet"))
    return cube
