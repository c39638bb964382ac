"""Loading and validating the data files: probes/ and fingerprints/ (and nmap-service-probes)."""

from probescan.catalog.catalog import Catalog, CatalogError, build_catalog
from probescan.catalog.fingerprints import Example, Fingerprint, FingerprintSet, load_fingerprints
from probescan.catalog.paths import data_dir
from probescan.catalog.ports import port_names
from probescan.catalog.probes import Probe, ProbeSet, load_probes

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
