// tinyformer/optimizer.hpp: AdamW and SGD, the same arithmetic as PyTorch's, for any model
// that lists its tensors through visit.
//
// A model type M offers
//   typename M::value_type                  the scalar of every tensor
//   typename M::Params, typename M::Grads   (the same tensors, the same order)
//   M::visit(f, a, b, ...)                  f(name, a's tensor, b's tensor, ...) for every
//                                           parameter tensor, in a fixed order
// and each tensor has .data(), .size() and .dimension(). Transformer<Cfg> is such a type.
//
//   tinyformer::adamw<Model> opt({/*lr*/ 1e-3});
//   tinyformer::zero_grads<Model>(*grads);
//   ... forward, backward ...
//   double norm = opt.step(*params, *grads, schedule.at(it));
//
// A step works through the tensors in fixed pieces of at most optimizer_piece numbers. An
// optional last argument, an executor exec(n, f) that calls f(i) once for every i < n (on
// any threads, in any order, returning when all are done), spreads the pieces over threads:
// parallel_gradients::for_each is one. Since the pieces and the order in which their sums
// are added do not depend on the executor, every executor gives the same bits.
#pragma once

#include <algorithm>    // std::min
#include <cmath>        // std::sqrt, std::pow, std::isfinite, std::isnan
#include <cstddef>      // std::size_t
#include <memory>       // std::unique_ptr, std::make_unique
#include <sstream>      // std::ostringstream: numbers in error messages
#include <string>       // std::string
#include <type_traits>  // std::decay_t
#include <utility>      // std::declval
#include <vector>       // std::vector

#include <xsimd/xsimd.hpp>  // SIMD batches for the AdamW update

#include "error.hpp"

