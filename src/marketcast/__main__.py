"""``python -m marketcast``: the command line, as the ``marketcast`` script."""

import sys

from marketcast.cli import main

if __name__ == "__main__":
    sys.exit(main())
