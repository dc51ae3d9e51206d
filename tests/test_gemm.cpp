// tests/test_gemm.cpp: tinyformer::gemm and the header-only kernel against a plain triple loop.
//
// Random shapes around the kernel's tile sizes (so that every tail is taken), strided
// operands, all four transpose combinations, beta 0, 1 and other, in float and double.
// Both the entry point (CBLAS when built with it) and the header-only kernel are checked.
#include <tinyformer/gemm.hpp>

#include <cmath>    // std::fabs, std::isnan
#include <cstddef>  // std::size_t
#include <limits>   // std::numeric_limits
#include <string>   // std::string
#include <vector>   // std::vector

#include <doctest/doctest.h>

#include <tinyformer/random.hpp>

namespace tf = tinyformer;

namespace {

struct shape {
    bool ta, tb;
    std::size_t M, N, K, lda, ldb, ldc;
};

// op(X)[r, c] for X stored row-major with leading dimension ld
template <class T>
T at(const std::vector<T>& X, bool t, std::size_t ld, std::size_t r, std::size_t c) {
    return t ? X[c * ld + r] : X[r * ld + c];
}

// Runs one product with gemm_fn and compares with the triple loop in long double: each
// entry within tol · (|alpha|·Σ_k |a·b| + |beta·c|); everything outside C(M,N) unchanged.
template <class T, class Gemm>
void check(const shape& s, T alpha, T beta, std::uint64_t seed, Gemm&& gemm_fn) {
    tf::rng gen(seed);
    const std::size_t a_rows = s.ta ? s.K : s.M, a_cols = s.ta ? s.M : s.K;
    const std::size_t b_rows = s.tb ? s.N : s.K, b_cols = s.tb ? s.K : s.N;
    std::vector<T> A(a_rows * s.lda), B(b_rows * s.ldb), C(s.M * s.ldc);
    for (auto& x : A) x = T(gen.uniform() * 2 - 1);
    for (auto& x : B) x = T(gen.uniform() * 2 - 1);
    for (auto& x : C) x = T(gen.uniform() * 2 - 1);
    // padding between rows, never read by the product: NaN, so that reading it shows
    const T nan = std::numeric_limits<T>::quiet_NaN();
    for (std::size_t r = 0; r < a_rows; ++r) {
        for (std::size_t c = a_cols; c < s.lda; ++c) A[r * s.lda + c] = nan;
    }
    for (std::size_t r = 0; r < b_rows; ++r) {
        for (std::size_t c = b_cols; c < s.ldb; ++c) B[r * s.ldb + c] = nan;
    }
    // beta 0 overwrites: C may hold NaN then
    if (beta == T(0)) {
        for (std::size_t i = 0; i < s.M; ++i) {
            for (std::size_t j = 0; j < s.N; ++j) C[i * s.ldc + j] = nan;
        }
    }
    const std::vector<T> C0 = C;
    gemm_fn(s.ta, s.tb, s.M, s.N, s.K, alpha, A.data(), s.lda, B.data(), s.ldb, beta, C.data(),
            s.ldc);
    const double tol = sizeof(T) == 4 ? 1e-5 : 1e-13;
    std::size_t bad = 0;
    for (std::size_t i = 0; i < s.M; ++i) {
        for (std::size_t j = 0; j < s.ldc; ++j) {
            const T got = C[i * s.ldc + j];
            if (j >= s.N) {
                // outside C(M,N): untouched
                if (!(got == C0[i * s.ldc + j])) ++bad;
                continue;
            }
            long double sum = 0, mag = 0;
            for (std::size_t k = 0; k < s.K; ++k) {
                const long double p =
                    (long double)at(A, s.ta, s.lda, i, k) * at(B, s.tb, s.ldb, k, j);
                sum += p;
                mag += std::fabs(p);
            }
            const long double c0 = beta == T(0) ? 0 : C0[i * s.ldc + j];
            const long double want = (long double)alpha * sum + (long double)beta * c0;
            const long double scale = std::fabs((long double)alpha) * mag +
                                      std::fabs((long double)beta * c0) + 1e-30L;
            if (std::isnan(got) || std::fabs(got - want) > tol * scale) {
                if (++bad <= 3) {
                    FAIL_CHECK("C[" << i << "," << j << "] = " << got << ", expected "
                                    << double(want));
                }
            }
        }
    }
    CHECK(bad == 0);
}

// Shapes around the tile sizes: M, N and K each below, at and past a multiple of the tile,
// with and without padding between rows.
std::vector<shape> shapes(std::uint64_t seed) {
    std::vector<shape> out;
    tf::rng gen(seed);
    const std::size_t sizes[] = {1, 2, 5, 7, 8, 13, 16, 17, 31, 32, 33, 48, 63, 65, 97, 130};
    const std::size_t ks[] = {1, 3, 16, 33, 127, 128, 129, 257, 300, 520};
    for (int t = 0; t < 4; ++t) {
        for (int n = 0; n < 24; ++n) {
            shape s{};
            s.ta = t & 1;
            s.tb = (t >> 1) & 1;
            s.M = sizes[gen.below(16)];
            s.N = sizes[gen.below(16)];
            s.K = ks[gen.below(10)];
            const bool pad = n % 2 == 1;
            s.lda = (s.ta ? s.M : s.K) + (pad ? gen.below(9) + 1 : 0);
            s.ldb = (s.tb ? s.K : s.N) + (pad ? gen.below(9) + 1 : 0);
            s.ldc = s.N + (pad ? gen.below(9) + 1 : 0);
            out.push_back(s);
        }
    }
    // the model's own: a shard's rows by the layer widths, and one attention head inside qkv
    out.push_back({false, true, 192, 384, 128, 128, 128, 384});
    out.push_back({false, false, 192, 128, 512, 512, 128, 128});
    out.push_back({true, false, 512, 128, 192, 512, 128, 128});
    out.push_back({false, true, 64, 64, 32, 384, 384, 64});
    out.push_back({true, false, 64, 32, 64, 64, 128, 384});
    out.push_back({false, false, 300, 70, 600, 600, 70, 70});
    return out;
}

template <class T>
void check_kernel_and_entry(T alpha, T beta, std::uint64_t seed) {
    std::uint64_t case_seed = seed;
    for (const shape& s : shapes(seed)) {
        CAPTURE(s.ta);
        CAPTURE(s.tb);
        CAPTURE(s.M);
        CAPTURE(s.N);
        CAPTURE(s.K);
        CAPTURE(s.lda);
        CAPTURE(s.ldb);
        CAPTURE(s.ldc);
        check<T>(s, alpha, beta, ++case_seed,
                 [](bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K, T al,
                    const T* A, std::size_t lda, const T* B, std::size_t ldb, T be, T* C,
                    std::size_t ldc) {
                     tf::detail::gemm_kernel(ta, tb, M, N, K, al, A, lda, B, ldb, be, C, ldc);
                 });
        check<T>(s, alpha, beta, ++case_seed,
                 [](bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K, T al,
                    const T* A, std::size_t lda, const T* B, std::size_t ldb, T be, T* C,
                    std::size_t ldc) {
                     tf::gemm(ta ? tf::op::transpose : tf::op::none,
                              tb ? tf::op::transpose : tf::op::none, M, N, K, al, A, lda, B, ldb,
                              be, C, ldc);
                 });
    }
}

}  // namespace

