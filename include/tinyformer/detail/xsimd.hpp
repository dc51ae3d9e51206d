// tinyformer/detail/xsimd.hpp: the one place that includes xsimd; every other header that
// uses SIMD batches includes this one.
//
// GCC 12 reports its own AVX-512 intrinsics, as inlined into xsimd's exp, sqrt, hadd and
// others, as reading uninitialized values (GCC bug 105593, fixed in GCC 13). The warnings
// are silenced for xsimd's definitions only, by including it inside this region.
#pragma once

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <xsimd/xsimd.hpp>  // xsimd::batch and its functions

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
