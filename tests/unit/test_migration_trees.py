"""Static checks of the lab's migration trees (no database, no alembic needed).

- every revision file has exactly one `revision = "<id>"` line and one
  `down_revision = "<id>"` / `down_revision = None` line (the image build parses them),
- every revision has the failure switch in its upgrade(),
- each tree is one linear chain with a single head,
- the heads named in lab/releases.yml exist in the right chain.
"""
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TREES = {
    "oss": REPO / "migrations" / "versions",
    "core": REPO / "lab" / "standin" / "g3" / "core" / "versions",
    "tracing": REPO / "lab" / "standin" / "g3" / "tracing" / "versions",
    "core_oss": REPO / "lab" / "standin" / "g3" / "core_oss" / "versions",
    "tracing_oss": REPO / "lab" / "standin" / "g3" / "tracing_oss" / "versions",
    "core_ee": REPO / "lab" / "standin" / "ee" / "core_ee" / "versions",
    "tracing_ee": REPO / "lab" / "standin" / "ee" / "tracing_ee" / "versions",
}
REVISION_RE = re.compile(r'^revision = "([^"]+)"$', re.M)
DOWN_RE = re.compile(r'^down_revision = (?:"([^"]+)"|None)$', re.M)
ANY_DOWN_RE = re.compile(r"^down_revision\s*=", re.M)
FAIL_SWITCH = 'if os.environ.get("AGENTA_LAB_FAIL_REVISION") == revision:'
RELEASE_LAYOUT_CHAINS = {
    "g1": {"oss"},
    "g2": {"core", "tracing"},
    "g3": {"core", "core_oss", "tracing", "tracing_oss"},
    "ee-g3": {"core", "core_oss", "core_ee", "tracing", "tracing_oss", "tracing_ee"},
}


def parse_tree(folder: Path):
    """Return {revision: (down_revision or None, path)}."""
    revisions = {}
    for path in sorted(folder.glob("*.py")):
        text = path.read_text()
        revs = REVISION_RE.findall(text)
        downs = DOWN_RE.findall(text)
        assert len(revs) == 1, f"{path}: need exactly one revision line, found {revs}"
        assert len(downs) == 1 and len(ANY_DOWN_RE.findall(text)) == 1, (
            f"{path}: need exactly one down_revision line of the strict form"
        )
        rev, down = revs[0], downs[0] or None
        assert rev not in revisions, f"{path}: duplicate revision {rev}"
        assert path.name.startswith(rev + "_"), f"{path}: file name must start with {rev}_"
        revisions[rev] = (down, path)
    return revisions


def linear_order(revisions):
    roots = [r for r, (d, _) in revisions.items() if d is None]
    assert len(roots) == 1, f"expected one root, found {roots}"
    children = {}
    for rev, (down, _) in revisions.items():
        assert down != rev, f"{rev} revises itself"
        if down is not None:
            assert down in revisions, f"{rev} revises unknown {down}"
            children.setdefault(down, []).append(rev)
    for parent, kids in children.items():
        assert len(kids) == 1, f"{parent} has several children {kids} (branch)"
    order = [roots[0]]
    while order[-1] in children:
        order.append(children[order[-1]][0])
    assert len(order) == len(revisions), "revisions not all reachable from the root"
    return order


@pytest.fixture(name="trees", scope="module")
def trees_fixture():
    return {chain: parse_tree(folder) for chain, folder in TREES.items()}


@pytest.fixture(name="releases", scope="module")
def releases_fixture():
    yaml = pytest.importorskip("yaml")
    return yaml.safe_load((REPO / "lab" / "releases.yml").read_text())


@pytest.mark.parametrize("chain", sorted(TREES))
def test_tree_is_single_linear_chain(trees, chain):
    assert trees[chain], f"no revisions in {TREES[chain]}"
    order = linear_order(trees[chain])
    heads = set(trees[chain]) - {d for d, _ in trees[chain].values() if d}
    assert heads == {order[-1]}


