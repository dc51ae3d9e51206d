// tests/single_header/main.cpp: a program built with only single_include/ on the include
// path, so that the generated header is known to stand alone. Exits 1 on a wrong value.
#include <tinyformer/tinyformer.hpp>

#include <cmath>    // std::isfinite, std::fabs, std::log
#include <cstdint>  // std::int32_t
#include <cstdio>   // std::fprintf

namespace {

int failures = 0;

void check(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "single header: %s\n", what);
        ++failures;
    }
}

}  // namespace

int main() {
    // The model of the golden case gpt_single_head_relu: V7 T5 C12 NH1 L1 F48.
    using Tiny = tinyformer::Config<7, 5, 12, 1, 1, float, tinyformer::activation::relu>;
    static_assert(tinyformer::parameter_count<Tiny>() == 2052, "parameter_count");

    // A tensor from tensor.hpp, filled from the generator in random.hpp.
    tinyformer::rng gen(1337);
    tinyformer::fixed<float, Tiny::Vocab, Tiny::EmbedSize> wte;  // (V, C)
    for (auto& w : wte) w = static_cast<float>(0.02 * gen.normal());
    check(wte.size() == Tiny::Vocab * Tiny::EmbedSize, "wte has V*C numbers");
    check(std::isfinite(wte(6, 11)), "wte holds finite numbers");

    // An error from error.hpp, thrown by the generator.
    try {
        gen.set_state("not a state");
        check(false, "rng::set_state accepted a bad state");
    } catch (const tinyformer::error&) {
    }

    // The model: GPT-2 initialisation, one forward pass over 2 sequences of 5 tokens. With
    // weights of size 0.02 the logits are near 0, so the loss is near log(7) = 1.946.
    using Model = tinyformer::Transformer<Tiny>;
    const auto params = Model::make_params(1337);
    Model::Activations acts(2);
    const std::int32_t tokens[10] = {0, 1, 2, 3, 4, 5, 6, 0, 1, 2};   // (B, T) = (2, 5)
    const std::int32_t targets[10] = {1, 2, 3, 4, 5, 6, 0, 1, 2, 3};  // (B, T)
    const float loss = Model::forward(*params, acts, tokens, targets, 2, 5);
    check(std::isfinite(loss), "the loss is finite");
    check(std::fabs(loss - std::log(7.0f)) < 0.1f, "the loss at initialisation is near log(7)");

    return failures == 0 ? 0 : 1;
}
