"""Checks of the collection's own metadata: galaxy.yml, meta/runtime.yml, changelog fragments.

Run: .venv/bin/pytest tests/unit
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]

# https://semver.org/#is-there-a-suggested-regular-expression-regex-to-check-a-semver-string
SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)

# Sections antsibull-changelog knows for a collection (changelogs/config.yaml), plus the
# prelude and trivial sections.
DEFAULT_SECTIONS = {
    "major_changes",
    "minor_changes",
    "breaking_changes",
    "deprecated_features",
    "removed_features",
    "security_fixes",
    "bugfixes",
    "known_issues",
    "release_summary",
    "trivial",
}


def load_yaml(path: Path):
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@pytest.fixture(scope="module")
def galaxy() -> dict:
    data = load_yaml(ROOT / "galaxy.yml")
    assert isinstance(data, dict), "galaxy.yml must be a mapping"
    return data


@pytest.fixture(scope="module")
def changelog_config() -> dict:
    data = load_yaml(ROOT / "changelogs" / "config.yaml")
    assert isinstance(data, dict)
    return data


def test_galaxy_identity(galaxy: dict) -> None:
    assert galaxy["namespace"] == "agenta"
    assert galaxy["name"] == "fleet"
    for key in ("namespace", "name"):
        assert re.fullmatch(r"[a-z][a-z0-9_]*", galaxy[key]), f"{key} is not a valid collection name part"


@pytest.mark.parametrize("field", ["namespace", "name", "version", "readme", "authors", "description"])
def test_galaxy_required_fields(galaxy: dict, field: str) -> None:
    assert galaxy.get(field), f"galaxy.yml: {field} missing or empty"


def test_galaxy_authors_is_list(galaxy: dict) -> None:
    assert isinstance(galaxy["authors"], list)
    assert all(isinstance(a, str) and a for a in galaxy["authors"])


def test_galaxy_version_is_semver(galaxy: dict) -> None:
    assert isinstance(galaxy["version"], str), "quote-free x.y.z is read as a string; a float means a bad version"
    assert SEMVER.match(galaxy["version"]), f"not semver: {galaxy['version']}"


def test_galaxy_license(galaxy: dict) -> None:
    has_license = bool(galaxy.get("license"))
    has_license_file = bool(galaxy.get("license_file"))
    assert has_license != has_license_file, "set exactly one of license / license_file"
    if has_license:
        assert isinstance(galaxy["license"], list)
        assert "GPL-3.0-or-later" in galaxy["license"]
    assert (ROOT / "LICENSE").is_file()


def test_galaxy_has_no_runtime_dependencies(galaxy: dict) -> None:
    assert galaxy.get("dependencies") in ({}, None), "agenta.fleet must not declare runtime collection dependencies"


def test_galaxy_tags(galaxy: dict) -> None:
    tags = galaxy.get("tags") or []
    assert isinstance(tags, list) and tags
    assert len(tags) <= 20, "Galaxy accepts at most 20 tags"
    for tag in tags:
        assert re.fullmatch(r"[a-z0-9_]+", tag), f"bad tag {tag!r}"
        assert len(tag) <= 64


def test_galaxy_build_ignore(galaxy: dict) -> None:
    ignore = galaxy.get("build_ignore") or []
    for needed in (".venv", "*.tar.gz", "tests/output", "lab", "migrations", "molecule", "bench"):
        assert needed in ignore, f"build_ignore should exclude {needed}"


def test_galaxy_readme_exists(galaxy: dict) -> None:
    assert galaxy["readme"].endswith(".md") and (ROOT / galaxy["readme"]).is_file()


def test_runtime_requires_ansible() -> None:
    runtime = load_yaml(ROOT / "meta" / "runtime.yml")
    assert isinstance(runtime, dict)
    spec = runtime.get("requires_ansible")
    assert isinstance(spec, str) and spec
    assert re.fullmatch(r"(\s*(>=|>|<=|<|==|!=)\s*\d+\.\d+(\.\d+)?\s*,?)+", spec), f"bad specifier {spec!r}"


def test_runtime_requires_ansible_admits_installed_core() -> None:
    packaging_specifiers = pytest.importorskip("packaging.specifiers")
    release = pytest.importorskip("ansible.release")
    runtime = load_yaml(ROOT / "meta" / "runtime.yml")
    spec = packaging_specifiers.SpecifierSet(runtime["requires_ansible"])
    assert spec.contains(release.__version__, prereleases=True)


def test_changelog_config(changelog_config: dict) -> None:
    assert changelog_config["is_collection"] is True
    assert changelog_config["notesdir"] == "fragments"
    section_keys = {entry[0] for entry in changelog_config["sections"]}
    assert {"major_changes", "minor_changes", "bugfixes"} <= section_keys


def test_changelog_yaml() -> None:
    data = load_yaml(ROOT / "changelogs" / "changelog.yaml")
    assert isinstance(data, dict)
    assert "ancestor" in data
    assert isinstance(data.get("releases"), dict)


def fragment_paths() -> list[Path]:
    return sorted(p for p in (ROOT / "changelogs" / "fragments").iterdir() if p.suffix in {".yml", ".yaml"})


def test_there_are_fragments() -> None:
    assert fragment_paths(), "changelogs/fragments/ has no fragment"


@pytest.mark.parametrize("path", fragment_paths(), ids=lambda p: p.name)
def test_fragment_sections(path: Path, changelog_config: dict) -> None:
    data = load_yaml(path)
    assert isinstance(data, dict) and data, f"{path.name}: a fragment is a non-empty mapping"
    known = DEFAULT_SECTIONS | {entry[0] for entry in changelog_config["sections"]}
    known |= {changelog_config.get("prelude_section_name", "release_summary")}
    known |= {changelog_config.get("trivial_section_name", "trivial")}
    unknown = set(data) - known
    assert not unknown, f"{path.name}: unknown sections {sorted(unknown)}"
    prelude = changelog_config.get("prelude_section_name", "release_summary")
    for section, entries in data.items():
        if section == prelude:
            assert isinstance(entries, str) and entries.strip()
        else:
            assert isinstance(entries, list) and entries, f"{path.name}: {section} must be a non-empty list"
            assert all(isinstance(e, str) and e.strip() for e in entries)
