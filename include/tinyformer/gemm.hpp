// tinyformer/gemm.hpp: the one entry point through which every matrix product goes.
//
//   C(M,N) = alpha · op(A)(M,K) · op(B)(K,N) + beta · C
//
// Row-major, with leading dimensions as in CBLAS, so that a head's slice of a wider buffer
// (q inside qkv, say) is multiplied in place. With TINYFORMER_USE_BLAS defined the product
// goes to CBLAS (OpenBLAS), but for one row by a transposed B; otherwise to the header-only
// kernel in detail/kernel.hpp.
#pragma once

#include <cstddef>      // std::size_t
#include <type_traits>  // std::is_same

#include "detail/kernel.hpp"

#ifdef TINYFORMER_USE_BLAS
#include <cblas.h>  // cblas_sgemm, cblas_dgemm; OpenBLAS's openblas_set_num_threads
#endif

namespace tinyformer {

// Whether an operand is used as stored or transposed.
enum class op { none, transpose };

template <class T>
void gemm(op ta, op tb, std::size_t M, std::size_t N, std::size_t K, T alpha, const T* A,
          std::size_t lda, const T* B, std::size_t ldb, T beta, T* C, std::size_t ldc) {
    static_assert(std::is_same<T, float>::value || std::is_same<T, double>::value,
                  "tinyformer::gemm: float or double");
    if (M == 0 || N == 0) return;
    // as the reference CBLAS: with nothing to add, C = beta · C and A, B are not read
    // (OpenBLAS 0.3.21 would multiply a NaN in A by alpha 0)
    if (K == 0 || alpha == T(0)) {
        detail::scale_rows(M, N, beta, C, ldc);
        return;
    }
#ifdef TINYFORMER_USE_BLAS
    // One row by a transposed B (a layer's input times its weights: generation, one position
    // at a time) stays with the header-only loop, faster there than OpenBLAS 0.3.21, whose
    // sgemm took 6 to 30 % longer for the example models' layer shapes (all but a 128 by 512
    // weight, 10 % shorter) and made generation 5 % slower.
    if (M == 1 && ta == op::none && tb == op::transpose) {
        detail::row_times_transposed(N, K, alpha, A, B, ldb, beta, C);
        return;
    }
    const auto cta = ta == op::transpose ? CblasTrans : CblasNoTrans;
    const auto ctb = tb == op::transpose ? CblasTrans : CblasNoTrans;
    const auto m = static_cast<blasint>(M), n = static_cast<blasint>(N);
    const auto k = static_cast<blasint>(K);
    if constexpr (std::is_same<T, float>::value) {
        cblas_sgemm(CblasRowMajor, cta, ctb, m, n, k, alpha, A, static_cast<blasint>(lda), B,
                    static_cast<blasint>(ldb), beta, C, static_cast<blasint>(ldc));
    } else {
        cblas_dgemm(CblasRowMajor, cta, ctb, m, n, k, alpha, A, static_cast<blasint>(lda), B,
                    static_cast<blasint>(ldb), beta, C, static_cast<blasint>(ldc));
    }
#else
    detail::gemm_kernel(ta == op::transpose, tb == op::transpose, M, N, K, alpha, A, lda, B, ldb,
                        beta, C, ldc);
#endif
}

// Makes OpenBLAS run every product on the calling thread alone, process-wide, so that its
// own thread pool does not compete with the workers of parallel_gradients (each of which
// calls gemm). Does nothing with the header-only kernel or another CBLAS.
inline void blas_single_threaded() {
#if defined(TINYFORMER_USE_BLAS) && defined(OPENBLAS_VERSION)
    openblas_set_num_threads(1);
#endif
}

}  // namespace tinyformer
