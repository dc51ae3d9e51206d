// tests/test_layers.cpp: each layer of include/tinyformer/layers/ alone, in double.
//
// A layer's backward is checked against central differences of loss = Σ out ⊙ R for a random
// fixed R (so d out = R), for its input and every parameter tensor; then the convention that
// backward adds into the gradients it is given.
#include <tinyformer/layers/activation.hpp>
#include <tinyformer/layers/attention.hpp>
#include <tinyformer/layers/block.hpp>
#include <tinyformer/layers/cross_entropy.hpp>
#include <tinyformer/layers/embedding.hpp>
#include <tinyformer/layers/layernorm.hpp>
#include <tinyformer/layers/linear.hpp>
#include <tinyformer/layers/mlp.hpp>

#include <algorithm>  // std::fill, std::max, std::min
#include <cmath>      // std::fabs, std::log, std::exp, std::isfinite
#include <cstddef>    // std::size_t
#include <cstdint>    // std::int32_t, std::uint64_t
#include <string>     // std::string
#include <vector>     // std::vector

#include <doctest/doctest.h>

#include <tinyformer/config.hpp>
#include <tinyformer/random.hpp>

#include "finite_difference.hpp"

namespace tf = tinyformer;

namespace {

using vec = std::vector<double>;

vec normal(std::size_t n, tf::rng& gen, double std = 1.0) {
    vec x(n);
    fd::fill_normal(x.data(), n, gen, 0.0, std);
    return x;
}

// Σ out ⊙ r
double dot(const double* out, const vec& r) {
    double s = 0;
    for (std::size_t i = 0; i < r.size(); ++i) s += out[i] * r[i];
    return s;
}

// every tensor of a layer's Params: N(0, std), LayerNorm weights (named ln_*) N(1, std)
template <class P>
void randomize(P& p, tf::rng& gen, double std) {
    auto f = [&](const std::string& name, auto& w) {
        const bool norm_weight =
            name.find("ln_") != std::string::npos && name.find("weight") != std::string::npos;
        fd::fill_normal(w.data(), w.size(), gen, norm_weight ? 1.0 : 0.0, std);
    };
    P::visit("", f, p);
}

template <class P>
void zero(P& g) {
    auto f = [](const std::string&, auto& w) { std::fill(w.begin(), w.end(), 0.0); };
    P::visit("", f, g);
}

// Each *_case below holds one layer's parameters p, gradients g, input inp, d inp and R, with
//   loss()      forward at the current p and inp, returning Σ out ⊙ R
//   backward()  the layer's backward from the last forward, into g and dinp

// A fresh gradient: zero g and dinp, forward, one backward.
template <class Case>
void forward_backward(Case& c) {
    zero(c.g);
    std::fill(c.dinp.begin(), c.dinp.end(), 0.0);
    c.loss();
    c.backward();
}

// The input and every parameter tensor against central differences, at every index.
template <class Case>
void check_case(Case& c, const std::string& layer, fd::tolerance tol = {}) {
    forward_backward(c);
    auto loss = [&] { return c.loss(); };
    if (!c.inp.empty()) {
        fd::check(layer + ".inp", c.inp.data(), c.dinp.data(), fd::all(c.inp.size()), loss, tol);
    }
    auto f = [&](const std::string& name, auto& w, const auto& dw) {
        fd::check(name, w.data(), dw.data(), fd::all(w.size()), loss, tol);
    };
    Case::params::visit(layer + ".", f, c.p, c.g);
}

// A second backward from the same forward doubles every parameter gradient, and doubles
// dinp where the layer adds into it (block's dx is d inp on return instead).
template <class Case>
void check_backward_adds(Case& c, const std::string& layer) {
    forward_backward(c);
    std::vector<vec> once;
    auto save = [&](const std::string&, const auto& dw) {
        once.emplace_back(dw.begin(), dw.end());
    };
    Case::params::visit("", save, c.g);
    const vec dinp_once = c.dinp;
    c.backward();
    std::size_t k = 0, wrong = 0, nonzero = 0;
    auto twice = [&](const std::string& name, const auto& dw) {
        // an entry whose true gradient is 0 (the key bias's: softmax ignores a shift of the
        // scores) holds rounding noise, so each is judged against its tensor's largest entry
        double scale = 0;
        for (double x : once[k]) scale = std::max(scale, std::fabs(x));
        for (std::size_t i = 0; i < dw.size(); ++i) {
            const double want = 2 * once[k][i];
            nonzero += once[k][i] != 0;
            if (std::fabs(dw.data()[i] - want) > 1e-12 * scale) {
                if (++wrong <= 3) FAIL_CHECK(layer << " " << name << "[" << i << "] not doubled");
            }
        }
        ++k;
    };
    Case::params::visit("", twice, c.g);
    CHECK(wrong == 0);
    CHECK(nonzero > 0);
    for (std::size_t i = 0; i < c.dinp.size(); ++i) {
        const double want = Case::dinp_adds ? 2 * dinp_once[i] : dinp_once[i];
        CAPTURE(i);
        CHECK(std::fabs(c.dinp[i] - want) <= 1e-12 * std::fabs(want));
    }
}

// linear<5, 7> over N = 3 rows
struct linear_case {
    static constexpr std::size_t In = 5, Out = 7, N = 3;
    static constexpr bool dinp_adds = true;
    using layer = tf::linear<double, In, Out>;
    using params = layer::Params;
    params p, g;
    vec inp, dinp, r, out;

