// tests/cuda/test_optim_fused.cpp — the optimizer step in few launches: adamw_multi (every
// parameter in one launch per 40) against the per-parameter adamw kernel, gradient clipping's
// factor kept on the device against clip_grad_norm's scale-in-place, and the gradient norm's
// tree on cuda against the cpu's. Oracles: the per-parameter kernel (the plain path, kept for
// this) and the cpu. Tolerance 0 on the simulator: the same IEEE operations in the same order.
// On a GPU nvcc may contract a·b + c into an fma inside AdamW's moments (see test_kernels_nn.cpp):
// 8 ulp of T times (|value| + 1) there.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "cuda/sim/profile.h"
#include "tests/cuda/each_device.h"
#include "tensor/ops.h"

using namespace kiso;
using kiso::testing::on_each_device;

namespace {

double unit_roundoff(DType dtype) { return dtype == DType::f32 ? 0x1p-24 : 0x1p-53; }

// 45 parameters (more than the 40 one launch carries: two launches, the second starting its
// block numbering afresh) of sizes around the 4096-element chunk, and one of a single element.
std::vector<int64_t> parameter_sizes() {
  std::vector<int64_t> sizes;
  for (int k = 0; k < 45; ++k) sizes.push_back(k % 5 == 0 ? 4097 : k % 5 == 1 ? 1 : k % 5 == 2 ? 300 : 4096 + 7 * k);
  return sizes;
}

}  // namespace

