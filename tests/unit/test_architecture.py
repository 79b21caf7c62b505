"""One adapter per library, and a pure domain: the import contracts of pyproject.toml hold."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_hold() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 7 kept, 0 broken" in result.stdout


def test_the_domain_never_reads_the_clock() -> None:
    clock_reads = ("datetime.now", "datetime.utcnow", "date.today", "time.time(", "time.monotonic", ".today()")
    offenders = [
        f"{path.relative_to(ROOT)}: {needle}"
        for path in (ROOT / "src" / "cbdialer" / "domain").glob("*.py")
        for needle in clock_reads
        if needle in path.read_text()
    ]
    assert offenders == []
