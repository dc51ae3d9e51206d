// tinyformer/layers/attention.hpp: causal multi-head self-attention.
//
//   q, k, v = split(inp · W_attnᵀ + b_attn), each cut into NH heads of width hs
//   per head: p = softmax(q · kᵀ / sqrt(hs)) over positions i <= t, y = p · v
//   out = join(y) · W_projᵀ + b_proj
#pragma once

#include <algorithm>  // std::fill
#include <cmath>      // std::sqrt
#include <cstddef>    // std::size_t
#include <string>     // std::string

#include "../detail/dropout.hpp"
#include "../detail/simd.hpp"
#include "../detail/xsimd.hpp"  // SIMD batches for softmax's backward
#include "../gemm.hpp"
#include "../random.hpp"
#include "../tensor.hpp"
#include "linear.hpp"

namespace tinyformer {

template <class T, std::size_t C, std::size_t NH, std::size_t BlockSize>
struct attention {
    static constexpr std::size_t hs = C / NH;  // head size
    using qkv_layer = linear<T, C, 3 * C>;
    using proj_layer = linear<T, C, C>;

    struct Params {
        typename qkv_layer::Params c_attn;   // (3C, C), (3C): rows q, then k, then v
        typename proj_layer::Params c_proj;  // (C, C), (C)

        template <class F, class... P>
        static void visit(const std::string& prefix, F& f, P&... p) {
            qkv_layer::Params::visit(prefix + "c_attn.", f, p.c_attn...);
            proj_layer::Params::visit(prefix + "c_proj.", f, p.c_proj...);
        }
    };

    // what the forward pass keeps, for up to `batch` sequences of BlockSize
    struct Activations {
        dynamic<T, 2> qkv;       // (N, 3C)
        dynamic<T, 1> att;       // (B, NH, t, t) softmax probabilities, packed for the t in use
        dynamic<T, 1> att_mask;  // like att: dropout's keep-mask; empty without dropout
        dynamic<T, 2> y;         // (N, C) the heads' outputs joined, before c_proj

        Activations(std::size_t batch, bool dropout)
            : qkv(buffer<T>(batch * BlockSize, 3 * C)),
              att(buffer<T>(batch * NH * BlockSize * BlockSize)),
              att_mask(buffer<T>(dropout ? batch * NH * BlockSize * BlockSize : 0)),
              y(buffer<T>(batch * BlockSize, C)) {}
    };

    // working memory of the backward pass, shared by all layers of one thread
    struct Scratch {
        dynamic<T, 2> dqkv;  // (N, 3C)
        dynamic<T, 2> dy;    // (N, C)
        dynamic<T, 1> dp;    // (t, t) one head's gradient of p
        dynamic<T, 1> pd;    // (t, t) one head's p after dropout

        explicit Scratch(std::size_t batch)
            : dqkv(buffer<T>(batch * BlockSize, 3 * C)),
              dy(buffer<T>(batch * BlockSize, C)),
              dp(buffer<T>(BlockSize * BlockSize)),
              pd(buffer<T>(BlockSize * BlockSize)) {}
    };

    // out(B·t, C) = attention of inp(B·t, C); drop > 0 applies dropout to p, masks from gen
    static void forward(const Params& p, Activations& a, Scratch& s, const T* inp, T* out,
                        std::size_t B, std::size_t t, T drop, rng* gen) {
        const std::size_t N = B * t;
        const T scale = T(1) / std::sqrt(T(hs));
        qkv_layer::forward(p.c_attn, inp, a.qkv.data(), N);
        for (std::size_t b = 0; b < B; ++b) {
            for (std::size_t h = 0; h < NH; ++h) {
                const T* q = a.qkv.data() + b * t * 3 * C + h * hs;  // (t, hs), row stride 3C
                const T* k = q + C;
                const T* v = q + 2 * C;
                T* att = a.att.data() + (b * NH + h) * t * t;  // (t, t)
                // scores = q · kᵀ / sqrt(hs), on and below the diagonal
                lower_times_transposed(t, scale, q, 3 * C, k, 3 * C, att);
                // causal softmax: row i sees positions 0..i
                for (std::size_t i = 0; i < t; ++i) softmax_causal_row(att + i * t, i, t);
                // y = p · v, with p masked by dropout when training with it
                const T* pv = att;
                if (drop > T(0)) {
                    T* mask = a.att_mask.data() + (b * NH + h) * t * t;
                    detail::dropout_mask(*gen, drop, mask, t * t);
                    for (std::size_t i = 0; i < t * t; ++i) s.pd.data()[i] = att[i] * mask[i];
                    pv = s.pd.data();
                }
                lower_times(t, pv, v, 3 * C, a.y.data() + b * t * C + h * hs, C);
            }
        }
        proj_layer::forward(p.c_proj, a.y.data(), out, N);
    }

