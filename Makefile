# Two commands for learners and teachers:
#   make lab    set up .venv (first time only) and open the course in JupyterLab
#   make test   set up .venv, then run the unit tests and every notebook in fast mode
# Everything runs from a bare machine with Python >= 3.10.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PORT   ?= 8888
# `make site` executes the notebooks in fast mode (small sizes, few steps); FAST=0 for full.
FAST   ?= 1
# A JupyterHub with nbgitpuller for the site's launch buttons (none when empty).
HUB_URL ?=

.PHONY: help lab test lint html site verify-imagenet handout classroom-test classroom-demo styles gallery weights clean zh zh-update

help:
	@echo "make lab     - open the course in JupyterLab (localhost, with a token); LANG=zh: in Chinese"
	@echo "make test    - unit tests + every notebook under nbval in fast mode (COURSE_FAST=1)"
	@echo "make site    - the course website in build/site/ (offline, fast mode; FAST=0 for full mode)"
	@echo "make html    - the same as make site"
	@echo "make verify-imagenet - run every notebook with the ImageNet weights, report in build/imagenet-report/"
	@echo "make handout - nbgrader's assignments from the notebooks: build/classroom/ (student versions in release/); LANG=zh: build/classroom-zh/ in Chinese"
	@echo "make classroom-test - JupyterHub + nbgitpuller + browser + nbgrader, and the hostile-submission tests"
	@echo "make classroom-demo - a local JupyterHub with an instructor and two students, to try the classroom"
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

# `make lab LANG=zh` opens the Chinese notebooks (notebooks/zh/) with JupyterLab's menus in
# Chinese (the zh-CN language pack; its own settings folder, so an English lab is untouched).
# Only a LANG given on make's command line counts, never the shell's locale.
LAB_DIR  := notebooks
LAB_ARGS :=
LAB_ENV  :=
HANDOUT  := classroom
HANDOUT_LANG := en
ifeq ($(origin LANG),command line)
ifeq ($(LANG),zh)
LAB_DIR  := notebooks/zh
HANDOUT  := classroom-zh
HANDOUT_LANG := zh
LAB_ARGS := --LabApp.user_settings_dir=build/lab-zh/user-settings
LAB_ENV  := LANG=C.UTF-8
else ifneq ($(LANG),en)
$(error LANG=$(LANG) is not a language of the course: use LANG=zh for Chinese, or leave it out)
endif
endif

lab: $(STAMP)
ifeq ($(LAB_DIR),notebooks/zh)
	mkdir -p build/lab-zh/user-settings/@jupyterlab/translation-extension
	echo '{"locale": "zh_CN"}' > build/lab-zh/user-settings/@jupyterlab/translation-extension/plugin.jupyterlab-settings
endif
	@echo "Starting JupyterLab on http://127.0.0.1:$(PORT) (open the link with the token printed below)"
	$(LAB_ENV) $(BIN)/jupyter lab --notebook-dir=$(LAB_DIR) --ServerApp.ip=127.0.0.1 --ServerApp.port=$(PORT) \
		--ServerApp.open_browser=False $(LAB_ARGS) $(if $(filter 0,$(shell id -u)),--allow-root)

lint: $(STAMP)
	$(BIN)/ruff check .

test: $(STAMP) lint
	COURSE_FAST=1 $(BIN)/python -m pytest

# Both languages, each page linking to its other-language twin: English in build/site/,
# Chinese (notebooks/zh, issue 19) in build/site/zh/.
site: $(STAMP)
	COURSE_FAST=$(FAST) COURSE_OFFLINE=1 COURSE_HUB_URL=$(HUB_URL) COURSE_SITE_SWITCH=1 $(BIN)/python -m course_tools.site build
	COURSE_FAST=$(FAST) COURSE_OFFLINE=1 COURSE_HUB_URL=$(HUB_URL) COURSE_SITE_SWITCH=1 $(BIN)/python -m course_tools.site build --lang zh_CN

html: site

verify-imagenet: $(STAMP)
	$(BIN)/python -m course_tools.imagenet_report

# nbgrader's course folder from the notebooks, then its student version of each (release/).
# LANG=zh: from the Chinese notebooks (notebooks/zh/), in build/classroom-zh/.
handout: $(STAMP)
	$(BIN)/python -m course_tools.classroom source build/$(HANDOUT) --lang $(HANDOUT_LANG)
	cd build/$(HANDOUT) && for a in source/nb*; do \
		PATH="$(abspath $(BIN)):$$PATH" nbgrader generate_assignment $$(basename $$a) --force || exit 1; done

# The classroom end to end (issue 17): hostile submissions graded by nbgrader under
# bubblewrap, then a JupyterHub with nbgitpuller, headless Chromium and the gradebook.
classroom-test: $(STAMP)
	COURSE_FAST=1 COURSE_CLASSROOM_TESTS=1 $(BIN)/python -m pytest tests/test_classroom.py tests/test_classroom_hub.py

classroom-demo: $(STAMP)
	$(BIN)/python -m course_tools.classroom demo

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
