"""Unit tests of module_utils/pycache.py: the host folder that keeps an image's compiled Python from one one-shot
container to the next. Real folders in tmp_path (the tests run as root in CI and as any user here: chown is only
asked for an image user other than the caller). The containers that use it run on the lab
(tests/integration: every upgrade plans and migrates with it)."""

from __future__ import annotations

import os
import time

import pytest

try:
    import fleet_collection_path  # noqa: F401  # pylint: disable=unused-import
except ImportError:  # ansible-test units: the collection is importable already (pytest from a checkout needs it)
    pass

from ansible_collections.agenta.fleet.plugins.module_utils import pycache as p

IMAGE = "sha256:" + "ab12" * 16
ME = str(os.geteuid())


@pytest.mark.parametrize("user, owner", [
    ("", (0, 0)), (None, (0, 0)), ("10001", (10001, -1)), ("10001:10002", (10001, 10002)), (" 0 ", (0, -1)),
    ("agenta", None), ("agenta:agenta", None), ("10001:agenta", None)])
def test_the_owner_is_known_only_for_a_numeric_user(user, owner):
    assert p.owner_of(user) == owner


def test_the_first_run_makes_a_private_folder_per_image(tmp_path):
    root = tmp_path / "cache" / "pycache"
    path, mode = p.folder(IMAGE, ME, create=True, root=str(root))
    assert (path, mode) == (str(root / ("ab12" * 4)), "rw")
    for level in (root.parent, root, root / ("ab12" * 4)):
        assert oct(level.stat().st_mode & 0o777) == "0o700", level
    # The next run of the same image finds it; another image gets its own.
    assert p.folder(IMAGE, ME, create=True, root=str(root)) == (path, "rw")
    other = p.folder("sha256:" + "cd34" * 16, ME, create=True, root=str(root))
    assert other[0] != path


def test_check_mode_reads_an_existing_folder_and_makes_none(tmp_path):
    root = tmp_path / "pycache"
    assert p.folder(IMAGE, ME, create=False, root=str(root)) is None
    assert not (tmp_path / "pycache").exists()
    path, _mode = p.folder(IMAGE, ME, create=True, root=str(root))
    assert p.folder(IMAGE, ME, create=False, root=str(root)) == (path, "ro")


@pytest.mark.parametrize("image", ["", "ghcr.io/agenta-ai/agenta-api:v0.44.4", "sha256:xyz", "sha256:abc"])
def test_an_image_without_an_id_gets_no_folder(tmp_path, image):
    assert p.folder(image, ME, create=True, root=str(tmp_path / "pycache")) is None


def test_an_image_user_given_by_name_runs_without_the_cache(tmp_path):
    assert p.folder(IMAGE, "agenta", create=True, root=str(tmp_path / "pycache")) is None
    assert not (tmp_path / "pycache").exists()


def test_a_folder_others_can_write_or_a_link_is_not_used(tmp_path):
    root = tmp_path / "pycache"
    path, _mode = p.folder(IMAGE, ME, create=True, root=str(root))
    os.chmod(path, 0o777)
    assert p.folder(IMAGE, ME, create=True, root=str(root)) is None
    os.chmod(path, 0o700)
    os.chmod(root, 0o777)
    assert p.folder(IMAGE, ME, create=True, root=str(root)) is None
    os.chmod(root, 0o700)
    os.rmdir(path)
    os.symlink(str(tmp_path), path)
    assert p.folder(IMAGE, ME, create=True, root=str(root)) is None
    assert p.folder(IMAGE, ME, create=False, root=str(root)) is None


def test_a_root_that_is_a_link_is_not_used(tmp_path):
    (tmp_path / "elsewhere").mkdir(mode=0o700)
    os.symlink(str(tmp_path / "elsewhere"), str(tmp_path / "pycache"))
    assert p.folder(IMAGE, ME, create=True, root=str(tmp_path / "pycache")) is None
    assert os.listdir(str(tmp_path / "elsewhere")) == []


def test_an_unwritable_place_means_no_cache_not_a_failure(tmp_path):
    assert p.folder(IMAGE, ME, create=True, root="/proc/agenta-fleet/pycache") is None


def test_folders_unused_for_two_days_go_when_a_new_one_is_made(tmp_path):
    root = tmp_path / "pycache"
    old, _mode = p.folder("sha256:" + "0" * 64, ME, create=True, root=str(root))
    recent, _mode = p.folder("sha256:" + "1" * 64, ME, create=True, root=str(root))
    (root / "not-an-image").mkdir()
    two_days_ago = time.time() - p.KEEP_SECONDS - 60
    for path in (old, str(root / "not-an-image")):
        os.utime(path, (two_days_ago, two_days_ago))
    # Using a folder marks it as used: it stays.
    os.utime(recent, (two_days_ago, two_days_ago))
    assert p.folder("sha256:" + "1" * 64, ME, create=True, root=str(root)) == (recent, "rw")
    new, _mode = p.folder(IMAGE, ME, create=True, root=str(root))
    assert sorted(os.listdir(str(root))) == sorted(["not-an-image", os.path.basename(recent), os.path.basename(new)])


def test_prune_keeps_the_folder_in_use_and_says_what_it_removed(tmp_path):
    for name in ("a" * 16, "b" * 16):
        (tmp_path / name).mkdir()
    assert p.prune(str(tmp_path), keep=10, now=time.time() + 3600, keep_name="a" * 16) == ["b" * 16]
    assert os.listdir(str(tmp_path)) == ["a" * 16]


@pytest.mark.skipif(os.geteuid() != 0, reason="only root gives a folder to another user")
def test_the_folder_belongs_to_the_image_user(tmp_path):
    # Agenta's images run as USER 10001: their Python writes the cache, nobody else on the host can reach it.
    path, _mode = p.folder(IMAGE, "10001", create=True, root=str(tmp_path / "pycache"))
    assert (os.stat(path).st_uid, os.stat(str(tmp_path / "pycache")).st_uid) == (10001, 0)
    assert p.folder(IMAGE, "10001", create=False, root=str(tmp_path / "pycache")) == (path, "ro")
    # The same image id with another user (a rebuilt tag cannot have the same id): the folder is not its.
    assert p.folder(IMAGE, "10002", create=True, root=str(tmp_path / "pycache")) is None


@pytest.mark.parametrize("env, off", [
    (["PATH=/usr/bin", "PYTHONDONTWRITEBYTECODE=1"], True), (["PYTHONDONTWRITEBYTECODE=0"], True),
    (["PYTHONDONTWRITEBYTECODE="], False), (["PYTHONDONTWRITEBYTECODES=1", "PATH=/x"], False), ([], False),
    (None, False)])
def test_an_exec_keeps_its_own_cache_only_where_python_writes_no_bytecode(env, off):
    # Agenta's images set PYTHONDONTWRITEBYTECODE=1 (any value but empty counts, as for Python itself).
    assert p.bytecode_off(env) is off
