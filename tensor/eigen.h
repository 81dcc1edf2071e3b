// tensor/eigen.h — how kiso's CPU kernels include Eigen (internal to tensor/ops_*.cpp).
//
// GCC 12 reports false "(may be) used uninitialized" warnings inside its own AVX-512 intrinsics
// (_mm512_undefined_*) when Eigen's vectorised kernels are inlined into ours; they say nothing
// about our code, so those two warnings are switched off for the translation units that include
// this header. Which of them appears depends on GCC's inlining choices for the file.
#pragma once

#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <Eigen/Core>
