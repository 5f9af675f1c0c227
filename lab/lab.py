#!/usr/bin/env python3
"""The agenta.fleet lab: stand-in images and a fleet of Docker-in-Docker hosts running Agenta's compose stack.

    lab.py build                              build (or find cached) images
    lab.py up --staging 2 --production 2 --release v0.43.0 [--rows 300] [--mb 0]
    lab.py status
    lab.py down                               remove the hosts of this lab (image caches stay)
    lab.py clean                              remove everything the lab ever made, caches included

Every failure prints one sentence on stderr and exits 1; a failed `up` removes the hosts it made.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import fcntl
import hashlib
import json
import os
import platform
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

LAB_DIR = Path(__file__).resolve().parent
REPO = LAB_DIR.parent
CACHE = Path(os.environ.get("AGENTA_LAB_CACHE", LAB_DIR / ".cache"))
# Agenta's real API package of two releases (test data beside the project, never copied into it).
REAL_DIR = Path(os.environ.get("AGENTA_REAL_DIR", REPO.parent / "shared" / "agenta-real"))
LABEL = "agenta-lab"
MIRROR = os.environ.get("AGENTA_LAB_MIRROR", "http://deb.debian.org/debian")
SUITE = "bookworm"
COMPOSE_DIR = "/opt/agenta/hosting/docker-compose/oss"
ENV_FILE = COMPOSE_DIR + "/.env.oss.gh"
PROJECT = "agenta-oss-gh"
PG_CONTAINER = PROJECT + "-postgres-1"
API_CONTAINER = PROJECT + "-api-1"
PRODUCT_API_IMAGE = "ghcr.io/agenta-ai/agenta-api"
# Where each edition's deployment lives (Agenta's hosting/docker-compose/<edition>/): compose folder, env file,
# compose project, API image repository, the lab's compose folder for it.
EDITIONS = {
    "oss": {"compose_dir": COMPOSE_DIR, "env_file": ENV_FILE, "project": PROJECT, "image": PRODUCT_API_IMAGE},
    "ee": {"compose_dir": "/opt/agenta/hosting/docker-compose/ee",
           "env_file": "/opt/agenta/hosting/docker-compose/ee/.env.ee.gh", "project": "agenta-ee-gh",
           "image": "ghcr.io/agenta-ai/agenta-api-ee"},
}
PRODUCT_PG_IMAGE = "agenta-lab/postgres:15"
NEXT_PG_IMAGE = "agenta-lab/postgres:17"
DB_USER = "username"
DB_PASSWORD = "password"
MAX_HOSTS_PER_GROUP = 10
GROUPS = ("staging", "production")

COMPOSE_LAYOUT = {"g1": "g1", "g2": "g3", "g3": "g3"}
KEY_TABLES = {"g1": [("agenta_oss", t) for t in ("projects", "apps", "app_variants", "testsets", "evaluations")],
              "g2": [("agenta_oss_core", t) for t in ("projects", "apps", "app_variants", "testsets", "evaluations")]
              + [("agenta_oss_tracing", t) for t in ("traces", "spans")]}
KEY_TABLES["g3"] = KEY_TABLES["g2"]
KEY_TABLES["ee-g3"] = ([("agenta_ee_core", t) for t in ("projects", "apps", "app_variants", "testsets", "evaluations",
                                                         "subscriptions")]
                       + [("agenta_ee_tracing", t) for t in ("traces", "spans", "span_meters")])


def key_tables(layout: str, edition: str = "oss") -> list:
    return KEY_TABLES[("ee-" if edition == "ee" else "") + layout]


class LabError(Exception):
    """A failure the operator can act on; its text is one sentence."""


def log(msg: str) -> None:
    if not os.environ.get("LAB_QUIET"):
        print(f"lab: {msg}", flush=True)


def run(args: list[str], *, check: bool = True, input: bytes | None = None, timeout: float | None = 600,
        env: dict | None = None, stdin=None) -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(args, input=input, stdin=stdin, capture_output=True, timeout=timeout,
                              env=None if env is None else {**os.environ, **env})
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"'{' '.join(args[:4])} ...' did not finish within {timeout:.0f} s.") from exc
    if check and proc.returncode != 0:
        err = (proc.stderr or proc.stdout).decode(errors="replace").strip().splitlines()
        raise LabError(f"'{' '.join(args[:5])}' failed: {err[-1] if err else 'exit ' + str(proc.returncode)}")
    return proc


def out(args: list[str], **kw) -> str:
    return run(args, **kw).stdout.decode(errors="replace").strip()


# --------------------------------------------------------------------------------------------- releases
def load_releases() -> dict:
    return yaml.safe_load((LAB_DIR / "releases.yml").read_text())


_REL = load_releases()
# chain -> (database, version table); layout -> [(seed file, database)]
CHAIN_DB = {c: (v["database"], v["version_table"]) for c, v in _REL["chains"].items()}
SEEDS = {layout: [(REPO / s["file"], s["database"]) for s in seeds] for layout, seeds in _REL["seeds"].items()}


def chain_db(chain: str, edition: str = "oss") -> tuple[str, str]:
    """(database, version table) of a chain on a host of this edition (EE: agenta_ee_*)."""
    db, table = CHAIN_DB[chain]
    return (db.replace("agenta_oss", "agenta_ee", 1) if edition == "ee" else db), table


def all_releases() -> dict:
    """Stand-in and real releases by tag; a real one carries real=True."""
    data = load_releases()
    out = dict(data["releases"])
    for tag, info in (data.get("real_releases") or {}).items():
        out[tag] = {**info, "real": True}
    return out


def release_info(tag: str, edition: str = "oss") -> dict:
    if edition == "ee":
        releases = {t: {**i, "edition": "ee"} for t, i in (load_releases().get("ee_releases") or {}).items()}
        if tag not in releases:
            raise LabError(f"Unknown EE release '{tag}'; the lab has EE {', '.join(releases)}.")
        return releases[tag]
    releases = all_releases()
    if tag not in releases:
        raise LabError(f"Unknown release '{tag}'; the lab has {', '.join(releases)}.")
    return releases[tag]


def seed_key(info: dict) -> str:
    return ("real-" if info.get("real") else "") + ("ee-" if info.get("edition") == "ee" else "") + info["layout"]


REV_RE = re.compile(r'^revision\s*=\s*["\']([^"\']+)["\']', re.M)
DOWN_RE = re.compile(r'^down_revision\s*=\s*(None|["\']([^"\']+)["\'])', re.M)


def parse_revision_file(text: str) -> tuple[str, str | None] | None:
    """Return (revision, down_revision) of an Alembic revision file, or None if it is not one."""
    rev = REV_RE.search(text)
    down = DOWN_RE.search(text)
    if not rev or not down:
        return None
    return rev.group(1), down.group(2)


def chain_of(versions: dict[str, str | None], head: str) -> list[str]:
    """Revisions from the base up to head (inclusive), following down_revision links."""
    if head not in versions:
        raise LabError(f"Revision {head} is not in the tree.")
    order, seen, cur = [], set(), head
    while cur is not None:
        if cur in seen:
            raise LabError(f"Revision {cur} appears twice on the way down from {head}.")
        seen.add(cur)
        order.append(cur)
        cur = versions.get(cur)
        if cur is not None and cur not in versions:
            raise LabError(f"Revision {order[-1]} points down to {cur}, which is not in the tree.")
    return list(reversed(order))


def prune_versions(versions_dir: Path, head: str) -> list[str]:
    """Delete revision files that are not ancestors of head; return the kept chain (base first)."""
    files = {}
    for f in versions_dir.glob("*.py"):
        parsed = parse_revision_file(f.read_text())
        if parsed:
            files[f] = parsed
    graph = {rev: down for rev, down in files.values()}
    keep = set(chain_of(graph, head))
    for f, (rev, _) in files.items():
        if rev not in keep:
            f.unlink()
    return chain_of(graph, head)


# ----------------------------------------------------------------------------------------------- images
def sha(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode() if isinstance(p, str) else p)
        h.update(b"\0")
    return h.hexdigest()[:16]


def tree_hash(root: Path) -> str:
    parts = []
    for f in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        parts += [str(f.relative_to(root)), f.read_bytes(), oct(f.stat().st_mode & 0o111)]
    return sha(*parts)


def image_exists(ref: str) -> bool:
    return run(["docker", "image", "inspect", ref], check=False).returncode == 0


def docker_build(tag: str, context: Path, dockerfile: str = "Dockerfile", **args: str) -> None:
    cmd = ["docker", "build", "-q", "--label", f"{LABEL}=1", "-t", tag, "-f", str(context / dockerfile)]
    for k, v in args.items():
        cmd += ["--build-arg", f"{k}={v}"]
    run(cmd + [str(context)], timeout=1200, env={"DOCKER_BUILDKIT": "0"})


def build_base() -> str:
    tag = f"{LABEL}/base:{sha(SUITE, 'minbase', MIRROR, 'v1')}"
    if image_exists(tag):
        return tag
    if not shutil.which("debootstrap"):
        log("installing debootstrap")
        run(["apt-get", "update", "-qq"], check=False)
        run(["apt-get", "install", "-y", "-qq", "debootstrap"])
    root = Path(tempfile.mkdtemp(prefix="rootfs-", dir=CACHE))
    try:
        log(f"debootstrap --variant=minbase {SUITE} (about 30 s)")
        run(["debootstrap", "--variant=minbase", SUITE, str(root), MIRROR], timeout=900)
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for f in (root / junk).glob("*"):
                if f.is_file():
                    f.unlink()
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        run(["docker", "import", "--change", f"LABEL {LABEL}=1", "--change", 'CMD ["/bin/bash"]', "-", tag],
            stdin=tar.stdout)
        tar.wait()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return tag


def wheelhouse(requirements: Path) -> Path:
    """Wheels for the image's Python 3.11 (Debian bookworm, glibc 2.36), downloaded once per requirements file."""
    machine = platform.machine()
    dest = CACHE / f"wheels-{sha(requirements.read_bytes(), machine)}"
    if dest.is_dir():
        return dest
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="wheels-", dir=CACHE))
    log(f"downloading the wheelhouse of {requirements.name}")
    platforms = [arg for v in range(17, 37) for arg in ("--platform", f"manylinux_2_{v}_{machine}")]
    run([sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:", "--python-version", "3.11",
         "--implementation", "cp", "--platform", f"manylinux2014_{machine}", *platforms, "-r", str(requirements),
         "-d", str(tmp)], timeout=900)
    tmp.rename(dest)
    return dest


