// tests/test_optimizer.cpp: AdamW and SGD against PyTorch's algorithm written out, and the
// learning-rate schedule; with the Transformer, three AdamW steps against PyTorch's own.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "doctest/doctest.h"
#include "golden.hpp"
#include "tinyformer/error.hpp"
#include "tinyformer/optimizer.hpp"
#include "tinyformer/random.hpp"
#include "tinyformer/schedule.hpp"
#include "tinyformer/tensor.hpp"

using namespace tinyformer;

namespace {

// A model of two tensors: a matrix w (R, Cols), which weight decay shrinks, and a bias b
// (Cols), which it leaves alone.
template <class T, std::size_t R, std::size_t Cols>
struct fake_model {
    using value_type = T;
    struct Params {
        fixed<T, R, Cols> w;  // (R, Cols)
        fixed<T, Cols> b;     // (Cols)
    };
    using Grads = Params;
    template <class F, class... P>
    static void visit(F&& f, P&... p) {
        f(std::string("w"), p.w...);
        f(std::string("b"), p.b...);
    }
};

using small_model = fake_model<double, 3, 4>;
// 15 and 5 numbers: not a multiple of any SIMD width, so the scalar tail runs too
using odd_model = fake_model<double, 3, 5>;

// Fills every tensor with scale · N(0, 1).
template <class M>
void fill_normal(typename M::Params& p, rng& gen, double scale) {
    M::visit(
        [&](const std::string&, auto& x) {
            for (auto& v : x) v = static_cast<std::decay_t<decltype(v)>>(scale * gen.normal());
        },
        p);
}

// The tensors of p, flattened, in visit order.
template <class M>
std::vector<std::vector<double>> flat(const typename M::Params& p) {
    std::vector<std::vector<double>> out;
    M::visit([&](const std::string&, const auto& x) { out.emplace_back(x.begin(), x.end()); }, p);
    return out;
}

// |a - b| <= 1e-12 · |b| + 1e-15, tensor by tensor, naming the first element that differs.
void check_same(const std::vector<std::vector<double>>& got,
                const std::vector<std::vector<double>>& want, double rel = 1e-12) {
    REQUIRE(got.size() == want.size());
    for (std::size_t k = 0; k < got.size(); ++k) {
        REQUIRE(got[k].size() == want[k].size());
        for (std::size_t i = 0; i < got[k].size(); ++i) {
            const double d = std::abs(got[k][i] - want[k][i]);
            if (!(d <= rel * std::abs(want[k][i]) + 1e-15)) {
                FAIL_CHECK("tensor " << k << " index " << i << ": " << got[k][i] << " vs "
                                     << want[k][i]);
                return;
            }
        }
    }
}

// AdamW as PyTorch's documentation states it, one tensor of doubles at a time:
//   clip:  g *= min(1, clip / (|g| + 1e-6)), |g| the norm of the per-tensor norms
//   θ ← θ - γλθ (rank >= 2);  m ← β1 m + (1 - β1) g;  v ← β2 v + (1 - β2) g²
//   m̂ = m / (1 - β1^t);  v̂ = v / (1 - β2^t);  θ ← θ - γ m̂ / (√v̂ + ε)
struct reference_adamw {
    adamw_options o;
    std::vector<std::vector<double>> p, m, v;
    std::vector<bool> decayed;
    int t = 0;

    double step(std::vector<std::vector<double>>& g, double lr) {
        double total = 0;
        for (const auto& gk : g) {
            double sq = 0;
            for (double x : gk) sq += x * x;
            total += sq;
        }
        const double norm = std::sqrt(total);
        if (o.grad_clip > 0 && o.grad_clip / (norm + 1e-6) < 1) {
            for (auto& gk : g) {
                for (double& x : gk) x *= o.grad_clip / (norm + 1e-6);
            }
        }
        t += 1;
        for (std::size_t k = 0; k < p.size(); ++k) {
            for (std::size_t i = 0; i < p[k].size(); ++i) {
                if (decayed[k]) p[k][i] -= lr * o.weight_decay * p[k][i];
                m[k][i] = o.beta1 * m[k][i] + (1 - o.beta1) * g[k][i];
                v[k][i] = o.beta2 * v[k][i] + (1 - o.beta2) * g[k][i] * g[k][i];
                const double m_hat = m[k][i] / (1 - std::pow(o.beta1, t));
                const double v_hat = v[k][i] / (1 - std::pow(o.beta2, t));
                p[k][i] -= lr * m_hat / (std::sqrt(v_hat) + o.eps);
            }
        }
        return norm;
    }
};

}  // namespace

