# -*- coding: utf-8 -*-
# Copyright: (c) 2026, agenta.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure logic of agenta.fleet.compose_release: what a release's compose file changes in a deployment (services
added and removed, images that float, the env file's tag variables to pin, settings the env example has and the
env file lacks), and the env file with the pins written in."""

from __future__ import annotations

import os
import re
import tempfile

# ${VAR}, ${VAR:-default}, ${VAR-default} as the whole tag of an image reference.
_TAG_VARIABLE = re.compile(r":\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?::?-)(?P<default>[^}]*))?\}$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def image_tag(image):
    """The tag of an image reference ('' when it has none; a digest counts as pinned)."""
    if not image or "@" in image:
        return None if not image else "@digest"
    last = image.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else ""


def floats(image):
    """An image reference that follows whatever is pushed last: no tag, or 'latest'."""
    return image_tag(image) in ("", "latest")


def tag_variable(raw_image):
    """The env variable that is the whole tag of a raw (not interpolated) image reference, or None."""
    found = _TAG_VARIABLE.search(raw_image or "")
    return found.group("name") if found else None


def oneshot_services(services):
    """Services others wait on with condition service_completed_successfully (Agenta's `alembic`)."""
    found = set()
    for spec in services.values():
        depends = (spec or {}).get("depends_on") or {}
        if isinstance(depends, dict):
            for name, how in depends.items():
                if isinstance(how, dict) and how.get("condition") == "service_completed_successfully":
                    found.add(name)
    return sorted(found)


def plan(old_services, new_config, raw_config, existing, env, example_keys, tag, image_prefix):
    """What installing the release's compose file changes.

    old_services: services of the deployment's current compose file (list; empty when it does not read).
    new_config / raw_config: `docker compose config --format json` of the release's file, interpolated with the
    deployment's env file and not (--no-interpolate). existing: service -> container names of the project on the
    host. env: the env file as Compose reads it (only the pinned variables' values leave this function).
    """
    new_services = (new_config or {}).get("services") or {}
    raw_services = (raw_config or {}).get("services") or {}
    names = sorted(new_services)
    pins, floating = {}, []
    for name in names:
        image = (new_services[name] or {}).get("image") or ""
        raw = (raw_services.get(name) or {}).get("image") or ""
        variable = tag_variable(raw)
        if image.startswith(image_prefix) and variable and tag:
            if env.get(variable) != tag:
                pins[variable] = {"before": env.get(variable, ""), "after": tag}
            continue
        if floats(image):
            floating.append("%s (%s)" % (name, image or "no image"))
    removed = sorted(s for s in existing if s not in new_services and s in old_services)
    others = sorted(s for s in existing if s not in new_services and s not in old_services)
    return {
        "services": names,
        "services_before": sorted(old_services),
        "added": sorted(s for s in names if s not in old_services),
        "removed": removed,
        "remove_containers": sorted(c for s in removed for c in existing[s]),
        "other_orphans": others,
        "oneshot": oneshot_services(new_services),
        "pins": pins,
        "floating": sorted(set(floating)),
        "env_missing": sorted(k for k in example_keys if k not in env),
    }


def summary(found, compose_changed, tag, postgres=None):
    """One sentence for the plan and the report."""
    parts = []
    if postgres and not postgres.get("image_present", True):
        parts.append("the PostgreSQL image %s is not on the host yet: the run pulls it and checks its major version "
                     "against the data before anything changes" % postgres["image_after"])
    if postgres_moves(postgres):
        parts.append("PostgreSQL moves from %s to %s: every database is restored from the backup's dumps into an "
                     "emptied %s, and the %s cluster is kept in a volume of its own"
                     % (postgres["data_major"], postgres["image_major"], postgres["volume"], postgres["data_major"]))
    if compose_changed:
        parts.append("the release's compose file replaces the deployment's")
    if found["added"]:
        parts.append("adds service(s) %s" % ", ".join(found["added"]))
    if found["removed"]:
        parts.append("removes service(s) %s (%d container(s) to stop and remove)"
                     % (", ".join(found["removed"]), len(found["remove_containers"])))
    if found["pins"]:
        pinned = ["%s (was %s)" % (k, v["before"] or "unset, so latest") for k, v in sorted(found["pins"].items())]
        parts.append("pins %s to %s" % (", ".join(pinned), tag))
    if found["floating"]:
        parts.append("leaves floating on latest: %s (pin them in the compose file)" % ", ".join(found["floating"]))
    if found["other_orphans"]:
        parts.append("leaves alone containers of service(s) %s, which neither compose file names"
                     % ", ".join(found["other_orphans"]))
    if found["env_missing"]:
        parts.append("the release's env example has setting(s) the env file lacks (the release's own defaults apply; set them if they do not fit): %s"
                     % ", ".join(found["env_missing"]))
    if not parts:
        return "The release's compose file changes nothing."
    text = "; ".join(parts) + "."
    return text[0].upper() + text[1:]


def write_pins(text, pins):
    """The env file's text with each pinned variable set: every KEY= line of it rewritten in place (Compose takes
    the last one), or one line appended. Line endings (LF or CRLF) are kept."""
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = text.splitlines(True)
    for name, value in sorted(pins.items()):
        if not _NAME.match(name):
            raise ValueError("%r is not an env variable name" % name)
        pattern = re.compile(r"^\s*(?:export\s+)?%s\s*=" % re.escape(name))
        hit = False
        for index, line in enumerate(lines):
            if pattern.match(line):
                ending = line[len(line.rstrip("\r\n")):] or newline
                lines[index] = "%s=%s%s" % (name, value, ending)
                hit = True
        if not hit:
            if lines and not lines[-1].endswith(("\n", "\r")):
                lines[-1] += newline
            lines.append("%s=%s%s" % (name, value, newline))
    return "".join(lines)


_PG_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)")


