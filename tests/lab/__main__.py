"""``python -m tests.lab``: start the default TCP lab, print its services, wait for Ctrl-C."""

from __future__ import annotations

import sys

from tests.lab.runner import main

if __name__ == "__main__":
    sys.exit(main())
