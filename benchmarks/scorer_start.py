"""Start-up of a scorer with dihedral test-time augmentation: tracing its graph.

Every scoring process (``lensfinder infer``, ``rescore``, the evaluation and
``domain_shift`` jobs) and every in-process ``predict_shard`` call builds the
network's ``tf.function`` once: the eight rotations and flips of a batch, the
network (cut before its softmax) on each, stacked for the float64 mean
(``lensfinder.learning.inference``). Timed in
fresh processes, best of ``--repeat``: the first call (the trace and one
batch), then the best of five more calls of the same batch (the graph alone):

- ours: the function the scorer builds (``forward.forward_function``; quarter turns
  as transposes and reversals, no AutoGraph);
- baseline: the same loop with ``tf.image.rot90``, which builds a four-way
  ``tf.case`` for every turn, traced through AutoGraph, as every scorer did
  before December 2026.

Both give the same scores bit for bit (compared here by hash); scores that
differ make the script exit 1. The network is the default's (he2020 on the
default's input, derived from ``TrainConfig``'s defaults by
benchmarks/defaults.py: the two-scale g, r, i input with the g-r colour
residual, 49x49x8), untrained: weights do not change the time.

Usage: ``python benchmarks/scorer_start.py [--repeat 3] [--batch 256]``
"""

from __future__ import annotations

import argparse
import subprocess
import sys

_PROBE = """
import hashlib, sys, time
import numpy as np
from lensfinder.learning.models import build_model, import_keras
keras = import_keras()
import tensorflow as tf
from lensfinder.learning import forward
from lensfinder.learning.modelfiles import logit_heads

keras.utils.set_random_seed(3)
shape = tuple(int(n) for n in sys.argv[3:6])
model = build_model("he2020", shape)
heads = logit_heads(model)
x = tf.constant(np.random.default_rng(0).normal(size=(int(sys.argv[2]), *shape)).astype(np.float32))


def former(x):
    views = []
    for flip in (False, True):
        y = tf.reverse(x, axis=[2]) if flip else x
        for k in range(4):
            views.append(heads[0](tf.image.rot90(y, k=k), training=False))
    return tf.stack(views, axis=1)


if sys.argv[1] == "ours":
    forward = forward.forward_function(heads, "dihedral", tf)  # as the scorer builds it
else:
    forward = tf.function(former, reduce_retracing=True)
t0 = time.perf_counter()
p = forward(x).numpy()
t1 = time.perf_counter()
again = []
for _ in range(5):
    t = time.perf_counter()
    forward(x).numpy()
    again.append(time.perf_counter() - t)
print(t1 - t0, min(again), hashlib.sha256(p.tobytes()).hexdigest())
"""


def _probe(way: str, batch: int, shape):
    out = subprocess.run([sys.executable, "-c", _PROBE, way, str(batch), *map(str, shape)], check=True,
                         capture_output=True, text=True).stdout.split()
    return float(out[0]), float(out[1]), out[2]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="fresh processes per way (best taken)")
    parser.add_argument("--batch", type=int, default=256, help="stamps in the batch")
    args = parser.parse_args(argv)

    from lensfinder.learning.config import resolve_config
    from defaults import describe, input_shape  # benchmarks/defaults.py, beside this script

    config = resolve_config(None, model="he2020")  # the default network and its input
    shape = input_shape(config)
    results = {}
    for _ in range(args.repeat):
        for way in ("baseline", "ours"):  # interleaved: a busy spell hits both
            results.setdefault(way, []).append(_probe(way, args.batch, shape))
    hashes = {way: {r[2] for r in runs} for way, runs in results.items()}
    if len(hashes["ours"] | hashes["baseline"]) != 1:
        print(f"scores differ: {hashes}", file=sys.stderr)
        return 1
    first = {way: min(r[0] for r in runs) for way, runs in results.items()}
    again = {way: min(r[1] for r in runs) for way, runs in results.items()}
    print(f"dihedral scorer, he2020 on {describe(config)}, batch of {args.batch}, best of {args.repeat} "
          f"fresh processes:")
    print(f"  first call (trace + batch): ours {first['ours']:.2f} s, baseline {first['baseline']:.2f} s, "
          f"{first['baseline'] / first['ours']:.2f}x, {first['baseline'] - first['ours']:.2f} s saved per scorer")
    print(f"  later calls (graph alone):  ours {again['ours']:.3f} s, baseline {again['baseline']:.3f} s, "
          f"{again['baseline'] / again['ours']:.2f}x")
    trace = {way: first[way] - again[way] for way in first}
    print(f"  the trace alone (first minus later): ours {trace['ours']:.2f} s, baseline {trace['baseline']:.2f} s, "
          f"{trace['baseline'] / trace['ours']:.2f}x")
    print("  scores: the same bits")
    return 0


if __name__ == "__main__":
    sys.exit(main())
