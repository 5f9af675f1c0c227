"""Fixtures for integration tests: real lab hosts (Docker-in-Docker, compose stack, PostgreSQL, Alembic)
and real ansible-playbook runs against them. Nothing here is mocked.

    def test_x(lab_factory):
        lab = lab_factory("v0.43.0", staging=1, production=1)
        host = lab.hosts["staging-1"]
        assert lab.revision(host, "oss") == "1a0000000002"
        res = lab.playbook(PLAYBOOK_TEXT, limit="staging", check=True)
"""
from __future__ import annotations

import itertools
import json
import os
import random
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
LAB_PY = [sys.executable, str(REPO / "lab" / "lab.py")]
sys.path.insert(0, str(REPO / "lab"))
import lab as labmod  # noqa: E402  (lab/lab.py: CHAIN_DB, KEY_TABLES, names of things)

DB_PASSWORD = labmod.DB_PASSWORD
_names = itertools.count(1)
# Lab names of parallel test workers (pytest-xdist gw0, gw1, ...) never meet, even when their pids end alike.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "").replace("gw", "w")


def free_port_base(count: int) -> int:
    """A port base whose next `count` loopback ports are free (random, so parallel test runs rarely meet; each
    test worker draws from its own 5000 ports, below the 40000-60000 that `lab.py --port-base auto` also uses)."""
    rng = random.Random()
    low = 20000 + 5000 * (int(WORKER[1:]) % 4 if WORKER else 0)
    for _ in range(200):
        base = rng.randrange(low, low + 5000, 20)
        if all(labmod.port_free(base + i) for i in range(1, count + 1)):
            return base
    raise RuntimeError("no free loopback ports for a lab")


