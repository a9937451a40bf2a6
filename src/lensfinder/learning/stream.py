"""Seeded, augmented training batches streamed from shards into ``tf.data`` (docs/learning.md).

A global step number fixes the epoch and the batch within it; the epoch fixes
a seeded order of the training rows, ``SeedSequence([seed, 2, epoch, batch])``
the batch's augmentation, so a resumed run sees exactly the batches it would
have seen. Memory holds labels, row numbers and, for ``sky`` normalisation,
each image's border sky level and noise once read (16 bytes per image and
band), so later epochs skip their medians; and, up to ``cache_mb``, each
image's network input once prepared (before augmentation: the same bits as
preparing it again), so later epochs skip reading and preprocessing it.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from lensfinder.io import InputError, select_bands
from lensfinder.learning.config import TrainConfig
from lensfinder.learning.datasets import ShardSet
from lensfinder.learning.preprocessing import (input_channels, prepare_and_measure, prepare_batch,
                                               resolve_colour_residual)
from lensfinder.learning.residual import moffat_fit_columns
from lensfinder.learning.runtime import batch_pipeline, numpy_map

__all__ = ["DEFAULT_CACHE_MB", "augment_batch", "split_rows", "TrainingStream"]

#: Memory (MB) for prepared network inputs kept between epochs (``lensfinder train --cache-mb``; the
#: workflow's ``train`` job passes half its ``resources: mem_mb``): the default run's 12,000
#: two-scale g, r, i inputs with the g-r residual take 922 MB.
DEFAULT_CACHE_MB = 2048


def augment_batch(images, rng, max_shift_pix: int = 2, flux_jitter: float = 0.1):
    """Rotate by k x 90 degrees, flip, shift and rescale a batch ``(n, ny, nx)`` or ``(n, ny, nx, n_bands)``.

    Every band of an image is turned, shifted and rescaled alike, so its
    colours stay. The same random numbers are drawn whatever the options, so
    a batch's randomness depends only on its generator.
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
    return out * scales.reshape((n,) + (1,) * (out.ndim - 1))


