"""The pure expressions of the role verify (roles/verify/vars/main.yml), rendered with Ansible's own templar: chain
verdicts, manifest row-count comparison. The env file is read with the filters agenta.fleet.env_file and
agenta.fleet.db_login (tests/unit/plugins/filter/test_env_file.py)."""

from __future__ import annotations

from pathlib import Path

import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

ROLES = Path(__file__).resolve().parents[2] / "roles"


def role_vars(role):
    out = {}
    for part in ("defaults", "vars"):
        for key, value in (yaml.safe_load((ROLES / role / part / "main.yml").read_text()) or {}).items():
            out[key] = trust_as_template(value) if isinstance(value, str) else value
    return out


def render(role, expr, **variables):
    templar = Templar(loader=DataLoader(), variables={**role_vars(role), "inventory_hostname": "web-1", **variables})
    return templar.template(trust_as_template("{{ %s }}" % expr))


def chain(name, current, *heads):
    return {"name": name, "current": current, "heads": list(heads)}


G3_AT_HEAD = [chain("core", "park00000000", "park00000000"), chain("core_oss", "c05500000003", "c05500000003"),
              chain("tracing", "park00000000", "park00000000"), chain("tracing_oss", "7a5500000002", "7a5500000002")]


def problems(chains, targets=None):
    return render("verify", "__verify_chain_problems", __verify_chains=chains,
                  verify_targets=targets or {})


def test_chains_at_head_pass():
    assert problems(G3_AT_HEAD) == []


def test_chain_behind_its_head_is_named_first():
    chains = [*G3_AT_HEAD[:1], chain("core_oss", "c05500000001", "c05500000003"),
              chain("tracing", "park00000000", "park00000000"), chain("tracing_oss", "7a5500000001", "7a5500000002")]
    assert problems(chains) == [
        "Chain core_oss on web-1 is at c05500000001, but its head is c05500000003; migrate it (agenta.fleet.migrate) "
        "and verify again.",
        "Chain tracing_oss on web-1 is at 7a5500000001, but its head is 7a5500000002; migrate it (agenta.fleet.migrate) "
        "and verify again."]


def test_targets_win_over_heads_and_base_means_none():
    assert problems([chain("oss", "1a0000000002", "1a0000000006")], {"oss": "1a0000000002"}) == []
    assert problems([chain("oss", None, "1a0000000006")], {"oss": "base"}) == []
    assert problems([chain("oss", "1a0000000006", "1a0000000006")], {"oss": "1a0000000002"}) == [
        "Chain oss on web-1 is at 1a0000000006, but the target is 1a0000000002; migrate it to the target and verify "
        "again."]


def test_unknown_target_chain_and_several_heads_are_refused():
    assert problems([chain("oss", "a", "b", "c")], {"core": "x"}) == [
        "verify_targets names chain core, which the API image of web-1 does not have (it has oss); name only "
        "chains the image has.",
        "Chain oss on web-1 has 2 heads in the API image (b, c); name its target in verify_targets."]


def test_chains_of_a_migration_carry_after_instead_of_current():
    migrated = [{"name": "core_oss", "before": "c05500000001", "after": "c05500000003", "heads": ["c05500000003"]},
                {"name": "tracing_oss", "before": None, "after": None, "heads": ["7a5500000002"]}]
    assert problems(migrated) == [
        "Chain tracing_oss on web-1 is at base, but its head is 7a5500000002; migrate it (agenta.fleet.migrate) and "
        "verify again."]
    assert render("verify", "__verify_revisions", __verify_chains=migrated) == {
        "core_oss": "c05500000003", "tracing_oss": "base"}
    assert render("verify", "__verify_revisions", __verify_chains=G3_AT_HEAD)["core_oss"] == "c05500000003"


def manifest(*dbs):
    return {"tool": "agenta.fleet.backup", "databases": [{"name": n, "tables": t} for n, t in dbs]}


def test_manifest_expected_counts_follow_the_database_rename():
    doc = manifest(("agenta_oss", {"apps": 300, "testsets": 2}), ("supertokens_oss", {}))
    assert render("verify", "__verify_expected", __verify_manifest_data=doc,
                  __verify_databases=["postgres", "agenta_oss_core", "agenta_oss_supertokens"]) == {
        "agenta_oss_core.apps": 300, "agenta_oss_core.testsets": 2}
    # Not renamed while the old name still exists.
    assert render("verify", "__verify_expected", __verify_manifest_data=doc,
                  __verify_databases=["agenta_oss"]) == {"agenta_oss.apps": 300, "agenta_oss.testsets": 2}


def test_manifest_tables_may_be_a_list():
    doc = manifest(("agenta_oss_tracing", [{"name": "spans", "rows": 7}, {"name": "traces", "count": "3"}]))
    expected = render("verify", "__verify_expected", __verify_manifest_data=doc,
                      __verify_databases=["agenta_oss_tracing"])
    assert expected == {"agenta_oss_tracing.spans": 7, "agenta_oss_tracing.traces": 3}
    assert render("verify", "__verify_tables_by_db", __verify_expected=expected) == {
        "agenta_oss_tracing": ["spans", "traces"]}
