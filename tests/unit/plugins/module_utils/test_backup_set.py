"""Unit tests of module_utils/backup_set.py: which folder may hold backups, the manifest's entries, retention,
and the comparison of two measurements. Real files in tmp_path; the PostgreSQL side is tested on the lab
(tests/integration/backup_restore_cases.py)."""

from __future__ import annotations

import json
import os
import stat

import pytest

try:
    import fleet_collection_path  # noqa: F401  # pylint: disable=unused-import
except ImportError:  # ansible-test units: the collection is importable already (pytest from a checkout needs it)
    pass

from ansible_collections.agenta.fleet.plugins.module_utils import backup_set as b
from ansible_collections.agenta.fleet.plugins.module_utils.deployment import DeploymentError


def refusal(path, **fs):
    with pytest.raises(DeploymentError) as err:
        b.check_backup_dir(path, **fs)
    return str(err.value)


@pytest.mark.parametrize("path", ["/", "/usr", "/var", "/var/backups", "/etc", "/root", "/tmp", "/home",
                                  "/opt/agenta", "/var/lib"])
def test_system_folders_are_refused(path):
    assert refusal(path + "/" if path != "/" else path) == (
        "The backup folder %s is a system folder; choose a folder of its own such as /var/backups/agenta." % path)


@pytest.mark.parametrize("path,tree", [("/usr/local/backups", "/usr"), ("/etc/agenta", "/etc"),
                                       ("/var/lib/docker/volumes/x", "/var/lib/docker"), ("/proc/1", "/proc")])
def test_folders_inside_system_trees_are_refused(path, tree):
    assert refusal(path) == ("The backup folder %s lies inside the system folder %s; choose a folder of its own "
                             "such as /var/backups/agenta." % (path, tree))


@pytest.mark.parametrize("path,means", [("/var/backups/agenta/../..", "/var"), ("/srv//b", "/srv/b"),
                                        ("/srv/./b", "/srv/b")])
def test_paths_that_are_not_normalised_are_refused(path, means):
    assert refusal(path) == ("The backup folder %s is not a normalised path (it means %s); name the folder without "
                             "'.', '..' or '//'." % (path, means))


@pytest.mark.parametrize("path", ["relative/dir", "", None])
def test_relative_paths_are_refused(path):
    assert "is not an absolute path" in refusal(path)


def test_a_new_folder_and_one_with_only_our_entries_are_accepted(tmp_path):
    assert b.check_backup_dir(str(tmp_path / "new") + "/") == str(tmp_path / "new")
    for name in ["20261203T080000Z", "pre-restore", "lost+found", ".agenta-fleet"]:
        (tmp_path / name).mkdir()
    (tmp_path / "latest").symlink_to("20261203T080000Z")
    assert b.check_backup_dir(str(tmp_path)) == str(tmp_path)


def test_a_folder_with_foreign_files_is_refused_and_named(tmp_path):
    (tmp_path / "20261203T080000Z").mkdir()
    for name in ["notes.txt", "a", "b", "c"]:
        (tmp_path / name).write_text("x")
    assert refusal(str(tmp_path)) == (
        "The backup folder %s holds 4 files that agenta.fleet did not write (a, b, c, ...); give the backups a "
        "folder of their own or move those away." % tmp_path)


def test_a_link_to_a_system_folder_and_a_file_are_refused(tmp_path):
    (tmp_path / "to-usr").symlink_to("/usr")
    assert refusal(str(tmp_path / "to-usr")) == ("The backup folder %s leads to /usr, which is a system folder; "
                                                 "choose a folder of its own." % (tmp_path / "to-usr"))
    (tmp_path / "file").write_text("x")
    assert refusal(str(tmp_path / "file")).endswith("exists and is not a folder; choose another path.")


def test_private_files_and_manifest(tmp_path):
    (tmp_path / "db.dir").mkdir()
    (tmp_path / "db.dir" / "toc.dat").write_bytes(b"t")
    os.chmod(tmp_path / "db.dir" / "toc.dat", 0o644)
    os.chmod(tmp_path / "db.dir", 0o755)
    b.make_private(str(tmp_path), os.geteuid(), os.getegid())
    assert stat.S_IMODE((tmp_path / "db.dir").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "db.dir" / "toc.dat").stat().st_mode) == 0o600
    b.write_manifest(str(tmp_path), {"tool": b.TOOL})
    assert json.loads((tmp_path / "manifest.json").read_text()) == {"tool": b.TOOL}
    assert stat.S_IMODE((tmp_path / "manifest.json").stat().st_mode) == 0o600
    with pytest.raises(OSError):
        b.write_private(str(tmp_path / "manifest.json"), b"again")
    assert b.files_of(str(tmp_path)) == ["db.dir/toc.dat", "manifest.json"]
    (tmp_path / "link").symlink_to("manifest.json")
    with pytest.raises(DeploymentError):
        b.files_of(str(tmp_path))


