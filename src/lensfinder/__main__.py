"""`python -m lensfinder` is the `lensfinder` command."""

import sys

from .cli import main

sys.exit(main())
