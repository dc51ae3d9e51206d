// bench/gemm_bench.cpp: single-thread GFLOP/s of the header-only kernel (and of CBLAS when
// built with TINYFORMER_USE_BLAS) on the products a training step makes, one JSON line each.
//
//   gemm_bench [--seconds S] [--only TEXT]
//
// S is the time per shape and kernel (default 0.3); TEXT keeps the shapes whose name holds
// it. Time is the thread's CPU time, so that other processes on a shared machine count less.
#include <time.h>  // clock_gettime(CLOCK_THREAD_CPUTIME_ID)

#include <algorithm>  // std::max, std::min
#include <cstddef>    // std::size_t
#include <cstdio>     // std::printf
#include <cstring>    // std::strcmp
#include <string>     // std::string, std::stod
#include <vector>     // std::vector

#include "tinyformer/gemm.hpp"
#include "tinyformer/random.hpp"

namespace {

struct shape {
    const char* what;
    bool ta, tb;
    std::size_t M, N, K, lda, ldb, ldc;
};

// The products of a training step: a shard of 3 (small) or 2 (large) sequences, forward
// (A · Wᵀ), input gradient (dout · W), weight gradient (doutᵀ · inp), and one attention head
// read in place from qkv; then the brief's reference sizes, generation's one row at a time
// (with the key/value cache) and a large square.
const shape shapes[] = {
    {"small qkv forward", false, true, 192, 384, 128, 128, 128, 384},
    {"small fc forward", false, true, 192, 512, 128, 128, 128, 512},
    {"small mlp proj forward", false, true, 192, 128, 512, 512, 512, 128},
    {"small attn proj forward", false, true, 192, 128, 128, 128, 128, 128},
    {"small logits forward", false, true, 192, 65, 128, 128, 128, 65},
    {"small fc dinp", false, false, 192, 128, 512, 512, 128, 128},
    {"small mlp proj dinp", false, false, 192, 512, 128, 128, 512, 512},
    {"small qkv dinp", false, false, 192, 128, 384, 384, 128, 128},
    {"small fc dweight", true, false, 512, 128, 192, 512, 128, 128},
    {"small mlp proj dweight", true, false, 128, 512, 192, 128, 512, 512},
    {"small qkv dweight", true, false, 384, 128, 192, 384, 128, 128},
    {"small head q·kT", false, true, 64, 64, 32, 384, 384, 64},
    {"small head p·v", false, false, 64, 32, 64, 64, 384, 128},
    {"small head pT·dy", true, false, 64, 32, 64, 64, 128, 384},
    {"768x384x128", false, false, 768, 384, 128, 128, 384, 384},
    {"768x128x512", false, false, 768, 128, 512, 512, 128, 128},
    {"768x384x128 A·Bt", false, true, 768, 384, 128, 128, 128, 384},
    {"large fc forward", false, true, 512, 1536, 384, 384, 384, 1536},
    {"large mlp proj forward", false, true, 512, 384, 1536, 1536, 1536, 384},
    {"large fc dinp", false, false, 512, 384, 1536, 1536, 384, 384},
    {"large fc dweight", true, false, 1536, 384, 512, 1536, 384, 384},
    {"large head q·kT", false, true, 256, 256, 64, 1152, 1152, 256},
    {"large head p·v", false, false, 256, 64, 256, 256, 1152, 384},
    {"gemv 1x384x128", false, true, 1, 384, 128, 128, 128, 384},
    {"gemv 1x128x512", false, true, 1, 128, 512, 512, 512, 128},
    {"gemv 1x384x128 nn", false, false, 1, 384, 128, 128, 384, 384},
    {"gemv head 1x64x32", false, true, 1, 64, 32, 384, 384, 64},
    {"gemv head 1x32x64 nn", false, false, 1, 32, 64, 64, 384, 32},
    {"gemv head 64x1x32 nn", false, false, 64, 1, 32, 384, 1, 1},
    {"square 1024", false, false, 1024, 1024, 1024, 1024, 1024, 1024},
};

// CPU seconds of this thread
double cpu_now() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

// Best GFLOP/s over 5 rounds of about seconds / 5 each.
template <class F>
double measure(const shape& s, double seconds, F&& product) {
    double best = 0;
    for (int round = 0; round < 5; ++round) {
        std::size_t calls = 0;
        const double t0 = cpu_now();
        // the clock is read every 16 calls: for the small products its cost would count
        do {
            for (int i = 0; i < 16; ++i) product();
            calls += 16;
        } while (cpu_now() - t0 < seconds / 5);
        const double flops = 2.0 * double(s.M) * double(s.N) * double(s.K) * double(calls);
        best = std::max(best, flops / (cpu_now() - t0) * 1e-9);
    }
    return best;
}

}  // namespace

int main(int argc, char** argv) {
    tinyformer::blas_single_threaded();
    double seconds = 0.3;
    std::string only;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--seconds")) seconds = std::stod(argv[i + 1]);
        if (!std::strcmp(argv[i], "--only")) only = argv[i + 1];
    }
    tinyformer::rng gen(3);
    for (const shape& s : shapes) {
        if (std::string(s.what).find(only) == std::string::npos) continue;
        std::vector<float> A((s.ta ? s.K : s.M) * s.lda), B((s.tb ? s.N : s.K) * s.ldb);
        std::vector<float> C(s.M * s.ldc);
        for (auto& x : A) x = float(gen.uniform() - 0.5);
        for (auto& x : B) x = float(gen.uniform() - 0.5);
        const double header = measure(s, seconds, [&]() {
            tinyformer::detail::gemm_kernel(s.ta, s.tb, s.M, s.N, s.K, 1.0f, A.data(), s.lda,
                                            B.data(), s.ldb, 0.0f, C.data(), s.ldc);
        });
        std::printf("{\"bench\": \"gemm\", \"shape\": \"%s\", \"op\": \"%c%c\", \"M\": %zu, "
                    "\"N\": %zu, \"K\": %zu, \"header_gflops\": %.2f",
                    s.what, s.ta ? 't' : 'n', s.tb ? 't' : 'n', s.M, s.N, s.K, header);
#ifdef TINYFORMER_USE_BLAS
        const double blas = measure(s, seconds, [&]() {
            cblas_sgemm(CblasRowMajor, s.ta ? CblasTrans : CblasNoTrans,
                        s.tb ? CblasTrans : CblasNoTrans, blasint(s.M), blasint(s.N),
                        blasint(s.K), 1.0f, A.data(), blasint(s.lda), B.data(), blasint(s.ldb),
                        0.0f, C.data(), blasint(s.ldc));
        });
        std::printf(", \"blas_gflops\": %.2f, \"header_over_blas\": %.3f", blas, header / blas);
#endif
        std::printf("}\n");
        std::fflush(stdout);
    }
    return 0;
}
