import sys

from probescan.cli import main

if __name__ == "__main__":  # the watcher's worker processes may import this module too
    sys.exit(main())
