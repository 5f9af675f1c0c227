# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pure parts of agenta.fleet.postgres_move: PG_VERSION, volume names, the record (on real files). The Docker
side runs on a lab host in tests/integration/test_postgres_move.py (this file has its own basename: pytest collects unit and
integration tests in one run)."""

from __future__ import annotations

import json
import os
import stat
import subprocess

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


def script(text, **paths):
    """One of the module's shell scripts with its fixed folders (/from, /to, /v) moved under tmp_path."""
    for name, path in paths.items():
        text = text.replace("/%s" % name, str(path))
    return subprocess.run(["sh", "-c", text], capture_output=True, text=True, check=False)


def test_the_copy_script_keeps_every_byte_and_mode_and_says_the_major(tmp_path):
    source, dest = tmp_path / "from", tmp_path / "to"
    (source / "base" / "1").mkdir(parents=True)
    (source / "PG_VERSION").write_text("15\n")
    (source / "base" / "1" / "112").write_bytes(os.urandom(5000))
    os.chmod(source / "base" / "1" / "112", 0o600)
    os.symlink("base", source / "link")
    dest.mkdir()
    (dest / "stale").write_text("from an earlier try")
    done = script(pm.COPY_SH, **{"from": source, "to": dest})
    assert done.returncode == 0, done.stderr
    assert pm.major_of(done.stdout) == 15
    assert sorted(os.listdir(dest)) == ["PG_VERSION", "base", "link"]
    assert (dest / "base" / "1" / "112").read_bytes() == (source / "base" / "1" / "112").read_bytes()
    assert stat.S_IMODE(os.stat(dest / "base" / "1" / "112").st_mode) == 0o600 and os.readlink(dest / "link") == "base"


def test_the_look_script_tells_an_empty_volume_from_one_without_a_cluster(tmp_path):
    volume = tmp_path / "v"
    volume.mkdir()
    assert script(pm.LOOK_SH, v=volume).stdout.split() == ["-", "0"]
    (volume / "half-done").write_text("x")
    assert script(pm.LOOK_SH, v=volume).stdout.split() == ["-", "1"]
    (volume / "data").mkdir()
    (volume / "data" / "PG_VERSION").write_text("17\n")
    assert script(pm.LOOK_SH, v=volume).stdout.split() == ["17", "3"]


def test_the_kept_copy_must_fit_with_a_tenth_more():
    assert pm.space_problem("v", 1000, 1100) is None
    sentence = pm.space_problem("agenta-oss-gh_postgres-data", 10 * 1024 ** 3, 10 * 1024 ** 3)
    assert sentence.startswith("The data volume agenta-oss-gh_postgres-data holds 10.0 GiB and the file system of the "
                               "Docker volumes has 10.0 GiB free, too little for the copy"), sentence
    assert sentence.endswith("Nothing was changed.")


@pytest.mark.parametrize("count,text", [(0, "0 bytes"), (1023, "1023 bytes"), (1536, "1.5 KiB"),
                                        (5 * 1024 ** 2, "5.0 MiB"), (3 * 1024 ** 4, "3072.0 GiB")])
def test_size_text(count, text):
    assert pm.size_text(count) == text
