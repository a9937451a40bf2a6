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
