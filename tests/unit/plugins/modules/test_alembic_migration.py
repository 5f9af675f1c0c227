"""Unit tests of the two modules: documentation matches the argument spec; result shaping, check mode,
diff and failures with the driver run replaced by a stub (no Docker here; the lab tests run it for real)."""

from __future__ import annotations

import json

import pytest
import yaml


try:
    import fleet_collection_path  # noqa: F401  # pylint: disable=unused-import
except ImportError:  # ansible-test units: the collection is importable already (pytest from a checkout needs it)
    pass

from ansible.module_utils.testing import patch_module_args

from ansible_collections.agenta.fleet.plugins.doc_fragments.docker_target import ModuleDocFragment
from ansible_collections.agenta.fleet.plugins.module_utils import alembic_runner, docker_access
from ansible_collections.agenta.fleet.plugins.modules import alembic_migration, alembic_migration_info


def documented_options(module):
    doc = yaml.safe_load(module.DOCUMENTATION)
    options = dict(yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"])
    options.update(doc.get("options") or {})
    return doc, options


def argument_spec_of(module, monkeypatch):
    captured = {}

    class Stop(Exception):
        pass

    def fake_init(self, argument_spec, **kwargs):
        captured.update(argument_spec)
        raise Stop()

    monkeypatch.setattr(module.AnsibleModule, "__init__", fake_init)
    with pytest.raises(Stop):
        module.main()
    return captured


@pytest.mark.parametrize("module", [alembic_migration, alembic_migration_info])
def test_docs_match_argument_spec(module, monkeypatch):
    doc, options = documented_options(module)
    spec = argument_spec_of(module, monkeypatch)
    assert sorted(options) == sorted(spec)
    for name, arg in spec.items():
        documented = options[name]
        assert documented.get("type", "str") == arg.get("type", "str"), name
        assert documented.get("default") == arg.get("default"), name
        assert documented.get("choices") == arg.get("choices"), name
        assert documented.get("elements") == arg.get("elements"), name
        assert bool(documented.get("required", False)) == bool(arg.get("required", False)), name
    assert "agenta.fleet.docker_target" in doc["extends_documentation_fragment"]
    assert set(doc["attributes"]) >= {"check_mode", "diff_mode", "idempotent"}
    yaml.safe_load(module.EXAMPLES)
    yaml.safe_load(module.RETURN)
    assert "agenta.fleet." + doc["module"] in module.EXAMPLES


def run_module(module, args, capsys, check=False, diff=False):
    args = dict(args)
    args["_ansible_check_mode"] = check
    args["_ansible_diff"] = diff
    with patch_module_args(args):
        with pytest.raises(SystemExit) as info:
            module.main()
    out = json.loads(capsys.readouterr().out)
    out["_rc"] = info.value.code
    return out


def g3_result(pending=True, changed=False, error=None):
    chains = [
        {"name": "core", "before": "park00000000", "after": "park00000000", "pending": [], "applied": [],
         "target": "park00000000", "heads": ["park00000000"], "duration": 0.0, "output": "", "note": None},
        {"name": "core_oss", "before": "c05500000001", "after": "c05500000003" if changed else "c05500000001",
         "pending": ["c05500000002", "c05500000003"] if pending else [],
         "applied": ["c05500000002", "c05500000003"] if changed else [],
         "target": "c05500000003", "heads": ["c05500000003"], "duration": 0.4, "output": "", "note": None},
    ]
    result = {"ok": error is None, "layout": "g3", "edition": "oss", "chains": chains, "changed": changed,
              "where": "container agenta-oss-gh-api-1"}
    if error:
        result["error"] = error
    return result


@pytest.fixture()
def stub(monkeypatch):
    calls = []

    def install(result=None, exc=None):
        def fake_run_driver(params, spec, note=None, cache_create=False):
            calls.append((params, spec, cache_create))
            if exc is not None:
                raise exc
            return json.loads(json.dumps(result))
        monkeypatch.setattr(alembic_migration, "run_driver", fake_run_driver)
        monkeypatch.setattr(alembic_migration_info, "run_driver", fake_run_driver)
        monkeypatch.setattr(docker_access, "HAS_DOCKER", True)
        return calls
    return install


def test_check_mode_reports_pending_and_diff(stub, capsys):
    calls = stub(g3_result(pending=True))
    out = run_module(alembic_migration, {}, capsys, check=True, diff=True)
    assert out["_rc"] == 0 and out["changed"] is True
    assert calls[0][1]["check"] is True and calls[0][1]["action"] == "upgrade"
    # Check mode makes no pycache folder on the host (module_utils/pycache.py); it may read one.
    assert calls[0][2] is False
    core_oss = out["chains"][1]
    assert core_oss["pending"] == ["c05500000002", "c05500000003"] and core_oss["applied"] == []
    assert out["diff"]["before"] == "core: park00000000\ncore_oss: c05500000001\n"
    assert out["diff"]["after"] == "core: park00000000\ncore_oss: c05500000003\n"


def test_nothing_pending_is_not_changed(stub, capsys):
    stub(g3_result(pending=False))
    out = run_module(alembic_migration, {}, capsys, check=True)
    assert out["changed"] is False
    out = run_module(alembic_migration, {}, capsys)
    assert out["changed"] is False


def test_real_run_changed(stub, capsys):
    stub(g3_result(pending=True, changed=True))
    out = run_module(alembic_migration, {}, capsys)
    assert out["changed"] is True and out["layout"] == "g3"


def test_driver_refusal_fails_with_its_sentence(stub, capsys):
    sentence = "Chain core_oss has 2 heads (a, b); Alembic would fail with 'Multiple head revisions'."
    stub(g3_result(error=sentence))
    out = run_module(alembic_migration, {}, capsys)
    assert out["failed"] is True and out["msg"] == sentence and out["changed"] is False


def test_downgrade_head_refused_before_docker(stub, capsys):
    calls = stub(g3_result())
    out = run_module(alembic_migration, {"state": "downgraded", "targets": {"core_oss": "head"}}, capsys)
    assert out["failed"] and out["msg"].startswith("Refusing to downgrade to head")
    assert calls == []


def test_docker_errors_are_one_sentence(stub, capsys):
    stub(exc=docker_access.DockerAccessError("Could not find container agenta-oss-gh-api-1."))
    out = run_module(alembic_migration, {}, capsys)
    assert out["failed"] and out["msg"] == "Could not find container agenta-oss-gh-api-1."


def test_missing_docker_sdk(monkeypatch, capsys):
    monkeypatch.setattr(docker_access, "HAS_DOCKER", False)
    out = run_module(alembic_migration, {}, capsys)
    assert out["failed"] and "docker (the Docker SDK for Python)" in out["msg"]


def test_compose_options_go_together(stub, capsys):
    stub(g3_result())
    out = run_module(alembic_migration, {"compose_project": "agenta-oss-gh"}, capsys)
    assert out["failed"] and "compose_project" in out["msg"]


def test_info_module(stub, capsys):
    calls = stub(g3_result(pending=True))
    out = run_module(alembic_migration_info, {"chains": ["core", "core_oss"]}, capsys)
    assert out["changed"] is False and calls[0][1]["action"] == "info"
    assert calls[0][2] is True  # outside check mode the plan may keep the image's compiled Python for the migration
    assert out["revisions"] == {"core": "park00000000", "core_oss": "c05500000001"}
    assert out["pending_total"] == 2
    assert out["chains"][1]["current"] == "c05500000001" and out["chains"][1]["heads"] == ["c05500000003"]


def test_info_module_unknown_revision(stub, capsys):
    result = g3_result(pending=True)
    result["chains"][1].update(before="oss000000023", pending=None, unknown=["oss000000023"],
                               note="the database is at oss000000023, which this image does not know")
    result["destructive"] = []
    stub(result)
    out = run_module(alembic_migration_info, {}, capsys)
    assert out["_rc"] == 0
    assert out["pending_total"] is None
    assert out["chains"][1]["pending"] is None
    assert out["summary"] == ("The database is at a revision this image does not know (chain core_oss at "
                              "oss000000023): migrate with the image of the release that wrote it, or a newer one.")


def test_info_module_summary_and_destructive(stub, capsys):
    result = g3_result(pending=True)
    result["destructive"] = [{"chain": "core_oss", "revision": "c05500000002", "database": "agenta_oss_core",
                              "table": "session_states", "action": "drop", "column": None, "rows": 4}]
    stub(result)
    out = run_module(alembic_migration_info, {}, capsys)
    assert out["summary"] == "2 revisions are pending: 2 in core_oss."
    assert out["destructive"] == result["destructive"]


NOISE = ("/usr/local/lib/python3.11/site-packages/pydantic/_internal/_fields.py:198: UserWarning: Field name "
         "\"schema\" shadows an attribute in parent \"BaseModel\"\n  warnings.warn(\n"
         "LiteLLM: Failed to fetch remote model cost map from https://x/model_prices_and_context_window.json: "
         "timed out. Falling back to local backup.\n"
         "INFO  [alembic.runtime.migration] Running upgrade c05500000001 -> c05500000002\n")


def with_outputs(result):
    result["chains"][1]["output"] = NOISE
    result["runner"] = {"command": "/usr/local/bin/python -m oss.databases.postgres.migrations.runner", "rc": 0,
                        "duration": 1.5, "output": NOISE, "ran": True, "note": None}
    result["destructive"] = []
    result["tables_changed"] = [{"database": "agenta_oss_core", "table": "nodes", "rows_before": 3, "rows_after": 0,
                                 "change": "fewer", "by": "runner"}]
    return result


@pytest.mark.parametrize("verbosity", [0, 1])
def test_outputs_filtered_and_full_only_when_verbose(stub, capsys, verbosity):
    calls = stub(with_outputs(g3_result(pending=True, changed=True)))
    out = run_module(alembic_migration, {"_ansible_verbosity": verbosity}, capsys)
    assert calls[0][1]["release_runner"] is True
    assert calls[0][2] is True  # the migration keeps (and finds) the image's compiled Python on the host
    clean = "INFO  [alembic.runtime.migration] Running upgrade c05500000001 -> c05500000002\n"
    assert out["chains"][1]["output"] == clean and out["runner"]["output"] == clean
    assert ("output_full" in out["chains"][1]) is bool(verbosity)
    assert ("output_full" in out["runner"]) is bool(verbosity)
    if verbosity:
        assert out["chains"][1]["output_full"] == NOISE
    assert out["tables_changed"][0]["by"] == "runner"
    assert out["destructive"] == [] and out["notes"] == []


def test_release_runner_option_reaches_the_driver(stub, capsys):
    calls = stub(with_outputs(g3_result(pending=False)))
    run_module(alembic_migration, {"release_runner": False}, capsys)
    assert calls[0][1]["release_runner"] is False and calls[0][1]["timeout"] == 600


# -- the Docker access layer with a fake client ----------------------------------------------------


class FakeContainer(object):
    def __init__(self, name, status="running", labels=None):
        self.name, self.status, self.labels, self.id = name, status, labels or {}, name + "-id"


class FakeContainers(object):
    def __init__(self, items):
        self.items = items

    def get(self, name):
        for item in self.items:
            if item.name == name:
                return item
        raise docker_access.docker_errors.NotFound("no such container")

    def list(self, filters=None, **_kwargs):
        wanted = dict(label.split("=", 1) for label in filters["label"])
        return [c for c in self.items if all(c.labels.get(k) == v for k, v in wanted.items())]


class FakeClient(object):
    def __init__(self, items):
        self.containers = FakeContainers(items)


@pytest.mark.skipif(not docker_access.HAS_DOCKER, reason="Docker SDK for Python not installed")
def test_find_container_messages():
    client = FakeClient([FakeContainer("agenta-oss-gh-api-1", status="exited")])
    with pytest.raises(docker_access.DockerAccessError) as info:
        docker_access.find_container(client, "nope")
    assert str(info.value) == "Could not find container nope."
    with pytest.raises(docker_access.DockerAccessError) as info:
        docker_access.find_container(client, "agenta-oss-gh-api-1")
    assert str(info.value) == "Container agenta-oss-gh-api-1 is not running (status exited)."


@pytest.mark.skipif(not docker_access.HAS_DOCKER, reason="Docker SDK for Python not installed")
def test_find_container_by_compose_labels_prefers_running():
    labels = {"com.docker.compose.project": "agenta-oss-gh", "com.docker.compose.service": "api"}
    client = FakeClient([FakeContainer("a-api-1", status="exited", labels=labels),
                         FakeContainer("a-api-2", labels=labels),
                         FakeContainer("other", labels={"com.docker.compose.project": "agenta-oss-gh"})])
    assert docker_access.find_container(client, None, "agenta-oss-gh", "api").name == "a-api-2"
    with pytest.raises(docker_access.DockerAccessError) as info:
        docker_access.find_container(client, None, "agenta-oss-gh", "worker")
    assert str(info.value) == "Could not find a container of service worker in compose project agenta-oss-gh."


@pytest.mark.skipif(not docker_access.HAS_DOCKER, reason="Docker SDK for Python not installed")
def test_connect_unreachable():
    with pytest.raises(docker_access.DockerAccessError) as info:
        docker_access.connect("unix:///nonexistent/docker.sock", timeout=5)
    assert str(info.value).startswith("Could not reach the Docker engine at unix:///nonexistent/docker.sock: ")
    assert "\n" not in str(info.value)


def test_location_spec_is_shared():
    spec = alembic_runner.location_argument_spec()
    assert spec["container"]["default"] == "agenta-oss-gh-api-1"
    assert spec["docker_host"]["default"] == "unix:///var/run/docker.sock"
