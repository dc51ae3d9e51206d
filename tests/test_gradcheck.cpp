// tests/test_gradcheck.cpp: the whole Transformer in double against central differences, and
// the model-level properties a correct backward and forward imply: loss_scale, causality,
// shorter sequences, overfitting one batch, seeding, GPT-2 initialisation, a large Config on
// the heap, and the exact errors of bad calls.
#include <tinyformer/transformer.hpp>

#include <cmath>    // std::fabs, std::isfinite, std::log, std::sqrt, std::exp
#include <cstddef>  // std::size_t
#include <cstdint>  // std::int32_t, std::uint64_t
#include <memory>   // std::unique_ptr
#include <string>   // std::string
#include <vector>   // std::vector

#include <doctest/doctest.h>

#include <tinyformer/config.hpp>
#include <tinyformer/error.hpp>
#include <tinyformer/random.hpp>

#include "finite_difference.hpp"

namespace tf = tinyformer;

namespace {

using ids = std::vector<std::int32_t>;

// several heads and odd sizes; one ReLU; four heads over three layers
using OddGelu = tf::Config<11, 7, 15, 3, 2, double, tf::activation::gelu_tanh, 37>;
using SmallRelu = tf::Config<6, 5, 8, 2, 1, double, tf::activation::relu, 24>;
using Deep = tf::Config<13, 6, 12, 4, 3, double>;

ids random_ids(std::size_t n, std::size_t vocab, tf::rng& gen) {
    ids x(n);
    for (auto& id : x) id = std::int32_t(gen.below(vocab));
    return x;
}

bool ends_with(const std::string& s, const std::string& tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// Parameters far from GPT-2's tiny init, so that every path carries a sizeable gradient:
// weights N(0, 0.3), biases N(0, 0.1), LayerNorm weights N(1, 0.2).
template <class Model>
std::unique_ptr<typename Model::Params> random_params(std::uint64_t seed) {
    auto p = std::make_unique<typename Model::Params>();
    tf::rng gen(seed);
    Model::visit(
        [&](const std::string& name, auto& w) {
            const bool norm = name.find("ln_") != std::string::npos;
            const bool bias = ends_with(name, "bias");
            const double mean = norm && !bias ? 1.0 : 0.0;
            const double std = bias ? 0.1 : norm ? 0.2 : 0.3;
            fd::fill_normal(w.data(), w.size(), gen, mean, std);
        },
        *p);
    return p;
}

// Every parameter tensor of Transformer<Cfg> at up to 20 random indices plus its first and
// last, over B random sequences of t tokens; with dropout, each forward reseeds the masks.
template <class Cfg>
void check_model(std::size_t B, std::size_t t, std::uint64_t seed, double dropout = 0) {
    using Model = tf::Transformer<Cfg>;
    auto p = random_params<Model>(seed);
    auto g = Model::make_grads();
    typename Model::Activations a(B, dropout);
    tf::rng gen(seed + 1);
    const ids tokens = random_ids(B * t, Cfg::Vocab, gen);
    const ids targets = random_ids(B * t, Cfg::Vocab, gen);
    auto loss = [&] {
        a.seed_dropout(seed + 2);
        return double(Model::forward(*p, a, tokens.data(), targets.data(), B, t));
    };
    const double l0 = loss();
    REQUIRE(std::isfinite(l0));
    Model::backward(*p, *g, a);
    // the mean cross-entropy's rounding noise over 2h stays under 1e-9 (see fd::tolerance)
    const fd::tolerance tol{1e-6, 1e-8, 1e-6};
    std::size_t tensors = 0;
    Model::visit(
        [&](const std::string& name, auto& w, const auto& dw) {
            fd::check(name, w.data(), dw.data(), fd::sample(w.size(), 20, gen), loss, tol);
            ++tensors;
        },
        *p, *g);
    CHECK(tensors == 4 + 12 * Cfg::Layers);
    // the probes restored every parameter
    CHECK(loss() == l0);
}

// Copies every gradient of a model into one vector, in visit's order.
template <class Model>
std::vector<double> flatten(const typename Model::Grads& g) {
    std::vector<double> out;
    Model::visit(
        [&](const std::string&, const auto& w) { out.insert(out.end(), w.begin(), w.end()); }, g);
    return out;
}

}  // namespace

TEST_CASE("transformer: backward matches finite differences for every parameter") {
    SUBCASE("3 heads, odd sizes, gelu_tanh, t = BlockSize") {
        check_model<OddGelu>(2, 7, 1);
    }
    SUBCASE("3 heads, odd sizes, gelu_tanh, t = 4 < BlockSize") {
        check_model<OddGelu>(2, 4, 2);
    }
    SUBCASE("2 heads, relu, B = 3") {
        check_model<SmallRelu>(3, 5, 3);
    }
    SUBCASE("4 heads, 3 layers") {
        check_model<Deep>(1, 6, 4);
    }
}

TEST_CASE("transformer: backward with dropout matches finite differences when the masks repeat") {
    check_model<OddGelu>(2, 6, 5, 0.2);
}

TEST_CASE("transformer: dropout applies only while training") {
    using Model = tf::Transformer<OddGelu>;
    auto p = random_params<Model>(6);
    tf::rng gen(7);
    const ids tokens = random_ids(2 * 7, OddGelu::Vocab, gen);
    typename Model::Activations plain(2), dropped(2, 0.3);
    Model::forward(*p, plain, tokens.data(), nullptr, 2, 7);
    const std::vector<double> want(plain.logits(), plain.logits() + 2 * 7 * OddGelu::Vocab);
    Model::forward(*p, dropped, tokens.data(), nullptr, 2, 7);
    CHECK(std::vector<double>(dropped.logits(), dropped.logits() + want.size()) != want);
    dropped.training = false;
    Model::forward(*p, dropped, tokens.data(), nullptr, 2, 7);
    CHECK(std::vector<double>(dropped.logits(), dropped.logits() + want.size()) == want);
}

TEST_CASE("transformer: the loss is the mean cross-entropy of the logits") {
    using Model = tf::Transformer<SmallRelu>;
    constexpr std::size_t B = 3, t = 4, V = SmallRelu::Vocab;
    auto p = random_params<Model>(8);
    tf::rng gen(9);
    const ids tokens = random_ids(B * t, V, gen), targets = random_ids(B * t, V, gen);
    typename Model::Activations a(B);
    const double loss = Model::forward(*p, a, tokens.data(), targets.data(), B, t);
    double want = 0;
    for (std::size_t r = 0; r < B * t; ++r) {
        const double* z = a.logits() + r * V;
        double s = 0;
        for (std::size_t j = 0; j < V; ++j) s += std::exp(z[j]);
        want -= std::log(std::exp(z[std::size_t(targets[r])]) / s);
    }
    CHECK(loss == doctest::Approx(want / double(B * t)).epsilon(1e-13));
    // without targets: 0
    CHECK(Model::forward(*p, a, tokens.data(), nullptr, B, t) == 0.0);
}

TEST_CASE("transformer: loss_scale scales the gradients") {
    using Model = tf::Transformer<OddGelu>;
    auto p = random_params<Model>(10);
    tf::rng gen(11);
    const ids tokens = random_ids(2 * 7, OddGelu::Vocab, gen);
    const ids targets = random_ids(2 * 7, OddGelu::Vocab, gen);
    typename Model::Activations a(2);
    auto g = Model::make_grads();
    Model::forward(*p, a, tokens.data(), targets.data(), 2, 7);
    Model::backward(*p, *g, a);
    const std::vector<double> one = flatten<Model>(*g);
    double scale = 0;
    for (double x : one) scale = std::max(scale, std::fabs(x));
    REQUIRE(scale > 0);
    Model::zero(*g);
    CHECK(flatten<Model>(*g) == std::vector<double>(one.size(), 0.0));
    Model::forward(*p, a, tokens.data(), targets.data(), 2, 7);
    Model::backward(*p, *g, a, 0.5);
    const std::vector<double> half = flatten<Model>(*g);
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < one.size(); ++i) {
        wrong += std::fabs(half[i] - 0.5 * one[i]) > 1e-12 * scale;
    }
    CHECK(wrong == 0);
}

