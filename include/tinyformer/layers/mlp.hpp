// tinyformer/layers/mlp.hpp: out = act(inp · W_fcᵀ + b_fc) · W_projᵀ + b_proj.
#pragma once

#include <algorithm>  // std::fill
#include <cstddef>    // std::size_t
#include <string>     // std::string

#include "../tensor.hpp"
#include "activation.hpp"
#include "linear.hpp"

namespace tinyformer {

template <class T, std::size_t C, std::size_t F, activation Act>
struct mlp {
    using fc_layer = linear<T, C, F>;
    using proj_layer = linear<T, F, C>;
    using act_layer = pointwise<T, Act>;

    struct Params {
        typename fc_layer::Params c_fc;      // (F, C), (F)
        typename proj_layer::Params c_proj;  // (C, F), (C)

        template <class Fn, class... P>
        static void visit(const std::string& prefix, Fn& f, P&... p) {
            fc_layer::Params::visit(prefix + "c_fc.", f, p.c_fc...);
            proj_layer::Params::visit(prefix + "c_proj.", f, p.c_proj...);
        }
    };

    // what the forward pass keeps for the backward pass, for up to `rows` rows
    struct Activations {
        dynamic<T, 2> fc;   // (N, F) before the non-linearity
        dynamic<T, 2> act;  // (N, F) after it

        explicit Activations(std::size_t rows) : fc(buffer<T>(rows, F)), act(buffer<T>(rows, F)) {}
    };

    // out(N,C) = act(inp(N,C) · W_fcᵀ + b_fc) · W_projᵀ + b_proj
    static void forward(const Params& p, Activations& a, const T* inp, T* out, std::size_t N) {
        fc_layer::forward(p.c_fc, inp, a.fc.data(), N);
        act_layer::forward(a.fc.data(), a.act.data(), N * F);
        proj_layer::forward(p.c_proj, a.act.data(), out, N);
    }

    // dinp(N,C) += the gradient through both layers; dhidden(N,F) is scratch
    static void backward(const Params& p, Params& g, const Activations& a, const T* inp,
                         const T* dout, T* dinp, T* dhidden, std::size_t N) {
        // dact = dout · W_proj, through c_proj
        std::fill(dhidden, dhidden + N * F, T(0));
        proj_layer::backward(p.c_proj, g.c_proj, a.act.data(), dout, dhidden, N);
        // dfc = dact · act'(fc), in place
        act_layer::backward(a.fc.data(), dhidden, dhidden, N * F);
        // through c_fc
        fc_layer::backward(p.c_fc, g.c_fc, inp, dhidden, dinp, N);
    }
};

}  // namespace tinyformer