TEST_SUITE("cuda") {

TEST_CASE("adamw_multi: every parameter in two launches gives the per-parameter kernel's bits, clip factor included") {
  on_each_device([&](const std::string& device) {
    CAPTURE(device);
    for (DType dtype : {DType::f32, DType::f64}) {
      CAPTURE(to_string(dtype));
      const double tol = device == "simulator" ? 0 : 8 * unit_roundoff(dtype);
      Generator gen{77};
      std::vector<int64_t> sizes = parameter_sizes();
      std::vector<Tensor> p, m, v, pr, mr, vr;  // fused, and the per-parameter oracle
      for (int64_t n : sizes) {
        p.push_back(randn({n}, gen, dtype).to(Device::cuda));
        m.push_back(zeros({n}, dtype, Device::cuda));
        v.push_back(zeros({n}, dtype, Device::cuda));
        pr.push_back(p.back().clone()), mr.push_back(m.back().clone()), vr.push_back(v.back().clone());
      }
      // Step 1 clips (max_norm 1 against a norm of ~√(sum of sizes) ≈ 300), step 2 does not
      // (max_norm 1e9: scale 1), step 3 without a factor at all.
      for (int64_t t = 1; t <= 3; ++t) {
        std::vector<Tensor> g, gr;
        for (int64_t n : sizes) g.push_back(randn({n}, gen, dtype).to(Device::cuda)), gr.push_back(g.back().clone());
        std::vector<AdamWSlot> slots;
        for (size_t k = 0; k < sizes.size(); ++k)
          slots.push_back({p[k], g[k], m[k], v[k], {1e-2, 0.9, 0.999, 1e-8, k % 2 ? 0.1 : 0.0, t}});
        double max_norm = t == 1 ? 1.0 : 1e9;
        ClipFactor f = t <= 2 ? clip_factor(g, max_norm) : ClipFactor{};
        std::vector<double> g0 = g[0].to_vector<double>();
        adamw_update(slots, f.scale);
        CHECK(g[0].to_vector<double>() == g0);  // the factor is applied as read, g stays as it was
        // the oracle: the norm read back, the gradients scaled in place, one kernel per parameter
        double norm = sum_of_squares(gr), scale = 1.0;
        norm = std::sqrt(norm);
        if (t <= 2 && max_norm / (norm + 1e-6) < 1) scale = max_norm / (norm + 1e-6);
        if (t == 1) CHECK(scale < 0.01);  // it really clips
        if (t <= 2) {
          CHECK(f.norm.item() == norm);
          CHECK(f.scale.item() == scale);
        }
        if (scale != 1.0) scale_inplace(gr, scale);
        for (size_t k = 0; k < sizes.size(); ++k)
          adamw_update(pr[k], gr[k], mr[k], vr[k], {1e-2, 0.9, 0.999, 1e-8, k % 2 ? 0.1 : 0.0, t});
      }
      for (size_t k = 0; k < sizes.size(); ++k) {
        CAPTURE(k);
        for (auto [got, want] : {std::pair{&p[k], &pr[k]}, std::pair{&m[k], &mr[k]}, std::pair{&v[k], &vr[k]}}) {
          std::vector<double> a = got->to_vector<double>(), b = want->to_vector<double>();
          for (size_t i = 0; i < a.size(); ++i) REQUIRE(std::abs(a[i] - b[i]) <= tol * (std::abs(b[i]) + 1));
        }
      }
    }
  });
}

TEST_CASE("adamw_multi: 26 parameters are one launch, 45 are two; the traffic is the per-parameter kernels'" *
          doctest::skip(!sim::profile_available())) {
  // What the fusion saves is launches, not bytes: each element is still read 4 times and
  // written 3 times (param, grad, m, v), so both ways move the same sectors.
  testing::SimulatorOn simulator;
  for (size_t count : {size_t(26), size_t(45)}) {
    Generator gen{5};
    std::vector<int64_t> sizes = parameter_sizes();
    sizes.resize(count);
    std::vector<AdamWSlot> slots;
    int64_t elements = 0;
    for (int64_t n : sizes) {
      Tensor p = randn({n}, gen).to(Device::cuda);
      slots.push_back({p, randn({n}, gen).to(Device::cuda), zeros({n}, DType::f32, Device::cuda),
                       zeros({n}, DType::f32, Device::cuda), {1e-3, 0.9, 0.999, 1e-8, 0.0, 1}});
      elements += n;
    }
    std::vector<sim::KernelProfile> f, plain;
    {
      sim::ProfileRecording recording;
      adamw_update(slots);
      f = recording.per_kernel();
    }
    {
      sim::ProfileRecording recording;
      for (AdamWSlot& a : slots) adamw_update(a.param, a.grad, a.m, a.v, a.h);
      plain = recording.per_kernel();
    }
    REQUIRE(f.size() == 1);
    REQUIRE(plain.size() == 1);
    CHECK(f[0].launches == (count + 39) / 40);
    CHECK(plain[0].launches == count);
    // 7 floats an element, each once: the compulsory bytes, and no more than a sector's rounding
    // per tensor and array above them.
    double compulsory = double(f[0].compulsory_load_bytes + f[0].compulsory_store_bytes);
    CHECK(compulsory >= 7.0 * 4 * double(elements));
    CHECK(double(f[0].sector_bytes()) == compulsory);
    CHECK(f[0].sector_bytes() == plain[0].sector_bytes());
  }
}

TEST_CASE("gradient norm: the cuda tree gives the cpu's bits; clip_factor keeps norm and scale on the device") {
  on_each_device([&](const std::string& device) {
    CAPTURE(device);
    Generator gen{3};
    std::vector<Tensor> xs;  // 45 tensors: two launches of chunk sums, f32 and f64 runs
    for (int64_t n : parameter_sizes()) xs.push_back(randn({n}, gen, xs.size() < 30 ? DType::f32 : DType::f64));
    std::vector<Tensor> xs_cuda;
    for (const Tensor& x : xs) xs_cuda.push_back(x.to(Device::cuda));
    double want = sum_of_squares(xs), got = sum_of_squares(xs_cuda);
    // Simulator: the same fmas and adds in the same tree, tolerance 0. GPU: the same IEEE fma
    // and adds too (fma is not a contraction choice here, it is written), so 0 as well.
    CHECK(got == want);
    CHECK(want > 1e5);  // ~1.4e5 elements of mean square 1
    ClipFactor f = clip_factor(xs_cuda, 10.0), c = clip_factor(xs, 10.0);
    CHECK(f.norm.is_cuda());
    CHECK(f.scale.is_cuda());
    CHECK(f.norm.item() == c.norm.item());
    CHECK(f.scale.item() == c.scale.item());
    CHECK(c.scale.item() == 10.0 / (std::sqrt(want) + 1e-6));
    CHECK(clip_factor(xs_cuda, 1e6).scale.item() == 1.0);  // under the max: nothing to clip
    xs_cuda[3] = full({5}, INFINITY, DType::f32, Device::cuda);
    ClipFactor bad = clip_factor(xs_cuda, 1.0);
    CHECK(std::isinf(bad.norm.item()));
    CHECK(bad.scale.item() == 1.0);  // an inf gradient is left for the trainer to judge
  });
}

}  // TEST_SUITE