TEST_CASE("optimizer: zero_grads and accumulate work tensor by tensor") {
    rng gen(1);
    auto a = std::make_unique<small_model::Grads>();
    auto b = std::make_unique<small_model::Grads>();
    fill_normal<small_model>(*a, gen, 1.0);
    fill_normal<small_model>(*b, gen, 1.0);
    const auto a0 = flat<small_model>(*a), b0 = flat<small_model>(*b);
    accumulate<small_model>(*a, *b);
    const auto sum = flat<small_model>(*a);
    for (std::size_t k = 0; k < sum.size(); ++k) {
        for (std::size_t i = 0; i < sum[k].size(); ++i) {
            CHECK(sum[k][i] == a0[k][i] + b0[k][i]);
        }
    }
    CHECK(flat<small_model>(*b) == b0);
    zero_grads<small_model>(*a);
    for (const auto& t : flat<small_model>(*a)) {
        for (double x : t) CHECK(x == 0.0);
    }
}

TEST_CASE("optimizer: global_norm is the L2 norm of all tensors together") {
    auto g = std::make_unique<small_model::Grads>();
    zero_grads<small_model>(*g);
    g->w(0, 0) = 3;
    g->w(2, 3) = 4;
    g->b(1) = 12;
    CHECK(global_norm<small_model>(*g) == doctest::Approx(13.0).epsilon(1e-15));
    zero_grads<small_model>(*g);
    CHECK(global_norm<small_model>(*g) == 0.0);
}

TEST_CASE_TEMPLATE("adamw: steps match PyTorch's algorithm written out", M, small_model,
                   odd_model) {
    adamw_options o;
    o.weight_decay = 0.1;
    o.grad_clip = 1.0;
    adamw<M> opt(o);
    rng gen(7);
    auto p = std::make_unique<typename M::Params>();
    auto g = std::make_unique<typename M::Grads>();
    fill_normal<M>(*p, gen, 1.0);

    reference_adamw ref;
    ref.o = o;
    ref.p = flat<M>(*p);
    for (const auto& t : ref.p) {
        ref.m.emplace_back(t.size(), 0.0);
        ref.v.emplace_back(t.size(), 0.0);
    }
    ref.decayed = {true, false};

    // large gradients (clipped) then small ones (not), at changing learning rates
    const double scales[] = {3.0, 0.05, 2.0, 0.01, 0.2, 1.5};
    const double lrs[] = {1e-2, 3e-2, 1e-3, 5e-2, 2e-2, 1e-2};
    for (std::size_t s = 0; s < 6; ++s) {
        CAPTURE(s);
        fill_normal<M>(*g, gen, scales[s]);
        auto ref_g = flat<M>(*g);
        const double want = ref.step(ref_g, lrs[s]);
        const double norm = opt.step(*p, *g, lrs[s]);
        CHECK(norm == doctest::Approx(want).epsilon(1e-14));
        check_same(flat<M>(*g), ref_g);
        check_same(flat<M>(*p), ref.p);
        check_same(flat<M>(opt.moments1()), ref.m);
        check_same(flat<M>(opt.moments2()), ref.v);
        CHECK(opt.step_count() == s + 1);
    }
}