    explicit linear_case(std::uint64_t seed) {
        tf::rng gen(seed);
        randomize(p, gen, 0.5);
        inp = normal(N * In, gen);
        r = normal(N * Out, gen);
        dinp = vec(N * In);
        out = vec(N * Out);
    }
    double loss() {
        layer::forward(p, inp.data(), out.data(), N);
        return dot(out.data(), r);
    }
    void backward() { layer::backward(p, g, inp.data(), r.data(), dinp.data(), N); }
};

// layernorm<6> over N = 4 rows, inputs off-centre
struct layernorm_case {
    static constexpr std::size_t C = 6, N = 4;
    static constexpr bool dinp_adds = true;
    using layer = tf::layernorm<double, C>;
    using params = layer::Params;
    params p, g;
    vec inp, dinp, r, out, mean = vec(N), rstd = vec(N);

    explicit layernorm_case(std::uint64_t seed) {
        tf::rng gen(seed);
        fd::fill_normal(p.weight.data(), C, gen, 1.0, 0.3);
        fd::fill_normal(p.bias.data(), C, gen, 0.0, 0.3);
        inp = normal(N * C, gen, 2.0);
        for (double& x : inp) x += 0.7;
        r = normal(N * C, gen);
        dinp = vec(N * C);
        out = vec(N * C);
    }
    double loss() {
        layer::forward(p, inp.data(), out.data(), mean.data(), rstd.data(), N);
        return dot(out.data(), r);
    }
    void backward() {
        layer::backward(p, g, inp.data(), mean.data(), rstd.data(), r.data(), dinp.data(), N);
    }
};

// mlp<5, 11> over N = 3 rows
template <tf::activation Act>
struct mlp_case {
    static constexpr std::size_t C = 5, F = 11, N = 3;
    static constexpr bool dinp_adds = true;
    using layer = tf::mlp<double, C, F, Act>;
    using params = typename layer::Params;
    params p, g;
    typename layer::Activations a{N};
    vec inp, dinp, r, out, dhidden = vec(N * F);

    explicit mlp_case(std::uint64_t seed) {
        tf::rng gen(seed);
        randomize(p, gen, 0.5);
        inp = normal(N * C, gen);
        r = normal(N * C, gen);
        dinp = vec(N * C);
        out = vec(N * C);
    }
    double loss() {
        layer::forward(p, a, inp.data(), out.data(), N);
        return dot(out.data(), r);
    }
    void backward() {
        layer::backward(p, g, a, inp.data(), r.data(), dinp.data(), dhidden.data(), N);
    }
    // the smallest |pre-activation|: ReLU's kink must be farther than a probe can move it
    double min_abs_hidden() {
        loss();
        double m = 1e300;
        for (std::size_t i = 0; i < N * F; ++i) m = std::min(m, std::fabs(a.fc.data()[i]));
        return m;
    }
};

// attention<C 12, NH 3, BlockSize 5> over B = 2 sequences of t tokens
struct attention_case {
    static constexpr std::size_t C = 12, NH = 3, BlockSize = 5, B = 2;
    static constexpr bool dinp_adds = true;
    using layer = tf::attention<double, C, NH, BlockSize>;
    using params = layer::Params;
    std::size_t t;
    params p, g;
    layer::Activations a{B, false};
    layer::Scratch s{B};
    vec inp, dinp, r, out;

