// tinyformer/train.hpp: the training loop, parallel_train.
//
// Each iteration draws a batch of random windows from the training text, computes its
// gradient on every core (parallel.hpp), and applies the optimizer at the schedule's rate.
// Every eval_every iterations it measures the validation loss on a fixed set of windows.
// It reports through hooks and never prints; the caller saves, logs and decides to stop.
#pragma once

#include <chrono>      // std::chrono::steady_clock
#include <cmath>       // std::isfinite
#include <cstddef>     // std::size_t
#include <cstdint>     // std::int32_t, std::uint64_t
#include <functional>  // std::function
#include <limits>      // std::numeric_limits
#include <sstream>     // std::ostringstream
#include <string>      // std::string
#include <vector>      // std::vector

#include "error.hpp"
#include "parallel.hpp"
#include "random.hpp"
#include "schedule.hpp"
#include "text_data.hpp"

namespace tinyformer {

struct train_options {
    std::size_t iterations = 2000;        // train until the state's iteration reaches this
    std::size_t batch = 12;               // B: sequences per iteration
    std::size_t shards = 0;               // 0: default_shards(batch); fixes the arithmetic
    std::size_t threads = 0;              // 0: every core; changes the speed, not the result
    std::size_t eval_every = 100;         // validation and a log every this many iterations
    std::size_t eval_windows = 200;       // validation windows, fixed for the whole run
    std::size_t checkpoint_every = 1000;  // the checkpoint hook every this many iterations
    double dropout = 0;                   // on attention weights and residual branches
    lr_schedule schedule{1e-3, 100, 2000, 1e-4};
};

// Where a run is: what a training file saves so that a later run goes on exactly.
struct train_state {
    std::size_t iteration = 0;  // iterations done
    rng data_gen{1337};         // draws the training windows
    std::uint64_t seed = 1337;  // the run's seed: dropout masks derive from it
    double last_train_loss = std::numeric_limits<double>::quiet_NaN();
    double last_val_loss = std::numeric_limits<double>::quiet_NaN();
    double best_val_loss = std::numeric_limits<double>::quiet_NaN();
};

// After every iteration.
struct step_report {
    std::size_t iteration;  // iterations done, this one included
    double loss;            // this batch's mean loss
    double lr;              // the rate it was trained at
    double grad_norm;       // before clipping
};

// Every eval_every iterations, and at the end.
struct eval_report {
    std::size_t iteration;     // iterations done
    double train_loss;         // mean batch loss since the previous report
    double val_loss;           // on the fixed validation windows
    bool best;                 // the lowest validation loss of the run so far
    double tokens_per_second;  // training tokens since the previous report, per second
    double elapsed_seconds;    // since this run started
    double eta_seconds;        // at the run's speed so far
};

struct train_hooks {
    std::function<void(const step_report&)> on_step;
    std::function<void(const eval_report&)> on_eval;
    std::function<void(std::size_t iteration)> on_checkpoint;
    std::function<bool()> stop_requested;  // polled between iterations
};

// How a run ended: the iteration target was reached, or a stop was requested.
enum class train_end { finished, stopped };

namespace detail {

// opt.step on the engine's threads when the optimizer takes an executor (adamw, sgd),
// otherwise on the calling thread.
template <class Optimizer, class Params, class Engine>
auto optimizer_step(Optimizer& opt, Params& params, Engine& engine, double lr, int)
    -> decltype(opt.step(params, engine.grads(), lr, engine.executor())) {
    return opt.step(params, engine.grads(), lr, engine.executor());
}
template <class Optimizer, class Params, class Engine>
double optimizer_step(Optimizer& opt, Params& params, Engine& engine, double lr, long) {
    return opt.step(params, engine.grads(), lr);
}
template <class Optimizer, class Params, class Engine>
double optimizer_step(Optimizer& opt, Params& params, Engine& engine, double lr) {
    return optimizer_step(opt, params, engine, lr, 0);
}

}  // namespace detail

// Trains params with opt (anything with step(params, grads, lr) returning the gradient
// norm; also given the workers as a last argument when it takes one) on data until state.iteration reaches options.iterations. Throws divergence_error,
// with params as they were before the step, when a loss or gradient is not finite.
template <class Model, class Optimizer>
train_end parallel_train(typename Model::Params& params, Optimizer& opt, const text_data& data,
                         const train_options& o, train_state& state,
                         const train_hooks& hooks = {}) {
    using clock = std::chrono::steady_clock;
    const std::size_t T = Model::config::BlockSize;
    o.schedule.validate();
    if (o.eval_every == 0 || o.checkpoint_every == 0 || o.eval_windows == 0) {
        throw usage_error(
            "parallel_train: eval_every, checkpoint_every and eval_windows "
            "must be at least 1");
    }
    if (data.block_size() != T) {
        throw usage_error("parallel_train: the text was cut for BlockSize " +
                          std::to_string(data.block_size()) + ", the model has " +
                          std::to_string(T));
    }
    parallel_gradients<Model> engine(o.batch, o.shards, o.threads,
                                     static_cast<typename Model::value_type>(o.dropout));
    const text_windows val = data.validation_windows(o.eval_windows, state.seed);
    std::vector<std::int32_t> tokens(o.batch * T), targets(o.batch * T);

    const auto start = clock::now();
    auto last_report = start;
    const std::size_t first_iteration = state.iteration;
    double loss_sum = 0;
    std::size_t loss_count = 0;

    auto evaluate = [&]() {
        const double val_loss =
            engine.evaluate(params, val.tokens.data(), val.targets.data(), val.count, T);
        const auto now = clock::now();
        const double elapsed = std::chrono::duration<double>(now - start).count();
        const double since = std::chrono::duration<double>(now - last_report).count();
        const std::size_t done = state.iteration - first_iteration;
        const std::size_t left =
            o.iterations > state.iteration ? o.iterations - state.iteration : 0;
        eval_report r;
        r.iteration = state.iteration;
        r.train_loss = loss_count ? loss_sum / double(loss_count) : state.last_train_loss;
        r.val_loss = val_loss;
        r.best = !(val_loss >= state.best_val_loss);  // also when there was none before
        r.tokens_per_second = since > 0 ? double(loss_count * o.batch * T) / since : 0;
        r.elapsed_seconds = elapsed;
        r.eta_seconds = done ? elapsed / double(done) * double(left) : 0;
        state.last_val_loss = val_loss;
        if (r.best) state.best_val_loss = val_loss;
        loss_sum = 0;
        loss_count = 0;
        last_report = clock::now();
        if (hooks.on_eval) hooks.on_eval(r);
    };

    while (state.iteration < o.iterations) {
        if (hooks.stop_requested && hooks.stop_requested()) return train_end::stopped;
        // a batch, its gradient, and the step; a failure leaves params and state as they were
        rng gen = state.data_gen;
        data.sample_batch(gen, o.batch, tokens.data(), targets.data());
        const double loss = engine.compute(params, tokens.data(), targets.data(), o.batch, T,
                                           state.seed + state.iteration);
        if (!std::isfinite(loss)) {
            std::ostringstream msg;
            msg << "parallel_train: the loss is " << loss << " at iteration " << state.iteration + 1
                << "; training stopped before the step";
            throw divergence_error(msg.str());
        }
        const double lr = o.schedule.at(state.iteration);
        double norm = 0;
        try {
            norm = detail::optimizer_step(opt, params, engine, lr);
        } catch (const divergence_error& e) {
            throw divergence_error("parallel_train: at iteration " +
                                   std::to_string(state.iteration + 1) + ": " + e.what());
        }
        state.data_gen = gen;
        ++state.iteration;
        state.last_train_loss = loss;
        loss_sum += loss;
        ++loss_count;
        if (hooks.on_step) hooks.on_step({state.iteration, loss, lr, norm});
        if (state.iteration % o.eval_every == 0 || state.iteration == o.iterations) evaluate();
        if (state.iteration % o.checkpoint_every == 0 && hooks.on_checkpoint) {
            hooks.on_checkpoint(state.iteration);
        }
    }
    return train_end::finished;
}

}  // namespace tinyformer
