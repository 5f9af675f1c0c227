#!/usr/bin/env python3
"""make bench: the collection against the plain commands and a hand-written playbook, side by side, on the lab.

    .venv/bin/python bench/bench.py [--quick] [--reps 3] [--mb 0[,100,1024]] [--hosts 1,4] [--out bench/RESULTS.md]

One lab (G1, v0.43.0 -> v0.44.4, the stand-in images) with as many staging hosts as --hosts needs. Before every
timed upgrade each host is put back to the same state by putting its database volume's bytes back (a tar taken
once, after the lab came up) and its env file, then `docker compose up -d`: cheaper than a new lab and identical.
Contenders run interleaved (the order turns every round); each case reports min / median / max of its rounds and the
ratio of medians against the plain commands.

Cases
  upgrade    the collection (upgrade-agenta.yml -l staging-1) / the plain commands typed on the host (pg_dump -Fc of
             every database + sha256, the new image's one-shot `alembic upgrade head`, the tag, `up -d`, health,
             `alembic current`) / bench/handwritten-upgrade.yml (the same steps, community.docker + pg_dump)
  noop       upgrade-agenta.yml again with nothing pending / `alembic current` in the api container / the floor
             of any playbook that reads the host once (bench/floor.yml: Ansible's start and one ping)
  status     status.yml -l staging-1 / a one-line status (image of the api container + `alembic current`) / the floor
  backup     backup-agenta.yml -l staging-1 / plain pg_dump of every database; MB/s of each
  fleet      T(N)/T(1): upgrade-agenta.yml on N staging hosts (default canary 1) against one host (--hosts)
--mb 0,100,1024: one lab per size (seeded with that many extra MB), the upgrade and the backup at each size, the other
cases on the first lab only.
--quick: one round, MB=0, one host (CI proves the bench still runs; its figures are not read).
Plain commands run on the lab host through `docker exec <host> sh -c ...` (about 0.05 s of that is the exec).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lab"))
import lab as labmod  # noqa: E402

OLD, NEW = "v0.43.0", "v0.44.4"
LAB = "bench"
VOLUME = labmod.PROJECT + "_postgres-data"
SNAP = "/var/tmp/agenta-bench"
PG_IMAGE = labmod.PRODUCT_PG_IMAGE
MIG = "/app/oss/databases/postgres/migrations"
ENV = labmod.ENV_FILE
COMPOSE = " ".join(labmod.compose_args())

# The host has python3, not curl.
HEALTH = ("python3 -c \"import sys, time, urllib.request\n"
          "for _ in range(480):\n"
          "    try:\n"
          "        urllib.request.urlopen('http://127.0.0.1:80/api/health', timeout=2); sys.exit(0)\n"
          "    except Exception:\n"
          "        time.sleep(0.25)\n"
          "sys.exit(1)\"")

PLAIN_UPGRADE = r"""set -e
. /var/tmp/agenta-bench/login
dir=/var/backups/plain/$(date +%s%N); mkdir -p "$dir"; chmod 700 "$dir"
for db in $(docker exec -e PGPASSWORD="$PW" {pg} psql -h 127.0.0.1 -U "$PU" -d postgres -XAtc \
    "SELECT datname FROM pg_database WHERE datname ~ '^(agenta|supertokens)_'"); do
  docker exec -e PGPASSWORD="$PW" {pg} pg_dump -h 127.0.0.1 -U "$PU" -Fc "$db" > "$dir/$db.dump"
done
sha256sum "$dir"/*.dump > "$dir/SHA256SUMS"
docker run --rm --network {project}_default --env-file {env} -e PYTHONPATH=/app -w {mig} \
  ghcr.io/agenta-ai/agenta-api:{new} alembic -c alembic.oss.ini upgrade head
sed -i 's/^AGENTA_API_IMAGE_TAG=.*/AGENTA_API_IMAGE_TAG={new}/' {env}
{compose} up -d --quiet-pull
{health}
docker exec -e PYTHONPATH=/app -w {mig} {api} alembic -c alembic.oss.ini current
"""
PLAIN_CURRENT = "docker exec -e PYTHONPATH=/app -w {mig} {api} alembic -c alembic.oss.ini current"
PLAIN_STATUS = ("docker inspect -f '{{{{.Config.Image}}}}' {api} && " + PLAIN_CURRENT)
PLAIN_DUMP = r""". /var/tmp/agenta-bench/login
dir=/var/backups/plain/$(date +%s%N); mkdir -p "$dir"
for db in $(docker exec -e PGPASSWORD="$PW" {pg} psql -h 127.0.0.1 -U "$PU" -d postgres -XAtc \
    "SELECT datname FROM pg_database WHERE datname ~ '^(agenta|supertokens)_'"); do
  docker exec -e PGPASSWORD="$PW" {pg} pg_dump -h 127.0.0.1 -U "$PU" -Fc "$db" > "$dir/$db.dump"
