// tensor/ops_shape.cpp — ops that move numbers without arithmetic: concat, slice and its
// backward, permute/transpose. All copy into fresh contiguous storage (see tensor.h for why),
// on the device the input lives on.
//
// Each works on a tensor viewed as (outer, axis, inner): `outer` is the product of the sizes
// before the axis, `inner` of those after it; a slab of `inner` numbers is contiguous. concat,
// slice and slice_backward are then each a 2-D copy of `outer` slabs (copy_slabs).
#include <cstring>
#include <numeric>

#include "tensor/dispatch.h"
#include "tensor/ops.h"
#include "tensor/profile.h"

namespace kiso {

// x must be defined; any dtype, either device.
static void check_defined(const char* op, const Tensor& x, const char* what = "input") {
  check(x.defined(), op, "{} is an undefined tensor", what);
}

// `rows` slabs of `width` elements, from src to dst (one dtype, one device): slab r is read at
// element src_at + r·src_pitch of src and written at element dst_at + r·dst_pitch of dst. On the
// cpu a memcpy per slab; on cuda one kernel (cuda/kernels/copy.cu) moving elements as words.
static void copy_slabs(const char* op, const Tensor& src, int64_t src_at, int64_t src_pitch, const Tensor& dst,
                       int64_t dst_at, int64_t dst_pitch, int64_t rows, int64_t width) {
  if (dst.is_cuda()) {
    launch_cuda_words(op, dst, [&]<cuda::Target D, class W> {
      cuda::copy_2d<D>(cuda_words<W>(src) + src_at, src_pitch, cuda_words<W>(dst) + dst_at, dst_pitch, rows, width);
    });
    return;
  }
  int64_t elem = int64_t(dtype_size(dst.dtype()));
  const char* ps = static_cast<const char*>(src.raw_data()) + src_at * elem;
  char* pd = static_cast<char*>(dst.raw_data()) + dst_at * elem;
  for (int64_t r = 0; r < rows; ++r)
    std::memcpy(pd + r * dst_pitch * elem, ps + r * src_pitch * elem, size_t(width * elem));
}

static int64_t outer_size(const Shape& s, int64_t axis) {
  return std::accumulate(s.begin(), s.begin() + axis, int64_t(1), std::multiplies<>());
}
static int64_t inner_size(const Shape& s, int64_t axis) {
  return std::accumulate(s.begin() + axis + 1, s.end(), int64_t(1), std::multiplies<>());
}

Tensor concat(const std::vector<Tensor>& xs, int64_t axis) {
  OpScope scope("concat");
  check(!xs.empty(), "concat", "needs at least one tensor");
  for (const Tensor& x : xs) check_defined("concat", x);
  const Tensor& first = xs[0];
  for (size_t k = 0; k < xs.size(); ++k)
    check(xs[k].device() == first.device(), "concat", "tensor {} is on {} but tensor 0 is on {}; expected one device",
          k, to_string(xs[k].device()), to_string(first.device()));
  axis = normalize_axis(axis, first.dim(), "concat");
  Shape out_shape = first.shape();
  out_shape[axis] = 0;
  for (size_t k = 0; k < xs.size(); ++k) {
    Shape a = xs[k].shape(), b = first.shape();
    check(a.size() == b.size() && xs[k].dtype() == first.dtype(), "concat",
          "tensor {} is {} {} but tensor 0 is {} {}; expected the same rank and dtype", k, to_string(xs[k].dtype()),
          shape_str(a), to_string(first.dtype()), shape_str(b));
    a[axis] = b[axis] = 0;
    check(a == b, "concat", "tensor {} has shape {} but tensor 0 has {}; they may differ only along axis {}", k,
          shape_str(xs[k].shape()), shape_str(first.shape()), axis);
    out_shape[axis] += xs[k].size(axis);
  }
  Tensor out(out_shape, first.dtype(), first.device());
  int64_t outer = outer_size(out_shape, axis), inner = inner_size(out_shape, axis);
  int64_t at = 0;  // where along the axis the current input starts
  for (const Tensor& x : xs) {
    int64_t slab = x.size(axis) * inner;  // numbers per outer index
    copy_slabs("concat", x, 0, slab, out, at * inner, out_shape[axis] * inner, outer, slab);
    at += x.size(axis);
  }
  return out;
}

Tensor slice(const Tensor& x, int64_t axis, int64_t start, int64_t end) {
  OpScope scope("slice", x);
  check_defined("slice", x);
  axis = normalize_axis(axis, x.dim(), "slice");
  check(0 <= start && start <= end && end <= x.size(axis), "slice",
        "range [{}, {}) is not inside axis {} of size {} (shape {})", start, end, axis, x.size(axis),
        shape_str(x.shape()));
  Shape out_shape = x.shape();
  out_shape[axis] = end - start;
  Tensor out(out_shape, x.dtype(), x.device());
  int64_t outer = outer_size(x.shape(), axis), inner = inner_size(x.shape(), axis);
  int64_t slab = (end - start) * inner;
  copy_slabs("slice", x, start * inner, x.size(axis) * inner, out, 0, slab, outer, slab);
  return out;
}

// forward:  y = x[..., start:start+n, ...] along axis
// backward: dx = zeros(x.shape), with dx[..., start:start+n, ...] = dy
Tensor slice_backward(const Tensor& dy, const Shape& x_shape, int64_t axis, int64_t start) {
  OpScope scope("slice_backward", dy);
  check_defined("slice_backward", dy, "dy");
  axis = normalize_axis(axis, int64_t(x_shape.size()), "slice_backward");
  Shape expect = x_shape;
  expect[axis] = dy.dim() == int64_t(x_shape.size()) ? dy.size(axis) : -1;
  check(dy.shape() == expect && start >= 0 && start + dy.size(axis) <= x_shape[axis], "slice_backward",
        "dy of shape {} at start {} does not fit axis {} of x's shape {}", shape_str(dy.shape()), start, axis,
        shape_str(x_shape));
  Tensor dx = zeros(x_shape, dy.dtype(), dy.device());
  int64_t outer = outer_size(x_shape, axis), inner = inner_size(x_shape, axis);
  int64_t slab = dy.size(axis) * inner;
  copy_slabs("slice_backward", dy, 0, slab, dx, start * inner, x_shape[axis] * inner, outer, slab);
  return dx;
}

// out[i0, i1, ...] = x[...] with out axis k reading x axis dims[k]: walk the output in order
// and step through x with the permuted strides.
Tensor permute(const Tensor& x, const std::vector<int64_t>& dims) {
  OpScope scope("permute", x);
  check_defined("permute", x);
  int64_t rank = x.dim();
  check(int64_t(dims.size()) == rank, "permute", "{} axes given for a tensor of rank {} (shape {})", dims.size(), rank,
        shape_str(x.shape()));
  std::vector<bool> seen(static_cast<size_t>(rank), false);
  std::vector<int64_t> in_strides(static_cast<size_t>(rank), 1);
  for (int64_t k = rank - 2; k >= 0; --k) in_strides[k] = in_strides[k + 1] * x.size(k + 1);
  Shape out_shape(static_cast<size_t>(rank));
  std::vector<int64_t> strides(static_cast<size_t>(rank));  // x's stride for each output axis
  for (int64_t k = 0; k < rank; ++k) {
    int64_t d = normalize_axis(dims[k], rank, "permute");
    check(!seen[d], "permute", "axis {} appears twice in {}", d, shape_str(dims));
    seen[d] = true;
    out_shape[k] = x.size(d);
    strides[k] = in_strides[d];
  }
  Tensor out(out_shape, x.dtype(), x.device());
  int64_t n = out.numel();
  if (x.is_cuda()) {  // the same walk, one thread per output element (cuda/kernels/copy.cu)
    check(rank <= cuda::kMaxRank, "permute", "the cuda kernel takes at most {} axes, got shape {}", cuda::kMaxRank,
          shape_str(x.shape()));
    cuda::Permute g;
    g.rank = int(rank);
    for (int64_t k = 0; k < rank; ++k) g.out_size[k] = out_shape[k], g.in_stride[k] = strides[k];
    launch_cuda_words("permute", x, [&]<cuda::Target D, class W> {
      cuda::permute<D>(cuda_words<W>(x), cuda_words<W>(out), n, g);
    });
    return out;
  }
  size_t elem = dtype_size(x.dtype());
  const char* px = static_cast<const char*>(x.raw_data());
  char* po = static_cast<char*>(out.raw_data());
#pragma omp parallel for if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) {
    int64_t rest = i, offset = 0;
    for (int64_t k = rank - 1; k >= 0; --k) {
      offset += (rest % out_shape[k]) * strides[k];
      rest /= out_shape[k];
    }
    std::memcpy(po + i * elem, px + offset * elem, elem);
  }
  return out;
}

Tensor transpose(const Tensor& x, int64_t axis0, int64_t axis1) {
  OpScope scope("transpose", x);
  check_defined("transpose", x);
  std::vector<int64_t> dims(static_cast<size_t>(x.dim()));
  std::iota(dims.begin(), dims.end(), 0);
  std::swap(dims[normalize_axis(axis0, x.dim(), "transpose")], dims[normalize_axis(axis1, x.dim(), "transpose")]);
  return permute(x, dims);
}

}  // namespace kiso
