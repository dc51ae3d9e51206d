// tests/static_assert/valid.cpp: compiles. The control for check.sh, which must report a
// failure on it (a meson test with should_fail), so that check.sh's passes mean something.
#include <tinyformer/config.hpp>

#include <cstddef>  // std::size_t

using Possible = tinyformer::Config<65, 64, 128, 4, 4>;

std::size_t count() {
    return tinyformer::parameter_count<Possible>() + Possible::HeadSize;
}
