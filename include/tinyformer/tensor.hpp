// tinyformer/tensor.hpp: the one place that includes xtensor, and the tensor types used
// everywhere else. Debian 12 ships xtensor 0.24.3, whose headers sit at <xtensor/x*.hpp>.
#pragma once

#include <cstddef>  // std::size_t

#include <xtensor/xfixed.hpp>   // xt::xtensor_fixed: shape known at compile time
#include <xtensor/xtensor.hpp>  // xt::xtensor: rank known, shape set at run time

namespace tinyformer {

// A tensor whose every extent is a compile-time constant, e.g. fixed<float, 3 * C, C>.
template <class T, std::size_t... N>
using fixed = xt::xtensor_fixed<T, xt::xshape<N...>>;

// A tensor of rank R whose extents are chosen once, at run time (batch-sized buffers).
template <class T, std::size_t R>
using dynamic = xt::xtensor<T, R>;

// A zero-filled run-time tensor with the given extents: buffer<float>(rows, cols).
// (Braces would not do: xtensor reads dynamic<T, 1>({n}) as a tensor holding n.)
template <class T, class... N>
dynamic<T, sizeof...(N)> buffer(N... extents) {
    using result = dynamic<T, sizeof...(N)>;
    return result(typename result::shape_type{static_cast<std::size_t>(extents)...}, T(0));
}

}  // namespace tinyformer