namespace tinyformer {

namespace detail {

// A number for an error message: "nan" and "inf" spelled the same on every platform.
inline std::string optimizer_number(double x) {
    if (std::isnan(x)) return "nan";
    if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
    std::ostringstream out;
    out << x;
    return out.str();
}

// The scalar type of a tensor visited by a model.
template <class Tensor>
using scalar_of = std::decay_t<decltype(*std::declval<Tensor&>().data())>;

}  // namespace detail

// Set every gradient to zero: backward passes add into gradients, one call clears them.
template <class M>
void zero_grads(typename M::Grads& grads) {
    M::visit(
        [](const std::string&, auto& dw) {
            using T = detail::scalar_of<decltype(dw)>;
            T* d = dw.data();
            const std::size_t n = dw.size();
            for (std::size_t i = 0; i < n; ++i) d[i] = T(0);
        },
        grads);
}

// dst += src, tensor by tensor (summing the gradients of several threads or micro-batches).
template <class M>
void accumulate(typename M::Grads& dst, const typename M::Grads& src) {
    M::visit(
        [](const std::string&, auto& ddst, const auto& dsrc) {
            auto* d = ddst.data();
            const auto* s = dsrc.data();
            const std::size_t n = ddst.size();
            for (std::size_t i = 0; i < n; ++i) d[i] += s[i];
        },
        dst, src);
}

// The numbers an optimizer handles as one piece: a multiple of every SIMD width, large
// enough that a thread's share of a step is worth its start.
constexpr std::size_t optimizer_piece = std::size_t(1) << 14;

// Runs f(i) for every i < n on the calling thread, in order: the executor of a step that
// is given none.
struct serial_executor {
    template <class F>
    void operator()(std::size_t n, F&& f) const {
        for (std::size_t i = 0; i < n; ++i) f(i);
    }
};

namespace detail {

// Σ d[i]² in double, with four running sums so that the additions need not wait for each
// other.
template <class T>
double sum_of_squares(const T* d, std::size_t n) {
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    const std::size_t n4 = n - n % 4;
    for (std::size_t i = 0; i < n4; i += 4) {
        s0 += static_cast<double>(d[i]) * d[i];
        s1 += static_cast<double>(d[i + 1]) * d[i + 1];
        s2 += static_cast<double>(d[i + 2]) * d[i + 2];
        s3 += static_cast<double>(d[i + 3]) * d[i + 3];
    }
    for (std::size_t i = n4; i < n; ++i) s0 += static_cast<double>(d[i]) * d[i];
    return (s0 + s1) + (s2 + s3);
}

// One piece of a tensor and of the optimizer's state beside it: p[0..n), g[0..n), ...
template <class T>
struct piece {
    T* p;
    T* g;
    T* m;  // the moments, or nullptr for an optimizer without them
    T* v;
    std::size_t n;
    bool decays;  // the tensor is a matrix or an embedding (rank >= 2)
};

// Cuts every tensor of M into pieces of at most optimizer_piece numbers, in visit order.
// state are zero or two Params-like objects (AdamW's moments).
template <class M, class T, class Params, class Grads, class... State>
void cut_into_pieces(std::vector<piece<T>>& out, Params& p, Grads& g, State&... state) {
    out.clear();
    M::visit(
        [&out](const std::string&, auto& w, auto& dw, auto&... st) {
            T* extra[2] = {nullptr, nullptr};
            std::size_t e = 0;
            ((extra[e++] = st.data()), ...);
            const std::size_t n = w.size();
            for (std::size_t first = 0; first < n; first += optimizer_piece) {
                const std::size_t len = std::min(optimizer_piece, n - first);
                out.push_back({w.data() + first, dw.data() + first,
                               extra[0] ? extra[0] + first : nullptr,
                               extra[1] ? extra[1] + first : nullptr, len, w.dimension() >= 2});
            }
        },
        p, g, state...);
}

// The L2 norm of the pieces' gradients: each piece summed alone (by exec), the pieces' sums
// added in order.
template <class T, class Executor>
double pieces_norm(const std::vector<piece<T>>& pieces, std::vector<double>& sums,
                   Executor&& exec) {
    sums.assign(pieces.size(), 0.0);
    exec(pieces.size(), [&](std::size_t i) { sums[i] = sum_of_squares(pieces[i].g, pieces[i].n); });
    double total = 0;
    for (double s : sums) total += s;
    return std::sqrt(total);
}

}  // namespace detail

// The L2 norm of all gradients taken as one vector, summed in double, piece by piece as the
// optimizers sum it (so that their step returns the same number).
template <class M>
double global_norm(const typename M::Grads& grads) {
    double total = 0;
    M::visit(
        [&total](const std::string&, const auto& dw) {
            const auto* d = dw.data();
            const std::size_t n = dw.size();
            for (std::size_t first = 0; first < n; first += optimizer_piece) {
                total += detail::sum_of_squares(d + first, std::min(optimizer_piece, n - first));
            }
        },
        grads);
    return std::sqrt(total);
}

namespace detail {

// A norm that training can go on from: finite.
inline double checked_norm(double norm, const char* op) {
    if (!std::isfinite(norm)) {
        throw divergence_error(std::string(op) + ": expected a finite gradient norm, found " +
                               optimizer_number(norm));
    }
    return norm;
}

// torch.nn.utils.clip_grad_norm_'s factor: max_norm / (norm + 1e-6), at most 1.
// grad_clip <= 0 turns clipping off.
inline double clip_coefficient(double norm, double grad_clip) {
    if (grad_clip <= 0) return 1.0;
    const double coef = grad_clip / (norm + 1e-6);
    return coef < 1.0 ? coef : 1.0;
}

inline void check_learning_rate(double lr, const char* op) {
    if (!(lr >= 0) || !std::isfinite(lr)) {
        throw usage_error(std::string(op) + ": expected a finite learning rate >= 0, found " +
                          optimizer_number(lr));
    }
}

inline void check_grad_clip(double grad_clip, const char* op) {
    if (std::isnan(grad_clip)) {
        throw usage_error(std::string(op) + ": expected a grad_clip (<= 0 for none), found " +
                          optimizer_number(grad_clip));
    }
}

// The scalars of one AdamW step.
struct adam_constants {
    double clip;          // clip_grad_norm_'s factor
    double one_minus_b1;  // lerp weight of the first moment
    double b2;
    double one_minus_b2;
    double neg_step;  // -lr / (1 - b1^t)
    double bc2_sqrt;  // sqrt(1 - b2^t)
    double eps;
};

// GCC 12 reports the placeholder operand inside AVX-512's sqrt intrinsic
// (_mm512_undefined_pd) as uninitialised when it inlines xsimd::sqrt; the warning is false.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

// For i < n, in PyTorch's order of operations:
//   g *= clip;  m += (1 - b1)·(g - m);  v = v·b2 + (1 - b2)·g·g;
//   w += neg_step·m / (sqrt(v) / bc2_sqrt + eps)
// With SIMD batches, because std::sqrt may set errno and so keeps a plain loop scalar;
// the tail does the same operations one number at a time, so every element rounds alike.
template <class T>
void adam_update(T* w, T* g, T* m, T* v, std::size_t n, const adam_constants& k) {
    using batch = xsimd::batch<T>;
    constexpr std::size_t W = batch::size;
    const T clip = static_cast<T>(k.clip), one_minus_b1 = static_cast<T>(k.one_minus_b1);
    const T b2 = static_cast<T>(k.b2), one_minus_b2 = static_cast<T>(k.one_minus_b2);
    const T neg_step = static_cast<T>(k.neg_step), bc2_sqrt = static_cast<T>(k.bc2_sqrt);
    const T eps = static_cast<T>(k.eps);
    const batch clip_b(clip), one_minus_b1_b(one_minus_b1), b2_b(b2);
    const batch one_minus_b2_b(one_minus_b2), neg_step_b(neg_step), bc2_sqrt_b(bc2_sqrt);
    const batch eps_b(eps);
    const std::size_t n_batched = n - n % W;
    for (std::size_t i = 0; i < n_batched; i += W) {
        const batch gi = batch::load_unaligned(g + i) * clip_b;
        gi.store_unaligned(g + i);
        batch mi = batch::load_unaligned(m + i);
        mi = mi + one_minus_b1_b * (gi - mi);
        mi.store_unaligned(m + i);
        batch vi = batch::load_unaligned(v + i);
        vi = vi * b2_b + one_minus_b2_b * gi * gi;
        vi.store_unaligned(v + i);
        const batch denom = xsimd::sqrt(vi) / bc2_sqrt_b + eps_b;
        (batch::load_unaligned(w + i) + neg_step_b * mi / denom).store_unaligned(w + i);
    }
    for (std::size_t i = n_batched; i < n; ++i) {
        const T gi = g[i] * clip;
        g[i] = gi;
        m[i] = m[i] + one_minus_b1 * (gi - m[i]);
        v[i] = v[i] * b2 + one_minus_b2 * gi * gi;
        const T denom = std::sqrt(v[i]) / bc2_sqrt + eps;
        w[i] = w[i] + neg_step * m[i] / denom;
    }
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

}  // namespace detail

struct adamw_options {
    double lr = 1e-3;           // used by step(p, g); step(p, g, lr) overrides it
    double beta1 = 0.9;         // decay of the first moment
    double beta2 = 0.95;        // decay of the second moment
    double eps = 1e-8;          // added to the second moment's square root
    double weight_decay = 0.1;  // decoupled; only on tensors of rank >= 2
    double grad_clip = 1.0;     // the global gradient norm is clipped to this; <= 0: none
};

// AdamW as torch.optim.AdamW (not amsgrad, not fused), after clip_grad_norm_:
//   g *= min(1, clip / (|g| + 1e-6))
//   p *= 1 - lr·wd                          (rank >= 2 only, before the moments)
//   m = lerp(m, g, 1 - b1),  v = b2·v + (1 - b2)·g²
//   p += (-lr / (1 - b1^t)) · m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// in PyTorch's order of operations, so double results agree with it to rounding.
template <class M>
class adamw {
public:
    using Params = typename M::Params;
    using Grads = typename M::Grads;

