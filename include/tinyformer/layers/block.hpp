// tinyformer/layers/block.hpp: the pre-norm residual block of GPT-2.
//
//   x2 = x + attn(ln_1(x))
//   out = x2 + mlp(ln_2(x2))
//
// With dropout, each residual branch is masked before it is added.
#pragma once

#include <algorithm>  // std::fill
#include <cstddef>    // std::size_t
#include <string>     // std::string

#include "../config.hpp"
#include "../detail/dropout.hpp"
#include "../random.hpp"
#include "../tensor.hpp"
#include "attention.hpp"
#include "layernorm.hpp"
#include "mlp.hpp"

namespace tinyformer {

template <class Cfg>
struct block {
    using T = typename Cfg::value_type;
    static constexpr std::size_t C = Cfg::EmbedSize, F = Cfg::Hidden;
    using norm_layer = layernorm<T, C>;
    using attn_layer = attention<T, C, Cfg::Heads, Cfg::BlockSize>;
    using mlp_layer = mlp<T, C, F, Cfg::Activation>;

    struct Params {
        typename norm_layer::Params ln_1;
        typename attn_layer::Params attn;
        typename norm_layer::Params ln_2;
        typename mlp_layer::Params mlp;

        template <class Fn, class... P>
        static void visit(const std::string& prefix, Fn& f, P&... p) {
            norm_layer::Params::visit(prefix + "ln_1.", f, p.ln_1...);
            attn_layer::Params::visit(prefix + "attn.", f, p.attn...);
            norm_layer::Params::visit(prefix + "ln_2.", f, p.ln_2...);
            mlp_layer::Params::visit(prefix + "mlp.", f, p.mlp...);
        }
    };

    // what one block's forward pass keeps, for up to `batch` sequences of BlockSize
    struct Activations {
        dynamic<T, 2> ln_1;                  // (N, C)
        dynamic<T, 1> ln_1_mean, ln_1_rstd;  // (N)
        typename attn_layer::Activations attn;
        dynamic<T, 2> res;                   // (N, C) x2 = x + attention branch
        dynamic<T, 2> ln_2;                  // (N, C)
        dynamic<T, 1> ln_2_mean, ln_2_rstd;  // (N)
        typename mlp_layer::Activations mlp;
        dynamic<T, 2> out;                  // (N, C) the block's output
        dynamic<T, 2> mask_attn, mask_mlp;  // (N, C) dropout keep-masks; empty without

        Activations(std::size_t batch, bool dropout)
            : ln_1(buffer<T>(batch * Cfg::BlockSize, C)),
              ln_1_mean(buffer<T>(batch * Cfg::BlockSize)),
              ln_1_rstd(buffer<T>(batch * Cfg::BlockSize)),
              attn(batch, dropout),
              res(buffer<T>(batch * Cfg::BlockSize, C)),
              ln_2(buffer<T>(batch * Cfg::BlockSize, C)),
              ln_2_mean(buffer<T>(batch * Cfg::BlockSize)),
              ln_2_rstd(buffer<T>(batch * Cfg::BlockSize)),
              mlp(batch * Cfg::BlockSize),
              out(buffer<T>(batch * Cfg::BlockSize, C)),
              mask_attn(buffer<T>(dropout ? batch * Cfg::BlockSize : 0, C)),
              mask_mlp(buffer<T>(dropout ? batch * Cfg::BlockSize : 0, C)) {}
    };

    // working memory shared by every block of one thread
    struct Scratch {
        dynamic<T, 2> branch;   // (N, C) a residual branch's output
        dynamic<T, 2> dln;      // (N, C) gradient at a LayerNorm's output
        dynamic<T, 2> dbranch;  // (N, C) gradient at a branch's output
        dynamic<T, 2> dhidden;  // (N, F) gradient inside the MLP
        typename attn_layer::Scratch attn;

        explicit Scratch(std::size_t batch)
            : branch(buffer<T>(batch * Cfg::BlockSize, C)),
              dln(buffer<T>(batch * Cfg::BlockSize, C)),
              dbranch(buffer<T>(batch * Cfg::BlockSize, C)),
              dhidden(buffer<T>(batch * Cfg::BlockSize, F)),
              attn(batch) {}
    };

    // a.out(B·t, C) = block(inp(B·t, C)); drop > 0 masks both branches and attention
    static void forward(const Params& p, Activations& a, Scratch& s, const T* inp, std::size_t B,
                        std::size_t t, T drop, rng* gen) {
        const std::size_t N = B * t;
        T* branch = s.branch.data();
        // x2 = x + attn(ln_1(x))
        norm_layer::forward(p.ln_1, inp, a.ln_1.data(), a.ln_1_mean.data(), a.ln_1_rstd.data(), N);
        attn_layer::forward(p.attn, a.attn, s.attn, a.ln_1.data(), branch, B, t, drop, gen);
        if (drop > T(0)) {
            detail::dropout_mask(*gen, drop, a.mask_attn.data(), N * C);
            detail::apply_mask(a.mask_attn.data(), branch, N * C);
        }
        for (std::size_t i = 0; i < N * C; ++i) a.res.data()[i] = inp[i] + branch[i];
        // out = x2 + mlp(ln_2(x2))
        norm_layer::forward(p.ln_2, a.res.data(), a.ln_2.data(), a.ln_2_mean.data(),
                            a.ln_2_rstd.data(), N);
        mlp_layer::forward(p.mlp, a.mlp, a.ln_2.data(), branch, N);
        if (drop > T(0)) {
            detail::dropout_mask(*gen, drop, a.mask_mlp.data(), N * C);
            detail::apply_mask(a.mask_mlp.data(), branch, N * C);
        }
        for (std::size_t i = 0; i < N * C; ++i) a.out.data()[i] = a.res.data()[i] + branch[i];
    }

    // dx(B·t, C): holds d out on entry and d inp on return
    static void backward(const Params& p, Params& g, const Activations& a, Scratch& s, const T* inp,
                         T* dx, std::size_t B, std::size_t t, T drop) {
        const std::size_t N = B * t;
        T* dln = s.dln.data();
        // a branch's output gradient is dx itself, or dx masked into s.dbranch with dropout;
        // the branch reads it before the LayerNorm below adds into dx
        auto branch_grad = [&](const dynamic<T, 2>& mask) -> const T* {
            if (drop == T(0)) return dx;
            T* dbranch = s.dbranch.data();
            for (std::size_t i = 0; i < N * C; ++i) dbranch[i] = dx[i] * mask.data()[i];
            return dbranch;
        };
        // out = x2 + mlp(ln_2(x2)): d x2 = d out + the MLP path
        const T* dmlp = branch_grad(a.mask_mlp);
        std::fill(dln, dln + N * C, T(0));
        mlp_layer::backward(p.mlp, g.mlp, a.mlp, a.ln_2.data(), dmlp, dln, s.dhidden.data(), N);
        norm_layer::backward(p.ln_2, g.ln_2, a.res.data(), a.ln_2_mean.data(), a.ln_2_rstd.data(),
                             dln, dx, N);
        // x2 = x + attn(ln_1(x)): d x = d x2 + the attention path
        const T* dattn = branch_grad(a.mask_attn);
        std::fill(dln, dln + N * C, T(0));
        attn_layer::backward(p.attn, g.attn, a.attn, s.attn, a.ln_1.data(), dattn, dln, B, t,
                             drop);
        norm_layer::backward(p.ln_1, g.ln_1, inp, a.ln_1_mean.data(), a.ln_1_rstd.data(), dln, dx,
                             N);
    }
};

}  // namespace tinyformer
