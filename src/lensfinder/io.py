"""Atomic file output and the on-disk formats shared by every step.

Formats
-------
Image cube (``*.fits``)
    Primary HDU, float32 array of shape ``(n_images, ny, nx)``; header keys
    ``PIXSCALE`` (arcsec/px), ``ZEROPT`` (mag zero point of the counts) and
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
import os
import tempfile
from pathlib import Path
from typing import Iterator, Sequence

__all__ = [
    "atomic_path",
    "write_table",
    "read_table",
    "write_csv",
    "write_text",
    "write_cube",
    "read_cube",
    "cube_length",
    "require_columns",
    "InputError",
]


class InputError(ValueError):
    """Bad input: the message names the file, the key or column, and what was expected."""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    On any exception the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp creates 0600 files; give the result the permissions of a plain open().
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)
    try:
        yield tmp_path
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
        tmp.write_text(text)
    return Path(path)


def require_columns(df, columns: Sequence[str], source: str, what: str = "") -> None:
    """Raise :class:`InputError` naming ``source`` and the missing columns."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        extra = f" ({what})" if what else ""
        raise InputError(
            f"{source}: missing column(s) {', '.join(missing)}{extra}; "
            f"found {len(df.columns)} columns: {', '.join(map(str, list(df.columns)[:20]))}"
            + ("..." if len(df.columns) > 20 else "")
        )


def read_table(path: str | os.PathLike, columns: Sequence[str] | None = None, required: Sequence[str] = ()):
    """Read a Parquet table, with a clear error for a missing file or column."""
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    try:
        df = pd.read_parquet(path, columns=list(columns) if columns is not None else None)
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise InputError(f"{path}: cannot read as Parquet: {exc}") from exc
    require_columns(df, required, str(path))
    return df


def write_cube(images, path: str | os.PathLike, pixel_scale_arcsec: float, zeropoint_mag: float,
               header_cards: dict | None = None, dtype="float32") -> Path:
    """Write an image cube ``(n, ny, nx)`` as a FITS primary HDU, atomically.

    ``dtype`` may be ``"float32"`` or ``"int16"`` (He et al. 2020 stored
    16-bit images; then BSCALE/BZERO are set by astropy's ``scale``).
    """
    import numpy as np
    from astropy.io import fits

    images = np.asarray(images)
    if images.ndim != 3:
        raise InputError(f"{path}: a cube needs 3 dimensions (n, ny, nx), got shape {images.shape}")
    # FITS cannot hold a zero-length axis: an empty cube is a header with no
    # data, its stamp shape kept in STAMPNY/STAMPNX.
    hdu = fits.PrimaryHDU(images.astype(np.float32, copy=False) if len(images) else None)
    hdr = hdu.header
    hdr["STAMPNY"] = (int(images.shape[1]), "image height in pixels")
    hdr["STAMPNX"] = (int(images.shape[2]), "image width in pixels")
    hdr["PIXSCALE"] = (float(pixel_scale_arcsec), "arcsec per pixel")
    hdr["ZEROPT"] = (float(zeropoint_mag), "mag = ZEROPT - 2.5 log10(counts)")
    hdr["NIMAGES"] = (int(images.shape[0]), "number of images in the cube")
    for key, value in (header_cards or {}).items():
        hdr[key] = value
    if dtype == "int16" and len(images):
        hdu.scale("int16", bscale=None, bzero=None, option="minmax")
    elif dtype != "float32":
        raise InputError(f"{path}: unsupported cube dtype {dtype!r}; expected 'float32' or 'int16'")
    with atomic_path(path) as tmp:
        hdu.writeto(tmp, overwrite=True)
    return Path(path)


def read_cube(path: str | os.PathLike, memmap: bool = True):
    """Read a cube written by :func:`write_cube`; returns ``(images, header)``.

    With ``memmap=True`` (float32 cubes) the array is memory-mapped and pages
    in on demand, so a reader can stream a large shard in batches.
    """
    import numpy as np
    from astropy.io import fits

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    try:
        with fits.open(path, memmap=memmap, lazy_load_hdus=False) as hdul:
            header = hdul[0].header.copy()
            data = hdul[0].data
            if data is None:
                images = np.zeros((0, header.get("STAMPNY", 0), header.get("STAMPNX", 0)), dtype=np.float32)
            else:
                images = data if memmap else np.array(data)
    except OSError as exc:
        raise InputError(f"{path}: not a readable FITS file ({exc})") from exc
    if images.ndim != 3:
        raise InputError(f"{path}: expected a 3-D image cube (n, ny, nx), got shape {images.shape}")
    return images, header


def cube_length(path: str | os.PathLike) -> int:
    """Number of images in a cube, read from the header only."""
    from astropy.io import fits

    with fits.open(path) as hdul:
        hdr = hdul[0].header
        return int(hdr["NAXIS3"]) if hdr.get("NAXIS", 0) == 3 else 0