    explicit adamw(const adamw_options& options = adamw_options())
        : options_(options), m_(std::make_unique<Params>()), v_(std::make_unique<Params>()) {
        const auto& o = options_;
        detail::check_learning_rate(o.lr, "adamw");
        if (!(o.beta1 >= 0 && o.beta1 < 1)) {
            throw usage_error("adamw: expected 0 <= beta1 < 1, found " +
                              detail::optimizer_number(o.beta1));
        }
        if (!(o.beta2 >= 0 && o.beta2 < 1)) {
            throw usage_error("adamw: expected 0 <= beta2 < 1, found " +
                              detail::optimizer_number(o.beta2));
        }
        if (!(o.eps >= 0) || !std::isfinite(o.eps)) {
            throw usage_error("adamw: expected a finite eps >= 0, found " +
                              detail::optimizer_number(o.eps));
        }
        if (!(o.weight_decay >= 0) || !std::isfinite(o.weight_decay)) {
            throw usage_error("adamw: expected a finite weight_decay >= 0, found " +
                              detail::optimizer_number(o.weight_decay));
        }
        detail::check_grad_clip(o.grad_clip, "adamw");
        reset();
    }

    const adamw_options& options() const { return options_; }

    // One update of p from g at learning rate lr. Clips g in place, as clip_grad_norm_
    // does, and returns the gradient norm before clipping. Throws divergence_error, with
    // nothing changed, when that norm is not finite. exec spreads the work over threads.
    template <class Executor = serial_executor>
    double step(Params& p, Grads& g, double lr, Executor&& exec = Executor()) {
        using T = typename M::value_type;
        detail::check_learning_rate(lr, "adamw step");
        detail::cut_into_pieces<M>(pieces_, p, g, *m_, *v_);
        const double norm =
            detail::checked_norm(detail::pieces_norm(pieces_, sums_, exec), "adamw step");
        const double clip = detail::clip_coefficient(norm, options_.grad_clip);
        ++t_;
        const double b1 = options_.beta1, b2 = options_.beta2;
        const double t = static_cast<double>(t_);
        const double bias_correction1 = 1 - std::pow(b1, t);
        const double bias_correction2 = 1 - std::pow(b2, t);
        const double step_size = lr / bias_correction1;
        const T keep = static_cast<T>(1 - lr * options_.weight_decay);
        const detail::adam_constants k{
            clip, 1 - b1, b2, 1 - b2, -step_size, std::sqrt(bias_correction2), options_.eps};
        exec(pieces_.size(), [&](std::size_t i) {
            const detail::piece<T>& pc = pieces_[i];
            // decoupled weight decay from the current weights, on matrices and embeddings
            if (pc.decays) {
                for (std::size_t j = 0; j < pc.n; ++j) pc.p[j] *= keep;
            }
            // clip, the two moments, then the step
            detail::adam_update(pc.p, pc.g, pc.m, pc.v, pc.n, k);
        });
        return norm;
    }

