// tests/static_assert/heads_not_dividing.cpp: must NOT compile. 130 embedding channels do
// not split into 4 heads; check.sh requires the static_assert's text in the error.
#include <tinyformer/config.hpp>

#include <cstddef>  // std::size_t

using Impossible = tinyformer::Config<65, 64, 130, 4, 4>;

std::size_t head_size() {
    return Impossible::HeadSize;
}
