"""Timing helpers the benchmark scripts share; imports nothing but the standard library, so that
benchmarks/gpu.py runs where only numpy and Keras are installed."""

from __future__ import annotations

import time


def epoch_timer(keras, seconds_per_epoch, clock=time.perf_counter):
    """A callback recording seconds per epoch on ``clock``: wall clock, or
    ``time.process_time`` for the process CPU seconds (all threads)."""

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = clock()

        def on_epoch_end(self, epoch, logs=None):
            seconds_per_epoch.append(clock() - self.t0)

    return EpochTimer()


def train_and_score_rates(keras, model, fit_args, x, epochs: int, batch_inference: int, repeats: int,
                          **fit_kwargs) -> tuple[float, float]:
    """Images/s of ``model`` training on ``fit_args`` (``(dataset,)`` or ``(x, y)``) for ``epochs`` and
    scoring ``x``: the best epoch after the first (which traces), and the best of ``repeats`` scorings
    after a warm-up batch of ``batch_inference``."""
    seconds = []
    model.fit(*fit_args, epochs=epochs, verbose=0, callbacks=[epoch_timer(keras, seconds)], **fit_kwargs)
    return len(x) / min(seconds[1:] or seconds), score_rate(model, x, batch_inference, repeats)[0]


def score_rate(model, x, batch_inference: int, repeats: int):
    """Images/s of ``model`` scoring ``x`` in batches of ``batch_inference``, the best of ``repeats`` after
    a warm-up batch (which traces), and the last scoring's output."""
    model.predict(x[:batch_inference], batch_size=batch_inference, verbose=0)  # warm-up: tracing
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        output = model.predict(x, batch_size=batch_inference, verbose=0)
        best = min(best, time.perf_counter() - start)
    return len(x) / best, output
