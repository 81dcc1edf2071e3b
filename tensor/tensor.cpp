// tensor/tensor.cpp — Storage, Tensor basics, creation and printing. The maths lives in
// tensor/ops_*.cpp; this file only allocates, copies and formats.
#include "tensor/tensor.h"

#include <malloc.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ostream>
#include <sstream>

#include "base/size.h"
#include "cuda/kernels.h"
#include "cuda/runtime.h"
#include "tensor/profile.h"

namespace kiso {

std::string to_string(DType dtype) {
  switch (dtype) {
    case DType::f32: return "f32";
    case DType::f64: return "f64";
    case DType::i32: return "i32";
  }
  return "?";
}

std::string to_string(Device device) { return device == Device::cpu ? "cpu" : "cuda"; }

std::string shape_str(const Shape& s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + (s.size() == 1 ? ",)" : ")");
}

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::f32: return 4;
    case DType::f64: return 8;
    case DType::i32: return 4;
  }
  return 0;
}

int64_t numel_of(const Shape& s) {
  // A shape may come from a file (base/size.h): a negative size or a product past int64 is an
  // Error here, not a wrapped count that would size a too-small buffer.
  int64_t n = 1;
  for (int64_t d : s) {
    if (d < 0 || __builtin_mul_overflow(n, d, &n))
      fail("Tensor", "shape {} has {}", shape_str(s), d < 0 ? "a negative size" : "more than 2^63 - 1 elements");
  }
  return n;
}

int64_t normalize_axis(int64_t axis, int64_t rank, const char* op) {
  check(axis >= -rank && axis < rank, op, "axis {} is out of range for a tensor of rank {}", axis, rank);
  return axis < 0 ? axis + rank : axis;
}

// ---- Storage ----

// glibc serves blocks above its mmap threshold (at most 32 MiB) with a fresh mmap() and unmaps
// them on free, so a large activation allocated anew every step page-faults on first touch
// every time: 12k faults for a (4096, 3072) f32 matmul output, 13-19% of the matmul's time on
// the benchmark machine. Raising both thresholds keeps large blocks in the heap for reuse, at
// the price of not returning freed memory to the OS. Done once, before the first allocation.
static void keep_large_blocks_in_heap() {
  static const bool done = [] {
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    return true;
  }();
  (void)done;
}

Storage::Storage(size_t nbytes, Device dev) : bytes(nbytes), device(dev) {
  profile_allocation(bytes);
  if (device == Device::cuda) {
    data = cuda::device_alloc(bytes);
    return;
  }
  keep_large_blocks_in_heap();
  size_t rounded = (bytes + 63) / 64 * 64;  // aligned_alloc wants a multiple of the alignment
  data = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
  if (!data) throw Error(fmt::format("Storage: out of memory allocating {} ({} bytes)", format_bytes(double(bytes)), bytes));
}

Storage::~Storage() {
  if (device == Device::cuda) cuda::device_free(data);
  else std::free(data);
}

// ---- Tensor ----

Tensor::Tensor(Shape shape, DType dtype, Device device) : shape_(std::move(shape)), dtype_(dtype) {
  int64_t bytes;
  if (__builtin_mul_overflow(numel_of(shape_), int64_t(dtype_size(dtype_)), &bytes))
    fail("Tensor", "shape {} has more than 2^63 - 1 bytes", shape_str(shape_));
  storage_ = std::make_shared<Storage>(size_t(bytes), device);
}

void Tensor::require_defined(const char* what) const {
  check(defined(), what, "the tensor is undefined (default-constructed)");
}

Device Tensor::device() const {
  require_defined("Tensor::device");
  return storage_->device;
}

int64_t Tensor::size(int64_t axis) const { return shape_[normalize_axis(axis, dim(), "Tensor::size")]; }

void* Tensor::raw_data() const {
  require_defined("Tensor::data");
  return storage_->data;
}

template <class T> T* Tensor::data() {
  require_defined("Tensor::data");
  check(dtype_ == dtype_of<T>(), "Tensor::data", "asked for {} elements of a {} tensor",
        kiso::to_string(dtype_of<T>()), kiso::to_string(dtype_));
  check(!is_cuda(), "Tensor::data", "the tensor is on cuda; copy it to the cpu first");
  return static_cast<T*>(storage_->data);
}

