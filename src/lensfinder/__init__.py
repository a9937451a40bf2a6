"""lensfinder: a reproducible CNN search for galaxy-scale strong lenses.

Implements He et al. 2020 (MNRAS 497, 556; KiDS DR3, 2-conv + 3-FC network)
and Li et al. 2020 (ApJ 899, 30; KiDS DR4, ResNet-18, human grades).

Importing the package is cheap: no TensorFlow, no astropy. Modules import
what they need.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