done
"""


def fmt(text: str) -> str:
    return text.format(pg=labmod.PG_CONTAINER, api=labmod.API_CONTAINER, project=labmod.PROJECT, env=ENV, mig=MIG,
                       new=NEW, compose=COMPOSE, health=HEALTH)


def sh(host: str, script: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(["docker", "exec", "-i", host, "sh", "-c", script], capture_output=True, text=True,
                          timeout=3600)
    if check and proc.returncode != 0:
        raise SystemExit(f"bench: on {host}: {script[:80]}... failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return proc


def lab(*args: str) -> None:
    subprocess.run([sys.executable, str(REPO / "lab" / "lab.py"), "--lab", LAB, *args], check=True)


def collections_path() -> str:
    """A collections path where agenta.fleet is this checkout (make's .venv/collections, else a temporary one)."""
    made = REPO / ".venv" / "collections"
    if (made / "ansible_collections" / "agenta" / "fleet").exists():
        return str(made)
    root = Path(tempfile.mkdtemp(prefix="agenta-bench-collections-"))
    (root / "ansible_collections" / "agenta").mkdir(parents=True)
    (root / "ansible_collections" / "agenta" / "fleet").symlink_to(REPO)
    return str(root)


COLLECTIONS = collections_path()


def ansible(playbook: str, limit: str, *extra: str) -> None:
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": COLLECTIONS,
           "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.null", "ANSIBLE_RETRY_FILES_ENABLED": "false",
           "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(labmod.inventory_path(LAB)),
                           playbook, "-l", limit, *extra], capture_output=True, text=True, env=env, cwd=REPO,
                          timeout=3600)
    if proc.returncode != 0:
        raise SystemExit(f"bench: ansible-playbook {playbook} -l {limit} failed:\n{proc.stdout[-3000:]}\n"
                         f"{proc.stderr[-3000:]}")


def hosts_of(count: int) -> list[str]:
    return [f"agenta-{LAB}-staging-{i}" for i in range(1, count + 1)]


def snapshot(host: str) -> None:
    """The database volume's bytes and the env file, once, with the stack stopped."""
    sh(host, f"set -e; mkdir -p {SNAP}; cp {ENV} {SNAP}/env; {COMPOSE} stop; "
             f"docker run --rm -u 0 --entrypoint tar -v {VOLUME}:/v -v {SNAP}:/s {PG_IMAGE} -C /v -cf /s/pg.tar .; "
             f"printf 'PU=%s\\nPW=%s\\n' {labmod.DB_USER} {labmod.DB_PASSWORD} > {SNAP}/login; chmod 600 {SNAP}/login; "
             f"{COMPOSE} up -d --quiet-pull")


def reset(host: str) -> None:
    sh(host, f"set -e; {COMPOSE} down --remove-orphans; "
             f"docker run --rm -u 0 --entrypoint sh -v {VOLUME}:/v -v {SNAP}:/s {PG_IMAGE} -c "
             f"'find /v -mindepth 1 -delete && tar -C /v -xpf /s/pg.tar'; cp {SNAP}/env {ENV}; "
             "rm -rf /var/backups/agenta /var/backups/plain /var/backups/handwritten /var/lib/agenta-fleet; "
             f"{COMPOSE} up -d --quiet-pull; " + HEALTH)


def timed(fn) -> float:
    start = time.monotonic()
    fn()
    return time.monotonic() - start


def rounds(contenders: dict, reps: int, before=None) -> dict[str, list[float]]:
    """Each round runs every contender once (after `before`), the order turning every round."""
    names = list(contenders)
    out = {n: [] for n in names}
    for r in range(reps):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            if before:
                before()
            out[name].append(timed(contenders[name]))
            print(f"bench: {name}: {out[name][-1]:.1f} s", flush=True)
    return out


def row(case: str, name: str, times: list[float], base: float | None, extra: str = "") -> str:
    med = statistics.median(times)
    ratio = f"{med / base:.2f}x" if base else "1.00"
    return (f"| {case} | {name} | {min(times):.1f} | {med:.1f} | {max(times):.1f} | {len(times)} | {ratio} |"
            f" {extra} |")


def db_megabytes(host: str) -> float:
    out = sh(host, fmt(". /var/tmp/agenta-bench/login; docker exec -e PGPASSWORD=\"$PW\" {pg} psql -h 127.0.0.1 "
                       "-U \"$PU\" -d postgres -XAtc \"SELECT sum(pg_database_size(datname)) FROM pg_database "
                       "WHERE datname ~ '^(agenta|supertokens)_'\"")).stdout.strip()
    return int(out) / 1e6


