// tinyformer/layers/activation.hpp: the MLP's non-linearity, applied element by element.
#pragma once

#include <cmath>    // std::tanh
#include <cstddef>  // std::size_t

#include "../config.hpp"

namespace tinyformer {

template <class T, activation Act>
struct pointwise;

// gelu(x) = 0.5·x·(1 + tanh(u)),  u = sqrt(2/π)·(x + 0.044715·x³)
template <class T>
struct pointwise<T, activation::gelu_tanh> {
    static constexpr T k = T(0.7978845608028654);  // sqrt(2/π)
    static constexpr T c = T(0.044715);

    // out(n) = gelu(inp)
    static void forward(const T* inp, T* out, std::size_t n) {
        for (std::size_t i = 0; i < n; ++i) {
            const T x = inp[i];
            out[i] = T(0.5) * x * (T(1) + std::tanh(k * (x + c * x * x * x)));
        }
    }

    // dinp(n) = dout · gelu'(inp); dinp may be dout itself,
    // gelu'(x) = 0.5·(1 + tanh u) + 0.5·x·(1 - tanh² u)·sqrt(2/π)·(1 + 3·0.044715·x²)
    static void backward(const T* inp, const T* dout, T* dinp, std::size_t n) {
        for (std::size_t i = 0; i < n; ++i) {
            const T x = inp[i];
            const T th = std::tanh(k * (x + c * x * x * x));
            const T du = k * (T(1) + T(3) * c * x * x);
            dinp[i] = dout[i] * (T(0.5) * (T(1) + th) + T(0.5) * x * (T(1) - th * th) * du);
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
