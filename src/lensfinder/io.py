"""Atomic file output and the on-disk formats shared by every step.

Formats
-------
Image cube (``*.fits``)
    Primary HDU, float32 array of shape ``(n_images, n_bands, ny, nx)`` with
    header ``BANDS = 'g,r,i'``; a cube of one band is stored ``(n_images, ny,
    nx)``, and a 3-D cube without ``BANDS`` is the r band (today's files and
    external cubes). Other header keys: ``PIXSCALE`` (arcsec/px), ``ZEROPT``
    (mag zero point of the counts; per band in the companion table) and
    ``NIMAGES``. Row ``k`` of the cube belongs to row ``k`` of its companion
    Parquet table (index or metadata), which always has an ``object_id``
    (string) column.
Tables
    Parquet (pyarrow). Every writer goes through :func:`write_table`, which
    writes to a temporary name in the same directory and renames it, so a
    killed job never leaves a file that looks complete.
"""

from __future__ import annotations

import contextlib
import glob
import os
import tempfile
from pathlib import Path
from typing import Iterator, Sequence

__all__ = [
    "atomic_path",
    "bool_column",
    "write_table",
    "read_table",
    "write_csv",
    "write_text",
    "write_cube",
    "read_cube",
    "cube_length",
    "cube_bands",
    "with_band_axis",
    "select_bands",
    "DEFAULT_BAND",
    "require_columns",
    "InputError",
    "nearest_hint",
]


#: The band of a cube without ``BANDS``: the papers searched the r band alone.
DEFAULT_BAND = "r"


class InputError(ValueError):
    """Bad input: the message names the file, the key or column, and what was expected."""


def nearest_hint(name, choices) -> str:
    """`` (did you mean 'X'?)`` for the choice nearest to a misspelt ``name``, or ``""`` when none is near.

    For :class:`InputError` messages that refuse a name: ``difflib``'s ratio of
    at least 0.6, so ``learnin_rate`` finds ``learning_rate`` and ``zzz`` nothing.
    """
    import difflib

    near = difflib.get_close_matches(str(name), [str(choice) for choice in choices], n=1)
    return f" (did you mean {near[0]!r}?)" if near else ""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".part") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    On any exception the temporary file is removed and ``path`` is untouched.
    The result has the permissions a plain ``open()`` would give it (0666
    less the umask). ``suffix`` ends the temporary name, for writers that
    insist on an extension (Keras: ``.part.keras``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*{glob.escape(suffix)}"):  # a kill -9's leftovers
        with contextlib.suppress(OSError):
            stale.unlink()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp creates 0600 files; give the result the permissions of a plain open().
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)
    try:
        yield tmp_path
        with open(tmp_path, "rb") as fh:  # on disk before the rename, so a power loss leaves no empty file
            os.fsync(fh.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def write_table(df, path: str | os.PathLike) -> Path:
    """Write a pandas DataFrame to Parquet atomically (no pandas index)."""
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)
    return Path(path)


def write_csv(df, path: str | os.PathLike) -> Path:
    """Write a pandas DataFrame to CSV atomically (no index)."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)
    return Path(path)


def write_text(text: str, path: str | os.PathLike) -> Path:
    """Write text atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def require_columns(df, columns: Sequence[str], source: str, what: str = "") -> None:
    """Raise :class:`InputError` naming ``source`` and the missing columns (``df``: a table, or its column names)."""
    names = list(getattr(df, "columns", df))
    missing = [c for c in columns if c not in names]
    if missing:
        extra = f" ({what})" if what else ""
        raise InputError(
            f"{source}: missing column(s) {', '.join(missing)}{extra}; "
            f"found {len(names)} columns: {', '.join(map(str, names[:20]))}"
            + ("..." if len(names) > 20 else "")
        )


def bool_column(values, source: str, column: str):
    """A label column as a bool array: booleans, or numbers that are all 0 or 1.

    Raises :class:`InputError` naming ``source`` and ``column`` for missing values or anything else
    (text such as ``"False"`` would read as true).
    """
    import numpy as np

    values = np.asarray(values)
    if values.dtype == bool:
        return values
    if values.dtype.kind in "iuf":
        binary = np.isin(values, (0, 1))
        if binary.all():
            return values.astype(bool)
        bad = values[~binary][0]
    else:
        everything_bool = object()  # not None: a missing value (None) is what must be caught
        bad = next((v for v in values if not isinstance(v, (bool, np.bool_))), everything_bool)
        if bad is everything_bool:
            return values.astype(bool)
    bad = bad.item() if isinstance(bad, np.generic) else bad
    raise InputError(f"{source}: {column}: {bad!r} is not a boolean; expected true/false (or 0/1), no missing values")


