// bench/train_throughput.cpp: training speed of the two presets, one JSON line per figure.
//
//   train_throughput [--preset small|large|all] [--threads N|all|both] [--seconds S]
//
// A step is what PyTorch's reference times: forward and backward of a batch over the worker
// threads (parallel_gradients), the gradient norm, clipping and AdamW. Tokens are random ids:
// the speed does not depend on them. Next to each figure:
//   gflops            achieved, from the constexpr FLOP count (train_flops_per_token)
//   peak_gflops       this machine's single-precision GEMM peak, measured in the same run: the
//                     best kernel at 1024³ on one core (by the thread's CPU time, so that
//                     other work on the machine does not lower it), times the threads
//   fraction_of_peak  gflops / peak_gflops
//   tokens_per_cpu_second, cpu_fraction_of_peak
//                     the same per CPU-second of the process (all its threads): on a shared
//                     machine, what the code does when it gets the cores
//   peak_rss_mib      the process's peak resident memory so far (run one configuration per
//                     process to read it per configuration), next to model_mib, the sum of
//                     parameters, one gradient buffer per shard, the two AdamW moments and
//                     each worker's activations
// and one line with the time to start and join the worker threads, as each step does four
// times.
#include <sys/resource.h>  // getrusage: peak resident memory
#include <time.h>          // clock_gettime(CLOCK_PROCESS_CPUTIME_ID)

#include <algorithm>  // std::max, std::sort
#include <chrono>     // std::chrono::steady_clock
#include <cstddef>    // std::size_t
#include <cstdint>    // std::int32_t
#include <cstdio>     // std::printf
#include <cstring>    // std::strcmp
#include <future>     // std::async: thread start-up
#include <string>     // std::string, std::stoul
#include <vector>     // std::vector

#include "tinyformer/optimizer.hpp"
#include "tinyformer/parallel.hpp"
#include "tinyformer/transformer.hpp"

