// tests/test_odr.cpp: the umbrella header in two translation units of one program. A
// function defined in a header without `inline` breaks the link with a duplicate symbol;
// the values below show that both units see the same definitions.
#include <tinyformer/tinyformer.hpp>

#include <cstddef>  // std::size_t
#include <cstdint>  // std::uint64_t
#include <string>   // std::string

#include <doctest/doctest.h>

#include "odr_second.hpp"

namespace tf = tinyformer;

TEST_CASE("odr: two translation units that include tinyformer.hpp link and agree") {
    using Cfg = tf::Config<11, 8, 16, 2, 2>;
    const odr_second::values other = odr_second::compute();
    CHECK(other.parameter_count == tf::parameter_count<Cfg>());
    CHECK(other.train_flops_per_token == tf::train_flops_per_token<Cfg>());
    CHECK(other.activation_name == std::string(tf::activation_name(tf::activation::relu)));

    tf::rng gen(odr_second::seed);
    CHECK(other.first_draw == gen.next());
    CHECK(other.rng_state == gen.state());

    // An exception thrown in the other unit is caught here by the same type.
    CHECK_THROWS_WITH_AS(odr_second::throw_usage_error(), "thrown in odr_second.cpp",
                         tf::usage_error);
}