def compose_binary() -> Path:
    cached = CACHE / "compose" / "docker-compose"
    if cached.is_file():
        return cached
    for cand in ("/usr/local/lib/docker/cli-plugins/docker-compose", "/usr/libexec/docker/cli-plugins/docker-compose",
                 "/usr/lib/docker/cli-plugins/docker-compose", str(Path.home() / ".docker/cli-plugins/docker-compose")):
        if Path(cand).is_file():
            return Path(cand)
    raise LabError("No Docker Compose v2 plugin found; run lab/engine.sh first.")


def build_context(src: Path, extra: dict[str, Path] | None = None) -> Path:
    ctx = Path(tempfile.mkdtemp(prefix="ctx-", dir=CACHE))
    shutil.copytree(src, ctx, dirs_exist_ok=True)
    for name, path in (extra or {}).items():
        if path.is_dir():
            shutil.copytree(path, ctx / name)
        else:
            shutil.copy2(path, ctx / name)
    return ctx


def build_from(name: str, src: Path, parent: str, dockerfile: str = "Dockerfile", extra=None, prefix: str = "",
               **args) -> str:
    """Build src into LABEL/name:<prefix><hash of every input>, unless that tag exists already."""
    ctx = build_context(src, extra)
    try:
        tag = f"{LABEL}/{name}:{prefix}{sha(tree_hash(ctx), parent, dockerfile, json.dumps(args, sort_keys=True))}"
        if not image_exists(tag):
            log(f"building {name}")
            docker_build(tag, ctx, dockerfile, **args)
        return tag
    finally:
        shutil.rmtree(ctx, ignore_errors=True)


