"""Training a lens finder on simulated shards (``lensfinder train``).

What happens
------------
1. The shards (``shard_XXX.fits`` cubes + ``shard_XXX.parquet`` tables with
   the label ``is_lens``) are opened as a :class:`lensfinder.learning.datasets.ShardSet`;
   only labels and row offsets are held in memory.
2. A seeded split puts ``val_fraction`` of the images aside for validation.
3. A ``tf.data`` pipeline maps a global *step* number to a batch: the step
   fixes the epoch and the batch within it, the epoch fixes a seeded
   permutation of the training rows, and ``SeedSequence([seed, epoch, batch])``
   seeds that batch's augmentation. Rows are read with positioned reads,
   resized and normalised in numpy (:mod:`lensfinder.learning.preprocessing`),
   augmented, and prefetched while the network trains. Memory does not grow
   with the set size apart from about 25 bytes per image (label, row
   numbers, the epoch orders of two epochs: 25 MB per million images), and
   a resumed run sees exactly the batches it would have seen.
4. Adam with epsilon 1e-8 (He et al. 2020, eq. 7) on the negative
   log-likelihood of the 2-way softmax (sparse categorical cross-entropy).
5. After every epoch the whole model (weights and optimizer state) is saved
   to ``CHECKPOINT_DIR/epoch_NNNN.keras`` and ``state.json`` points to it
   (the older checkpoint is then removed). A new run with the same settings
   and data resumes after the last completed epoch; other settings or data
   start afresh (with a warning).
6. The final model (``.keras``), its settings (``.json``: the preprocessing
   reused by ``lensfinder infer``, the training configuration, seed, data
   hash) and the history CSV are written atomically.

Augmentation (``--augment``), on the network input after normalisation:
a random multiple of 90 degrees rotation, a random left-right flip, a shift
of up to ``max_shift_pix`` pixels in x and y (``numpy.roll``: the sky at one
edge wraps to the other), and a flux scale in ``[1 - flux_jitter,
1 + flux_jitter]`` (applied after normalisation because all our
normalisations cancel a flux scale of the input).

Class balance (``--class-balance``): ``none``; ``weights`` (each image
weighted by ``n / (2 n_class)`` in the loss); ``balanced`` (every epoch
takes all of the majority class and as many minority images, drawn with
replacement beyond the available ones, so batches are 50/50 on average).

Reproducibility: ``keras.utils.set_random_seed(seed)`` and
``tf.config.experimental.enable_op_determinism()``; two CPU runs with the
same seed and data give identical weights. Mixed precision (float16
compute, float32 output layer) is switched on only when a GPU is visible.

History CSV columns: ``epoch`` (1-based, epochs completed), ``loss``,
``accuracy``, ``val_loss``, ``val_accuracy`` (when validating),
``learning_rate``, ``seconds``, ``images_per_s``.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import math
import os
import threading
import time
from pathlib import Path

import numpy as np

from lensfinder import __version__
from lensfinder.learning.datasets import ShardSet
from lensfinder.io import InputError, write_csv, write_text
from lensfinder.learning.models import DEFAULT_INPUT_SIZE, MODEL_NAMES, import_keras, load_model, save_model
from lensfinder.learning.preprocessing import NORMALIZATIONS, PREPROCESS_METHODS, prepare_batch, resize_stamps, write_settings

__all__ = [
    "HE2020_CASES",
    "TrainConfig",
    "resolve_config",
    "augment_batch",
    "configure_tensorflow",
    "TrainingStream",
    "train",
    "add_train_arguments",
    "run_train",
]

log = logging.getLogger(__name__)

#: He et al. 2020, section 5.2 and Table 5: case 0 (their default) is
#: learning rate 0.03, batch size 32, 50 epochs; case 1 lr 0.01; case 2 100
#: epochs; case 3 batch 64; case 4 lr 0.01 and batch 64.
HE2020_CASES = {
    "case0": {"learning_rate": 0.03, "batch_size": 32, "epochs": 50},
    "case1": {"learning_rate": 0.01, "batch_size": 32, "epochs": 50},
    "case2": {"learning_rate": 0.03, "batch_size": 32, "epochs": 100},
    "case3": {"learning_rate": 0.03, "batch_size": 64, "epochs": 50},
    "case4": {"learning_rate": 0.01, "batch_size": 64, "epochs": 50},
}
#: Adam's epsilon: He et al. 2020, eq. 7 (Kingma & Ba 2015), not Keras's 1e-7.
ADAM_EPSILON = 1e-8
CLASS_BALANCE = ("none", "weights", "balanced")
_CHECKPOINT_STATE = "state.json"


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Training settings (stored in the model's JSON sidecar).

    Attributes
    ----------
    model : str
        Network name (``he2020`` or ``resnet18``).
    epochs, batch_size : int
    learning_rate : float
        Adam step size.
    preprocess, normalization : str
        See :mod:`lensfinder.learning.preprocessing`.
    class_balance : str
        ``none``, ``weights`` or ``balanced``.
    augment : bool
        On-the-fly augmentation.
    val_fraction : float
        Fraction of images held out for validation (0 for none).
    seed : int
        Master seed.
    input_size : int or None
        Network input in pixels; None: the network's default (49 / 101).
    preset : str or None
        He et al. case the defaults came from.
    max_shift_pix : int
        Largest augmentation shift (network-input pixels).
    flux_jitter : float
        Half-width of the augmentation flux scale.
    """

    model: str = "he2020"
    epochs: int = 5
    batch_size: int = 32
    learning_rate: float = 1e-3
    preprocess: str = "bin2"
    normalization: str = "minmax"
    class_balance: str = "none"
    augment: bool = True
    val_fraction: float = 0.1
    seed: int = 42
    input_size: int | None = None
    preset: str | None = None
    max_shift_pix: int = 2
    flux_jitter: float = 0.1

    def __post_init__(self):
        checks = [
            (self.model in MODEL_NAMES, f"model {self.model!r}: expected one of {MODEL_NAMES}"),
            (self.preprocess in PREPROCESS_METHODS, f"preprocess {self.preprocess!r}: expected one of {PREPROCESS_METHODS}"),
            (self.normalization in NORMALIZATIONS, f"normalization {self.normalization!r}: expected one of {NORMALIZATIONS}"),
            (self.class_balance in CLASS_BALANCE, f"class_balance {self.class_balance!r}: expected one of {CLASS_BALANCE}"),
            (self.epochs >= 1, f"epochs: {self.epochs}, expected >= 1"),
            (self.batch_size >= 1, f"batch_size: {self.batch_size}, expected >= 1"),
            (self.learning_rate > 0, f"learning_rate: {self.learning_rate}, expected > 0"),
            (0 <= self.val_fraction < 1, f"val_fraction: {self.val_fraction}, expected 0 <= f < 1"),
            (self.preset is None or self.preset in HE2020_CASES, f"preset {self.preset!r}: expected one of {tuple(HE2020_CASES)}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    @property
    def resolved_input_size(self) -> int:
        return int(self.input_size or DEFAULT_INPUT_SIZE[self.model])

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    def resume_key(self) -> str:
        """Hash of everything but ``epochs`` (a resumed run may train longer)."""
        record = {k: v for k, v in self.as_dict().items() if k != "epochs"}
        return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:16]


def resolve_config(preset: str | None = None, **options) -> TrainConfig:
    """A :class:`TrainConfig` from a He et al. preset overridden by explicit options.

    Options that are None are left to the preset, then to the defaults.
    """
    if preset and preset not in HE2020_CASES:
        raise ValueError(f"preset {preset!r}: expected one of {tuple(HE2020_CASES)}")
    values = dict(HE2020_CASES[preset]) if preset else {}
    values.update({k: v for k, v in options.items() if v is not None})
    return TrainConfig(preset=preset, **values)


def augment_batch(images, rng, max_shift_pix: int = 2, flux_jitter: float = 0.1):
    """Rotate by k x 90 degrees, flip, shift and rescale a batch ``(n, ny, nx)``.

    The same random numbers are drawn whatever the options, so a batch's
    randomness depends only on its generator.
    """
    n = len(images)
    quarter_turns = rng.integers(0, 4, n)
    flips = rng.random(n) < 0.5
    shifts = rng.integers(-max_shift_pix, max_shift_pix + 1, (n, 2)) if max_shift_pix > 0 else np.zeros((n, 2), int)
    scales = rng.uniform(1.0 - flux_jitter, 1.0 + flux_jitter, n).astype(np.float32)
    out = np.empty_like(images)
    for k in range(4):
        sel = quarter_turns == k
        out[sel] = np.rot90(images[sel], k, axes=(1, 2))
    out[flips] = out[flips][:, :, ::-1]
    if shifts.any():
        # per-image np.roll as one gather: pixel (i, j) comes from (i - dy, j - dx), wrapped
        ny, nx = out.shape[1:3]
        rows = (np.arange(ny)[None, :] - shifts[:, :1]) % ny
        cols = (np.arange(nx)[None, :] - shifts[:, 1:]) % nx
        out = out[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
    return out * scales[:, None, None]


def configure_tensorflow(seed: int, threads: int | None = None, deterministic: bool = True) -> bool:
    """Seed Keras/TF, make ops deterministic, set threads and the precision policy.

    Thread counts can only be set before TensorFlow starts its runtime; in a
    process that already used TensorFlow they are left as they are (logged).

    Returns
    -------
    bool
        True when a GPU is visible (mixed precision switched on).
    """
    keras = import_keras()
    import tensorflow as tf

    if threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(int(threads))
            tf.config.threading.set_inter_op_parallelism_threads(max(1, min(2, int(threads))))
        except RuntimeError:
            log.debug("TensorFlow already initialised: thread counts left unchanged")
    keras.utils.set_random_seed(int(seed))
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    gpu = bool(tf.config.list_physical_devices("GPU"))
    keras.mixed_precision.set_global_policy("mixed_float16" if gpu else "float32")
    log.info("TensorFlow %s, %s, %s", tf.__version__, "GPU: mixed precision" if gpu else "CPU: float32",
             f"{threads} threads" if threads else "default threads")
    return gpu


class TrainingStream:
    """Seeded batches of preprocessed, augmented images from a :class:`ShardSet`.

    Parameters
    ----------
    shards : ShardSet
    train_rows, val_rows : numpy.ndarray of int
        Global row numbers of the training and validation images.
    config : TrainConfig
    """

    def __init__(self, shards: ShardSet, train_rows, val_rows, config: TrainConfig):
        self.shards = shards
        self.config = config
        self.train_rows = np.asarray(train_rows, dtype=np.int64)
        self.val_rows = np.asarray(val_rows, dtype=np.int64)
        labels = shards.labels[self.train_rows]
        self.positives = self.train_rows[labels]
        self.negatives = self.train_rows[~labels]
        if not len(self.positives) or not len(self.negatives):
            raise InputError(f"{shards.pairs[0][1]}: is_lens: the training rows hold only one class "
                             f"({len(self.positives)} lenses, {len(self.negatives)} non-lenses)")
        n = len(self.train_rows)
        self.class_weight = {
            False: n / (2.0 * len(self.negatives)), True: n / (2.0 * len(self.positives)),
        }
        if config.class_balance == "balanced":
            self.images_per_epoch = 2 * max(len(self.positives), len(self.negatives))
        else:
            self.images_per_epoch = n
        self.n_batches = math.ceil(self.images_per_epoch / config.batch_size)
        self.n_val_batches = math.ceil(len(self.val_rows) / config.batch_size)
        self.input_size = config.resolved_input_size
        self._settings = {"input_shape": [self.input_size, self.input_size, 1], "preprocess": config.preprocess,
                          "normalization": config.normalization}
        self.nonfinite_images = 0
        self._lock = threading.Lock()
        self._orders: dict[int, np.ndarray] = {}

    def epoch_order(self, epoch: int) -> np.ndarray:
        """Global rows of one epoch, in training order (seeded by ``seed`` and ``epoch``)."""
        with self._lock:
            order = self._orders.get(epoch)
            if order is None:
                rng = np.random.default_rng(np.random.SeedSequence([self.config.seed, 1, epoch]))
                if self.config.class_balance == "balanced":
                    major, minor = sorted((self.positives, self.negatives), key=len, reverse=True)
                    extra = rng.choice(minor, len(major) - len(minor), replace=True)
                    rows = np.concatenate([major, minor, extra])
                else:
                    rows = self.train_rows
                order = rng.permutation(rows)
                self._orders = {e: o for e, o in self._orders.items() if e >= epoch - 1}
                self._orders[epoch] = order
            return order

    def _prepare(self, rows):
        x, fraction = prepare_batch(self.shards.take(rows), self._settings)
        bad = int(np.count_nonzero(fraction))
        if bad:
            with self._lock:
                self.nonfinite_images += bad
        return x[..., 0]

    def train_batch(self, step: int):
        """Batch number ``step`` counted from epoch 0: ``(x, y, sample_weight)``."""
        epoch, batch = divmod(int(step), self.n_batches)
        bs = self.config.batch_size
        rows = self.epoch_order(epoch)[batch * bs:(batch + 1) * bs]
        x = self._prepare(rows)
        rng = np.random.default_rng(np.random.SeedSequence([self.config.seed, 2, epoch, batch]))
        if self.config.augment:
            x = augment_batch(x, rng, self.config.max_shift_pix, self.config.flux_jitter)
        labels = self.shards.labels[rows]
        if self.config.class_balance == "weights":
            weights = np.where(labels, self.class_weight[True], self.class_weight[False]).astype(np.float32)
        else:
            weights = np.ones(len(rows), dtype=np.float32)
        return x[..., np.newaxis].astype(np.float32), labels.astype(np.int32), weights

    def val_batch(self, batch: int):
        """Validation batch ``batch`` (no augmentation): ``(x, y)``."""
        bs = self.config.batch_size
        rows = self.val_rows[int(batch) * bs:(int(batch) + 1) * bs]
        return self._prepare(rows)[..., np.newaxis].astype(np.float32), self.shards.labels[rows].astype(np.int32)

    def datasets(self, initial_epoch: int, epochs: int, threads: int | None = None):
        """``(train, validation or None)`` ``tf.data`` pipelines for epochs ``initial_epoch..epochs-1``."""
        import tensorflow as tf

        size = self.input_size
        options = tf.data.Options()
        options.deterministic = True
        if threads:
            options.threading.private_threadpool_size = max(2, int(threads))

        def load_train(step):
            x, y, w = tf.numpy_function(self.train_batch, [step], (tf.float32, tf.int32, tf.float32), stateful=False)
            x.set_shape([None, size, size, 1])
            y.set_shape([None])
            w.set_shape([None])
            return x, y, w

        def load_val(batch):
            x, y = tf.numpy_function(self.val_batch, [batch], (tf.float32, tf.int32), stateful=False)
            x.set_shape([None, size, size, 1])
            y.set_shape([None])
            return x, y

        parallel = max(1, min(4, int(threads or 2)))
        train_ds = (tf.data.Dataset.range(initial_epoch * self.n_batches, epochs * self.n_batches)
                    .map(load_train, num_parallel_calls=parallel, deterministic=True)
                    .prefetch(4).with_options(options))
        val_ds = None
        if self.n_val_batches:
            val_ds = (tf.data.Dataset.range(self.n_val_batches)
                      .map(load_val, num_parallel_calls=parallel, deterministic=True)
                      .prefetch(2).with_options(options))
        return train_ds, val_ds


def split_rows(n: int, val_fraction: float, seed: int):
    """Seeded split of ``range(n)`` into sorted ``(train_rows, val_rows)``."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0]))
    order = rng.permutation(n)
    n_val = int(round(val_fraction * n))
    if val_fraction > 0 and n > 1:
        n_val = min(max(n_val, 1), n - 1)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


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


def _load_checkpoint(checkpoint_dir, resume_key, data_hash):
    """The saved state of an interrupted run with the same settings and data, or None."""
    state_path = checkpoint_dir / _CHECKPOINT_STATE
    if not state_path.exists():
        return None
    try:
        state = json.loads(state_path.read_text())
    except (OSError, json.JSONDecodeError):
        log.warning("%s: unreadable; starting afresh", state_path)
        return None
    if state.get("resume_key") != resume_key or state.get("data_hash") != data_hash:
        log.warning("%s: a checkpoint from other settings or data; starting afresh", state_path)
        return None
    if not (checkpoint_dir / state.get("checkpoint", "")).is_file():
        log.warning("%s: checkpoint file %s missing; starting afresh", state_path, state.get("checkpoint"))
        return None
    return state


def train(shards, config: TrainConfig, out, history_path=None, checkpoint_dir=None,
          threads: int | None = None, callbacks=()):
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

    data_hash = shard_set.data_hash()
    train_rows, val_rows = split_rows(len(shard_set), config.val_fraction, config.seed)
    stream = TrainingStream(shard_set, train_rows, val_rows, config)
    log.info("%d training images (%d lenses), %d for validation; %d images and %d batches per epoch",
             len(train_rows), len(stream.positives), len(val_rows), stream.images_per_epoch, stream.n_batches)

    gpu = configure_tensorflow(config.seed, threads)
    keras = import_keras()
    resume_key = config.resume_key()
    state = {"history": []}
    initial_epoch = 0
    ckpt = Path(checkpoint_dir) if checkpoint_dir else None
    saved = _load_checkpoint(ckpt, resume_key, data_hash) if ckpt else None
    if saved:
        model = load_model(ckpt / saved["checkpoint"], compile=True)
        initial_epoch = int(saved["epoch"])
        state = saved
        log.info("resuming from %s after epoch %d", ckpt / saved["checkpoint"], initial_epoch)
    else:
        model = _build_compiled(keras, config, size)
    if ckpt:
        ckpt.mkdir(parents=True, exist_ok=True)
        if not saved:  # stale checkpoints of other settings or data
            for stale in ckpt.glob("epoch_*.keras"):
                stale.unlink()

    if initial_epoch < config.epochs:
        train_ds, val_ds = stream.datasets(initial_epoch, config.epochs, threads)
        model.fit(
            train_ds, epochs=config.epochs, initial_epoch=initial_epoch, steps_per_epoch=stream.n_batches,
            validation_data=val_ds, verbose=0, shuffle=False,
            callbacks=_epoch_callbacks(keras, stream, state, ckpt, resume_key, data_hash) + list(callbacks),
        )
    else:
        log.info("the checkpoint already has %d epochs: nothing to train", initial_epoch)
    if stream.nonfinite_images:
        log.warning("%d training images (counted over all epochs) had NaN/inf pixels, set to 0",
                    stream.nonfinite_images)

    history = pd.DataFrame(state["history"])
    settings = {
        "model": config.model,
        "input_shape": [size, size, 1],
        "stamp_size": int(ny),
        "preprocess": config.preprocess,
        "normalization": config.normalization,
        "pixel_scale_arcsec": shard_set.pixel_scale_arcsec,
        "training": {**config.as_dict(), "optimizer": "adam", "adam_epsilon": ADAM_EPSILON,
                     "loss": "sparse_categorical_crossentropy", "mixed_precision": gpu,
                     "n_train": int(len(train_rows)), "n_val": int(len(val_rows))},
        "seed": config.seed,
        "data_hash": data_hash,
        "shards": [os.path.relpath(c) for c, _ in shard_set.pairs],
        "n_parameters": int(model.count_params()),
        "lensfinder_version": __version__,
    }
    write_settings(settings, out)
    write_csv(history, history_path)
    save_model(model, out)
    log.info("wrote %s, %s, %s", out, out.with_suffix(".json"), history_path)
    return history


def _build_compiled(keras, config: TrainConfig, size: int):
    from lensfinder.learning.models import build_model

    model = build_model(config.model, (size, size, 1))
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=config.learning_rate, epsilon=ADAM_EPSILON),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=["accuracy"],
    )
    return model


def _default_threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``lensfinder train``."""
    parser.add_argument("--shards", nargs="+", required=True, metavar="DIR_OR_FILE",
                        help="shard directories or shard_XXX.fits/.parquet files (label column is_lens)")
    parser.add_argument("--model", choices=MODEL_NAMES, default="he2020", help="network (default he2020)")
    parser.add_argument("--out", required=True, help="output model, must end in .keras (settings go to .json beside it)")
    parser.add_argument("--history", help="learning-curve CSV (default: OUT with .history.csv)")
    parser.add_argument("--checkpoint-dir", help="per-epoch checkpoints; a killed run resumes from here "
                        "(default: OUT's directory, OUT's stem + _checkpoints)")
    parser.add_argument("--preset", choices=sorted(HE2020_CASES), help="He et al. 2020 case (section 5.2); explicit options override it")
    parser.add_argument("--epochs", type=int, help="epochs (default 5, or the preset's)")
    parser.add_argument("--batch-size", type=int, help="batch size (default 32, or the preset's)")
    parser.add_argument("--learning-rate", type=float, help="Adam learning rate (default 1e-3, or the preset's)")
    parser.add_argument("--preprocess", choices=PREPROCESS_METHODS, default="bin2", help="stamp -> input resizing (default bin2)")
    parser.add_argument("--normalization", choices=NORMALIZATIONS, default="minmax", help="per-image normalisation (default minmax)")
    parser.add_argument("--input-size", type=int, help="network input in pixels (default: 49 for he2020, 101 for resnet18)")
    parser.add_argument("--class-balance", choices=CLASS_BALANCE, default="none", help="class weights or balanced sampling (default none)")
    parser.add_argument("--augment", action=argparse.BooleanOptionalAction, default=True, help="rotations, flips, shifts, flux scale (default on)")
    parser.add_argument("--val-fraction", type=float, default=0.1, help="fraction held out for validation (default 0.1)")
    parser.add_argument("--seed", type=int, default=42, help="master seed (default 42)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: all available)")


def run_train(args) -> int:
    """Entry point of ``lensfinder train``."""
    try:
        config = resolve_config(
            args.preset, model=args.model, epochs=args.epochs, batch_size=args.batch_size,
            learning_rate=args.learning_rate, preprocess=args.preprocess, normalization=args.normalization,
            class_balance=args.class_balance, augment=args.augment, val_fraction=args.val_fraction,
            seed=args.seed, input_size=args.input_size,
        )
    except ValueError as exc:
        raise InputError(f"train options: {exc}") from exc
    out = Path(args.out)
    checkpoint_dir = args.checkpoint_dir or out.with_name(f"{out.stem}_checkpoints")
    train(args.shards, config, out, args.history, checkpoint_dir, threads=args.threads or _default_threads())
    return 0
