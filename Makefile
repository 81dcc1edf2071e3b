# kiso — the one build file. Plain GNU make, no other build system.
#
#   make demo         the main job: text -> tokenizer -> pre-trained tiny GPT -> samples ->
#                     fine-tuned sentiment classifier vs scratch (CPU, train/demo.sh)
#   make              static library build/libkiso.a and the binaries build/kiso, build/kiso_tests
#   make test         builds and runs the doctest suite; ends with "N passed, N failed"
#   make gradcheck    table of every differentiable op: shapes, max abs/rel error, pass/fail
#   make bench        f32 matmul GFLOP/s against OpenBLAS, and layernorm/softmax/GELU timings
#   make bench-torch  kiso bench against PyTorch on this CPU, alternating, tokens/s and peak RSS
#                     (tests/bench; TORCH=debian|pypi|both, BENCH_TORCH_ARGS="--shapes tiny:16 ...")
#   make golden       regenerates tests/golden/tiny with the PyTorch reference (python3-torch)
#   make hf-export-reference  regenerates tests/gpt/data/hf_export (kiso export vs transformers;
#                     HF_PYTHON: a python with PyPI torch + transformers)
#   make debug        the test suite built with -O1 -g and SANITIZE=address,undefined
#   make fuzz         the libFuzzer targets of tests/fuzz (clang), FUZZ_SECONDS (60) each
#   make CUDA=0|1     CUDA build off/on (default: on when nvcc is found)
#   make MPI=0|1      multi-process training with Open MPI off/on (default: on; docs/distributed.md)
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
LDLIBS   := -lfmt -lpcre2-8 -licuuc -fopenmp

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
  LIB_SRC  += $(filter-out cuda/no_cuda.cpp cuda/no_nccl.cpp,$(wildcard cuda/*.cpp))
  CXXFLAGS += -DKISO_CUDA=1 -isystem $(CUDA_HOME)/include
  # NCCL is opened at run time (cuda/nccl.cpp): by the loader's search first, then from the toolkit
  # built with, whose lib64 is often not in that search. Only nccl.o needs to know the path.
  $(BUILD)/obj/cuda/nccl.o: CXXFLAGS += -DKISO_NCCL_FALLBACK='"$(CUDA_HOME)/lib64/libnccl.so.2"'
  # .cu files hold kernels and their launchers only; host logic (errors, fmt) is in cuda/*.cpp.
  NVFLAGS  := -std=c++20 -O3 -I. -DKISO_CUDA=1 -MMD -MP --expt-relaxed-constexpr \
              -gencode arch=compute_$(CUDA_ARCH),code=[sm_$(CUDA_ARCH),compute_$(CUDA_ARCH)] \
              -Xcompiler -Wall,-Wextra
  LDLIBS   += -L$(CUDA_HOME)/lib64 -lcudart_static -ldl -lrt -lpthread
else
  CU_SRC   :=
  LIB_SRC  += $(filter-out cuda/runtime.cpp cuda/nccl.cpp,$(wildcard cuda/*.cpp))
endif

# MPI (train/distributed.h): Open MPI from Debian's libopenmpi-dev, which .ci/install-deps
# installs; MPI=0 builds a kiso that runs as one process only (train/no_mpi.cpp). Only
# train/mpi.cpp includes mpi.h. The flags are asked of mpicc when a recipe runs (=, not :=),
# after install-deps has put it there.
MPI ?= 1
ifeq ($(MPI),1)
  LIB_SRC  := $(filter-out train/no_mpi.cpp,$(LIB_SRC))
  MPI_LIBS  = $(shell mpicc --showme:link 2>/dev/null)
  $(BUILD)/obj/train/mpi.o: EXTRA_FLAGS = $(shell mpicc --showme:compile 2>/dev/null)
else
  LIB_SRC  := $(filter-out train/mpi.cpp,$(LIB_SRC))
  MPI_LIBS  =
endif

# The op kernels (cuda/kernels/*.cu) are compiled twice: by g++ against cuda/sim into every
# build (obj/sim/), so CI runs them, and by nvcc for the GPU (CU_SRC) in CUDA builds.
# The simulator's memory profile (cuda/sim/sim.h) sees each load and store of a simulated kernel
# through GCC's ThreadSanitizer instrumentation, whose hooks cuda/sim/sim.cpp defines (no TSan
# runtime is linked). AddressSanitizer excludes it, so a SANITIZE build has no profile.
ifeq ($(SANITIZE),)
  SIM_PROFILE_FLAGS := -fsanitize=thread --param=tsan-instrument-func-entry-exit=0
  CXXFLAGS += -DKISO_SIM_PROFILED=1
endif
SIM_OBJ   := $(patsubst %.cu,$(BUILD)/obj/sim/%.o,$(wildcard cuda/kernels/*.cu))
LIB_OBJ   := $(LIB_SRC:%.cpp=$(BUILD)/obj/%.o) $(CU_SRC:%.cu=$(BUILD)/obj/%.o) $(SIM_OBJ)
TEST_SRC  := $(filter-out tests/reference/% tests/fuzz/%,$(wildcard tests/*.cpp tests/*/*.cpp))
TEST_OBJ  := $(TEST_SRC:%.cpp=$(BUILD)/obj/%.o)
KISO_OBJ  := $(BUILD)/obj/train/kiso.o
BENCH_OBJ := $(BUILD)/obj/train/bench_ops.o

