# Stepwise: make run | make test | make bench | make screenshots
# Everything runs in .venv, (re)installed from pyproject.toml only when pyproject.toml changes.

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.stepwise-installed
ARGS   ?=
STEPS  ?= 100

.PHONY: venv run test bench screenshots clean-venv

venv: $(STAMP)

# Created when missing; dependencies (re)installed when pyproject.toml is newer than the stamp.
# torch==2.13.0 is pinned in pyproject.toml: pip takes the local CPU build of that release.
$(STAMP): pyproject.toml
	@test -x $(PY) || { echo "creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install --quiet --disable-pip-version-check --no-input -e '.[test]'
	@touch $(STAMP)

run: venv
	$(PY) main.py $(ARGS)

test: venv
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest tests/ $(ARGS)

# Every bench module (bench/<name>.py), one after the other; each prints one JSON object last.
bench: venv
	@names="$$($(PY) -c 'from bench.__main__ import available; print(" ".join(available()))')"; \
	if [ -z "$$names" ]; then echo "no benchmarks yet"; exit 0; fi; \
	for name in $$names; do echo "== python -m bench $$name"; $(PY) -m bench $$name || exit $$?; done

# Optional: one PNG per lab in docs/screenshots, in a real window under Xvfb
# (apt-get install -y xvfb libxcb-icccm4 libxcb-keysyms1 imagemagick).
screenshots: venv
	@command -v xvfb-run >/dev/null || { echo "xvfb-run not found: apt-get install -y xvfb libxcb-icccm4 libxcb-keysyms1 imagemagick"; exit 1; }
	@mkdir -p docs/screenshots
	@for lab in $$($(PY) -c 'from engines.labs import lab_ids; print(" ".join(lab_ids()))'); do \
		echo "== $$lab"; \
		xvfb-run -a -s "-screen 0 1600x1000x24" $(PY) main.py --lab $$lab --steps $(STEPS) --screenshot docs/screenshots/$$lab.png || exit $$?; \
	done

clean-venv:
	rm -rf $(VENV)
