// tinyformer/layers/layernorm.hpp: out = (x - mean) / sqrt(var + 1e-5) · weight + bias, per row.
#pragma once

#include <cmath>    // std::sqrt
#include <cstddef>  // std::size_t
#include <string>   // std::string

#include "../detail/xsimd.hpp"  // SIMD batches for the backward pass
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
            T dn_mean = T(0), dn_n_mean = T(0);
            row_sums(x, dy, w, m, s, dn_mean, dn_n_mean);
            dn_mean /= T(C);
            dn_n_mean /= T(C);
            // parameter gradients and the input gradient
            row_gradients(x, dy, w, m, s, dn_mean, dn_n_mean, dw, db, dx);
        }
    }

    // The forward pass's row sums are accumulated in double, in L running sums: a float
    // row's mean and variance then round once, at the end. The backward pass sums in T, on
    // SIMD batches of W.
    static constexpr std::size_t L = 8, CL = C - C % L;
    using batch = xsimd::batch<T>;
    static constexpr std::size_t W = batch::size, CW = C - C % W;

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
    static void row_sums(const T* x, const T* dy, const T* w, T m, T s, T& dn_sum, T& dn_n_sum) {
        const batch vm(m), vs(s);
        batch acc_dn(T(0)), acc_dn_n(T(0));
        for (std::size_t i = 0; i < CW; i += W) {
            const batch n = (batch::load_unaligned(x + i) - vm) * vs;
            const batch dn = batch::load_unaligned(dy + i) * batch::load_unaligned(w + i);
            acc_dn += dn;
            acc_dn_n = xsimd::fma(dn, n, acc_dn_n);
        }
        dn_sum = xsimd::hadd(acc_dn);
        dn_n_sum = xsimd::hadd(acc_dn_n);
        for (std::size_t i = CW; i < C; ++i) {
            const T n = (x[i] - m) * s;
            const T dn = dy[i] * w[i];
            dn_sum += dn;
            dn_n_sum += dn * n;
        }
    }

    // db += dy,  dw += dy·n,  dx += s·(dn - dn_mean - n·dn_n_mean), over a row of C
    static void row_gradients(const T* x, const T* dy, const T* w, T m, T s, T dn_mean,
                              T dn_n_mean, T* dw, T* db, T* dx) {
        const batch vm(m), vs(s), vmean(dn_mean), vn_mean(dn_n_mean);
        for (std::size_t i = 0; i < CW; i += W) {
            const batch d = batch::load_unaligned(dy + i);
            const batch n = (batch::load_unaligned(x + i) - vm) * vs;
            const batch dn = d * batch::load_unaligned(w + i);
            (batch::load_unaligned(db + i) + d).store_unaligned(db + i);
            xsimd::fma(d, n, batch::load_unaligned(dw + i)).store_unaligned(dw + i);
            const batch g = vs * (dn - vmean - n * vn_mean);
            (batch::load_unaligned(dx + i) + g).store_unaligned(dx + i);
        }
        for (std::size_t i = CW; i < C; ++i) {
            const T n = (x[i] - m) * s;
            const T dn = dy[i] * w[i];
            db[i] += dy[i];
            dw[i] += dy[i] * n;
            dx[i] += s * (dn - dn_mean - n * dn_n_mean);
        }
    }

    // Σ of the L running sums, pairwise
    static double lanes(const double* acc) {
        return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
    }
};

}  // namespace tinyformer
