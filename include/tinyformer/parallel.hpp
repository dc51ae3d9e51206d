// tinyformer/parallel.hpp: the gradient of one batch, computed by several threads.
//
// The batch is cut into a fixed number of shards, each a run of whole sequences. Worker w
// (started with std::async) takes shards w, w + W, w + 2W, ..., runs forward and backward
// on each against the shared, read-only parameters, into that shard's own gradient buffer,
// and hands back the shards' losses. The shard gradients are then summed in shard order.
// Since the shards and the order of every sum depend on the shard count alone, one batch
// gives the same bits with any number of threads.
#pragma once

#include <algorithm>  // std::min, std::fill
#include <cstddef>    // std::size_t
#include <cstdint>    // std::int32_t, std::uint64_t
#include <exception>  // std::exception_ptr
#include <future>     // std::async, std::future
#include <memory>     // std::unique_ptr
#include <string>     // std::string, std::to_string
#include <thread>     // std::thread::hardware_concurrency
#include <vector>     // std::vector

#include "error.hpp"
#include "gemm.hpp"

namespace tinyformer {

// The shard count used when none is given: at most 4 shards, so that each holds a few
// sequences (larger matrix products) and the reduction stays short.
inline std::size_t default_shards(std::size_t batch) {
    return std::min<std::size_t>(batch, 4);
}

// The thread count used when none is given: every core.
inline std::size_t default_threads() {
    const unsigned n = std::thread::hardware_concurrency();
    return n == 0 ? 1 : n;
}

template <class Model>
class parallel_gradients {
public:
    using T = typename Model::value_type;
    using Params = typename Model::Params;
    using Grads = typename Model::Grads;

    // threads and shards of 0 take the defaults; batch is the largest batch to be given
    parallel_gradients(std::size_t batch, std::size_t shards = 0, std::size_t threads = 0,
                       T dropout = T(0))
        : batch_(batch),
          shards_(shards ? shards : default_shards(batch)),
          threads_(std::min(threads ? threads : default_threads(), shards_)) {
        if (batch == 0) throw usage_error("parallel_gradients: the batch must be at least 1");
        // each worker's products stay on its own thread: no oversubscription
        blas_single_threaded();
        if (shards_ > batch) {
            throw usage_error("parallel_gradients: " + std::to_string(shards_) +
                              " shards for a batch of " + std::to_string(batch) +
                              "; a shard holds at least one sequence");
        }
        const std::size_t rows = (batch + shards_ - 1) / shards_;  // sequences per shard, max
        for (std::size_t w = 0; w < threads_; ++w) {
            acts_.push_back(std::make_unique<typename Model::Activations>(rows, dropout));
        }
        for (std::size_t s = 0; s < shards_; ++s) grads_.push_back(Model::make_grads());
        losses_.resize(shards_);
        // the gradient tensors of every shard, for the reduction
        for (std::size_t s = 0; s < shards_; ++s) {
            std::size_t i = 0;
            Model::visit(
                [&](const std::string&, auto& g) {
                    if (s == 0) pieces_.push_back({});
                    pieces_[i].data.push_back(g.data());
                    pieces_[i].size = g.size();
                    ++i;
                },
                *grads_[s]);
        }
    }

    std::size_t shards() const { return shards_; }
    std::size_t threads() const { return threads_; }

    // The mean loss over B sequences of t tokens (tokens, targets: (B, t)), leaving its
    // gradient in grads(). Dropout masks come from dropout_seed and the shard index.
    double compute(const Params& p, const std::int32_t* tokens, const std::int32_t* targets,
                   std::size_t B, std::size_t t, std::uint64_t dropout_seed = 0) {
        check_batch(B);
        run_shards(B, [&](std::size_t w, std::size_t s, std::size_t first, std::size_t n) {
            auto& a = *acts_[w];
            a.training = true;
            a.seed_dropout(dropout_seed * 1000003u + s);
            Model::zero(*grads_[s]);
            const T loss = Model::forward(p, a, tokens + first * t, targets + first * t, n, t);
            Model::backward(p, *grads_[s], a, T(n) / T(B));
            return double(loss) * double(n);
        });
        reduce();
        return mean_loss(B);
    }

