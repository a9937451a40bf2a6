"""Training a lens finder on simulated shards: compile, fit, checkpoint, write (docs/learning.md).

:func:`train` splits the shards (seeded), streams them through
:class:`~lensfinder.learning.stream.TrainingStream`, fits with Adam, saves a
checkpoint after every epoch (a run with the same settings and data resumes
from it), and writes the model, its settings sidecar and the history CSV.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import numpy as np

from lensfinder import __version__
from lensfinder.constants import ADAM_EPSILON
from lensfinder.io import InputError, write_csv, write_text
from lensfinder.learning.config import TrainConfig
from lensfinder.learning.curves import with_init_history
from lensfinder.learning.datasets import ShardSet
from lensfinder.learning.models import compile_model, import_keras
from lensfinder.learning.modelfiles import load_model, save_model
from lensfinder.learning.preprocessing import resize_stamps
from lensfinder.learning.sidecar import write_settings
from lensfinder.learning.runtime import configure_tensorflow
from lensfinder.learning.stream import DEFAULT_CACHE_MB, TrainingStream, split_rows

__all__ = ["ADAM_EPSILON", "compile_model", "export_network", "initial_weights", "train", "training_record"]

log = logging.getLogger(__name__)

_CHECKPOINT_STATE = "state.json"


def initial_weights(path, model: str, input_shape, bands, preprocess: str, normalization: str,
                    pixel_scale_arcsec: float | None = None, colour_residual=(),
                    colour_residual_match: str = "psf") -> dict:
    """Check that a trained network can start this training; its sidecar record and weights hash.

    ``path`` is a ``.keras`` network written by ``lensfinder train`` (its
    JSON sidecar beside it). Its network, input shape, bands (in channel
    order), resizing and normalisation must be this training's: otherwise
    its weights would mean something else. Another pixel scale is allowed
    (a network moved to another survey) and logged.

    Raises
    ------
    InputError
        Naming the file, the setting and both values.
    """
    from lensfinder.learning.modelfiles import file_hash
    from lensfinder.learning.sidecar import check_weights_hash, other_pixel_scale, read_settings, settings_mismatch

    path = Path(path)
    if path.suffix != ".keras" or not path.is_file():
        raise InputError(f"{path}: init weights: expected a .keras network written by `lensfinder train`"
                         f"{'' if path.is_file() else ' (file not found)'}")
    settings = read_settings(path)
    weights_hash = file_hash(path)
    check_weights_hash(settings, weights_hash, path)
    if settings.get("ensemble"):
        raise InputError(f"{path}: init weights: an ensemble of {len(settings['ensemble'])} networks in one file "
                         "(`lensfinder export-network --ensemble`), which scores but cannot be trained or kept by "
                         "a training; start from one of its members, or give each ensemble member its own")
    mismatch = settings_mismatch(settings, model=model, input_shape=input_shape, bands=bands,
                                 colour_residual=colour_residual,
                                 colour_residual_match=colour_residual_match if colour_residual else None,
                                 preprocess=preprocess, normalization=normalization)
    if mismatch:
        key, stored, value = mismatch
        raise InputError(f"{path}: init weights: {key} {stored!r}, but this training's is {value!r}; "
                         "start from a network trained with the same network, input, bands, colour residual "
                         "and its match, preprocess and normalization, or train from scratch (no --init-weights)")
    if other_pixel_scale(settings, pixel_scale_arcsec):
        log.warning("%s: trained at %.4g arcsec/pixel, these shards are %.4g: the network starts on another scale",
                    path, float(settings["pixel_scale_arcsec"]), float(pixel_scale_arcsec))
    return {"path": os.path.relpath(path), "weights_hash": weights_hash, "data_hash": settings.get("data_hash"),
            "seed": settings.get("seed"), "n_train": settings.get("training", {}).get("n_train")}


#: settings every network of an exported ensemble shares with the first: what its input is
_SAME_INPUT = ("input_shape", "bands", "colour_residual", "colour_residual_match", "preprocess", "normalization",
               "stamp_size")


def export_network(model_path, out, provenance: dict | None = None, ensemble=()) -> Path:
    """Write a trained network for other runs to start from (``training.init_weights``), or several as one.

    The weights without the optimiser's state (a third of the file), the
    sidecar with ``provenance`` (how it was made, what it scored) added, and
    the learning curve (``.history.csv``) when there is one. The model is
    written first, so a killed export leaves no sidecar that claims it.

    With ``ensemble`` (more networks of the same input, bands, resizing and
    normalisation) the file holds them all, in float32, and gives the mean
    of their probabilities: one file that scores as ``lensfinder infer
    --model MODEL --ensemble ...`` does. Its sidecar is the first network's,
    with ``ensemble`` listing the members; it can be scored, not trained
    further (``--init-weights`` refuses it).

    Raises
    ------
    InputError
        ``out`` not a ``.keras`` path, a model without its matching sidecar,
        or a member whose input differs from the first network's.
    """
    from lensfinder.learning.modelfiles import file_hash
    from lensfinder.learning.sidecar import read_networks

    paths, out = [Path(model_path), *map(Path, ensemble)], Path(out)
    if out.suffix != ".keras":
        raise InputError(f"{out}: the exported network's file must end in .keras")
    if any(out.resolve() == path.resolve() for path in paths):
        raise InputError(f"{out}: the export would overwrite the network it reads; give another path")
    records, hashes = read_networks(paths, _SAME_INPUT, ensemble_hint="give its members instead",
                                    mismatch_hint="an ensemble's networks must take the same input")
    if len(paths) == 1:
        save_model(load_model(paths[0], compile=False), out)
    else:
        save_model(_averaged([load_model(path, compile=False, policy="float32") for path in paths],
                             records[0]["input_shape"]), out)
    # the learning curve: an ensemble's is not its first member's (history); one network's is copied beside
    record = {k: v for k, v in records[0].items() if k not in ("settings_version", "weights_hash", "history")}
    if len(paths) > 1:
        record["ensemble"] = [{"path": os.path.relpath(path), "model": r.get("model"), "seed": r.get("seed"),
                               "weights_hash": h, "data_hash": r.get("data_hash")}
                              for path, r, h in zip(paths, records, hashes)]
        record["n_parameters"] = int(sum(int(r.get("n_parameters") or 0) for r in records))
        record["precision"] = "float32"
    if provenance:
        record["provenance"] = provenance
    history = paths[0].with_suffix(".history.csv")
    if history.is_file() and len(paths) == 1:
        write_text(history.read_text(encoding="utf-8"), out.with_suffix(".history.csv"))
    write_settings(record, out)  # last, the export's record
    log.info("wrote %s (%s%s) and its sidecar", out, file_hash(out),
             f", the mean of {len(paths)} networks" if len(paths) > 1 else "")
    return out


def _averaged(networks, input_shape):
    """One Keras model: ``networks`` (each a 2-way softmax) side by side on one input, their mean out."""
    keras = import_keras()
    inputs = keras.Input(shape=tuple(int(v) for v in input_shape), name="stamps")
    members = [keras.Model(net.inputs[0], net.outputs[0], name=f"member_{k}")(inputs)
               for k, net in enumerate(networks)]
    return keras.Model(inputs, keras.layers.Average(name="p_mean", dtype="float32")(members), name="ensemble")


def _epoch_callbacks(keras, stream, state, checkpoint_dir, resume_key, data_hash):
    """Keras callbacks: history rows + progress + checkpoint every epoch."""
    from lensfinder.progress import progress

    class EpochRecorder(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()
            self._bar = progress(total=stream.n_batches, desc=f"epoch {epoch + 1}", unit="batch", leave=False)

        def on_train_batch_end(self, batch, logs=None):
            self._bar.update(1)

        def on_epoch_end(self, epoch, logs=None):
            self._bar.close()
            seconds = time.perf_counter() - self._start
            row = {"epoch": epoch + 1}
            row.update({k: float(v) for k, v in (logs or {}).items()})
            row["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
            row["seconds"] = seconds
            row["images_per_s"] = stream.images_per_epoch / seconds
            state["history"].append(row)
            log.info("epoch %d: %s", epoch + 1, ", ".join(f"{k} {v:.4g}" for k, v in row.items() if k != "epoch"))
            if checkpoint_dir is not None:
                name = f"epoch_{epoch + 1:04d}.keras"
                save_model(self.model, checkpoint_dir / name)
                previous = state.get("checkpoint")
                state.update(epoch=epoch + 1, checkpoint=name, resume_key=resume_key, data_hash=data_hash)
                write_text(json.dumps(state, indent=1) + "\n", checkpoint_dir / _CHECKPOINT_STATE)
                if previous and previous != name:
                    (checkpoint_dir / previous).unlink(missing_ok=True)

    return [EpochRecorder()]


def _load_checkpoint(checkpoint_dir, resume_key, data_hash, epochs):
    """The saved state of an interrupted run with the same settings and data, or None.

    A checkpoint past ``epochs`` (a run asked for more) is not used: its
    weights have seen more epochs than the model would claim.
    """
    state_path = checkpoint_dir / _CHECKPOINT_STATE
    if not state_path.exists():
        return None
    try:
        state = json.loads(state_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        log.warning("%s: unreadable; starting afresh", state_path)
        return None
    if state.get("resume_key") != resume_key or state.get("data_hash") != data_hash:
        log.warning("%s: a checkpoint from other settings or data; starting afresh", state_path)
        return None
    if not (checkpoint_dir / state.get("checkpoint", "")).is_file():
        log.warning("%s: checkpoint file %s missing; starting afresh", state_path, state.get("checkpoint"))
        return None
    if int(state.get("epoch", 0)) > epochs:
        log.warning("%s: the checkpoint has %d epochs, more than the %d asked for; training afresh",
                    state_path, int(state["epoch"]), epochs)
        return None
    return state


def training_record(config: TrainConfig, policy: str, n_train: int, n_val: int, threads: int | None = None) -> dict:
    """The sidecar's ``training`` object: the settings, the optimiser and loss, the precision policy
    the training ran in, the number of training and validation images and TensorFlow's CPU threads
    (``None``: all; the weights depend on it, as its sums run in another order)."""
    return {**config.as_dict(), "optimizer": "adam", "adam_epsilon": ADAM_EPSILON,
            "loss": "sparse_categorical_crossentropy", "precision": policy, "mixed_precision": policy != "float32",
            "n_train": int(n_train), "n_val": int(n_val), "threads": int(threads) if threads else None}


def train(shards, config: TrainConfig, out, history_path=None, checkpoint_dir=None,
          threads: int | None = None, callbacks=(), bands=None, cache_mb: float = DEFAULT_CACHE_MB,
          init_weights=None, precision: str = "auto"):
    """Train ``config.model`` on shards and write the model, its settings and history.

    Parameters
    ----------
    shards : ShardSet or sequence of path
        Training shards (directories or ``.fits``/``.parquet`` files).
    config : TrainConfig
    out : path
        Output ``.keras`` file; its settings go to ``out.with_suffix('.json')``.
    history_path : path, optional
        Learning-curve CSV (default ``out`` with ``.history.csv``).
    checkpoint_dir : path, optional
        Per-epoch checkpoints for resuming; None: no checkpoints.
    threads : int, optional
        CPU threads for TensorFlow and the input pipeline.
    callbacks : sequence of keras.callbacks.Callback
        Extra callbacks, run after the checkpointing one.
    bands : sequence of str, optional
        The bands the network sees, in channel order, picked from the
        shards' (their ``BANDS``); default all of them.
    cache_mb : float
        Memory for prepared network inputs kept between epochs
        (:class:`~lensfinder.learning.stream.TrainingStream`); the model is the same whatever it is.
    init_weights : path, optional
        A trained network (``.keras`` with its sidecar) whose weights the
        training starts from instead of random ones (:func:`initial_weights`
        checks it fits), with a fresh optimiser; recorded in the sidecar as
        ``init``. With ``config.epochs`` 0 the model is that network as it is.
    precision : str
        :data:`lensfinder.learning.runtime.PRECISIONS`: ``auto`` is mixed float16 where a GPU is
        visible, float32 on a CPU; the policy is recorded in the sidecar (``training.precision``)
        and a checkpoint of another policy is not resumed.

    Returns
    -------
    pandas.DataFrame
        The training history, one row per epoch.
    """
    import pandas as pd

    out = Path(out)
    if out.suffix != ".keras":
        raise InputError(f"{out}: the model file must end in .keras")
    history_path = Path(history_path) if history_path else out.with_suffix(".history.csv")
    shard_set = shards if isinstance(shards, ShardSet) else ShardSet(shards)
    ny, nx = shard_set.shape
    size = config.resolved_input_size
    try:
        resize_stamps(np.zeros((1, ny, nx), np.float32), size, config.preprocess)
    except ValueError as exc:
        raise InputError(f"{shard_set.pairs[0][0]}: {exc}") from exc

    if config.epochs == 0 and init_weights is None:
        raise InputError("epochs 0: nothing to train; 0 epochs only keep the network given as init weights")
    data_hash = shard_set.data_hash()
    train_rows, val_rows = split_rows(len(shard_set), config.val_fraction, config.seed)
    if config.min_arc_visible_snr > 0:  # lenses whose arcs no search can see: out of training and validation
        buried = shard_set.labels & (shard_set.column("arc_visible_snr") < config.min_arc_visible_snr)
        train_rows, val_rows = train_rows[~buried[train_rows]], val_rows[~buried[val_rows]]
        log.info("left out %d of %d lenses with arc_visible_snr < %g", int(buried.sum()), int(shard_set.labels.sum()),
                 config.min_arc_visible_snr)
    stream = TrainingStream(shard_set, train_rows, val_rows, config, bands=bands, cache_mb=cache_mb)
    log.info("%d training images (%d lenses), %d for validation; %d images and %d batches per epoch; bands %s; "
             "prepared inputs of %d of them kept after their first epoch (cache_mb %g)",
             len(train_rows), len(stream.positives), len(val_rows), stream.images_per_epoch, stream.n_batches,
             ",".join(stream.bands), stream.cached_images, cache_mb)

    init = None
    if init_weights is not None:
        init = initial_weights(init_weights, config.model, stream.input_shape, stream.bands, config.preprocess,
                               config.normalization, shard_set.pixel_scale_arcsec, stream.colour_residual,
                               stream.colour_residual_match)
    policy = configure_tensorflow(config.seed, threads, precision=precision)
    keras = import_keras()
    resume_key = f"{config.resume_key()}:{','.join(stream.bands)}:{init['weights_hash'] if init else ''}:{policy}"
    state = {"history": []}
    initial_epoch = 0
    ckpt = Path(checkpoint_dir) if checkpoint_dir else None
    for leftover in ckpt.glob(".*.part.keras") if ckpt else ():  # a checkpoint save a kill -9 cut short
        leftover.unlink(missing_ok=True)
    saved = _load_checkpoint(ckpt, resume_key, data_hash, config.epochs) if ckpt else None
    if saved:
        try:
            model = load_model(ckpt / saved["checkpoint"], compile=True)
        except InputError as exc:  # a checkpoint a crash or power loss left unreadable: start again
            log.warning("%s; starting afresh", exc)
            saved = None
    if saved:
        initial_epoch = int(saved["epoch"])
        state = saved
        log.info("resuming from %s after epoch %d", ckpt / saved["checkpoint"], initial_epoch)
    else:
        model = compile_model(config, size, stream.input_shape[2], stream.n_batches)
        if init:
            model.set_weights(load_model(init_weights).get_weights())
            log.info("starting from the weights of %s (%s)", init_weights, init["weights_hash"])
    if ckpt:
        ckpt.mkdir(parents=True, exist_ok=True)
        if not saved:  # stale checkpoints of other settings or data, or of a longer run
            for stale in ckpt.glob("epoch_*.keras"):
                stale.unlink()

    if initial_epoch < config.epochs:
        train_ds, val_ds = stream.datasets(initial_epoch, config.epochs, threads)
        model.fit(
            train_ds, epochs=config.epochs, initial_epoch=initial_epoch, steps_per_epoch=stream.n_batches,
            validation_data=val_ds, verbose=0, shuffle=False,
            callbacks=_epoch_callbacks(keras, stream, state, ckpt, resume_key, data_hash) + list(callbacks),
        )
    elif config.epochs == 0:
        log.info("epochs 0: the model is %s as it is", init_weights)
    else:
        log.info("the checkpoint already has %d epochs: nothing to train", initial_epoch)
        # fit swaps the weights' moving average (ema_momentum) in at its end; the checkpoint holds the
        # last weights and, in its optimiser, the average: swap it in as fit would have
        model.optimizer.finalize_variable_values(model.trainable_variables)
    if stream.nonfinite_images:
        log.warning("%d training images (counted over all epochs) had NaN/inf pixels, set to 0",
                    stream.nonfinite_images)

    history = pd.DataFrame(state["history"])
    if history.empty:  # epochs 0: the columns a learning curve reads, no rows
        history = pd.DataFrame(columns=["epoch", "accuracy", "loss", "val_accuracy", "val_loss"])
    written = with_init_history(history, init_weights) if init else history
    settings = {
        "model": config.model,
        "input_shape": list(stream.input_shape),
        "bands": list(stream.bands),
        **stream.residual_record,
        "stamp_size": int(ny),
        "preprocess": config.preprocess,
        "normalization": config.normalization,
        "pixel_scale_arcsec": shard_set.pixel_scale_arcsec,
        "training": training_record(config, policy, len(train_rows), len(val_rows), threads),
        "seed": config.seed,
        "data_hash": data_hash,
        "init": init,
        "shards": [os.path.relpath(c) for c, _ in shard_set.pairs],
        "history": os.path.relpath(history_path),
        "n_parameters": int(model.count_params()),
        "lensfinder_version": __version__,
    }
    write_csv(written, history_path)
    save_model(model, out)
    write_settings(settings, out)  # last, the run's record: it holds the hash of the weights beside it
    log.info("wrote %s, %s, %s", out, out.with_suffix(".json"), history_path)
    return history