TEST_CASE("adamw: the first step moves each weight by lr against its gradient's sign") {
    adamw_options o;
    o.weight_decay = 0;
    o.grad_clip = 0;
    adamw<small_model> opt(o);
    rng gen(3);
    auto p = std::make_unique<small_model::Params>();
    auto g = std::make_unique<small_model::Grads>();
    fill_normal<small_model>(*p, gen, 1.0);
    fill_normal<small_model>(*g, gen, 1.0);
    g->b(2) = -0.25;  // at least one sure negative and one sure positive
    g->w(1, 1) = 0.5;
    const auto before = flat<small_model>(*p), grad = flat<small_model>(*g);
    const double lr = 1e-2;
    opt.step(*p, *g, lr);
    // m̂ = g and v̂ = g² after one step, so the update is lr · g / (|g| + eps)
    const auto after = flat<small_model>(*p);
    for (std::size_t k = 0; k < after.size(); ++k) {
        for (std::size_t i = 0; i < after[k].size(); ++i) {
            CAPTURE(k);
            CAPTURE(i);
            const double gi = grad[k][i];
            const double want = lr * gi / (std::abs(gi) + 1e-8);
            CHECK(before[k][i] - after[k][i] == doctest::Approx(want).epsilon(1e-12));
            CHECK(std::abs(want) == doctest::Approx(lr).epsilon(1e-8 / std::abs(gi)));
        }
    }
}

TEST_CASE("adamw: weight decay shrinks rank-2 tensors only") {
    adamw_options o;
    o.weight_decay = 0.5;
    adamw<small_model> opt(o);
    rng gen(5);
    auto p = std::make_unique<small_model::Params>();
    auto g = std::make_unique<small_model::Grads>();
    fill_normal<small_model>(*p, gen, 1.0);
    const auto before = flat<small_model>(*p);
    // with zero gradients the Adam part is 0 / eps = 0: only the decay moves anything
    zero_grads<small_model>(*g);
    const double lr = 0.1;
    CHECK(opt.step(*p, *g, lr) == 0.0);
    const auto after = flat<small_model>(*p);
    for (std::size_t i = 0; i < before[0].size(); ++i) {
        CHECK(after[0][i] == before[0][i] * (1 - lr * 0.5));
    }
    CHECK(after[1] == before[1]);
}

TEST_CASE("adamw: clipping scales the gradients to grad_clip and returns the norm before") {
    auto p = std::make_unique<small_model::Params>();
    auto g = std::make_unique<small_model::Grads>();
    rng gen(11);
    fill_normal<small_model>(*p, gen, 1.0);

    SUBCASE("a norm above grad_clip is scaled by grad_clip / (norm + 1e-6)") {
        adamw<small_model> opt;  // grad_clip 1
        zero_grads<small_model>(*g);
        g->w(0, 1) = 6;
        g->b(3) = -8;
        CHECK(opt.step(*p, *g, 1e-3) == 10.0);
        const double c = 1.0 / (10.0 + 1e-6);
        CHECK(g->w(0, 1) == doctest::Approx(6 * c).epsilon(1e-15));
        CHECK(g->b(3) == doctest::Approx(-8 * c).epsilon(1e-15));
        CHECK(global_norm<small_model>(*g) == doctest::Approx(10 * c).epsilon(1e-15));
    }
    SUBCASE("a norm below grad_clip leaves the gradients as they are") {
        adamw<small_model> opt;
        fill_normal<small_model>(*g, gen, 0.01);
        const auto before = flat<small_model>(*g);
        const double norm = opt.step(*p, *g, 1e-3);
        CHECK(norm < 1.0);
        CHECK(norm == doctest::Approx(global_norm<small_model>(*g)).epsilon(1e-15));
        CHECK(flat<small_model>(*g) == before);
    }
    SUBCASE("grad_clip 0 turns clipping off") {
        adamw_options o;
        o.grad_clip = 0;
        adamw<small_model> opt(o);
        fill_normal<small_model>(*g, gen, 100.0);
        const auto before = flat<small_model>(*g);
        CHECK(opt.step(*p, *g, 1e-3) > 100.0);
        CHECK(flat<small_model>(*g) == before);
    }
}

