// tests/test_generate.cpp: the key/value cache and generation.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "doctest/doctest.h"
#include "tinyformer/generate.hpp"
#include "tinyformer/transformer.hpp"

using namespace tinyformer;

namespace {

// An odd little model: several heads, a window short enough to slide often.
using Cfg = Config<13, 8, 12, 3, 2, float, activation::gelu_tanh, 20>;
using Model = Transformer<Cfg>;

std::vector<std::int32_t> random_ids(std::size_t n, std::uint64_t seed) {
    rng gen(seed);
    std::vector<std::int32_t> ids(n);
    for (auto& id : ids) id = static_cast<std::int32_t>(gen.below(Cfg::Vocab));
    return ids;
}

// The logits of the last position of a full forward pass over ids.
std::vector<float> full_forward_last(const Model::Params& p, const std::vector<std::int32_t>& ids) {
    Model::Activations a(1);
    Model::forward(p, a, ids.data(), nullptr, 1, ids.size());
    const float* last = a.logits() + (ids.size() - 1) * Cfg::Vocab;
    return std::vector<float>(last, last + Cfg::Vocab);
}

}  // namespace

TEST_CASE("generate: cached logits equal a full forward pass at every position") {
    auto params = Model::make_params(7);
    kv_cache<Model> cache(*params);
    const auto ids = random_ids(3 * Cfg::BlockSize + 3, 11);
    std::size_t slides = 0;
    for (std::size_t i = 0; i < ids.size(); ++i) {
        const std::size_t before = cache.size();
        const float* got = cache.push(ids[i]);
        if (cache.size() <= before) ++slides;
        // the window the cache holds now, run whole
        const std::vector<std::int32_t> window(cache.tokens(), cache.tokens() + cache.size());
        REQUIRE(window.back() == ids[i]);
        const auto want = full_forward_last(*params, window);
        for (std::size_t j = 0; j < Cfg::Vocab; ++j) {
            CAPTURE(i);
            CAPTURE(j);
            CHECK(got[j] == doctest::Approx(want[j]).epsilon(1e-4));
        }
    }
    CHECK(slides >= 3);
}

TEST_CASE("generate: in double, cached logits equal a full forward pass across many slides") {
    // keep = 8 rows recomputed at once at every slide, five heads of 4, three layers
    using CfgD = Config<11, 16, 20, 5, 3, double, activation::gelu_tanh, 36>;
    using ModelD = Transformer<CfgD>;
    auto params = ModelD::make_params(5);
    kv_cache<ModelD> cache(*params);
    ModelD::Activations acts(1);
    rng gen(3);
    std::size_t slides = 0;
    for (std::size_t i = 0; i < 7 * CfgD::BlockSize; ++i) {
        const std::size_t before = cache.size();
        const double* got = cache.push(static_cast<std::int32_t>(gen.below(CfgD::Vocab)));
        if (cache.size() <= before) ++slides;
        ModelD::forward(*params, acts, cache.tokens(), nullptr, 1, cache.size());
        const double* want = acts.logits() + (cache.size() - 1) * CfgD::Vocab;
        for (std::size_t j = 0; j < CfgD::Vocab; ++j) {
            CAPTURE(i);
            CAPTURE(j);
            CHECK(got[j] == doctest::Approx(want[j]).epsilon(1e-12));
        }
    }
    CHECK(slides >= 10);
}

TEST_CASE("generate: tokens pushed together give the logits of tokens pushed one by one") {
    auto params = Model::make_params(7);
    const auto ids = random_ids(Cfg::BlockSize + 3, 17);
    // into an empty cache (one pass over all but the last) and into a cache holding some
    for (std::size_t held = 0; held < 3; ++held) {
        for (std::size_t n = 1; n + held <= ids.size(); ++n) {
            CAPTURE(held);
            CAPTURE(n);
            kv_cache<Model> together(*params), alone(*params);
            together.push(ids.data(), held);
            const float* got = together.push(ids.data() + held, n);
            const float* want = nullptr;
            for (std::size_t i = 0; i < held + n; ++i) want = alone.push(ids[i]);
            REQUIRE(together.size() == alone.size());
            for (std::size_t i = 0; i < together.size(); ++i) {
                CHECK(together.tokens()[i] == alone.tokens()[i]);
            }
            for (std::size_t j = 0; j < Cfg::Vocab; ++j) {
                CHECK(got[j] == doctest::Approx(want[j]).epsilon(1e-5));
            }
        }
    }
}

TEST_CASE("generate: the window keeps the newest tokens when it slides") {
    auto params = Model::make_params(7);
    kv_cache<Model> cache(*params);
    const auto ids = random_ids(Cfg::BlockSize + 1, 5);
    for (auto id : ids) cache.push(id);
    REQUIRE(cache.size() == kv_cache<Model>::keep + 1);
    for (std::size_t i = 0; i < cache.size(); ++i) {
        CHECK(cache.tokens()[i] == ids[ids.size() - cache.size() + i]);
    }
}

TEST_CASE("generate: one seed gives one answer, another seed another") {
    auto params = Model::make_params(3);
    kv_cache<Model> cache(*params);
    const std::vector<std::int32_t> prompt = {1, 2, 3};
    auto run = [&](std::uint64_t seed, sampling_options o) {
        sampler pick(o, seed, Cfg::Vocab);
        std::vector<std::int32_t> out;
        generate(cache, prompt, pick, 40, [&](std::int32_t id) {
            out.push_back(id);
            return true;
        });
        return out;
    };
    sampling_options o;
    o.temperature = 1.0;
    CHECK(run(1, o) == run(1, o));
    CHECK(run(1, o) != run(2, o));
    CHECK(run(1, o).size() == 40);
    // greedy and top-k 1 agree whatever the seed
    sampling_options greedy;
    greedy.temperature = 0;
    sampling_options top1;
    top1.temperature = 1.0;
    top1.top_k = 1;
    CHECK(run(1, greedy) == run(9, top1));
}

TEST_CASE("generate: on_token can stop generation early") {
    auto params = Model::make_params(3);
    kv_cache<Model> cache(*params);
    sampler pick(sampling_options{}, 1, Cfg::Vocab);
    std::size_t seen = 0;
    const std::size_t made =
        generate(cache, {4}, pick, 100, [&](std::int32_t) { return ++seen < 5; });
    CHECK(made == 5);
    CHECK(seen == 5);
}

TEST_CASE("generate: bad tokens and empty prompts are usage errors") {
    auto params = Model::make_params(3);
    kv_cache<Model> cache(*params);
    CHECK_THROWS_WITH_AS(cache.push(13), "kv_cache::push: token 13 is outside 0..12 (Vocab)",
                         usage_error);
    CHECK_THROWS_WITH_AS(cache.push(-1), "kv_cache::push: token -1 is outside 0..12 (Vocab)",
                         usage_error);
    // among others, the bad one stops the push where it stands
    const std::int32_t ids[] = {1, 2, 13, 4};
    CHECK_THROWS_WITH_AS(cache.push(ids, 4), "kv_cache::push: token 13 is outside 0..12 (Vocab)",
                         usage_error);
    CHECK(cache.size() == 2);
    sampler pick(sampling_options{}, 1, Cfg::Vocab);
    CHECK_THROWS_WITH_AS(generate(cache, {}, pick, 5, [](std::int32_t) { return true; }),
                         "generate: the prompt is empty", usage_error);
}