    // dinp(B·t, C) += the gradient of the forward pass above, given dout(B·t, C)
    static void backward(const Params& p, Params& g, const Activations& a, Scratch& s, const T* inp,
                         const T* dout, T* dinp, std::size_t B, std::size_t t, T drop) {
        const std::size_t N = B * t;
        const T scale = T(1) / std::sqrt(T(hs));
        // through c_proj: dy = dout · W_proj
        std::fill(s.dy.data(), s.dy.data() + N * C, T(0));
        proj_layer::backward(p.c_proj, g.c_proj, a.y.data(), dout, s.dy.data(), N);
        for (std::size_t b = 0; b < B; ++b) {
            for (std::size_t h = 0; h < NH; ++h) {
                const std::size_t row0 = b * t * 3 * C + h * hs;
                const T* q = a.qkv.data() + row0;
                const T* k = q + C;
                const T* v = q + 2 * C;
                T* dq = s.dqkv.data() + row0;
                T* dk = dq + C;
                T* dv = dq + 2 * C;
                const T* dy = s.dy.data() + b * t * C + h * hs;  // (t, hs), row stride C
                const T* att = a.att.data() + (b * NH + h) * t * t;
                const T* mask = drop > T(0) ? a.att_mask.data() + (b * NH + h) * t * t : nullptr;
                T* dp = s.dp.data();
                // y = pd · v:  dpd = dy · vᵀ (on and below the diagonal),  dv = pdᵀ · dy
                const T* pv = att;
                if (mask) {
                    for (std::size_t i = 0; i < t * t; ++i) s.pd.data()[i] = att[i] * mask[i];
                    pv = s.pd.data();
                }
                lower_times_transposed(t, T(1), dy, C, v, 3 * C, dp);
                lower_transposed_times(t, pv, dy, C, dv, 3 * C);
                if (mask) detail::apply_mask(mask, dp, t * t);
                // p = softmax(sc): dsc = p ⊙ (dp - Σ_j p·dp), zero above the diagonal; the
                // 1/sqrt(hs) of sc = q·kᵀ·scale folds in here
                for (std::size_t i = 0; i < t; ++i) {
                    softmax_backward_row(att + i * t, dp + i * t, i, t, scale);
                }
                // sc = q · kᵀ:  dq = dsc · k,  dk = dscᵀ · q
                lower_times(t, dp, k, 3 * C, dq, 3 * C);
                lower_transposed_times(t, dp, q, 3 * C, dk, 3 * C);
            }
        }
        // through c_attn
        qkv_layer::backward(p.c_attn, g.c_attn, inp, s.dqkv.data(), dinp, N);
    }

    // The products with the causal (t, t) matrices skip their zeros above the diagonal a
    // block of rows at a time: rows [r0, r1) of a lower-triangular matrix end at column r1.
    // Blocks of about 64 rows from t = 128 on, so that each product stays a good size.
    static std::size_t row_blocks(std::size_t t) { return t >= 128 ? 4 : t >= 2 ? 2 : 1; }

    // out(t, t) = alpha · a(t, hs) · b(t, hs)ᵀ on and below the diagonal (row stride t); a
    // block's entries right of r1 are left as they were
    static void lower_times_transposed(std::size_t t, T alpha, const T* a, std::size_t lda,
                                       const T* b, std::size_t ldb, T* out) {
        const std::size_t P = row_blocks(t);
        for (std::size_t blk = 0; blk < P; ++blk) {
            const std::size_t r0 = blk * t / P, r1 = (blk + 1) * t / P;
            gemm(op::none, op::transpose, r1 - r0, r1, hs, alpha, a + r0 * lda, lda, b, ldb, T(0),
                 out + r0 * t, t);
        }
    }

    // out(t, hs) = l(t, t) · b(t, hs), l lower-triangular (row stride t)
    static void lower_times(std::size_t t, const T* l, const T* b, std::size_t ldb, T* out,
                            std::size_t ldo) {
        const std::size_t P = row_blocks(t);
        for (std::size_t blk = 0; blk < P; ++blk) {
            const std::size_t r0 = blk * t / P, r1 = (blk + 1) * t / P;
            gemm(op::none, op::none, r1 - r0, hs, r1, T(1), l + r0 * t, t, b, ldb, T(0),
                 out + r0 * ldo, ldo);
        }
    }

    // out(t, hs) = l(t, t)ᵀ · b(t, hs), l lower-triangular: rows [c0, c1) of the product
    // take rows [c0, t) of l and b
    static void lower_transposed_times(std::size_t t, const T* l, const T* b, std::size_t ldb,
                                       T* out, std::size_t ldo) {
        const std::size_t P = row_blocks(t);
        for (std::size_t blk = 0; blk < P; ++blk) {
            const std::size_t c0 = blk * t / P, c1 = (blk + 1) * t / P;
            gemm(op::transpose, op::none, c1 - c0, hs, t - c0, T(1), l + c0 * t + c0, t,
                 b + c0 * ldb, ldb, T(0), out + c0 * ldo, ldo);
        }
    }

    // row(t): softmax over row[0..i], zeros after
    static void softmax_causal_row(T* row, std::size_t i, std::size_t t) {
        const T m = detail::max_of(row, i + 1);
        const T sum = detail::exp_shifted(row, m, row, i + 1);
        detail::scale(row, T(1) / sum, i + 1);
        std::fill(row + i + 1, row + t, T(0));
    }

    // dr(t) = p ⊙ (dr - Σ_j p·dr) · scale over j <= i, zeros after; p(t) is softmax's row
    static void softmax_backward_row(const T* p, T* dr, std::size_t i, std::size_t t, T scale) {
        using batch = xsimd::batch<T>;
        constexpr std::size_t W = batch::size;
        const T dot = detail::dot(p, dr, i + 1);
        const batch vdot(dot), vscale(scale);
        const std::size_t whole = (i + 1) - (i + 1) % W;
        std::size_t j = 0;
        for (; j < whole; j += W) {
            const batch d = batch::load_unaligned(dr + j) - vdot;
            (batch::load_unaligned(p + j) * d * vscale).store_unaligned(dr + j);
        }
        for (; j <= i; ++j) dr[j] = p[j] * (dr[j] - dot) * scale;
        std::fill(dr + i + 1, dr + t, T(0));
    }
};

}  // namespace tinyformer