def read_table(path: str | os.PathLike, columns: Sequence[str] | None = None, required: Sequence[str] = ()):
    """Read a Parquet table, with a clear error for a missing file or column."""
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    try:
        if columns is not None:  # name a missing column, as require_columns does, not pyarrow's FieldRef
            import pyarrow.parquet as pq

            require_columns(pq.read_schema(path).names, columns, str(path))
        df = pd.read_parquet(path, columns=list(columns) if columns is not None else None)
    except InputError:
        raise
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise InputError(f"{path}: cannot read as Parquet: {str(exc).splitlines()[0]}") from exc
    require_columns(df, required, str(path))
    return df


def read_csv_table(path: str | os.PathLike, required: Sequence[str] = (), what: str = "", **kwargs):
    """Read a CSV table (``pandas.read_csv`` keywords), with one clear error for a missing, binary, empty or
    malformed file, or a missing column, naming the file (``what``: what the file should hold)."""
    import pandas as pd

    path = Path(path)
    hint = f"; expected {what}" if what else ""
    if not path.is_file():
        raise InputError(f"{path}: file not found{hint}")
    try:
        df = pd.read_csv(path, **kwargs)
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: byte 0x{exc.object[exc.start]:02x} is not UTF-8: not a CSV text file{hint}") from None
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: empty{hint}") from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise InputError(f"{path}: not a readable CSV table ({str(exc).splitlines()[0]}){hint}") from None
    require_columns(df, required, str(path), what)
    return df


def write_cube(images, path: str | os.PathLike, pixel_scale_arcsec: float, zeropoint_mag: float,
               header_cards: dict | None = None, dtype="float32", bands=None) -> Path:
    """Write an image cube as a FITS primary HDU, atomically.

    Parameters
    ----------
    images : array_like, shape (n, ny, nx) or (n, n_bands, ny, nx)
        One band, or several (the band axis second).
    path : path-like
    pixel_scale_arcsec, zeropoint_mag : float
        ``PIXSCALE`` and ``ZEROPT`` (the detection band's, for a cube of several bands).
    header_cards : dict, optional
        More header cards.
    dtype : {"float32", "int16"}
        He et al. 2020 stored 16-bit images; then BSCALE/BZERO are set by astropy's ``scale``.
    bands : sequence of str, optional
        Band names, one per band of ``images`` (default: r for a 3-D cube). A
        cube of one band is stored 3-D; its ``BANDS`` card is left out for r
        alone, so r-band cubes stay byte for byte what they were.
    """
    import numpy as np
    from astropy.io import fits

    images = np.asarray(images)
    if images.ndim == 4 and images.shape[1] == 1:
        images = images[:, 0]
    if images.ndim not in (3, 4):
        raise InputError(f"{path}: a cube needs 3 (n, ny, nx) or 4 (n, n_bands, ny, nx) dimensions, "
                         f"got shape {images.shape}")
    n_bands = 1 if images.ndim == 3 else images.shape[1]
    bands = (DEFAULT_BAND,) if bands is None and n_bands == 1 else tuple(bands or ())
    if len(bands) != n_bands or len(set(bands)) != n_bands or not all(
            isinstance(b, str) and b and "," not in b for b in bands):
        raise InputError(f"{path}: bands: {list(bands)}: expected {n_bands} distinct band names "
                         f"for a cube of shape {images.shape}")
    # FITS cannot hold a zero-length axis: an empty cube is a header with no
    # data, its stamp shape kept in STAMPNY/STAMPNX.
    # hdu.scale (int16) rescales the HDU's array in place: a copy then, not the caller's images
    hdu = fits.PrimaryHDU(images.astype(np.float32, copy=dtype == "int16") if len(images) else None)
    hdr = hdu.header
    hdr["STAMPNY"] = (int(images.shape[-2]), "image height in pixels")
    hdr["STAMPNX"] = (int(images.shape[-1]), "image width in pixels")
    hdr["PIXSCALE"] = (float(pixel_scale_arcsec), "arcsec per pixel")
    hdr["ZEROPT"] = (float(zeropoint_mag), "mag = ZEROPT - 2.5 log10(counts)")
    hdr["NIMAGES"] = (int(images.shape[0]), "number of images in the cube")
    if bands != (DEFAULT_BAND,):
        hdr["BANDS"] = (",".join(bands), "bands, in the order of the band axis")
    for key, value in (header_cards or {}).items():
        hdr[key] = value
    if dtype not in ("float32", "int16"):
        raise InputError(f"{path}: unsupported cube dtype {dtype!r}; expected 'float32' or 'int16'")
    if dtype == "int16" and len(images):  # an empty cube has no data to scale
        hdu.scale("int16", bscale=None, bzero=None, option="minmax")
    with atomic_path(path) as tmp:
        hdu.writeto(tmp, overwrite=True)
    return Path(path)


