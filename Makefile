# SPDX-License-Identifier: BSD-3-Clause
# baton: the two set-up commands of the README, and a few helpers.
#
#   make demo   installs what is missing (apt-get), builds, runs the heat
#               equation job under mpirun -np 2 with pinned workers
#   make test   the same set-up, then the whole CTest suite
#
# Other targets: deps, build, test-asan, test-tsan, bench, install, clean.

SHELL := /bin/bash
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CI_BUILD := build/ci
RELEASE_BUILD := build/release
MPICH_BUILD := build/mpich
PREFIX ?= /usr/local
NP ?= 2

# Debian/Ubuntu packages baton builds and tests with.
PACKAGES := build-essential cmake pkg-config libhwloc-dev hwloc \
            libopenmpi-dev openmpi-bin libopenblas-dev gnuplot-nox \
            gfortran libpng-dev
# What only the test suite needs beyond them: MPICH beside Open MPI, clang
# for libFuzzer, Go for the channel baseline, Concurrency Kit, and the
# Debian packaging tools for the packaging test.
TEST_PACKAGES := libmpich-dev mpich clang libclang-rt-14-dev golang-go \
                 libck-dev dpkg-dev debhelper lintian fakeroot python3

# mpirun refuses root without these; set only on the demo's command line.
MPIRUN_ROOT := $(if $(filter 0,$(shell id -u)),OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1,)
MPIRUN_OVERSUB := $(shell [ $$(nproc) -lt $(NP) ] && echo OMPI_MCA_rmaps_base_oversubscribe=1)

.PHONY: all deps deps-test install-packages build release test test-asan test-tsan test-mpich fuzz demo bench install clean

all: build

deps:
	@$(MAKE) --no-print-directory install-packages WANT="$(PACKAGES)"

deps-test:
	@$(MAKE) --no-print-directory install-packages WANT="$(PACKAGES) $(TEST_PACKAGES)"

install-packages:
	@missing=""; for p in $(WANT); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "baton: installing$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

build: deps
	cmake --preset ci
	cmake --build --preset ci -j $(JOBS)

release: deps
	cmake --preset release
	cmake --build --preset release -j $(JOBS)

test: deps-test build
	ctest --preset ci

test-asan: deps
	cmake --preset asan
	cmake --build --preset asan -j $(JOBS)
	ctest --preset asan -L 'unit|topology' -j $(JOBS)

# TSan needs a fixed address layout on kernels with many mmap random bits.
test-tsan: deps
	cmake --preset tsan
	cmake --build --preset tsan -j $(JOBS)
	setarch $$(uname -m) -R ctest --preset tsan -L 'unit|topology' -j $(JOBS)

# The MPI label again against Debian's MPICH (beside Open MPI): its own
# build folder, mpicc.mpich and mpiexec.mpich.
test-mpich: deps-test
	cmake -S . -B $(MPICH_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DBATON_WERROR=ON -DBATON_BENCHMARKS=OFF \
	  -DMPI_C_COMPILER=$$(command -v mpicc.mpich) \
	  -DMPI_Fortran_COMPILER=$$(command -v mpif90.mpich) \
	  -DMPIEXEC_EXECUTABLE=$$(command -v mpiexec.mpich)
	cmake --build $(MPICH_BUILD) -j $(JOBS)
	ctest --test-dir $(MPICH_BUILD) -L mpi -j $(JOBS) --output-on-failure

# libFuzzer targets (tests/fuzz) in their own clang build, each run for
# FUZZ_SECONDS from its seed corpus (a copy: the corpus in git stays small).
# A crash leaves its input in build/fuzz/artifacts/. A fixed seed: the same
# inputs in the same order on every run, so CI does not draw a new finding by
# chance (a finding found on a machine of any speed is still kept).
FUZZ_BUILD := build/fuzz
FUZZ_SECONDS ?= 12
FUZZ_FLAGS := -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g -O1
fuzz: deps-test
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DBATON_FUZZ=ON -DBATON_MPI=OFF -DBATON_TESTS=OFF -DBATON_BENCHMARKS=OFF \
	  -DBATON_EXAMPLES=OFF -DCMAKE_C_FLAGS="$(FUZZ_FLAGS)"
	cmake --build $(FUZZ_BUILD) --target fuzz_all -j $(JOBS)
	@mkdir -p $(FUZZ_BUILD)/artifacts; set -e; \
	for t in $(FUZZ_BUILD)/tests/fuzz/fuzz_*; do \
	  [ -x "$$t" ] && [ -f "$$t" ] || continue; n=$$(basename $$t); \
	  rm -rf $(FUZZ_BUILD)/corpus/$$n; mkdir -p $(FUZZ_BUILD)/corpus/$$n; \
	  cp tests/fuzz/corpus/$$n/* $(FUZZ_BUILD)/corpus/$$n/ 2>/dev/null || true; \
	  echo "fuzz: $$n for $(FUZZ_SECONDS) s"; \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/fuzz/lsan.supp \
	  $$t -seed=1 -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
	    -artifact_prefix=$(FUZZ_BUILD)/artifacts/$$n- -print_final_stats=1 \
	    $(FUZZ_BUILD)/corpus/$$n 2>&1 | tail -n 12; \
	  test $${PIPESTATUS[0]} -eq 0; \
	done

demo: release
	$(MPIRUN_ROOT) $(MPIRUN_OVERSUB) mpirun -np $(NP) --bind-to core --map-by core \
	  $(RELEASE_BUILD)/examples/mpi_heat2d --out heat2d.png

bench: release
	benchmarks/run --build $(RELEASE_BUILD)

install: release
	cmake --install $(RELEASE_BUILD) --prefix $(PREFIX)

clean:
	rm -rf build