def test_dump_entries_of_both_formats():
    sums = {"a.dump": "s1", "b.dir/toc.dat": "s2", "b.dir/1.dat.gz": "s3", "bb.dump": "s4"}
    sizes = {"a.dump": 10, "b.dir/toc.dat": 1, "b.dir/1.dat.gz": 2, "bb.dump": 5}
    measured = {"tables": {"t": 3}, "versions": {"alembic_version": "r1"}}
    assert b.dump_entry("a", "custom", sums, sizes, 99, measured) == {
        "name": "a", "file": "a.dump", "format": "custom", "sha256": "s1", "files": None, "size": 10,
        "database_size": 99, "tables": {"t": 3}, "versions": {"alembic_version": "r1"}}
    entry = b.dump_entry("b", "directory", sums, sizes, 1, {})
    assert entry["files"] == {"b.dir/1.dat.gz": "s3", "b.dir/toc.dat": "s2"} and entry["size"] == 3
    assert entry["sha256"] is None and entry["tables"] == {}
    with pytest.raises(DeploymentError):
        b.dump_entry("c", "custom", sums, sizes, 0, {})


@pytest.mark.parametrize("image,tag", [("ghcr.io/agenta-ai/agenta-api:v0.44.4", "v0.44.4"),
                                       ("registry:5000/agenta-api", ""), ("registry:5000/agenta-api:v1", "v1"),
                                       ("", "")])
def test_image_tag(image, tag):
    assert b.image_tag(image) == tag


def test_retention_removes_only_our_oldest_backups(tmp_path):
    def make(name, tool):
        (tmp_path / name).mkdir()
        if tool:
            (tmp_path / name / "manifest.json").write_text(json.dumps({"tool": tool}))
    make("20260101T000000Z", b.TOOL)
    make("20260102T000000Z", "someone.else")
    make("20260103T000000Z", None)
    make("20260104T000000Z", b.TOOL)
    make("keepme", b.TOOL)
    make("20260105T000000Z", b.TOOL)
    assert b.backups_to_remove(str(tmp_path), 2, "20260105T000000Z", b.read_json) == ["20260101T000000Z"]
    assert b.backups_to_remove(str(tmp_path), 1, "20260105T000000Z", b.read_json) == [
        "20260101T000000Z", "20260104T000000Z"]
    assert b.backups_to_remove(str(tmp_path), 5, "20260105T000000Z", b.read_json) == []


def test_compare_names_the_first_difference():
    want = {"db": {"tables": {"a": 1, "b": 2}, "versions": {"alembic_version": "r1"}}}
    assert b.compare(want, {"db": {"tables": {"a": 1, "b": 2}, "versions": {"alembic_version": "r1"}}}) == ""
    assert b.compare(want, {}) == "database db was not found"
    assert b.compare(want, {"db": {"tables": {"a": 1, "b": 2}, "versions": {}}}) == (
        "version table db.alembic_version has nothing where the manifest says r1")
    assert b.compare(want, {"db": {"tables": {"a": 1}, "versions": {"alembic_version": "r1"}}}) == (
        "table db.b has no such table where the manifest says 2 rows")
    assert b.compare(want, {"db": {"tables": {"a": 0, "b": 2, "c": 1}, "versions": {"alembic_version": "r1"}}}) == (
        "table db.a has 0 rows where the manifest says 1 rows")
    assert b.compare({"db": {"tables": {}}}, {"db": {"tables": {"c": 1}}}) == (
        "table db.c has 1 rows where the manifest says it does not exist")


