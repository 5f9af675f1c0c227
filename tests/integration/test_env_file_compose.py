"""The collection's env-file parser (module_utils/alembic_common.parse_env_file) against the real Docker Compose on
this machine: for a table of env files, `docker compose config` of a service with that `env_file:` must give exactly
the variables the parser gives, and a file Compose refuses must be refused by the parser too.

`docker compose config` reads files only (no engine, no container), and prints every $ of a value as $$ (so that its
output is a valid compose file): the test undoes that.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from conftest import REPO

import sys
sys.path.insert(0, str(REPO / "tests" / "unit" / "plugins"))
try:
    import fleet_collection_path  # noqa: F401  # pylint: disable=unused-import
except ImportError:  # ansible-test units: the collection is importable already (pytest from a checkout needs it)
    pass

from ansible_collections.agenta.fleet.plugins.module_utils.alembic_common import (  # noqa: E402
    EnvFileError, parse_env_file)

CASES = {
    "dollars": "P=a$$b\nQ=\"q$$r\"\nR='s$$t'\nS=$$HOME\nT=end$\nU=a$-b\nV=$1abc\n",
    "references": "B=x\nC=$B\nD=${B}_${B}\nE=$B$$\nF=\"${B}\\$x\"\nG='${B}'\nH=${NOPE}\n",
    "defaults": "B=x\nE=\nC=${B-def}\nD=${NOPE-def}\nF=${E-def}\nG=${E:-def}\nH=${NOPE:-a b}\n"
                "W=${B:-${NOPE:-nested}}\nX=${NOPE:-${B}}\n",
    "alternatives": "B=x\nE=\nH=${B:+alt}\nI=${E:+alt}\nJ=${E+alt}\nK=${NOPE+alt}\n",
    "required but there": "B=x\nE=\nU=${B?must}\nV=${B:?must}\nW=${E?must}\n",
    "quotes": "A=\"with space\"\nB='single # not a comment'\nC=\"esc \\\" \\\\ \\n\"\nD=\"multi\nline\"\nE=''\n",
    "comments and export": "# a comment\nexport A=1\nB=2 # trailing\nC=3#not\n\n   D = 4\n",
    "duplicates and empty": "A=1\nA=2\nB=\nC=\"\"\n",
    "crlf": "A=1\r\nB=two words\r\nC=\"q\"\r\n",
    "a password": "POSTGRES_PASSWORD=p@ss$$w0rd!#x\nPOSTGRES_URI=postgresql://u:${POSTGRES_PASSWORD}@db/x\n",
}
REFUSED = {
    "required and unset": "Q=${NOPE?needs it}\n",
    "required and empty": "E=\nQ=${E:?needs E}\n",
}


def compose_env(tmp_path, text: str) -> subprocess.CompletedProcess:
    (tmp_path / "t.env").write_bytes(text.encode())
    (tmp_path / "c.yml").write_text("services:\n  x:\n    image: busybox\n    env_file: t.env\n")
    return subprocess.run(["docker", "compose", "-f", str(tmp_path / "c.yml"), "config", "--format", "json"],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path,
                          env={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path)})


pytestmark = pytest.mark.skipif(shutil.which("docker") is None, reason="no docker CLI (make engine installs it)")


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_parser_reads_an_env_file_as_compose_does(tmp_path, name):
    proc = compose_env(tmp_path, CASES[name])
    assert proc.returncode == 0, proc.stderr
    environment = json.loads(proc.stdout)["services"]["x"].get("environment") or {}
    compose = {k: (v or "").replace("$$", "$") for k, v in environment.items()}
    assert parse_env_file(CASES[name]) == compose


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_what_compose_refuses_the_parser_refuses(tmp_path, name):
    proc = compose_env(tmp_path, REFUSED[name])
    assert proc.returncode != 0 and "required variable" in proc.stderr
    with pytest.raises(EnvFileError, match="requires"):
        parse_env_file(REFUSED[name])