# ---- fuzzing (tests/fuzz/README.md) ----
# libFuzzer targets, built by clang with ASan + UBSan into their own directory. Only the readers
# and what they link against are compiled (FUZZ_LIB_SRC), not the whole library, so that the
# short run in `make test` stays short; -ffunction-sections with lld's --gc-sections drops the
# code those files hold but the readers never reach (checkpoint.cpp's model loading), so its
# dependencies need not be built. A target that needs another file fails to link, naming it:
# add it here. _GLIBCXX_ASSERTIONS turns an out-of-range std::vector index into a finding too.
FUZZ_CXX      ?= clang++
FUZZ_BUILD    ?= build/fuzz
FUZZ_SECONDS  ?= 60
FUZZ_SMOKE_SECONDS ?= 2
FUZZ_OPT      ?= -O1 -gline-tables-only
FUZZ_FLAGS    := -std=c++20 $(FUZZ_OPT) -I. -MMD -MP -D_GLIBCXX_ASSERTIONS -fno-omit-frame-pointer \
                 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all \
                 -ffunction-sections -fdata-sections
FUZZ_LDFLAGS  := -fsanitize=fuzzer,address,undefined -fuse-ld=lld -Wl,--gc-sections
FUZZ_LIB_SRC  := gpt/json.cpp gpt/safetensors.cpp gpt/atomic_file.cpp gpt/tokenizer.cpp gpt/gpt1_text.cpp gpt/bpe_train.cpp \
                 gpt/config.cpp gpt/checkpoint.cpp gpt/tasks.cpp gpt/finetuned.cpp nn/block_config.cpp \
                 train/shards.cpp train/task_data.cpp train/task_layouts.cpp \
                 tensor/tensor.cpp tensor/profile.cpp cuda/device.cpp cuda/allocator.cpp cuda/no_cuda.cpp cuda/sim/sim.cpp \
                 cuda/kernels/copy.cu
FUZZ_LIB_OBJ  := $(addsuffix .o,$(basename $(FUZZ_LIB_SRC:%=$(FUZZ_BUILD)/obj/%)))
FUZZ_TARGETS  := $(basename $(notdir $(wildcard tests/fuzz/fuzz_*.cpp)))
FUZZ_BINS     := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/%)
# "yes" when $(FUZZ_CXX) links a libFuzzer program; probed only for the goals that use it.
FUZZ_READY    := $(if $(filter test fuzz fuzz-smoke,$(MAKECMDGOALS)),$(shell tests/fuzz/run-fuzz probe $(FUZZ_CXX)))

.PHONY: all deps demo test docs-check gradcheck bench bench-torch golden hf-export-reference debug fuzz fuzz-deps fuzz-build fuzz-corpus fuzz-smoke clean
all: $(BUILD)/libkiso.a $(BUILD)/kiso $(BUILD)/kiso_tests

deps:
	@.ci/install-deps

# The profile test's kernels carry the simulator's access hooks, as cuda/kernels/ do.
$(BUILD)/obj/tests/cuda/sim_profile_kernels.o: CXXFLAGS += $(SIM_PROFILE_FLAGS)

