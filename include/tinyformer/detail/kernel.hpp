// tinyformer/detail/kernel.hpp: the header-only matrix product behind tinyformer::gemm.
//
//   C(M,N) = alpha · op(A)(M,K) · op(B)(K,N) + beta · C,  row-major, CBLAS's strides
//
// Blocked as GotoBLAS and BLIS do. C is cut into tiles of MR rows by NR = 2·W columns (W
// numbers per SIMD register), each computed in MR·2 registers by a micro-kernel that, for
// every k, loads two vectors of op(B)'s row k and broadcasts MR numbers of op(A)'s column k
// into fused multiply-adds. Both operands are first copied ("packed") into aligned
// thread-local scratch, zero-padded to whole tiles: a KC by NR panel of op(B), which stays
// in L1 while the micro-kernel walks down the rows of C, and an MC by KC block of op(A),
// which stays in L2 while the panels of B go by. Packing reads A and B contiguously in every
// case but a transposed B, which goes through register transposes (transpose.hpp). A product
// of a few rows, or of up to three columns (generation's one position at a time), skips the
// packing for plain vector loops.
//
// The scratch is static thread-local storage of a fixed size (about 144 KiB per thread and
// scalar type): made with the thread, so that a product allocates nothing.
#pragma once

#include <algorithm>  // std::min, std::fill
#include <cstddef>    // std::size_t
#include <cstring>    // std::memcpy

#include "simd.hpp"       // dot, lane_sum, lane_sums
#include "transpose.hpp"  // transpose_rows
#include "xsimd.hpp"      // SIMD batches for the micro-kernel

