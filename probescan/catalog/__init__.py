"""Loading and validating the data files: probes/ and fingerprints/ (and nmap-service-probes).

The names below are loaded when first used (PEP 562): importing `probescan.catalog.ports`
or `probescan.catalog.paths` alone does not load the rules' modules (regex and the rest), so
a port sweep starts without them."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from probescan.catalog.catalog import Catalog, CatalogError, build_catalog
    from probescan.catalog.fingerprints import (
        Example,
        Fingerprint,
        FingerprintSet,
        load_fingerprints,
    )
    from probescan.catalog.paths import data_dir
    from probescan.catalog.ports import port_names
    from probescan.catalog.probes import Probe, ProbeSet, load_probes

# name -> the module that defines it
_HOMES = {
    "Catalog": "catalog",
    "CatalogError": "catalog",
    "build_catalog": "catalog",
    "Example": "fingerprints",
    "Fingerprint": "fingerprints",
    "FingerprintSet": "fingerprints",
    "load_fingerprints": "fingerprints",
    "data_dir": "paths",
    "port_names": "ports",
    "Probe": "probes",
    "ProbeSet": "probes",
    "load_probes": "probes",
}

__all__ = [
    "Catalog",
    "CatalogError",
    "Example",
    "Fingerprint",
    "FingerprintSet",
    "Probe",
    "ProbeSet",
    "build_catalog",
    "data_dir",
    "load_fingerprints",
    "load_probes",
    "port_names",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'probescan.catalog' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"probescan.catalog.{home}"), name)
    globals()[name] = value
    return value