    attention_case(std::uint64_t seed, std::size_t t_) : t(t_) {
        tf::rng gen(seed);
        randomize(p, gen, 0.4);
        inp = normal(B * t * C, gen);
        r = normal(B * t * C, gen);
        dinp = vec(B * t * C);
        out = vec(B * t * C);
    }
    double loss() {
        layer::forward(p, a, s, inp.data(), out.data(), B, t, 0.0, nullptr);
        return dot(out.data(), r);
    }
    void backward() { layer::backward(p, g, a, s, inp.data(), r.data(), dinp.data(), B, t, 0.0); }
};

// block<Cfg> over B = 2 sequences of t tokens; with drop > 0 every forward reseeds the
// generator, so that the dropout masks repeat
template <class Cfg>
struct block_case {
    static constexpr std::size_t C = Cfg::EmbedSize, B = 2;
    static constexpr bool dinp_adds = false;  // dx holds d out on entry, d inp on return
    static constexpr std::uint64_t mask_seed = 99;
    using layer = tf::block<Cfg>;
    using params = typename layer::Params;
    std::size_t t;
    double drop;
    params p, g;
    typename layer::Activations a;
    typename layer::Scratch s{B};
    tf::rng gen{mask_seed};
    vec inp, dinp, r;

    block_case(std::uint64_t seed, std::size_t t_, double drop_ = 0)
        : t(t_), drop(drop_), a(B, drop_ > 0) {
        tf::rng init(seed);
        randomize(p, init, 0.4);
        inp = normal(B * t * C, init);
        r = normal(B * t * C, init);
        dinp = vec(B * t * C);
    }
    double loss() {
        gen = tf::rng(mask_seed);
        layer::forward(p, a, s, inp.data(), B, t, drop, &gen);
        return dot(a.out.data(), r);
    }
    void backward() {
        dinp = r;
        layer::backward(p, g, a, s, inp.data(), dinp.data(), B, t, drop);
    }
    double min_abs_hidden() {
        loss();
        double m = 1e300;
        for (std::size_t i = 0; i < B * t * Cfg::Hidden; ++i) {
            m = std::min(m, std::fabs(a.mlp.fc.data()[i]));
        }
        return m;
    }
};

// embedding<V 7, BlockSize 5, C 4> over B = 2 sequences of t = 4 tokens, some repeated
struct embedding_case {
    static constexpr std::size_t V = 7, BlockSize = 5, C = 4, B = 2, t = 4;
    static constexpr bool dinp_adds = true;
    using layer = tf::embedding<double, V, BlockSize, C>;
    using params = layer::Params;
    params p, g;
    std::vector<std::int32_t> tokens{3, 1, 3, 0, 6, 3, 1, 1};
    vec inp, dinp, r, out = vec(B * t * C);  // the input is the tokens: no inp, no dinp

    explicit embedding_case(std::uint64_t seed) {
        tf::rng gen(seed);
        randomize(p, gen, 0.5);
        r = normal(B * t * C, gen);
    }
    double loss() {
        layer::forward(p, tokens.data(), out.data(), B, t);
        return dot(out.data(), r);
    }
    void backward() { layer::backward(g, tokens.data(), r.data(), B, t); }
};

using BlockGelu = tf::Config<5, 6, 12, 3, 2, double, tf::activation::gelu_tanh, 20>;
using BlockRelu = tf::Config<5, 4, 8, 2, 1, double, tf::activation::relu, 16>;

}  // namespace

