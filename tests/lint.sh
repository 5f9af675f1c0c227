#!/usr/bin/env bash
# Run ansible-lint (production profile) over the collection from the repo root.
#
#   tests/lint.sh [extra ansible-lint args...]
#
# Uses .venv/bin tools when the repo venv exists, else whatever is on PATH.
# community.docker and friends come from the `ansible` package in requirements-test.txt
# (Galaxy is not reachable).
# Configuration lives in .ansible-lint and .yamllint at the repo root.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

if [ -x "$ROOT/.venv/bin/ansible-lint" ]; then
  # With the venv first on PATH ansible-lint finds the venv's ansible-* executables
  # (and does not print its "PATH altered" warning).
  PATH="$ROOT/.venv/bin:$PATH"
  export PATH
fi
command -v ansible-lint >/dev/null || { echo "lint: ansible-lint not found (pip install -r requirements-test.txt)" >&2; exit 1; }

# No network: do not refresh JSON schemas from the internet. ansible-lint builds this
# collection from disk into its cache (.ansible/ in the repo, git-ignored) so agenta.fleet.*
# names resolve; galaxy.yml has no dependencies, so nothing is asked of Galaxy.
export ANSIBLE_LINT_SKIP_SCHEMA_UPDATE=1

exec ansible-lint --profile production "$@"