def app_tree(dest: Path, tag: str, info: dict) -> None:
    """Lay out /app of the api stand-in for one release: pruned migration trees plus the stand-in server."""
    mig = dest / "oss" / "databases" / "postgres" / "migrations"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    if info["layout"] == "g1":
        shutil.copytree(REPO / "migrations", mig, ignore=ignore)
        shutil.copy2(REPO / "alembic.oss.ini", mig / "alembic.oss.ini")
        prune_versions(mig / "versions", info["heads"]["oss"])
    else:
        shutil.copytree(LAB_DIR / "standin" / "g3", mig, ignore=ignore)
        for chain_dir in [d for d in mig.iterdir() if (d / "alembic.ini").is_file()]:
            if chain_dir.name not in info["heads"]:
                shutil.rmtree(chain_dir)
                continue
            source = (info.get("sources") or {}).get(chain_dir.name)
            if source:  # this release's chain holds another tree's revisions (v0.45.0: core continues G1)
                shutil.rmtree(chain_dir / "versions")
                shutil.copytree(REPO / source / "versions", chain_dir / "versions", ignore=ignore)
            prune_versions(chain_dir / "versions", info["heads"][chain_dir.name])
    for pkg in (dest / "oss", dest / "oss" / "databases", dest / "oss" / "databases" / "postgres", mig):
        (pkg / "__init__.py").touch()
    if info.get("edition") == "ee":  # the EE chains and runner (/app/ee/databases/postgres/migrations)
        ee = dest / "ee" / "databases" / "postgres" / "migrations"
        shutil.copytree(LAB_DIR / "standin" / "ee", ee, ignore=ignore)
        for chain_dir in [d for d in ee.iterdir() if (d / "alembic.ini").is_file()]:
            prune_versions(chain_dir / "versions", info["heads"][chain_dir.name])
            # Its env.py is its *_oss sibling's with the EE names (version table alembic_version_ee).
            oss = LAB_DIR / "standin" / "g3" / chain_dir.name.replace("_ee", "_oss")
            text = (oss / "env.py").read_text()
            for old, new in ((oss.name, chain_dir.name), ("alembic_version_oss", "alembic_version_ee"),
                             ('"agenta_oss"', '"agenta_ee"')):
                text = text.replace(old, new)
            (chain_dir / "env.py").write_text(text)
            shutil.copy2(oss / "script.py.mako", chain_dir / "script.py.mako")
        for pkg in (dest / "ee", dest / "ee" / "databases", dest / "ee" / "databases" / "postgres"):
            (pkg / "__init__.py").touch()
    (dest / "standin").mkdir()
    shutil.copy2(LAB_DIR / "standin" / "server.py", dest / "standin" / "server.py")


def real_archive(info: dict) -> Path:
    path = REAL_DIR / info["archive"]
    if not path.is_file():
        raise LabError(f"Agenta's real release archive {path} is missing; put ../shared/agenta-real beside the "
                       f"checkout (or set AGENTA_REAL_DIR).")
    return path


def build_real_runtime(runtime: str) -> str:
    """The API runtime plus the real releases' PyPI closure (offline from a wheelhouse) and postgresql-client
    (the runner's nodes copy calls pg_dump). Its tag hashes the inputs, so a cached image needs no download."""
    src = LAB_DIR / "images" / "api-real"
    requirements = REAL_DIR / "requirements-g2-g3.txt"
    if not requirements.is_file():
        raise LabError(f"{requirements} is missing; put ../shared/agenta-real beside the checkout.")
    tag = f"{LABEL}/api-real-runtime:{sha(tree_hash(src), requirements.read_bytes(), runtime)}"
    if image_exists(tag):
        return tag
    ctx = build_context(src, {"wheels": wheelhouse(requirements), "requirements.txt": requirements})
    try:
        log("building api-real-runtime (the real releases' Python packages)")
        docker_build(tag, ctx, RUNTIME=runtime)
    finally:
        shutil.rmtree(ctx, ignore_errors=True)
    return tag


def build_real_api(tag: str, info: dict, runtime: str) -> str:
    """ghcr.io/agenta-ai/agenta-api:<tag> of a real release: the archive's api/oss at /app/oss."""
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        src = Path(tmp)
        with tempfile.TemporaryDirectory(dir=CACHE) as unpacked:
            run(["tar", "-xzf", str(real_archive(info)), "-C", unpacked], timeout=300)
            top = next(Path(unpacked).iterdir())
            shutil.copytree(top / "api" / "oss", src / "app" / "oss",
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "tests"))
        (src / "app" / "standin").mkdir()
        shutil.copy2(LAB_DIR / "standin" / "server.py", src / "app" / "standin" / "server.py")
        shutil.copy2(LAB_DIR / "images" / "api" / "Dockerfile", src / "Dockerfile")
        return build_from("agenta-api", src, runtime, prefix=f"{tag}-", RUNTIME=runtime, RELEASE=tag,
                          LAYOUT=info["layout"])


_build_depth = 0


@contextlib.contextmanager
def build_lock():
    """One builder of lab images and bundles at a time on this machine (test workers run in parallel and may want
    the same image at once; a second builder waits, then finds it built). Re-entrant within a process."""
    global _build_depth
    if _build_depth:
        _build_depth += 1
        try:
            yield
        finally:
            _build_depth -= 1
        return
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / "build.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        _build_depth = 1
        try:
            yield
        finally:
            _build_depth = 0


def build_images(real: bool = False) -> dict:
    """Build every lab image that is missing; return their tags. Rebuilds only what changed. The real releases'
    images are built only with real=True."""
    with build_lock():
        return _build_images(real)