template <class T> const T* Tensor::data() const { return const_cast<Tensor*>(this)->data<T>(); }

template <class T> T* Tensor::cuda_data() const {
  require_defined("Tensor::cuda_data");
  check(dtype_ == dtype_of<T>(), "Tensor::cuda_data", "asked for {} elements of a {} tensor",
        kiso::to_string(dtype_of<T>()), kiso::to_string(dtype_));
  check(is_cuda(), "Tensor::cuda_data", "the tensor is on the cpu; copy it to cuda first");
  return static_cast<T*>(storage_->data);
}

template float* Tensor::data<float>();
template double* Tensor::data<double>();
template int32_t* Tensor::data<int32_t>();
template const float* Tensor::data<float>() const;
template const double* Tensor::data<double>() const;
template const int32_t* Tensor::data<int32_t>() const;
template float* Tensor::cuda_data<float>() const;
template double* Tensor::cuda_data<double>() const;
template int32_t* Tensor::cuda_data<int32_t>() const;

Tensor Tensor::reshape(Shape shape) const {
  require_defined("reshape");
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      check(infer < 0, "reshape", "more than one -1 in the new shape {}", shape_str(shape));
      infer = int64_t(i);
    } else {
      check(shape[i] >= 0, "reshape", "negative size in the new shape {}", shape_str(shape));
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    check(known > 0 && numel() % known == 0, "reshape", "cannot infer -1: {} elements into shape {}",
          numel(), shape_str(shape));
    shape[infer] = numel() / known;
  }
  check(numel_of(shape) == numel(), "reshape", "cannot view {} ({} elements) as {} ({} elements)",
        shape_str(shape_), numel(), shape_str(shape), numel_of(shape));
  Tensor view = *this;
  view.shape_ = std::move(shape);
  return view;
}

Tensor Tensor::clone() const {
  OpScope scope("clone", *this);
  require_defined("clone");
  Tensor out(shape_, dtype_, device());
  size_t bytes = size_t(numel()) * dtype_size(dtype_);
  if (is_cuda()) cuda::copy_device_to_device(out.raw_data(), raw_data(), bytes);
  else if (bytes) std::memcpy(out.raw_data(), raw_data(), bytes);
  return out;
}

Tensor Tensor::to(Device target) const {
  OpScope scope("to_device", *this);
  require_defined("to");
  if (target == device()) return *this;
  Tensor out(shape_, dtype_, target);
  size_t bytes = size_t(numel()) * dtype_size(dtype_);
  if (target == Device::cuda) cuda::copy_host_to_device(out.raw_data(), raw_data(), bytes);
  else cuda::copy_device_to_host(out.raw_data(), raw_data(), bytes);
  return out;
}

template <class T> std::vector<T> Tensor::to_vector() const {
  Tensor host = to(Device::cpu);
  std::vector<T> out(static_cast<size_t>(numel()));
  switch (dtype_) {
    case DType::f32: { auto p = host.data<float>(); for (size_t i = 0; i < out.size(); ++i) out[i] = T(p[i]); break; }
    case DType::f64: { auto p = host.data<double>(); for (size_t i = 0; i < out.size(); ++i) out[i] = T(p[i]); break; }
    case DType::i32: { auto p = host.data<int32_t>(); for (size_t i = 0; i < out.size(); ++i) out[i] = T(p[i]); break; }
  }
  return out;
}

template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<int32_t> Tensor::to_vector<int32_t>() const;

double Tensor::item() const {
  require_defined("item");
  check(numel() == 1, "item", "expected a tensor with exactly one element, got shape {}", shape_str(shape_));
  return to_vector<double>()[0];
}