def cube_bands(header, source: str = "cube") -> tuple:
    """Band names of a cube from its header: ``BANDS`` split at commas, or r for a cube without it.

    Raises
    ------
    InputError
        ``BANDS`` disagrees with the band axis (``NAXIS3`` of a 4-D cube), or
        names several bands for a 3-D cube.
    """
    text = header.get("BANDS")
    bands = tuple(b.strip() for b in str(text).split(",")) if text is not None else (DEFAULT_BAND,)
    if not all(bands) or len(set(bands)) != len(bands):
        raise InputError(f"{source}: header BANDS: {text!r}: expected distinct comma-separated band names")
    naxis = int(header.get("NAXIS", 0))
    axis = int(header["NAXIS3"]) if naxis == 4 else 1 if naxis == 3 else None
    if axis is not None and axis != len(bands):
        raise InputError(f"{source}: header BANDS: {text!r} names {len(bands)} band(s), but the cube has "
                         f"{axis} along its band axis (shape (n, n_bands, ny, nx))")
    return bands


def read_cube(path: str | os.PathLike, memmap: bool = True):
    """Read a cube written by :func:`write_cube`; returns ``(images, header)``.

    ``images`` is as stored: ``(n, ny, nx)`` for one band, ``(n, n_bands, ny,
    nx)`` for several (:func:`cube_bands` names them; :func:`with_band_axis`
    gives both the 4-D shape). With ``memmap=True`` (float32 cubes) the array
    is memory-mapped and pages in on demand, so a reader can stream a large
    shard in batches; a scaled integer cube (``cube_dtype: int16``, BSCALE/BZERO)
    cannot be mapped and is read whole, as float32.
    """
    import numpy as np
    from astropy.io import fits

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    try:
        head, offset, size = fits_extent(path)
        require_whole_fits(path, offset + size)
        if memmap and any(key in head for key in ("BSCALE", "BZERO", "BLANK")):
            memmap = False  # astropy maps no scaled image
        with fits.open(path, memmap=memmap, lazy_load_hdus=False) as hdul:
            header = hdul[0].header.copy()
            data = hdul[0].data
            if data is None:
                n_bands = len(cube_bands(header, str(path)))
                shape = (header.get("STAMPNY", 0), header.get("STAMPNX", 0))
                images = np.zeros((0, *([n_bands] if n_bands > 1 else []), *shape), dtype=np.float32)
            else:
                images = data if memmap else np.array(data)
    except OSError as exc:
        raise InputError(f"{path}: not a readable FITS file ({exc})") from exc
    if images.ndim not in (3, 4):
        raise InputError(f"{path}: expected an image cube (n, ny, nx) or (n, n_bands, ny, nx), "
                         f"got shape {images.shape}")
    cube_bands(header, str(path))
    return images, header


def fits_extent(path: Path):
    """``(header, offset, size)`` of a FITS file's primary HDU, from its header alone: the header, the byte
    where its data begin and the bytes its data take (NAXIS1 x ... x |BITPIX| / 8)."""
    import warnings

    import numpy as np
    from astropy.io import fits
    from astropy.utils.exceptions import AstropyUserWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AstropyUserWarning)  # "may have been truncated": require_whole_fits says
        with fits.open(path, memmap=False, lazy_load_hdus=True) as hdul:
            header = hdul[0].header.copy()
            offset = int(hdul.fileinfo(0)["datLoc"])
    naxis = int(header.get("NAXIS", 0))
    pixels = int(np.prod([int(header[f"NAXIS{k}"]) for k in range(1, naxis + 1)])) if naxis else 0
    return header, offset, pixels * abs(int(header.get("BITPIX", 8))) // 8


def require_whole_fits(path: Path, end: int) -> None:
    """Refuse a FITS file shorter than ``end`` bytes, where its header says its data end (a cut-short write)."""
    size = Path(path).stat().st_size
    if size < end:
        raise InputError(f"{path}: truncated: {size} bytes, its header promises {end}; was its write cut short?")


def with_band_axis(images):
    """A cube's images as ``(n, n_bands, ny, nx)``: a view with a band axis of 1 added to a one-band cube."""
    return images[:, None] if images.ndim == 3 else images


def select_bands(images, bands, wanted, source: str = "cube"):
    """The ``wanted`` bands of ``images`` (``(n, ny, nx)`` or ``(n, n_bands, ny, nx)`` holding ``bands``), in order.

    Returns ``(n, len(wanted), ny, nx)``, or ``images`` itself when the
    bands already match.

    Raises
    ------
    InputError
        A wanted band is not in the cube, naming both band lists.
    """
    bands, wanted = tuple(bands), tuple(wanted)
    if bands == wanted:
        return images
    missing = [b for b in wanted if b not in bands]
    if missing:
        raise InputError(f"{source}: holds bands {','.join(bands)}, but {','.join(wanted)} are needed "
                         f"(missing: {','.join(missing)})")
    return with_band_axis(images)[:, [bands.index(b) for b in wanted]]


def cube_length(path: str | os.PathLike) -> int:
    """Number of images in a cube, read from the header only."""
    from astropy.io import fits

    with fits.open(path) as hdul:
        hdr = hdul[0].header
        naxis = hdr.get("NAXIS", 0)
        return int(hdr[f"NAXIS{naxis}"]) if naxis in (3, 4) else 0
