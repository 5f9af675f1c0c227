"""Helpers shared by test_module_g1.py and test_module_g3.py (no tests here).

Each helper runs a real ansible-playbook against a lab host (through the conftest's Lab.playbook) with one
task of agenta.fleet.alembic_migration (or _info) and returns that task's result dict.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import yaml

LOCK_KEY = 0x41474674  # the advisory lock key of plugins/module_utils/alembic_driver.py
NEW_G1 = "ghcr.io/agenta-ai/agenta-api:v0.44.4"
OLD_G1_HEAD = "1a0000000002"
NEW_G3 = "ghcr.io/agenta-ai/agenta-api:v0.113.0"
ENV_FILE = "/opt/agenta/hosting/docker-compose/oss/.env.oss.gh"


def oneshot(image, **args):
    """Module arguments for a one-shot container of `image` on the deployment's network with its env file."""
    base = {"image": image, "compose_project": "agenta-oss-gh", "env_file": ENV_FILE}
    base.update(args)
    return base


def playbook_text(host, args, module="agenta.fleet.alembic_migration"):
    return yaml.safe_dump([{
        "hosts": host,
        "gather_facts": False,
        "tasks": [{"name": "under test", module: args, "register": "result", "ignore_errors": True}],
    }], sort_keys=False)


def migrate(lab, host, args, *, check=False, diff=False, module="agenta.fleet.alembic_migration"):
    run = lab.playbook(playbook_text(host, args, module), limit=host, check=check, diff=diff)
    try:
        found = run.results("under test")
    except (ValueError, KeyError) as exc:  # no JSON document: show what ansible said
        raise AssertionError(f"ansible-playbook gave no result ({exc}):\n{run.stdout}\n{run.stderr}")
    if host not in found:
        raise AssertionError(f"no result for {host}:\n{run.stdout}\n{run.stderr}")
    return found[host]


def concurrent_runs(lab, host, args, count=2):
    """Start `count` ansible-playbook processes at once, each running the module on the same host."""
    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(migrate, lab, host, args) for _run in range(count)]
        return [f.result() for f in futures]


def make_broken_image(lab, host, base_image, tag, files):
    """Build, inside the lab host's engine, an image = base_image + extra files (path -> text)."""
    name = "fleet-test-broken"
    lab.sh(host, "docker", "rm", "-f", name, check=False)
    lab.sh(host, "docker", "create", "--name", name, base_image)
    try:
        for path, text in files.items():
            tmp = "/tmp/" + os.path.basename(path)
            lab.sh(host, "tee", tmp, input=text)
            lab.sh(host, "docker", "cp", tmp, f"{name}:{path}")
        lab.sh(host, "docker", "commit", name, tag)
    finally:
        lab.sh(host, "docker", "rm", "-f", name, check=False)
    return tag


def revision_file(revision, down_revision, upgrade="pass", downgrade="pass"):
    return (f'"""fleet test revision {revision}"""\n'
            f"revision = {revision!r}\ndown_revision = {down_revision!r}\nbranch_labels = None\ndepends_on = None\n\n\n"
            f"def upgrade():\n    {upgrade}\n\n\ndef downgrade():\n    {downgrade}\n")


def driver_source():
    """DRIVER, MARKER and SPEC_ENV of plugins/module_utils/alembic_driver.py (read, not imported)."""
    namespace = {}
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "plugins", "module_utils",
                        "alembic_driver.py")
    with open(path, encoding="utf-8") as handle:
        exec(compile(handle.read(), path, "exec"), namespace)  # pylint: disable=exec-used
    return namespace["DRIVER"], namespace["MARKER"], namespace["SPEC_ENV"]