TEST_CASE_TEMPLATE("gemm: matches the triple loop for every transpose, tail and stride", T, float,
                   double) {
    SUBCASE("beta 0 overwrites NaN") { check_kernel_and_entry<T>(T(1), T(0), 11); }
    SUBCASE("beta 1 adds") { check_kernel_and_entry<T>(T(1), T(1), 12); }
    SUBCASE("alpha and beta scale") { check_kernel_and_entry<T>(T(-0.75), T(0.5), 13); }
}

TEST_CASE_TEMPLATE("gemm: alpha 0 or K 0 leaves beta · C and reads neither A nor B", T, float,
                   double) {
    const T nan = std::numeric_limits<T>::quiet_NaN();
    const std::vector<T> A(6 * 5, nan), B(5 * 7, nan);
    for (int which = 0; which < 2; ++which) {
        std::vector<T> C(6 * 7, T(2));
        C[3] = nan;  // beta 0 overwrites even NaN
        // C = 0 · C
        tf::gemm(tf::op::none, tf::op::none, 6, 7, which ? 0 : 5, which ? T(1) : T(0), A.data(),
                 5, B.data(), 7, T(0), C.data(), 7);
        for (T x : C) CHECK(x == T(0));
        // C = 0.5 · C
        std::fill(C.begin(), C.end(), T(2));
        if (which) {
            tf::detail::gemm_kernel(false, false, 6, 7, 0, T(1), A.data(), 5, B.data(), 7,
                                    T(0.5), C.data(), 7);
        } else {
            tf::detail::gemm_kernel(false, false, 6, 7, 5, T(0), A.data(), 5, B.data(), 7,
                                    T(0.5), C.data(), 7);
        }
        for (T x : C) CHECK(x == T(1));
    }
}

// One row by a transposed B is generation's product, one position at a time: it takes W
// rows of B together (W numbers per SIMD register), then four, then one. N below, at and
// past multiples of W and K with tails of every length, strided B, every alpha and beta;
// and the N < 4 columns of a tall product, which go through the same loop with strided C.
TEST_CASE_TEMPLATE("gemm: one row by a transposed B, for every tail of N and K", T, float, double) {
    const auto kernel = [](bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K, T al,
                           const T* A, std::size_t lda, const T* B, std::size_t ldb, T be, T* C,
                           std::size_t ldc) {
        tf::detail::gemm_kernel(ta, tb, M, N, K, al, A, lda, B, ldb, be, C, ldc);
    };
    const auto entry = [](bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K, T al,
                          const T* A, std::size_t lda, const T* B, std::size_t ldb, T be, T* C,
                          std::size_t ldc) {
        tf::gemm(ta ? tf::op::transpose : tf::op::none, tb ? tf::op::transpose : tf::op::none, M, N,
                 K, al, A, lda, B, ldb, be, C, ldc);
    };
    const std::size_t ns[] = {1, 3, 4, 7, 8, 15, 16, 17, 31, 33, 47, 65, 130, 384};
    const std::size_t ks[] = {1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 128, 129, 512};
    const T alphas[] = {T(1), T(1), T(-0.75)}, betas[] = {T(0), T(1), T(0.5)};
    std::uint64_t seed = 100;
    for (std::size_t n : ns) {
        for (std::size_t k : ks) {
            for (int ab = 0; ab < 3; ++ab) {
                const std::size_t pad = seed % 3 == 0 ? 0 : seed % 5 + 1;
                CAPTURE(n);
                CAPTURE(k);
                CAPTURE(pad);
                CAPTURE(ab);
                const shape row{false, true, 1, n, k, k + pad, k + pad, n + pad};
                check<T>(row, alphas[ab], betas[ab], ++seed, kernel);
                check<T>(row, alphas[ab], betas[ab], ++seed, entry);
                // the same loop down the n rows of A, for one to three columns of C
                const shape cols{false, true, n, 1 + seed % 3, k, k + pad, k + pad, 3 + pad};
                check<T>(cols, alphas[ab], betas[ab], ++seed, kernel);
            }
        }
    }
}
