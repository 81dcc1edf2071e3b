// train/distributed.cpp — agreed errors, the reducers and a step's gradients (see distributed.h).
// The world itself (MPI or one process) is train/mpi.cpp, or train/no_mpi.cpp in a build without
// MPI; NCCL is cuda/nccl.cpp. Nothing here includes mpi.h.
#include "train/distributed.h"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "cuda/nccl.h"
#include "cuda/runtime.h"
#include "tensor/ops.h"

namespace kiso {

bool dist::launched() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE"})
    if (std::getenv(name) != nullptr) return true;
  return false;
}

// ---- agreed errors ----

// Every rank says whether it failed; the lowest failing rank's message goes to all of them.
static void agree(bool failed, const std::string& message) {
  const int n = dist::size(), me = dist::rank();
  int64_t first = dist::allreduce_min(failed ? me : n);
  if (first == n) return;
  int64_t length = first == me ? int64_t(message.size()) : 0;
  dist::broadcast(&length, sizeof length, int(first));
  std::string text(size_t(length), '\0');
  if (first == me) text = message;
  dist::broadcast(text.data(), length, int(first));
  if (first != 0) text = fmt::format("rank {} of {}: {}", first, n, text);
  throw AgreedError(text, me != 0);
}

void together(const std::function<void()>& fn) {
  if (dist::size() == 1) return fn();
  bool failed = false;
  std::string message;
  try {
    fn();
  } catch (const AgreedError&) {
    throw;  // already agreed inside fn
  } catch (const std::exception& e) {
    failed = true, message = e.what();
  }
  agree(failed, message);
}

void on_root(const std::function<void()>& fn) {
  if (dist::size() == 1) return fn();
  together([&] {
    if (dist::is_root()) fn();
  });
}

void check_same_on_every_rank(const Parameters& params, const char* when) {
  if (dist::size() == 1) return;
  // FNV-1a over every parameter's bytes, as the host sees them. Two ranks whose weights differ in
  // one bit get different hashes (a false "same" needs a 64-bit collision).
  uint64_t h = 1469598103934665603ull;
  for (const NamedParameter& p : params) {
    Tensor host = p.variable->value().to(Device::cpu);
    const unsigned char* bytes = static_cast<const unsigned char*>(host.raw_data());
    size_t n = size_t(host.numel()) * dtype_size(host.dtype());
    for (size_t i = 0; i < n; ++i) h = (h ^ bytes[i]) * 1099511628211ull;
  }
  // Compared as two halves, each within int64's positive range.
  int64_t hi = int64_t(h >> 33), lo = int64_t(h & 0x1ffffffffull);
  bool same = dist::allreduce_max(hi) == dist::allreduce_min(hi) && dist::allreduce_max(lo) == dist::allreduce_min(lo);
  together([&] {
    check(same, "distributed", "the ranks' weights differ {} (a hash of every parameter): they must stay identical; "
          "this is a bug in kiso or a difference between the machines (another kiso binary, another CPU path). "
          "Please report it",
          when);
  });
}

// ---- reducers ----

namespace {

using Clock = std::chrono::steady_clock;

// MPI_Allreduce on host memory, one blocking call per gradient. A gradient on Device::cuda (the
// simulator, or a GPU without NCCL) goes to the host and back.
class MpiReducer : public Reducer {
 public:
  std::string name() const override { return "mpi"; }
  void start(Tensor& grad) override {
    check(grad.dtype() == DType::f32, "reduce", "gradients are summed in f32, got {}", to_string(grad.dtype()));
    if (!grad.is_cuda()) return dist::allreduce_sum(grad.data<float>(), grad.numel());
    std::vector<float> host(size_t(grad.numel()));
    size_t bytes = host.size() * sizeof(float);
    cuda::copy_device_to_host(host.data(), grad.raw_data(), bytes);
    dist::allreduce_sum(host.data(), int64_t(host.size()));
    cuda::copy_host_to_device(grad.raw_data(), host.data(), bytes);
  }
  void finish() override {}
};

// ncclAllReduce on device memory; the communicator's id goes from rank 0 to the others over MPI.
class NcclReducer : public Reducer {
 public:
  NcclReducer() {
    cuda::nccl::UniqueId id{};
    together([&] {
      if (dist::is_root()) id = cuda::nccl::unique_id();
    });
    dist::broadcast(id.data(), int64_t(id.size()), 0);
    together([&] { comm_ = std::make_unique<cuda::nccl::Communicator>(id, dist::size(), dist::rank()); });
  }
  std::string name() const override { return "nccl"; }
  void start(Tensor& grad) override {
    check(grad.dtype() == DType::f32 && grad.is_cuda(), "reduce", "NCCL sums f32 gradients on the GPU, got {} on {}",
          to_string(grad.dtype()), grad.is_cuda() ? "cuda" : "cpu");
    comm_->all_reduce_sum(grad.cuda_data<float>(), grad.numel());
  }
  void finish() override { comm_->wait(); }

