#!/usr/bin/env bash
# Run `ansible-test sanity` on this collection, locally: `--local --python 3.11`, no Docker
# inside ansible-test, no `--requirements`.
#
#   tests/sanity.sh [extra ansible-test sanity args...]    e.g. tests/sanity.sh --test pep8 -v
#   SANITY_FROM=tarball (default): exactly what ships - the tarball ansible-galaxy builds (galaxy.yml's
#   build_ignore), installed; then `ansible-test units` runs on the same installed copy.
#   SANITY_FROM=tree: the working tree's files minus SANITY_EXCLUDE (default "lab migrations bench tests/unit
#   tests/integration"). KEEP_SANITY_TREE=1 keeps the copy.
#
# ansible-test insists on running from .../ansible_collections/<namespace>/<name>/ and lists files with git, so
# the copy gets its own git repository. Results (tests/output/) are copied back to ./tests/output/ (git-ignored).
#
# Not shipped, so not checked here: lab/, migrations/, bench/, molecule/, tests/integration/ and the unit tests
# that need them - lab tooling, the stand-in alembic trees and the lab's suites are not collection content. They
# are checked by their own tests.
#
# Network: ansible-test 2.19 runs each single-version test (changelog, import, pep8, pylint,
# runtime-metadata, validate-modules, yamllint) in its own venv under ~/.ansible/test/venv
# with ansible-test's own pinned requirements, even with --local. The first run creates them
# from PyPI (about 30 s; the pip bootstrap script ansible-test would fetch from
# ci-files.testing.ansible.com is replaced by a local stand-in, see bootstrap_shim); later
# runs reuse them and need no network.
#
# Tests run (ansible-core 2.19.14): action-plugin-docs ansible-doc changelog compile empty-init
# ignores import line-endings no-assert no-get-exception no-illegal-filenames no-smart-quotes
# pep8 pylint replace-urlopen runtime-metadata shebang shellcheck symlinks use-argspec-type-path
# use-compat-six validate-modules yamllint. Tests with nothing to check (no plugins yet) pass
# trivially. Skipped or not run:
#   pslint      PowerShell only (needs pwsh + PSScriptAnalyzer); the collection has none.
#   (shell)     the shellcheck test runs only when the shellcheck program is on PATH
#               (apt-get install shellcheck);
#               otherwise ansible-test prints a warning and skips it.
#   mypy, integration-aliases, bin-symlinks, ...  ansible-core-only tests, not offered for
#               collections.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NAMESPACE=agenta
NAME=fleet
PYTHON_VERSION="${SANITY_PYTHON:-3.11}"
SKIP_TESTS=(pslint)
# Folders that are not collection content (lab tooling, stand-in alembic trees, benchmarks, and our
# pytest suites, which are not ansible-test units or integration targets): left out of the copy.
# Override with SANITY_EXCLUDE="a b c".
read -r -a EXCLUDE <<<"${SANITY_EXCLUDE-lab migrations bench tests/unit tests/integration}"
EXCLUDE+=(.venv .ansible tests/output)  # always (in case .gitignore misses a symlinked venv)

if [ -x "$ROOT/.venv/bin/ansible-test" ]; then
  PATH="$ROOT/.venv/bin:$PATH"
  export PATH
fi
command -v ansible-test >/dev/null || { echo "sanity: ansible-test not found (pip install -r requirements-test.txt)" >&2; exit 1; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/agenta-fleet-sanity.XXXXXX")"
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  if [ -n "${KEEP_SANITY_TREE:-}" ]; then
    echo "sanity: kept $WORK" >&2
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT

DEST="$WORK/ansible_collections/$NAMESPACE/$NAME"
mkdir -p "$DEST"

# Exactly what ships: build the tarball (galaxy.yml's build_ignore decides) and install it. SANITY_FROM=tree
# checks the working tree instead (tracked + untracked files, minus EXCLUDE), for content not in the tarball.
cd "$ROOT"
if [ "${SANITY_FROM:-tarball}" = tarball ]; then
  ansible-galaxy collection build "$ROOT" --output-path "$WORK/build" >/dev/null
  ansible-galaxy collection install --force --no-deps "$WORK"/build/agenta-fleet-*.tar.gz -p "$WORK/installed" >/dev/null 2>&1
  cp -a "$WORK/installed/ansible_collections/$NAMESPACE/$NAME/." "$DEST/"
elif git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git ls-files -z --cached --others --exclude-standard \
    | while IFS= read -r -d '' f; do
        for x in "${EXCLUDE[@]}"; do case "$f" in "$x" | "$x"/*) continue 2 ;; esac; done
        if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
      done \
    | tar --null -T - -cf - | tar -xf - -C "$DEST"
fi

# ansible-test uses git to list the collection's files; give the copy its own repository.
cd "$DEST"
git init -q
git add -A
git -c user.name=sanity -c user.email=sanity@example.invalid commit -q --no-verify -m sanity

# ansible-test (2.19) runs every single-version sanity test (changelog, pylint, pep8,
# validate-modules, yamllint, ...) in its own cached venv under ~/.ansible/test/venv, even
# with --local. Creating one bootstraps pip with a get-pip script downloaded from
# ci-files.testing.ansible.com, which this machine cannot reach. When that script is not
# cached yet, put a stand-in there: it installs pip from the interpreter's own ensurepip
# wheel, then lets that pip install the requested pip version from the package index
# (PyPI). The pinned sanity requirements then come from PyPI once; later runs reuse the
# cached venvs and need no network.
bootstrap_shim() {
  local at_dir pip_version cache
  at_dir="$(python3 -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))')"
  # get_venv_packages() in ansible_test/_internal/python_requirements.py: pip='24.2'
  pip_version="$(sed -n "s/^ *pip='\([0-9.]*\)',.*/\1/p" "$at_dir/_internal/python_requirements.py" | head -n1)"
  pip_version="${pip_version:-24.2}"
  cache="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
  [ -s "$cache" ] && return 0
  mkdir -p "$(dirname "$cache")"
  cat >"$cache" <<'PY'
"""Stand-in for ansible-test's get-pip bootstrap (written by agenta.fleet tests/sanity.sh).

ansible-test runs: python get_pip.py --disable-pip-version-check pip==X [--no-setuptools] [--no-wheel]
"""
import subprocess
import sys

subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "pip", "install", *args])
PY
  echo "sanity: wrote pip bootstrap stand-in $cache" >&2
}
bootstrap_shim

skip_args=()
for t in "${SKIP_TESTS[@]}"; do skip_args+=(--skip-test "$t"); done

# Keep ansible's own caches and temp out of $HOME.
export ANSIBLE_HOME="$WORK/.ansible"
export ANSIBLE_LOCAL_TEMP="$WORK/.ansible/tmp"

rc=0
ansible-test sanity --local --python "$PYTHON_VERSION" --color no "${skip_args[@]}" "$@" || rc=$?

# The shipped unit tests, on the same installed copy, in ansible-test's own venv (pytest, pytest-xdist and
# tests/unit/requirements.txt from the package index the first time, cached after).
if [ "${SANITY_FROM:-tarball}" = tarball ] && [ "$#" -eq 0 ]; then
  ansible-test units --venv --requirements --python "$PYTHON_VERSION" --color no || rc=$?
fi

if [ -d "$DEST/tests/output" ]; then
  mkdir -p "$ROOT/tests/output"
  cp -r "$DEST/tests/output/." "$ROOT/tests/output/" 2>/dev/null || true
fi
exit "$rc"
