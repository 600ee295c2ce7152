"""Lines the ops tests want in the run's summary (the fault test's counts), printed at the end
so that scripts/test shows them whatever the capture mode."""

from __future__ import annotations

from typing import Any

FAULT_REPORT: list[str] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for line in FAULT_REPORT:
        terminalreporter.write_line(line)
