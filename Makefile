# Thin wrapper over CMake. `make run` and `make test` install what is
# missing (as root), configure, build, then run the daemon or the tests.
SAN     ?= 0
QUICK   ?= 0
FUZZ_SECONDS ?= 60
JOBS    ?= $(shell nproc)

ifeq ($(SAN),1)
BUILD   ?= build-san
CMAKE_FLAGS += -DSBX_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
else
BUILD   ?= build
CMAKE_FLAGS += -DCMAKE_BUILD_TYPE=RelWithDebInfo
endif

.PHONY: all deps configure build run test bench fuzz clean

all: build

deps:
	@scripts/deps.sh

configure: deps
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

run: build
	@scripts/run.sh $(BUILD)

test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

bench: build
	@scripts/bench.sh $(BUILD) $(QUICK)

fuzz: deps
	@cmake -S . -B build-fuzz -DSBX_FUZZ=ON -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug >/dev/null
	@cmake --build build-fuzz -j $(JOBS) --target fuzz_request
	@mkdir -p build-fuzz/corpus
	build-fuzz/fuzz_request -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
	    -print_final_stats=1 build-fuzz/corpus tests/fuzz/corpus

clean:
	rm -rf build build-san build-fuzz