# The command files are glue around the library (parse flags, call, print), and CLI11 is a
# header-only library whose inline code each of them compiles again: at -O3 that took 18 s a file
# (train/commands/plot.cpp), at -O1 10 s, about a minute and a half of a 2-core build. Nothing
# in them is hot, so they are built at -O1 (a later -O wins).
$(BUILD)/obj/train/commands/%.o $(BUILD)/obj/train/kiso.o: CXXFLAGS += -O1
# So are the tests that build a command line (tests/train/run_command.h includes CLI11).
CLI_TESTS := $(shell grep -l 'run_command.h' tests/*/*.cpp 2>/dev/null)
$(CLI_TESTS:%.cpp=$(BUILD)/obj/%.o): CXXFLAGS += -O1

# Tests read committed fixtures (tests/golden) relative to the source tree, wherever they run from.
$(BUILD)/obj/tests/%.o: CXXFLAGS += -DKISO_SOURCE_DIR='"$(CURDIR)"'

$(BUILD)/obj/%.o: %.cpp | deps
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) $(EXTRA_FLAGS) -c $< -o $@

$(BUILD)/obj/%.o: %.cu | deps
	@mkdir -p $(dir $@)
	$(NVCC) $(NVFLAGS) -c $< -o $@

$(BUILD)/obj/sim/%.o: %.cu | deps
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) $(SIM_PROFILE_FLAGS) -x c++ -c $< -o $@

$(BUILD)/libkiso.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/kiso: $(KISO_OBJ) $(BUILD)/libkiso.a
	$(CXX) $(CXXFLAGS) $^ -o $@ $(LDLIBS) $(MPI_LIBS)

$(BUILD)/kiso_tests: $(TEST_OBJ) $(BUILD)/libkiso.a
	$(CXX) $(CXXFLAGS) $^ -o $@ $(LDLIBS) $(MPI_LIBS)

demo:
	@train/demo.sh

# kiso too: tests/train/test_crash.cpp runs the binary beside kiso_tests as a child process.
# With clang and libFuzzer present, the suite also replays the fuzz seeds and regression
# inputs and fuzzes each target briefly (fuzz-smoke below); its targets count in the last line.
# The world of a build without MPI (train/no_mpi.cpp) is compiled too, unlinked, so that the
# suite's build (MPI=1) notices when it no longer matches train/distributed.h.
NO_MPI_CHECK := $(if $(filter 1,$(MPI)),$(BUILD)/obj/train/no_mpi.o)

test: $(BUILD)/kiso_tests $(BUILD)/kiso $(NO_MPI_CHECK) $(if $(FUZZ_READY),$(FUZZ_BINS))
	@$(if $(FUZZ_READY),true,echo "fuzz: skipped: no $(FUZZ_CXX) that links libFuzzer with lld (make fuzz-deps installs them)")
	@tests/run-suite $(if $(FUZZ_READY),--also "tests/fuzz/run-fuzz smoke $(FUZZ_BUILD) $(FUZZ_SMOKE_SECONDS) $(FUZZ_TARGETS)") $(BUILD)/kiso_tests

# Every command of docs/walkthrough.md (and its Japanese twin), the slow ones too; make test runs
# the fast ones (tests/docs/test_walkthrough.cpp).
docs-check: $(BUILD)/kiso_tests $(BUILD)/kiso
	KISO_DOCS_ALL=1 $(BUILD)/kiso_tests -ts=docs

gradcheck: $(BUILD)/kiso
	$(BUILD)/kiso gradcheck

# OpenBLAS is only the yardstick of the benchmark; the engine never links it.
bench:
	@.ci/install-deps libopenblas-dev
	@$(MAKE) --no-print-directory $(BUILD)/bench_ops
	$(BUILD)/bench_ops

$(BUILD)/bench_ops: $(BENCH_OBJ) $(BUILD)/libkiso.a
	$(CXX) $(CXXFLAGS) $^ -o $@ $(LDLIBS) $(MPI_LIBS) -lopenblas

# PyTorch is only the yardstick of the comparison; the engine never uses it. TORCH chooses the
# builds: Debian's python3-torch (1.13 on OpenBLAS), the PyPI wheel in $(TORCH_VENV) (MKL and
# oneDNN; ~5 GB with the CUDA libraries it depends on), or both (tests/bench/README.md).
TORCH ?= both
TORCH_VENV ?= build/torch-venv
bench-torch: $(BUILD)/kiso
	@args=$$(tests/bench/install-torch $(TORCH) $(TORCH_VENV)) && \
	  tests/bench/compare-torch --kiso $(BUILD)/kiso $$args --json $(BUILD)/bench-torch.json $(BENCH_TORCH_ARGS)

# The golden files are committed, so `make test` needs no Python; this rewrites them.
GOLDEN := tests/golden/tiny
golden: $(BUILD)/make_fixture
	@.ci/install-deps python3-torch
	$(BUILD)/make_fixture $(GOLDEN)
	/usr/bin/python3 tests/reference/gpt1_reference.py $(GOLDEN)

$(BUILD)/make_fixture: $(BUILD)/obj/tests/reference/make_fixture.o $(BUILD)/libkiso.a
	$(CXX) $(CXXFLAGS) $^ -o $@ $(LDLIBS) $(MPI_LIBS)

# `kiso export`'s fixture, committed too: the tiny fine-tuned models, their exports in every form
# their task has, then transformers' logits on them (tests/reference/make_hf_export_reference.py).
HF_EXPORT := tests/gpt/data/hf_export
HF_PYTHON ?= build/torch-venv/bin/python
hf-export-reference: $(BUILD)/make_hf_export_fixture $(BUILD)/kiso
	rm -rf $(HF_EXPORT)
	$(BUILD)/make_hf_export_fixture $(HF_EXPORT)
	for t in classification similarity; do for f in sequence-classification double-heads; do \
	  $(BUILD)/kiso export --model $(HF_EXPORT)/$$t/model --out $(HF_EXPORT)/$$t/$$f --as $$f || exit 1; done; done
	$(BUILD)/kiso export --model $(HF_EXPORT)/multiple-choice/model --out $(HF_EXPORT)/multiple-choice/double-heads
	$(BUILD)/kiso export --model $(HF_EXPORT)/gpt1-entailment/model --out $(HF_EXPORT)/gpt1-entailment/sequence-classification
	$(HF_PYTHON) tests/reference/make_hf_export_reference.py $(HF_EXPORT)

$(BUILD)/make_hf_export_fixture: $(BUILD)/obj/tests/reference/make_hf_export_fixture.o $(BUILD)/libkiso.a
	$(CXX) $(CXXFLAGS) $^ -o $@ $(LDLIBS) $(MPI_LIBS)

# ASan reserves the address range CUDA's runtime wants; protect_shadow_gap=0 lets both live.
debug:
	@$(MAKE) --no-print-directory BUILD=build/debug OPT="-O1 -g" SANITIZE=address,undefined build/debug/kiso_tests build/debug/kiso
	@ASAN_OPTIONS=protect_shadow_gap=0:detect_leaks=1 tests/run-suite build/debug/kiso_tests

# ---- fuzzing rules (the variables are above, with the others) ----
$(FUZZ_BUILD)/obj/%.o: %.cpp | deps
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(FUZZ_FLAGS) -c $< -o $@

$(FUZZ_BUILD)/obj/%.o: %.cu | deps
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(FUZZ_FLAGS) -x c++ -c $< -o $@

$(FUZZ_BUILD)/libkiso_fuzz.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/obj/tests/fuzz/fuzz_%.o $(FUZZ_BUILD)/libkiso_fuzz.a
	$(FUZZ_CXX) $(FUZZ_LDFLAGS) $^ -o $@ -lfmt -lpcre2-8 -licuuc

# clang, lld and the compiler-rt package holding libFuzzer (named after clang's major version).
fuzz-deps:
	@.ci/install-deps clang lld
	@.ci/install-deps libclang-rt-$$($(FUZZ_CXX) -dumpversion | cut -d. -f1)-dev

fuzz: fuzz-deps
	@$(MAKE) --no-print-directory fuzz-build
	@tests/fuzz/run-fuzz fuzz $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-build: $(FUZZ_BINS)

# The targets' objects are kept (make would delete them as intermediate files of a chain).
.SECONDARY: $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/obj/tests/fuzz/%.o)

# Rewrites the committed seed corpora (tests/fuzz/corpus) with kiso's own writers.
fuzz-corpus: $(FUZZ_BUILD)/make_corpus
	rm -rf tests/fuzz/corpus
	$(FUZZ_BUILD)/make_corpus tests/fuzz/corpus $(CURDIR)

$(FUZZ_BUILD)/make_corpus: $(FUZZ_BUILD)/obj/tests/fuzz/make_corpus.o $(FUZZ_BUILD)/libkiso_fuzz.a
	$(FUZZ_CXX) -fsanitize=address,undefined -fuse-ld=lld -Wl,--gc-sections $^ -o $@ -lfmt -lpcre2-8 -licuuc

# What `make test` runs: seeds and regressions replayed, FUZZ_SMOKE_SECONDS of fuzzing per target.
fuzz-smoke: $(FUZZ_BINS)
	@tests/fuzz/run-fuzz smoke $(FUZZ_BUILD) $(FUZZ_SMOKE_SECONDS) $(FUZZ_TARGETS)

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj $(FUZZ_BUILD)/obj -name '*.d' 2>/dev/null)
