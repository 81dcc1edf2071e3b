// tests/cuda/test_kernels_nn.cpp — parity of the rest of the CUDA op set with the CPU ops, on
// every device there is (the simulator always, the GPU when one is usable): fill, the shape
// ops, sum_to and add_inplace (autograd's plumbing), one_hot, embedding, cross-entropy, dropout,
// and the optimizer kernels. Sizes are odd and not multiples of the 256-thread blocks. Oracle:
// the CPU op on the same inputs; each tolerance is derived where it is used (0 where both
// sides move the same bits or do the same IEEE operations in the same order).
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "cuda/runtime.h"
#include "tests/cuda/each_device.h"
#include "tensor/ops.h"

using namespace kiso;
using kiso::testing::on_each_device;

namespace {

// A tensor's values on the host, as doubles, from either device and dtype.
std::vector<double> values(const Tensor& t) { return t.to_vector<double>(); }

// got must be a cuda tensor with want's shape and dtype, and every value equal (bit for bit,
// as doubles carry f32 and i32 values exactly).
void require_equal(const Tensor& got, const Tensor& want) {
  REQUIRE(got.is_cuda());
  REQUIRE(got.shape() == want.shape());
  REQUIRE(got.dtype() == want.dtype());
  std::vector<double> g = values(got), w = values(want);
  for (size_t i = 0; i < w.size(); ++i) {
    CAPTURE(i);
    REQUIRE(g[i] == w[i]);
  }
}

// Unit roundoff of a float dtype.
double unit_roundoff(DType dtype) { return dtype == DType::f32 ? 0x1p-24 : 0x1p-53; }

}  // namespace

