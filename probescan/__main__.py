import sys

from probescan.cli import main

sys.exit(main())
