// tests/test_transformer.cpp: the whole model against PyTorch, finite differences, causality.
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "doctest/doctest.h"
#include "golden.hpp"
#include "tinyformer/transformer.hpp"

using namespace tinyformer;

namespace {

using SingleHeadRelu = Config<7, 5, 12, 1, 1, double, activation::relu, 48>;
using SmallGelu = Config<11, 8, 16, 2, 2, double, activation::gelu_tanh, 64>;

// Runs one golden case through Transformer<Cfg> and compares logits, loss and gradients.
template <class Cfg>
void check_golden(const std::string& file, double rel_loss, double rel_logit, double rel_grad) {
    using Model = Transformer<Cfg>;
    using T = typename Cfg::value_type;
    const nlohmann::json j = golden::load(file);
    const std::size_t B = j["config"]["batch"].get<std::size_t>();
    REQUIRE(j["config"]["vocab"].get<std::size_t>() == Cfg::Vocab);
    REQUIRE(j["config"]["block"].get<std::size_t>() == Cfg::BlockSize);
    REQUIRE(j["config"]["embed"].get<std::size_t>() == Cfg::EmbedSize);
    REQUIRE(j["config"]["hidden"].get<std::size_t>() == Cfg::Hidden);
    auto params = std::make_unique<typename Model::Params>();
    golden::set_params<Model>(*params, j["params"]);
    auto grads = Model::make_grads();
    typename Model::Activations acts(B);
    const auto tokens = golden::ids(j["tokens"]);
    const auto targets = golden::ids(j["targets"]);

    const T loss = Model::forward(*params, acts, tokens.data(), targets.data(), B, Cfg::BlockSize);
    Model::backward(*params, *grads, acts);

    CAPTURE(file);
    CHECK(golden::close(double(loss), j["loss"].get<double>(), rel_loss, 0));
    const std::vector<double> logits = golden::values(j["logits"]);
    REQUIRE(logits.size() == B * Cfg::BlockSize * Cfg::Vocab);
    double logit_scale = 0;
    for (double z : logits) logit_scale = std::max(logit_scale, std::fabs(z));
    std::size_t bad = 0;
    for (std::size_t i = 0; i < logits.size(); ++i) {
        const double z = double(acts.logits()[i]);
        if (!golden::close(z, logits[i], rel_logit, rel_logit * 1e-3 * logit_scale)) {
            if (++bad <= 3) FAIL_CHECK("logit " << i << ": " << z << " vs " << logits[i]);
        }
    }
    CHECK(bad == 0);
    std::size_t tensors = 0;
    Model::visit(
        [&](const std::string& name, const auto& g) {
            const std::vector<double> want = golden::values(j["grads"][name]);
            REQUIRE_MESSAGE(want.size() == g.size(), name);
            // near-zero entries are judged against the tensor's scale
            double scale = 0;
            for (double w : want) scale = std::max(scale, std::fabs(w));
            std::size_t i = 0, wrong = 0;
            for (const auto& x : g) {
                if (!golden::close(double(x), want[i], rel_grad, rel_grad * 1e-3 * scale)) {
                    if (++wrong <= 3) {
                        FAIL_CHECK(name << "[" << i << "]: " << double(x) << " vs " << want[i]);
                    }
                }
                ++i;
            }
            CHECK_MESSAGE(wrong == 0, name);
            ++tensors;
        },
        *grads);
    CHECK(tensors == j["grads"].size());
}

}  // namespace

TEST_CASE("transformer: logits, loss and gradients match PyTorch in double") {
    check_golden<SingleHeadRelu>("gpt_single_head_relu.json", 1e-9, 1e-9, 1e-9);
    check_golden<SmallGelu>("gpt_small_gelu.json", 1e-9, 1e-9, 1e-9);
}

TEST_CASE("transformer: the float instantiation matches PyTorch to float tolerance") {
    check_golden<SingleHeadRelu::rebind<float>>("gpt_single_head_relu.json", 1e-4, 1e-4, 1e-3);
    check_golden<SmallGelu::rebind<float>>("gpt_small_gelu.json", 1e-4, 1e-4, 1e-3);
}