def _build_images(real: bool) -> dict:
    images_dir = LAB_DIR / "images"
    base = build_base()
    postgres = build_from("postgres", images_dir / "postgres", base, BASE=base)
    host = build_from("host", images_dir / "host", base, extra={"docker-compose": compose_binary()}, BASE=base)
    wheels = wheelhouse(images_dir / "api" / "requirements.txt")
    runtime = build_from("api-runtime", images_dir / "api", base, "Dockerfile.runtime", extra={"wheels": wheels},
                         BASE=base)

    def build_api(tag: str, info: dict, prefix: str) -> str:
        with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
            src = Path(tmp)
            shutil.copy2(images_dir / "api" / "Dockerfile", src / "Dockerfile")
            app_tree(src / "app", tag, info)
            return build_from("agenta-api", src, runtime, prefix=prefix, RUNTIME=runtime, RELEASE=tag,
                              LAYOUT=info["layout"])

    api = {tag: build_api(tag, info, f"{tag}-") for tag, info in load_releases()["releases"].items()}
    api_ee = {tag: build_api(tag, release_info(tag, "ee"), f"ee-{tag}-")
              for tag in load_releases().get("ee_releases") or {}}
    images = {"base": base, "postgres": postgres, "host": host, "runtime": runtime, "api": api, "api_ee": api_ee}
    if real:
        images["real_runtime"] = build_real_runtime(runtime)
        for tag, info in all_releases().items():
            if info.get("real"):
                api[tag] = build_real_api(tag, info, images["real_runtime"])
    return images


# ------------------------------------------------------------------------------------------------- hosts
@dataclass
class Host:
    lab: str
    group: str
    index: int
    port: int
    release: str
    layout: str
    db_owner: str = ""  # with --shared-db: the lab host (name) whose postgres holds this host's databases
    ssh: bool = False  # with --ssh: reached over SSH as the user `agenta` with sudo (lab/images/host-ssh)
    edition: str = "oss"  # with --edition ee: Agenta EE (compose project agenta-ee-gh, databases agenta_ee_*)

    @property
    def compose_dir(self) -> str:
        return EDITIONS[self.edition]["compose_dir"]

    @property
    def env_file(self) -> str:
        return EDITIONS[self.edition]["env_file"]

    @property
    def name(self) -> str:
        return f"{self.group}-{self.index}"

    @property
    def container(self) -> str:
        return f"agenta-{self.lab}-{self.name}"


def network_name(lab: str) -> str:
    return f"agenta-{lab}-net"


def inventory_path(lab: str) -> Path:
    return LAB_DIR / ("inventory.yml" if lab == "lab" else f"inventory-{lab}.yml")


def hx(host: str, *args: str, **kw) -> subprocess.CompletedProcess:
    """Run a command inside a lab host."""
    return run(["docker", "exec", *(["-i"] if kw.get("input") is not None or kw.get("stdin") else []),
                host, *args], **kw)


def compose_args(compose_dir: str = COMPOSE_DIR, edition: str = "oss") -> list[str]:
    if edition != "oss" and compose_dir == COMPOSE_DIR:
        compose_dir = EDITIONS[edition]["compose_dir"]
    return ["docker", "compose", "--project-directory", compose_dir, "-f", f"{compose_dir}/docker-compose.gh.yml",
            "--env-file", f"{compose_dir}/.env.{edition}.gh"]


def lab_containers(lab: str | None) -> list[str]:
    flt = f"label={LABEL}.name={lab}" if lab else f"label={LABEL}.name"
    names = out(["docker", "ps", "-a", "--filter", flt, "--format", "{{.Names}}"])
    return sorted(n for n in names.splitlines() if n)


def wait_for(what: str, probe, timeout: float, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise LabError(f"{what} did not happen within {timeout:.0f} s.")
        time.sleep(interval)


def build_postgres_next() -> str:
    """The PostgreSQL 17 image of a release that moves PostgreSQL to a new major (built on demand, cached by its
    inputs); tagged agenta-lab/postgres:17 on this engine."""
    with build_lock():
        base = build_base()
        ref = build_from("postgres", LAB_DIR / "images" / "postgres", base, BASE=base, PG_MAJOR="17",
                         SUITE="trixie")
        run(["docker", "tag", ref, NEXT_PG_IMAGE])
    return ref


def load_image_into(h: "Host | str", ref: str, tag: str) -> None:
    """Copy one image of this engine into a lab host's engine under tag."""
    container = h if isinstance(h, str) else h.container
    if hx(container, "docker", "image", "inspect", ref, check=False).returncode != 0:
        save = subprocess.Popen(["docker", "save", ref], stdout=subprocess.PIPE)
        hx(container, "docker", "load", "-q", stdin=save.stdout, timeout=600)
        if save.wait() != 0:
            raise LabError(f"docker save {ref} failed.")
    hx(container, "docker", "tag", ref, tag)


SSH_USER = "agenta"


def ssh_key(lab: str) -> Path:
    """The lab's own SSH key (lab/.cache/ssh/<lab>/id_ed25519), made on first use."""
    key = CACHE / "ssh" / lab / "id_ed25519"
    if not key.is_file():
        key.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(key.parent, 0o700)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"agenta-lab-{lab}", "-f", str(key)])
    return key


def start_sshd(h: Host) -> None:
    """Let the lab's key log in as SSH_USER and start sshd in the host."""
    home = f"/home/{SSH_USER}/.ssh"
    hx(h.container, "install", "-d", "-m", "0700", "-o", SSH_USER, "-g", SSH_USER, home)
    write_file_in(h.container, f"{home}/authorized_keys", (ssh_key(h.lab).with_suffix(".pub")).read_text(), "0600")
    hx(h.container, "chown", f"{SSH_USER}:{SSH_USER}", f"{home}/authorized_keys")
    hx(h.container, "/usr/sbin/sshd")


