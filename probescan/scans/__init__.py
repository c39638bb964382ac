"""Internet-scanner forensics: which sources scan, how (technique, shape), with which tool,
grouped per address, per /24 (/48) and per AS (docs/scans.md).

Pure detection logic over packet headers; the I/O (captures, outputs) is the CLI's
(`probescan scans`, cli/scans.py) and the watcher's (probescan/watch/watcher.py).
"""

from probescan.scans.asn import AsnDb, AsnError
from probescan.scans.config import ScanConfig
from probescan.scans.detector import ScanDetector
from probescan.scans.record import ScanRecord

__all__ = ["AsnDb", "AsnError", "ScanConfig", "ScanDetector", "ScanRecord"]
