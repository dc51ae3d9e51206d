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
            // mean, then the biased variance around it (two passes, in double)
            const double md = row_sum(x) / double(C);
            const T m = T(md);
            const T s = T(1.0 / std::sqrt(squared_deviation(x, md) / double(C) + double(eps)));
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
            double dn_sum = 0, dn_n_sum = 0;
            row_sums(x, dy, w, m, s, dn_sum, dn_n_sum);
            const T dn_mean = T(dn_sum / double(C)), dn_n_mean = T(dn_n_sum / double(C));
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

    // The row sums are accumulated in double, in L running sums that the compiler turns into
    // SIMD lanes: a float row's mean and variance then round once, at the end.
    static constexpr std::size_t L = 8, CL = C - C % L;

    // Σ_i x[i], over a row of C
    static double row_sum(const T* x) {
        double acc[L] = {};
        for (std::size_t i = 0; i < CL; i += L) {
            for (std::size_t l = 0; l < L; ++l) acc[l] += double(x[i + l]);
        }
        for (std::size_t i = CL; i < C; ++i) acc[0] += double(x[i]);
        return lanes(acc);
    }

    // Σ_i (x[i] - m)², over a row of C
    static double squared_deviation(const T* x, double m) {
        double acc[L] = {};
        for (std::size_t i = 0; i < CL; i += L) {
            for (std::size_t l = 0; l < L; ++l) {
                const double d = double(x[i + l]) - m;
                acc[l] += d * d;
            }
        }
        for (std::size_t i = CL; i < C; ++i) acc[0] += (double(x[i]) - m) * (double(x[i]) - m);
        return lanes(acc);
    }

    // dn_sum = Σ_i dn,  dn_n_sum = Σ_i dn·n,  dn = dy·w,  n = (x - m)·s, over a row of C
    static void row_sums(const T* x, const T* dy, const T* w, T m, T s, double& dn_sum,
                         double& dn_n_sum) {
        double acc_dn[L] = {}, acc_dn_n[L] = {};
        for (std::size_t i = 0; i < CL; i += L) {
            for (std::size_t l = 0; l < L; ++l) {
                const T n = (x[i + l] - m) * s;
                const T dn = dy[i + l] * w[i + l];
                acc_dn[l] += double(dn);
                acc_dn_n[l] += double(dn) * double(n);
            }
        }
        for (std::size_t i = CL; i < C; ++i) {
            const T n = (x[i] - m) * s;
            const T dn = dy[i] * w[i];
            acc_dn[0] += double(dn);
            acc_dn_n[0] += double(dn) * double(n);
        }
        dn_sum = lanes(acc_dn);
        dn_n_sum = lanes(acc_dn_n);
    }

    // Σ of the L running sums, pairwise
    static double lanes(const double* acc) {
        return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
    }
};

}  // namespace tinyformer