TEST_SUITE("cuda") {

TEST_CASE("zeros, ones and full on cuda are filled on the device, every dtype") {
  on_each_device([&](const std::string& device) {
    CAPTURE(device);
    for (DType dtype : {DType::f32, DType::f64, DType::i32}) {
      require_equal(full({3, 101}, -2.5, dtype, Device::cuda), full({3, 101}, -2.5, dtype));
      require_equal(zeros({259}, dtype, Device::cuda), zeros({259}, dtype));
      require_equal(ones({}, dtype, Device::cuda), ones({}, dtype));
    }
  });
}

TEST_CASE("concat, slice, slice_backward, permute, transpose: cuda moves the cpu's bits") {
  // A copy does no arithmetic: tolerance 0, for each dtype (f64 elements are two words).
  on_each_device([&](const std::string& device) {
    CAPTURE(device);
    for (DType dtype : {DType::f32, DType::f64, DType::i32}) {
      CAPTURE(to_string(dtype));
      Generator gen{5};
      auto make = [&](const Shape& s) {
        Tensor x = randn(s, gen, DType::f64);
        return dtype == DType::i32 ? to_dtype(mul(x, 100.0), DType::i32) : to_dtype(x, dtype);
      };
      Tensor a = make({2, 3, 5}), b = make({2, 4, 5}), c = make({2, 1, 5});
      for (int64_t axis : {1, -2}) {
        Tensor got = concat({a.to(Device::cuda), b.to(Device::cuda), c.to(Device::cuda)}, axis);
        require_equal(got, concat({a, b, c}, axis));
      }
      Tensor x = make({3, 7, 13});
      for (int64_t axis : {0, 1, 2}) {
        require_equal(slice(x.to(Device::cuda), axis, 1, 3), slice(x, axis, 1, 3));
        Tensor dy = slice(x, axis, 1, 3);
        require_equal(slice_backward(dy.to(Device::cuda), x.shape(), axis, 1), slice_backward(dy, x.shape(), axis, 1));
      }
      Tensor big = make({5, 3, 2, 37});  // 1110 elements: five blocks, the last partly idle
      require_equal(permute(big.to(Device::cuda), {2, 0, 3, 1}), permute(big, {2, 0, 3, 1}));
      require_equal(transpose(big.to(Device::cuda), 1, 3), transpose(big, 1, 3));
    }
  });
}

TEST_CASE("concat refuses tensors on two devices, by name") {
  on_each_device([&](const std::string& device) {
    CAPTURE(device);
    Tensor a = zeros({2, 3}), b = zeros({2, 3}, DType::f32, Device::cuda);
    CHECK_THROWS_WITH_AS(concat({a, b}, 0), doctest::Contains("concat: tensor 1 is on cuda but tensor 0 is on cpu"),
                         Error);
  });
}

TEST_CASE("sum_to and add_inplace: cuda adds in the cpu's order, bit for bit") {
  // sum_to's thread for an output element adds its inputs in increasing flat index in T, the
  // order of the cpu loop; add_inplace is one IEEE add per element: tolerance 0.
  std::vector<std::pair<Shape, Shape>> cases = {{{7, 300}, {300}},        {{7, 300}, {7, 1}}, {{2, 3, 4, 5}, {3, 1, 5}},
                                                {{2, 3, 4, 5}, {1, 1}}, {{6, 5}, {}},       {{9}, {9}}};
  on_each_device([&](const std::string& device) {
    CAPTURE(device);
    for (DType dtype : {DType::f32, DType::f64})
      for (const auto& [xs, to] : cases) {
        CAPTURE(shape_str(xs));
        CAPTURE(shape_str(to));
        Generator gen{8};
        Tensor x = randn(xs, gen, dtype);
        require_equal(sum_to(x.to(Device::cuda), to), sum_to(x, to));
        Tensor dst = randn(xs, gen, dtype), src = randn(xs, gen, dtype);
        Tensor dst_cuda = dst.to(Device::cuda);
        add_inplace(dst_cuda, src.to(Device::cuda));
        add_inplace(dst, src);
        require_equal(dst_cuda, dst);
      }
  });
}

TEST_CASE("one_hot from cuda indices; out-of-range indices named as on the cpu") {
  on_each_device([&](const std::string& device) {
    CAPTURE(device);
    Tensor idx = from_vector(std::vector<int32_t>{4, 0, 299, 17, 4}, {5, 1});
    for (DType dtype : {DType::f32, DType::f64})
      require_equal(one_hot(idx.to(Device::cuda), 300, dtype), one_hot(idx, 300, dtype));
    CHECK_THROWS_WITH_AS(one_hot(idx.to(Device::cuda), 100, DType::f32),
                         doctest::Contains("one_hot: index 299 at row 2 is outside [0, 100)"), Error);
  });
}

TEST_CASE("embedding forward and backward: cuda equals the cpu bit for bit, repeated ids included") {
  // Forward copies rows. Backward: each id's positions are added in increasing order, in T,
  // starting from 0, exactly the cpu's additions: tolerance 0 although ids repeat.
  on_each_device([&](const std::string& device) {
    CAPTURE(device);
    for (DType dtype : {DType::f32, DType::f64}) {
      Generator gen{13};
      int64_t V = 37, C = 300;  // C > 256: a thread takes two channels of its row
      Tensor weight = randn({V, C}, gen, dtype);
      Tensor ids = from_vector(std::vector<int32_t>{3, 36, 3, 0, 5, 3, 36, 9, 0, 3}, {2, 5});
      Tensor got = embedding_forward(weight.to(Device::cuda), ids);  // ids from the host, as a batch is
      require_equal(got, embedding_forward(weight, ids));
      Tensor dout = randn({2, 5, C}, gen, dtype);
      require_equal(embedding_backward(dout.to(Device::cuda), ids.to(Device::cuda), V),
                    embedding_backward(dout, ids, V));
      Tensor bad = from_vector(std::vector<int32_t>{1, 37}, {2});
      CHECK_THROWS_WITH_AS(embedding_forward(weight.to(Device::cuda), bad.to(Device::cuda)),
                           doctest::Contains("embedding: id 37 at flat position 1 is out of range for a vocabulary "
                                             "of 37"),
                           Error);
    }
  });
}

TEST_CASE("cross-entropy forward and backward: cuda within the rounding bound of the cpu") {
  // Both sides form log_s - (x_t - m) per row; the cpu sums exp in T with Eigen, the kernel in
  // double, so a row's loss differs by the cpu's rounding of V exps and their sum, < 2·V·u·(1 +
  // |loss|) relative to log_s's argument, i.e. ≤ 2·V·u absolute on log_s plus u·|terms|. The mean
  // inherits it. dlogits = scale·(e^(x-m-log_s) - onehot): |Δ| ≤ scale·(2·V·u + 4u)·(p + 1).
  // With V = 301 and u = 2^-24 the bound is ~4e-5: a wrong sign, scale or row fails it.
  on_each_device([&](const std::string& device) {
    CAPTURE(device);
    for (DType dtype : {DType::f32, DType::f64}) {
      Generator gen{17};
      int64_t N = 9, V = 301;
      Tensor logits = mul(randn({N, V}, gen, dtype), 3.0);
      Tensor targets = from_vector(std::vector<int32_t>{0, 300, -100, 7, 7, 150, -100, 299, 1}, {N});
      double u = unit_roundoff(dtype), tol = (2 * double(V) + 8) * u;
      double want = cross_entropy_forward(logits, targets).item();
      Tensor got = cross_entropy_forward(logits.to(Device::cuda), targets);
      REQUIRE(got.is_cuda());
      REQUIRE(got.dim() == 0);
      CHECK(std::abs(got.item() - want) <= tol * (1 + std::abs(want)));
      std::vector<double> dg = values(cross_entropy_backward(logits.to(Device::cuda), targets.to(Device::cuda), 0.7));
      std::vector<double> dw = values(cross_entropy_backward(logits, targets, 0.7));
      double scale = 0.7 / 7;
      for (size_t i = 0; i < dw.size(); ++i) {
        CAPTURE(i);
        REQUIRE(std::abs(dg[i] - dw[i]) <= scale * tol * (1 + std::abs(dw[i]) / scale));
      }
      Tensor all_ignored = full({N}, -100, DType::i32);  // nothing to average: loss and gradient 0
      CHECK(cross_entropy_forward(logits.to(Device::cuda), all_ignored).item() == 0);
      for (double d : values(cross_entropy_backward(logits.to(Device::cuda), all_ignored, 1.0))) REQUIRE(d == 0);
    }
  });
}

TEST_CASE("dropout on cuda draws the cpu's mask from the same Philox stream") {
  // Same draws, same comparison, same one multiply: tolerance 0. An offset that is not 0 and a
  // stream that is not 0 check that the kernel reads the counter as the cpu does.
  on_each_device([&](const std::string& device) {
    CAPTURE(device);
    for (DType dtype : {DType::f32, DType::f64}) {
      Generator gen{23};
      Tensor x = randn({3, 333}, gen, dtype);
      PhiloxState state{99, 2, 4 * 1001};
      Tensor want = dropout(x, 0.3, state);
      require_equal(dropout(x.to(Device::cuda), 0.3, state), want);
      int64_t dropped = 0;
      for (double v : values(want)) dropped += v == 0;
      CHECK(dropped > 0);  // the mask really drops something here
    }
  });
}

TEST_CASE("AdamW, SGD, scale_inplace and sum_of_squares on cuda: the cpu's arithmetic") {
  // The same double expressions per element. The simulator runs them with the host's IEEE
  // operations: tolerance 0. nvcc may contract a·b + c into one fused multiply-add (one rounding
  // instead of two), so on a GPU a result may move by a few ulp of its terms (which may cancel,
  // as β1·m + (1 - β1)·g does) before the final rounding to T. The inputs are N(0, 1), so the
  // terms are O(1): 4 ulp of T times (|result| + 1), far below any change of the formula.
  on_each_device([&](const std::string& device) {
    CAPTURE(device);
    for (DType dtype : {DType::f32, DType::f64}) {
      double tol = device == "simulator" ? 0 : 8 * unit_roundoff(dtype);
      auto require_close = [&](const Tensor& got, const Tensor& want) {
        std::vector<double> g = values(got), w = values(want);
        REQUIRE(got.is_cuda());
        for (size_t i = 0; i < w.size(); ++i) REQUIRE(std::abs(g[i] - w[i]) <= tol * (std::abs(w[i]) + 1));
      };
      Generator gen{31};
      Shape s{5, 203};
      Tensor p = randn(s, gen, dtype), m = zeros(s, dtype), v = zeros(s, dtype);
      Tensor pc = p.to(Device::cuda), mc = m.to(Device::cuda), vc = v.to(Device::cuda);
      for (int64_t step = 1; step <= 3; ++step) {
        Tensor g = randn(s, gen, dtype);
        AdamWHyper h{1e-2, 0.9, 0.999, 1e-8, 0.1, step};
        adamw_update(p, g, m, v, h);
        adamw_update(pc, g.to(Device::cuda), mc, vc, h);
      }
      require_close(pc, p);
      require_close(mc, m);
      require_close(vc, v);

      Tensor q = randn(s, gen, dtype), buf, qc = q.to(Device::cuda), bufc;
      for (int step = 0; step < 2; ++step) {  // the first step creates the buffer, the second uses it
        Tensor g = randn(s, gen, dtype);
        sgd_update(q, g, buf, 0.1, 0.9, 0.01);
        sgd_update(qc, g.to(Device::cuda), bufc, 0.1, 0.9, 0.01);
      }
      require_close(qc, q);
      require_close(bufc, buf);

      scale_inplace(q, 0.37);
      scale_inplace(qc, 0.37);
      require_close(qc, q);

      Tensor big = randn({3 * 4096 + 17}, gen, dtype);  // four chunks, the last short
      double want = sum_of_squares(big), got = sum_of_squares(big.to(Device::cuda));
      if (device == "simulator") CHECK(got == want);
      else CHECK(std::abs(got - want) <= 1e-12 * want);  // FMA contraction within each chunk: ~n·2^-53
    }
  });
}

}  // TEST_SUITE