def split_rows(n: int, val_fraction: float, seed: int):
    """Seeded split of ``range(n)`` into sorted ``(train_rows, val_rows)``."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0]))
    order = rng.permutation(n)
    n_val = int(round(val_fraction * n))
    if val_fraction > 0 and n > 1:
        n_val = min(max(n_val, 1), n - 1)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


class TrainingStream:
    """Seeded batches of preprocessed, augmented images from a :class:`ShardSet`.

    Parameters
    ----------
    shards : ShardSet
    train_rows, val_rows : numpy.ndarray of int
        Global row numbers of the training and validation images.
    config : TrainConfig
    bands : sequence of str, optional
        The bands the network sees, in channel order (default: all the shards' bands).
    keep_sky : bool
        ``sky`` normalisation: keep each image's border sky level and noise
        once measured (the default; the batches are the same either way).
    cache_mb : float
        Memory for keeping prepared network inputs (float32, before
        augmentation) between epochs; the training rows first, then the
        validation rows, as many as fit. 0: prepare every image every time
        (the batches are the same either way).
    """

    def __init__(self, shards: ShardSet, train_rows, val_rows, config: TrainConfig, bands=None,
                 keep_sky: bool = True, cache_mb: float = DEFAULT_CACHE_MB):
        self.shards = shards
        self.config = config
        self.bands = tuple(bands or shards.bands)
        select_bands(np.zeros((0, len(shards.bands), 1, 1)), shards.bands, self.bands,
                     f"{shards.pairs[0][0]} (training shards)")
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
        try:
            self.colour_residual = resolve_colour_residual(config.colour_residual, self.bands)
        except ValueError as exc:
            raise InputError(f"{exc}; set it to none for these bands") from None
        self.colour_residual_match = config.colour_residual_match if self.colour_residual else None
        channels = input_channels(len(self.bands), config.preprocess, self.colour_residual)
        self._settings = {"input_shape": [self.input_size, self.input_size, channels],
                          "bands": list(self.bands), "preprocess": config.preprocess,
                          "normalization": config.normalization, **self.residual_record}
        self.nonfinite_images = 0
        self._lock = threading.Lock()
        self._orders: dict[int, np.ndarray] = {}
        # per global row: known?, and (scale, median|sigma, band) of its border sky (sky normalisation)
        keep = keep_sky and config.normalization == "sky"
        self._sky_known = np.zeros(len(shards), bool) if keep else None
        planes = len(self.bands) + (1 if self.colour_residual else 0)  # the residual normalised like a band
        self._sky = np.zeros((len(shards), input_channels(1, config.preprocess), 2, planes), np.float32) \
            if keep else None
        # per global row: its slot in the input cache (-1: not cached), and whether the slot is filled
        if cache_mb < 0:
            raise InputError(f"cache_mb: {cache_mb}, expected >= 0")
        per_image = 4 * self.input_size * self.input_size * channels
        cached = np.concatenate([self.train_rows, self.val_rows])[:int(cache_mb * 2**20 // per_image)]
        self._slot = np.full(len(shards), -1, np.int64)
        self._slot[cached] = np.arange(len(cached))
        self._cache = np.empty((len(cached), self.input_size, self.input_size, channels), np.float32)
        self._cached = np.zeros(len(cached), bool)
        self._nonfinite = np.zeros(len(cached), bool)  # counted again at every read, as an uncached image
        self._psf = self._moffat_fits()

    def _moffat_fits(self):
        """The rows' Moffat fits of the colour residual's bands, where the shards' tables carry them (survey
        stamps of a fine-tuning set, from their stamp index), and the pixel scale: their residual is matched
        as scoring matches it (:func:`lensfinder.learning.residual.moffat_match`); None where no row has
        them, or the network has no PSF-matched residual."""
        if not self.colour_residual or self.colour_residual_match != "psf":
            return None
        fits = np.stack([self.shards.column(c) for c in moffat_fit_columns(self.colour_residual)], axis=1)
        if not np.isfinite(fits).all(axis=1).any():
            return None
        return fits, self.shards.pixel_scale_arcsec

    @property
    def moffat_rows(self) -> int:
        """How many rows' colour residual is matched with their Moffat fits (:meth:`_moffat_fits`)."""
        return 0 if self._psf is None else int(np.isfinite(self._psf[0]).all(axis=1).sum())

    @property
    def residual_record(self) -> dict:
        """The sidecar's colour residual keys: its bands (``[]``: none) and, with a residual, its match."""
        record = {"colour_residual": list(self.colour_residual)}
        if self.colour_residual:
            record["colour_residual_match"] = self.colour_residual_match
        return record

    @property
    def input_shape(self) -> tuple:
        """The network input ``(size, size, channels)`` of these batches."""
        return tuple(self._settings["input_shape"])

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

    def _keep_sky(self, rows, stats):
        """Keep the :func:`sky_statistics` of these rows' images, measured on their first read."""
        self._sky[rows] = np.stack([np.stack([m[..., 0, 0], s[..., 0, 0]], axis=1) for m, s in stats], axis=1)
        self._sky_known[rows] = True  # after the values: a concurrent batch reads them whole or measures again

    def _kept_sky(self, rows):
        """The kept :func:`sky_statistics` of these rows' images, as :func:`prepare_batch` takes them."""
        kept = self._sky[rows]
        return tuple((kept[:, k, 0, :, None, None], kept[:, k, 1, :, None, None]) for k in range(kept.shape[1]))

    @property
    def cached_images(self) -> int:
        """How many images' inputs the cache holds room for."""
        return len(self._cache)

    def _prepare(self, rows):
        """Network input ``(n, size, size, n_channels)`` of global rows, from the cache where it holds them."""
        rows = np.asarray(rows)
        slots = self._slot[rows]
        known = slots >= 0
        known[known] = self._cached[slots[known]]
        self._count_nonfinite(int(np.count_nonzero(self._nonfinite[slots[known]])))
        if known.all():
            return self._cache[slots]
        missing = ~known
        read, bad = self._read(rows[missing])
        missing_slots = slots[missing]
        fresh = missing_slots >= 0
        self._cache[missing_slots[fresh]] = read[fresh]
        self._nonfinite[missing_slots[fresh]] = bad[fresh]
        self._cached[missing_slots[fresh]] = True  # after the values: a concurrent batch reads them whole or prepares again
        if not known.any():  # nothing cached yet (or no cache): the rows as read, without a copy
            return read
        x = np.empty((len(rows),) + self.input_shape, np.float32)
        x[known] = self._cache[slots[known]]
        x[missing] = read
        return x

    def _count_nonfinite(self, n: int) -> None:
        if n:
            with self._lock:
                self.nonfinite_images += n

    def _read(self, rows):
        """Network input of global rows, read from the shards and prepared, and which had NaN/inf pixels."""
        images = select_bands(self.shards.take(rows), self.shards.bands, self.bands)
        rows = np.asarray(rows)
        psf = (self._psf[0][rows], self._psf[1]) if self._psf is not None else None
        if self._sky is not None and not self._sky_known[rows].all():  # a first read: measure as it prepares
            x, fraction, sky = prepare_and_measure(images, self._settings, psf=psf)
            self._keep_sky(rows, sky)
        else:
            x, fraction = prepare_batch(images, self._settings, psf=psf,
                                        sky=self._kept_sky(rows) if self._sky is not None else None)
        bad = np.asarray(fraction) > 0
        self._count_nonfinite(int(np.count_nonzero(bad)))
        return x, bad

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
        return x.astype(np.float32, copy=False), labels.astype(np.int32), weights

    def val_batch(self, batch: int):
        """Validation batch ``batch`` (no augmentation): ``(x, y)``."""
        bs = self.config.batch_size
        rows = self.val_rows[int(batch) * bs:(int(batch) + 1) * bs]
        return self._prepare(rows).astype(np.float32, copy=False), self.shards.labels[rows].astype(np.int32)

    def datasets(self, initial_epoch: int, epochs: int, threads: int | None = None):
        """``(train, validation or None)`` ``tf.data`` pipelines for epochs ``initial_epoch..epochs-1``."""
        import tensorflow as tf

        x_shape = [None, *self.input_shape]
        load_train = numpy_map(self.train_batch, (tf.float32, tf.int32, tf.float32), (x_shape, [None], [None]))
        train_ds = batch_pipeline(range(initial_epoch * self.n_batches, epochs * self.n_batches), load_train, threads, 4)
        val_ds = None
        if self.n_val_batches:
            load_val = numpy_map(self.val_batch, (tf.float32, tf.int32), (x_shape, [None]))
            val_ds = batch_pipeline(range(self.n_val_batches), load_val, threads, 2)
        return train_ds, val_ds
