// tests/odr_second.cpp: the second translation unit of the one-definition-rule test.
#include <tinyformer/tinyformer.hpp>

#include "odr_second.hpp"

namespace odr_second {

values compute() {
    using Cfg = tinyformer::Config<11, 8, 16, 2, 2>;
    tinyformer::rng gen(seed);
    values v{};
    v.parameter_count = tinyformer::parameter_count<Cfg>();
    v.train_flops_per_token = tinyformer::train_flops_per_token<Cfg>();
    v.activation_name = tinyformer::activation_name(tinyformer::activation::relu);
    v.first_draw = gen.next();
    v.rng_state = gen.state();
    return v;
}

void throw_usage_error() {
    throw tinyformer::usage_error("thrown in odr_second.cpp");
}

}  // namespace odr_second
