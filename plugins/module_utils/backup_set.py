# -*- coding: utf-8 -*-
# Copyright: (c) 2026, agenta.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A folder of agenta.fleet backups on a host: which folder may hold them, what a backup's manifest says, which old
backups retention removes, and how two measurements of a database compare. Pure logic and plain file-system work;
the PostgreSQL side is postgres_access's."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat

from ansible_collections.agenta.fleet.plugins.module_utils.deployment import DeploymentError, image_tag_of

TOOL = "agenta.fleet.backup"
MANIFEST_VERSION = 1
BACKUP_NAME = re.compile(r"^[0-9]{8}T[0-9]{6}Z$")
# What the collection itself writes into a backup folder, besides backups named like BACKUP_NAME.
OWN_ENTRIES = frozenset(["latest", "pre-restore", ".agenta-fleet", "lost+found"])
# Folders that belong to the system: a backup folder is never one of them, nor inside the trees of SYSTEM_TREES.
SYSTEM_DIRS = frozenset([
    "/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32", "/media", "/mnt", "/opt",
    "/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/var", "/var/backups", "/var/cache",
    "/var/lib", "/var/local", "/var/lock", "/var/log", "/var/mail", "/var/opt", "/var/run", "/var/spool",
    "/var/tmp", "/opt/agenta"])
SYSTEM_TREES = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/run", "/sbin",
                "/sys", "/usr", "/var/lib/docker", "/var/lib/postgresql", "/var/log")


def _in_tree(path, tree):
    return path == tree or path.startswith(tree + "/")


def _system_reason(path):
    if path in SYSTEM_DIRS:
        return "is a system folder"
    for tree in SYSTEM_TREES:
        if _in_tree(path, tree):
            return "lies inside the system folder %s" % tree
    return None


def check_backup_dir(path, realpath=os.path.realpath, exists=os.path.lexists, isdir=os.path.isdir,
                     listdir=os.listdir):
    """The backup folder as given (one trailing '/' allowed) -> its normalised path, or DeploymentError with one
    sentence. A backup folder is a dedicated folder: absolute, normalised, not a system folder (nor, through a
    symbolic link, one), and holding nothing but what the collection writes. Reads only."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise DeploymentError("The backup folder %r is not an absolute path; set agenta_backup_dir to a dedicated "
                              "folder such as /var/backups/agenta." % (path,))
    clean = path.rstrip("/") or "/"
    if os.path.normpath(clean) != clean or "//" in clean:
        raise DeploymentError("The backup folder %s is not a normalised path (it means %s); name the folder without "
                              "'.', '..' or '//'." % (path, os.path.normpath(clean)))
    reason = _system_reason(clean)
    if reason:
        raise DeploymentError("The backup folder %s %s; choose a folder of its own such as /var/backups/agenta."
                              % (clean, reason))
    if exists(clean):
        real = realpath(clean)
        reason = _system_reason(real)
        if reason:
            raise DeploymentError("The backup folder %s leads to %s, which %s; choose a folder of its own."
                                  % (clean, real, reason))
        if not isdir(clean):
            raise DeploymentError("The backup folder %s exists and is not a folder; choose another path." % clean)
        foreign = sorted(n for n in listdir(clean) if n not in OWN_ENTRIES and not BACKUP_NAME.match(n))
        if foreign:
            count = "a file" if len(foreign) == 1 else "%d files" % len(foreign)
            names = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
            raise DeploymentError("The backup folder %s holds %s that agenta.fleet did not write (%s); give the "
                                  "backups a folder of their own or move those away." % (clean, count, names))
    return clean


def files_of(root):
    """Every file under root, as paths relative to root, sorted; symbolic links are refused."""
    found = []
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            if os.path.islink(os.path.join(folder, name)):
                raise DeploymentError("The backup %s holds a symbolic link %s; a backup holds only plain files."
                                      % (root, os.path.join(folder, name)))
        for name in files:
            found.append(os.path.relpath(os.path.join(folder, name), root))
    return sorted(found)


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def make_private(root, uid=0, gid=0):
    """Every folder 0700 and every file 0600 under root (root included), owned by uid:gid. pg_dump ran with
    umask 077, so this normally changes nothing."""
    for folder, dirs, files in os.walk(root):
        for path, mode in [(folder, 0o700)] + [(os.path.join(folder, f), 0o600) for f in files]:
            st = os.lstat(path)
            if stat.S_IMODE(st.st_mode) != mode:
                os.chmod(path, mode)
            if (st.st_uid, st.st_gid) != (uid, gid):
                os.chown(path, uid, gid)


def write_private(path, data):
    """A new file, 0600 from its first byte; refuses to overwrite."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def write_manifest(folder, manifest):
    """manifest.json written last and atomically: a backup without it is unfinished."""
    tmp = os.path.join(folder, ".manifest.json.tmp")
    write_private(tmp, (json.dumps(manifest, indent=4) + "\n").encode("utf-8"))
    os.rename(tmp, os.path.join(folder, "manifest.json"))


def point_latest(backup_dir, name):
    tmp = os.path.join(backup_dir, ".latest.tmp")
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(name, tmp)
    os.rename(tmp, os.path.join(backup_dir, "latest"))


def image_tag(image):
    """'repo/name:tag' -> 'tag' ('' without a tag or for a digest; a registry port is not a tag)."""
    return image_tag_of(image)


