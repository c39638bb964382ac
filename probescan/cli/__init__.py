"""The command line (`probescan`): argument parsing and wiring only.

main.py holds the parser and `main()`; common.py what the subcommands share (output options,
sinks, stop signals, one-line errors); one module per subcommand: scan, watch, report,
fingerprints.
"""

from probescan.cli.main import main

__all__ = ["main"]
