// tinyformer/detail/kernel.hpp: the header-only matrix product behind tinyformer::gemm.
#pragma once

#include <cstddef>  // std::size_t

#include <xsimd/xsimd.hpp>  // SIMD batches for the inner loops

namespace tinyformer {
namespace detail {

// Σ_k a[k]·b[k] with SIMD accumulators.
template <class T>
T dot(const T* a, const T* b, std::size_t n) {
    using batch = xsimd::batch<T>;
    constexpr std::size_t W = batch::size;
    batch acc0(T(0)), acc1(T(0));
    std::size_t k = 0;
    for (; k + 2 * W <= n; k += 2 * W) {
        acc0 = xsimd::fma(batch::load_unaligned(a + k), batch::load_unaligned(b + k), acc0);
        acc1 = xsimd::fma(batch::load_unaligned(a + k + W), batch::load_unaligned(b + k + W), acc1);
    }
    for (; k + W <= n; k += W) {
        acc0 = xsimd::fma(batch::load_unaligned(a + k), batch::load_unaligned(b + k), acc0);
    }
    T s = xsimd::hadd(acc0 + acc1);
    for (; k < n; ++k) s += a[k] * b[k];
    return s;
}

// y[j] += alpha · x[j], j < n
template <class T>
void axpy(T alpha, const T* x, T* y, std::size_t n) {
    using batch = xsimd::batch<T>;
    constexpr std::size_t W = batch::size;
    const batch va(alpha);
    std::size_t j = 0;
    for (; j + W <= n; j += W) {
        xsimd::fma(va, batch::load_unaligned(x + j), batch::load_unaligned(y + j))
            .store_unaligned(y + j);
    }
    for (; j < n; ++j) y[j] += alpha * x[j];
}

// C(M,N) = alpha · op(A) · op(B) + beta · C, row-major.
template <class T>
void gemm_kernel(bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K, T alpha, const T* A,
                 std::size_t lda, const T* B, std::size_t ldb, T beta, T* C, std::size_t ldc) {
    // scale C by beta first; beta 0 overwrites, so C may hold garbage
    for (std::size_t i = 0; i < M; ++i) {
        T* c = C + i * ldc;
        if (beta == T(0)) {
            for (std::size_t j = 0; j < N; ++j) c[j] = T(0);
        } else if (beta != T(1)) {
            for (std::size_t j = 0; j < N; ++j) c[j] *= beta;
        }
    }
    if (!tb) {
        // rows of B are contiguous: C[i,:] += alpha · A[i,k] · B[k,:]
        for (std::size_t i = 0; i < M; ++i) {
            T* c = C + i * ldc;
            for (std::size_t k = 0; k < K; ++k) {
                const T a = alpha * (ta ? A[k * lda + i] : A[i * lda + k]);
                if (a != T(0)) axpy(a, B + k * ldb, c, N);
            }
        }
    } else if (!ta) {
        // B transposed: C[i,j] += alpha · A[i,:]·B[j,:], both contiguous
        for (std::size_t i = 0; i < M; ++i) {
            for (std::size_t j = 0; j < N; ++j) {
                C[i * ldc + j] += alpha * dot(A + i * lda, B + j * ldb, K);
            }
        }
    } else {
        // both transposed: C[i,j] += alpha · Σ_k A[k,i]·B[j,k]
        for (std::size_t i = 0; i < M; ++i) {
            for (std::size_t j = 0; j < N; ++j) {
                T s = T(0);
                for (std::size_t k = 0; k < K; ++k) s += A[k * lda + i] * B[j * ldb + k];
                C[i * ldc + j] += alpha * s;
            }
        }
    }
}

}  // namespace detail
}  // namespace tinyformer