@pytest.mark.parametrize("chain", sorted(TREES))
def test_every_revision_has_failure_switch(trees, chain):
    for _down, path in trees[chain].values():
        text = path.read_text()
        upgrade = text.split("def upgrade", 1)[1].split("def downgrade", 1)[0]
        assert FAIL_SWITCH in upgrade, f"{path}: failure switch missing in upgrade()"
        assert "lab failure switch: revision {revision} failed midway" in upgrade


def test_expected_order(trees):
    assert linear_order(trees["oss"]) == [f"1a000000000{i}" for i in range(1, 8)]
    assert linear_order(trees["core"]) == [f"c0de0000000{i}" for i in range(1, 5)] + ["park00000000"]
    assert linear_order(trees["tracing"]) == ["7ace00000001", "7ace00000002", "park00000000"]
    assert linear_order(trees["core_oss"]) == [f"c0550000000{i}" for i in range(1, 5)]
    assert linear_order(trees["tracing_oss"]) == ["7a5500000001", "7a5500000002"]
    assert linear_order(trees["core_ee"]) == ["ce0000000001", "ce0000000002"]
    assert linear_order(trees["tracing_ee"]) == ["7e0000000001", "7e0000000002"]


def test_downgrade_kinds(trees):
    def downgrade_body(chain, rev):
        return trees[chain][rev][1].read_text().split("def downgrade", 1)[1]

    assert downgrade_body("oss", "1a0000000004").split(":", 1)[1].strip() == "pass"
    assert "NotImplementedError" in downgrade_body("oss", "1a0000000005")
    assert "restore from a backup" in downgrade_body("oss", "1a0000000005")
    assert "NotImplementedError" in downgrade_body("core_oss", "c05500000003")
    assert downgrade_body("tracing_oss", "7a5500000002").split(":", 1)[1].strip() == "pass"
    assert downgrade_body("core", "park00000000").split(":", 1)[1].strip() == "pass"


def test_release_heads_exist(trees, releases):
    assert releases["default_old"] == {"g1": "v0.43.0", "g3": "v0.104.0"}
    assert releases["default_new"] == {"g1": "v0.44.4", "g3": "v0.113.0"}
    assert set(releases["releases"]) == {"v0.43.0", "v0.44.4", "v0.44.5", "v0.45.0", "v0.103.0", "v0.104.0",
                                        "v0.113.0", "v0.114.0"}
    source_chain = {"migrations": "oss"}
    for tag, release in releases["releases"].items():
        layout = release["layout"]
        assert set(release["heads"]) == RELEASE_LAYOUT_CHAINS[layout], tag
        sources = release.get("sources") or {}
        for chain, head in release["heads"].items():
            assert isinstance(head, str), f"{tag} {chain}: quote the revision id"
            tree = source_chain[sources[chain]] if chain in sources else chain
            assert head in trees[tree], f"{tag}: head {head} missing from chain {chain}"
        if layout == "g3":
            assert release["heads"]["core"] == "park00000000"
            assert release["heads"]["tracing"] == "park00000000"
        if layout == "g2":
            assert release["heads"]["core"] != "park00000000"
            assert release["heads"]["tracing"] != "park00000000"


def test_ee_release_heads_exist(trees, releases):
    """An EE release holds the OSS chains of the same tag and the two EE chains."""
    assert set(releases["ee_releases"]) == {"v0.104.0", "v0.113.0"}
    for tag, release in releases["ee_releases"].items():
        assert set(release["heads"]) == RELEASE_LAYOUT_CHAINS["ee-g3"], tag
        for chain, head in release["heads"].items():
            assert head in trees[chain], f"EE {tag}: head {head} missing from chain {chain}"
            if chain in releases["releases"][tag]["heads"]:
                assert head == releases["releases"][tag]["heads"][chain], (tag, chain)
