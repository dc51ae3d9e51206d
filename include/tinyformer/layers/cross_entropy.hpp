// tinyformer/layers/cross_entropy.hpp: the mean of -log softmax(logits)[target] over rows.
#pragma once

#include <cmath>    // std::log
#include <cstddef>  // std::size_t
#include <cstdint>  // std::int32_t

#include "../detail/simd.hpp"

namespace tinyformer {

template <class T, std::size_t V>
struct cross_entropy {
    // probs(N,V) = softmax(logits(N,V)); returns Σ_rows -log probs[target], summed in double
    static double forward(const T* logits, const std::int32_t* targets, T* probs, std::size_t N) {
        double total = 0;
        for (std::size_t r = 0; r < N; ++r) {
            const T* z = logits + r * V;
            T* pr = probs + r * V;
            const T m = detail::max_of(z, V);
            const T sum = detail::exp_shifted(z, m, pr, V);
            detail::scale(pr, T(1) / sum, V);
            // -log p[target] = log Σ exp(z - m) - (z[target] - m), exact for tiny p
            const std::size_t y = static_cast<std::size_t>(targets[r]);
            total += double(std::log(sum)) - double(z[y] - m);
        }
        return total;
    }

    // dlogits(N,V) = (probs - onehot(target)) · scale, where scale = d loss / d Σ_rows
    static void backward(const T* probs, const std::int32_t* targets, T* dlogits, std::size_t N,
                         T scale) {
        for (std::size_t r = 0; r < N; ++r) {
            for (std::size_t j = 0; j < V; ++j) dlogits[r * V + j] = probs[r * V + j] * scale;
            dlogits[r * V + static_cast<std::size_t>(targets[r])] -= scale;
        }
    }
};

}  // namespace tinyformer
