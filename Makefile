# Sovgate top-level commands. See README.md.
#   make run    build if needed and run the gateway on its development defaults
#   make test   build (normal and ASan+UBSan) and run the whole test suite
JOBS ?= 2
BUILD ?= build
ASAN ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_JOBS ?= 2
CMAKE_FLAGS ?=

.PHONY: all setup build build-asan test lint test-unit test-integration test-conformance test-wordpress test-containers fuzz test-fuzz run bench clean

# C sources checked by clang-format and cppcheck (the engine is added when it exists).
LINT_DIRS := $(wildcard src/*) tests/unit tests/llama tests/fake_upstream tests/fuzz
LINT_FILES = $(wildcard $(addsuffix /*.c,$(LINT_DIRS)) $(addsuffix /*.h,$(LINT_DIRS)))

all: build

setup:
	@scripts/setup

# Configuring needs the libraries scripts/setup installs: setup is an order-only prerequisite
# of each configure step, so `make -j2 build` on a fresh machine installs before cmake runs.
$(BUILD)/CMakeCache.txt: | setup
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS)

$(ASAN)/CMakeCache.txt: | setup
	cmake -S . -B $(ASAN) -DCMAKE_BUILD_TYPE=Debug -DSG_SANITIZE=ON $(CMAKE_FLAGS)

# The libFuzzer build (clang): tests/fuzz/run builds only the fuzz targets in it.
$(FUZZ_BUILD)/CMakeCache.txt: | setup
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSG_FUZZ=ON $(CMAKE_FLAGS)

build: setup $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j$(JOBS)

build-asan: setup $(ASAN)/CMakeCache.txt
	cmake --build $(ASAN) -j$(JOBS)

test: build build-asan
	$(MAKE) --no-print-directory lint test-unit test-integration test-conformance test-wordpress test-containers test-fuzz

lint:
	clang-format --dry-run -Werror $(LINT_FILES)
	cppcheck --quiet --std=c11 --enable=warning,portability,performance --inline-suppr \
	    --error-exitcode=1 -I src -D_GNU_SOURCE --suppress=missingIncludeSystem $(wildcard src/*)

test-unit:
	ctest --test-dir $(BUILD) --output-on-failure
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	    ctest --test-dir $(ASAN) --output-on-failure

# Integration tests run the sanitizer build: the daemon must stay clean (ASan, UBSan,
# LSan at exit) under every test.
test-integration:
	SOVGATE_BUILD=$(ASAN) /usr/bin/python3 -m pytest -q tests/integration
	# the 1,000 schema-constrained samples at full speed (the ASan run above takes 100)
	SOVGATE_BUILD=$(BUILD) /usr/bin/python3 -m pytest -q tests/integration/test_engine_tools.py \
	    -k test_schema_samples_always_validate

test-conformance:
	SOVGATE_BUILD=$(BUILD) tests/conformance/run

# The WordPress plugin: php -l on every PHP file, its unit tests (PHPUnit), and the
# end-to-end tests on a real WordPress with the gateway (tests/wordpress, about a minute).
test-wordpress:
	find wordpress tests/wordpress -name '*.php' -not -path '*/node_modules/*' -print0 | \
	    xargs -0 -n1 php -l -d display_errors=stderr >/dev/null
	phpunit -c tests/wordpress/unit/phpunit.xml
	SOVGATE_BUILD=$(BUILD) /usr/bin/python3 -m pytest -q tests/wordpress

# The container image and its stack in real containers (tests/containers, docs/deploy.md):
# scripts/build-image (no registry; a cached debootstrap base), then podman. Skipped, with
# the reason, only where podman or buildah cannot run at all.
test-containers: build
	SOVGATE_BUILD=$(BUILD) tests/containers/run

# libFuzzer (tests/fuzz/README.md): every target for FUZZ_SECONDS on a copy of its corpus;
# a crashing input is kept in tests/fuzz/regressions/<target>/ and fails the target.
fuzz: setup $(FUZZ_BUILD)/CMakeCache.txt
	SG_FUZZ_BUILD=$(FUZZ_BUILD) JOBS=$(JOBS) tests/fuzz/run --seconds $(FUZZ_SECONDS) --jobs $(FUZZ_JOBS)

# The CI form: every target at least 60 s, two at a time (7 targets: about 4 minutes,
# plus the build of build-fuzz the first time).
test-fuzz: setup $(FUZZ_BUILD)/CMakeCache.txt
	SG_FUZZ_BUILD=$(FUZZ_BUILD) JOBS=$(JOBS) tests/fuzz/run --ci --seconds $(FUZZ_SECONDS) --jobs 2

run: build
	scripts/run-dev

bench: build
	@for b in bench/*/run; do echo "== $$b"; $$b || exit 1; done

clean:
	rm -rf $(BUILD) $(ASAN) $(FUZZ_BUILD)
