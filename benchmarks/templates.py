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
process. Both must give the same numbers: checked here to a relative 1e-12
(the table holds SkyPy's numbers from the machine that wrote it; SkyPy on a
CPU with other vector units, AVX-512 against AVX2, sums in another order and
differs in the last bits, relative 1e-14), and the simulated images are
compared too, bit for bit (a difference of 1e-14 in a flux does not reach a
float32 pixel). Fluxes or images that differ make the script exit 1.

Usage: ``python benchmarks/templates.py [--repeat 3] [--filters sdss2010-g sdss2010-r sdss2010-i]``
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile

import numpy as np
from astropy.io import fits

_PROBE = """
import sys, time
t0 = time.perf_counter()
from lensfinder.simulation.colours import template_fluxes
grid = template_fluxes(tuple(sys.argv[2:]))
elapsed = time.perf_counter() - t0
import numpy as np
np.save(sys.argv[1], grid)
print(elapsed)
"""


def _env(table: bool) -> dict:
    return {**os.environ, "LENSFINDER_TEMPLATE_TABLE": "1" if table else "0"}


def _probe(filters, table: bool):
    """Seconds to the fluxes in a fresh process, and the fluxes."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "grid.npy")
        out = subprocess.run([sys.executable, "-c", _PROBE, path, *filters], env=_env(table), check=True,
                             capture_output=True, text=True).stdout.split()
        return float(out[0]), np.load(path)


def _simulate_cpu(table: bool, n: int):
    """CPU seconds (user + system) of one ``lensfinder simulate`` process, and its images."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "lensfinder", "simulate", "--recipe", "broad", "--n", str(n),
                        "--seed", "2", "--shard", "000", "--set-name", "test", "--out", tmp,
                        "--set", "stamp_size=101", "--set", "pixel_scale_arcsec=0.2", "--set", 'preset="kids"',
                        "--set", 'bands=["g", "r", "i"]'], env=_env(table), check=True, capture_output=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        with fits.open(os.path.join(tmp, "shard_000.fits")) as hdul:
            images = np.array(hdul[0].data)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), images


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="fresh processes per way (best is kept)")
    parser.add_argument("--filters", nargs="+", default=["sdss2010-g", "sdss2010-r", "sdss2010-i"],
                        help="speclite filter names (default: the KiDS preset's g, r, i)")
    parser.add_argument("--n", type=int, default=200, help="images of the whole-simulation row")
    args = parser.parse_args(argv)

    ours = [_probe(args.filters, True) for _ in range(args.repeat)]
    base = [_probe(args.filters, False) for _ in range(args.repeat)]
    table, skypy = ours[0][1], base[0][1]
    if not all(np.array_equal(g, table) for _, g in ours) or not all(np.array_equal(g, skypy) for _, g in base):
        raise SystemExit("fresh processes gave different fluxes the same way")
    if not np.allclose(table, skypy, rtol=1e-12, atol=0):
        raise SystemExit("the table and SkyPy gave different fluxes")
    differ = float(np.max(np.abs(table / skypy - 1)))
    t_ours, t_base = min(t for t, _ in ours), min(t for t, _ in base)
    sims_ours = [_simulate_cpu(True, args.n) for _ in range(args.repeat)]
    sims_base = [_simulate_cpu(False, args.n) for _ in range(args.repeat)]
    sim_ours, sim_base = min(t for t, _ in sims_ours), min(t for t, _ in sims_base)
    same_images = np.array_equal(sims_ours[0][1], sims_base[0][1])

    print(f"template fluxes of {', '.join(args.filters)}: fresh process, imports included, best of {args.repeat}")
    print(f"{'':58s}{'seconds':>9s}{'ratio':>8s}")
    print(f"{'SkyPy computes them (LENSFINDER_TEMPLATE_TABLE=0)':58s}{t_base:9.2f}{1.0:8.1f}")
    print(f"{'the shipped table (lensfinder)':58s}{t_ours:9.2f}{t_base / t_ours:8.1f}")
    print(f"{f'lensfinder simulate --n {args.n} (g, r, i), CPU s, SkyPy':58s}{sim_base:9.2f}{1.0:8.1f}")
    print(f"{f'lensfinder simulate --n {args.n} (g, r, i), CPU s, table':58s}{sim_ours:9.2f}{sim_base / sim_ours:8.2f}")
    print(f"ratio: {t_base / t_ours:.1f}x for the fluxes; {sim_base - sim_ours:.1f} CPU s saved per simulate job")
    print(f"fluxes: largest relative difference from SkyPy on this machine {differ:.1e}; images with and without "
          f"the table {'identical' if same_images else 'differ'}")
    if not same_images:
        print("the simulated images differ with and without the table", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
