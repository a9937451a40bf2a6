"""TensorFlow process set-up for training and scoring: threads, seeds, determinism, precision."""

from __future__ import annotations

import logging
from pathlib import Path

from lensfinder.constants import PRECISIONS
from lensfinder.hostcpu import has_bfloat16, host_features, is_x86
from lensfinder.learning.models import import_keras

__all__ = ["PRECISIONS", "NATIVE_BF16_FLAGS", "precision_policy", "cpu_computes_bfloat16", "gpu_visible",
           "set_threads", "configure_tensorflow", "data_options", "parallel_calls", "numpy_map", "batch_pipeline"]

log = logging.getLogger(__name__)

#: CPU flags (Linux ``/proc/cpuinfo``) of instructions that compute in bfloat16: AVX-512 BF16 (Intel Cooper
#: Lake and later Xeons, AMD Zen 4 and later) and AMX (Intel Sapphire Rapids and later). oneDNN uses them for
#: ``mixed_bfloat16``; without them bfloat16 is emulated, slower than float32.
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def precision_policy(precision: str, gpu: bool) -> str:
    """The Keras policy of a ``training.precision`` choice on a machine with (``gpu``) or without a GPU."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r}: expected one of {PRECISIONS}")
    if precision == "auto":
        return "mixed_float16" if gpu else "float32"
    return precision


def _cpuinfo_computes_bfloat16(cpuinfo: str | Path) -> bool | None:
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return bool(set(value.split()) & set(NATIVE_BF16_FLAGS))
    return None


def cpu_computes_bfloat16(cpuinfo: str | Path | None = None, machine: str | None = None) -> bool | None:
    """Whether this x86 CPU has bfloat16 instructions (:data:`NATIVE_BF16_FLAGS`); ``None`` where unknown.

    Without ``cpuinfo`` the CPU's features come from LLVM (llvmlite, which the
    simulator's compiled kernels use), so the answer holds on Linux, macOS and
    Windows alike; ``/proc/cpuinfo`` is read where LLVM cannot tell. Given a
    ``cpuinfo`` file, its x86 ``flags`` line decides. ``None`` for a CPU that is
    not x86 (``machine``, default ``platform.machine()``): Arm's bfloat16
    instructions (``bf16``) reach TensorFlow by another path, not measured here.
    """
    if cpuinfo is not None:
        return _cpuinfo_computes_bfloat16(cpuinfo)
    if not is_x86(machine):
        return None
    features = host_features()
    if features is None:
        return _cpuinfo_computes_bfloat16("/proc/cpuinfo")
    return has_bfloat16(features)


def gpu_visible() -> bool:
    """Whether TensorFlow sees a GPU (imports it)."""
    import_keras()
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


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


def parallel_calls(threads: int | None) -> int:
    """Batches prepared at once by a ``tf.data`` map: the thread count, 1-4 (none given: 2)."""
    return max(1, min(4, int(threads or 2)))


def data_options(threads: int | None = None):
    """``tf.data.Options`` of the pipelines that feed training and scoring (imports TensorFlow).

    Deterministic order; a private thread pool of ``threads`` (at least 2) when
    given; autotuning off. The pipelines set their own parallelism and buffers,
    so the autotuner has nothing to tune, and its thread costs time at the end:
    an iterator's destructor waits for the autotuner's sleep (which grows to
    60 s) to run out. With it on, two ends of training in six on a 2-core
    machine stalled 36 s and 52 s between the last epoch and the model's
    writing (docs/performance.md); the weights are the same bit for bit.
    """
    import_keras()
    import tensorflow as tf

    options = tf.data.Options()
    options.deterministic = True
    options.autotune.enabled = False
    if threads:
        options.threading.private_threadpool_size = max(2, int(threads))
    return options


def numpy_map(fn, dtypes: tuple, shapes: tuple):
    """A ``tf.data`` map function that runs ``fn(step)`` in numpy (``tf.numpy_function``, stateless) and gives
    its outputs ``dtypes`` and static ``shapes`` (one per output; ``None`` for an unknown dimension)."""
    import tensorflow as tf

    def load(step):
        outputs = tf.numpy_function(fn, [step], list(dtypes), stateful=False)
        for tensor, shape in zip(outputs, shapes):
            tensor.set_shape(shape)
        return tuple(outputs)

    return load


def batch_pipeline(steps: range, load, threads: int | None, buffer: int, options=None):
    """The ``tf.data`` pipeline of training's and scoring's batches: ``load(step)`` for each step of ``steps``
    (a ``range`` of step numbers), :func:`parallel_calls` steps at once in order, ``buffer`` batches ahead,
    with ``options`` (default :func:`data_options` of ``threads``: no autotuning)."""
    import tensorflow as tf

    return (tf.data.Dataset.range(steps.start, steps.stop)
            .map(load, num_parallel_calls=parallel_calls(threads), deterministic=True)
            .prefetch(buffer).with_options(data_options(threads) if options is None else options))


def configure_tensorflow(seed: int, threads: int | None = None, deterministic: bool = True,
                         precision: str = "auto") -> str:
    """Seed Keras/TF, make ops deterministic, set threads and the precision policy.

    ``precision`` ``auto`` switches mixed precision (float16 compute, float32
    output layer) on only when a GPU is visible (:func:`precision_policy`).

    Returns
    -------
    str
        The Keras policy set (``float32``, ``mixed_float16`` or ``mixed_bfloat16``).
    """
    keras = import_keras()
    set_threads(threads)
    import tensorflow as tf

    keras.utils.set_random_seed(int(seed))
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    gpu = gpu_visible()
    policy = precision_policy(precision, gpu)
    keras.mixed_precision.set_global_policy(policy)
    if not gpu and policy in ("float32", "mixed_bfloat16"):
        computes = cpu_computes_bfloat16()
        if policy == "mixed_bfloat16" and computes is False:
            log.warning("precision mixed_bfloat16 on a CPU without bfloat16 instructions (%s): TensorFlow "
                        "emulates them, expect training slower than in float32", " or ".join(NATIVE_BF16_FLAGS))
        elif precision == "auto" and computes:
            log.info("this CPU has bfloat16 instructions: training.precision mixed_bfloat16 trains the "
                     "default network about 1.7 times as fast (docs/learning.md)")
    log.info("TensorFlow %s, %s: %s, %s", tf.__version__, "GPU" if gpu else "CPU", policy,
             f"{threads} threads" if threads else "default threads")
    return policy
