# -*- coding: utf-8 -*-
# Copyright: (c) 2026, agenta.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The compiled Python of an image's one-shot containers, kept on the host from one to the next.

Agenta's API images ship no bytecode (their Dockerfile removes every __pycache__ and sets PYTHONDONTWRITEBYTECODE=1),
so every Python process of the migration driver compiles Alembic, SQLAlchemy and the app's modules from source: the
larger part of a one-shot container's life, and paid again by the next one (an upgrade runs the new image's driver
for the plan, the rehearsal and the migration). A folder per image id on the host, mounted in each one-shot at
INSIDE with PYTHONPYCACHEPREFIX pointing there, keeps what the first one compiled for the next ones. Python checks
every cached file against its source (mtime and size), and the folder is the image's own (named by its id), so
nothing compiled from one image is read by another.

The folder is made only when the caller may change the host (not in check mode; a check-mode run reads an existing
one, mounted read-only), owned by the image's user (Config.User, when it is a number; an image that names its user
is run without the cache), 0700 under ROOT (0700, root's). Folders not used for KEEP_SECONDS are removed when a new
one is made."""

from __future__ import annotations

import os
import re
import shutil
import stat
import time

ROOT = "/var/cache/agenta-fleet/pycache"
INSIDE = "/tmp/agenta-fleet-pycache"
KEEP_SECONDS = 2 * 24 * 3600
# What a Python process of the image needs to read and write the cache (an empty PYTHONDONTWRITEBYTECODE is unset).
ENV = {"PYTHONPYCACHEPREFIX": INSIDE, "PYTHONDONTWRITEBYTECODE": ""}
_IMAGE_ID = re.compile(r"^(?:sha256:)?([0-9a-f]{12,64})$")


def bytecode_off(env):
    """Whether a container's environment (Config.Env, ["NAME=value", ...]) keeps Python from writing bytecode
    (PYTHONDONTWRITEBYTECODE set and not empty, as in Agenta's images): then an exec in it compiles every import
    unless it keeps its own cache (ENV, in the container's /tmp)."""
    for item in env or []:
        name, _sep, value = str(item).partition("=")
        if name == "PYTHONDONTWRITEBYTECODE":
            return bool(value)
    return False


def owner_of(user):
    """An image's Config.User -> (uid, gid) on the host, gid -1 when the image does not say; None for a user given
    by name (its number is only known inside the image)."""
    user = (user or "").strip()
    if not user:
        return (0, 0)
    name, _sep, group = user.partition(":")
    if not name.isdigit() or (group and not group.isdigit()):
        return None
    return (int(name), int(group) if group else -1)


def _safe_dir(path, uid):
    """Whether path is a real folder (not a link) owned by uid that nobody else can write."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == uid and not info.st_mode & 0o022


def prune(root, keep=KEEP_SECONDS, now=None, keep_name=None):
    """Remove the folders under root not used (mtime) for keep seconds, except keep_name. -> names removed."""
    now = time.time() if now is None else now
    removed = []
    for name in sorted(os.listdir(root)):
        path = os.path.join(root, name)
        if name == keep_name or not _IMAGE_ID.match(name) or os.path.islink(path) or not os.path.isdir(path):
            continue
        if now - os.lstat(path).st_mtime > keep:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(name)
    return removed


def folder(image_id, user, create, root=ROOT):
    """The host folder for the compiled files of image image_id (whose Config.User is user) -> (path, mode) to
    mount at INSIDE, mode "rw" or "ro" (create false: an existing folder, read-only), or None: no cache (a user
    by name, a folder that is not safe to use, or none yet and create false). Never raises for the cache's sake:
    a run without it is only slower."""
    match = _IMAGE_ID.match(image_id or "")
    owner = owner_of(user)
    if match is None or owner is None:
        return None
    path = os.path.join(root, match.group(1)[:16])
    euid = os.geteuid()
    try:
        if not os.path.lexists(path):
            if not create:
                return None
            parent = os.path.dirname(root)
            for level in (parent, root):
                if not os.path.lexists(level):
                    os.mkdir(level, 0o700)
                if not _safe_dir(level, euid):
                    return None
            os.mkdir(path, 0o700)
            if owner[0] != euid or owner[1] not in (-1, os.getegid()):
                os.chown(path, owner[0], owner[1])
            prune(root, keep_name=os.path.basename(path))
        elif not _safe_dir(path, owner[0]) or not _safe_dir(root, euid):
            return None
        elif create:
            os.utime(path)  # in use: not pruned
    except OSError:
        return None
    return (path, "rw" if create else "ro")
