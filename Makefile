# diffuse — the two set-up commands of the README, and the long runs.
#   make run    build, then serve the bundled default model on 127.0.0.1:8080
#   make test   build, then run every test (release and ASan+UBSan builds)
# Both install the Debian packages the project needs when they are missing.

JOBS ?= $(shell nproc)
BUILD ?= build
BUILD_ASAN ?= build-asan
BUILD_FUZZ ?= build-fuzz
DEFAULT_MODEL ?= models/shapes-128
FUZZ_SECONDS ?= 60

FULLSIZE_DIR ?= /tmp/diffuse-fullsize

.PHONY: all deps deps-test deps-bench configure build build-diffuse build-asan run test test-release test-asan fuzz soak bench bench-anchors bench-anchors-env fixtures fullsize clean train-shapes quality

all: build

# What building and running needs; deps-test adds what only the tests use
# (valgrind, chromium, the pytest venv's python3-venv).
deps:
	@bash scripts/install-deps.sh
deps-test:
	@bash scripts/install-deps.sh test

configure: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null

# Everything: the program, the library and every test binary.
build: configure
	@cmake --build $(BUILD) -j $(JOBS)

# The program alone (what `make run` runs).
build-diffuse: configure
	@cmake --build $(BUILD) -j $(JOBS) --target diffuse

build-asan: deps
	@cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=Debug -DDF_SANITIZE=ON >/dev/null
	@cmake --build $(BUILD_ASAN) -j $(JOBS)

# The main program: the server on the bundled model, data in the default
# directory of every diffuse command ($DIFFUSE_DATA, else ./diffuse-data), so
# `diffuse keys create` as the README shows it reaches this server.
run: build-diffuse
	./$(BUILD)/diffuse serve -m $(DEFAULT_MODEL) --listen 127.0.0.1:8080

test: test-release test-asan

test-release: deps-test build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-asan: deps-test build-asan
	cd $(BUILD_ASAN) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j $(JOBS)

# Bounded libFuzzer run of every fuzz target (needs clang).
fuzz:
	@bash scripts/install-deps.sh fuzz
	@cmake -S . -B $(BUILD_FUZZ) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DDF_FUZZ=ON >/dev/null
	@cmake --build $(BUILD_FUZZ) -j $(JOBS)
	bash tests/fuzz/run.sh $(BUILD_FUZZ) $(FUZZ_SECONDS)

# Load/soak test of the server (tests/soak/soak.py): 32 concurrent clients
# for SOAK_SECONDS against the release build; the report is written to
# tests/soak/last-run.txt, any failed check fails the target.
SOAK_SECONDS ?= 300
soak: deps-test build
	SOAK_SECONDS=$(SOAK_SECONDS) bash tests/soak/run.sh $(BUILD)/diffuse

# Side-by-side benchmarks against PyTorch, OpenVINO and stable-diffusion.cpp
# (knobs: ANCHORS, PRECISIONS, PARTS, STEPS, REPEAT, THREADS, SKIP_*; see
# bench/run.sh and BENCHMARKS.md). bench-anchors: the anchors table alone.
deps-bench:
	@bash scripts/install-deps.sh bench
bench: deps-bench build
	bash bench/run.sh
bench-anchors: deps-bench build-diffuse
	SKIP_DETAIL=1 bash bench/run.sh

# The anchors' virtualenvs (.venv-openvino, .venv-sdcpp; sd.cpp builds from
# source: 15-25 minutes on 2 cores).
bench-anchors-env:
	bash tools/venv_anchors.sh

# Retrains the bundled model from scratch (about 1.5-2 h on 2 cores; the
# work folder keeps each phase, so an interrupted run resumes), then checks it.
SHAPES_WORK ?= /tmp/diffuse-shapes-train
train-shapes:
	bash tools/venv.sh
	.venv-tools/bin/python tools/train_shapes_model.py --work $(SHAPES_WORK) \
	  --out $(DEFAULT_MODEL)

# The bundled model's accuracy per sampler (also part of make test).
quality: deps-test build-diffuse
	bash tests/quality/run.sh $(BUILD)/diffuse

# Regenerates the committed tiny models and every reference output (needs
# tools/venv.sh; the tiny models first, since the other tools read them).
FIXTURE_TOOLS = make_token_fixtures make_ftfy_tables make_ftfy_fixtures make_rng_fixtures \
  make_image_fixtures make_scheduler_fixtures make_weighting_fixtures make_model_fixtures \
  make_pipeline_fixtures make_sdxl_fixtures make_lora_fixtures
fixtures:
	bash tools/venv.sh
	HF_HUB_OFFLINE=1 .venv-tools/bin/python tools/make_fixtures.py --out tests/fixtures
	for tool in $(FIXTURE_TOOLS); do \
	  HF_HUB_OFFLINE=1 .venv-tools/bin/python tools/$$tool.py || exit 1; done

# Full-size random SD 1.5 / 2.1 / SD-Turbo-shaped checkpoints (exact names and
# shapes, both layouts) and a full-size TAESD in FULLSIZE_DIR (about 9 GB and
# 5 minutes), then loaded by `diffuse inspect` to prove the loader. The
# SDXL-shaped ones are big (about 14 GB and 3 minutes per model with both
# layouts; the refiner 12 GB), so only when asked (`diffuse inspect` needs the
# C side's SDXL support):
#   make fullsize FULLSIZE_SDXL="sdxl sdxl-refiner sdxl-turbo"
FULLSIZE_SDXL ?=
fullsize: build-diffuse
	bash tools/venv.sh
	for m in sd15 sd21 sd-turbo $(FULLSIZE_SDXL); do \
	  [ -e $(FULLSIZE_DIR)/$$m.safetensors ] || HF_HUB_OFFLINE=1 .venv-tools/bin/python \
	    tools/make_fullsize.py --model $$m --layout both --dtype f16 --out $(FULLSIZE_DIR) || exit 1; \
	  for p in $(FULLSIZE_DIR)/$$m $(FULLSIZE_DIR)/$$m.safetensors; do \
	    ./$(BUILD)/diffuse inspect $$p >/dev/null && echo "loaded $$p" || exit 1; done; \
	done
	[ -e $(FULLSIZE_DIR)/taesd/config.json ] || HF_HUB_OFFLINE=1 .venv-tools/bin/python \
	  tools/make_fullsize.py --model taesd --dtype f16 --out $(FULLSIZE_DIR)

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ)