TEST_CASE("adamw: a gradient that is not finite throws divergence_error and changes nothing") {
    adamw<small_model> opt;
    rng gen(13);
    auto p = std::make_unique<small_model::Params>();
    auto g = std::make_unique<small_model::Grads>();
    fill_normal<small_model>(*p, gen, 1.0);
    fill_normal<small_model>(*g, gen, 1.0);
    opt.step(*p, *g, 1e-2);
    const auto p0 = flat<small_model>(*p);
    const auto m0 = flat<small_model>(opt.moments1());
    const auto v0 = flat<small_model>(opt.moments2());

    fill_normal<small_model>(*g, gen, 1.0);
    SUBCASE("nan") {
        g->w(1, 2) = std::numeric_limits<double>::quiet_NaN();
        CHECK_THROWS_WITH_AS(opt.step(*p, *g, 1e-2),
                             "adamw step: expected a finite gradient norm, found nan",
                             divergence_error);
    }
    SUBCASE("inf") {
        g->b(0) = -std::numeric_limits<double>::infinity();
        CHECK_THROWS_WITH_AS(opt.step(*p, *g, 1e-2),
                             "adamw step: expected a finite gradient norm, found inf",
                             divergence_error);
    }
    CHECK(opt.step_count() == 1);
    CHECK(flat<small_model>(*p) == p0);
    CHECK(flat<small_model>(opt.moments1()) == m0);
    CHECK(flat<small_model>(opt.moments2()) == v0);
}

TEST_CASE("adamw: moments and step count carry over to a fresh optimizer") {
    rng gen(17);
    auto p = std::make_unique<small_model::Params>();
    auto g = std::make_unique<small_model::Grads>();
    fill_normal<small_model>(*p, gen, 1.0);
    adamw<small_model> first;
    for (int s = 0; s < 3; ++s) {
        fill_normal<small_model>(*g, gen, 0.5);
        first.step(*p, *g, 1e-2);
    }
    // what a model file does: copy the moments and t out, and back into a new optimizer
    adamw<small_model> second;
    second.moments1() = first.moments1();
    second.moments2() = first.moments2();
    second.set_step_count(first.step_count());
    CHECK(second.step_count() == 3);

    auto p2 = std::make_unique<small_model::Params>(*p);
    fill_normal<small_model>(*g, gen, 0.5);
    auto g2 = std::make_unique<small_model::Grads>(*g);
    first.step(*p, *g, 1e-2);
    second.step(*p2, *g2, 1e-2);
    CHECK(flat<small_model>(*p2) == flat<small_model>(*p));
    CHECK(flat<small_model>(second.moments2()) == flat<small_model>(first.moments2()));

    // reset forgets them
    second.reset();
    CHECK(second.step_count() == 0);
    for (const auto& t : flat<small_model>(second.moments1())) {
        for (double x : t) CHECK(x == 0.0);
    }
}

TEST_CASE("adamw: a float model follows the double one") {
    using float_model = fake_model<float, 3, 5>;
    rng gen(19);
    auto pd = std::make_unique<odd_model::Params>();
    auto gd = std::make_unique<odd_model::Grads>();
    auto pf = std::make_unique<float_model::Params>();
    auto gf = std::make_unique<float_model::Grads>();
    fill_normal<odd_model>(*pd, gen, 1.0);
    for (std::size_t i = 0; i < pd->w.size(); ++i) pf->w.data()[i] = float(pd->w.data()[i]);
    for (std::size_t i = 0; i < pd->b.size(); ++i) pf->b.data()[i] = float(pd->b.data()[i]);
    adamw<odd_model> opt_d;
    adamw<float_model> opt_f;
    for (int s = 0; s < 4; ++s) {
        fill_normal<odd_model>(*gd, gen, 0.7);
        for (std::size_t i = 0; i < gd->w.size(); ++i) gf->w.data()[i] = float(gd->w.data()[i]);
        for (std::size_t i = 0; i < gd->b.size(); ++i) gf->b.data()[i] = float(gd->b.data()[i]);
        const double nd = opt_d.step(*pd, *gd, 1e-2);
        const double nf = opt_f.step(*pf, *gf, 1e-2);
        CHECK(nf == doctest::Approx(nd).epsilon(1e-6));
    }
    check_same(flat<float_model>(*pf), flat<odd_model>(*pd), 1e-5);
}