    // One update at options().lr.
    double step(Params& p, Grads& g) { return step(p, g, options_.lr); }

    // The moments and the step count, for a model file to save and restore.
    Params& moments1() { return *m_; }
    const Params& moments1() const { return *m_; }
    Params& moments2() { return *v_; }
    const Params& moments2() const { return *v_; }
    std::size_t step_count() const { return t_; }
    void set_step_count(std::size_t t) { t_ = t; }

    // Back to the start: zero moments, no steps taken.
    void reset() {
        zero_grads<M>(*m_);
        zero_grads<M>(*v_);
        t_ = 0;
    }

private:
    adamw_options options_;
    std::unique_ptr<Params> m_;  // first moment, the layout of Params
    std::unique_ptr<Params> v_;  // second moment, the layout of Params
    std::size_t t_ = 0;          // steps taken
    std::vector<detail::piece<typename M::value_type>> pieces_;  // of the current step
    std::vector<double> sums_;  // each piece's Σ g², for the norm
};

struct sgd_options {
    double lr = 1e-2;        // used by step(p, g); step(p, g, lr) overrides it
    double grad_clip = 1.0;  // the global gradient norm is clipped to this; <= 0: none
};

// Plain SGD as torch.optim.SGD without momentum or decay, after clip_grad_norm_:
//   g *= min(1, clip / (|g| + 1e-6)),  p += (-lr)·g
template <class M>
class sgd {
public:
    using Params = typename M::Params;
    using Grads = typename M::Grads;

    explicit sgd(const sgd_options& options = sgd_options()) : options_(options) {
        detail::check_learning_rate(options_.lr, "sgd");
        detail::check_grad_clip(options_.grad_clip, "sgd");
    }

    const sgd_options& options() const { return options_; }

    // As adamw::step: clips g in place, returns the norm before clipping, throws
    // divergence_error with nothing changed when it is not finite.
    template <class Executor = serial_executor>
    double step(Params& p, Grads& g, double lr, Executor&& exec = Executor()) {
        using T = typename M::value_type;
        detail::check_learning_rate(lr, "sgd step");
        detail::cut_into_pieces<M>(pieces_, p, g);
        const double norm =
            detail::checked_norm(detail::pieces_norm(pieces_, sums_, exec), "sgd step");
        const T c = static_cast<T>(detail::clip_coefficient(norm, options_.grad_clip));
        const T neg_lr = static_cast<T>(-lr);
        exec(pieces_.size(), [&](std::size_t i) {
            const detail::piece<T>& pc = pieces_[i];
            for (std::size_t j = 0; j < pc.n; ++j) {
                const T gj = pc.g[j] * c;
                pc.g[j] = gj;
                pc.p[j] = pc.p[j] + neg_lr * gj;
            }
        });
        return norm;
    }

    double step(Params& p, Grads& g) { return step(p, g, options_.lr); }

private:
    sgd_options options_;
    std::vector<detail::piece<typename M::value_type>> pieces_;  // of the current step
    std::vector<double> sums_;  // each piece's Σ g², for the norm
};

}  // namespace tinyformer
