#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, agenta.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: postgres_move
short_description: Move a deployment's PostgreSQL data volume aside for a new major version, or put it back
version_added: 0.1.0
description:
  - PostgreSQL cannot start on the cluster of another major version (Agenta's compose moved C(postgres:16) to
    C(postgres:17) at v0.94.6). The upgrade moves the data by dump and restore; this module does the volume part,
    in one call, with the stack stopped.
  - With O(state=moved) it stops the containers of the compose project, copies every byte of the data volume
    O(volume) into a new volume O(keep_as) (checked file by file, and its C(PG_VERSION) must be O(from_major)),
    writes the record O(record) (next to the backup's manifest), then empties O(volume) and removes the container
    of O(postgres_service), so that C(docker compose up -d) starts the new major on an empty folder (C(initdb)),
    into which the caller restores the backup's dumps. The old cluster stays in O(keep_as) until the operator
    removes it.
  - With O(state=reverted) it reads O(record), stops the project's containers, keeps the cluster the volume holds
    now (the new major's) in a volume of its own, puts the bytes of the kept cluster back into O(volume) and removes
    the container of O(postgres_service), so that the old compose file starts the old major on its own data. The
    restore role calls it when the backup it restores has a record.
  - Both states are idempotent; a second call reports no change.
author:
  - Agenta fleet maintainers (@agenta-fleet)
options:
  state:
    description: V(moved) moves the data aside and empties the volume; V(reverted) puts it back.
    type: str
    choices: [moved, reverted]
    default: moved
  record:
    description:
      - The file that records the move (JSON, mode 0600), in the folder of the backup taken before it; the
        restore of that backup reads it. Its folder must exist.
    type: path
    required: true
  volume:
    description: The data volume of PostgreSQL (C(agenta-oss-gh_postgres-data)). Required with O(state=moved).
    type: str
  keep_as:
    description: The new volume that keeps the old cluster. Required with O(state=moved).
    type: str
  image:
    description:
      - The image of the one-shot containers that copy the bytes (any image with C(sh), C(tar), C(find) and
        C(md5sum); the deployment's current PostgreSQL image is the natural choice). Required with O(state=moved);
        O(state=reverted) uses the one in the record.
    type: str
  from_major:
    description: The major version of the cluster in O(volume) (its C(PG_VERSION)). Required with O(state=moved).
    type: int
  to_major:
    description: The major version of the release's PostgreSQL image, for the record and the messages.
    type: int
  compose_project:
    description: The Compose project of the deployment; its containers are stopped first.
    type: str
    default: agenta-oss-gh
  postgres_service:
    description: The Compose service of PostgreSQL; its container is removed so that Compose creates it again.
    type: str
    default: postgres
  stop_timeout:
    description: Seconds a container gets to stop before it is killed.
    type: int
    default: 30
  timeout:
    description:
      - Seconds a copy may take before it is stopped (raise it for a large database). Unset means 3600 for
        O(state=moved), and for O(state=reverted) the value the move used (kept in the record).
    type: int
requirements:
  - Docker SDK for Python (C(docker)) on the host.
attributes:
  check_mode:
    support: full
    description: Returns what would be copied, kept and emptied; stops and writes nothing.
  diff_mode:
    support: none
    description: Volumes have no text to compare; RV(summary) names what changes.
  idempotent:
    support: full
    description: A second call with the same record reports no change.
  platform:
    platforms: posix
    support: full
    description: Runs on the Docker host.
seealso:
  - module: agenta.fleet.compose_release
  - module: agenta.fleet.database_restore
notes:
  - The kept volume is never removed by the collection; the report of the upgrade names it and the command that
    removes it once the rollback is no longer wanted.
"""

EXAMPLES = r"""
- name: Move the PostgreSQL 15 cluster aside for PostgreSQL 17
  agenta.fleet.postgres_move:
    volume: agenta-oss-gh_postgres-data
    keep_as: agenta-oss-gh_postgres-data.pg15.20261204T101500Z
    image: postgres:15
    from_major: 15
    to_major: 17
    record: /var/backups/agenta/20261204T101500Z/postgres-move.json

- name: Put the PostgreSQL 15 cluster back (the restore of that backup)
  agenta.fleet.postgres_move:
    state: reverted
    record: /var/backups/agenta/20261204T101500Z/postgres-move.json
"""

RETURN = r"""
volume:
  description: The data volume.
  returned: always
  type: str
  sample: agenta-oss-gh_postgres-data
kept_volume:
  description: The volume that holds the old cluster.
  returned: always
  type: str
  sample: agenta-oss-gh_postgres-data.pg15.20261204T101500Z
from_major:
  description: The major version of the old cluster.
  returned: always
  type: int
to_major:
  description: The major version of the release's PostgreSQL.
  returned: when known
  type: int
replaced_volume:
  description: With O(state=reverted), the volume that keeps the cluster the revert replaced (empty when the data
    volume held none).
  returned: always
  type: str
stopped:
  description: The containers of the project that were stopped.
  returned: always
  type: list
  elements: str
summary:
  description: One sentence naming what was (or would be) done.
  returned: always
  type: str
"""

import datetime
import json
import os
import re

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.agenta.fleet.plugins.module_utils import docker_access, run_report

TOOL = "agenta.fleet.postgres_move"
_VOLUME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]+$")
# Copies every byte of /from into the emptied /to (cp -a: modes, owners, links, times), compares both trees (path,
# mode, owner; size, link and md5 of every file; not the size of a folder, which depends on its history) and prints
# the copy's PG_VERSION (the cluster may be the volume's root or a folder in it). GNU find is required (-printf): an
# image without it is refused rather than compared less.
COPY_SH = r"""set -e
find --version 2>/dev/null | grep -q GNU || { echo "the image has no GNU find to compare the copy with" >&2; exit 3; }
find /to -mindepth 1 -delete
cp -a /from/. /to/
tree() { cd "$1" && { find . -type d -printf 'd %p %m %U %G\n'; find . ! -type d -printf 'f %p %s %m %U %G %l\n'
  find . -type f -exec md5sum {} +; } | sort; }
a=$(tree /from) && b=$(tree /to)
[ "$a" = "$b" ] || { echo "the copy differs from its source" >&2; exit 3; }
found=$(find /to -maxdepth 3 -name PG_VERSION | head -n 1)
[ -n "$found" ] && cat "$found" || true
"""
EMPTY_SH = "find /v -mindepth 1 -delete"
# "<PG_VERSION or nothing> <entries in the volume>"
LOOK_SH = ('found=$(find /v -maxdepth 3 -name PG_VERSION | head -n 1); '
           'printf "%s %s\\n" "$([ -n "$found" ] && head -n 1 "$found" || echo -)" "$(find /v -mindepth 1 | wc -l)"')
DEFAULT_TIMEOUT = 3600
# "<KiB the volume holds> <KiB free on its file system>" (POSIX du and df: busybox images answer too).
SPACE_SH = 'printf "%s %s\\n" "$(du -sk /v | cut -f1)" "$(df -Pk /v | awk \'NR == 2 {print $4}\')"'


def space_problem(volume, used, free):
    """One sentence when the copy of `used` bytes (and a tenth more) does not fit in `free`; else None."""
    need = used + used // 10
    if free >= need:
        return None
    return ("The data volume %s holds %s and the file system of the Docker volumes has %s free, too little for the "
            "copy of the old cluster that the move keeps for the rollback (%s with a tenth more); free space on the "
            "Docker host and run again. Nothing was changed."
            % (volume, size_text(used), size_text(free), size_text(used)))


def size_text(count):
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return ("%d %s" % (count, unit)) if unit == "bytes" else ("%.1f %s" % (count, unit))
        count /= 1024.0
    return "%.1f TiB" % count


def major_of(output):
    """The first line of a PG_VERSION file -> int, or None (no cluster)."""
    text = (output.decode("utf-8", "replace") if isinstance(output, bytes) else output or "").strip()
    first = text.splitlines()[0].strip() if text else ""
    return int(first.split(".")[0]) if first.split(".")[0].isdigit() else None


def volume_name(name, what):
    if not name or not _VOLUME.match(name):
        raise ValueError("%s must be a Docker volume name (letters, digits, _ . -), not %r." % (what, name))
    return name


def read_record(path):
    """The record at path, checked; None when there is none. Raises ValueError (one sentence) on a bad one."""
    try:
        with open(path, "r", encoding="utf-8") as handle:
            record = json.load(handle)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ValueError("The record %s of a PostgreSQL move could not be read (%s); nothing was changed." % (path, exc))
    if not isinstance(record, dict) or record.get("tool") != TOOL or record.get("state") not in ("moved", "reverted"):
        raise ValueError("The file %s is not a record of %s; nothing was changed." % (path, TOOL))
    for key in ("volume", "kept_volume"):
        volume_name(record.get(key), "The record's %s" % key)
    if not isinstance(record.get("from_major"), int) or not record.get("image"):
        raise ValueError("The record %s names no from_major or image; nothing was changed." % path)
    return record


def write_record(path, record):
    """Atomically, mode 0600 (the writer of the run reports)."""
    run_report.write_private(path, json.dumps(record, indent=2, sort_keys=True) + "\n")


class Undone(docker_access.DockerAccessError):
    """A failure after which the host is as it was (the module reports changed false)."""


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Host(object):
    """The Docker side: volumes, the project's containers, one-shot copies."""

    def __init__(self, client, p):
        self.client, self.p = client, p
        self.touched = False  # a container was stopped or a volume made: from then on a failure has changed the host
        self.timeout = p["timeout"] or DEFAULT_TIMEOUT
        self.stopped = []

    def volume_exists(self, name):
        try:
            self.client.volumes.get(name)
            return True
        except docker_access.docker_errors.NotFound:
            return False
        except Exception as exc:
            raise docker_access.DockerAccessError("Could not inspect volume %s: %s." % (name, docker_access._reason(exc)))

    def project_containers(self):
        return docker_access.project_containers(self.client, self.p["compose_project"])

    def stop_project(self):
        """Stop the running containers of the project; self.stopped names each one as soon as it is stopped."""
        for container in self.project_containers():
            if container.status == "running":
                self.touched = True
                container.stop(timeout=self.p["stop_timeout"])
                self.stopped.append(container.name)
        return sorted(self.stopped)

    def remove_postgres(self):
        for container in self.project_containers():
            if (container.labels or {}).get(docker_access.SERVICE_LABEL) == self.p["postgres_service"]:
                container.remove(force=True)

    def oneshot(self, image, script, volumes, purpose):
        code, out, err = docker_access.run_oneshot(
            self.client, image, ["sh", "-c", script], volumes=volumes, timeout=self.timeout, purpose=purpose,
            name_prefix="agenta-fleet-pgmove", timeout_setting="the module's timeout (agenta_postgres_move_timeout)")
        if code != 0:
            said = (err or out or b"").decode("utf-8", "replace").strip().splitlines() or ["no output"]
            raise docker_access.DockerAccessError("%s failed: %s." % (purpose[:1].upper() + purpose[1:], said[-1]))
        return out

    def look(self, image, volume):
        """(major of the cluster in volume or None, whether the volume holds anything)."""
        said = self.oneshot(image, LOOK_SH, {volume: {"bind": "/v", "mode": "ro"}},
                            "reading PG_VERSION of volume %s" % volume).decode("utf-8", "replace").split()
        major = major_of(said[0]) if said and said[0] != "-" else None
        return major, len(said) > 1 and said[1].isdigit() and int(said[1]) > 0

    def space(self, image, volume):
        """(bytes the volume holds, bytes free where the kept copy goes). The copy is a volume of the default driver,
        under Docker's root folder: its file system is measured on this host when visible, else the data volume's
        (the same one, unless the data volume has a driver or options of its own)."""
        said = self.oneshot(image, SPACE_SH, {volume: {"bind": "/v", "mode": "ro"}},
                            "measuring volume %s and its free space" % volume).decode("utf-8", "replace").split()
        if len(said) != 2 or not all(x.isdigit() for x in said):
            raise docker_access.DockerAccessError("Measuring volume %s gave %r, not two sizes." % (volume, " ".join(said)))
        used, free = int(said[0]) * 1024, int(said[1]) * 1024
        try:
            root = os.path.join(self.client.info()["DockerRootDir"], "volumes")
            stat = os.statvfs(root)
            free = stat.f_bavail * stat.f_frsize
        except Exception:  # pylint: disable=broad-except  # another host's engine: the data volume's file system
            pass
        return used, free

    def start(self, names):
        """Start the named containers again (after a failure that left the data as it was); -> the problems."""
        return docker_access.start_again(self.client, self.p["compose_project"], names)

    def copy(self, image, source, dest, labels=None):
        if not self.volume_exists(dest):
            self.touched = True
            self.client.volumes.create(name=dest, labels=labels or {})
        out = self.oneshot(image, COPY_SH, {source: {"bind": "/from", "mode": "ro"}, dest: {"bind": "/to", "mode": "rw"}},
                           "copying volume %s to %s" % (source, dest))
        return major_of(out)

    def empty(self, image, volume):
        self.oneshot(image, EMPTY_SH, {volume: {"bind": "/v", "mode": "rw"}}, "emptying volume %s" % volume)


def move(module, host, p):
    volume, keep = volume_name(p["volume"], "volume"), volume_name(p["keep_as"], "keep_as")
    out = dict(changed=False, volume=volume, kept_volume=keep, from_major=p["from_major"], to_major=p["to_major"],
               replaced_volume="", stopped=[])
    record = read_record(p["record"])
    if record and record["volume"] == volume and record["kept_volume"] == keep and record["state"] == "moved" \
            and host.volume_exists(keep):
        out["summary"] = ("The PostgreSQL %s cluster of %s was moved to %s already." % (record["from_major"], volume, keep))
        return out
    if record:
        raise ValueError("The record %s names another move (%s to %s, %s); nothing was changed." % (
            p["record"], record["volume"], record["kept_volume"], record["state"]))
    if not host.volume_exists(volume):
        raise ValueError("Could not find the data volume %s on this host; nothing was changed." % volume)
    if host.volume_exists(keep):
        raise ValueError("The volume %s exists already, so the old cluster cannot be kept there; remove it or "
                         "choose another name. Nothing was changed." % keep)
    problem = space_problem(volume, *host.space(p["image"], volume))
    if problem:
        raise ValueError(problem)
    out["summary"] = ("Stop the services, copy the PostgreSQL %s cluster of %s to %s, and empty %s for PostgreSQL %s."
                      % (p["from_major"], volume, keep, volume, p["to_major"] or "of the release"))
    out["changed"] = True
    if module.check_mode:
        return out
    # Until the record is written the data volume is untouched: a failure removes the partial copy and starts
    # what was stopped, so the host is as it was.
    try:
        out["stopped"] = host.stop_project()
        copied = host.copy(p["image"], volume, keep, labels={"agenta.fleet.kept-from": volume,
                                                             "agenta.fleet.pg-major": str(p["from_major"])})
        if copied != p["from_major"]:
            raise docker_access.DockerAccessError("The copy of %s in %s holds PostgreSQL %s, not %s."
                                                  % (volume, keep, copied, p["from_major"]))
        write_record(p["record"], dict(tool=TOOL, state="moved", volume=volume, kept_volume=keep, image=p["image"],
                                       from_major=p["from_major"], to_major=p["to_major"], moved_at=now(),
                                       stopped=out["stopped"], timeout=host.timeout))
    except Exception as exc:  # pylint: disable=broad-except  # every failure before the record is undone
        reason = str(exc) if isinstance(exc, docker_access.DockerAccessError) else docker_access._reason(exc)
        problems = []
        try:
            if host.volume_exists(keep):
                host.client.volumes.get(keep).remove(force=True)
        except Exception as gone:  # pylint: disable=broad-except
            problems.append("the partial copy %s could not be removed (%s)" % (keep, docker_access._reason(gone)))
        problems += host.start(host.stopped)
        if problems:
            raise docker_access.DockerAccessError(
                "Moving the PostgreSQL %s cluster of %s aside failed (%s); the data volume was not changed, but %s: "
                "start the stack (docker compose up -d) and remove that volume by hand." % (
                    p["from_major"], volume, reason.rstrip("."), "; ".join(problems)))
        raise Undone("Moving the PostgreSQL %s cluster of %s aside failed (%s); the data volume was not changed, "
                     "the partial copy %s was removed and the stopped containers were started again. Check the free "
                     "space of the Docker host and the image %s, then run again."
                     % (p["from_major"], volume, reason.rstrip("."), keep, p["image"]))
    # From here the record names the complete copy: a failure is put back by state=reverted (the restore).
    try:
        host.empty(p["image"], volume)
        host.remove_postgres()
    except Exception as exc:  # pylint: disable=broad-except
        reason = str(exc) if isinstance(exc, docker_access.DockerAccessError) else docker_access._reason(exc)
        raise docker_access.DockerAccessError(
            "Emptying %s for PostgreSQL %s failed (%s); the PostgreSQL %s cluster is complete in %s and the restore "
            "of this backup puts it back (%s)." % (volume, p["to_major"] or "of the release", reason.rstrip("."),
                                                   p["from_major"], keep, p["record"]))
    out["summary"] = ("Copied the PostgreSQL %s cluster of %s to %s and emptied %s for PostgreSQL %s."
                      % (p["from_major"], volume, keep, volume, p["to_major"] or "of the release"))
    return out


def revert(module, host, p):
    record = read_record(p["record"])
    if record is None:
        raise ValueError("There is no record of a PostgreSQL move at %s, so there is nothing to put back." % p["record"])
    volume, keep, image = record["volume"], record["kept_volume"], record["image"]
    out = dict(changed=False, volume=volume, kept_volume=keep, from_major=record["from_major"],
               to_major=record.get("to_major"), replaced_volume=record.get("replaced_volume", ""), stopped=[])
    if not p["timeout"]:
        host.timeout = int(record.get("timeout") or DEFAULT_TIMEOUT)
    current, holds = host.look(image, volume) if host.volume_exists(volume) else (None, False)
    # Put back already (a kept volume removed since then does not matter).
    if record["state"] == "reverted" and current == record["from_major"]:
        out["summary"] = "The PostgreSQL %s cluster is back in %s already." % (record["from_major"], volume)
        return out
    if not host.volume_exists(keep):
        raise ValueError("The volume %s that keeps the PostgreSQL %s cluster of %s is gone, so it cannot be put back; "
                         "restore the backup's dumps into a new PostgreSQL %s cluster by hand. Nothing was changed."
                         % (keep, record["from_major"], volume, record["from_major"]))
    # Whatever the volume holds now (the new major's cluster, or what a cut-short initdb left) is kept, never deleted.
    replaced = "%s.pg%s.%s" % (volume, current or "x", now().replace(":", "").replace("-", "")) if holds else ""
    out.update(changed=True, replaced_volume=replaced, summary=(
        "Stop the services, %sput the PostgreSQL %s cluster of %s back into %s." % (
            "keep what %s holds now (PostgreSQL %s) in %s, " % (volume, current or "?", replaced) if replaced else "",
            record["from_major"], keep, volume)))
    if module.check_mode:
        return out
    if not host.volume_exists(volume):
        host.client.volumes.create(name=volume)
    out["stopped"] = host.stop_project()
    if replaced:
        host.copy(image, volume, replaced, labels={"agenta.fleet.replaced-from": volume,
                                                   "agenta.fleet.pg-major": str(current)})
    back = host.copy(image, keep, volume)
    if back != record["from_major"]:
        raise docker_access.DockerAccessError(
            "The copy of %s back into %s holds PostgreSQL %s, not %s; the cluster it replaced is in %s."
            % (keep, volume, back, record["from_major"], replaced or "no volume"))
    host.remove_postgres()
    record.update(state="reverted", reverted_at=now(), replaced_volume=replaced)
    write_record(p["record"], record)
    out["summary"] = "Put the PostgreSQL %s cluster of %s back into %s%s." % (
        record["from_major"], keep, volume, " (what it replaced, PostgreSQL %s, is in %s)" % (current or "?", replaced)
        if replaced else "")
    return out


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", choices=["moved", "reverted"], default="moved"),
            record=dict(type="path", required=True),
            volume=dict(type="str"),
            keep_as=dict(type="str"),
            image=dict(type="str"),
            from_major=dict(type="int"),
            to_major=dict(type="int"),
            compose_project=dict(type="str", default="agenta-oss-gh"),
            postgres_service=dict(type="str", default="postgres"),
            stop_timeout=dict(type="int", default=30),
            timeout=dict(type="int"),
        ),
        required_if=[("state", "moved", ("volume", "keep_as", "image", "from_major"))],
        supports_check_mode=True,
    )
    p = module.params
    if not os.path.isdir(os.path.dirname(p["record"]) or "."):
        module.fail_json(msg="The folder of the record %s does not exist on this host; point record at the folder of "
                             "the backup taken before the move. Nothing was changed." % p["record"])
    if not docker_access.HAS_DOCKER:
        module.fail_json(msg="The Docker SDK for Python (docker) is not installed on %s; install it (pip install "
                             "docker, or python3-docker) and run again." % os.uname()[1],
                         exception=docker_access.DOCKER_IMPORT_ERROR)
    host = None
    try:
        host = Host(docker_access.connect(), p)
        result = move(module, host, p) if p["state"] == "moved" else revert(module, host, p)
    except (ValueError, Undone) as exc:
        module.fail_json(msg=str(exc))
    except docker_access.DockerAccessError as exc:
        module.fail_json(msg=str(exc), changed=bool(host and host.touched))
    except (docker_access.docker_errors.APIError, OSError) as exc:
        module.fail_json(msg="%s of the PostgreSQL move failed: %s; the record %s says where the data is."
                             % (p["state"].capitalize(), docker_access._reason(exc), p["record"]),
                         changed=bool(host and host.touched))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
