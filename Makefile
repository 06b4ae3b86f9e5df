# atomr's development entry points. `make demo` and `make test` do all the
# set-up a fresh machine needs (system packages, Python packages, build).

PYTHON ?= python3
BUILD_DIR ?= build/cpp
PYTEST_ARGS ?=
FUZZ_DIR ?= build/fuzz
# Seconds each fuzz target runs in `make test` (a smoke run; raise it to hunt).
FUZZ_SECONDS ?= 20

.PHONY: deps build demo docs lint lint-static lint-stubs test test-cpp test-cpp-sanitize test-fuzz test-py sub-build sub-bench test-subinterpreters bench-subinterpreters soak soak-cluster soak-cluster-sim bench clean

deps:
	bash scripts/install-system-deps.sh
	$(PYTHON) -m pip install -q -r requirements-dev.txt

build: deps
	$(PYTHON) -m pip install -q --no-build-isolation -e .

demo: build
	$(PYTHON) examples/pingpong.py

test-cpp: deps
	cmake -S cpp -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD_DIR) -j2
	cd $(BUILD_DIR) && ctest --output-on-failure

test-cpp-sanitize: deps
	cmake -S cpp -B $(BUILD_DIR)-asan -DCMAKE_BUILD_TYPE=Debug -DATOMR_SANITIZE=ON
	cmake --build $(BUILD_DIR)-asan -j2
	cd $(BUILD_DIR)-asan && ctest --output-on-failure

