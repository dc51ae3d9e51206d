// tests/test_config.cpp: the sizes in tinyformer/config.hpp and the counts derived from them.
#include <tinyformer/config.hpp>

#include <cstddef>     // std::size_t
#include <fstream>     // std::ifstream
#include <string>      // std::string
#include <type_traits>  // std::is_same

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

namespace tf = tinyformer;

namespace {

// The two golden cases of MODEL.md, and nanoGPT's small character model.
using SingleHeadRelu = tf::Config<7, 5, 12, 1, 1, double, tf::activation::relu>;  // F = 48
using SmallGelu = tf::Config<11, 8, 16, 2, 2, double>;                            // F = 64
using NanoSmall = tf::Config<65, 64, 128, 4, 4>;                                  // F = 512

// Sum of the sizes of the parameter tensors stored in a golden file.
std::size_t golden_parameter_count(const std::string& name) {
    const std::string path = std::string(TINYFORMER_TEST_DATA) + "/" + name + ".json";
    std::ifstream in(path);
    REQUIRE_MESSAGE(in.good(), "cannot open " << path);
    const auto golden = nlohmann::json::parse(in);
    std::size_t total = 0;
    for (const auto& tensor : golden.at("params")) {
        std::size_t size = 1;
        for (const auto& extent : tensor.at("shape")) size *= extent.get<std::size_t>();
        total += size;
    }
    return total;
}

}  // namespace

TEST_CASE("config: sizes and derived sizes") {
    CHECK(SmallGelu::Vocab == 11);
    CHECK(SmallGelu::BlockSize == 8);
    CHECK(SmallGelu::EmbedSize == 16);
    CHECK(SmallGelu::Heads == 2);
    CHECK(SmallGelu::Layers == 2);
    CHECK(SmallGelu::Hidden == 64);
    CHECK(SmallGelu::HeadSize == 8);
    CHECK(SmallGelu::Activation == tf::activation::gelu_tanh);
    CHECK(SingleHeadRelu::Hidden == 48);
    CHECK(SingleHeadRelu::HeadSize == 12);
    CHECK(SingleHeadRelu::Activation == tf::activation::relu);
    CHECK(tf::Config<10, 4, 6, 3, 1, float, tf::activation::relu, 10>::Hidden == 10);
}

TEST_CASE("config: defaults are GPT-2's layout in float") {
    using Cfg = tf::Config<5, 4, 8>;
    CHECK(Cfg::Heads == 4);
    CHECK(Cfg::Layers == 4);
    CHECK(Cfg::Hidden == 32);
    CHECK(Cfg::HeadSize == 2);
    CHECK(Cfg::Activation == tf::activation::gelu_tanh);
    CHECK(std::is_same<Cfg::value_type, float>::value);
}

TEST_CASE("config: rebind changes the scalar type only") {
    using F = tf::Config<11, 8, 16, 2, 2, float, tf::activation::relu, 24>;
    using D = F::rebind<double>;
    CHECK(std::is_same<D, tf::Config<11, 8, 16, 2, 2, double, tf::activation::relu, 24>>::value);
    CHECK(std::is_same<D::value_type, double>::value);
    CHECK(std::is_same<D::rebind<float>, F>::value);
}

TEST_CASE("config: activation names are the golden files' names") {
    CHECK(std::string(tf::activation_name(tf::activation::gelu_tanh)) == "gelu_tanh");
    CHECK(std::string(tf::activation_name(tf::activation::relu)) == "relu");
}

TEST_CASE("config: parameter_count by MODEL.md's table") {
    // V7 T5 C12 L1 F48: wte 7·12 = 84, wpe 5·12 = 60, ln_f 24, and one block of
    // ln_1 24 + c_attn 432+36 + c_proj 144+12 + ln_2 24 + c_fc 576+48 + c_proj 576+12 = 1884.
    CHECK(tf::parameter_count<SingleHeadRelu>() == 2052);
    // V11 T8 C16 L2 F64: wte 176, wpe 128, ln_f 32, and two blocks of
    // 32 + 768+48 + 256+16 + 32 + 1024+64 + 1024+16 = 3280.
    CHECK(tf::parameter_count<SmallGelu>() == 6896);
    // V65 T64 C128 L4 F512: wte 8320, wpe 8192, ln_f 256, and four blocks of
    // 256 + 49152+384 + 16384+128 + 256 + 65536+512 + 65536+128 = 198272. (nanoGPT prints
    // 0.80M: it leaves out wpe, 801664.)
    CHECK(tf::parameter_count<NanoSmall>() == 809856);
    static_assert(tf::parameter_count<SmallGelu>() == 6896, "parameter_count is constexpr");
    // The scalar type does not change the count.
    CHECK(tf::parameter_count<NanoSmall::rebind<double>>() == 809856);
}

TEST_CASE("config: parameter_count matches the golden files") {
    CHECK(tf::parameter_count<SingleHeadRelu>() ==
          golden_parameter_count("gpt_single_head_relu"));
    CHECK(tf::parameter_count<SmallGelu>() == golden_parameter_count("gpt_small_gelu"));
}

TEST_CASE("config: train_flops_per_token counts the matrix products three times") {
    // forward = 2·(L·(3C² + C² + 2CF) + VC) + L·4·T·C; training is three forwards.
    // V7 T5 C12 L1 F48: 2·(1728 + 84) + 240 = 3864.
    CHECK(tf::forward_flops_per_token<SingleHeadRelu>() == 3864);
    CHECK(tf::train_flops_per_token<SingleHeadRelu>() == 11592);
    // V11 T8 C16 L2 F64: 2·(2·3072 + 176) + 1024 = 13664.
    CHECK(tf::forward_flops_per_token<SmallGelu>() == 13664);
    CHECK(tf::train_flops_per_token<SmallGelu>() == 40992);
    // V65 T64 C128 L4 F512: 2·(4·196608 + 8320) + 131072 = 1720576.
    CHECK(tf::forward_flops_per_token<NanoSmall>() == 1720576);
    CHECK(tf::train_flops_per_token<NanoSmall>() == 5161728);
}