def image_bundle(images: dict) -> Path:
    """One tar of the images every lab host needs (saved once, loaded into each host's engine)."""
    refs = [images["postgres"], *images["api"].values(), *images["api_ee"].values()]
    ids = [out(["docker", "image", "inspect", "-f", "{{.Id}}", r]) for r in refs]
    kind = "real" if any(r.startswith(f"{LABEL}/agenta-api:real-") for r in refs) else "std"
    tar = CACHE / f"bundle-{kind}-{sha(*refs, *ids)}.tar"
    if not tar.is_file():
        for old in CACHE.glob(f"bundle-{kind}-*.tar"):
            old.unlink()
        log("saving the image bundle for the hosts")
        run(["docker", "save", "-o", str(tar) + ".tmp", *refs], timeout=600)
        os.rename(str(tar) + ".tmp", tar)
    return tar


def ensure_host_images(h: Host, images: dict, bundle: Path) -> None:
    wanted = [images["postgres"], *images["api"].values(), *images["api_ee"].values()]
    # A pooled cache may hold images of older builds or of tests: keep only what this lab wants, and the real
    # releases' images (large) while they are current on this machine.
    want_ids = {out(["docker", "image", "inspect", "-f", "{{.Id}}", ref]) for ref in wanted + current_real_images()}
    have_ids = set(out(["docker", "exec", h.container, "docker", "images", "-aq", "--no-trunc"]).split())
    extra = sorted(have_ids - want_ids)
    if extra:
        hx(h.container, "docker", "rmi", "-f", *extra, check=False)
    have = hx(h.container, "docker", "image", "inspect", *wanted, check=False)
    if have.returncode != 0:
        with open(bundle, "rb") as fh:
            hx(h.container, "docker", "load", "-q", stdin=fh, timeout=600)
    tags = [(images["postgres"], PRODUCT_PG_IMAGE)]
    tags += [(ref, f"{PRODUCT_API_IMAGE}:{rel}") for rel, ref in images["api"].items()]
    tags += [(ref, f"{EDITIONS['ee']['image']}:{rel}") for rel, ref in images["api_ee"].items()]
    for src, dst in tags:
        hx(h.container, "docker", "tag", src, dst)


def current_real_images() -> list[str]:
    """Tags of the real releases' images built from the current inputs (cheap: no build, no download)."""
    refs = out(["docker", "images", "--filter", f"label={LABEL}", "--format", "{{.Repository}}:{{.Tag}}"]).split()
    real = [t for t, info in all_releases().items() if info.get("real")]
    return [r for r in refs if any(r.startswith(f"{LABEL}/agenta-api:{t}-") for t in real)]


def write_file_in(container: str, path: str, content: str, mode: str = "0644") -> None:
    hx(container, "tee", path, input=content.encode())
    hx(container, "chmod", mode, path)


def env_file_text(h: Host, db_address: str = "") -> str:
    """The host's env file. A host that owns a shared database publishes its postgres on the lab network; a
    host that uses another host's database points every POSTGRES_URI* at that host's lab address."""
    example = (compose_source(h) / f"env.{h.edition}.gh.example").read_text()
    if release_info(h.release, h.edition).get("real"):
        example += (LAB_DIR / "compose" / "real.env.oss.gh").read_text()
    text = re.sub(r"^AGENTA_API_IMAGE_TAG=.*$", f"AGENTA_API_IMAGE_TAG={h.release}", example, flags=re.M)
    if h.db_owner == h.name:
        text += "# This host's postgres is shared with other lab hosts (lab.py up --shared-db).\nPOSTGRES_BIND=0.0.0.0\n"
    elif h.db_owner:
        text = re.sub(r"^(POSTGRES_URI[A-Z_]*=[^@\n]*@)postgres:", rf"\g<1>{db_address}:", text, flags=re.M)
        text += f"# The databases are on {h.db_owner} (lab.py up --shared-db); the local postgres is not used.\n"
    return text


def compose_source(h: Host) -> Path:
    """The lab's compose folder of the host's release (lab/compose/<g1|g3|ee>)."""
    return LAB_DIR / "compose" / ("ee" if h.edition == "ee" else COMPOSE_LAYOUT[h.layout])


def db_container(h: Host) -> str:
    """The lab host container whose postgres holds this host's databases."""
    return f"agenta-{h.lab}-{h.db_owner}" if h.db_owner else h.container


def lab_address(container: str, lab: str) -> str:
    return out(["docker", "inspect", "-f", f'{{{{(index .NetworkSettings.Networks "{network_name(lab)}").IPAddress}}}}',
                container])


def psql(container: str, db: str, sql: str, *, host_tcp: bool = True) -> str:
    """Run SQL with the lab host's psql client over TCP to its postgres (password from the environment)."""
    return out(["docker", "exec", "-e", "PGPASSWORD", container, "psql", "-h", "127.0.0.1", "-U", DB_USER, "-d", db,
                "-v", "ON_ERROR_STOP=1", "-tA", "-c", sql], env={"PGPASSWORD": DB_PASSWORD}, timeout=120)


def seed(h: Host, rows: int, mb: int) -> None:
    for script, db in SEEDS[seed_key(release_info(h.release, h.edition))]:
        if os.environ.get("AGENTA_LAB_BREAK_SEED"):  # fault injection for the lab's own tests
            db = "no_such_database"
        with open(script, "rb") as fh:
            run(["docker", "exec", "-i", "-e", "PGPASSWORD", h.container, "psql", "-q", "-h", "127.0.0.1", "-U",
                 DB_USER, "-d", db, "-v", "ON_ERROR_STOP=1", "-v", f"rows={rows}", "-v", f"mb={mb}", "-f", "-"],
                stdin=fh, env={"PGPASSWORD": DB_PASSWORD}, timeout=1800)