    // The mean loss over B sequences, forward only, without dropout.
    double evaluate(const Params& p, const std::int32_t* tokens, const std::int32_t* targets,
                    std::size_t B, std::size_t t) {
        double total = 0;
        // in batches of at most batch_ sequences, each split into the shards
        for (std::size_t first = 0; first < B; first += batch_) {
            const std::size_t n = std::min(batch_, B - first);
            run_shards(n, [&](std::size_t w, std::size_t, std::size_t f, std::size_t m) {
                auto& a = *acts_[w];
                a.training = false;
                const std::size_t off = (first + f) * t;
                const T loss = Model::forward(p, a, tokens + off, targets + off, m, t);
                return double(loss) * double(m);
            });
            for (std::size_t s = 0; s < shards_; ++s) total += losses_[s];
        }
        return total / double(B);
    }

    // Calls f(i) once for every i < n, worker w taking i = w, w + W, w + 2W, ...; returns
    // when all are done. The optimizers take this as their executor, so that the step after
    // compute() runs on the same threads:  opt.step(params, engine.grads(), lr, engine.executor())
    template <class F>
    void for_each(std::size_t n, F&& f) {
        on_workers(std::min(threads_, n), [&](std::size_t w) {
            for (std::size_t i = w; i < n; i += threads_) f(i);
        });
    }

    // for_each as a callable object: exec(n, f).
    auto executor() {
        return [this](std::size_t n, auto&& f) { for_each(n, f); };
    }

    // The summed gradient of the last compute().
    Grads& grads() { return *grads_[0]; }
    const Grads& grads() const { return *grads_[0]; }

private:
    struct piece {
        std::vector<T*> data;  // the same tensor in each shard's gradients
        std::size_t size = 0;
    };

    void check_batch(std::size_t B) const {
        if (B < shards_ || B > batch_) {
            throw usage_error("parallel_gradients: a batch of " + std::to_string(B) +
                              " sequences, expected " + std::to_string(shards_) + ".." +
                              std::to_string(batch_));
        }
    }

    // Calls work(worker, shard, first sequence, sequences) for every shard of a batch of B,
    // storing what it returns in losses_[shard].
    template <class Work>
    void run_shards(std::size_t B, Work&& work) {
        std::fill(losses_.begin(), losses_.end(), 0.0);
        const std::size_t S = std::min(shards_, B);
        on_workers(std::min(threads_, S), [&, S, B](std::size_t w) {
            for (std::size_t s = w; s < S; s += threads_) {
                const std::size_t first = s * B / S, last = (s + 1) * B / S;
                losses_[s] = work(w, s, first, last - first);
            }
        });
    }

    // grads_[0] += grads_[1] + ... in shard order, the elements split among the workers
    void reduce() {
        if (shards_ == 1) return;
        on_workers(threads_, [&](std::size_t w) {
            for (const piece& pc : pieces_) {
                const std::size_t lo = w * pc.size / threads_, hi = (w + 1) * pc.size / threads_;
                T* dst = pc.data[0];
                for (std::size_t s = 1; s < shards_; ++s) {
                    const T* src = pc.data[s];
                    for (std::size_t i = lo; i < hi; ++i) dst[i] += src[i];
                }
            }
        });
    }

    // Runs task(w) for w < n: worker 0 on the calling thread, the others on std::async
    // threads. Waits for all, reading every future so that no error is lost, and rethrows
    // the first.
    template <class Task>
    void on_workers(std::size_t n, Task&& task) {
        std::vector<std::future<void>> running;
        running.reserve(n);
        for (std::size_t w = 1; w < n; ++w) {
            running.push_back(std::async(std::launch::async, [&task, w] { task(w); }));
        }
        std::exception_ptr error;
        try {
            if (n > 0) task(0);
        } catch (...) {
            error = std::current_exception();
        }
        for (auto& f : running) {
            try {
                f.get();
            } catch (...) {
                if (!error) error = std::current_exception();
            }
        }
        if (error) std::rethrow_exception(error);
    }

    double mean_loss(std::size_t B) const {
        double total = 0;
        for (std::size_t s = 0; s < shards_; ++s) total += losses_[s];
        return total / double(B);
    }

    std::size_t batch_, shards_, threads_;
    std::vector<std::unique_ptr<typename Model::Activations>> acts_;  // one per worker
    std::vector<std::unique_ptr<Grads>> grads_;                       // one per shard
    std::vector<double> losses_;  // (shards) Σ loss of each shard's rows
    std::vector<piece> pieces_;   // every gradient tensor, across the shards
};

}  // namespace tinyformer