TEST_CASE("transformer: backward adds into the gradients") {
    using Model = tf::Transformer<OddGelu>;
    auto p = random_params<Model>(17);
    tf::rng gen(18);
    const ids tokens = random_ids(2 * 7, OddGelu::Vocab, gen);
    const ids targets = random_ids(2 * 7, OddGelu::Vocab, gen);
    typename Model::Activations a(2);
    auto g = Model::make_grads();
    Model::forward(*p, a, tokens.data(), targets.data(), 2, 7);
    Model::backward(*p, *g, a);
    const std::vector<double> one = flatten<Model>(*g);
    double scale = 0;
    for (double x : one) scale = std::max(scale, std::fabs(x));
    // one more forward and backward, with loss_scale 2.5, on top: 3.5 times the first
    Model::forward(*p, a, tokens.data(), targets.data(), 2, 7);
    Model::backward(*p, *g, a, 2.5);
    const std::vector<double> sum = flatten<Model>(*g);
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < one.size(); ++i) {
        wrong += std::fabs(sum[i] - 3.5 * one[i]) > 1e-12 * scale;
    }
    CHECK(wrong == 0);
}

TEST_CASE("transformer: a second backward from one forward adds the same gradients again") {
    using Model = tf::Transformer<OddGelu>;
    auto p = random_params<Model>(17);
    tf::rng gen(18);
    const ids tokens = random_ids(2 * 7, OddGelu::Vocab, gen);
    const ids targets = random_ids(2 * 7, OddGelu::Vocab, gen);
    typename Model::Activations a(2);
    auto g = Model::make_grads();
    Model::forward(*p, a, tokens.data(), targets.data(), 2, 7);
    Model::backward(*p, *g, a);
    const std::vector<double> one = flatten<Model>(*g);
    double scale = 0;
    for (double x : one) scale = std::max(scale, std::fabs(x));
    // backward leaves what the forward pass kept intact, so it may run again
    Model::backward(*p, *g, a);
    const std::vector<double> again = flatten<Model>(*g);
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < one.size(); ++i) {
        wrong += std::fabs(again[i] - 2 * one[i]) > 1e-12 * scale;
    }
    CHECK_MESSAGE(wrong == 0, "a second backward after one forward: "
                                  << wrong << " of " << one.size() << " gradients wrong");
}