@contextlib.contextmanager
def pool_volume():
    """Lend a free volume of the engine-cache pool (a host's /var/lib/docker, with the lab images already
    loaded) to the container created inside this block. The pool is shared by every lab on this machine, so
    test runs with fresh lab names start warm and the disk holds one cache per host that runs at once."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / "pool.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # other threads and other lab.py processes wait here
        names = sorted(out(["docker", "volume", "ls", "-q", "--filter", f"label={LABEL}.pool"]).split())
        busy = set()
        for name in names:
            if out(["docker", "ps", "-aq", "--filter", f"volume={name}"]):
                busy.add(name)
        free = [n for n in names if n not in busy]
        if free:
            volume = free[0]
        else:
            taken = {int(n.rsplit("-", 1)[1]) for n in names if n.rsplit("-", 1)[1].isdigit()}
            volume = f"{LABEL}-pool-{min(set(range(1, len(taken) + 2)) - taken)}"
            run(["docker", "volume", "create", "--label", f"{LABEL}=1", "--label", f"{LABEL}.pool=1", volume])
        yield volume


def start_host(h: Host, images: dict, bundle: Path, rows: int, mb: int) -> None:
    t0 = time.monotonic()
    with pool_volume() as volume:
        run(["docker", "run", "-d", "--name", h.container, "--hostname", h.name,
             "--label", f"{LABEL}=1", "--label", f"{LABEL}.name={h.lab}", "--label", f"{LABEL}.group={h.group}",
             "--label", f"{LABEL}.host={h.name}",
             "--label", f"{LABEL}.release={h.release}", "--label", f"{LABEL}.port={h.port}",
             "--label", f"{LABEL}.db={db_container(h)}", "--label", f"{LABEL}.edition={h.edition}",
             "--network", network_name(h.lab), "--network-alias", h.name,
             "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE", "--security-opt", "seccomp=unconfined",
             "--security-opt", "apparmor=unconfined", "--cgroupns", "host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
             "-v", f"{volume}:/var/lib/docker", "-p", f"127.0.0.1:{h.port}:80",
             images["host_ssh"] if h.ssh else images["host"]])
    if h.ssh:
        start_sshd(h)
    # Seconds on a quiet machine; minutes when the machine is loaded (two test workers and a third job).
    try:
        wait_for(f"the Docker engine of {h.name}",
                 lambda: hx(h.container, "docker", "info", check=False, timeout=20).returncode == 0, 180)
    except LabError as exc:
        said = subprocess.run(["docker", "logs", "--tail", "15", h.container], capture_output=True, text=True)
        raise LabError(f"{exc} Its last lines:\n{said.stdout}{said.stderr}") from None
    # A cache volume may hold containers or volumes of an earlier lab that was not taken down cleanly.
    stale = out(["docker", "exec", h.container, "docker", "ps", "-aq"])
    if stale:
        hx(h.container, "docker", "rm", "-f", *stale.split())
    hx(h.container, "docker", "volume", "prune", "-f")
    hx(h.container, "docker", "network", "prune", "-f")
    ensure_host_images(h, images, bundle)
    hx(h.container, "mkdir", "-p", h.compose_dir)
    run(["docker", "cp", f"{compose_source(h)}/.", f"{h.container}:{h.compose_dir}"])
    # A release with its own compose file (lab/compose/releases/<release>/, the services that release runs).
    own = LAB_DIR / "compose" / "releases" / h.release / "docker-compose.gh.yml"
    if own.is_file() and h.edition == "oss":
        run(["docker", "cp", str(own), f"{h.container}:{h.compose_dir}/docker-compose.gh.yml"])
    hx(h.container, "rm", "-f", f"{h.compose_dir}/env.{h.edition}.gh.example")
    shares = h.db_owner and h.db_owner != h.name
    address = lab_address(db_container(h), h.lab) if shares else ""
    write_file_in(h.container, h.env_file, env_file_text(h, address), "0600")
    hx(h.container, *compose_args(h.compose_dir, h.edition), "up", "-d", "--quiet-pull", timeout=600)
    wait_for(f"the API health check of {h.name}", lambda: api_health(h.port) == 200, 60)
    if not shares:  # the owner of a shared database was seeded already
        seed(h, rows, mb)
    log(f"{h.name} is up at {h.release} ({time.monotonic() - t0:.1f} s)")


def api_health(port: int) -> int | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=3) as resp:
            return resp.status
    except Exception as exc:  # noqa: BLE001 - any failure means "not healthy yet"
        return getattr(exc, "code", None)


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def parse_count(name: str, value, low: int = 1) -> int:
    text = str(value).strip()
    if not re.fullmatch(r"\d+", text) or not low <= int(text) <= MAX_HOSTS_PER_GROUP:
        raise LabError(f"{name} must be a whole number from {low} to {MAX_HOSTS_PER_GROUP}, not '{value}'.")
    return int(text)


def plan_hosts(lab: str, staging, production, release: str, port_base, shared_db: bool = False,
               ssh: bool = False, edition: str = "oss") -> list[Host]:
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,20}", lab):
        raise LabError(f"The lab name '{lab}' must be lower-case letters, digits and dashes (at most 21).")
    # A lab without production hosts serves a bench or a test that upgrades staging only (no host started for nothing).
    counts = {"staging": parse_count("STAGING", staging), "production": parse_count("PRODUCTION", production, low=0)}
    if edition not in EDITIONS:
        raise LabError(f"The edition must be oss or ee, not '{edition}'.")
    info = release_info(release, edition)
    if str(port_base) == "auto":
        port_base = auto_port_base(sum(counts.values()))
    if not re.fullmatch(r"\d+", str(port_base)) or not 1024 <= int(port_base) <= 65000:
        raise LabError(f"The port base must be 'auto' or a number from 1024 to 65000, not '{port_base}'.")
    hosts, port = [], int(port_base)
    for group in GROUPS:
        for i in range(1, counts[group] + 1):
            port += 1
            owner = f"{group}-1" if shared_db and counts[group] > 1 else ""
            hosts.append(Host(lab, group, i, port, release, info["layout"], owner, ssh, edition))
    return hosts


def auto_port_base(count: int) -> int:
    """A port base whose next `count` loopback ports are free (random, so labs started at once rarely meet)."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(40000, 60000)  # tests draw 20000-40000 (conftest)
        if all(port_free(base + i) for i in range(1, count + 1)):
            return base
    raise LabError("Found no free loopback ports for the lab's APIs; give a --port-base.")