TEST_CASE("adamw: options out of their domain throw usage_error") {
    const auto make = [](adamw_options o) { adamw<small_model> opt(o); };
    adamw_options o;
    o.beta1 = 1.0;
    CHECK_THROWS_WITH_AS(make(o), "adamw: expected 0 <= beta1 < 1, found 1", usage_error);
    o = adamw_options();
    o.beta2 = -0.5;
    CHECK_THROWS_WITH_AS(make(o), "adamw: expected 0 <= beta2 < 1, found -0.5", usage_error);
    o = adamw_options();
    o.eps = -1e-8;
    CHECK_THROWS_WITH_AS(make(o), "adamw: expected a finite eps >= 0, found -1e-08", usage_error);
    o = adamw_options();
    o.weight_decay = -0.1;
    CHECK_THROWS_WITH_AS(make(o), "adamw: expected a finite weight_decay >= 0, found -0.1",
                         usage_error);
    o = adamw_options();
    o.lr = std::numeric_limits<double>::quiet_NaN();
    CHECK_THROWS_WITH_AS(make(o), "adamw: expected a finite learning rate >= 0, found nan",
                         usage_error);
    o = adamw_options();
    o.grad_clip = std::numeric_limits<double>::quiet_NaN();
    CHECK_THROWS_WITH_AS(make(o), "adamw: expected a grad_clip (<= 0 for none), found nan",
                         usage_error);

    adamw<small_model> opt;
    auto p = std::make_unique<small_model::Params>();
    auto g = std::make_unique<small_model::Grads>();
    zero_grads<small_model>(*p);
    zero_grads<small_model>(*g);
    CHECK_THROWS_WITH_AS(opt.step(*p, *g, -1e-3),
                         "adamw step: expected a finite learning rate >= 0, found -0.001",
                         usage_error);
    CHECK(opt.step_count() == 0);
}

TEST_CASE("sgd: a step is p -= lr · the clipped gradient") {
    rng gen(23);
    auto p = std::make_unique<small_model::Params>();
    auto g = std::make_unique<small_model::Grads>();
    fill_normal<small_model>(*p, gen, 1.0);
    sgd<small_model> opt;  // grad_clip 1

    SUBCASE("below grad_clip") {
        fill_normal<small_model>(*g, gen, 0.05);
        const auto p0 = flat<small_model>(*p), g0 = flat<small_model>(*g);
        const double norm = opt.step(*p, *g, 0.5);
        CHECK(norm == doctest::Approx(global_norm<small_model>(*g)).epsilon(1e-15));
        auto want = p0;
        for (std::size_t k = 0; k < want.size(); ++k) {
            for (std::size_t i = 0; i < want[k].size(); ++i) want[k][i] -= 0.5 * g0[k][i];
        }
        check_same(flat<small_model>(*p), want);
    }
    SUBCASE("above grad_clip") {
        zero_grads<small_model>(*g);
        g->w(2, 0) = 20;
        const double w0 = p->w(2, 0), b0 = p->b(0);
        CHECK(opt.step(*p, *g, 0.5) == 20.0);
        CHECK(p->w(2, 0) == doctest::Approx(w0 - 0.5 * 20 / (20 + 1e-6)).epsilon(1e-15));
        CHECK(p->b(0) == b0);
    }
    SUBCASE("a nan gradient throws and changes nothing") {
        fill_normal<small_model>(*g, gen, 0.05);
        g->b(3) = std::numeric_limits<double>::quiet_NaN();
        const auto p0 = flat<small_model>(*p);
        CHECK_THROWS_WITH_AS(opt.step(*p, *g, 0.5),
                             "sgd step: expected a finite gradient norm, found nan",
                             divergence_error);
        CHECK(flat<small_model>(*p) == p0);
    }
    SUBCASE("options out of their domain throw") {
        sgd_options o;
        o.lr = -1;
        CHECK_THROWS_WITH_AS(sgd<small_model>{o},
                             "sgd: expected a finite learning rate >= 0, found -1", usage_error);
    }
}

