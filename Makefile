# The two commands a new user needs: `make run` and `make test`. Both create .venv themselves.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint install clean rasa rasa-model bench

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Start the server on the embedded defaults (SQLite + embedded Redis under data/).
run: $(STAMP)
	$(BIN)/yichuang serve

## Install what the tests need and run them (lint first: a lint error fails fast).
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

## Rasa 3.6 (Python 3.10 only) beside the built-in NLU: a venv outside the clone, reused across clones.
RASA_VERSION := 3.6.21
# The first python3.10 that really runs (a pyenv shim for an inactive version exists but refuses to).
PYTHON310    ?= $(shell for p in $$(command -v python3.10) $$HOME/.pyenv/versions/3.10*/bin/python3.10; do \
                  "$$p" -c "" 2>/dev/null && echo "$$p" && break; done)
RASA_VENV    ?= $(HOME)/.cache/yichuang/rasa-$(RASA_VERSION)
RASA_DIR     ?= $(HOME)/.cache/yichuang/rasa-project
RASA_PORT    ?= 5005

$(RASA_VENV)/.installed:
	@test -n "$(PYTHON310)" || { echo "Rasa $(RASA_VERSION) needs Python 3.10 (Rasa does not support 3.11); install it, e.g. with pyenv."; exit 1; }
	$(PYTHON310) -m venv $(RASA_VENV)
	$(RASA_VENV)/bin/pip install --quiet --upgrade pip
	$(RASA_VENV)/bin/pip install --quiet "rasa==$(RASA_VERSION)" jieba
	touch $@

## Export the training data as a Rasa project and train DIET on it (skipped when nothing changed).
rasa-model: $(STAMP) $(RASA_VENV)/.installed
	$(BIN)/yichuang nlu export-rasa $(RASA_DIR)
	cd $(RASA_DIR) && sha256sum data/nlu.yml config.yml > fingerprint.new && \
	if cmp -s fingerprint.new fingerprint && [ -f models/yichuang.tar.gz ]; then echo "Rasa model is up to date."; \
	else $(RASA_VENV)/bin/rasa train nlu --nlu data/nlu.yml --config config.yml --out models \
	       --fixed-model-name yichuang && mv fingerprint.new fingerprint; fi

## Serve the trained model on localhost for YICHUANG_NLU=rasa YICHUANG_RASA_URL=http://127.0.0.1:$(RASA_PORT)
rasa: rasa-model
	cd $(RASA_DIR) && $(RASA_VENV)/bin/rasa run --enable-api -m models/yichuang.tar.gz -i 127.0.0.1 -p $(RASA_PORT)

## Quick benchmarks (about 4 minutes, embedded defaults): load, WeChat safe mode, start-up and memory.
## PostgreSQL + Redis: make bench BENCH_BACKEND=server [BENCH_WORKERS=2] [BENCH_DATABASE_URL=… BENCH_REDIS_URL=…]
## With Rasa served by `make rasa`: make bench BENCH_RASA_URL=http://127.0.0.1:5005
BENCH_BACKEND  ?= embedded
BENCH_WORKERS  ?= 1
BENCH_SECONDS  ?= 30
BENCH_DATABASE_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/bench_load
BENCH_REDIS_URL    ?= redis://127.0.0.1:6379/11
BENCH_RASA_URL ?=
BENCH_SERVER_ARGS := --backend $(BENCH_BACKEND) --workers $(BENCH_WORKERS) \
                     $(if $(filter server,$(BENCH_BACKEND)),--database-url $(BENCH_DATABASE_URL) --redis-url $(BENCH_REDIS_URL))

bench: $(STAMP)
	$(BIN)/python bench/load.py $(BENCH_SERVER_ARGS) --duration $(BENCH_SECONDS) \
	    $(if $(BENCH_RASA_URL),--rasa-url $(BENCH_RASA_URL))
	$(BIN)/python bench/wechat.py $(BENCH_SERVER_ARGS) --duration $(BENCH_SECONDS)
	$(BIN)/python bench/memory.py --workers 1 $(if $(filter server,$(BENCH_BACKEND)),2 \
	    --database-url $(BENCH_DATABASE_URL) --redis-url $(BENCH_REDIS_URL))

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