namespace tinyformer {
namespace detail {

// The blocking for T on the instruction set this is compiled for (xsimd's default).
template <class T>
struct gemm_blocking {
    using batch = xsimd::batch<T>;
    static constexpr std::size_t W = batch::size;
    // AVX-512 has 32 vector registers, SSE and AVX2 16: MR·2 accumulators, two vectors of
    // B and a broadcast of A must fit
    static constexpr std::size_t MR = sizeof(batch) >= 64 ? 8 : 6;
    static constexpr std::size_t NR = 2 * W;
    // a KC by NR panel of B takes about 16 KiB, half of a usual L1 data cache
    static constexpr std::size_t KC = std::min<std::size_t>(256, 16384 / (NR * sizeof(T)));
    // an MC by KC block of A takes about 128 KiB of L2
    static constexpr std::size_t MC = MR * (131072 / (KC * sizeof(T)) / MR);
};

// Packing buffers, one per thread and scalar type, of a fixed size: allocated with the
// thread (static thread-local storage), never by a call.
template <class T>
struct gemm_scratch {
    using S = gemm_blocking<T>;
    alignas(64) T a[S::MC * S::KC];  // (MC/MR, MR, KC) or (MC/MR, KC, MR): a block of op(A)
    alignas(64) T b[S::KC * S::NR];  // (KC, NR) one panel of op(B)
};

template <class T>
gemm_scratch<T>& gemm_buffers() {
    static thread_local gemm_scratch<T> s;
    return s;
}

// out = op(A)[ic.., pc..] (mc, kc) in panels of MR rows, the last one zero-padded. A row of
// A is copied as it lies, out(MR, KC) per panel; a column of a transposed A likewise,
// out(kc, MR) per panel. Either way every copy is contiguous.
template <class T>
void pack_a(bool ta, const T* A, std::size_t lda, std::size_t ic, std::size_t pc,
            std::size_t mc, std::size_t kc, T* out) {
    using S = gemm_blocking<T>;
    using batch = typename S::batch;
    constexpr std::size_t MR = S::MR, KC = S::KC, W = S::W;
    for (std::size_t ir = 0; ir < mc; ir += MR) {
        const std::size_t mr = std::min(MR, mc - ir);
        T* panel = out + ir * KC;
        if (!ta) {
            for (std::size_t i = 0; i < mr; ++i) {
                const T* src = A + (ic + ir + i) * lda + pc;
                T* dst = panel + i * KC;
                const std::size_t whole = kc - kc % W;
                for (std::size_t k = 0; k < whole; k += W) {
                    batch::load_unaligned(src + k).store_aligned(dst + k);
                }
                for (std::size_t k = whole; k < kc; ++k) dst[k] = src[k];
            }
            for (std::size_t i = mr; i < MR; ++i) {
                std::fill(panel + i * KC, panel + i * KC + kc, T(0));
            }
        } else if (mr == MR) {
            // a fixed-size copy, which the compiler makes a vector move
            for (std::size_t k = 0; k < kc; ++k) {
                std::memcpy(panel + k * MR, A + (pc + k) * lda + ic + ir, MR * sizeof(T));
            }
        } else {
            for (std::size_t k = 0; k < kc; ++k) {
                const T* src = A + (pc + k) * lda + ic + ir;
                for (std::size_t i = 0; i < MR; ++i) panel[k * MR + i] = i < mr ? src[i] : T(0);
            }
        }
    }
}

// out(kc, NR) = op(B)[pc.., jc..], zero beyond the nr valid columns
template <class T>
void pack_b(bool tb, const T* B, std::size_t ldb, std::size_t pc, std::size_t jc,
            std::size_t kc, std::size_t nr, T* out) {
    using S = gemm_blocking<T>;
    constexpr std::size_t NR = S::NR, W = S::W;
    using batch = typename S::batch;
    if (!tb && nr == NR) {
        // op(B)[k, j] = B[k, j]: rows are contiguous
        for (std::size_t k = 0; k < kc; ++k) {
            const T* src = B + (pc + k) * ldb + jc;
            batch::load_unaligned(src).store_aligned(out + k * NR);
            batch::load_unaligned(src + W).store_aligned(out + k * NR + W);
        }
    } else if (!tb) {
        for (std::size_t k = 0; k < kc; ++k) {
            const T* src = B + (pc + k) * ldb + jc;
            T* dst = out + k * NR;
            for (std::size_t j = 0; j < nr; ++j) dst[j] = src[j];
            for (std::size_t j = nr; j < NR; ++j) dst[j] = T(0);
        }
    } else if (nr == NR) {
        // op(B)[k, j] = B[j, k]: a transpose
        transpose_rows(B + jc * ldb + pc, ldb, NR, kc, out);
    } else {
        // the last columns, one number at a time
        for (std::size_t j = 0; j < nr; ++j) {
            const T* src = B + (jc + j) * ldb + pc;
            for (std::size_t k = 0; k < kc; ++k) out[k * NR + j] = src[k];
        }
        for (std::size_t k = 0; nr < NR && k < kc; ++k) {
            std::fill(out + k * NR + nr, out + (k + 1) * NR, T(0));
        }
    }
}

// C(m,n) = alpha · a(MR,kc) · b(kc,NV·W) + beta · C for the valid m <= MR rows and n <= NV·W
// columns, where a(i,k) = a[i·RS + k·CS] and b is a packed panel (rows NR apart). beta 0
// writes C without reading it. NV = 1 serves a last panel of at most W columns.
template <class T, std::size_t RS, std::size_t CS, std::size_t NV>
void micro_kernel(std::size_t kc, const T* a, const T* b, T alpha, T beta, T* c,
                  std::size_t ldc, std::size_t m, std::size_t n) {
    using S = gemm_blocking<T>;
    using batch = typename S::batch;
    constexpr std::size_t MR = S::MR, NR = S::NR, W = S::W;
    batch acc[MR][NV];  // (MR, NV·W) the tile
    for (std::size_t i = 0; i < MR; ++i) {
        for (std::size_t v = 0; v < NV; ++v) acc[i][v] = batch(T(0));
    }
    // acc += a[:, k] ⊗ b[k, :] for every k
    for (std::size_t k = 0; k < kc; ++k) {
        batch bk[NV];
        for (std::size_t v = 0; v < NV; ++v) bk[v] = batch::load_aligned(b + k * NR + v * W);
        for (std::size_t i = 0; i < MR; ++i) {
            const batch ai(a[i * RS + k * CS]);
            for (std::size_t v = 0; v < NV; ++v) acc[i][v] = xsimd::fma(ai, bk[v], acc[i][v]);
        }
    }
    // C = alpha · acc + beta · C, straight into C when the tile is whole
    const batch va(alpha), vb(beta);
    if (m == MR && n == NV * W) {
        for (std::size_t i = 0; i < MR; ++i) {
            for (std::size_t v = 0; v < NV; ++v) {
                T* ci = c + i * ldc + v * W;
                batch r = acc[i][v] * va;
                if (beta != T(0)) r = xsimd::fma(vb, batch::load_unaligned(ci), r);
                r.store_unaligned(ci);
            }
        }
        return;
    }
    alignas(64) T tile[MR * NV * W];
    for (std::size_t i = 0; i < MR; ++i) {
        for (std::size_t v = 0; v < NV; ++v) {
            (acc[i][v] * va).store_aligned(tile + (i * NV + v) * W);
        }
    }
    for (std::size_t i = 0; i < m; ++i) {
        T* ci = c + i * ldc;
        const T* ti = tile + i * NV * W;
        if (beta == T(0)) {
            for (std::size_t j = 0; j < n; ++j) ci[j] = ti[j];
        } else {
            for (std::size_t j = 0; j < n; ++j) ci[j] = beta * ci[j] + ti[j];
        }
    }
}

// one tile of C, with the narrower kernel when at most W columns are left
template <class T, std::size_t RS, std::size_t CS>
void tile(std::size_t kc, const T* a, const T* b, T alpha, T beta, T* c, std::size_t ldc,
          std::size_t m, std::size_t n) {
    if (n <= gemm_blocking<T>::W) {
        micro_kernel<T, RS, CS, 1>(kc, a, b, alpha, beta, c, ldc, m, n);
    } else {
        micro_kernel<T, RS, CS, 2>(kc, a, b, alpha, beta, c, ldc, m, n);
    }
}

// C(M,N) = beta · C, where beta 0 overwrites (C may hold anything, NaN included)
template <class T>
void scale_rows(std::size_t M, std::size_t N, T beta, T* C, std::size_t ldc) {
    for (std::size_t i = 0; i < M; ++i) {
        T* c = C + i * ldc;
        if (beta == T(0)) {
            std::fill(c, c + N, T(0));
        } else if (beta != T(1)) {
            for (std::size_t j = 0; j < N; ++j) c[j] *= beta;
        }
    }
}

// c = alpha · r + beta · c for one number, beta 0 not reading c
template <class T>
T combine(T alpha, T r, T beta, T c) {
    return beta == T(0) ? alpha * r : alpha * r + beta * c;
}

// c(N) = alpha · Σ_k a(k)·B[k, :] + beta · c with a(k) = a[k·inc]: a row of the product by an
// untransposed B, 4·W columns at a time held in registers over all of K
template <class T>
void row_times(std::size_t N, std::size_t K, T alpha, const T* a, std::size_t inc,
               const T* B, std::size_t ldb, T beta, T* c) {
    using batch = xsimd::batch<T>;
    constexpr std::size_t W = batch::size;
    const batch va(alpha), vb(beta);
    std::size_t j = 0;
    for (std::size_t width = 4 * W; width >= W; width /= 2) {
        for (; N - j >= width; j += width) {
            batch acc[4] = {batch(T(0)), batch(T(0)), batch(T(0)), batch(T(0))};
            for (std::size_t k = 0; k < K; ++k) {
                const batch ak(a[k * inc]);
                for (std::size_t v = 0; v < width / W; ++v) {
                    acc[v] = xsimd::fma(ak, batch::load_unaligned(B + k * ldb + j + v * W), acc[v]);
                }
            }
            for (std::size_t v = 0; v < width / W; ++v) {
                batch r = acc[v] * va;
                if (beta != T(0)) r = xsimd::fma(vb, batch::load_unaligned(c + j + v * W), r);
                r.store_unaligned(c + j + v * W);
            }
        }
    }
    for (; j < N; ++j) {
        T r = T(0);
        for (std::size_t k = 0; k < K; ++k) r += a[k * inc] * B[k * ldb + j];
        c[j] = combine(alpha, r, beta, c[j]);
    }
}

// c(N) = alpha · B(N, K) · a(K) + beta · c, c[j] at c + j·incc: a row of the product by a
// transposed B (or a column of A · b), generation's layers one position at a time. W rows of
// B go together: each load of a serves W rows, and lane_sums adds up the W accumulators
// across their lanes into one batch, c[j..j+W), where a lane sum per row would cost a
// shuffle tree each (which made generation's products a quarter slower at K = 128). The last
// rows go four at a time, then one by one.
template <class T>
void row_times_transposed(std::size_t N, std::size_t K, T alpha, const T* a, const T* B,
                          std::size_t ldb, T beta, T* c, std::size_t incc = 1) {
    using batch = xsimd::batch<T>;
    constexpr std::size_t W = batch::size;
    const std::size_t KW = K - K % W;
    const batch va(alpha), vb(beta);
    std::size_t j = 0;
    for (; N - j >= W; j += W) {
        const T* Bj = B + j * ldb;  // (W, K) the rows of this batch of c
        batch acc[W];
        for (std::size_t r = 0; r < W; ++r) acc[r] = batch(T(0));
        for (std::size_t k = 0; k < KW; k += W) {
            const batch ak = batch::load_unaligned(a + k);
            for (std::size_t r = 0; r < W; ++r) {
                acc[r] = xsimd::fma(batch::load_unaligned(Bj + r * ldb + k), ak, acc[r]);
            }
        }
        // sums[r] = Σ_k a(k)·B(j + r, k): the lanes of acc[r], then the last K % W columns
        batch sums = lane_sums(acc);
        if (KW < K) {
            alignas(64) T tail[W];
            for (std::size_t r = 0; r < W; ++r) {
                T s = T(0);
                for (std::size_t k = KW; k < K; ++k) s += a[k] * Bj[r * ldb + k];
                tail[r] = s;
            }
            sums += batch::load_aligned(tail);
        }
        if (incc == 1) {
            batch out = sums * va;
            if (beta != T(0)) out = xsimd::fma(vb, batch::load_unaligned(c + j), out);
            out.store_unaligned(c + j);
        } else {
            alignas(64) T out[W];
            sums.store_aligned(out);
            for (std::size_t r = 0; r < W; ++r) {
                c[(j + r) * incc] = combine(alpha, out[r], beta, c[(j + r) * incc]);
            }
        }
    }
    for (; N - j >= 4; j += 4) {
        batch acc[4] = {batch(T(0)), batch(T(0)), batch(T(0)), batch(T(0))};
        for (std::size_t k = 0; k < KW; k += W) {
            const batch ak = batch::load_unaligned(a + k);
            for (std::size_t r = 0; r < 4; ++r) {
                acc[r] = xsimd::fma(batch::load_unaligned(B + (j + r) * ldb + k), ak, acc[r]);
            }
        }
        for (std::size_t r = 0; r < 4; ++r) {
            T sum = lane_sum(acc[r]);
            for (std::size_t k = KW; k < K; ++k) sum += a[k] * B[(j + r) * ldb + k];
            c[(j + r) * incc] = combine(alpha, sum, beta, c[(j + r) * incc]);
        }
    }
    for (; j < N; ++j) c[j * incc] = combine(alpha, dot(a, B + j * ldb, K), beta, c[j * incc]);
}

// A product of a few rows (generation's one position at a time), without packing.
template <class T>
void gemm_few_rows(bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K, T alpha,
                   const T* A, std::size_t lda, const T* B, std::size_t ldb, T beta, T* C,
                   std::size_t ldc) {
    for (std::size_t i = 0; i < M; ++i) {
        T* c = C + i * ldc;
        if (!tb) {
            row_times(N, K, alpha, ta ? A + i : A + i * lda, ta ? lda : 1, B, ldb, beta, c);
        } else if (!ta) {
            row_times_transposed(N, K, alpha, A + i * lda, B, ldb, beta, c);
        } else {
            for (std::size_t j = 0; j < N; ++j) {
                T r = T(0);
                for (std::size_t k = 0; k < K; ++k) r += A[k * lda + i] * B[j * ldb + k];
                c[j] = combine(alpha, r, beta, c[j]);
            }
        }
    }
}

// C(M,N) = alpha · op(A) · op(B) + beta · C, row-major.
template <class T>
void gemm_kernel(bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K, T alpha,
                 const T* A, std::size_t lda, const T* B, std::size_t ldb, T beta, T* C,
                 std::size_t ldc) {
    using S = gemm_blocking<T>;
    constexpr std::size_t MR = S::MR, NR = S::NR, KC = S::KC, MC = S::MC;
    if (M == 0 || N == 0) return;
    // nothing to add: C = beta · C, A and B unread
    if (K == 0 || alpha == T(0)) {
        scale_rows(M, N, beta, C, ldc);
        return;
    }
    // a matrix times a vector or two: dot products of A's rows with op(B)'s columns, when both
    // are contiguous
    if (N < 4 && !ta && (tb || ldb == 1)) {
        for (std::size_t j = 0; j < N; ++j) {
            row_times_transposed(M, K, alpha, tb ? B + j * ldb : B + j, A, lda, beta, C + j, ldc);
        }
        return;
    }
    // too few rows to pay for packing B
    if (M < MR / 2) {
        gemm_few_rows(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    gemm_scratch<T>& s = gemm_buffers<T>();
    for (std::size_t pc = 0; pc < K; pc += KC) {
        const std::size_t kc = std::min(KC, K - pc);
        // the first panel of K applies beta, the later ones add to it
        const T beta_p = pc == 0 ? beta : T(1);
        for (std::size_t ic = 0; ic < M; ic += MC) {
            const std::size_t mc = std::min(MC, M - ic);
            pack_a(ta, A, lda, ic, pc, mc, kc, s.a);
            for (std::size_t jc = 0; jc < N; jc += NR) {
                const std::size_t nr = std::min(NR, N - jc);
                pack_b(tb, B, ldb, pc, jc, kc, nr, s.b);
                for (std::size_t ir = 0; ir < mc; ir += MR) {
                    const std::size_t mr = std::min(MR, mc - ir);
                    T* c = C + (ic + ir) * ldc + jc;
                    if (ta) {
                        tile<T, 1, MR>(kc, s.a + ir * KC, s.b, alpha, beta_p, c, ldc, mr, nr);
                    } else {
                        tile<T, KC, 1>(kc, s.a + ir * KC, s.b, alpha, beta_p, c, ldc, mr, nr);
                    }
                }
            }
        }
    }
}

}  // namespace detail
}  // namespace tinyformer