TEST_CASE("finite differences: a backward value off by 1e-5 is caught") {
    linear_case c(1);
    forward_backward(c);
    auto loss = [&] { return c.loss(); };
    const std::vector<std::size_t> at = fd::all(c.p.weight.size());
    REQUIRE(fd::compare(c.p.weight.data(), c.g.weight.data(), at, loss).empty());
    // a relative error of 1e-5 in one entry, and a sign error in another
    REQUIRE(std::fabs(c.g.weight.data()[3]) > 1e-2);
    c.g.weight.data()[3] *= 1 + 1e-5;
    c.g.weight.data()[10] = -c.g.weight.data()[10];
    const std::vector<fd::mismatch> bad =
        fd::compare(c.p.weight.data(), c.g.weight.data(), at, loss);
    REQUIRE(bad.size() == 2);
    CHECK(bad[0].index == 3);
    CHECK(bad[1].index == 10);
}

TEST_CASE("linear: backward matches finite differences") {
    linear_case c(2);
    check_case(c, "linear");
}

TEST_CASE("linear: backward adds into dweight, dbias and dinp") {
    linear_case c(3);
    check_backward_adds(c, "linear");
}

TEST_CASE("layernorm: backward matches finite differences") {
    layernorm_case c(4);
    check_case(c, "layernorm");
}

TEST_CASE("layernorm: backward adds into dweight, dbias and dinp") {
    layernorm_case c(5);
    check_backward_adds(c, "layernorm");
}

TEST_CASE("pointwise: gelu_tanh and relu values") {
    const vec x{1.0, -2.0, 0.5, 0.0, -0.0};
    vec y(x.size());
    tf::pointwise<double, tf::activation::gelu_tanh>::forward(x.data(), y.data(), x.size());
    // 0.5·x·(1 + tanh(sqrt(2/π)·(x + 0.044715·x³))), computed independently
    CHECK(y[0] == doctest::Approx(0.8411919906082768).epsilon(1e-15));
    CHECK(y[1] == doctest::Approx(-0.04540230591222494).epsilon(1e-14));
    CHECK(y[2] == doctest::Approx(0.34571400982514394).epsilon(1e-15));
    CHECK(y[3] == 0.0);
    tf::pointwise<double, tf::activation::relu>::forward(x.data(), y.data(), x.size());
    CHECK(y == vec{1.0, 0.0, 0.5, 0.0, 0.0});
}

TEST_CASE("pointwise: gelu_tanh backward matches finite differences") {
    using act = tf::pointwise<double, tf::activation::gelu_tanh>;
    tf::rng gen(6);
    vec inp = normal(23, gen, 2.0), r = normal(23, gen), out(23), dinp(23);
    auto loss = [&] {
        act::forward(inp.data(), out.data(), inp.size());
        return dot(out.data(), r);
    };
    act::backward(inp.data(), r.data(), dinp.data(), inp.size());
    fd::check("gelu_tanh.inp", inp.data(), dinp.data(), fd::all(inp.size()), loss);
}

TEST_CASE("pointwise: relu backward matches finite differences away from 0") {
    using act = tf::pointwise<double, tf::activation::relu>;
    tf::rng gen(7);
    vec inp = normal(23, gen), r = normal(23, gen), out(23), dinp(23);
    // at least 0.1 from the kink, both signs
    for (double& x : inp) x = x < 0 ? x - 0.1 : x + 0.1;
    auto loss = [&] {
        act::forward(inp.data(), out.data(), inp.size());
        return dot(out.data(), r);
    };
    act::backward(inp.data(), r.data(), dinp.data(), inp.size());
    std::size_t zeros = 0;
    for (double d : dinp) zeros += d == 0.0;
    CHECK(zeros > 0);
    CHECK(zeros < dinp.size());
    fd::check("relu.inp", inp.data(), dinp.data(), fd::all(inp.size()), loss);
}

TEST_CASE_TEMPLATE("pointwise: backward overwrites dinp and may work in place", Act,
                   tf::pointwise<double, tf::activation::gelu_tanh>,
                   tf::pointwise<double, tf::activation::relu>) {
    tf::rng gen(8);
    const vec inp = normal(17, gen), r = normal(17, gen);
    vec fresh(17, 0.0), stale(17, 123.0), in_place = r;
    Act::backward(inp.data(), r.data(), fresh.data(), inp.size());
    Act::backward(inp.data(), r.data(), stale.data(), inp.size());
    Act::backward(inp.data(), in_place.data(), in_place.data(), inp.size());
    CHECK(stale == fresh);
    CHECK(in_place == fresh);
}

