"""Run nx-27017 with warnings-only logging (it logs every command at INFO, which costs throughput)."""

import logging
import sys

from nx_27017.nx_27017 import main

if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s nx-27017: %(message)s")
    sys.exit(main())
