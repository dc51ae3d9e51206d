// tinyformer/detail/dropout.hpp: the random keep-masks of inverted dropout.
#pragma once

#include <cstddef>  // std::size_t

#include "../random.hpp"

namespace tinyformer {
namespace detail {

// mask(n): 0 with probability rate, else 1 / (1 - rate), so the expectation is unchanged
template <class T>
void dropout_mask(rng& gen, T rate, T* mask, std::size_t n) {
    const T keep = T(1) / (T(1) - rate);
    for (std::size_t i = 0; i < n; ++i) mask[i] = gen.uniform() < double(rate) ? T(0) : keep;
}

// x(n) *= mask
template <class T>
void apply_mask(const T* mask, T* x, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) x[i] *= mask[i];
}

}  // namespace detail
}  // namespace tinyformer