TEST_CASE("transformer: changing the token at t changes no logit before t, some at t") {
    using Model = tf::Transformer<OddGelu>;
    constexpr std::size_t B = 2, T = OddGelu::BlockSize, V = OddGelu::Vocab;
    auto p = random_params<Model>(12);
    tf::rng gen(13);
    const ids tokens = random_ids(B * T, V, gen);
    typename Model::Activations a(B);
    Model::forward(*p, a, tokens.data(), nullptr, B, T);
    const std::vector<double> before(a.logits(), a.logits() + B * T * V);
    for (std::size_t pos : {std::size_t(0), std::size_t(3), T - 1}) {
        CAPTURE(pos);
        ids changed = tokens;
        changed[T + pos] = std::int32_t((std::size_t(changed[T + pos]) + 1) % V);  // sequence 1
        Model::forward(*p, a, changed.data(), nullptr, B, T);
        std::size_t earlier_differ = 0, at_differ = 0;
        for (std::size_t b = 0; b < B; ++b) {
            for (std::size_t i = 0; i < T; ++i) {
                for (std::size_t j = 0; j < V; ++j) {
                    const std::size_t k = (b * T + i) * V + j;
                    const bool differs = a.logits()[k] != before[k];
                    if (b == 0 || i < pos) earlier_differ += differs;  // exactly equal
                    if (b == 1 && i == pos) at_differ += differs;
                }
            }
        }
        CHECK(earlier_differ == 0);
        CHECK(at_differ > 0);
    }
}

