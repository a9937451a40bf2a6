"""TensorFlow process set-up for training and scoring: threads, seeds, determinism, precision."""

from __future__ import annotations

import logging

from lensfinder.learning.models import import_keras

__all__ = ["set_threads", "configure_tensorflow"]

log = logging.getLogger(__name__)


def set_threads(threads: int | None) -> None:
    """Import TensorFlow and set its thread counts (none given: left as they are).

    Thread counts can only be set before TensorFlow starts its runtime; in a
    process that already used TensorFlow they are left as they are (logged).
    """
    import_keras()
    import tensorflow as tf

    if not threads:
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(int(threads))
        tf.config.threading.set_inter_op_parallelism_threads(max(1, min(2, int(threads))))
    except RuntimeError:
        log.debug("TensorFlow already initialised: thread counts left unchanged")


def configure_tensorflow(seed: int, threads: int | None = None, deterministic: bool = True) -> bool:
    """Seed Keras/TF, make ops deterministic, set threads and the precision policy.

    Mixed precision (float16 compute, float32 output layer) is switched on only
    when a GPU is visible.

    Returns
    -------
    bool
        True when a GPU is visible (mixed precision switched on).
    """
    keras = import_keras()
    set_threads(threads)
    import tensorflow as tf

    keras.utils.set_random_seed(int(seed))
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    gpu = bool(tf.config.list_physical_devices("GPU"))
    keras.mixed_precision.set_global_policy("mixed_float16" if gpu else "float32")
    log.info("TensorFlow %s, %s, %s", tf.__version__, "GPU: mixed precision" if gpu else "CPU: float32",
             f"{threads} threads" if threads else "default threads")
    return gpu
