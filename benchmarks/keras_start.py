"""Start-up of a training or scoring process: importing Keras on TensorFlow.

Every ``lensfinder`` step that trains or scores (``train``, ``infer``,
``rescore``, the soup's and the rounds' fine-tuning, the evaluation and
``domain_shift`` jobs) imports Keras once, in a fresh process, and so does
every test of the suite that runs one. Timed in fresh processes, each way
in turn, best of ``--repeat``, wall and CPU time of the import alone:

- ours: ``lensfinder.learning.models.import_keras``, which hides
  scikit-learn from Keras while Keras is imported (Keras imports it, where it
  is installed, for its scikit-learn wrappers alone; lenstronomy needs it, so
  it is in every environment of lensfinder's);
- baseline: ``import keras`` with the same environment (TensorFlow backend,
  oneDNN on), scikit-learn imported, as every step did before December 2026.

Both leave the same Keras and TensorFlow; scikit-learn stays importable.

Usage: ``python benchmarks/keras_start.py [--repeat 5]``
"""

from __future__ import annotations

import argparse
import subprocess
import sys

_PROBE = """
import os, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
t0, c0 = time.perf_counter(), time.process_time()
if sys.argv[1] == "ours":
    from lensfinder.learning.models import import_keras
    keras = import_keras()
else:
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras
t1, c1 = time.perf_counter(), time.process_time()
sklearn_imported = "sklearn" in sys.modules and sys.modules["sklearn"] is not None
import sklearn  # importable either way
print(t1 - t0, c1 - c0, keras.backend.backend(), sklearn_imported)
"""


def _probe(way: str) -> tuple[float, float, str, str]:
    out = subprocess.run([sys.executable, "-c", _PROBE, way], check=True, capture_output=True,
                         text=True).stdout.split()
    return float(out[0]), float(out[1]), out[2], out[3]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="fresh processes per way (best taken)")
    args = parser.parse_args(argv)

    results: dict[str, list] = {"ours": [], "baseline": []}
    for _ in range(args.repeat):
        for way in results:  # alternating, so that a slower minute of the machine falls on both
            results[way].append(_probe(way))
    for way, runs in results.items():
        wall, cpu = min(r[0] for r in runs), min(r[1] for r in runs)
        print(f"{way:>8}: import {wall:.2f} s wall, {cpu:.2f} s CPU (best of {len(runs)}); backend {runs[0][2]}, "
              f"scikit-learn imported: {runs[0][3]}")
    ours, base = results["ours"], results["baseline"]
    wall = min(r[0] for r in base) / min(r[0] for r in ours)
    cpu = min(r[1] for r in base) / min(r[1] for r in ours)
    print(f"ratio (baseline / ours): {wall:.2f}x wall, {cpu:.2f}x CPU; "
          f"{min(r[1] for r in base) - min(r[1] for r in ours):.2f} s of CPU less per process")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
