"""Start-up of a multi-band simulation: the tabulated template fluxes against SkyPy computing them.

Every ``lensfinder simulate`` job in g, r, i needs the five kcorrect
templates' fluxes through the three filters on 81 redshifts
(:mod:`lensfinder.simulation.templates`). Timed in fresh processes (the cost
is paid once per process: imports included), best of ``--repeat``:

- ours: :func:`lensfinder.simulation.colours.template_fluxes` from the table
  that ships with the package;
- baseline: the same call with ``LENSFINDER_TEMPLATE_TABLE=0``, so SkyPy
  computes them (importing astropy.cosmology and SkyPy), as every job did
  before December 2026.

Then the same two ways around a whole small simulation
(``lensfinder simulate --recipe broad --n 200`` in g, r, i), CPU time of the
process. Both give the same numbers bit for bit (checked here too).

Usage: ``python benchmarks/templates.py [--repeat 3] [--filters sdss2010-g sdss2010-r sdss2010-i]``
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile

_PROBE = """
import hashlib, sys, time
t0 = time.perf_counter()
from lensfinder.simulation.colours import template_fluxes
grid = template_fluxes(tuple(sys.argv[1:]))
print(time.perf_counter() - t0, hashlib.sha256(grid.tobytes()).hexdigest())
"""


def _env(table: bool) -> dict:
    return {**os.environ, "LENSFINDER_TEMPLATE_TABLE": "1" if table else "0"}


def _probe(filters, table: bool):
    out = subprocess.run([sys.executable, "-c", _PROBE, *filters], env=_env(table), check=True, capture_output=True,
                         text=True).stdout.split()
    return float(out[0]), out[1]


def _simulate_cpu(table: bool, n: int) -> float:
    """CPU seconds (user + system) of one ``lensfinder simulate`` process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "lensfinder", "simulate", "--recipe", "broad", "--n", str(n),
                        "--seed", "2", "--shard", "000", "--set-name", "test", "--out", tmp,
                        "--set", "stamp_size=101", "--set", "pixel_scale_arcsec=0.2", "--set", 'preset="kids"',
                        "--set", 'bands=["g", "r", "i"]'], env=_env(table), check=True, capture_output=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="fresh processes per way (best is kept)")
    parser.add_argument("--filters", nargs="+", default=["sdss2010-g", "sdss2010-r", "sdss2010-i"],
                        help="speclite filter names (default: the KiDS preset's g, r, i)")
    parser.add_argument("--n", type=int, default=200, help="images of the whole-simulation row")
    args = parser.parse_args(argv)

    ours = [_probe(args.filters, True) for _ in range(args.repeat)]
    base = [_probe(args.filters, False) for _ in range(args.repeat)]
    if {h for _, h in ours} != {h for _, h in base} or len({h for _, h in ours}) != 1:
        raise SystemExit("the table and SkyPy gave different fluxes")
    t_ours, t_base = min(t for t, _ in ours), min(t for t, _ in base)
    sim_ours = min(_simulate_cpu(True, args.n) for _ in range(args.repeat))
    sim_base = min(_simulate_cpu(False, args.n) for _ in range(args.repeat))

    print(f"template fluxes of {', '.join(args.filters)}: fresh process, imports included, best of {args.repeat}")
    print(f"{'':58s}{'seconds':>9s}{'ratio':>8s}")
    print(f"{'SkyPy computes them (LENSFINDER_TEMPLATE_TABLE=0)':58s}{t_base:9.2f}{1.0:8.1f}")
    print(f"{'the shipped table (lensfinder)':58s}{t_ours:9.2f}{t_base / t_ours:8.1f}")
    print(f"{f'lensfinder simulate --n {args.n} (g, r, i), CPU s, SkyPy':58s}{sim_base:9.2f}{1.0:8.1f}")
    print(f"{f'lensfinder simulate --n {args.n} (g, r, i), CPU s, table':58s}{sim_ours:9.2f}{sim_base / sim_ours:8.2f}")
    print(f"ratio: {t_base / t_ours:.1f}x for the fluxes; {sim_base - sim_ours:.1f} CPU s saved per simulate job "
          "(identical fluxes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
