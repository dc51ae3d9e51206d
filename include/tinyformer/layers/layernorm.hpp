// tinyformer/layers/layernorm.hpp: out = (x - mean) / sqrt(var + 1e-5) · weight + bias, per row.
#pragma once

#include <cmath>    // std::sqrt
#include <cstddef>  // std::size_t
#include <string>   // std::string

#include "../tensor.hpp"

namespace tinyformer {

template <class T, std::size_t C>
struct layernorm {
    static constexpr T eps = T(1e-5);

    struct Params {
        fixed<T, C> weight;  // (C)
        fixed<T, C> bias;    // (C)

        template <class F, class... P>
        static void visit(const std::string& prefix, F& f, P&... p) {
            f(prefix + "weight", p.weight...);
            f(prefix + "bias", p.bias...);
        }
    };

    // out(N,C) = norm(inp) · weight + bias; saves mean(N) and rstd(N) for the backward pass
    static void forward(const Params& p, const T* inp, T* out, T* mean, T* rstd, std::size_t N) {
        const T* w = p.weight.data();
        const T* b = p.bias.data();
        for (std::size_t r = 0; r < N; ++r) {
            const T* x = inp + r * C;
            T* y = out + r * C;
            // mean, then the biased variance around it (two passes: exact in float)
            T m = T(0);
            for (std::size_t i = 0; i < C; ++i) m += x[i];
            m /= T(C);
            T v = T(0);
            for (std::size_t i = 0; i < C; ++i) v += (x[i] - m) * (x[i] - m);
            v /= T(C);
            const T s = T(1) / std::sqrt(v + eps);
            for (std::size_t i = 0; i < C; ++i) y[i] = (x[i] - m) * s * w[i] + b[i];
            mean[r] = m;
            rstd[r] = s;
        }
    }

    // from y = n · w + b with n = (x - mean) · rstd:
    //   dw += Σ dout·n,  db += Σ dout,
    //   dinp += rstd · (dn - mean(dn) - n · mean(dn·n)),  dn = dout · w
    static void backward(const Params& p, Params& g, const T* inp, const T* mean, const T* rstd,
                         const T* dout, T* dinp, std::size_t N) {
        const T* w = p.weight.data();
        T* dw = g.weight.data();
        T* db = g.bias.data();
        for (std::size_t r = 0; r < N; ++r) {
            const T* x = inp + r * C;
            const T* dy = dout + r * C;
            T* dx = dinp + r * C;
            const T m = mean[r], s = rstd[r];
            // the two row means the input gradient needs
            T dn_mean = T(0), dn_n_mean = T(0);
            for (std::size_t i = 0; i < C; ++i) {
                const T n = (x[i] - m) * s;
                const T dn = dy[i] * w[i];
                dn_mean += dn;
                dn_n_mean += dn * n;
            }
            dn_mean /= T(C);
            dn_n_mean /= T(C);
            // parameter gradients and the input gradient
            for (std::size_t i = 0; i < C; ++i) {
                const T n = (x[i] - m) * s;
                const T dn = dy[i] * w[i];
                db[i] += dy[i];
                dw[i] += dy[i] * n;
                dx[i] += s * (dn - dn_mean - n * dn_n_mean);
            }
        }
    }
};

}  // namespace tinyformer