TEST_CASE_TEMPLATE("mlp: backward matches finite differences", Case,
                   mlp_case<tf::activation::gelu_tanh>, mlp_case<tf::activation::relu>) {
    Case c(9);
    // ReLU: no pre-activation within reach of a probe (h = 1e-6 moves them by ~1e-6)
    REQUIRE(c.min_abs_hidden() > 1e-3);
    check_case(c, "mlp");
}

TEST_CASE("mlp: backward adds into the gradients and dinp") {
    mlp_case<tf::activation::gelu_tanh> c(10);
    check_backward_adds(c, "mlp");
}

TEST_CASE("attention: backward matches finite differences") {
    SUBCASE("t = BlockSize") {
        attention_case c(11, attention_case::BlockSize);
        check_case(c, "attention");
    }
    SUBCASE("t = 4 < BlockSize") {
        attention_case c(12, 4);
        check_case(c, "attention");
    }
    SUBCASE("t = 1") {
        attention_case c(13, 1);
        check_case(c, "attention");
    }
}

TEST_CASE("attention: backward adds into the gradients and dinp") {
    attention_case c(14, 4);
    check_backward_adds(c, "attention");
}

TEST_CASE("block: backward matches finite differences") {
    SUBCASE("gelu_tanh, 3 heads, t = BlockSize") {
        block_case<BlockGelu> c(15, BlockGelu::BlockSize);
        check_case(c, "block");
    }
    SUBCASE("gelu_tanh, 3 heads, t = 4 < BlockSize") {
        block_case<BlockGelu> c(16, 4);
        check_case(c, "block");
    }
    SUBCASE("relu, 2 heads") {
        block_case<BlockRelu> c(17, BlockRelu::BlockSize);
        REQUIRE(c.min_abs_hidden() > 1e-4);
        check_case(c, "block");
    }
}

TEST_CASE("block: backward with dropout matches finite differences when the masks repeat") {
    block_case<BlockGelu> c(18, 5, 0.3);
    const double with_masks = c.loss();
    // the masks repeat: one seed, one output
    const vec out(c.a.out.data(), c.a.out.data() + c.a.out.size());
    CHECK(c.loss() == with_masks);
    CHECK(vec(c.a.out.data(), c.a.out.data() + c.a.out.size()) == out);
    // the masks drop something on every path: residual branches and attention probabilities
    const std::size_t n = c.B * c.t * c.C, natt = c.B * BlockGelu::Heads * c.t * c.t;
    const double keep = 1 / (1 - 0.3);
    std::size_t dropped = 0, kept = 0, att_dropped = 0;
    for (std::size_t i = 0; i < n; ++i) {
        for (double m : {c.a.mask_attn.data()[i], c.a.mask_mlp.data()[i]}) {
            dropped += m == 0.0;
            kept += m == doctest::Approx(keep).epsilon(1e-15);
        }
    }
    for (std::size_t i = 0; i < natt; ++i) att_dropped += c.a.attn.att_mask.data()[i] == 0.0;
    CHECK(dropped > 0);
    CHECK(dropped + kept == 2 * n);
    CHECK(att_dropped > 0);
    // and change the loss
    block_case<BlockGelu> plain(18, 5, 0.0);
    CHECK(std::fabs(plain.loss() - with_masks) > 1e-3);
    check_case(c, "block");
}

TEST_CASE("block: backward adds into the parameter gradients, dx is d inp on return") {
    SUBCASE("without dropout") {
        block_case<BlockGelu> c(19, 5);
        check_backward_adds(c, "block");
    }
    SUBCASE("with dropout") {
        block_case<BlockGelu> c(20, 6, 0.25);
        check_backward_adds(c, "block");
    }
}

TEST_CASE("embedding: backward matches finite differences") {
    embedding_case c(21);
    check_case(c, "embedding");
    // rows of tokens not in the batch, and positions past t, get no gradient
    for (std::size_t row : {2, 4, 5}) {
        for (std::size_t i = 0; i < embedding_case::C; ++i) {
            CHECK(c.g.wte(row, i) == 0.0);
        }
    }
    for (std::size_t i = 0; i < embedding_case::C; ++i) CHECK(c.g.wpe(4, i) == 0.0);
}

