// tensor/eigen.h — how kiso's CPU kernels include Eigen (internal to tensor/ops_*.cpp).
//
// GCC 12 reports false "may be used uninitialized" warnings inside its own AVX-512 intrinsics
// when Eigen's vectorised kernels are inlined into ours; they say nothing about our code, so
// that one warning is switched off for the translation units that include this header.
#pragma once

#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Core>
