// tinyformer/layers/attention.hpp: causal multi-head self-attention.
//
//   q, k, v = split(inp · W_attnᵀ + b_attn), each cut into NH heads of width hs
//   per head: p = softmax(q · kᵀ / sqrt(hs)) over positions i <= t, y = p · v
//   out = join(y) · W_projᵀ + b_proj
#pragma once

#include <algorithm>  // std::fill, std::max
#include <cmath>      // std::exp, std::sqrt
#include <cstddef>    // std::size_t
#include <string>     // std::string

#include "../detail/dropout.hpp"
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
                // scores = q · kᵀ / sqrt(hs)
                gemm(op::none, op::transpose, t, t, hs, scale, q, 3 * C, k, 3 * C, T(0), att, t);
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
                gemm(op::none, op::none, t, hs, t, T(1), pv, t, v, 3 * C, T(0),
                     a.y.data() + b * t * C + h * hs, C);
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
        std::fill(s.dqkv.data(), s.dqkv.data() + N * 3 * C, T(0));
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
                // y = pd · v:  dpd = dy · vᵀ,  dv += pdᵀ · dy
                const T* pv = att;
                if (mask) {
                    for (std::size_t i = 0; i < t * t; ++i) s.pd.data()[i] = att[i] * mask[i];
                    pv = s.pd.data();
                }
                gemm(op::none, op::transpose, t, t, hs, T(1), dy, C, v, 3 * C, T(0), dp, t);
                gemm(op::transpose, op::none, t, hs, t, T(1), pv, t, dy, C, T(1), dv, 3 * C);
                if (mask) detail::apply_mask(mask, dp, t * t);
                // p = softmax(sc): dsc = p ⊙ (dp - Σ_j p·dp), zero above the diagonal; the
                // 1/sqrt(hs) of sc = q·kᵀ·scale folds in here
                for (std::size_t i = 0; i < t; ++i) {
                    const T* pr = att + i * t;
                    T* dr = dp + i * t;
                    T dot = T(0);
                    for (std::size_t j = 0; j <= i; ++j) dot += pr[j] * dr[j];
                    for (std::size_t j = 0; j <= i; ++j) dr[j] = pr[j] * (dr[j] - dot) * scale;
                    for (std::size_t j = i + 1; j < t; ++j) dr[j] = T(0);
                }
                // sc = q · kᵀ:  dq += dsc · k,  dk += dscᵀ · q
                gemm(op::none, op::none, t, hs, t, T(1), dp, t, k, 3 * C, T(1), dq, 3 * C);
                gemm(op::transpose, op::none, t, hs, t, T(1), dp, t, q, 3 * C, T(1), dk, 3 * C);
            }
        }
        // through c_attn
        qkv_layer::backward(p.c_attn, g.c_attn, inp, s.dqkv.data(), dinp, N);
    }

    // row(t): softmax over row[0..i], zeros after
    static void softmax_causal_row(T* row, std::size_t i, std::size_t t) {
        T m = row[0];
        for (std::size_t j = 1; j <= i; ++j) m = std::max(m, row[j]);
        T sum = T(0);
        for (std::size_t j = 0; j <= i; ++j) {
            row[j] = std::exp(row[j] - m);
            sum += row[j];
        }
        const T inv = T(1) / sum;
        for (std::size_t j = 0; j <= i; ++j) row[j] *= inv;
        for (std::size_t j = i + 1; j < t; ++j) row[j] = T(0);
    }
};

}  // namespace tinyformer