namespace {

// 60,000 + 20,000 numbers: several pieces of optimizer_piece each, with a short last one.
using wide_model = fake_model<float, 3, 20000>;

// An executor that runs the pieces last to first, the odd ones on a second thread.
struct backwards_on_two_threads {
    template <class F>
    void operator()(std::size_t n, F&& f) const {
        std::thread odd([&] {
            for (std::size_t i = n; i-- > 0;) {
                if (i % 2 == 1) f(i);
            }
        });
        for (std::size_t i = n; i-- > 0;) {
            if (i % 2 == 0) f(i);
        }
        odd.join();
    }
};

// Three steps of Optimizer with and without exec, from the same start: the same bits.
template <class Optimizer, class Options>
void check_executor_changes_nothing(const Options& options) {
    static_assert(60000 % optimizer_piece != 0, "the last piece must be a short one");
    rng gen(11);
    auto p = std::make_unique<wide_model::Params>(), g = std::make_unique<wide_model::Grads>();
    fill_normal<wide_model>(*p, gen, 0.5);
    auto p2 = std::make_unique<wide_model::Params>(*p);
    Optimizer serial(options), threaded(options);
    for (int s = 0; s < 3; ++s) {
        CAPTURE(s);
        fill_normal<wide_model>(*g, gen, 0.01);  // a norm of about 2.8: clipped
        auto g2 = std::make_unique<wide_model::Grads>(*g);
        const double want = global_norm<wide_model>(*g);
        const double n1 = serial.step(*p, *g, 1e-2);
        const double n2 = threaded.step(*p2, *g2, 1e-2, backwards_on_two_threads());
        CHECK(n1 == want);
        CHECK(n2 == want);
        CHECK(flat<wide_model>(*g2) == flat<wide_model>(*g));
        CHECK(flat<wide_model>(*p2) == flat<wide_model>(*p));
    }
}

}  // namespace

TEST_CASE("adamw, sgd: spreading a step over threads changes no bit of it") {
    SUBCASE("adamw") { check_executor_changes_nothing<adamw<wide_model>>(adamw_options()); }
    SUBCASE("sgd") { check_executor_changes_nothing<sgd<wide_model>>(sgd_options()); }
}

TEST_CASE("lr_schedule: warm-up starts above zero and reaches max_lr") {
    const lr_schedule s{1e-3, 10, 110, 1e-4};
    CHECK(s.at(0) > 0.0);
    CHECK(s.at(0) == doctest::Approx(1e-3 / 11).epsilon(1e-15));
    for (std::size_t it = 1; it <= 10; ++it) CHECK(s.at(it) > s.at(it - 1));
    CHECK(s.at(9) == doctest::Approx(1e-3 * 10 / 11).epsilon(1e-15));
    CHECK(s.at(10) == 1e-3);
}

TEST_CASE("lr_schedule: the cosine falls monotonically to min_lr, then stays there") {
    const lr_schedule s{1e-3, 10, 110, 1e-4};
    for (std::size_t it = 11; it <= 110; ++it) {
        CAPTURE(it);
        CHECK(s.at(it) < s.at(it - 1));
    }
    CHECK(s.at(60) == doctest::Approx((1e-3 + 1e-4) / 2).epsilon(1e-12));
    CHECK(s.at(110) == 1e-4);
    CHECK(s.at(111) == 1e-4);
    CHECK(s.at(1000000) == 1e-4);
    // no warm-up: iteration 0 is at max_lr
    const lr_schedule cold{2e-3, 0, 4, 0};
    CHECK(cold.at(0) == 2e-3);
    CHECK(cold.at(2) == doctest::Approx(1e-3).epsilon(1e-12));
    CHECK(cold.at(4) == 0.0);
}