// Printing: shape and dtype, then the values row by row (last axis per line); only the first
// and last 3 rows and columns of a large tensor, like NumPy.
std::string Tensor::to_string() const {
  if (!defined()) return "Tensor(undefined)";
  std::vector<double> v = to_vector<double>();
  std::ostringstream os;
  os << "Tensor(shape=" << shape_str(shape_) << ", dtype=" << kiso::to_string(dtype_)
     << ", device=" << kiso::to_string(device()) << ")";
  int64_t cols = dim() == 0 ? 1 : shape_.back();
  int64_t rows = cols == 0 ? 0 : numel() / cols;
  auto fmt_value = [&](double x) {
    return dtype_ == DType::i32 ? fmt::format("{}", int64_t(x)) : fmt::format("{:.6g}", x);
  };
  for (int64_t r = 0; r < rows; ++r) {
    if (rows > 6 && r == 3) { os << "\n  ..."; r = rows - 4; continue; }
    os << "\n  [";
    for (int64_t c = 0; c < cols; ++c) {
      if (cols > 6 && c == 3) { os << ", ..."; c = cols - 4; continue; }
      os << (c ? ", " : "") << fmt_value(v[size_t(r * cols + c)]);
    }
    os << "]";
  }
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.to_string(); }

// ---- creation ----

Tensor empty(const Shape& shape, DType dtype, Device device) { return Tensor(shape, dtype, device); }

Tensor full(const Shape& shape, double value, DType dtype, Device device) {
  OpScope scope("full");
  if (device == Device::cuda) {  // filled where it lives: no host buffer, no copy
    Tensor out(shape, dtype, Device::cuda);
    int64_t n = out.numel();
    cuda::with_target("full", [&]<cuda::Target D> {
      switch (dtype) {
        case DType::f32: cuda::fill<D>(out.cuda_data<float>(), n, float(value)); break;
        case DType::f64: cuda::fill<D>(out.cuda_data<double>(), n, value); break;
        case DType::i32: cuda::fill<D>(out.cuda_data<int32_t>(), n, int32_t(value)); break;
      }
    });
    return out;
  }
  Tensor host(shape, dtype, Device::cpu);
  int64_t n = host.numel();
  switch (dtype) {
    case DType::f32: { float* p = host.data<float>(); for (int64_t i = 0; i < n; ++i) p[i] = float(value); break; }
    case DType::f64: { double* p = host.data<double>(); for (int64_t i = 0; i < n; ++i) p[i] = value; break; }
    case DType::i32: { int32_t* p = host.data<int32_t>(); for (int64_t i = 0; i < n; ++i) p[i] = int32_t(value); break; }
  }
  return host;
}

Tensor zeros(const Shape& shape, DType dtype, Device device) { return full(shape, 0.0, dtype, device); }
Tensor ones(const Shape& shape, DType dtype, Device device) { return full(shape, 1.0, dtype, device); }
Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), t.dtype(), t.device()); }
Tensor scalar(double value, DType dtype) { return full({}, value, dtype); }

Tensor arange(int64_t start, int64_t end, DType dtype) {
  check(end >= start, "arange", "end {} is before start {}", end, start);
  std::vector<double> v;
  for (int64_t i = start; i < end; ++i) v.push_back(double(i));
  return to_dtype(from_vector(v, {end - start}), dtype);
}

template <class T> Tensor from_vector(const std::vector<T>& values, const Shape& shape) {
  check(numel_of(shape) == int64_t(values.size()), "from_vector", "{} values do not fill shape {} ({} elements)",
        values.size(), shape_str(shape), numel_of(shape));
  Tensor t(shape, dtype_of<T>());
  if (!values.empty()) std::memcpy(t.raw_data(), values.data(), values.size() * sizeof(T));
  return t;
}

template Tensor from_vector<float>(const std::vector<float>&, const Shape&);
template Tensor from_vector<double>(const std::vector<double>&, const Shape&);
template Tensor from_vector<int32_t>(const std::vector<int32_t>&, const Shape&);

Tensor from_vector(std::initializer_list<double> values, const Shape& shape, DType dtype) {
  return to_dtype(from_vector(std::vector<double>(values), shape), dtype);
}

Tensor to_dtype(const Tensor& t, DType dtype) {
  check(t.defined(), "to_dtype", "the tensor is undefined");
  check(!t.is_cuda(), "to_dtype", "only cpu tensors can change dtype (got a cuda tensor)");
  if (t.dtype() == dtype) return t.clone();
  switch (dtype) {
    case DType::f32: return from_vector(t.to_vector<float>(), t.shape());
    case DType::f64: return from_vector(t.to_vector<double>(), t.shape());
    case DType::i32: return from_vector(t.to_vector<int32_t>(), t.shape());
  }
  return {};
}

}  // namespace kiso