TEST_CASE("embedding: backward adds into dwte and dwpe") {
    embedding_case c(22);
    check_backward_adds(c, "embedding");
}

TEST_CASE("cross_entropy: backward matches finite differences") {
    constexpr std::size_t V = 7, N = 4;
    using layer = tf::cross_entropy<double, V>;
    tf::rng gen(23);
    vec logits = normal(N * V, gen, 2.0), probs(N * V), dlogits(N * V);
    const std::vector<std::int32_t> targets{2, 0, 6, 2};
    auto loss = [&] { return layer::forward(logits.data(), targets.data(), probs.data(), N); };
    loss();
    layer::backward(probs.data(), targets.data(), dlogits.data(), N, 1.0);
    fd::check("cross_entropy.logits", logits.data(), dlogits.data(), fd::all(logits.size()), loss);
}

TEST_CASE("cross_entropy: backward scales, overwrites dlogits and may work in place") {
    constexpr std::size_t V = 5, N = 3;
    using layer = tf::cross_entropy<double, V>;
    tf::rng gen(24);
    const vec logits = normal(N * V, gen);
    const std::vector<std::int32_t> targets{4, 1, 1};
    vec probs(N * V), one(N * V), scaled(N * V, 7.0);
    layer::forward(logits.data(), targets.data(), probs.data(), N);
    layer::backward(probs.data(), targets.data(), one.data(), N, 1.0);
    layer::backward(probs.data(), targets.data(), scaled.data(), N, 0.25);
    for (std::size_t i = 0; i < N * V; ++i) {
        CAPTURE(i);
        CHECK(scaled[i] == doctest::Approx(0.25 * one[i]).epsilon(1e-15));
    }
    layer::backward(probs.data(), targets.data(), probs.data(), N, 1.0);
    CHECK(probs == one);
    // each row of dlogits sums to zero
    for (std::size_t r = 0; r < N; ++r) {
        double s = 0;
        for (std::size_t j = 0; j < V; ++j) s += one[r * V + j];
        CHECK(std::fabs(s) < 1e-15);
    }
}

TEST_CASE("cross_entropy: forward sums -log softmax[target], finite for large logits") {
    constexpr std::size_t V = 4, N = 2;
    using layer = tf::cross_entropy<double, V>;
    vec probs(N * V);
    // equal logits: -log(1/V) per row
    const vec flat{3.0, 3.0, 3.0, 3.0, -1.0, -1.0, -1.0, -1.0};
    const std::vector<std::int32_t> targets{0, 3};
    CHECK(layer::forward(flat.data(), targets.data(), probs.data(), N) ==
          doctest::Approx(2 * std::log(4.0)).epsilon(1e-15));
    // against the formula, for moderate logits
    const vec z{0.5, -1.0, 2.0, 0.0, 1.5, 1.0, -0.5, 0.25};
    double want = 0;
    for (std::size_t r = 0; r < N; ++r) {
        double s = 0;
        for (std::size_t j = 0; j < V; ++j) s += std::exp(z[r * V + j]);
        want -= std::log(std::exp(z[r * V + std::size_t(targets[r])]) / s);
    }
    const double got = layer::forward(z.data(), targets.data(), probs.data(), N);
    CHECK(got == doctest::Approx(want).epsilon(1e-14));
    // a shift of 1000 changes nothing (exp(1000) would overflow without the max)
    vec shifted = z;
    for (double& x : shifted) x += 1000;
    const double far = layer::forward(shifted.data(), targets.data(), probs.data(), N);
    CHECK(std::isfinite(far));
    CHECK(far == doctest::Approx(want).epsilon(1e-12));
    // a target with a vanishing probability still has a finite, large loss
    const vec sure{800.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 800.0};
    const std::vector<std::int32_t> missed{1, 0};
    const double wrong = layer::forward(sure.data(), missed.data(), probs.data(), N);
    CHECK(std::isfinite(wrong));
    CHECK(wrong == doctest::Approx(1600.0).epsilon(1e-12));
}
