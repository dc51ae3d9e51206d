// tests/test_train.cpp: parallel_gradients and parallel_train.
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "doctest/doctest.h"
#include "tinyformer/optimizer.hpp"
#include "tinyformer/train.hpp"
#include "tinyformer/transformer.hpp"

using namespace tinyformer;

namespace {

using Cfg = Config<65, 16, 32, 2, 2>;
using Model = Transformer<Cfg>;

std::string shakespeare_path() {
#ifdef TINYFORMER_SOURCE_ROOT
    return std::string(TINYFORMER_SOURCE_ROOT) + "/data/tinyshakespeare.txt";
#else
    return "data/tinyshakespeare.txt";
#endif
}

const text_data& shakespeare() {
    static const text_data data = text_data::load(shakespeare_path(), Cfg::Vocab, Cfg::BlockSize);
    return data;
}

train_options quick_options(std::size_t iterations, std::size_t threads) {
    train_options o;
    o.iterations = iterations;
    o.batch = 6;
    o.shards = 3;
    o.threads = threads;
    o.eval_every = 5;
    o.eval_windows = 8;
    o.schedule = {3e-3, 4, iterations, 3e-4};
    return o;
}

// The losses of a run of `iterations` from a fresh model, with `threads` workers.
std::vector<double> run_losses(std::size_t iterations, std::size_t threads, double dropout = 0) {
    auto params = Model::make_params(5);
    adamw<Model> opt;
    train_state state;
    train_options o = quick_options(iterations, threads);
    o.dropout = dropout;
    std::vector<double> losses;
    train_hooks hooks;
    hooks.on_step = [&](const step_report& r) { losses.push_back(r.loss); };
    hooks.on_eval = [&](const eval_report& r) { losses.push_back(r.val_loss); };
    CHECK(parallel_train<Model>(*params, opt, shakespeare(), o, state, hooks) ==
          train_end::finished);
    return losses;
}

}  // namespace

TEST_CASE("train: 1, 2 and 3 threads give identical losses over 20 steps") {
    const auto one = run_losses(20, 1);
    REQUIRE(one.size() == 24);  // 20 steps and 4 validations
    CHECK(run_losses(20, 2) == one);
    CHECK(run_losses(20, 3) == one);
    // and the loss fell
    CHECK(one[19] < one[0]);
}

TEST_CASE("train: dropout runs are deterministic too, whatever the thread count") {
    const auto one = run_losses(6, 1, 0.1);
    CHECK(run_losses(6, 2, 0.1) == one);
    CHECK(one != run_losses(6, 1, 0.0));
}

TEST_CASE("train: the sharded gradient equals the gradient of the whole batch") {
    auto params = Model::make_params(9);
    std::vector<std::int32_t> tokens(6 * Cfg::BlockSize), targets(6 * Cfg::BlockSize);
    rng gen(3);
    shakespeare().sample_batch(gen, 6, tokens.data(), targets.data());
    parallel_gradients<Model> sharded(6, 3, 2);
    const double loss = sharded.compute(*params, tokens.data(), targets.data(), 6, Cfg::BlockSize);
    // one pass over all six sequences
    Model::Activations acts(6);
    auto whole = Model::make_grads();
    const float whole_loss =
        Model::forward(*params, acts, tokens.data(), targets.data(), 6, Cfg::BlockSize);
    Model::backward(*params, *whole, acts);
    CHECK(loss == doctest::Approx(whole_loss).epsilon(1e-5));
    Model::visit(
        [&](const std::string& name, const auto& a, const auto& b) {
            float scale = 0;
            for (float x : b) scale = std::max(scale, std::fabs(x));
            auto ia = a.begin();
            for (float x : b) {
                CAPTURE(name);
                CHECK(std::fabs(*ia - x) <= 1e-4f * scale + 1e-7f);
                ++ia;
            }
        },
        sharded.grads(), *whole);
}

