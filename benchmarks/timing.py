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
    model.predict(x[:batch_inference], batch_size=batch_inference, verbose=0)  # warm-up: tracing
    scoring = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.predict(x, batch_size=batch_inference, verbose=0)
        scoring.append(len(x) / (time.perf_counter() - start))
    return len(x) / min(seconds[1:] or seconds), max(scoring)
