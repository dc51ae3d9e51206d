// tinyformer/layers/activation.hpp: the MLP's non-linearity, applied element by element.
#pragma once

#include <algorithm>  // std::min
#include <cmath>      // std::exp
#include <cstddef>    // std::size_t

#include "../config.hpp"
#include "../detail/xsimd.hpp"  // SIMD batches and their exp

namespace tinyformer {

template <class T, activation Act>
struct pointwise;

// gelu(x) = 0.5·x·(1 + tanh(u)),  u = sqrt(2/π)·(x + 0.044715·x³)
//
// Computed as x·s with s = 1 / (1 + e), e = exp(-2u), since 1 + tanh u = 2s: one exp per
// number, on SIMD batches, and no cancellation where tanh u is near -1.
template <class T>
struct pointwise<T, activation::gelu_tanh> {
    using batch = xsimd::batch<T>;
    static constexpr std::size_t W = batch::size;
    static constexpr T k = T(0.7978845608028654);  // sqrt(2/π)
    static constexpr T c = T(0.044715);
    // e = exp(min(-2u, cap)) stays finite, so that e·s² below is never inf·0; beyond the cap
    // s is 0 to working precision anyway
    static constexpr T cap = sizeof(T) == 4 ? T(80) : T(700);

    // out(n) = gelu(inp)
    static void forward(const T* inp, T* out, std::size_t n) {
        const batch vk(k), vc(c), one(T(1));
        const std::size_t whole = n - n % W;  // the part that fills whole batches
        std::size_t i = 0;
        for (; i < whole; i += W) {
            const batch x = batch::load_unaligned(inp + i);
            const batch u = vk * (x + vc * x * x * x);
            (x / (one + xsimd::exp(T(-2) * u))).store_unaligned(out + i);
        }
        for (; i < n; ++i) {
            const T x = inp[i];
            const T u = k * (x + c * x * x * x);
            out[i] = x / (T(1) + std::exp(T(-2) * u));
        }
    }

    // dinp(n) = dout · gelu'(inp); dinp may be dout itself, where
    //   gelu'(x) = 0.5·(1 + tanh u) + 0.5·x·(1 - tanh² u)·du,  du = sqrt(2/π)·(1 + 3·0.044715·x²)
    //            = s + 2·x·e·s²·du,  as 1 - tanh² u = 4·s·(1 - s) and 1 - s = e·s
    static void backward(const T* inp, const T* dout, T* dinp, std::size_t n) {
        const batch vk(k), vc(c), v3c(3 * c), vcap(cap), one(T(1));
        const std::size_t whole = n - n % W;  // the part that fills whole batches
        std::size_t i = 0;
        for (; i < whole; i += W) {
            const batch x = batch::load_unaligned(inp + i);
            const batch u = vk * (x + vc * x * x * x);
            const batch e = xsimd::exp(xsimd::min(T(-2) * u, vcap));
            const batch s = one / (one + e);
            const batch du = vk * (one + v3c * x * x);
            const batch g = s + T(2) * x * e * s * s * du;
            (batch::load_unaligned(dout + i) * g).store_unaligned(dinp + i);
        }
        for (; i < n; ++i) {
            const T x = inp[i];
            const T u = k * (x + c * x * x * x);
            const T e = std::exp(std::min(T(-2) * u, cap));
            const T s = T(1) / (T(1) + e);
            const T du = k * (T(1) + T(3) * c * x * x);
            dinp[i] = dout[i] * (s + T(2) * x * e * s * s * du);
        }
    }
};

// relu(x) = max(x, 0)
template <class T>
struct pointwise<T, activation::relu> {
    static void forward(const T* inp, T* out, std::size_t n) {
        for (std::size_t i = 0; i < n; ++i) out[i] = inp[i] > T(0) ? inp[i] : T(0);
    }

    // dinp = dout where inp > 0, else 0; dinp may be dout itself
    static void backward(const T* inp, const T* dout, T* dinp, std::size_t n) {
        for (std::size_t i = 0; i < n; ++i) dinp[i] = inp[i] > T(0) ? dout[i] : T(0);
    }
};

}  // namespace tinyformer
