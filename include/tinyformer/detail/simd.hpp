// tinyformer/detail/simd.hpp: loops over a row of numbers with SIMD batches (xsimd's default
// instruction set), for softmax, cross-entropy and the matrix product's single rows.
//
// Sums use several running batches, so their order differs from a plain loop's: results
// agree with it to rounding, not bit for bit.
#pragma once

#include <algorithm>  // std::max
#include <cmath>      // std::exp
#include <cstddef>    // std::size_t

#include "xsimd.hpp"  // xsimd::batch, xsimd::fma, xsimd::exp, xsimd::haddp

#if defined(__AVX512F__)
#include <immintrin.h>  // the AVX-512 shuffles of lane_sums
#endif

namespace tinyformer {
namespace detail {

// Σ of a batch's lanes
template <class T>
T lane_sum(const xsimd::batch<T>& v) {
    return xsimd::hadd(v);
}

// out[r] = Σ of the lanes of rows[r], for r < W: W batches summed across at once, a shuffle
// tree shared by all of them instead of one per batch
template <class T>
xsimd::batch<T> lane_sums(const xsimd::batch<T>* rows) {
    return xsimd::haddp(rows);
}

#if defined(__AVX512F__)
// The same for 16 floats. xsimd 8.1's haddp returns the sums of rows 2, 3 in lanes 4, 5 and
// the other way round (likewise 10, 11 and 12, 13) with AVX-512, so floats take this tree:
// pairs of rows, then fours, added within 128-bit lanes, then the four lanes across.
inline xsimd::batch<float> lane_sums(const xsimd::batch<float>* rows) {
    // t[p] lane L: rows 2p, 2p+1 summed in pairs of numbers, [a0+a2, b0+b2, a1+a3, b1+b3]
    __m512 t[8];
    for (std::size_t p = 0; p < 8; ++p) {
        const __m512 a = rows[2 * p], b = rows[2 * p + 1];
        t[p] = _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b));
    }
    // u[q] lane L: the sums over lane L of rows 4q..4q+3
    __m512 u[4];
    for (std::size_t q = 0; q < 4; ++q) {
        const __m512 a = t[2 * q], b = t[2 * q + 1];
        u[q] = _mm512_add_ps(_mm512_shuffle_ps(a, b, 0x44), _mm512_shuffle_ps(a, b, 0xee));
    }
    // lane q of the result: Σ over the four lanes of u[q]
    const __m512 s01 = _mm512_add_ps(_mm512_shuffle_f32x4(u[0], u[1], 0x88),
                                     _mm512_shuffle_f32x4(u[0], u[1], 0xdd));
    const __m512 s23 = _mm512_add_ps(_mm512_shuffle_f32x4(u[2], u[3], 0x88),
                                     _mm512_shuffle_f32x4(u[2], u[3], 0xdd));
    return _mm512_add_ps(_mm512_shuffle_f32x4(s01, s23, 0x88),
                         _mm512_shuffle_f32x4(s01, s23, 0xdd));
}
#endif

// max of a batch's lanes
template <class T>
T lane_max(const xsimd::batch<T>& v) {
    constexpr std::size_t W = xsimd::batch<T>::size;
    alignas(64) T lanes[W];
    v.store_aligned(lanes);
    T m = lanes[0];
    for (std::size_t l = 1; l < W; ++l) m = std::max(m, lanes[l]);
    return m;
}

// Σ_i a[i]·b[i], i < n
template <class T>
T dot(const T* a, const T* b, std::size_t n) {
    using batch = xsimd::batch<T>;
    constexpr std::size_t W = batch::size;
    const std::size_t pairs = n - n % (2 * W), whole = n - n % W;
    batch acc0(T(0)), acc1(T(0));
    std::size_t i = 0;
    for (; i < pairs; i += 2 * W) {
        acc0 = xsimd::fma(batch::load_unaligned(a + i), batch::load_unaligned(b + i), acc0);
        acc1 = xsimd::fma(batch::load_unaligned(a + i + W), batch::load_unaligned(b + i + W),
                          acc1);
    }
    if (i < whole) {
        acc0 = xsimd::fma(batch::load_unaligned(a + i), batch::load_unaligned(b + i), acc0);
        i += W;
    }
    T s = lane_sum(acc0 + acc1);
    for (; i < n; ++i) s += a[i] * b[i];
    return s;
}

// max_i x[i], i < n, n >= 1
template <class T>
T max_of(const T* x, std::size_t n) {
    using batch = xsimd::batch<T>;
    constexpr std::size_t W = batch::size;
    const std::size_t whole = n - n % W;
    T m = x[0];
    if (whole > 0) {
        batch acc = batch::load_unaligned(x);
        for (std::size_t i = W; i < whole; i += W) {
            acc = xsimd::max(acc, batch::load_unaligned(x + i));
        }
        m = lane_max(acc);
    }
    for (std::size_t i = whole; i < n; ++i) m = std::max(m, x[i]);
    return m;
}

// y[i] = exp(x[i] - shift), i < n; returns Σ_i y[i]. y may be x.
template <class T>
T exp_shifted(const T* x, T shift, T* y, std::size_t n) {
    using batch = xsimd::batch<T>;
    constexpr std::size_t W = batch::size;
    const batch vs(shift);
    const std::size_t whole = n - n % W;
    batch acc(T(0));
    std::size_t i = 0;
    for (; i < whole; i += W) {
        const batch e = xsimd::exp(batch::load_unaligned(x + i) - vs);
        e.store_unaligned(y + i);
        acc += e;
    }
    T s = lane_sum(acc);
    for (; i < n; ++i) {
        y[i] = std::exp(x[i] - shift);
        s += y[i];
    }
    return s;
}

// x[i] *= s, i < n
template <class T>
void scale(T* x, T s, std::size_t n) {
    using batch = xsimd::batch<T>;
    constexpr std::size_t W = batch::size;
    const batch vs(s);
    const std::size_t whole = n - n % W;
    std::size_t i = 0;
    for (; i < whole; i += W) (batch::load_unaligned(x + i) * vs).store_unaligned(x + i);
    for (; i < n; ++i) x[i] *= s;
}

}  // namespace detail
}  // namespace tinyformer
