"""``python -m mtasts``: see ``mtasts.commands.cli``."""

import sys

from mtasts.commands.cli import main

sys.exit(main())
