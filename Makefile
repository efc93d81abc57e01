# diffuse — the two set-up commands of the README, and the long runs.
#   make run    build, then start diffuse on the bundled default model
#   make test   build, then run every test (release and ASan+UBSan builds)
# Both install the Debian packages the project needs when they are missing.

JOBS ?= $(shell nproc)
BUILD ?= build
BUILD_ASAN ?= build-asan
BUILD_FUZZ ?= build-fuzz
DEFAULT_MODEL ?= tests/fixtures/tiny-sd1
FUZZ_SECONDS ?= 60

.PHONY: all deps build build-asan run test test-release test-asan fuzz bench fixtures clean

all: build

deps:
	@bash scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

build-asan: deps
	@cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=Debug -DDF_SANITIZE=ON >/dev/null
	@cmake --build $(BUILD_ASAN) -j $(JOBS)

run: build
	./$(BUILD)/diffuse inspect $(DEFAULT_MODEL)
	./$(BUILD)/diffuse encode -m $(DEFAULT_MODEL) "a photograph of an astronaut riding a horse"

test: test-release test-asan

test-release: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-asan: build-asan
	cd $(BUILD_ASAN) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j $(JOBS)

# Bounded libFuzzer run of every fuzz target (needs clang).
fuzz: deps
	@cmake -S . -B $(BUILD_FUZZ) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DDF_FUZZ=ON >/dev/null
	@cmake --build $(BUILD_FUZZ) -j $(JOBS)
	bash tests/fuzz/run.sh $(BUILD_FUZZ) $(FUZZ_SECONDS)

# Side-by-side benchmarks against PyTorch (needs tools/venv.sh; see BENCHMARKS.md).
bench: build
	bash bench/run.sh

# Regenerates the committed tiny models and reference outputs (needs tools/venv.sh).
fixtures:
	bash tools/venv.sh
	.venv-tools/bin/python tools/make_fixtures.py --out tests/fixtures

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ)