def postgres_major(version_output):
    """The major version in `postgres --version` output ('postgres (PostgreSQL) 17.2 (Debian 17.2-1)'), or None."""
    found = _PG_VERSION.search(version_output or "")
    return int(found.group(1)) if found else None


def data_mounts(volumes):
    """Writable volume or bind targets of a service in `docker compose config --format json`."""
    return [v.get("target") for v in volumes or []
            if isinstance(v, dict) and v.get("type") in ("volume", "bind") and not v.get("read_only") and v.get("target")]


def holds(targets, path):
    """Whether one of the mount targets holds path."""
    path = path.rstrip("/") or "/"
    return any(path == t.rstrip("/") or path.startswith(t.rstrip("/") + "/") for t in targets)


def postgres_problem(found, move=False):
    """One sentence when the release's PostgreSQL cannot start on the deployment's data, else ''. With move (the
    operator's agenta_postgres_move=true), a cluster of another major is not a problem: the upgrade moves it.

    found: image_before, image_after, data_major (int or None: no local cluster), image_major (int or None),
    image_present (bool), pgdata (the new container's data folder), mounts (its writable mount targets), volume
    (the data volume's name, for the sentence)."""
    if found["data_major"] is None:
        if found["volume"] and found["image_before"] != found["image_after"]:
            return ("The release's compose file changes the PostgreSQL image from %s to %s, and the version of the "
                    "cluster in %s (PG_VERSION) could not be read, so the change cannot be checked; keep the postgres "
                    "image at %s in the release's compose file, or start postgres (docker compose up -d postgres) and "
                    "run again. Nothing was changed."
                    % (found["image_before"], found["image_after"], found["volume"], found["image_before"]))
        return ""
    if not found["image_present"]:
        if found.get("check_mode"):
            return ""  # the real run pulls it and checks it before anything changes (see postgres_note)
        return ("The release's compose file changes the PostgreSQL image from %s to %s, which could not be pulled on "
                "this host; pull it (docker pull %s) and run again, so that its major version can be checked against "
                "the data. Nothing was changed." % (found["image_before"], found["image_after"], found["image_after"]))
    if not holds(found["mounts"], found["pgdata"]):
        return ("The release's postgres (%s) keeps its data at %s, which none of its volumes holds (%s), so it would "
                "start on an empty database; mount %s at that folder in the release's compose file. Nothing was "
                "changed." % (found["image_after"], found["pgdata"], ", ".join(found["mounts"]) or "none",
                              found["volume"]))
    if found["image_major"] is None:
        return ("The PostgreSQL major version of %s could not be read (postgres --version), so it cannot be checked "
                "against the %s cluster in %s; keep the postgres image at %s in the release's compose file. Nothing "
                "was changed." % (found["image_after"], found["data_major"], found["volume"], found["image_before"]))
    if found["image_major"] != found["data_major"] and move and found.get("volume_type", "volume") != "volume":
        return ("The data of the deployment's postgres is the bind mount %s, not a Docker volume, so agenta.fleet "
                "cannot move it to PostgreSQL %s; keep the postgres image at %s in the release's compose file, or move "
                "the data by hand (pg_dump of every database, a new folder, restore). Nothing was changed."
                % (found["volume"], found["image_major"], found["image_before"]))
    if found["image_major"] != found["data_major"] and not move:
        return ("The release's compose file moves PostgreSQL from %s to %s (%s), and PostgreSQL %s cannot start on "
                "the %s cluster in %s; keep the postgres image at %s in the release's compose file (agenta_release_dir), "
                "or let the upgrade move the data (-e agenta_postgres_move=true: every database dumped, the %s cluster "
                "kept in a volume of its own, the dumps restored into PostgreSQL %s). Nothing was changed."
                % (found["data_major"], found["image_major"], found["image_after"], found["image_major"],
                   found["data_major"], found["volume"], found["image_before"], found["data_major"],
                   found["image_major"]))
    return ""


def postgres_moves(found):
    """Whether the release's PostgreSQL is another major than the cluster in the data volume (both known)."""
    return bool(found and found.get("data_major") is not None and found.get("image_major") is not None
                and found["data_major"] != found["image_major"])


def set_env_values(text, values):
    """The env file's text with KEY=value for each of values, as lineinfile would write it: the last line that sets
    KEY (the one Compose reads) is replaced, a KEY the file lacks is appended. Returns (text, [keys changed])."""
    lines = text.splitlines(True)
    changed = []
    for key, value in values.items():
        if not _NAME.match(key) or "\n" in value or "\r" in value:
            raise ValueError("%s=%s cannot be written as one line of an env file" % (key, value))
        pattern = re.compile(r"^\s*%s\s*=" % re.escape(key))
        wanted = "%s=%s" % (key, value)
        found = [i for i, line in enumerate(lines) if pattern.match(line)]
        if found:
            line = lines[found[-1]]
            body = line.rstrip("\r\n")
            if body != wanted:
                lines[found[-1]] = wanted + line[len(body):]
                changed.append(key)
            continue
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        lines.append(wanted + "\n")
        changed.append(key)
    return "".join(lines), changed


def write_atomic(path, data, default_mode=0o644):
    try:
        st = os.stat(path)
        mode, owner = st.st_mode & 0o7777, (st.st_uid, st.st_gid)
    except FileNotFoundError:
        mode, owner = default_mode, None
    folder = os.path.dirname(path) or "."
    handle, temp = tempfile.mkstemp(prefix=".agenta-fleet-", dir=folder)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, mode)
        if owner and os.geteuid() == 0:
            os.chown(temp, *owner)
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise
