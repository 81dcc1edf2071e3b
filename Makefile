# kiso — the one build file. Plain GNU make, no other build system.
#
#   make demo         the main job: text -> tokenizer -> pre-trained tiny GPT -> samples ->
#                     fine-tuned sentiment classifier vs scratch (CPU, train/demo.sh)
#   make              static library build/libkiso.a and the binaries build/kiso, build/kiso_tests
#   make test         builds and runs the doctest suite; ends with "N passed, N failed"
#   make gradcheck    table of every differentiable op: shapes, max abs/rel error, pass/fail
#   make bench        f32 matmul GFLOP/s against OpenBLAS, and layernorm/softmax/GELU timings
#   make golden       regenerates tests/golden/tiny with the PyTorch reference (python3-torch)
#   make debug        the test suite built with -O1 -g and SANITIZE=address,undefined
#   make CUDA=0|1     CUDA build off/on (default: on when nvcc is found)
#
# Every target that compiles first runs .ci/install-deps, which apt-gets what is missing.

# Every core unless the caller chose (make -j N): CI's `make test` is one plain make call, and a
# serial build was most of its time on the 2-core CI machine.
ifeq ($(filter -j%,$(MAKEFLAGS)),)
  MAKEFLAGS += -j$(shell nproc)
endif

BUILD    ?= build
OPT      ?= -O3 -march=native
SANITIZE ?=
NVCC     ?= $(shell command -v nvcc 2>/dev/null || echo /usr/local/cuda/bin/nvcc)
CUDA     ?= $(if $(shell command -v nvcc 2>/dev/null || ls /usr/local/cuda/bin/nvcc 2>/dev/null),1,0)
CUDA_ARCH ?= 90
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))

CXX      := g++
CXXFLAGS := -std=c++20 $(OPT) -Wall -Wextra -fopenmp -DEIGEN_DONT_PARALLELIZE -I. -isystem /usr/include/eigen3 -MMD -MP
LDLIBS   := -lfmt -lpcre2-8 -fopenmp

ifneq ($(SANITIZE),)
  CXXFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
  LDLIBS   += -fsanitize=$(SANITIZE)
endif

# train/ holds the command line's building blocks and its commands (train/commands/, so tests
# can run them); only its two programs stay out of the library.
LIB_SRC := $(wildcard tensor/*.cpp autograd/*.cpp nn/*.cpp gpt/*.cpp cuda/sim/*.cpp) \
           $(filter-out train/kiso.cpp train/bench_ops.cpp,$(wildcard train/*.cpp train/commands/*.cpp))
ifeq ($(CUDA),1)
  CU_SRC   := $(wildcard cuda/*.cu cuda/kernels/*.cu)
  LIB_SRC  += $(filter-out cuda/no_cuda.cpp,$(wildcard cuda/*.cpp))
  CXXFLAGS += -DKISO_CUDA=1 -isystem $(CUDA_HOME)/include
  # .cu files hold kernels and their launchers only; host logic (errors, fmt) is in cuda/*.cpp.
  NVFLAGS  := -std=c++20 -O3 -I. -DKISO_CUDA=1 -MMD -MP --expt-relaxed-constexpr \
              -gencode arch=compute_$(CUDA_ARCH),code=[sm_$(CUDA_ARCH),compute_$(CUDA_ARCH)] \
              -Xcompiler -Wall,-Wextra
  LDLIBS   += -L$(CUDA_HOME)/lib64 -lcudart_static -ldl -lrt -lpthread
else
  CU_SRC   :=
  LIB_SRC  += $(filter-out cuda/runtime.cpp,$(wildcard cuda/*.cpp))
endif

# The op kernels (cuda/kernels/*.cu) are compiled twice: by g++ against cuda/sim into every
# build (obj/sim/), so CI runs them, and by nvcc for the GPU (CU_SRC) in CUDA builds.
SIM_OBJ   := $(patsubst %.cu,$(BUILD)/obj/sim/%.o,$(wildcard cuda/kernels/*.cu))
LIB_OBJ   := $(LIB_SRC:%.cpp=$(BUILD)/obj/%.o) $(CU_SRC:%.cu=$(BUILD)/obj/%.o) $(SIM_OBJ)
TEST_SRC  := $(filter-out tests/reference/%,$(wildcard tests/*.cpp tests/*/*.cpp))
TEST_OBJ  := $(TEST_SRC:%.cpp=$(BUILD)/obj/%.o)
KISO_OBJ  := $(BUILD)/obj/train/kiso.o
BENCH_OBJ := $(BUILD)/obj/train/bench_ops.o

.PHONY: all deps demo test gradcheck bench golden debug clean
all: $(BUILD)/libkiso.a $(BUILD)/kiso $(BUILD)/kiso_tests

deps:
	@.ci/install-deps

# Tests read committed fixtures (tests/golden) relative to the source tree, wherever they run from.
$(BUILD)/obj/tests/%.o: CXXFLAGS += -DKISO_SOURCE_DIR='"$(CURDIR)"'

$(BUILD)/obj/%.o: %.cpp | deps
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -c $< -o $@

$(BUILD)/obj/%.o: %.cu | deps
	@mkdir -p $(dir $@)
	$(NVCC) $(NVFLAGS) -c $< -o $@

$(BUILD)/obj/sim/%.o: %.cu | deps
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -x c++ -c $< -o $@

$(BUILD)/libkiso.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/kiso: $(KISO_OBJ) $(BUILD)/libkiso.a
	$(CXX) $(CXXFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/kiso_tests: $(TEST_OBJ) $(BUILD)/libkiso.a
	$(CXX) $(CXXFLAGS) $^ -o $@ $(LDLIBS)

demo:
	@train/demo.sh

# kiso too: tests/train/test_crash.cpp runs the binary beside kiso_tests as a child process.
test: $(BUILD)/kiso_tests $(BUILD)/kiso
	@tests/run-suite $(BUILD)/kiso_tests

gradcheck: $(BUILD)/kiso
	$(BUILD)/kiso gradcheck

# OpenBLAS is only the yardstick of the benchmark; the engine never links it.
bench:
	@.ci/install-deps libopenblas-dev
	@$(MAKE) --no-print-directory $(BUILD)/bench_ops
	$(BUILD)/bench_ops

$(BUILD)/bench_ops: $(BENCH_OBJ) $(BUILD)/libkiso.a
	$(CXX) $(CXXFLAGS) $^ -o $@ $(LDLIBS) -lopenblas

# The golden files are committed, so `make test` needs no Python; this rewrites them.
GOLDEN := tests/golden/tiny
golden: $(BUILD)/make_fixture
	@.ci/install-deps python3-torch
	$(BUILD)/make_fixture $(GOLDEN)
	/usr/bin/python3 tests/reference/gpt1_reference.py $(GOLDEN)

$(BUILD)/make_fixture: $(BUILD)/obj/tests/reference/make_fixture.o $(BUILD)/libkiso.a
	$(CXX) $(CXXFLAGS) $^ -o $@ $(LDLIBS)

# ASan reserves the address range CUDA's runtime wants; protect_shadow_gap=0 lets both live.
debug:
	@$(MAKE) --no-print-directory BUILD=build/debug OPT="-O1 -g" SANITIZE=address,undefined build/debug/kiso_tests build/debug/kiso
	@ASAN_OPTIONS=protect_shadow_gap=0:detect_leaks=1 tests/run-suite build/debug/kiso_tests

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
