"""``python -m tickvault``: the same as the ``tickvault`` command."""

import sys

from tickvault.cli import main

sys.exit(main())
