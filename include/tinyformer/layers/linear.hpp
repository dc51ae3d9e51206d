// tinyformer/layers/linear.hpp: a fully connected layer, out = inp · weightᵀ + bias.
#pragma once

#include <cstddef>  // std::size_t
#include <string>   // std::string

#include "../gemm.hpp"
#include "../tensor.hpp"

namespace tinyformer {

template <class T, std::size_t In, std::size_t Out>
struct linear {
    struct Params {
        fixed<T, Out, In> weight;  // (OC, C): PyTorch's layout
        fixed<T, Out> bias;        // (OC)

        template <class F, class... P>
        static void visit(const std::string& prefix, F& f, P&... p) {
            f(prefix + "weight", p.weight...);
            f(prefix + "bias", p.bias...);
        }
    };

    // out(N,OC) = inp(N,C) · weightᵀ + bias
    static void forward(const Params& p, const T* inp, T* out, std::size_t N) {
        const T* bias = p.bias.data();
        for (std::size_t r = 0; r < N; ++r) {
            for (std::size_t o = 0; o < Out; ++o) out[r * Out + o] = bias[o];
        }
        gemm(op::none, op::transpose, N, Out, In, T(1), inp, In, p.weight.data(), In, T(1), out,
             Out);
    }

    // from out = inp · Wᵀ + b:
    //   dinp(N,C) += dout(N,OC) · W,  dW(OC,C) += doutᵀ · inp,  db(OC) += Σ_rows dout
    static void backward(const Params& p, Params& g, const T* inp, const T* dout, T* dinp,
                         std::size_t N) {
        gemm(op::none, op::none, N, In, Out, T(1), dout, Out, p.weight.data(), In, T(1), dinp, In);
        gemm(op::transpose, op::none, Out, In, N, T(1), dout, Out, inp, In, T(1), g.weight.data(),
             In);
        T* dbias = g.bias.data();
        for (std::size_t r = 0; r < N; ++r) {
            for (std::size_t o = 0; o < Out; ++o) dbias[o] += dout[r * Out + o];
        }
    }
};

}  // namespace tinyformer
