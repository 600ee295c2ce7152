"""``civicpoints bench <name> [options]``: run a benchmark script from ``benchmarks/``.

A thin wrapper: the scripts set up their own databases and environment, so each runs as its
own process with this interpreter; every option after the benchmark's name is passed on
(``civicpoints bench ledger --duration 5 --json``). See ``docs/performance.md``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

SCRIPTS = {
    "ledger": "ledger_throughput.py",
    "demo-memory": "demo_memory.py",
    "import": "evaluation_import.py",
    "settlement": "settlement.py",
    "counter": "counter_http.py",
    "pages": "pages_http.py",
    "risk": "risk_scan.py",
    "search": "household_search.py",
    "api-auth": "api_auth.py",
    "rankings": "rankings.py",
    "stats": "stats.py",
}


def benchmarks_dir() -> Path:
    return Path(settings.REPO_DIR) / "benchmarks"


class Command(BaseCommand):
    requires_system_checks: list[str] = []
    help = "运行性能基准：ledger、demo-memory、import、settlement、counter、pages、risk、search、api-auth、rankings、stats（见 docs/performance.md）"

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("benchmark", choices=sorted(SCRIPTS))
        parser.add_argument(
            "options", nargs=argparse.REMAINDER, help="passed to the benchmark script"
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        script = benchmarks_dir() / SCRIPTS[opts["benchmark"]]
        if not script.exists():
            raise CommandError(f"{script} not found (benchmarks/ ships with the source tree)")
        code = subprocess.call([sys.executable, str(script), *opts["options"]])
        if code != 0:
            raise CommandError(f"{script.name} exited with {code}", returncode=code)
