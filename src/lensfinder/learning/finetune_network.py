"""Fine-tuning a trained network on a round's fine-tuning set (:mod:`lensfinder.learning.finetune` makes
the set; docs/learning.md, "Retraining rounds").

TensorFlow is imported inside :func:`finetune`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from lensfinder.io import InputError

__all__ = ["finetune"]

log = logging.getLogger(__name__)


def finetune(parent_model, shards, out, *, epochs: int = 10, learning_rate: float = 1e-3, batch_size: int = 64,
             seed: int = 42, val_fraction: float = 0.1, augment: bool = True, class_balance: str = "weights",
             freeze_features: bool = True, threads: int | None = None, history_path=None, precision: str = "auto"):
    """Train an existing network further on fine-tuning shards; write the new model, settings and history.

    The parent's preprocessing (input size, resizing, normalisation) is
    kept; the optimiser is a fresh Adam (He et al. 2020's epsilon) at
    ``learning_rate``; batches are streamed, seeded and augmented as in
    :func:`lensfinder.learning.training.train`. ``class_balance``
    (:data:`lensfinder.learning.config.CLASS_BALANCE`) defaults to class
    weights: a fine-tuning set holds more negatives than lenses, and the
    network should keep the balanced view of the simulations it was
    trained and calibrated on. With ``freeze_features`` the convolutional
    (and batch-normalisation) layers keep the parent's weights and only the
    fully connected head learns: on the mock survey this keeps more of the
    lenses (docs/learning.md). ``precision`` is the training's
    (:data:`lensfinder.learning.runtime.PRECISIONS`); a parent trained in
    mixed precision is fine-tuned in this machine's policy.

    Returns
    -------
    pandas.DataFrame
        The history, one row per epoch.
    """
    import pandas as pd

    from lensfinder import __version__
    from lensfinder.io import write_csv
    from lensfinder.learning.config import TrainConfig
    from lensfinder.learning.datasets import ShardSet
    from lensfinder.learning.models import import_keras
    from lensfinder.learning.modelfiles import file_hash, load_model, save_model
    from lensfinder.learning.preprocessing import settings_bands, settings_residual, settings_residual_match
    from lensfinder.learning.sidecar import read_settings, write_settings
    from lensfinder.learning.runtime import configure_tensorflow
    from lensfinder.learning.stream import TrainingStream, split_rows
    from lensfinder.learning.training import ADAM_EPSILON, training_record

    out = Path(out)
    if out.suffix != ".keras":
        raise InputError(f"{out}: the model file must end in .keras")
    settings = read_settings(parent_model)
    try:
        config = TrainConfig(model=settings["model"], epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                             preprocess=settings["preprocess"], normalization=settings["normalization"],
                             augment=augment, val_fraction=val_fraction, seed=seed, class_balance=class_balance,
                             input_size=int(settings["input_shape"][0]),
                             colour_residual="-".join(settings_residual(settings)) or "none",
                             colour_residual_match=settings_residual_match(settings) or "psf")
    except ValueError as exc:
        raise InputError(f"finetune options: {exc}") from exc
    shard_set = shards if isinstance(shards, ShardSet) else ShardSet(shards)
    if shard_set.shape[-1] != int(settings["stamp_size"]):
        raise InputError(f"{shard_set.pairs[0][0]}: images of {shard_set.shape}, but {Path(parent_model).name} "
                         f"was trained on {settings['stamp_size']}-pixel stamps")
    train_rows, val_rows = split_rows(len(shard_set), config.val_fraction, config.seed)
    stream = TrainingStream(shard_set, train_rows, val_rows, config, bands=settings_bands(settings))
    log.info("fine-tuning %s on %d images (%d lenses), %d for validation; %d with their tiles' Moffat PSFs for "
             "the colour residual", parent_model, len(train_rows), len(stream.positives), len(val_rows),
             stream.moffat_rows)
    policy = configure_tensorflow(config.seed, threads, precision=precision)
    keras = import_keras()
    model = load_model(parent_model, policy=policy)  # a GPU-trained parent computes in float32 on a CPU
    if freeze_features:  # only the fully connected head learns
        for layer in model.layers:
            if isinstance(layer, (keras.layers.Conv2D, keras.layers.BatchNormalization)):
                layer.trainable = False
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=config.learning_rate, epsilon=ADAM_EPSILON),
                  loss=keras.losses.SparseCategoricalCrossentropy(), metrics=["accuracy"])
    train_ds, val_ds = stream.datasets(0, config.epochs, threads)
    fit = model.fit(train_ds, epochs=config.epochs, steps_per_epoch=stream.n_batches, validation_data=val_ds,
                    verbose=0, shuffle=False)
    history = pd.DataFrame({k: np.asarray(v, dtype=float) for k, v in fit.history.items()})
    history.insert(0, "epoch", np.arange(1, len(history) + 1))
    for row in history.itertuples(index=False):
        log.info("epoch %d: %s", row.epoch, ", ".join(f"{k} {getattr(row, k):.4g}" for k in history.columns[1:]))
    # the parent's own records (its weights, the networks averaged into it, its learning curve) are not the new
    # model's
    history_path = Path(history_path or Path(out).with_suffix(".history.csv"))
    record = {key: value for key, value in settings.items()
              if key not in ("settings_version", "weights_hash", "soup", "history")}
    record.update({
        "training": {**training_record(config, policy, len(train_rows), len(val_rows), threads),
                     "finetuned_from": str(parent_model), "parent_hash": file_hash(parent_model),
                     "freeze_features": bool(freeze_features),
                     "parent_training": settings.get("training", {})},
        "seed": config.seed, "data_hash": shard_set.data_hash(),
        "shards": [os.path.relpath(c) for c, _ in shard_set.pairs], "lensfinder_version": __version__,
        "history": os.path.relpath(history_path),
    })
    save_model(model, out)
    write_settings(record, out)  # after the model: it records the hash of the new weights
    write_csv(history, history_path)
    log.info("wrote %s", out)
    return history
