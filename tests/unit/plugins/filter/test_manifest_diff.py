"""Unit tests of agenta.fleet.manifest_diff: the same comparison as the backup's trial restore (backup_set.compare).
A controller-side test (filters import ansible), apart from the module_utils tests."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

try:
    import fleet_collection_path  # noqa: F401  # pylint: disable=unused-import
except ImportError:  # ansible-test units: the collection is importable already (pytest from a checkout needs it)
    pass

from ansible_collections.agenta.fleet.plugins.filter.manifest_diff import FilterModule
from ansible_collections.agenta.fleet.plugins.module_utils import backup_set as b


def test_the_manifest_diff_filter_is_the_same_comparison():
    diff = FilterModule().filters()["manifest_diff"]
    want = {"db": {"tables": {"a": 1}, "versions": {}}}
    assert diff(want, {"db": {"tables": {"a": 1}, "versions": {}}}) == ""
    assert diff(want, {"db": {"tables": {"a": 2}}}) == b.compare(want, {"db": {"tables": {"a": 2}}})


def test_anything_but_two_mappings_is_refused():
    with pytest.raises(AnsibleFilterError):
        FilterModule().filters()["manifest_diff"]([], {})