# The libFuzzer targets in cpp/fuzz/, built with clang, ASan and UBSan, each run
# for FUZZ_SECONDS from its committed seed corpus (cpp/fuzz/corpus/<target>);
# what it finds goes to $(FUZZ_DIR)/corpus-<target>, the repo's corpus stays as is.
test-fuzz: deps
	cmake -S cpp -B $(FUZZ_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
		-DATOMR_FUZZ=ON -DBUILD_TESTING=OFF
	cmake --build $(FUZZ_DIR) -j2 --target ddata_wire_fuzz remote_frame_fuzz cluster_gossip_fuzz \
		stream_link_fuzz cluster_protocol_fuzz
	mkdir -p $(FUZZ_DIR)/corpus-ddata_wire $(FUZZ_DIR)/corpus-remote_frame \
		$(FUZZ_DIR)/corpus-cluster_gossip $(FUZZ_DIR)/corpus-stream_link \
		$(FUZZ_DIR)/corpus-cluster_protocol
	$(FUZZ_DIR)/ddata_wire_fuzz -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 $(FUZZ_DIR)/corpus-ddata_wire cpp/fuzz/corpus/ddata_wire
	$(FUZZ_DIR)/remote_frame_fuzz -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 $(FUZZ_DIR)/corpus-remote_frame cpp/fuzz/corpus/remote_frame
	$(FUZZ_DIR)/cluster_gossip_fuzz -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 $(FUZZ_DIR)/corpus-cluster_gossip cpp/fuzz/corpus/cluster_gossip
	$(FUZZ_DIR)/stream_link_fuzz -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 $(FUZZ_DIR)/corpus-stream_link cpp/fuzz/corpus/stream_link
	$(FUZZ_DIR)/cluster_protocol_fuzz -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 $(FUZZ_DIR)/corpus-cluster_protocol cpp/fuzz/corpus/cluster_protocol

test-py: build
	$(PYTHON) -m pytest $(PYTEST_ARGS)

# python-subinterpreter-pool needs Python 3.12+ (own-GIL subinterpreters):
# `sub-build` builds the tree in place for pyenv's 3.12 (its extensions carry
# the cpython-312 tag, beside the default build's; ccache keeps rebuilds
# short) with a venv in build/py312 for its packages, and
# `test-subinterpreters` runs the pool tests there. SUB_PYTHON names another
# 3.12+ interpreter; bench-subinterpreters races on 3.12 and on 3.13.
PYENV_VERSIONS = $(or $(PYENV_ROOT),$(HOME)/.pyenv)/versions
SUB_PYTHON ?= $(lastword $(wildcard $(PYENV_VERSIONS)/3.12*/bin/python3))
SUB_PYTHONS ?= $(SUB_PYTHON) $(lastword $(wildcard $(PYENV_VERSIONS)/3.13*/bin/python3))
SUB_VENV = build/py$(shell $(SUB_PYTHON) -c 'import sys; print("%d%d" % sys.version_info[:2])')
SUB_PACKAGES = setuptools wheel Cython==3.3.1 "msgpack>=1" "pytest>=8" "pytest-asyncio>=0.23" \
	"pytest-timeout>=2" "pytest-benchmark>=4"
SUB_CC = $(if $(shell command -v ccache),CCACHE_NOHASHDIR=1 CCACHE_BASEDIR=$(CURDIR) CC="ccache gcc" CXX="ccache g++")

sub-build: build
	@test -n "$(SUB_PYTHON)" || { echo "no Python 3.12+ under $(PYENV_VERSIONS): set SUB_PYTHON"; exit 1; }
	[ -x $(SUB_VENV)/bin/python ] || $(SUB_PYTHON) -m venv $(SUB_VENV)
	$(SUB_VENV)/bin/python -m pip install -q $(SUB_PACKAGES)
	$(SUB_CC) $(SUB_VENV)/bin/python setup.py -q build_ext --inplace -j2

test-subinterpreters: sub-build
	$(SUB_VENV)/bin/python -m pytest -q -p no:cacheprovider tests/pools/test_subinterpreter_pool.py \
		tests/pools/test_subinterpreter_runtime.py \
		tests/pools/test_subinterp_channels.py tests/pools/test_subinterp_core.py \
		tests/pools/test_interpreter_api.py \
		tests/pools/test_inference_example.py

bench-subinterpreters: build
	for py in $(SUB_PYTHONS); do \
		$(MAKE) --no-print-directory SUB_PYTHON=$$py sub-build && \
		$(MAKE) --no-print-directory SUB_PYTHON=$$py sub-bench || exit 1; \
	done

sub-bench:
	$(SUB_VENV)/bin/python -m pytest -q -p no:cacheprovider benchmarks/test_bench_subpools.py

# Longer robustness runs than `make test` affords: one million random and
# mutated frames fired at a live system's port (tests/remote/test_garbage_frames.py).
soak: build
	ATOMR_GARBAGE_FRAMES=1000000 $(PYTHON) -m pytest -q -s tests/remote/test_garbage_frames.py

# SOAK_PROCESSES real processes on this machine form one cluster over loopback
# (scripts/cluster_soak.py): time to convergence and memory per node.
SOAK_PROCESSES ?= 50
soak-cluster: build
	$(PYTHON) scripts/cluster_soak.py --nodes $(SOAK_PROCESSES)

# A simulated 1,000-node cluster under virtual time (cpp/tests/cluster_soak):
# rounds to convergence against log2(N) and the wall time. SOAK_NODES sets N.
SOAK_NODES ?= 1000
soak-cluster-sim: deps
	cmake -S cpp -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD_DIR) -j2 --target cluster_sim_soak
	$(BUILD_DIR)/cluster_sim_soak $(SOAK_NODES)

# The lint gate (scripts/lint.sh): the static checks first, so a lint error
# fails `make test` before anything is built; stubtest needs the built extension.
lint: lint-static lint-stubs

lint-static: deps
	PYTHON=$(PYTHON) bash scripts/lint.sh ruff mypy mypy-docs cython-lint clang-format imports

lint-stubs: build
	PYTHON=$(PYTHON) bash scripts/lint.sh stubtest

# The documentation site (mkdocs.yml), strictly: a broken link, a missing
# page or a missing example snippet fails. Output: build/site.
docs: deps
	NO_MKDOCS_2_WARNING=1 $(PYTHON) -m mkdocs build --strict

test: lint test-cpp test-py test-subinterpreters test-fuzz docs

bench: build
	$(PYTHON) -m tox -e bench

clean:
	rm -rf build atomr/_native/*.so atomr/_native/_core.cpp *.egg-info .tox .mypy_cache .ruff_cache
