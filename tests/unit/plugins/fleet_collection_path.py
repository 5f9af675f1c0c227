"""Make ansible_collections.agenta.fleet importable for the unit tests (imported for that effect).

This checkout is not at ansible_collections/agenta/fleet, so a temporary folder with that path as a symlink to it
goes on sys.path. Not a conftest.py: its module name would clash with tests/integration/conftest.py in one pytest
session. pytest.ini puts this folder on sys.path.
"""

from __future__ import annotations


def _collection_on_path():
    """Make ansible_collections.agenta.fleet importable: this checkout is not at ansible_collections/agenta/fleet,
    so a temporary folder with that path as a symlink to it goes on sys.path (no conftest: its module name would
    clash with tests/integration/conftest.py in one pytest session)."""
    import atexit
    import shutil
    import sys
    import tempfile
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    if root.name == "fleet" and root.parent.name == "agenta" and root.parent.parent.name == "ansible_collections":
        base = str(root.parent.parent.parent)
    else:
        base = getattr(sys, "_agenta_fleet_unit_path", None)
        if base is None:
            base = tempfile.mkdtemp(prefix="agenta-fleet-unit-")
            Path(base, "ansible_collections", "agenta").mkdir(parents=True)
            Path(base, "ansible_collections", "agenta", "fleet").symlink_to(root)
            atexit.register(shutil.rmtree, base, True)
            sys._agenta_fleet_unit_path = base
    if base not in sys.path:
        sys.path.insert(0, base)
    namespace = sys.modules.get("ansible_collections")
    if namespace is not None and hasattr(namespace, "__path__"):
        extra = str(Path(base, "ansible_collections"))
        if extra not in list(namespace.__path__):
            namespace.__path__.append(extra)


_collection_on_path()
