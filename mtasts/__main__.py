"""``python -m mtasts``: see ``mtasts.cli``."""

import sys

from mtasts.cli import main

sys.exit(main())
