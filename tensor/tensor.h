// tensor/tensor.h — kiso's n-dimensional array: shape, dtype, device, shared storage.
//
// What it is: a contiguous, row-major block of numbers plus the shape that reads it. Storage is
// shared by reference count, so copying a Tensor is cheap and `reshape` returns a view of the
// same numbers. What it is not: a strided view library. `permute`, `transpose` and `slice`
// (tensor/ops.h) copy, which keeps every kernel a plain loop over contiguous memory.
//
// dtypes: f32 (training), f64 (gradient checks), i32 (token ids, labels), on either device.
// devices: cpu, and cuda: a GPU, or the host-side simulator standing in for one (cuda/runtime.h
// says which). An op runs where its inputs are (tensor/dispatch.h).
//
// Read next: tensor/ops.h (the op set), base/philox.h (random numbers).
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "base/check.h"

namespace kiso {

enum class DType { f32, f64, i32 };
enum class Device { cpu, cuda };

using Shape = std::vector<int64_t>;

std::string to_string(DType dtype);     // "f32"
std::string to_string(Device device);   // "cpu"
std::string shape_str(const Shape& s);  // "(2, 3)"; a 0-d scalar is "()"
size_t dtype_size(DType dtype);         // bytes per element
int64_t numel_of(const Shape& s);       // product of the sizes; 1 for a 0-d scalar

// The dtype that stores a C++ scalar type: dtype_of<float>() == DType::f32.
template <class T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::f32; }
template <> constexpr DType dtype_of<double>() { return DType::f64; }
template <> constexpr DType dtype_of<int32_t>() { return DType::i32; }

// One allocation of `bytes` bytes on `device`, freed when the last Tensor using it goes.
// CPU storage is 64-byte aligned so that vector loads never split a cache line.
struct Storage {
  void* data = nullptr;
  size_t bytes = 0;
  Device device = Device::cpu;

  Storage(size_t bytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
};

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor: defined() is false, every other call throws
  Tensor(Shape shape, DType dtype, Device device = Device::cpu);  // uninitialised values

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int64_t dim() const { return int64_t(shape_.size()); }
  int64_t size(int64_t axis) const;  // axis may be negative: size(-1) is the last dimension
  int64_t numel() const { return numel_of(shape_); }
  DType dtype() const { return dtype_; }
  Device device() const;
  bool is_cuda() const { return device() == Device::cuda; }

  // Typed access to CPU memory. Throws when T does not match the dtype or the tensor is not on
  // the CPU, so a kernel can never read f32 bytes as f64, nor a CPU loop device memory.
  template <class T> T* data();
  template <class T> const T* data() const;
  // The same for device memory, handed to the kernels of cuda/kernels.h: throws when T does not
  // match the dtype or the tensor is not on cuda.
  template <class T> T* cuda_data() const;
  void* raw_data() const;  // untyped pointer, any device (for byte copies and file I/O)

  // A view with a new shape and the same storage. One size may be -1 (inferred).
  Tensor reshape(Shape shape) const;
  Tensor clone() const;  // a deep copy
  Tensor to(Device device) const;  // a copy on `device` (the tensor itself if it is already there)
  bool shares_storage_with(const Tensor& other) const { return storage_ == other.storage_; }
  // No other Tensor (view or copy) holds this storage: its numbers can be taken over and changed.
  bool is_sole_owner() const { return storage_ != nullptr && storage_.use_count() == 1; }

  // Values back on the host. item() requires exactly one element.
  double item() const;
  template <class T> std::vector<T> to_vector() const;

  std::string to_string() const;  // shape, dtype and the values (long tensors are elided)

 private:
  void require_defined(const char* what) const;

  std::shared_ptr<Storage> storage_;
  Shape shape_;
  DType dtype_ = DType::f32;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

// ---- creation ----
Tensor empty(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu);
Tensor zeros(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu);
Tensor ones(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu);
Tensor full(const Shape& shape, double value, DType dtype = DType::f32, Device device = Device::cpu);
Tensor zeros_like(const Tensor& t);
Tensor arange(int64_t start, int64_t end, DType dtype = DType::f32);  // start, start+1, ..., end-1
Tensor scalar(double value, DType dtype = DType::f32);                 // a 0-d tensor

// Copies `values` into a new CPU tensor; numel_of(shape) must equal values.size().
template <class T> Tensor from_vector(const std::vector<T>& values, const Shape& shape);
Tensor from_vector(std::initializer_list<double> values, const Shape& shape, DType dtype = DType::f32);

// A copy of `t` converted to another dtype (f32 <-> f64 for gradient checks; i32 -> float).
Tensor to_dtype(const Tensor& t, DType dtype);

// Normalises a possibly negative axis against `rank`, naming `op` in the error.
int64_t normalize_axis(int64_t axis, int64_t rank, const char* op);

}  // namespace kiso