TEST_CASE("lr_schedule: an empty decay phase goes from warm-up straight to min_lr") {
    const lr_schedule s{1e-3, 5, 5, 1e-4};
    CHECK(s.at(4) == doctest::Approx(1e-3 * 5 / 6).epsilon(1e-15));
    CHECK(s.at(5) == 1e-4);
    const lr_schedule constant{3e-4, 0, 0, 3e-4};
    CHECK(constant.at(0) == 3e-4);
    CHECK(constant.at(12345) == 3e-4);
}

TEST_CASE("lr_schedule: settings out of their domain throw usage_error") {
    CHECK_THROWS_WITH_AS((lr_schedule{1e-4, 10, 100, 1e-3}.at(0)),
                         "lr_schedule: expected min_lr <= max_lr, found min_lr 0.001 and "
                         "max_lr 0.0001",
                         usage_error);
    CHECK_THROWS_WITH_AS((lr_schedule{1e-3, 200, 100, 1e-4}.at(0)),
                         "lr_schedule: expected warmup_iters <= decay_iters, found 200 and 100",
                         usage_error);
    CHECK_THROWS_WITH_AS((lr_schedule{-1e-3, 0, 100, 0}.validate()),
                         "lr_schedule: expected a finite max_lr >= 0, found -0.001", usage_error);
    CHECK_THROWS_WITH_AS(
        (lr_schedule{1e-3, 0, 100, std::numeric_limits<double>::quiet_NaN()}.validate()),
        "lr_schedule: expected a finite min_lr >= 0, found nan", usage_error);
    CHECK_NOTHROW(lr_schedule{1e-3, 0, 100, 1e-3}.validate());
}

namespace {

// The gradients of a golden case as a model whose tensors are flat vectors, by name.
struct golden_grads_model {
    struct Params {
        std::vector<std::string> names;
        std::vector<dynamic<double, 1>> tensors;
    };
    using Grads = Params;
    template <class F, class P>
    static void visit(F&& f, P& p) {
        for (std::size_t k = 0; k < p.names.size(); ++k) f(p.names[k], p.tensors[k]);
    }
};

}  // namespace

TEST_CASE("optimizer: global_norm of PyTorch's gradients is its first norm before clipping") {
    for (const char* file : {"gpt_single_head_relu.json", "gpt_small_gelu.json"}) {
        CAPTURE(file);
        const nlohmann::json j = golden::load(file);
        golden_grads_model::Grads g;
        for (const auto& item : j["grads"].items()) {
            const std::vector<double> v = golden::values(item.value());
            g.names.push_back(item.key());
            g.tensors.push_back(dynamic<double, 1>::from_shape({v.size()}));
            std::copy(v.begin(), v.end(), g.tensors.back().begin());
        }
        REQUIRE(g.names.size() == j["params"].size());
        const double want = j["adamw"]["grad_norms_before_clip"][0].get<double>();
        CHECK(golden::close(global_norm<golden_grads_model>(g), want, 1e-12, 0));
    }
}

#if __has_include("tinyformer/transformer.hpp")
#include "tinyformer/transformer.hpp"