 private:
  std::unique_ptr<cuda::nccl::Communicator> comm_;
};

}  // namespace

std::unique_ptr<Reducer> make_reducer(const std::string& kind, Device device) {
  check(kind == "auto" || kind == "none" || kind == "mpi" || kind == "nccl", "--reduce", "must be one of {}, got \"{}\"",
        kReduceKinds, kind);
  if (kind == "none") {
    check(dist::size() == 1, "--reduce", "none sums nothing, but this run has {} processes: each would train alone",
          dist::size());
    return nullptr;
  }
  if (kind == "auto") {
    if (dist::size() == 1) return nullptr;
    bool gpu = device == Device::cuda && !cuda::simulator_on() && cuda::nccl::status().loaded;
    return gpu ? std::unique_ptr<Reducer>(new NcclReducer()) : std::make_unique<MpiReducer>();
  }
  if (kind == "mpi") return std::make_unique<MpiReducer>();
  check(device == Device::cuda, "--reduce", "nccl sums gradients on GPUs: it needs --device cuda");
  return std::make_unique<NcclReducer>();
}

// ---- a step's gradients ----

StepGradients::StepGradients(const Parameters& params, Reducer* reducer) : params_(params), reducer_(reducer) {}

void StepGradients::backward(const Variable& loss, bool last) {
  // Micro-batch i > 0: the sum so far steps aside, so that this backward forms its own whole.
  if (micro_ > 0)
    for (const NamedParameter& p : params_)
      if (p.variable->grad().defined()) {
        earlier_[p.variable->id()] = p.variable->grad();
        p.variable->zero_grad();
      }
  {
    GradientReadyScope scope([&](Variable& leaf) { ready(leaf, last); });
    Variable(loss).backward();
  }
  // A parameter this backward did not reach keeps the earlier sum.
  for (const NamedParameter& p : params_)
    if (auto it = earlier_.find(p.variable->id()); it != earlier_.end()) {
      p.variable->accumulate_grad(it->second);
      earlier_.erase(it);
    }
  ++micro_;
}

void StepGradients::ready(Variable& leaf, bool last) {
  if (auto it = earlier_.find(leaf.id()); it != earlier_.end()) {
    // earlier + this micro-batch's whole gradient, into the gradient's own storage
    Tensor g = leaf.grad();
    add_inplace(g, it->second);
    earlier_.erase(it);
  }
  if (!last || reducer_ == nullptr) return;
  auto t0 = Clock::now();
  Tensor g = leaf.grad();
  reducer_->start(g);
  started_.insert(leaf.id());
  reduce_seconds_ += std::chrono::duration<double>(Clock::now() - t0).count();
}

void StepGradients::finish() {
  micro_ = 0;
  if (reducer_ == nullptr) return;
  auto t0 = Clock::now();
  // A trainable parameter the backward did not reach: its gradient is zero here, but the other
  // ranks may have one, and every rank must take part in the same sums.
  for (const NamedParameter& p : params_) {
    Variable& v = *p.variable;
    if (!v.requires_grad() || started_.count(v.id())) continue;
    if (!v.grad().defined()) v.accumulate_grad(zeros_like(v.value()));
    Tensor g = v.grad();
    reducer_->start(g);
  }
  reducer_->finish();
  started_.clear();
  reduce_seconds_ += std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace kiso