TEST_CASE("transformer: logits of a shorter forward are the first t rows of a full one") {
    using Model = tf::Transformer<Deep>;
    constexpr std::size_t B = 2, T = Deep::BlockSize, V = Deep::Vocab;
    auto p = random_params<Model>(14);
    tf::rng gen(15);
    const ids tokens = random_ids(B * T, V, gen);
    typename Model::Activations a(B);
    Model::forward(*p, a, tokens.data(), nullptr, B, T);
    const std::vector<double> full(a.logits(), a.logits() + B * T * V);
    for (std::size_t t = 1; t < T; ++t) {
        CAPTURE(t);
        ids head;
        for (std::size_t b = 0; b < B; ++b) {
            head.insert(head.end(), tokens.begin() + long(b * T), tokens.begin() + long(b * T + t));
        }
        Model::forward(*p, a, head.data(), nullptr, B, t);
        double worst = 0;
        for (std::size_t b = 0; b < B; ++b) {
            for (std::size_t i = 0; i < t * V; ++i) {
                const double want = full[b * T * V + i];
                const double diff = std::fabs(a.logits()[b * t * V + i] - want);
                worst = std::max(worst, diff / std::max(1.0, std::fabs(want)));
            }
        }
        CHECK(worst <= 1e-12);
    }
}

TEST_CASE("transformer: plain gradient descent overfits one batch") {
    using Cfg = tf::Config<8, 8, 16, 2, 1, float>;
    using Model = tf::Transformer<Cfg>;
    constexpr std::size_t B = 2, T = Cfg::BlockSize;
    auto p = Model::make_params(3);
    auto g = Model::make_grads();
    typename Model::Activations a(B);
    tf::rng gen(4);
    const ids tokens = random_ids(B * T, Cfg::Vocab, gen);
    const ids targets = random_ids(B * T, Cfg::Vocab, gen);
    const float lr = 0.5f;
    float first = 0, loss = 0;
    int step = 0;
    for (; step < 300; ++step) {
        Model::zero(*g);
        loss = Model::forward(*p, a, tokens.data(), targets.data(), B, T);
        if (step == 0) first = loss;
        if (loss < 0.05f) break;
        Model::backward(*p, *g, a);
        Model::visit(
            [&](const std::string&, auto& w, const auto& dw) {
                for (std::size_t i = 0; i < w.size(); ++i) w.data()[i] -= lr * dw.data()[i];
            },
            *p, *g);
    }
    CAPTURE(step);
    CHECK(std::fabs(first - std::log(8.0)) < 0.1);  // nearly uniform at init
    CHECK(loss < 0.05f);
}

TEST_CASE("transformer: one seed gives one model, two seeds two") {
    using Model = tf::Transformer<OddGelu>;
    auto a = Model::make_params(42), b = Model::make_params(42), c = Model::make_params(43);
    std::size_t tensors = 0, differ = 0, random = 0;
    Model::visit(
        [&](const std::string& name, const auto& x, const auto& y, const auto& z) {
            CAPTURE(name);
            CHECK(x == y);
            // weights are drawn; biases and LayerNorm are constants
            if (ends_with(name, "weight") && name.find("ln_") == std::string::npos) {
                ++random;
                differ += x != z;
            } else {
                CHECK(x == z);
            }
            ++tensors;
        },
        *a, *b, *c);
    CHECK(tensors == 4 + 12 * OddGelu::Layers);
    CHECK(random == 2 + 4 * OddGelu::Layers);
    CHECK(differ == random);
}

TEST_CASE("transformer: visit names every parameter in MODEL.md's order and shapes") {
    using Cfg = tf::Config<11, 7, 15, 3, 1, double, tf::activation::gelu_tanh, 37>;
    using Model = tf::Transformer<Cfg>;
    auto p = Model::make_params(1);
    std::vector<std::string> names;
    std::vector<std::vector<std::size_t>> shapes;
    Model::visit(
        [&](const std::string& name, const auto& w) {
            names.push_back(name);
            shapes.emplace_back(w.shape().begin(), w.shape().end());
        },
        *p);
    using S = std::vector<std::size_t>;
    const std::vector<std::string> want_names{"wte.weight",
                                              "wpe.weight",
                                              "h.0.ln_1.weight",
                                              "h.0.ln_1.bias",
                                              "h.0.attn.c_attn.weight",
                                              "h.0.attn.c_attn.bias",
                                              "h.0.attn.c_proj.weight",
                                              "h.0.attn.c_proj.bias",
                                              "h.0.ln_2.weight",
                                              "h.0.ln_2.bias",
                                              "h.0.mlp.c_fc.weight",
                                              "h.0.mlp.c_fc.bias",
                                              "h.0.mlp.c_proj.weight",
                                              "h.0.mlp.c_proj.bias",
                                              "ln_f.weight",
                                              "ln_f.bias"};
    const std::vector<S> want_shapes{{11, 15}, {7, 15}, {15}, {15}, {45, 15}, {45},
                                     {15, 15}, {15},    {15}, {15}, {37, 15}, {37},
                                     {15, 37}, {15},    {15}, {15}};
    CHECK(names == want_names);
    CHECK(shapes == want_shapes);
}

