#!/usr/bin/env python3
"""Cost of a no-op agenta.fleet.alembic_migration run at head, against a plain `alembic current`.

    .venv/bin/python bench/bench_noop.py                       # starts a g1 and a g3 lab, measures, takes them down
    .venv/bin/python bench/bench_noop.py --host agenta-x-staging-1 [--host ...]   # reuse running lab hosts (at head)

The measurement runs ON the lab host (where the module runs), with the host's Python and Docker SDK:
  driver   - the module's driver at head (state upgraded, nothing pending): ONE exec through the Docker SDK,
             exactly as plugins/module_utils/alembic_runner.py does it (same argv, env, workdir).
  current  - `docker exec -e PYTHONPATH=/app -w <chain folder> <api> alembic -c <ini> current` for each chain of
             the same layout (the plain command a person runs), via the docker CLI; also measured through the SDK,
             and as one exec of `sh -c` running every chain's `alembic current` (the cheapest plain form).
Each is repeated N times; the medians and the ratios driver/current are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MIG = "/app/oss/databases/postgres/migrations"
FOLDERS = {"g1": [(MIG, "alembic.oss.ini")],
           "g3": [(f"{MIG}/{c}", "alembic.ini") for c in ("core", "core_oss", "tracing", "tracing_oss")]}

INSIDE = r'''
import json, statistics, subprocess, sys, time
sys.path.insert(0, sys.argv[1])
from ansible_collections.agenta.fleet.plugins.module_utils import docker_access
from ansible_collections.agenta.fleet.plugins.module_utils.alembic_common import MIGRATIONS_DIR, parse_driver_output
from ansible_collections.agenta.fleet.plugins.module_utils.alembic_driver import DRIVER, SPEC_ENV
folders = json.loads(sys.argv[2])
n = int(sys.argv[3])
api = "agenta-oss-gh-api-1"
client = docker_access.connect()
container = docker_access.find_container(client, api)
spec = {"action": "upgrade", "chains": [], "targets": {}, "check": False, "allow_irreversible": False,
        "lock_timeout": 300, "holder": "bench"}
env = {"PYTHONPATH": "/app", SPEC_ENV: json.dumps(spec)}

def driver():
    code, out, err = docker_access.exec_argv(client, container, ["python3", "-c", DRIVER], environment=env,
                                             workdir=MIGRATIONS_DIR)
    res = parse_driver_output(out)
    assert code == 0 and res and res["ok"] and not res["changed"], (code, out[-500:], err[-500:])
    assert all(not c["pending"] for c in res["chains"]), res
    return res

def current_cli():
    for folder, ini in folders:
        subprocess.run(["docker", "exec", "-e", "PYTHONPATH=/app", "-w", folder, api, "alembic", "-c", ini,
                        "current"], check=True, capture_output=True)

def current_sdk():
    for folder, ini in folders:
        code, out, err = docker_access.exec_argv(client, container, ["alembic", "-c", ini, "current"],
                                                 environment={"PYTHONPATH": "/app"}, workdir=folder)
        assert code == 0, err

def current_one_exec():
    script = "; ".join("cd %s && alembic -c %s current" % (f, i) for f, i in folders)
    code, out, err = docker_access.exec_argv(client, container, ["sh", "-ec", script],
                                             environment={"PYTHONPATH": "/app"}, workdir=MIGRATIONS_DIR)
    assert code == 0, err

def measure(fn):
    fn()  # warm-up
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)

layout = driver()["layout"]
order = ["driver", "current_cli", "current_sdk", "current_one_exec"]
fns = {"driver": driver, "current_cli": current_cli, "current_sdk": current_sdk, "current_one_exec": current_one_exec}
medians = dict((k, []) for k in order)
# Interleave the kinds so drift on a busy machine hits all of them alike.
for _ in range(3):
    for k in order:
        medians[k].append(measure(fns[k]))
print(json.dumps({"layout": layout, "n": n, "median_s": dict((k, statistics.median(v)) for k, v in medians.items())}))
'''


def sh(*argv, **kw):
    return subprocess.run(list(argv), check=True, capture_output=True, text=True, **kw)


def bench_host(container: str, n: int) -> dict:
    probe = subprocess.run(["docker", "exec", container, "docker", "exec", "agenta-oss-gh-api-1", "test", "-f",
                            f"{MIG}/core_oss/alembic.ini"], capture_output=True)
    layout = "g3" if probe.returncode == 0 else "g1"
    dest = "/tmp/agenta-fleet-bench"
    sh("docker", "exec", container, "rm", "-rf", dest)
    with tempfile.TemporaryDirectory() as tmp:
        pkg = Path(tmp) / "ansible_collections" / "agenta" / "fleet" / "plugins" / "module_utils"
        pkg.mkdir(parents=True)
        for name in ("docker_access.py", "alembic_common.py", "alembic_driver.py"):
            (pkg / name).write_text((REPO / "plugins" / "module_utils" / name).read_text())
        for d in (pkg, pkg.parent, pkg.parent.parent, pkg.parent.parent.parent):
            (d / "__init__.py").touch()
        (Path(tmp) / "inside.py").write_text(INSIDE)
        sh("docker", "cp", tmp, f"{container}:{dest}")
    out = sh("docker", "exec", container, "/usr/bin/python3", f"{dest}/inside.py", dest,
             json.dumps(FOLDERS[layout]), str(n), timeout=1800).stdout
    sh("docker", "exec", container, "rm", "-rf", dest)
    return json.loads(out.strip().splitlines()[-1])


def report(container: str, res: dict) -> None:
    m = res["median_s"]
    print(f"{container} ({res['layout']}, {len(FOLDERS[res['layout']])} chain(s), N={res['n']} x 3 rounds, medians):")
    print(f"  driver (one exec, all chains, at head)     {m['driver'] * 1000:8.1f} ms")
    print(f"  alembic current, docker exec CLI per chain  {m['current_cli'] * 1000:8.1f} ms"
          f"   ratio {m['driver'] / m['current_cli']:.2f}x")
    print(f"  alembic current, SDK exec per chain         {m['current_sdk'] * 1000:8.1f} ms"
          f"   ratio {m['driver'] / m['current_sdk']:.2f}x")
    print(f"  alembic current, one exec for all chains    {m['current_one_exec'] * 1000:8.1f} ms"
          f"   ratio {m['driver'] / m['current_one_exec']:.2f}x")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", action="append", help="lab host container (its deployment at head); repeatable")
    p.add_argument("-n", type=int, default=7, help="repetitions per round (3 rounds)")
    args = p.parse_args()
    labs = []
    hosts = args.host or []
    try:
        if not hosts:
            for release in ("v0.44.4", "v0.113.0"):
                name = f"bench{os.getpid() % 1000}{release.replace('.', '')[:5]}"
                base = str(19400 + 10 * len(labs))
                labs.append(name)
                sh(sys.executable, str(REPO / "lab" / "lab.py"), "--lab", name, "up", "--staging", "1",
                   "--production", "1", "--release", release, "--port-base", base, timeout=1800)
                hosts.append(f"agenta-{name}-staging-1")
        for host in hosts:
            report(host, bench_host(host, args.n))
    finally:
        for name in labs:
            subprocess.run([sys.executable, str(REPO / "lab" / "lab.py"), "--lab", name, "down"], capture_output=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
