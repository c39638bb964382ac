"""The real-server lab: Debian servers on loopback addresses and real client traffic.

No pytest dependency here. The TCP lab's API is re-exported for ``from tests.lab import ...``;
``python -m tests.lab`` starts :data:`DEFAULT_LAB` (see tests/lab/__main__.py).
"""

from __future__ import annotations

from tests.lab.process import LabError
from tests.lab.runner import Lab, start_default_lab
from tests.lab.servers_tcp import DEFAULT_LAB, KINDS, Service, available

__all__ = [
    "DEFAULT_LAB",
    "KINDS",
    "Lab",
    "LabError",
    "Service",
    "available",
    "start_default_lab",
]