def down(lab: str, quiet: bool = False) -> int:
    names = lab_containers(lab)
    if names:
        def stop(name: str) -> None:
            # Take the compose stack down first so its volumes do not linger in the cache volume.
            edition = out(["docker", "inspect", "-f", f'{{{{index .Config.Labels "{LABEL}.edition"}}}}', name],
                          check=False) or "oss"
            hx(name, *compose_args(edition=edition if edition in EDITIONS else "oss"), "down", "-v", "--remove-orphans", "-t", "3", check=False, timeout=120)
            run(["docker", "rm", "-f", "-v", name], check=False)
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(stop, names))
    run(["docker", "network", "rm", network_name(lab)], check=False)
    inventory_path(lab).unlink(missing_ok=True)
    if names and not quiet:
        log(f"removed {len(names)} host(s) of lab '{lab}'")
    return len(names)


def up(args) -> None:
    hosts = plan_hosts(args.lab, args.staging, args.production, args.release, args.port_base, args.shared_db,
                       args.ssh, args.edition)
    if not re.fullmatch(r"\d+", str(args.rows)) or not 1 <= int(args.rows) <= 1_000_000:
        raise LabError(f"ROWS must be a whole number from 1 to 1000000, not '{args.rows}'.")
    if not re.fullmatch(r"\d+", str(args.mb)) or not 0 <= int(args.mb) <= 1024:
        raise LabError(f"MB must be a whole number from 0 to 1024, not '{args.mb}'.")
    if lab_containers(args.lab):
        log(f"replacing the running lab '{args.lab}'")
        down(args.lab, quiet=True)
    for h in hosts:
        if not port_free(h.port):
            raise LabError(f"Port {h.port} on 127.0.0.1 is taken, so {h.name} cannot publish its API; "
                           f"choose another port base (LAB_PORT_BASE).")
    t0 = time.monotonic()
    with build_lock():
        images = build_images(real=bool(release_info(args.release).get("real")))
        if args.ssh:
            images["host_ssh"] = build_from("host-ssh", LAB_DIR / "images" / "host-ssh", images["host"],
                                            HOST=images["host"])
        bundle = image_bundle(images)
    if args.ssh:
        ssh_key(args.lab)
    log(f"images ready ({time.monotonic() - t0:.1f} s); starting {len(hosts)} host(s) at {args.release}")
    run(["docker", "network", "create", "--label", f"{LABEL}=1", "--label", f"{LABEL}.name={args.lab}",
         network_name(args.lab)])
    try:
        # Hosts that use another host's database start after it (they need its address and its data).
        for wave in ([h for h in hosts if not h.db_owner or h.db_owner == h.name],
                     [h for h in hosts if h.db_owner and h.db_owner != h.name]):
            with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
                futures = [pool.submit(start_host, h, images, bundle, int(args.rows), int(args.mb)) for h in wave]
                for f in futures:
                    f.result()
    except BaseException as exc:
        down(args.lab, quiet=True)
        if isinstance(exc, LabError):
            raise LabError(f"{exc} The lab was removed again.") from exc
        raise
    write_inventory(args.lab, hosts)
    log(f"lab '{args.lab}' is up in {time.monotonic() - t0:.1f} s; inventory: {inventory_path(args.lab)}")


def write_inventory(lab: str, hosts: list[Host]) -> None:
    groups: dict = {g: {"hosts": {}} for g in GROUPS}
    for h in hosts:
        groups[h.group]["hosts"][h.name] = {
            "ansible_host": h.container,
            "agenta_release": h.release,
            "agenta_layout": h.layout,
            "agenta_compose_dir": h.compose_dir,
            "agenta_env_file": h.env_file,
            "agenta_api_url": f"http://127.0.0.1:{h.port}",
        }
        if h.edition != "oss":  # the collection's defaults are OSS's (agenta-oss-gh)
            groups[h.group]["hosts"][h.name].update(agenta_compose_project=EDITIONS[h.edition]["project"],
                                                    agenta_edition=h.edition)
        if h.db_owner:  # hosts with the same agenta_database_id share one database: it is migrated once
            groups[h.group]["hosts"][h.name]["agenta_database_id"] = f"{h.lab}-{h.db_owner}"
    # Pipelining: one docker exec per task instead of three (a third to a half of a playbook's time here); the
    # collection does not depend on it.
    connection = {"ansible_connection": "community.docker.docker"}
    if any(h.ssh for h in hosts):
        # As a real fleet: SSH to the host's lab address as a user without root rights, sudo for every task.
        for h in hosts:
            groups[h.group]["hosts"][h.name]["ansible_host"] = lab_address(h.container, h.lab)
        connection = {"ansible_connection": "ansible.builtin.ssh", "ansible_user": SSH_USER,
                      "ansible_ssh_private_key_file": str(ssh_key(lab)), "ansible_become": True,
                      "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
                                                 "-o LogLevel=ERROR"}
    inv = {"all": {"vars": {**connection,
                            "ansible_pipelining": True,
                            "ansible_python_interpreter": "/usr/bin/python3",
                            "agenta_lab": lab},
                   "children": groups}}
    header = f"# Written by lab/lab.py for lab '{lab}'; removed by 'lab.py down'.\n"
    inventory_path(lab).write_text(header + yaml.safe_dump(inv, sort_keys=False))


