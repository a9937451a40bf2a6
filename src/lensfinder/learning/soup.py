"""Weight averaging of networks fine-tuned from one trained network (a "model soup"; docs/learning.md).

A network trained on one simulation and a copy of it fine-tuned for a few
epochs on another (e.g. stamps with bright neighbours) lie in one basin of
the loss: the average of their weights is a network too, one file that
scores like the two networks' mean (Wortsman et al. 2022, "Model soups",
ICML; Ramé et al. 2022, "Diverse weight averaging for out-of-distribution
generalization", NeurIPS). :func:`average_networks` writes it with a
sidecar that lists the ingredients, so it can be retraced. The workflow's
``training.soup`` uses it (workflow/rules/train.smk).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from lensfinder.io import InputError
from lensfinder.learning.modelfiles import file_hash, load_model, save_model
from lensfinder.learning.sidecar import read_networks, write_settings

__all__ = ["average_weights", "average_networks"]

log = logging.getLogger(__name__)

#: sidecar keys two ingredients must share: the same network on the same input
_SAME_NETWORK = ("model", "input_shape", "stamp_size", "preprocess", "normalization", "bands", "colour_residual",
                 "colour_residual_match")


def average_weights(weight_lists: Sequence[Sequence[np.ndarray]], shares: Sequence[float]) -> list[np.ndarray]:
    """The weighted mean, array by array, of networks' weights (``keras.Model.get_weights()`` lists).

    ``shares`` (one per network, >= 0, not all 0) are normalised to sum to 1.
    Each array is averaged in float64 and returned in its own dtype.

    Raises
    ------
    ValueError
        Lists of different lengths or shapes (not the same network), or bad shares.
    """
    shares = np.asarray(shares, dtype=np.float64)
    if len(weight_lists) < 1 or len(shares) != len(weight_lists):
        raise ValueError(f"{len(weight_lists)} networks but {len(shares)} shares; give one share per network")
    if (shares < 0).any() or not np.isfinite(shares).all() or shares.sum() <= 0:
        raise ValueError(f"shares {shares.tolist()}: expected numbers >= 0, not all 0")
    shares = shares / shares.sum()
    n_arrays = {len(weights) for weights in weight_lists}
    if len(n_arrays) != 1:
        raise ValueError(f"the networks hold {sorted(n_arrays)} weight arrays: not the same network")
    averaged = []
    for k, arrays in enumerate(zip(*weight_lists)):
        shapes = {np.shape(a) for a in arrays}
        if len(shapes) != 1:
            raise ValueError(f"weight array {k} has shapes {sorted(shapes)}: not the same network")
        mean = sum(share * np.asarray(a, dtype=np.float64) for share, a in zip(shares, arrays))
        averaged.append(mean.astype(np.asarray(arrays[0]).dtype))
    return averaged


def average_networks(model_paths: Sequence[str | os.PathLike], out: str | os.PathLike,
                     shares: Sequence[float] | None = None) -> Path:
    """Write the weighted average of trained networks of one architecture and input as ``out``.

    Parameters
    ----------
    model_paths : paths
        ``.keras`` networks written by ``lensfinder train``, each with its
        sidecar; the first is usually the network the others were
        fine-tuned from.
    out : path
        The averaged network (``.keras``); its sidecar is the first
        network's, with ``soup`` listing each ingredient's path, weights
        hash, seed and share.
    shares : floats, optional
        Each network's share of the average (normalised); equal by default.

    Raises
    ------
    InputError
        Fewer than two networks, ``out`` among them or not ``.keras``, a
        network without its sidecar, an ensemble file, or networks that
        differ in architecture or input (naming the file and the setting).
    """
    paths, out = [Path(p) for p in model_paths], Path(out)
    if len(paths) < 2:
        raise InputError(f"{out}: averaging needs two networks or more, got {len(paths)}")
    if out.suffix != ".keras":
        raise InputError(f"{out}: the averaged network's file must end in .keras")
    if any(out.resolve() == path.resolve() for path in paths):
        raise InputError(f"{out}: the average would overwrite a network it reads; give another path")
    shares = [1.0] * len(paths) if shares is None else [float(s) for s in shares]
    records, hashes = read_networks(paths, _SAME_NETWORK, ensemble_hint="average its networks themselves",
                                    mismatch_hint="only networks of one architecture and input can be averaged")
    networks = [load_model(path, compile=False) for path in paths]
    try:
        averaged = average_weights([net.get_weights() for net in networks], shares)
    except ValueError as exc:
        raise InputError(f"{', '.join(map(str, paths))}: {exc}") from None
    networks[0].set_weights(averaged)
    save_model(networks[0], out)
    total = sum(shares)
    record = {k: v for k, v in records[0].items() if k not in ("settings_version", "weights_hash")}
    record["soup"] = [{"path": os.path.relpath(path), "weights_hash": h, "seed": r.get("seed"),
                       "data_hash": r.get("data_hash"), "share": share / total}
                      for path, r, h, share in zip(paths, records, hashes, shares)]
    write_settings(record, out)
    log.info("wrote %s (%s): the weights of %s averaged with shares %s", out, file_hash(out),
             ", ".join(p.name for p in paths), ", ".join(f"{s / total:.3g}" for s in shares))
    return out
