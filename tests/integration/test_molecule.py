"""The Molecule scenarios (molecule/<name>/molecule.yml), each run the way an operator runs it:
`molecule test -s NAME` from the repo root with the venv's tools on PATH. Every scenario starts its own lab
(lab.py up, lab name in its molecule.yml), converges, verifies with real queries and takes its lab down.
One test per scenario directory; the wall time of each is printed."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO

VENV_BIN = Path(sys.executable).parent
SCENARIOS = sorted(p.parent.name for p in (REPO / "molecule").glob("*/molecule.yml"))
TIMEOUT = 1500  # seconds for one scenario; the whole set takes well under that
TAIL = 120  # lines of output shown when a scenario fails


@pytest.fixture(scope="module")
def molecule_env() -> dict:
    """`make collections` (molecule.yml points ANSIBLE_COLLECTIONS_PATH at .venv/collections, where agenta.fleet
    is a link to this checkout) and the environment of an operator's shell with the venv activated."""
    subprocess.run(["make", "-s", "collections"], cwd=REPO, check=True, capture_output=True, timeout=60)
    return {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "NO_COLOR": "1", "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0", "PY_COLORS": "0"}


def run_molecule(args: list[str], env: dict, timeout: float) -> tuple[int | None, str]:
    """Run molecule in its own process group; on timeout kill the whole group (ansible-playbook, lab.py)."""
    proc = subprocess.Popen([str(VENV_BIN / "molecule"), *args], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
        return proc.returncode, out
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        return None, out


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario(scenario, molecule_env, tmp_path, capsys):
    start = time.monotonic()
    rc, out = run_molecule(["test", "-s", scenario], molecule_env, TIMEOUT)
    took = time.monotonic() - start
    log = tmp_path / f"molecule-{scenario}.log"
    log.write_text(out)
    with capsys.disabled():
        print(f"\nmolecule test -s {scenario}: {took:.0f} s (rc {rc}, log {log})")
    if rc is None:  # killed: take the scenario's lab down the way molecule does
        run_molecule(["destroy", "-s", scenario], molecule_env, 300)
    tail = "\n".join(out.splitlines()[-TAIL:])
    assert rc == 0, (f"molecule test -s {scenario} "
                     f"{'timed out after ' + str(TIMEOUT) + ' s' if rc is None else 'failed with rc ' + str(rc)}; "
                     f"full output in {log}; last {TAIL} lines:\n{tail}")
