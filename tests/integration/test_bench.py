"""`make bench` in its quick mode (one round, MB=0, one host): proves in CI that the bench still runs end to end on
the lab (every contender, every case, the volume-bytes reset) and writes its table. Its figures are not asserted:
performance is read from bench/RESULTS.md of a full `make bench`, never from a timed test."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO


def test_bench_quick_mode_runs_every_case_and_writes_the_table(tmp_path):
    out = tmp_path / "RESULTS.md"
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "bench.py"), "--quick", "--out", str(out)],
                          capture_output=True, text=True, timeout=1800, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    table = out.read_text()
    for case in ("| upgrade, ", "| nothing pending |", "| status |", "| backup, "):
        assert case in table, table
    for contender in ("plain commands", "agenta.fleet", "hand-written playbook", "status.yml", "backup-agenta.yml",
                      "Ansible floor (one ping)"):
        assert f"| {contender} |" in table, table
