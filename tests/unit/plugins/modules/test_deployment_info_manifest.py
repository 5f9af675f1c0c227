"""Unit tests of agenta.fleet.deployment_info's reads of the backup folder: the newest manifest (rollback-agenta.yml
chooses its backup with it, through the pre-flight's read) and a manifest that is not there."""

from __future__ import annotations

import json
import os

try:
    import fleet_collection_path  # noqa: F401  # pylint: disable=unused-import
except ImportError:  # ansible-test units: the collection is importable already (pytest from a checkout needs it)
    pass

from ansible_collections.agenta.fleet.plugins.modules import deployment_info as di


def backup(folder, name, content=None):
    path = os.path.join(str(folder), name)
    os.makedirs(path)
    if content is not None:
        with open(os.path.join(path, "manifest.json"), "w") as handle:
            handle.write(content)
    return os.path.join(path, "manifest.json")


def test_the_newest_manifest_is_the_greatest_name_that_holds_one(tmp_path):
    backup(tmp_path, "20261201T100000Z", "{}")
    newest = backup(tmp_path, "20261203T080000Z", json.dumps({"name": "20261203T080000Z"}))
    backup(tmp_path, "20261204T090000Z")  # no manifest: an unfinished backup
    backup(tmp_path, "20261203T080000Z.bak", "{}")  # a copy by hand: not a backup's name
    os.makedirs(str(tmp_path / "pre-restore" / "20261205T000000Z"))  # the safety backups are one level deeper
    # "latest" sorts after every time-named backup: a link is never taken for one.
    os.symlink(os.path.join(str(tmp_path), "20261201T100000Z"), str(tmp_path / "latest"))
    assert di.newest_manifest(str(tmp_path)) == newest
    read = di.read_manifest(newest)
    assert read == dict(path=newest, exists=True, content={"name": "20261203T080000Z"}, error=None)


def test_a_folder_without_backups_has_no_newest_manifest(tmp_path):
    assert di.newest_manifest(str(tmp_path)) == ""
    assert di.newest_manifest(str(tmp_path / "missing")) == ""
    backup(tmp_path, "20261204T090000Z")  # no manifest
    assert di.newest_manifest(str(tmp_path)) == ""
    assert di.read_manifest("") == dict(path="", exists=False, content=None, error=None)


def test_a_manifest_that_is_not_json_says_so(tmp_path):
    path = backup(tmp_path, "20261201T100000Z", "not json")
    read = di.read_manifest(path)
    assert read["exists"] and read["content"] is None
    assert read["error"].startswith("%s is not a JSON backup manifest (" % path)
