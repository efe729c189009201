"""``python -m VLAP`` runs the ``vlap`` command (see :mod:`VLAP.cli`)."""

import sys

from VLAP.cli import main

if __name__ == "__main__":
    sys.exit(main())