def dump_entry(name, fmt, sums, sizes, database_size, measured):
    """One database's entry of the manifest. sums/sizes: {path relative to the backup: sha256 / bytes}."""
    rel = "%s.%s" % (name, "dump" if fmt == "custom" else "dir")
    parts = sorted(p for p in sums if p == rel or p.startswith(rel + "/"))
    if not parts:
        raise DeploymentError("The dump %s of database %s is missing from the backup." % (rel, name))
    return {
        "name": name, "file": rel, "format": fmt,
        "sha256": sums[rel] if fmt == "custom" else None,
        "files": None if fmt == "custom" else dict((p, sums[p]) for p in parts),
        "size": sum(sizes[p] for p in parts),
        "database_size": database_size,
        "tables": measured.get("tables") or {},
        "versions": measured.get("versions") or {},
    }


def backups_to_remove(backup_dir, keep, current, read_manifest):
    """The backups of backup_dir past the newest `keep` (the current one counts), oldest first. Only folders named
    like a backup whose manifest.json says this tool wrote it; read_manifest(path) -> dict or None."""
    ours = []
    for name in sorted(os.listdir(backup_dir)):
        path = os.path.join(backup_dir, name)
        if name == current or not BACKUP_NAME.match(name) or os.path.islink(path) or not os.path.isdir(path):
            continue
        manifest = read_manifest(os.path.join(path, "manifest.json"))
        if isinstance(manifest, dict) and manifest.get("tool") == TOOL:
            ours.append(name)
    ours.append(current)
    ours.sort()
    return [n for n in ours[:-keep] if n != current] if len(ours) > keep else []


def read_json(path):
    try:
        with open(path, "rb") as handle:
            return json.loads(handle.read().decode("utf-8"))
    except (IOError, OSError, ValueError):
        return None


def remove_tree(path):
    if os.path.lexists(path):
        shutil.rmtree(path)


def compare(want, got):
    """want, got = {database: {tables: {t: n}, versions: {t: rev}}} -> '' when equal, else one sentence naming the
    first difference (version tables first, then tables, in name order)."""
    for db in sorted(want):
        if db not in got or got[db] is None:
            return "database %s was not found" % db
        for kind in ("versions", "tables"):
            w = want[db].get(kind) or {}
            g = got[db].get(kind) or {}
            for table in sorted(set(w) | set(g)):
                if w.get(table) == g.get(table):
                    continue
                if kind == "versions":
                    return "version table %s.%s has %s where the manifest says %s" % (
                        db, table, g.get(table) or "nothing", w.get(table) or "nothing")
                have = "%s rows" % g[table] if table in g else "no such table"
                said = "%s rows" % w[table] if table in w else "it does not exist"
                return "table %s.%s has %s where the manifest says %s" % (db, table, have, said)
    return ""


# A backup the restore reads (agenta.fleet.backup_info): its manifest, found directly or through `latest`, checked
# against the host and against the checksums of every file it names.
_DB_NAME = re.compile(r"^[A-Za-z0-9_]+$")
_DUMP_FILE = re.compile(r"^[A-Za-z0-9_]+\.(dump|dir)$")
_DIR_FILE = re.compile(r"^[A-Za-z0-9_]+\.dir/[A-Za-z0-9_.]+$")


def manifest_to_read(backup_dir, manifest=""):
    """(path to read, path to name when it is missing): the given manifest, else `latest`'s (the link resolved to the
    backup's own folder)."""
    if manifest:
        return manifest, manifest
    latest = backup_dir.rstrip("/") + "/latest"
    shown = latest + "/manifest.json"
    if os.path.islink(latest):
        return os.path.realpath(latest) + "/manifest.json", shown
    return shown, shown


def manifest_problem(content, path, host, allow_other_host=False):
    """'' when content is a manifest of agenta.fleet.backup for host (or allow_other_host), else one sentence."""
    m = content if isinstance(content, dict) else {}
    dbs = m.get("databases") if isinstance(m.get("databases"), list) else []
    entries = [d for d in dbs if isinstance(d, dict)]
    valid = (m.get("tool") == TOOL and len(entries) == len(dbs) > 0
             and all(_DB_NAME.match(str(d.get("name", ""))) for d in entries)
             and all(_DUMP_FILE.match(str(d.get("file", ""))) for d in entries)
             and all(_DIR_FILE.match(str(f)) for d in entries if d.get("format") == "directory"
                     for f in (d.get("files") or {}))
             and isinstance(m.get("env_file"), dict) and m["env_file"].get("file") == "env_file")
    if valid and (m.get("host") == host or allow_other_host):
        return ""
    if m.get("tool") == TOOL and m.get("host", "") != host:
        return ("The manifest %s was written for host %s, not %s (set restore_allow_other_host to restore it "
                "here), so nothing was restored." % (path, m.get("host", "?"), host))
    return "The file %s is not a valid agenta.fleet.backup manifest, so nothing was restored." % path


def expected_sums(content):
    """{file relative to the backup: sha256} of every file a (valid) manifest names."""
    out = {}
    for db in content["databases"]:
        if db.get("format") == "directory":
            out.update(db.get("files") or {})
        elif db.get("format") == "custom":
            out[db["file"]] = db.get("sha256")
    out[content["env_file"]["file"]] = content["env_file"].get("sha256")
    compose = content.get("compose_file") or {}
    if compose.get("file") == "compose_file":
        out["compose_file"] = compose.get("sha256")
    return out


def checksum_problem(folder, expected, sha=sha256_of):
    """'' when every file has its checksum, else one sentence naming the first (in name order) that does not."""
    for name in sorted(expected):
        path = os.path.join(folder, name)
        got = sha(path) if os.path.isfile(path) else None
        if got != expected[name]:
            return "%s/%s %s, so the backup was changed or damaged and nothing was restored." % (
                folder, name, "is missing" if got is None else "does not match the checksum in the manifest")
    return ""