TEST_CASE("transformer: GPT-2 initialisation statistics") {
    using Cfg = tf::Config<65, 64, 128, 4, 4>;
    using Model = tf::Transformer<Cfg>;
    auto p = Model::make_params(1337);
    const double proj_std = 0.02 / std::sqrt(2.0 * Cfg::Layers);
    std::size_t weights = 0, projections = 0, constants = 0;
    Model::visit(
        [&](const std::string& name, const auto& w) {
            CAPTURE(name);
            const bool norm = name.find("ln_") != std::string::npos;
            if (ends_with(name, "bias") || norm) {
                // biases 0, LayerNorm weights 1
                const double want = ends_with(name, "bias") ? 0.0 : 1.0;
                std::size_t off = 0;
                for (float x : w) off += x != float(want);
                CHECK(off == 0);
                ++constants;
                return;
            }
            // the sample's mean and standard deviation: 8192 and more draws, so the
            // deviation's standard error is under 0.8% and its mean's under 1.2% of sigma
            const bool proj = ends_with(name, "c_proj.weight");
            const double sigma = proj ? proj_std : 0.02;
            double sum = 0, sq = 0;
            for (float x : w) sum += x;
            const double n = double(w.size()), mean = sum / n;
            for (float x : w) sq += (x - mean) * (x - mean);
            const double std = std::sqrt(sq / n);
            CHECK(n >= 8192);
            CHECK(std::fabs(mean) < 5 * sigma / std::sqrt(n));
            CHECK(std::fabs(std - sigma) < 0.05 * sigma);
            ++(proj ? projections : weights);
        },
        *p);
    CHECK(weights == 2 + 2 * Cfg::Layers);    // wte, wpe, c_attn, c_fc
    CHECK(projections == 2 * Cfg::Layers);    // attn.c_proj, mlp.c_proj
    CHECK(constants == 2 + 8 * Cfg::Layers);  // ln_f; ln_1, ln_2 and four biases
}

TEST_CASE("transformer: EmbedSize 384, BlockSize 256 is made on the heap and runs") {
    using Cfg = tf::Config<65, 256, 384, 6, 6>;
    using Model = tf::Transformer<Cfg>;
    auto p = Model::make_params(1337);
    typename Model::Activations a(1);
    tf::rng gen(16);
    const ids tokens = random_ids(Cfg::BlockSize, Cfg::Vocab, gen);
    const ids targets = random_ids(Cfg::BlockSize, Cfg::Vocab, gen);
    const float loss = Model::forward(*p, a, tokens.data(), targets.data(), 1, Cfg::BlockSize);
    REQUIRE(std::isfinite(loss));
    // GPT-2's init gives nearly uniform predictions: about ln 65 = 4.17
    CHECK(std::fabs(loss - std::log(65.0)) < 0.2);
}

