"""Pure logic of lab/lab.py: revision-file parsing, chain walking, tree pruning, input validation."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "lab"))
import lab  # noqa: E402


def write_rev(d: Path, rev: str, down: str | None) -> Path:
    f = d / f"{rev}_x.py"
    down_txt = "None" if down is None else f'"{down}"'
    f.write_text(f'"""x"""\nrevision = "{rev}"\ndown_revision = {down_txt}\n\ndef upgrade():\n    pass\n')
    return f


def test_parse_revision_file():
    assert lab.parse_revision_file('revision = "abc"\ndown_revision = None\n') == ("abc", None)
    assert lab.parse_revision_file("revision = 'b'\ndown_revision = 'a'\n") == ("b", "a")
    assert lab.parse_revision_file("import os\n") is None


def test_chain_of_orders_base_first():
    graph = {"a": None, "b": "a", "c": "b"}
    assert lab.chain_of(graph, "c") == ["a", "b", "c"]
    assert lab.chain_of(graph, "a") == ["a"]


@pytest.mark.parametrize("graph,head,msg", [
    ({"a": None}, "zz", "not in the tree"),
    ({"a": "a"}, "a", "appears twice"),
    ({"b": "a"}, "b", "points down to a"),
])
def test_chain_of_refuses_broken_graphs(graph, head, msg):
    with pytest.raises(lab.LabError, match=msg):
        lab.chain_of(graph, head)


def test_prune_versions_keeps_ancestors_only(tmp_path):
    write_rev(tmp_path, "a", None)
    write_rev(tmp_path, "b", "a")
    write_rev(tmp_path, "c", "b")
    (tmp_path / "__init__.py").write_text("")
    assert lab.prune_versions(tmp_path, "b") == ["a", "b"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["__init__.py", "a_x.py", "b_x.py"]


@pytest.mark.parametrize("value", ["0", "-1", "x", "", "1.5", "99"])
def test_parse_count_refuses(value):
    with pytest.raises(lab.LabError, match="STAGING must be a whole number from 1 to"):
        lab.parse_count("STAGING", value)


def test_plan_hosts_numbers_ports_and_groups():
    hosts = lab.plan_hosts("lab", "2", "1", "v0.43.0", "18080")
    assert [(h.name, h.port, h.container) for h in hosts] == [
        ("staging-1", 18081, "agenta-lab-staging-1"),
        ("staging-2", 18082, "agenta-lab-staging-2"),
        ("production-1", 18083, "agenta-lab-production-1"),
    ]
    assert {h.layout for h in hosts} == {"g1"}


@pytest.mark.parametrize("args,msg", [
    (("lab", "1", "1", "v9.9.9", "18080"), "Unknown release 'v9.9.9'"),
    (("Bad Name", "1", "1", "v0.43.0", "18080"), "lab name"),
    (("lab", "1", "1", "v0.43.0", "80"), "port base"),
])
def test_plan_hosts_refuses(args, msg):
    with pytest.raises(lab.LabError, match=msg):
        lab.plan_hosts(*args)


def test_env_file_sets_release_tag():
    h = lab.Host("lab", "staging", 1, 18081, "v0.44.4", "g1")
    text = lab.env_file_text(h)
    assert "AGENTA_API_IMAGE_TAG=v0.44.4" in text.splitlines()
    assert "POSTGRES_URI=postgresql+asyncpg://username:password@postgres:5432/agenta_oss" in text


def test_ee_release_tree_has_the_six_chains_and_the_ee_runner(tmp_path):
    info = lab.release_info("v0.113.0", "ee")
    lab.app_tree(tmp_path / "app", "v0.113.0", info)
    ee = tmp_path / "app" / "ee" / "databases" / "postgres" / "migrations"
    assert (ee / "runner.py").is_file() and (tmp_path / "app" / "ee" / "__init__.py").is_file()
    assert sorted(d.name for d in ee.iterdir() if (d / "alembic.ini").is_file()) == ["core_ee", "tracing_ee"]
    h = lab.Host("lab", "staging", 1, 18081, "v0.104.0", "g3", edition="ee")
    text = lab.env_file_text(h)
    assert "AGENTA_API_IMAGE_NAME=agenta-api-ee" in text and "/agenta_ee_core" in text
    assert h.env_file == "/opt/agenta/hosting/docker-compose/ee/.env.ee.gh"
    assert lab.chain_db("core_ee", "ee") == ("agenta_ee_core", "alembic_version_ee")
    with pytest.raises(lab.LabError, match="Unknown EE release 'v0.43.0'"):
        lab.plan_hosts("x", 1, 1, "v0.43.0", 18000, edition="ee")


def test_releases_are_consistent_with_the_trees(tmp_path):
    """Every release's app tree can be laid out and holds exactly its chains, pruned to its heads."""
    for tag, info in lab.load_releases()["releases"].items():
        dest = tmp_path / tag
        lab.app_tree(dest, tag, info)
        mig = dest / "oss" / "databases" / "postgres" / "migrations"
        if info["layout"] == "g1":
            assert (mig / "alembic.oss.ini").is_file()
            chains = {"oss": mig / "versions"}
        else:
            chains = {d.name: d / "versions" for d in mig.iterdir() if (d / "alembic.ini").is_file()}
        assert set(chains) == set(info["heads"]), tag
        for chain, versions in chains.items():
            graph = dict(filter(None, (lab.parse_revision_file(f.read_text()) for f in versions.glob("*.py"))))
            heads = set(graph) - {d for d in graph.values() if d}
            assert heads == {info["heads"][chain]}, (tag, chain)