namespace {

// Three AdamW steps on one batch, each loss and gradient norm, then every parameter,
// against PyTorch in float64.
template <class Cfg>
void check_golden_adamw(const std::string& file) {
    using Model = Transformer<Cfg>;
    CAPTURE(file);
    const nlohmann::json j = golden::load(file);
    const nlohmann::json& c = j["config"];
    REQUIRE(c["vocab"].get<std::size_t>() == Cfg::Vocab);
    REQUIRE(c["block"].get<std::size_t>() == Cfg::BlockSize);
    REQUIRE(c["embed"].get<std::size_t>() == Cfg::EmbedSize);
    REQUIRE(c["heads"].get<std::size_t>() == Cfg::Heads);
    REQUIRE(c["layers"].get<std::size_t>() == Cfg::Layers);
    REQUIRE(c["hidden"].get<std::size_t>() == Cfg::Hidden);
    REQUIRE(c["activation"].get<std::string>() == activation_name(Cfg::Activation));
    const nlohmann::json& a = j["adamw"];
    const std::size_t B = c["batch"].get<std::size_t>(), T = Cfg::BlockSize;

    auto params = std::make_unique<typename Model::Params>();
    golden::set_params<Model>(*params, j["params"]);
    auto grads = std::make_unique<typename Model::Grads>();
    typename Model::Activations acts(B);
    const auto tokens = golden::ids(j["tokens"]);
    const auto targets = golden::ids(j["targets"]);
    REQUIRE(tokens.size() == B * T);
    REQUIRE(targets.size() == B * T);

    adamw_options o;
    o.lr = a["lr"].get<double>();
    o.beta1 = a["beta1"].get<double>();
    o.beta2 = a["beta2"].get<double>();
    o.eps = a["eps"].get<double>();
    o.weight_decay = a["weight_decay"].get<double>();
    o.grad_clip = a["grad_clip"].get<double>();
    adamw<Model> opt(o);
    const std::size_t steps = a["steps"].get<std::size_t>();
    REQUIRE(steps == 3);
    for (std::size_t s = 0; s < steps; ++s) {
        CAPTURE(s);
        zero_grads<Model>(*grads);
        const double loss = Model::forward(*params, acts, tokens.data(), targets.data(), B, T);
        Model::backward(*params, *grads, acts);
        const double norm = opt.step(*params, *grads, o.lr);
        CHECK(golden::close(loss, a["losses_before_each_step"][s].get<double>(), 1e-9, 0));
        CHECK(golden::close(norm, a["grad_norms_before_clip"][s].get<double>(), 1e-9, 0));
    }

    // The key bias (c_attn.bias[C, 2C)) has a gradient of exactly zero: softmax ignores the
    // q·b_k shift common to a row. Its computed gradient is rounding noise (|g| < 1e-16),
    // which Adam scales by lr / eps into steps of up to lr·|g|/eps that differ between any
    // two implementations, so those numbers are held to 1e-10 absolute instead.
    const auto is_key_bias = [](const std::string& name, std::size_t i) {
        const std::string tail = "attn.c_attn.bias";
        return name.size() > tail.size() &&
               name.compare(name.size() - tail.size(), tail.size(), tail) == 0 &&
               i >= Cfg::EmbedSize && i < 2 * Cfg::EmbedSize;
    };
    std::size_t tensors = 0;
    Model::visit(
        [&](const std::string& name, const auto& w) {
            ++tensors;
            CAPTURE(name);
            REQUIRE(a["params_after"].contains(name));
            const std::vector<double> want = golden::values(a["params_after"][name]);
            const std::vector<double> first_grad = golden::values(j["grads"][name]);
            REQUIRE(want.size() == w.size());
            std::size_t bad = 0;
            for (std::size_t i = 0; i < want.size(); ++i) {
                const bool noise = is_key_bias(name, i);
                if (noise) CHECK(std::abs(first_grad[i]) < 1e-16);
                const double rel = noise ? 0 : 1e-9, abs = noise ? 1e-10 : 1e-12;
                if (!golden::close(w.data()[i], want[i], rel, abs) && ++bad <= 3) {
                    FAIL_CHECK(name << "[" << i << "]: " << w.data()[i] << " vs " << want[i]);
                }
            }
            CHECK(bad == 0);
        },
        *params);
    CHECK(tensors == a["params_after"].size());
}

}  // namespace

TEST_CASE("adamw: three steps on a Transformer match PyTorch's AdamW") {
    SUBCASE("one head, relu") {
        check_golden_adamw<Config<7, 5, 12, 1, 1, double, activation::relu, 48>>(
            "gpt_single_head_relu.json");
    }
    SUBCASE("two heads, two layers, gelu") {
        check_golden_adamw<Config<11, 8, 16, 2, 2, double, activation::gelu_tanh, 64>>(
            "gpt_small_gelu.json");
    }
}
#endif