def bench_size(mb: int, reps: int, counts: list[int], keep: bool, everything: bool) -> list[str]:
    """The table's lines of one lab seeded with mb extra MB: the upgrade and the backup; with everything, also nothing
    pending, status and T(N)/T(1) (which do not depend on the database's size)."""
    top = max(counts) if everything else 1
    lab("up", "--staging", str(top), "--production", "0", "--release", OLD, "--mb", str(mb), "--port-base", "auto")
    lines, host = [], hosts_of(1)[0]
    try:
        for h in hosts_of(top):
            snapshot(h)
        size = db_megabytes(host)
        plays = str(REPO / "playbooks")
        collection = lambda: ansible(f"{plays}/upgrade-agenta.yml", "staging-1", "-e", f"agenta_target_tag={NEW}")
        # What any playbook that reads the host once pays: Ansible's start and one module call (bench/floor.yml).
        floor = lambda: ansible(str(REPO / "bench" / "floor.yml"), "staging-1")
        contenders = {
            "plain commands": lambda: sh(host, fmt(PLAIN_UPGRADE)),
            "agenta.fleet": collection,
            "hand-written playbook": lambda: ansible(str(REPO / "bench" / "handwritten-upgrade.yml"), "staging-1",
                                                     "-e", f"target_tag={NEW}"),
        }
        up = rounds(contenders, reps, before=lambda: reset(host))
        base = statistics.median(up["plain commands"])
        for name, times in up.items():
            lines.append(row(f"upgrade, {size:.0f} MB", name, times, base))

        if everything:
            reset(host)
            collection()
            noop = rounds({"alembic current": lambda: sh(host, fmt(PLAIN_CURRENT)), "agenta.fleet (nothing pending)":
                           collection, "Ansible floor (one ping)": floor}, reps)
            base = statistics.median(noop["alembic current"])
            for name, times in noop.items():
                lines.append(row("nothing pending", name, times, base))

            status = rounds({"one-line status": lambda: sh(host, fmt(PLAIN_STATUS)),
                             "status.yml": lambda: ansible(f"{plays}/status.yml", "staging-1"),
                             "Ansible floor (one ping)": floor}, reps)
            base = statistics.median(status["one-line status"])
            for name, times in status.items():
                lines.append(row("status", name, times, base))

        backup = rounds({"pg_dump": lambda: sh(host, fmt(PLAIN_DUMP)),
                         "backup-agenta.yml": lambda: ansible(f"{plays}/backup-agenta.yml", "staging-1")}, reps)
        base = statistics.median(backup["pg_dump"])
        for name, times in backup.items():
            lines.append(row(f"backup, {size:.0f} MB", name, times, base,
                             f"{size / statistics.median(times):.1f} MB/s"))

        if everything and len(counts) > 1:
            fleet = {}
            for n in counts:
                names = hosts_of(n)
                limit = ",".join(f"staging-{i}" for i in range(1, n + 1))
                fleet[f"{n} host(s)"] = (names, limit)
            times = rounds({k: (lambda lim=v[1]: ansible(f"{plays}/upgrade-agenta.yml", lim, "-e",
                                                          f"agenta_target_tag={NEW}")) for k, v in fleet.items()},
                           reps, before=lambda: [reset(h) for h in hosts_of(top)])
            base = statistics.median(times["1 host(s)"])
            for name, t in times.items():
                lines.append(row("fleet T(N)/T(1)", name, t, base))
    finally:
        if not keep:
            lab("down")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--mb", default="0", help="extra MB of the seeded database, one lab each, e.g. 0,100,1024")
    ap.add_argument("--hosts", default="1,4", help="host counts for T(N)/T(1), e.g. 1,2,4")
    ap.add_argument("--out", default=str(REPO / "bench" / "RESULTS.md"))
    ap.add_argument("--keep", action="store_true", help="leave the (last) lab up")
    args = ap.parse_args()
    try:
        sizes = [int(x) for x in str(args.mb).split(",")]
        if any(not 0 <= m <= 1024 for m in sizes):
            raise ValueError
    except ValueError:
        ap.error(f"--mb takes whole numbers from 0 to 1024 separated by commas, not {args.mb!r}")
    reps = 1 if args.quick else args.reps
    sizes = [0] if args.quick else sizes
    counts = [1] if args.quick else sorted({int(x) for x in args.hosts.split(",")} | {1})

    lines = []
    for i, mb in enumerate(sizes):
        # The cases that do not depend on the size run on the first lab only.
        lines += bench_size(mb, reps, counts, args.keep and i == len(sizes) - 1, everything=i == 0)

    load = os.getloadavg()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    text = [f"# make bench{' (quick)' if args.quick else ''}", "",
            f"- date: {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}",
            f"- machine: {platform.node()}, {os.cpu_count()} cores, {mem:.0f} GiB, {platform.platform()}",
            f"- load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
            f"- lab: G1 {OLD} -> {NEW}, MB={','.join(map(str, sizes))}, rounds={reps}, contenders interleaved",
            f"- command: {' '.join(sys.argv)}", "",
            "| case | contender | min s | median s | max s | n | ratio (medians) | |",
            "|---|---|---|---|---|---|---|---|", *lines, ""]
    Path(args.out).write_text("\n".join(text))
    print("\n".join(text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
