// tinyformer/detail/simd.hpp: loops over a row of numbers with SIMD batches (xsimd's default
// instruction set), for the layers' reductions and the matrix product's small cases.
//
// Sums use several running batches, so their order differs from a plain loop's: results
// agree with it to rounding, not bit for bit.
#pragma once

#include <algorithm>  // std::max
#include <cmath>      // std::exp
#include <cstddef>    // std::size_t

#include "xsimd.hpp"  // xsimd::batch, xsimd::fma, xsimd::exp

namespace tinyformer {
namespace detail {

// Σ of a batch's lanes
template <class T>
T lane_sum(const xsimd::batch<T>& v) {
    return xsimd::hadd(v);
}

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

// Σ_i x[i], i < n
template <class T>
T sum(const T* x, std::size_t n) {
    using batch = xsimd::batch<T>;
    constexpr std::size_t W = batch::size;
    batch acc0(T(0)), acc1(T(0));
    std::size_t i = 0;
    for (; i + 2 * W <= n; i += 2 * W) {
        acc0 += batch::load_unaligned(x + i);
        acc1 += batch::load_unaligned(x + i + W);
    }
    if (i + W <= n) {
        acc0 += batch::load_unaligned(x + i);
        i += W;
    }
    T s = lane_sum(acc0 + acc1);
    for (; i < n; ++i) s += x[i];
    return s;
}

// Σ_i a[i]·b[i], i < n
template <class T>
T dot(const T* a, const T* b, std::size_t n) {
    using batch = xsimd::batch<T>;
    constexpr std::size_t W = batch::size;
    batch acc0(T(0)), acc1(T(0));
    std::size_t i = 0;
    for (; i + 2 * W <= n; i += 2 * W) {
        acc0 = xsimd::fma(batch::load_unaligned(a + i), batch::load_unaligned(b + i), acc0);
        acc1 = xsimd::fma(batch::load_unaligned(a + i + W), batch::load_unaligned(b + i + W),
                          acc1);
    }
    if (i + W <= n) {
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
    std::size_t i = 0;
    T m = x[0];
    if (n >= W) {
        batch acc = batch::load_unaligned(x);
        for (i = W; i + W <= n; i += W) acc = xsimd::max(acc, batch::load_unaligned(x + i));
        m = lane_max(acc);
    }
    for (; i < n; ++i) m = std::max(m, x[i]);
    return m;
}

// y[i] = exp(x[i] - shift), i < n; returns Σ_i y[i]. y may be x.
template <class T>
T exp_shifted(const T* x, T shift, T* y, std::size_t n) {
    using batch = xsimd::batch<T>;
    constexpr std::size_t W = batch::size;
    const batch vs(shift);
    batch acc(T(0));
    std::size_t i = 0;
    for (; i + W <= n; i += W) {
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
    std::size_t i = 0;
    for (; i + W <= n; i += W) (batch::load_unaligned(x + i) * vs).store_unaligned(x + i);
    for (; i < n; ++i) x[i] *= s;
}

// y[i] += alpha · x[i], i < n
template <class T>
void axpy(T alpha, const T* x, T* y, std::size_t n) {
    using batch = xsimd::batch<T>;
    constexpr std::size_t W = batch::size;
    const batch va(alpha);
    std::size_t i = 0;
    for (; i + W <= n; i += W) {
        xsimd::fma(va, batch::load_unaligned(x + i), batch::load_unaligned(y + i))
            .store_unaligned(y + i);
    }
    for (; i < n; ++i) y[i] += alpha * x[i];
}

}  // namespace detail
}  // namespace tinyformer