# ------------------------------------------------------------------ a backup the restore reads (backup_info)
def a_backup(root, host="web-1", compose=True):
    """A backup folder as agenta.fleet.backup writes it: a custom dump, a directory dump, the env and compose files."""
    folder = root / "20261205T071250Z"
    (folder / "agenta_oss_tracing.dir").mkdir(parents=True)
    files = {"agenta_oss_core.dump": b"core", "agenta_oss_tracing.dir/toc.dat": b"toc", "env_file": b"A=1\n",
             "compose_file": b"services: {}\n"}
    for name, data in files.items():
        (folder / name).write_bytes(data)
    sums = {name: b.sha256_of(str(folder / name)) for name in files}
    manifest = {"tool": "agenta.fleet.backup", "host": host,
                "databases": [{"name": "agenta_oss_core", "file": "agenta_oss_core.dump", "format": "custom",
                               "sha256": sums["agenta_oss_core.dump"]},
                              {"name": "agenta_oss_tracing", "file": "agenta_oss_tracing.dir", "format": "directory",
                               "files": {"agenta_oss_tracing.dir/toc.dat": sums["agenta_oss_tracing.dir/toc.dat"]}}],
                "env_file": {"file": "env_file", "sha256": sums["env_file"]}}
    if compose:
        manifest["compose_file"] = {"file": "compose_file", "sha256": sums["compose_file"]}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    os.symlink(folder.name, root / "latest")
    return folder, manifest


def test_the_manifest_is_the_one_given_or_latests_in_its_own_folder(tmp_path):
    folder = a_backup(tmp_path)[0]
    assert b.manifest_to_read(str(tmp_path) + "/") == (str(folder / "manifest.json"),
                                                       f"{tmp_path}/latest/manifest.json")
    assert b.manifest_to_read(str(tmp_path), "/x/manifest.json") == ("/x/manifest.json", "/x/manifest.json")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert b.manifest_to_read(str(empty)) == (f"{empty}/latest/manifest.json",) * 2


def test_a_backup_of_this_host_with_every_checksum_has_no_problem(tmp_path):
    folder, manifest = a_backup(tmp_path)
    assert b.manifest_problem(manifest, "m", "web-1") == ""
    assert set(b.expected_sums(manifest)) == {"agenta_oss_core.dump", "agenta_oss_tracing.dir/toc.dat", "env_file",
                                              "compose_file"}
    assert b.checksum_problem(str(folder), b.expected_sums(manifest)) == ""
    # A backup without the compose file (taken before the collection kept it) does not expect one.
    assert "compose_file" not in b.expected_sums(a_backup(tmp_path / "old", compose=False)[1])


@pytest.mark.parametrize("change,sentence", [
    (lambda m: m.update(host="web-2"),
     "The manifest m was written for host web-2, not web-1 (set restore_allow_other_host to restore it here), "
     "so nothing was restored."),
    (lambda m: m.pop("host"),
     "The manifest m was written for host ?, not web-1 (set restore_allow_other_host to restore it here), so "
     "nothing was restored."),
    (lambda m: m.update(tool="other"), "The file m is not a valid agenta.fleet.backup manifest, so nothing was restored."),
    (lambda m: m.update(databases=[]), "The file m is not a valid agenta.fleet.backup manifest, so nothing was restored."),
    (lambda m: m["databases"][0].update(file="../etc/passwd"),
     "The file m is not a valid agenta.fleet.backup manifest, so nothing was restored."),
    (lambda m: m["databases"][1].update(files={"../x": "0"}),
     "The file m is not a valid agenta.fleet.backup manifest, so nothing was restored."),
    (lambda m: m["env_file"].update(file="/etc/shadow"),
     "The file m is not a valid agenta.fleet.backup manifest, so nothing was restored."),
])
def test_a_manifest_that_is_not_ours_or_names_another_host_is_refused(tmp_path, change, sentence):
    manifest = a_backup(tmp_path)[1]
    change(manifest)
    assert b.manifest_problem(manifest, "m", "web-1") == sentence
    assert b.manifest_problem(["not", "a", "mapping"], "m", "web-1") == (
        "The file m is not a valid agenta.fleet.backup manifest, so nothing was restored.")


def test_another_hosts_manifest_only_when_allowed(tmp_path):
    manifest = a_backup(tmp_path, host="web-2")[1]
    assert b.manifest_problem(manifest, "m", "web-1", allow_other_host=True) == ""


@pytest.mark.parametrize("name,damage,what", [
    ("agenta_oss_core.dump", lambda p: p.write_bytes(b"changed"), "does not match the checksum in the manifest"),
    ("agenta_oss_tracing.dir/toc.dat", lambda p: p.unlink(), "is missing"),
    ("env_file", lambda p: p.write_bytes(b"A=2\n"), "does not match the checksum in the manifest"),
])
def test_a_file_that_was_changed_or_removed_is_named(tmp_path, name, damage, what):
    folder, manifest = a_backup(tmp_path)
    damage(folder / name)
    assert b.checksum_problem(str(folder), b.expected_sums(manifest)) == (
        f"{folder}/{name} {what}, so the backup was changed or damaged and nothing was restored.")