# ------------------------------------------------------------------------------------------------ status
def host_status(container: str) -> dict:
    labels = json.loads(out(["docker", "inspect", "-f", "{{json .Config.Labels}}", container]))
    state = out(["docker", "inspect", "-f", "{{.State.Status}}", container])
    row = {"host": labels.get(f"{LABEL}.host", container),
           "group": labels.get(f"{LABEL}.group", "?"), "state": state, "image": "-", "revisions": {}, "health": "-"}
    if state != "running":
        return row
    edition = labels.get(f"{LABEL}.edition") or "oss"
    project = EDITIONS.get(edition, EDITIONS["oss"])["project"]
    image = hx(container, "docker", "inspect", "-f", "{{.Config.Image}}", project + "-api-1", check=False)
    if image.returncode == 0:
        row["image"] = image.stdout.decode().strip().rsplit(":", 1)[-1]
    layout = "g1" if release_layout(row["image"]) == "g1" else "g3"
    for chain in CHAIN_DB:
        if (layout == "g1") != (chain == "oss") or (chain.endswith("_ee") and edition != "ee"):
            continue
        db, table = chain_db(chain, edition)
        try:
            rev = psql(labels.get(f"{LABEL}.db") or container, db, f"SELECT string_agg(version_num, ',') FROM {table}")
        except LabError:
            rev = ""
        if rev or table == "alembic_version":
            row["revisions"][chain] = rev or "(none)"
    code = api_health(int(labels.get(f"{LABEL}.port", 0))) if labels.get(f"{LABEL}.port") else None
    row["health"] = str(code) if code else "down"
    return row


def release_layout(tag: str) -> str:
    try:
        return release_info(tag)["layout"]
    except LabError:
        return "?"


def status(lab: str) -> list[dict]:
    names = lab_containers(lab)
    if not names:
        print(f"lab '{lab}' has no hosts; start it with 'make lab-up'.")
        return []
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        rows = list(pool.map(host_status, names))
    table = [("HOST", "GROUP", "STATE", "IMAGE TAG", "HEALTH", "REVISIONS")]
    for r in rows:
        revs = " ".join(f"{c}={v}" for c, v in r["revisions"].items()) or "-"
        table.append((r["host"], r["group"], r["state"], r["image"], r["health"], revs))
    widths = [max(len(row[i]) for row in table) for i in range(5)]
    for row in table:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[5])
    return rows


def clean() -> None:
    for lab in sorted({out(["docker", "inspect", "-f", f'{{{{index .Config.Labels "{LABEL}.name"}}}}', c])
                       for c in lab_containers(None)}):
        down(lab)
    vols = out(["docker", "volume", "ls", "-q", "--filter", f"label={LABEL}"]).split()
    if vols:
        run(["docker", "volume", "rm", "-f", *vols])
    nets = out(["docker", "network", "ls", "-q", "--filter", f"label={LABEL}"]).split()
    if nets:
        run(["docker", "network", "rm", *nets], check=False)
    imgs = out(["docker", "images", "-q", "--filter", f"label={LABEL}"]).split()
    if imgs:
        run(["docker", "rmi", "-f", *sorted(set(imgs))], check=False)
    shutil.rmtree(CACHE, ignore_errors=True)
    log(f"removed {len(vols)} cache volume(s), {len(set(imgs))} image(s) and {CACHE}")


# -------------------------------------------------------------------------------------------------- main
def engine_ok() -> None:
    if run(["docker", "info"], check=False, timeout=20).returncode != 0:
        raise LabError("No Docker engine answers; run 'make engine' (lab/engine.sh) first.")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="lab.py", description=__doc__.splitlines()[0])
    p.add_argument("--lab", default=os.environ.get("LAB", "lab"), help="lab name (default: lab)")
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("--real", action="store_true", help="also the images of Agenta's real releases")
    u = sub.add_parser("up")
    u.add_argument("--staging", default=os.environ.get("STAGING", "2"))
    u.add_argument("--production", default=os.environ.get("PRODUCTION", "2"))
    u.add_argument("--release", default=os.environ.get("RELEASE") or "v0.43.0")
    u.add_argument("--rows", default=os.environ.get("ROWS", "300"))
    u.add_argument("--mb", default=os.environ.get("MB", "0"))
    u.add_argument("--port-base", default=os.environ.get("LAB_PORT_BASE", "18080"),
                   help="API ports are base+1, base+2, ...; 'auto' picks free ones")
    u.add_argument("--shared-db", action="store_true", default=os.environ.get("SHARED_DB", "") not in ("", "0"),
                   help="in each group with 2+ hosts, hosts 2.. use host 1's database")
    u.add_argument("--ssh", action="store_true", default=os.environ.get("LAB_SSH", "") not in ("", "0"),
                   help="hosts are reached over SSH as the user agenta with sudo (become), not with docker exec")
    u.add_argument("--edition", choices=sorted(EDITIONS), default=os.environ.get("LAB_EDITION") or "oss",
                   help="ee: Agenta EE (ee_releases of releases.yml, project agenta-ee-gh, databases agenta_ee_*)")
    sub.add_parser("status")
    n = sub.add_parser("next", help="print the release an upgrade from --release goes to")
    n.add_argument("--release", default=os.environ.get("RELEASE") or "v0.43.0")
    sub.add_parser("down")
    sub.add_parser("clean")
    args = p.parse_args(argv)
    try:
        if args.cmd == "next":
            info = release_info(args.release)
            print(info.get("next") or load_releases()["default_new"]["g1" if info["layout"] == "g1" else "g3"])
            return 0
        if args.cmd == "up":  # fail before any work; `auto` becomes one port base for good
            hosts = plan_hosts(args.lab, args.staging, args.production, args.release, args.port_base, args.shared_db,
                               args.ssh, args.edition)
            args.port_base = str(hosts[0].port - 1)
        engine_ok()
        if args.cmd == "build":
            print(json.dumps(build_images(real=args.real), indent=2))
        elif args.cmd == "up":
            up(args)
        elif args.cmd == "status":
            status(args.lab)
        elif args.cmd == "down":
            if not down(args.lab):
                log(f"lab '{args.lab}' has no hosts")
        elif args.cmd == "clean":
            clean()
    except LabError as exc:
        print(f"lab: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("lab: interrupted.", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
