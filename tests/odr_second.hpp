// tests/odr_second.hpp: what tests/odr_second.cpp computes from tinyformer.hpp on its side.
#pragma once

#include <cstddef>  // std::size_t
#include <cstdint>  // std::uint64_t
#include <string>   // std::string

namespace odr_second {

constexpr std::uint64_t seed = 2026;

struct values {
    std::size_t parameter_count;        // of Config<11, 8, 16, 2, 2>
    std::size_t train_flops_per_token;  // of the same Config
    std::string activation_name;        // of activation::relu
    std::uint64_t first_draw;           // rng(seed).next()
    std::string rng_state;              // rng(seed) after that draw
};

values compute();
[[noreturn]] void throw_usage_error();

}  // namespace odr_second