TEST_CASE("train: 10 then 10 more iterations end where 20 do") {
    const auto o20 = quick_options(20, 2);
    auto p20 = Model::make_params(5);
    adamw<Model> opt20;
    train_state s20;
    parallel_train<Model>(*p20, opt20, shakespeare(), o20, s20);

    // the same run, stopped after 10 and taken up again from copies of everything
    auto p = Model::make_params(5);
    auto opt = std::make_unique<adamw<Model>>();
    train_state s;
    train_options o10 = o20;
    o10.iterations = 10;
    parallel_train<Model>(*p, *opt, shakespeare(), o10, s);
    auto p2 = std::make_unique<Model::Params>(*p);
    adamw<Model> opt2;
    opt2.moments1() = opt->moments1();
    opt2.moments2() = opt->moments2();
    opt2.set_step_count(opt->step_count());
    train_state s2;
    s2.iteration = s.iteration;
    s2.data_gen.set_state(s.data_gen.state());
    s2.seed = s.seed;
    opt.reset();
    parallel_train<Model>(*p2, opt2, shakespeare(), o20, s2);

    CHECK(s2.iteration == 20);
    CHECK(s2.last_train_loss == s20.last_train_loss);
    std::size_t differ = 0;
    Model::visit(
        [&](const std::string&, const auto& a, const auto& b) {
            auto ib = b.begin();
            for (float x : a) differ += x != *ib++;
        },
        *p2, *p20);
    CHECK(differ == 0);
}

TEST_CASE("train: a stop request ends the run between iterations") {
    auto params = Model::make_params(5);
    adamw<Model> opt;
    train_state state;
    train_hooks hooks;
    hooks.stop_requested = [&]() { return state.iteration == 3; };
    CHECK(parallel_train<Model>(*params, opt, shakespeare(), quick_options(20, 2), state, hooks) ==
          train_end::stopped);
    CHECK(state.iteration == 3);
}

TEST_CASE("train: a loss that is not finite stops training with its iteration") {
    auto params = Model::make_params(5);
    adamw<Model> opt;
    train_state state;
    train_hooks hooks;
    // poison one weight after the second step: the third loss is NaN
    hooks.on_step = [&](const step_report& r) {
        if (r.iteration == 2) params->ln_f.weight(0) = std::numeric_limits<float>::quiet_NaN();
    };
    CHECK_THROWS_WITH_AS(
        parallel_train<Model>(*params, opt, shakespeare(), quick_options(20, 2), state, hooks),
        "parallel_train: the loss is nan at iteration 3; training stopped before the step",
        divergence_error);
    CHECK(state.iteration == 2);
}

TEST_CASE("train: a small model brings the validation loss on the shipped text below 2.5") {
    using Cfg = Config<65, 32, 64, 4, 2>;
    using Model = Transformer<Cfg>;
    const text_data data = text_data::load(shakespeare_path(), Cfg::Vocab, Cfg::BlockSize);
    auto params = Model::make_params(1);
    adamw_options ao;
    ao.beta2 = 0.99;
    adamw<Model> opt(ao);
    train_state state;
    train_options o;
    o.iterations = 300;
    o.batch = 16;
    o.eval_every = 300;
    o.eval_windows = 64;
    o.schedule = {3e-3, 20, 300, 3e-4};
    double first_val = 0, last_val = 0;
    train_hooks hooks;
    hooks.on_eval = [&](const eval_report& r) { last_val = r.val_loss; };
    {
        parallel_gradients<Model> probe(o.batch);
        const auto val = data.validation_windows(o.eval_windows, state.seed);
        first_val = probe.evaluate(*params, val.tokens.data(), val.targets.data(), val.count,
                                   Cfg::BlockSize);
    }
    parallel_train<Model>(*params, opt, data, o, state, hooks);
    CHECK(first_val == doctest::Approx(std::log(65.0)).epsilon(0.05));
    CHECK(last_val < 2.5);
    MESSAGE("validation loss " << first_val << " -> " << last_val);
}

TEST_CASE("train: bad options are usage errors") {
    auto params = Model::make_params(5);
    adamw<Model> opt;
    train_state state;
    train_options o = quick_options(5, 1);
    o.eval_every = 0;
    CHECK_THROWS_WITH_AS(parallel_train<Model>(*params, opt, shakespeare(), o, state),
                         "parallel_train: eval_every, checkpoint_every and eval_windows must be "
                         "at least 1",
                         usage_error);
    CHECK_THROWS_WITH_AS(parallel_gradients<Model>(4, 5),
                         "parallel_gradients: 5 shards for a batch of 4; a shard holds at least "
                         "one sequence",
                         usage_error);
}
