# agenta.fleet — the commands an operator or a contributor needs.
#   make demo   bootstrap the engine, bring up the lab (2 staging + 2 production), show its status
#   make test   unit and integration tests (real lab hosts), ansible-lint, ansible-test sanity
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV        ?= .venv
PY          := $(VENV)/bin/python
STAGING     ?= 2
PRODUCTION  ?= 2
RELEASE     ?= v0.43.0
ROWS        ?= 300
MB          ?= 0
LAB         ?= lab
LAB_PORT_BASE ?= 18080
PYTEST_ARGS ?=
# make test: test files run on this many pytest-xdist workers (one file per worker at a time; lab hosts wait
# on I/O half of the time, so two workers use the two cores).
TEST_WORKERS ?= 2
LABPY       = $(PY) lab/lab.py --lab $(LAB)
INVENTORY   = lab/$(if $(filter lab,$(LAB)),inventory.yml,inventory-$(LAB).yml)
# ansible-playbook finds this checkout as agenta.fleet through a collections path made of one symlink.
COLLECTIONS = $(VENV)/collections
PLAYBOOK    = ANSIBLE_COLLECTIONS_PATH=$(CURDIR)/$(COLLECTIONS) $(VENV)/bin/ansible-playbook -i $(INVENTORY)

.PHONY: help venv engine images collections lab-up lab-status lab-down lab-clean demo test unit integration lint sanity molecule bench faults changelog docs

help:
	@echo "make demo                      engine + lab (STAGING=$(STAGING) PRODUCTION=$(PRODUCTION) RELEASE=$(RELEASE)) + status"
	@echo "make test                      unit tests, lint, integration tests on real lab hosts"
	@echo "make lab-up|lab-status|lab-down|lab-clean   manage the lab fleet (LAB=$(LAB))"
	@echo "make molecule                  every Molecule scenario (molecule test -s NAME), or SCENARIOS=\"default fleet\""
	@echo "make bench                     the collection vs the plain commands and a hand-written playbook -> bench/RESULTS.md"
	@echo "make docs                      docs/variables.md from the roles' argument specs"
	@echo "make changelog                 CHANGELOG.md of the coming release from changelogs/fragments (fragments are kept)"
	@echo "make faults                    the fault suite (run lock, dead controller, bad input, api down) on its own lab"

$(VENV)/.installed: requirements.txt requirements-test.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-test.txt
	@touch $@

venv: $(VENV)/.installed

engine:
	@bash lab/engine.sh

images: venv engine
	@$(LABPY) build >/dev/null

lab-up: venv engine
	@$(LABPY) up --staging "$(STAGING)" --production "$(PRODUCTION)" --release "$(RELEASE)" \
	  --rows "$(ROWS)" --mb "$(MB)" --port-base "$(LAB_PORT_BASE)"

lab-status: venv
	@$(LABPY) status

lab-down: venv
	@$(LABPY) down

lab-clean: venv
	@$(LABPY) clean

$(COLLECTIONS)/ansible_collections/agenta/fleet:
	@mkdir -p $(dir $@) && ln -sfn $(CURDIR) $@

collections: $(COLLECTIONS)/ansible_collections/agenta/fleet

demo: lab-up lab-status collections
	$(PLAYBOOK) playbooks/upgrade-agenta.yml -l staging -e agenta_target_tag=$$($(PY) lab/lab.py next --release "$(RELEASE)")
	$(PLAYBOOK) playbooks/status.yml

unit: venv
	$(PY) -m pytest -q tests/unit $(PYTEST_ARGS)

lint: venv
	@bash tests/lint.sh

sanity: venv
	@bash tests/sanity.sh

integration: venv engine images
	$(PY) -m pytest -q tests/integration $(PYTEST_ARGS)

# Molecule scenarios (molecule/<name>/): each `molecule test -s NAME` starts its own lab, converges, verifies
# and takes the lab down; the wall time of each is printed, and the failed ones are named at the end.
SCENARIOS ?= $(sort $(patsubst molecule/%/molecule.yml,%,$(wildcard molecule/*/molecule.yml)))

molecule: venv engine images collections
	@failed=""; for s in $(SCENARIOS); do \
	  start=$$(date +%s); \
	  PATH="$(CURDIR)/$(VENV)/bin:$$PATH" molecule test -s "$$s" || failed="$$failed $$s"; \
	  echo "molecule test -s $$s: $$(( $$(date +%s) - start )) s"; \
	done; \
	if [ -n "$$failed" ]; then echo "failed scenarios:$$failed"; exit 1; fi

# The collection against the plain commands and a hand-written playbook on the lab (bench/bench.py), written to
# bench/RESULTS.md. BENCH_ARGS="--quick" for one round; "--mb 0,100,1024 --hosts 1,2,4" for the full picture.
BENCH_ARGS ?=
# The fault suite on its own lab (also part of make test): tests/integration/test_faults.py.
faults: venv engine images
	$(PY) -m pytest -q tests/integration/test_faults.py $(PYTEST_ARGS)

bench: venv engine images collections
	$(PY) bench/bench.py $(BENCH_ARGS)

test: venv engine images
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=30 tests/unit tests/integration $(PYTEST_ARGS)
	@bash tests/lint.sh
	@bash tests/sanity.sh

# CHANGELOG.md as `antsibull-changelog release` will write it for galaxy.yml's version, made in a scratch copy so
# the fragments stay until the real release.
changelog: venv
	@tmp=$$(mktemp -d) && git ls-files -z | xargs -0 cp --parents -t "$$tmp" && cp -r changelogs "$$tmp"/ && \
	  version=$$(sed -n 's/^version: *//p' galaxy.yml) && \
	  (cd "$$tmp" && PATH="$(CURDIR)/$(VENV)/bin:$$PATH" antsibull-changelog release --version "$$version" --date "$$(date -u +%F)") && \
	  cp "$$tmp/CHANGELOG.md" CHANGELOG.md && rm -rf "$$tmp" && echo "CHANGELOG.md: $$version (unreleased, from $$(ls changelogs/fragments | wc -l) fragment(s))"

docs: venv
	@$(PY) tools/variables_reference.py
