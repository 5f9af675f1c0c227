# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pure parts of agenta.fleet.postgres_move: PG_VERSION, volume names, the record (on real files). The Docker
side runs on a lab host in tests/integration/test_postgres_move.py."""

from __future__ import annotations

import json
import os
import stat

import pytest

try:
    import fleet_collection_path  # noqa: F401  # pylint: disable=unused-import
except ImportError:  # ansible-test units: the collection is importable already (pytest from a checkout needs it)
    pass

from ansible.module_utils.testing import patch_module_args

from ansible_collections.agenta.fleet.plugins.modules import postgres_move as pm


@pytest.mark.parametrize("text,major", [(b"15\n", 15), ("17", 17), ("9.6\n", 9), ("", None), (b"junk\n", None)])
def test_major_of(text, major):
    assert pm.major_of(text) == major


@pytest.mark.parametrize("name", ["", "-x", "a b", "a/b", "a;rm"])
def test_volume_names_are_plain(name):
    with pytest.raises(ValueError):
        pm.volume_name(name, "volume")


def test_the_record_is_written_private_and_read_back(tmp_path):
    path = str(tmp_path / "postgres-move.json")
    assert pm.read_record(path) is None
    record = dict(tool=pm.TOOL, state="moved", volume="p_postgres-data", kept_volume="p_postgres-data.pg15.x",
                  image="postgres:15", from_major=15, to_major=17)
    pm.write_record(path, record)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert pm.read_record(path) == record
    assert [n for n in os.listdir(tmp_path) if n.startswith(".")] == []


@pytest.mark.parametrize("content,words", [
    ("{", "could not be read"),
    (json.dumps({"tool": "other", "state": "moved"}), "is not a record of agenta.fleet.postgres_move"),
    (json.dumps({"tool": pm.TOOL, "state": "moved", "volume": "v", "kept_volume": "k;x", "image": "i",
                 "from_major": 15}), "must be a Docker volume name"),
    (json.dumps({"tool": pm.TOOL, "state": "moved", "volume": "vv", "kept_volume": "kk", "from_major": 15}),
     "names no from_major or image"),
])
def test_a_bad_record_is_refused_in_one_sentence(tmp_path, content, words):
    path = tmp_path / "postgres-move.json"
    path.write_text(content)
    with pytest.raises(ValueError) as info:
        pm.read_record(str(path))
    assert words in str(info.value) and "\n" not in str(info.value)


def test_a_record_in_a_missing_folder_is_refused_before_docker(tmp_path, capsys):
    args = dict(record=str(tmp_path / "nope" / "postgres-move.json"), state="reverted")
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            pm.main()
    out = json.loads(capsys.readouterr().out)
    assert out["failed"] and not out.get("changed")
    assert out["msg"].startswith(f"The folder of the record {args['record']} does not exist on this host")
