"""Unit tests of the filters agenta.fleet.env_file (env file text -> variables) and agenta.fleet.db_login
(variables -> database login), which preflight, verify, backup and restore read the env file with."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

try:
    import fleet_collection_path  # noqa: F401  # pylint: disable=unused-import
except ImportError:  # ansible-test units: the collection is importable already (pytest from a checkout needs it)
    pass

from ansible_collections.agenta.fleet.plugins.filter.db_login import FilterModule as LoginFilters
from ansible_collections.agenta.fleet.plugins.filter.db_login import db_login
from ansible_collections.agenta.fleet.plugins.filter.env_file import FilterModule as EnvFilters
from ansible_collections.agenta.fleet.plugins.filter.env_file import env_file


def login(text):
    return db_login(env_file(text))


def test_filters_are_registered_under_their_names():
    assert EnvFilters().filters() == {"env_file": env_file}
    assert LoginFilters().filters() == {"db_login": db_login}


# -- env_file -----------------------------------------------------------------------------------


def test_lab_env_file():
    text = ("# Agenta OSS\nAGENTA_API_IMAGE_TAG=v0.104.0\nAGENTA_PORT=80\nPOSTGRES_USER=username\n"
            "POSTGRES_PASSWORD=password\n"
            "POSTGRES_URI_CORE=postgresql+asyncpg://username:password@postgres:5432/agenta_oss_core\n"
            "AGENTA_AUTO_MIGRATION=true\n")
    assert env_file(text) == {
        "AGENTA_API_IMAGE_TAG": "v0.104.0", "AGENTA_PORT": "80", "POSTGRES_USER": "username",
        "POSTGRES_PASSWORD": "password",
        "POSTGRES_URI_CORE": "postgresql+asyncpg://username:password@postgres:5432/agenta_oss_core",
        "AGENTA_AUTO_MIGRATION": "true"}


@pytest.mark.parametrize("text,expected", [
    # `export`, spaces around `=`, comments; the last line of a name wins, as in Compose.
    ("# POSTGRES_PASSWORD=commented\nexport POSTGRES_PASSWORD='first'\nPOSTGRES_PASSWORD=\"a b#c\"\n",
     {"POSTGRES_PASSWORD": "a b#c"}),
    ("  POSTGRES_PASSWORD = spaced  \n", {"POSTGRES_PASSWORD": "spaced"}),
    # ` #` starts a comment after an unquoted value; a `#` inside it does not.
    ("POSTGRES_PASSWORD=pa#ss # the password\nAGENTA_PORT=8080\t# the API\n",
     {"POSTGRES_PASSWORD": "pa#ss", "AGENTA_PORT": "8080"}),
    # Single quotes are literal; double quotes know escapes and ${VAR}; both keep ` #`.
    ("USER=bob\nA='${USER} # $USER'\nB=\"${USER} # \\\"q\\\"\\tx\"\n",
     {"USER": "bob", "A": "${USER} # $USER", "B": 'bob # "q"\tx'}),
    # A quoted value may span lines.
    ("KEY=\"line 1\nline 2\"\nNEXT=1\n", {"KEY": "line 1\nline 2", "NEXT": "1"}),
    # Unquoted ${VAR}, $VAR and ${VAR:-default} from names above; unknown names are empty.
    ("HOST=db\nURI=postgresql://u@${HOST}:5432/$HOST/${MISSING:-dflt}/${NOPE}x\n",
     {"HOST": "db", "URI": "postgresql://u@db:5432/db/dflt/x"}),
    # Empty values, a bare name (Compose would take it from its shell), CRLF line ends, no text at all.
    ("EMPTY=\nFROM_SHELL\r\nA=1\r\n", {"EMPTY": "", "A": "1"}),
    ("", {}),
    (None, {}),
    (b"A=b\xc3\xa9\n", {"A": "b\u00e9"}),
])
def test_env_file_reads_like_compose(text, expected):
    assert env_file(text) == expected


@pytest.mark.parametrize("text,source,message", [
    ("A=1\nnot a pair\n", "/opt/agenta/.env.oss.gh", "Line 2 of /opt/agenta/.env.oss.gh is not KEY=VALUE."),
    ("=value\n", "env file", "Line 1 of env file has an invalid variable name ''."),
    ('A="open\n', "x.env", "Line 1 of x.env has an unterminated quote."),
    # A URI pasted without its name: the sentence names it, but never with its password.
    ("postgresql://bob:s3cret@postgres/agenta?sslmode=disable\n", "x.env",
     "Line 1 of x.env has an invalid variable name 'postgresql://bob:********@postgres/agenta?sslmode'."),
])
def test_malformed_env_file_fails_with_one_sentence(text, source, message):
    with pytest.raises(AnsibleFilterError) as info:
        env_file(text, source)
    assert info.value.message == message
    assert "s3cret" not in str(info.value)


def test_env_file_source_defaults_to_env_file():
    with pytest.raises(AnsibleFilterError, match=r"^Line 1 of env file is not KEY=VALUE\.$"):
        env_file("a b\n")


def test_env_file_refuses_what_is_not_text():
    with pytest.raises(AnsibleFilterError, match="expects the env file's text"):
        env_file({"A": "1"})


# -- db_login ------------------------------------------------------------------------------------


@pytest.mark.parametrize("text,user,password", [
    ("POSTGRES_USER=alice\nPOSTGRES_PASSWORD=s3cret\n", "alice", "s3cret"),
    ("POSTGRES_PASSWORD=pa#ss # the password\n", "username", "pa#ss"),
    # G1: only the URI carries the login, percent-encoded (a `+` is a `+`, as SQLAlchemy reads it).
    ("POSTGRES_URI=postgresql+asyncpg://bob:p%40ss%3Aw+x@postgres:5432/agenta_oss\n", "bob", "p@ss:w+x"),
    ("POSTGRES_URI=postgresql://b%C3%B6b:pw@postgres/agenta_oss\n", "b\u00f6b", "pw"),
    # G2/G3: the core URI; POSTGRES_USER and POSTGRES_PASSWORD win over it, each on its own.
    ("POSTGRES_URI_CORE=postgresql+asyncpg://carol:uri@postgres:5432/agenta_oss_core\nPOSTGRES_PASSWORD=plain\n",
     "carol", "plain"),
    ("POSTGRES_URI_CORE=postgresql+asyncpg://carol:uri@postgres:5432/agenta_oss_core\nPOSTGRES_USER=root\n",
     "root", "uri"),
    # POSTGRES_URI is asked before POSTGRES_URI_CORE ...
    ("POSTGRES_URI_CORE=postgresql://core:c@pg/a\nPOSTGRES_URI=postgresql://main:m@pg/b\n", "main", "m"),
    # ... unless it carries no login: then the next one that does.
    ("POSTGRES_URI=postgresql://pg/b\nPOSTGRES_URI_CORE=postgresql://core:c@pg/a\n", "core", "c"),
    ("POSTGRES_URI=postgresql://main@pg/b\nPOSTGRES_URI_CORE=postgresql://core:c@pg/a\n", "core", "c"),
    # Empty values do not count.
    ("POSTGRES_USER=\nPOSTGRES_PASSWORD=''\nPOSTGRES_URI=postgresql://eve:e@pg/a\n", "eve", "e"),
    # A URI built from variables above it.
    ("DB_USER=frank\nDB_PASS=p%40w\nPOSTGRES_URI=postgresql://${DB_USER}:${DB_PASS}@pg/a\n", "frank", "p@w"),
    # A URI without a password gives no login; an empty password is an empty password.
    ("POSTGRES_URI_CORE=postgresql://dave@postgres/agenta_oss_core\n", "username", ""),
    ("POSTGRES_URI_CORE=postgresql://dave:@postgres/agenta_oss_core\n", "dave", ""),
    ("", "username", ""),
    # A name that only ends like ours, or another URI, is not ours.
    ("MY_POSTGRES_PASSWORD=no\nPOSTGRES_PASSWORD_FILE=/run/x\nPOSTGRES_URI_TRACING=postgresql://t:t@pg/x\n",
     "username", ""),
])
def test_db_login(text, user, password):
    assert login(text) == {"user": user, "password": password}


def test_db_login_refuses_what_is_not_a_mapping():
    with pytest.raises(AnsibleFilterError, match="expects the env file's variables"):
        db_login("POSTGRES_USER=alice")
