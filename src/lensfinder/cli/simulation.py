"""The simulation steps' command line (TEMPORARY re-exports; the code moves here)."""

from lensfinder.simulation.simulate import add_simulate_arguments, run_simulate  # noqa: F401
from lensfinder.simulation.entropy import add_entropy_arguments, run_entropy  # noqa: F401
