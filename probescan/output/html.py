"""The HTML report of a run (`scan --html`, `watch --html`): a sink that keeps the records and
writes one self-contained page at the end (probescan.report.write_report)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from probescan.model import ServiceRecord
from probescan.output.sink import OutputError

if TYPE_CHECKING:
    from probescan.scans.record import ScanRecord
    from probescan.watch.label import FlowRecord


class HtmlSink:
    """Records in, `path` written by close(), interrupted or not; not after a failed run."""

    def __init__(self, path: Path, title: str) -> None:
        self.path = path
        self.title = title
        self.records: list[dict[str, object]] = []

    def record(self, record: ServiceRecord) -> None:
        self.records.append(record.to_dict())

    def flow(self, flow: FlowRecord) -> None:
        self.records.append(flow.to_dict())

    def scan(self, record: ScanRecord) -> None:
        self.records.append(record.to_dict())

    def flush(self) -> None:
        pass

    def close(self, *, interrupted: bool = False, failed: bool = False) -> None:
        if failed:
            return
        from probescan.report import ReportInputError, write_report  # jinja2: only when asked

        try:
            write_report(self.records, self.path, title=self.title)
        except (ReportInputError, OSError) as e:
            raise OutputError(f"cannot write report '{self.path}': {e}") from e
