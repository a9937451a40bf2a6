"""The settings sidecar of a network: ``MODEL.json`` beside ``MODEL.keras``.

It holds what scoring must repeat of training (the preprocessing and
normalisation, the input shape, the bands in channel order) and what
training was (its options, seed, data hash, and for an exported network
its provenance), and the hash of the weights it was written for, so that
a model file swapped under its sidecar is refused (docs/learning.md).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np

from lensfinder.io import InputError, write_text
from lensfinder.learning.preprocessing import (COLOUR_RESIDUAL_MATCHES, NORMALIZATIONS, PREPROCESS_METHODS,
                                              input_channels, resize_stamps, settings_bands, settings_residual,
                                              settings_residual_match)

__all__ = [
    "SETTINGS_VERSION",
    "sidecar_path",
    "write_settings",
    "read_settings",
    "check_settings",
    "check_weights_hash",
    "settings_mismatch",
    "other_pixel_scale",
    "read_networks",
]

log = logging.getLogger(__name__)

#: Bump when the meaning of a stored setting changes.
SETTINGS_VERSION = 1


def sidecar_path(model_path: str | os.PathLike) -> Path:
    """``models/he2020.keras`` -> ``models/he2020.json``: the settings sidecar of a model file."""
    return Path(model_path).with_suffix(".json")


_REQUIRED_KEYS = ("model", "input_shape", "stamp_size", "preprocess", "normalization")


def write_settings(settings: dict, model_path: str | os.PathLike) -> Path:
    """Write the preprocessing and training settings beside a model (atomic JSON).

    ``settings`` holds at least ``model``, ``input_shape`` ([ny, nx, n_bands]),
    ``stamp_size`` (pixels of the stamps it was trained on), ``preprocess``
    and ``normalization``, ``bands`` (names, one per channel; r when
    absent, as in sidecars written before it existed) and ``colour_residual``
    (its two bands, or none: ``[]`` or absent); training adds ``training`` (hyper-parameters),
    ``seed`` and ``data_hash``. ``weights_hash`` is always the hash of the
    model file as it is now (:func:`~lensfinder.learning.modelfiles.file_hash`;
    absent when it does not exist yet: write the model first), never one
    copied from another sidecar, so that inference can tell a model swapped
    under its sidecar.
    """
    from lensfinder.learning.modelfiles import file_hash

    check_settings(settings, str(sidecar_path(model_path)))
    record = {"settings_version": SETTINGS_VERSION, **settings}
    record.pop("weights_hash", None)
    if Path(model_path).exists():
        record["weights_hash"] = file_hash(model_path)
    return write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", sidecar_path(model_path))


def check_settings(settings: dict, source: str) -> dict:
    """Validate a settings record; ``InputError`` naming ``source`` otherwise."""
    missing = [k for k in _REQUIRED_KEYS if k not in settings]
    if missing:
        raise InputError(f"{source}: missing key(s) {', '.join(missing)}; expected the settings written by `lensfinder train`")
    if settings["preprocess"] not in PREPROCESS_METHODS:
        raise InputError(f"{source}: preprocess: {settings['preprocess']!r}, expected one of {PREPROCESS_METHODS}")
    if settings["normalization"] not in NORMALIZATIONS:
        raise InputError(f"{source}: normalization: {settings['normalization']!r}, expected one of {NORMALIZATIONS}")
    shape = settings["input_shape"]
    if len(shape) != 3 or shape[0] != shape[1]:
        raise InputError(f"{source}: input_shape: {shape}, expected [size, size, n_channels]")
    scales = input_channels(1, settings["preprocess"])  # input scales per band
    bands = settings.get("bands")
    residual = settings.get("colour_residual") or []
    if bands is None and int(shape[2]) != scales:
        raise InputError(f"{source}: bands: missing, but input_shape {shape} has {shape[2]} channels; "
                         "expected the band names, e.g. [g, r, i]")
    pair = isinstance(residual, (list, tuple)) and len(residual) == 2 and residual[0] != residual[1]
    if not (residual == [] or pair and set(residual) <= set(bands or ())):
        raise InputError(f"{source}: colour_residual: {residual!r}, expected [] or two distinct bands of "
                         f"bands {bands!r}")
    match = settings.get("colour_residual_match")
    if match is not None and match not in COLOUR_RESIDUAL_MATCHES:
        raise InputError(f"{source}: colour_residual_match: {match!r}, expected one of {COLOUR_RESIDUAL_MATCHES}")
    stamp = settings.get("stamp_size")
    if stamp is not None:  # the stamps the network takes must prepare to its input (a hand-edited record may not)
        try:
            resize_stamps(np.zeros((1, int(stamp), int(stamp)), np.float32), int(shape[0]), settings["preprocess"])
        except (ValueError, TypeError) as exc:
            raise InputError(f"{source}: stamp_size: {stamp!r} does not prepare to input_shape {shape} with "
                             f"preprocess {settings['preprocess']} ({exc})") from None
    planes = int(shape[2]) // scales - (1 if residual else 0)
    if bands is not None and (not isinstance(bands, (list, tuple))
                              or input_channels(len(bands), settings["preprocess"], residual) != int(shape[2])
                              or len(set(bands)) != len(bands)):
        raise InputError(f"{source}: bands: {bands!r}, expected {planes} distinct band names "
                         f"(input_shape {shape}, preprocess {settings['preprocess']}"
                         f"{', colour residual ' + '-'.join(residual) if residual else ''})")
    return settings


def other_pixel_scale(settings: dict, pixel_scale_arcsec) -> bool:
    """Whether ``pixel_scale_arcsec`` (of shards or stamps) differs by more than 1 % from the scale the network
    of ``settings`` was trained at (False where either is unknown)."""
    trained = settings.get("pixel_scale_arcsec")
    return bool(trained and pixel_scale_arcsec and abs(float(pixel_scale_arcsec) / float(trained) - 1) > 0.01)


def settings_mismatch(settings: dict, **expected):
    """The first setting of a network that differs from ``expected`` (e.g. ``model``, ``input_shape``,
    ``bands``, ``preprocess``, ``normalization``), as ``(key, stored, expected)``; None when all agree.

    Bands are compared as :func:`settings_bands` reads them, the colour residual as
    :func:`settings_residual` does, shapes as lists of ints.
    """
    for key, value in expected.items():
        if key == "bands":
            stored, value = list(settings_bands(settings)), list(value)
        elif key == "colour_residual":  # absent (sidecars written before it): none
            stored, value = list(settings_residual(settings)), list(value or ())
        elif key == "colour_residual_match":  # absent: scale (sidecars written before the PSF match)
            stored = settings_residual_match(settings)
        elif key == "input_shape":
            stored, value = [int(v) for v in settings.get(key, ())], [int(v) for v in value]
        else:
            stored = settings.get(key)
        if stored != value:
            return key, stored, value
    return None


def read_settings(model_path: str | os.PathLike, *, normalization: str | None = None,
                  preprocess: str | None = None, input_size: int | None = None) -> dict:
    """Read the sidecar of ``model_path`` and check it against what the caller expects.

    Parameters
    ----------
    model_path : path
        The ``.keras`` file; its settings are ``model_path.with_suffix('.json')``.
    normalization, preprocess, input_size : optional
        When given (e.g. from the workflow config), must equal the stored
        values: a model trained with another normalisation or input size
        raises :class:`InputError` instead of scoring wrongly.
    """
    path = sidecar_path(model_path)
    if not path.exists():
        raise InputError(f"{path}: settings file not found; every model needs the JSON sidecar written by `lensfinder train`")
    try:
        settings = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not readable JSON ({exc})") from exc
    if not isinstance(settings, dict):
        raise InputError(f"{path}: expected a JSON object")
    check_settings(settings, str(path))
    for key, wanted in (("normalization", normalization), ("preprocess", preprocess)):
        if wanted is not None and settings[key] != wanted:
            raise InputError(f"{path}: {key}: the model was trained with {settings[key]!r}, but {wanted!r} was asked for")
    if input_size is not None and int(settings["input_shape"][0]) != int(input_size):
        raise InputError(f"{path}: input_shape: the model takes {settings['input_shape'][0]} pixels, but {input_size} was asked for")
    return settings


def check_weights_hash(settings: dict, weights_hash: str, model_path: str | os.PathLike) -> None:
    """Check that the sidecar of ``model_path`` was written for these weights.

    Parameters
    ----------
    settings : dict
        The sidecar (:func:`read_settings`).
    weights_hash : str
        :func:`~lensfinder.learning.modelfiles.file_hash` of the model file.
    model_path : path

    Raises
    ------
    InputError
        The sidecar records other weights (the model file was replaced), naming both files.
    """
    sidecar = sidecar_path(model_path)
    recorded = settings.get("weights_hash")
    if recorded is None:
        log.warning("%s: no weights_hash (written before it was recorded): cannot check that it belongs to %s",
                    sidecar, model_path)
    elif recorded != weights_hash:
        raise InputError(f"{model_path}: weights hash {weights_hash}, but its settings {sidecar} were written for "
                         f"weights {recorded}: the model file was replaced; retrain it or restore the matching pair")


def read_networks(model_paths, same: tuple, *, ensemble_hint: str, mismatch_hint: str) -> tuple[list, list]:
    """Several trained networks' sidecars, each checked against its weights, for a step that combines them.

    Returns each network's settings and weights hash. ``same``: sidecar keys
    every network must share with the first (bands compared as
    :func:`settings_bands` reads them); the hints end the errors.

    Raises
    ------
    InputError
        A network without its sidecar, a model file swapped under it, an
        ensemble file, or a network whose ``same`` settings differ from the
        first's (naming the file and the key).
    """
    from lensfinder.learning.modelfiles import file_hash

    paths, records, hashes = [Path(p) for p in model_paths], [], []
    for path in paths:
        settings, weights_hash = read_settings(path), file_hash(path)
        check_weights_hash(settings, weights_hash, path)
        if settings.get("ensemble"):
            raise InputError(f"{path}: already an ensemble of {len(settings['ensemble'])} networks; {ensemble_hint}")
        if records:
            first = {key: records[0].get(key) for key in same}
            if "bands" in first:
                first["bands"] = settings_bands(records[0])
            if "colour_residual_match" in first:  # absent in older sidecars: as the networks read it
                first["colour_residual_match"] = settings_residual_match(records[0])
            mismatch = settings_mismatch(settings, **first)
            if mismatch:
                key, stored, value = mismatch
                raise InputError(f"{path}: {key} {stored!r}, but {paths[0].name}'s is {value!r}; {mismatch_hint}")
        records.append(settings)
        hashes.append(weights_hash)
    return records, hashes