def run_lab(*args: str, lab: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run([*LAB_PY, "--lab", lab, *args], capture_output=True, text=True, timeout=1800,
                          env={**os.environ, **(env or {})})
    if check and proc.returncode != 0:
        raise AssertionError(f"lab.py {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@dataclass
class LabHost:
    name: str
    group: str
    container: str
    api_url: str
    layout: str
    release: str
    edition: str = "oss"

    @property
    def env_file(self) -> str:
        return labmod.EDITIONS[self.edition]["env_file"]


@dataclass
class PlaybookRun:
    rc: int
    stdout: str
    stderr: str

    @property
    def json(self) -> dict:
        """The ansible.posix.json callback's document (plays -> tasks -> hosts)."""
        start = self.stdout.find("{")
        return json.loads(self.stdout[start:])

    def results(self, task_name: str) -> dict:
        """host -> result dict of the task with this name (last occurrence)."""
        found = {}
        for play in self.json["plays"]:
            for task in play["tasks"]:
                if task["task"]["name"] == task_name:
                    found.update(task["hosts"])
        return found

    @property
    def stats(self) -> dict:
        return self.json["stats"]


class Lab:
    def __init__(self, name: str, release: str, staging: int, production: int, rows: int, collections: Path,
                 shared_db: bool = False, ssh: bool = False, edition: str = "oss"):
        self.name, self.release, self.rows, self.shared_db, self.ssh = name, release, rows, shared_db, ssh
        self.edition = edition
        self.staging, self.production = staging, production
        self.port_base = free_port_base(staging + production)
        self.collections = collections
        self.inventory = labmod.inventory_path(name)

    def up(self) -> "Lab":
        run_lab("up", "--staging", str(self.staging), "--production", str(self.production), "--release",
                self.release, "--rows", str(self.rows), "--port-base", str(self.port_base),
                *(["--shared-db"] if self.shared_db else []), *(["--ssh"] if self.ssh else []),
                "--edition", self.edition, lab=self.name)
        inv = yaml.safe_load(self.inventory.read_text())
        self.hosts: dict[str, LabHost] = {}
        for group, body in inv["all"]["children"].items():
            for hname, hv in (body.get("hosts") or {}).items():
                # The container (ansible_host is its lab address when the lab is reached over SSH).
                self.hosts[hname] = LabHost(hname, group, f"agenta-{self.name}-{hname}", hv["agenta_api_url"],
                                            hv["agenta_layout"], hv["agenta_release"], hv.get("agenta_edition", "oss"))
        return self

    def down(self) -> None:
        run_lab("down", lab=self.name, check=False)

    # -- looking inside a host, for real -------------------------------------------------------------
    def sh(self, host: LabHost | str, *argv: str, check: bool = True, input: str | None = None,
           env: dict | None = None) -> subprocess.CompletedProcess:
        """Run argv inside the lab host (its own shell, its own docker CLI)."""
        c = host.container if isinstance(host, LabHost) else self.hosts[host].container
        envflags = [x for k in (env or {}) for x in ("-e", k)]
        proc = subprocess.run(["docker", "exec", "-i", *envflags, c, *argv], capture_output=True, text=True,
                              input=input, timeout=900, env={**os.environ, **(env or {})})
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} on {c} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    def psql(self, host: LabHost | str, db: str, sql: str) -> str:
        """A real psql query from the lab host's client over TCP to its PostgreSQL."""
        return self.sh(host, "psql", "-h", "127.0.0.1", "-U", "username", "-d", db, "-v", "ON_ERROR_STOP=1",
                       "-tA", "-c", sql, env={"PGPASSWORD": DB_PASSWORD}).stdout.strip()

    def revision(self, host: LabHost | str, chain: str) -> str | None:
        h = host if isinstance(host, LabHost) else self.hosts[host]
        db, table = labmod.chain_db(chain, h.edition)
        exists = self.psql(host, db, f"SELECT to_regclass('{table}') IS NOT NULL")
        if exists != "t":
            return None
        return self.psql(host, db, f"SELECT string_agg(version_num, ',') FROM {table}") or None

    def revisions(self, host: LabHost | str) -> dict[str, str | None]:
        h = host if isinstance(host, LabHost) else self.hosts[host]
        chains = ["oss"] if h.layout == "g1" else ["core", "core_oss", "tracing", "tracing_oss"]
        if h.edition == "ee":
            chains = ["core", "core_oss", "core_ee", "tracing", "tracing_oss", "tracing_ee"]
        return {c: self.revision(h, c) for c in chains}

    def row_counts(self, host: LabHost | str) -> dict[str, int]:
        h = host if isinstance(host, LabHost) else self.hosts[host]
        return {f"{db}.{t}": int(self.psql(h, db, f"SELECT count(*) FROM {t}")) for db, t in labmod.key_tables(h.layout, h.edition)}

    def table_digests(self, host: LabHost | str) -> dict[str, str]:
        """md5 of every key table's rows (each row as text, sorted): equal digests mean the same rows, not just as
        many."""
        h = host if isinstance(host, LabHost) else self.hosts[host]
        sql = "SELECT md5(coalesce(string_agg(r::text, E'\\n' ORDER BY r::text), '')) FROM {} r"
        return {f"{db}.{t}": self.psql(h, db, sql.format(t)) for db, t in labmod.key_tables(h.layout, h.edition)}

    def compose(self, host: LabHost | str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        h = host if isinstance(host, LabHost) else self.hosts[host]
        return self.sh(host, *labmod.compose_args(edition=h.edition), *args, check=check)

    def set_env(self, host: LabHost | str, **values: str) -> None:
        """Set KEY=value lines in the host's env file (.env.oss.gh, .env.ee.gh; appending keys that are missing)."""
        h = host if isinstance(host, LabHost) else self.hosts[host]
        text = self.sh(host, "cat", h.env_file).stdout
        lines = text.splitlines()
        for key, value in values.items():
            hit = [i for i, line in enumerate(lines) if line.startswith(f"{key}=")]
            if hit:
                for i in hit:
                    lines[i] = f"{key}={value}"
            else:
                lines.append(f"{key}={value}")
        self.sh(host, "tee", h.env_file, input="\n".join(lines) + "\n")

    # -- Ansible, for real ---------------------------------------------------------------------------
    def ansible_env(self) -> dict:
        return {**os.environ,
                "ANSIBLE_COLLECTIONS_PATH": str(self.collections),
                "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
                "ANSIBLE_CALLBACK_RESULT_FORMAT": "json",
                "ANSIBLE_RETRY_FILES_ENABLED": "false",
                "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_FORCE_COLOR": "0",
                "ANSIBLE_DEPRECATION_WARNINGS": "false",
                "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}

    def playbook(self, playbook: str | Path, *, limit: str | None = None, check: bool = False, diff: bool = False,
                 extra_vars: dict | None = None, timeout: int = 900, env: dict | None = None) -> PlaybookRun:
        """Run ansible-playbook against this lab. `playbook` is a path or the YAML text of a playbook; env: more
        environment for ansible-playbook."""
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(playbook) if isinstance(playbook, Path) else Path(tmp) / "play.yml"
            if not isinstance(playbook, Path):
                path.write_text(playbook)
            cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(self.inventory), str(path)]
            if limit:
                cmd += ["-l", limit]
            if check:
                cmd.append("--check")
            if diff:
                cmd.append("--diff")
            if extra_vars:
                cmd += ["-e", json.dumps(extra_vars)]
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                                  env={**self.ansible_env(), **(env or {})}, cwd=REPO)
        return PlaybookRun(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture(scope="session")
def collections_root(tmp_path_factory) -> Path:
    """A collections path where agenta.fleet is this checkout (ansible needs ansible_collections/<ns>/<name>)."""
    root = tmp_path_factory.mktemp("collections")
    (root / "ansible_collections" / "agenta").mkdir(parents=True)
    (root / "ansible_collections" / "agenta" / "fleet").symlink_to(REPO)
    return root


@pytest.fixture(scope="module")
def lab_factory(collections_root):
    """Start real lab hosts: lab_factory(release, staging=1, production=1, rows=300, shared_db=False, ssh=False,
    edition="oss") -> Lab.
    Every lab started by a test module is taken down when the module ends."""
    started: list[Lab] = []

    def start(release: str, staging: int = 1, production: int = 1, rows: int = 300, shared_db: bool = False,
              ssh: bool = False, edition: str = "oss") -> Lab:
        lab = Lab(f"t{os.getpid() % 1000}{WORKER}-{next(_names)}", release, staging, production, rows,
                  collections_root, shared_db, ssh, edition)
        started.append(lab)
        return lab.up()

    yield start
    for lab in started:
        lab.down()
