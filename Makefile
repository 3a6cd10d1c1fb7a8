# Vigie: `make demo` and `make test` are the two commands for a fresh Debian 12 machine.
SHELL := /bin/bash
ORT_DYLIB_PATH ?= $(CURDIR)/.deps/onnxruntime/onnxruntime/capi/libonnxruntime.so.1.31.1
VIGIE_CLIP ?= $(CURDIR)/.deps/media/vtest.avi
export ORT_DYLIB_PATH VIGIE_CLIP
CARGO ?= cargo

.PHONY: setup build demo test bench check-config fmt fmt-check clippy lint

setup:
	@bash deploy/setup.sh

build: setup
	$(CARGO) build --release --locked

# Runs the engine on the real clip with the bundled model; prints the console URL.
demo: build
	deploy/demo.sh

# Unit tests, golden detector tests, and end-to-end tests of the real binary on real footage.
test: setup
	$(CARGO) build --release --locked --all-targets
	@mkdir -p target
	set -o pipefail; $(CARGO) test --release --locked --no-fail-fast -- --test-threads=1 2>&1 | tee target/test.log
	@awk '/^test result:/ {p += $$4; f += $$6} END {printf "summary: %d passed, %d failed\n", p, f}' target/test.log

bench: build
	./target/release/vigie bench --clip $(VIGIE_CLIP) --cameras 4

check-config: build
	./target/release/vigie check-config deploy/vigie.example.toml

fmt:
	$(CARGO) fmt --all

fmt-check:
	$(CARGO) fmt --all -- --check

# Lints every target (lib, bin, tests, benches); any warning fails.
clippy: setup
	$(CARGO) clippy --release --locked --all-targets -- -D warnings

lint: fmt-check clippy
