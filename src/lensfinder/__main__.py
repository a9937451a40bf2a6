"""`python -m lensfinder` is the `lensfinder` command."""

import sys

from lensfinder.cli import main

sys.exit(main())
