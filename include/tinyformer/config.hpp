// tinyformer/config.hpp: the sizes of a model, fixed at compile time.
#pragma once

#include <cstddef>      // std::size_t
#include <type_traits>  // std::is_floating_point

namespace tinyformer {

// The MLP's non-linearity: the tanh approximation of GELU (GPT-2), or ReLU.
enum class activation { gelu_tanh, relu };

inline constexpr const char* activation_name(activation a) {
    return a == activation::gelu_tanh ? "gelu_tanh" : "relu";
}

// Config: every size of a model as a compile-time constant.
//
//   using Small = tinyformer::Config<65, 64, 128, 4, 4>;   // V, T, C, NH, L
//
// One layer with one head is the model tinyformer grew from; the defaults give the GPT-2
// layout (4 heads, 4 layers, MLP width 4·C, tanh-GELU, float).
template <std::size_t VocabN, std::size_t BlockSizeN, std::size_t EmbedSizeN,
          std::size_t HeadsN = 4, std::size_t LayersN = 4, class Scalar = float,
          activation Act = activation::gelu_tanh, std::size_t HiddenN = 4 * EmbedSizeN>
struct Config {
    static_assert(VocabN > 0, "tinyformer::Config: Vocab must be at least 1");
    static_assert(BlockSizeN > 0, "tinyformer::Config: BlockSize must be at least 1");
    static_assert(EmbedSizeN > 0, "tinyformer::Config: EmbedSize must be at least 1");
    static_assert(HeadsN > 0, "tinyformer::Config: Heads must be at least 1");
    static_assert(LayersN > 0, "tinyformer::Config: Layers must be at least 1");
    static_assert(HiddenN > 0, "tinyformer::Config: the MLP width must be at least 1");
    static_assert(EmbedSizeN % HeadsN == 0,
                  "tinyformer::Config: EmbedSize must be divisible by Heads");
    static_assert(std::is_floating_point<Scalar>::value,
                  "tinyformer::Config: the scalar type must be float or double");

    using value_type = Scalar;
    static constexpr std::size_t Vocab = VocabN;                  // V: distinct tokens
    static constexpr std::size_t BlockSize = BlockSizeN;          // T: context length
    static constexpr std::size_t EmbedSize = EmbedSizeN;          // C: residual stream width
    static constexpr std::size_t Heads = HeadsN;                  // NH: attention heads
    static constexpr std::size_t Layers = LayersN;                // L: transformer blocks
    static constexpr std::size_t Hidden = HiddenN;                // F: MLP width
    static constexpr std::size_t HeadSize = EmbedSizeN / HeadsN;  // hs = C / NH
    static constexpr activation Activation = Act;

    // The same sizes with another scalar type (double for gradient checks).
    template <class U>
    using rebind = Config<VocabN, BlockSizeN, EmbedSizeN, HeadsN, LayersN, U, Act, HiddenN>;
};

// Number of trainable numbers in a model of this Config (the output head is tied to wte).
template <class Cfg>
constexpr std::size_t parameter_count() {
    constexpr std::size_t V = Cfg::Vocab, T = Cfg::BlockSize, C = Cfg::EmbedSize;
    constexpr std::size_t F = Cfg::Hidden, L = Cfg::Layers;
    constexpr std::size_t per_block = 2 * C                // ln_1
                                      + 3 * C * C + 3 * C  // attn.c_attn
                                      + C * C + C          // attn.c_proj
                                      + 2 * C              // ln_2
                                      + F * C + F          // mlp.c_fc
                                      + C * F + C;         // mlp.c_proj
    return V * C + T * C + L * per_block + 2 * C;
}

// Multiply-adds of the matrix products in one position's forward pass, times two: the
// weight matrices of every block plus the tied output head; attention's two products
// counted over the whole context T, as nanoGPT's utilisation estimate counts them.
template <class Cfg>
constexpr std::size_t forward_flops_per_token() {
    constexpr std::size_t V = Cfg::Vocab, T = Cfg::BlockSize, C = Cfg::EmbedSize;
    constexpr std::size_t F = Cfg::Hidden, L = Cfg::Layers;
    constexpr std::size_t weights = L * (3 * C * C + C * C + 2 * C * F) + V * C;
    return 2 * weights + L * 2 * 2 * T * C;
}

// Forward plus backward: the backward pass costs two forward passes.
template <class Cfg>
constexpr std::size_t train_flops_per_token() {
    return 3 * forward_flops_per_token<Cfg>();
}

}  // namespace tinyformer
