# Two commands for learners and teachers:
#   make lab    set up .venv (first time only) and open the course in JupyterLab
#   make test   set up .venv, then run the unit tests and every notebook in fast mode
# Everything runs from a bare machine with Python >= 3.10.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PORT   ?= 8888
# FAST=1 makes `make html` execute the notebooks in fast mode (small sizes, few steps).
FAST   ?= 0

.PHONY: help lab test lint html handout styles gallery weights clean zh zh-update

help:
	@echo "make lab     - open the course in JupyterLab (localhost, with a token)"
	@echo "make test    - unit tests + every notebook under nbval in fast mode (COURSE_FAST=1)"
	@echo "make html    - execute the notebooks and write a reading copy to build/html/"
	@echo "make handout - the notebooks without their solution cells, in build/handout/ (for assessed work)"
	@echo "make lint    - ruff over the package, tests and notebooks"
	@echo "make styles  - regenerate the generated style images in data/styles/"
	@echo "make gallery - regenerate the README figures in docs/gallery/"
	@echo "make weights - download and verify the ImageNet VGG19 weights (needs internet, once)"
	@echo "make zh      - build the Chinese notebooks (notebooks/zh/) from locale/zh_CN/*.po"
	@echo "make zh-update - add new or changed English cells to the catalogs, for translators"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[test]"
	touch $(STAMP)

lab: $(STAMP)
	@echo "Starting JupyterLab on http://127.0.0.1:$(PORT) (open the link with the token printed below)"
	$(BIN)/jupyter lab --notebook-dir=notebooks --ServerApp.ip=127.0.0.1 --ServerApp.port=$(PORT) \
		--ServerApp.open_browser=False $(if $(filter 0,$(shell id -u)),--allow-root)

lint: $(STAMP)
	$(BIN)/ruff check .

test: $(STAMP) lint
	COURSE_FAST=1 $(BIN)/python -m pytest

html: $(STAMP)
	mkdir -p build/html
	COURSE_FAST=$(FAST) $(BIN)/jupyter nbconvert --to html --execute \
		--ExecutePreprocessor.timeout=1800 --output-dir build/html notebooks/*.ipynb

handout: $(STAMP)
	$(BIN)/python -m course_tools.classroom handout build/handout

styles: $(STAMP)
	$(BIN)/python -m course_tools.styles regenerate

weights: $(STAMP)
	$(BIN)/python -m course_tools.weights_cli fetch

gallery: $(STAMP)
	$(BIN)/python -m course_tools.gallery

zh: $(STAMP)
	$(BIN)/python -m course_tools.translate build --strict

zh-update: $(STAMP)
	$(BIN)/python -m course_tools.translate update

clean:
	rm -rf build .pytest_cache .ruff_cache
