"""Resumable benchmark results: one CSV row appended per finished run (header on first write)."""

from __future__ import annotations

import csv
from pathlib import Path


def append_row(path, fields: list[str], row: dict) -> None:
    """Append ``row`` to the CSV at ``path`` (columns ``fields``), writing the header if the file is new."""
    path = Path(path)
    new = not path.exists()
    with open(path, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        if new:
            writer.writeheader()
        writer.writerow(row)