namespace {

using clock_type = std::chrono::steady_clock;
using Small = tinyformer::Config<65, 64, 128, 4, 4>;
using Large = tinyformer::Config<65, 256, 384, 6, 6>;

double seconds_since(clock_type::time_point t0) {
    return std::chrono::duration<double>(clock_type::now() - t0).count();
}

// CPU seconds of this thread (THREAD) or of the process, all threads (PROCESS)
double cpu_now(clockid_t which) {
    timespec ts{};
    clock_gettime(which, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

// GFLOP/s of the best of a few C(n,n) = A(n,n)·B(n,n) with `kernel`, on this thread.
template <class Kernel>
double gemm_gflops(std::size_t n, Kernel&& kernel) {
    std::vector<float> a(n * n), b(n * n), c(n * n);
    tinyformer::rng gen(7);
    for (auto& x : a) x = float(gen.uniform() - 0.5);
    for (auto& x : b) x = float(gen.uniform() - 0.5);
    double best = 1e30;
    for (int rep = 0; rep < 7; ++rep) {
        const double t0 = cpu_now(CLOCK_THREAD_CPUTIME_ID);
        kernel(n, a.data(), b.data(), c.data());
        best = std::min(best, cpu_now(CLOCK_THREAD_CPUTIME_ID) - t0);
    }
    return 2.0 * double(n) * double(n) * double(n) / best * 1e-9;
}

// The single-core sgemm peak: the best of the header-only kernel and, when built with it, BLAS.
double single_core_peak() {
    const std::size_t n = 1024;
    double best = gemm_gflops(n, [](std::size_t m, const float* a, const float* b, float* c) {
        tinyformer::detail::gemm_kernel(false, false, m, m, m, 1.0f, a, m, b, m, 0.0f, c, m);
    });
#ifdef TINYFORMER_USE_BLAS
    best = std::max(best, gemm_gflops(n, [](std::size_t m, const float* a, const float* b,
                                            float* c) {
        const auto k = static_cast<blasint>(m);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, k, k, k, 1.0f, a, k, b, k, 0.0f,
                    c, k);
    }));
#endif
    return best;
}

// Bytes of one worker's Transformer<Cfg>::Activations for `batch` sequences, the buffers
// counted as transformer.hpp and the layers allocate them.
template <class Cfg>
std::size_t activation_bytes(std::size_t batch) {
    constexpr std::size_t T = Cfg::BlockSize, C = Cfg::EmbedSize, F = Cfg::Hidden;
    constexpr std::size_t V = Cfg::Vocab, NH = Cfg::Heads, L = Cfg::Layers;
    const std::size_t N = batch * T;
    // per block: ln_1, res, ln_2, out, attn.y (N,C); attn.qkv (N,3C); four (N) statistics;
    // attn.att (B,NH,T,T); mlp.fc, mlp.act (N,F)
    const std::size_t per_block = 5 * N * C + 3 * N * C + 4 * N + batch * NH * T * T + 2 * N * F;
    // scratch: branch, dln, dbranch, attn.dy (N,C); attn.dqkv (N,3C); dhidden (N,F); dp, pd
    const std::size_t scratch = 4 * N * C + 3 * N * C + N * F + 2 * T * T;
    // x0, lnf, dx (N,C); lnf statistics (N); logits, probs (N,V)
    const std::size_t model = 3 * N * C + 2 * N + 2 * N * V;
    const std::size_t ids = 2 * N * sizeof(std::int32_t);
    return (L * per_block + scratch + model) * sizeof(typename Cfg::value_type) + ids;
}

// Microseconds to start and join `workers` threads through std::async, as parallel_gradients
// does four times per step (the shards, the reduction, the gradient norm and the update):
// the median of 201 tries.
double thread_start_us(std::size_t workers) {
    std::vector<double> us;
    for (int i = 0; i < 201; ++i) {
        const auto t0 = clock_type::now();
        std::vector<std::future<void>> running;
        for (std::size_t w = 0; w < workers; ++w) {
            running.push_back(std::async(std::launch::async, [] {}));
        }
        for (auto& f : running) f.get();
        us.push_back(seconds_since(t0) * 1e6);
    }
    std::sort(us.begin(), us.end());
    return us[us.size() / 2];
}

double peak_rss_mib() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return double(u.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

template <class Cfg>
void run(const char* preset, std::size_t batch, std::size_t threads, double seconds,
         double peak_one_core) {
    using Model = tinyformer::Transformer<Cfg>;
    constexpr std::size_t T = Cfg::BlockSize;
    auto params = Model::make_params(1337);
    tinyformer::adamw<Model> opt;
    tinyformer::parallel_gradients<Model> engine(batch, 0, threads);
    std::vector<std::int32_t> tokens(batch * T), targets(batch * T);
    tinyformer::rng gen(42);
    auto draw = [&]() {
        for (auto& x : tokens) x = std::int32_t(gen.below(Cfg::Vocab));
        for (auto& x : targets) x = std::int32_t(gen.below(Cfg::Vocab));
    };
    auto step = [&]() {
        draw();
        engine.compute(*params, tokens.data(), targets.data(), batch, T);
        opt.step(*params, engine.grads(), 1e-4, engine.executor());
    };
    // warm up, then time whole steps for about `seconds`; report the median of 5 rounds
    for (int i = 0; i < 2; ++i) step();
    std::vector<double> rates, cpu_rates;
    for (int round = 0; round < 5; ++round) {
        std::size_t steps = 0;
        const auto t0 = clock_type::now();
        const double c0 = cpu_now(CLOCK_PROCESS_CPUTIME_ID);
        do {
            step();
            ++steps;
        } while (seconds_since(t0) < seconds / 5);
        rates.push_back(double(steps * batch * T) / seconds_since(t0));
        cpu_rates.push_back(double(steps * batch * T) / (cpu_now(CLOCK_PROCESS_CPUTIME_ID) - c0));
    }
    std::sort(rates.begin(), rates.end());
    std::sort(cpu_rates.begin(), cpu_rates.end());
    const double tps = rates[rates.size() / 2];
    const double cpu_tps = cpu_rates[cpu_rates.size() / 2];
    const double flops = double(tinyformer::train_flops_per_token<Cfg>());
    const double gflops = tps * flops * 1e-9;
    const double peak = peak_one_core * double(engine.threads());
    // parameters, one gradient buffer per shard, two moments, activations per worker
    const double mib = 1024.0 * 1024.0;
    const double P = double(tinyformer::parameter_count<Cfg>() * sizeof(typename Cfg::value_type));
    const double acts = double(engine.threads()) *
                        double(activation_bytes<Cfg>((batch + engine.shards() - 1) /
                                                     engine.shards()));
    const double grads = double(engine.shards()) * P;
    std::printf("{\"bench\": \"train\", \"preset\": \"%s\", \"threads\": %zu, \"batch\": %zu, "
                "\"kernel\": \"%s\", \"tokens_per_second\": %.1f, \"gflops\": %.2f, "
                "\"peak_gflops\": %.2f, \"fraction_of_peak\": %.3f, "
                "\"tokens_per_cpu_second\": %.1f, \"cpu_fraction_of_peak\": %.3f, "
                "\"peak_rss_mib\": %.1f, \"model_mib\": %.1f, \"params_mib\": %.1f, "
                "\"grads_mib\": %.1f, \"moments_mib\": %.1f, \"activations_mib\": %.1f}\n",
                preset, engine.threads(), batch,
#ifdef TINYFORMER_USE_BLAS
                "blas",
#else
                "header",
#endif
                tps, gflops, peak, gflops / peak, cpu_tps, cpu_tps * flops * 1e-9 / peak_one_core,
                peak_rss_mib(), (P + grads + 2 * P + acts) / mib, P / mib, grads / mib,
                2 * P / mib, acts / mib);
    std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
    // each worker's BLAS runs on its own thread: no oversubscription
    tinyformer::blas_single_threaded();
    std::string preset = "all", threads = "both";
    double seconds = 10;
    bool usage = argc % 2 == 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--preset")) preset = argv[i + 1];
        else if (!std::strcmp(argv[i], "--threads")) threads = argv[i + 1];
        else if (!std::strcmp(argv[i], "--seconds")) seconds = std::stod(argv[i + 1]);
        else usage = true;
    }
    if (usage || (preset != "small" && preset != "large" && preset != "all")) {
        std::fprintf(stderr, "usage: %s [--preset small|large|all] [--threads N|all|both] "
                     "[--seconds S]\n", argv[0]);
        return 2;
    }
    const std::size_t all = tinyformer::default_threads();
    std::vector<std::size_t> counts;
    if (threads == "both") counts = {1, all};
    else if (threads == "all") counts = {all};
    else counts = {std::size_t(std::stoul(threads))};
    const double peak = single_core_peak();
    if (all > 1) {
        std::printf("{\"bench\": \"threads\", \"threads\": %zu, \"start_join_us\": %.1f}\n", all,
                    thread_start_us(all - 1));
    }
    for (std::size_t n : counts) {
        if (preset == "small" || preset == "all") run<Small>("small", 12, n, seconds, peak);
        if (preset == "large" || preset == "all") run<Large>("large", 8, n, seconds, peak);
    }
    return 0;
}
