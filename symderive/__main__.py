"""``python -m symderive``: the same command line as ``symderive`` (see :mod:`symderive.cli`)."""
import sys

from symderive.cli import main

if __name__ == "__main__":
    sys.exit(main())
