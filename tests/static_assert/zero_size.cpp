// tests/static_assert/zero_size.cpp: must NOT compile. A vocabulary of 0 tokens; check.sh
// requires the static_assert's text in the error.
#include <tinyformer/config.hpp>

#include <cstddef>  // std::size_t

using Impossible = tinyformer::Config<0, 64, 128>;

std::size_t count() {
    return tinyformer::parameter_count<Impossible>();
}