TEST_CASE("transformer: forward rejects bad ids, batches and lengths with exact messages") {
    using Cfg = tf::Config<7, 5, 12, 3, 1, double>;
    using Model = tf::Transformer<Cfg>;
    auto p = Model::make_params(1);
    typename Model::Activations a(2);
    ids tokens{1, 2, 3, 4, 5, 6, 0, 1, 2, 3}, targets = tokens;
    const std::int32_t* x = tokens.data();
    const std::int32_t* y = targets.data();
    SUBCASE("token ids") {
        tokens[3] = 7;
        CHECK_THROWS_WITH_AS(Model::forward(*p, a, x, y, 2, 5),
                             "Transformer::forward: token 7 at index 3 is outside 0..6 (Vocab)",
                             tf::usage_error);
        tokens[3] = 0;
        tokens[9] = -1;
        CHECK_THROWS_WITH_AS(Model::forward(*p, a, x, nullptr, 2, 5),
                             "Transformer::forward: token -1 at index 9 is outside 0..6 (Vocab)",
                             tf::usage_error);
    }
    SUBCASE("target ids") {
        targets[0] = 100;
        CHECK_THROWS_WITH_AS(Model::forward(*p, a, x, y, 2, 5),
                             "Transformer::forward: target 100 at index 0 is outside 0..6 (Vocab)",
                             tf::usage_error);
        targets[0] = -3;
        CHECK_THROWS_WITH_AS(Model::forward(*p, a, x, y, 1, 5),
                             "Transformer::forward: target -3 at index 0 is outside 0..6 (Vocab)",
                             tf::usage_error);
    }
    SUBCASE("batch") {
        CHECK_THROWS_WITH_AS(
            Model::forward(*p, a, x, y, 0, 5),
            "Transformer::forward: batch 0 is outside 1..2 (the Activations' max_batch)",
            tf::usage_error);
        CHECK_THROWS_WITH_AS(
            Model::forward(*p, a, x, y, 3, 3),
            "Transformer::forward: batch 3 is outside 1..2 (the Activations' max_batch)",
            tf::usage_error);
    }
    SUBCASE("length") {
        CHECK_THROWS_WITH_AS(Model::forward(*p, a, x, y, 1, 0),
                             "Transformer::forward: length 0 is outside 1..5 (BlockSize)",
                             tf::usage_error);
        CHECK_THROWS_WITH_AS(Model::forward(*p, a, x, y, 1, 6),
                             "Transformer::forward: length 6 is outside 1..5 (BlockSize)",
                             tf::usage_error);
    }
    SUBCASE("the bounds themselves are fine") {
        CHECK_NOTHROW(Model::forward(*p, a, x, y, 2, 5));
        CHECK_NOTHROW(Model::forward(*p, a, x, y, 1, 1));
    }
}

TEST_CASE("transformer: backward without targets throws") {
    using Cfg = tf::Config<7, 5, 12, 3, 1, double>;
    using Model = tf::Transformer<Cfg>;
    auto p = Model::make_params(1);
    auto g = Model::make_grads();
    typename Model::Activations a(1);
    const ids tokens{1, 2, 3, 4, 5};
    const char* message = "Transformer::backward: the last forward pass had no targets";
    // before any forward pass
    CHECK_THROWS_WITH_AS(Model::backward(*p, *g, a), message, tf::usage_error);
    // after a forward pass without targets, even when an earlier one had them
    Model::forward(*p, a, tokens.data(), tokens.data(), 1, 5);
    CHECK_NOTHROW(Model::backward(*p, *g, a));
    Model::forward(*p, a, tokens.data(), nullptr, 1, 5);
    CHECK_THROWS_WITH_AS(Model::backward(*p, *g, a), message, tf::usage_error);
}

TEST_CASE("transformer: Activations rejects max_batch 0 and dropout outside [0, 1)") {
    using Model = tf::Transformer<tf::Config<7, 5, 12, 3, 1, double>>;
    using Acts = typename Model::Activations;
    CHECK_THROWS_WITH_AS(Acts(0), "Transformer::Activations: max_batch is 0", tf::usage_error);
    CHECK_THROWS_WITH_AS(Acts(1, 1.0),
                         "Transformer::Activations: dropout must be in [0, 1), got 1.000000",
                         tf::usage_error);
    CHECK_THROWS_WITH_AS(Acts(1, -0.5),
                         "Transformer::Activations: dropout must be in [0, 1), got -0.500000",
                         tf::usage_error);
    CHECK_NOTHROW(Acts(1, 0.0));
    CHECK_NOTHROW(Acts(1, 0.99));
}
