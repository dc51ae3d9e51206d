// tinyformer/transformer.hpp: the GPT-2 style model, Transformer<Config>.
//
//   h = wte[x] + wpe[t];  h = block_l(h) for each of L blocks;  logits = ln_f(h) · wteᵀ
//
// Params (shared, read-only while threads work), Grads (one per thread) and Activations
// (one per thread) are separate objects; forward and backward are static functions over
// them, and allocate nothing.
#pragma once

#include <algorithm>  // std::fill
#include <array>      // std::array
#include <cmath>      // std::sqrt
#include <cstddef>    // std::size_t
#include <cstdint>    // std::int32_t, std::uint64_t
#include <memory>     // std::unique_ptr
#include <string>     // std::string, std::to_string
#include <vector>     // std::vector

#include "config.hpp"
#include "error.hpp"
#include "gemm.hpp"
#include "layers/block.hpp"
#include "layers/cross_entropy.hpp"
#include "layers/embedding.hpp"
#include "layers/layernorm.hpp"
#include "random.hpp"
#include "tensor.hpp"

namespace tinyformer {

template <class Cfg>
struct Transformer {
    using config = Cfg;
    using value_type = typename Cfg::value_type;
    using T = value_type;
    static constexpr std::size_t V = Cfg::Vocab, BlockSize = Cfg::BlockSize;
    static constexpr std::size_t C = Cfg::EmbedSize, L = Cfg::Layers;
    using embed_layer = embedding<T, V, BlockSize, C>;
    using block_layer = block<Cfg>;
    using norm_layer = layernorm<T, C>;
    using loss_layer = cross_entropy<T, V>;

    // every trainable tensor, named as in MODEL.md
    struct Params {
        typename embed_layer::Params emb;               // wte (V, C), wpe (T, C)
        std::array<typename block_layer::Params, L> h;  // the blocks
        typename norm_layer::Params ln_f;               // (C), (C)
    };
    // gradients have the parameters' layout
    using Grads = Params;

    // f(name, tensor, ...) for each parameter, in a fixed order, with one tensor from each
    // of the Params objects given (const or not)
    template <class F, class... P>
    static void visit(F&& f, P&... p) {
        embed_layer::Params::visit("", f, p.emb...);
        for (std::size_t l = 0; l < L; ++l) {
            block_layer::Params::visit("h." + std::to_string(l) + ".", f, p.h[l]...);
        }
        norm_layer::Params::visit("ln_f.", f, p.ln_f...);
    }

    // everything one thread's forward pass keeps for its backward pass, for up to
    // max_batch sequences; dropout > 0 allocates its masks and applies it while `training`
    class Activations {
    public:
        explicit Activations(std::size_t max_batch, T dropout = T(0), std::uint64_t seed = 1337)
            : max_batch_(max_batch),
              dropout_(dropout),
              gen_(seed),
              tokens_(buffer<std::int32_t>(max_batch * BlockSize)),
              targets_(buffer<std::int32_t>(max_batch * BlockSize)),
              x0_(buffer<T>(max_batch * BlockSize, C)),
              scratch_(max_batch),
              lnf_(buffer<T>(max_batch * BlockSize, C)),
              lnf_mean_(buffer<T>(max_batch * BlockSize)),
              lnf_rstd_(buffer<T>(max_batch * BlockSize)),
              logits_(buffer<T>(max_batch * BlockSize, V)),
              probs_(buffer<T>(max_batch * BlockSize, V)),
              dlogits_(buffer<T>(max_batch * BlockSize, V)),
              dx_(buffer<T>(max_batch * BlockSize, C)) {
            if (max_batch == 0) throw usage_error("Transformer::Activations: max_batch is 0");
            if (!(dropout >= T(0) && dropout < T(1))) {
                throw usage_error("Transformer::Activations: dropout must be in [0, 1), got " +
                                  std::to_string(double(dropout)));
            }
            blocks_.reserve(L);
            for (std::size_t l = 0; l < L; ++l) blocks_.emplace_back(max_batch, dropout > T(0));
        }

        bool training = true;  // dropout applies only while training

        std::size_t max_batch() const { return max_batch_; }
        std::size_t batch() const { return B_; }
        std::size_t length() const { return t_; }
        // the logits of the last forward pass, (B·t, V) row-major
        const T* logits() const { return logits_.data(); }
        // reseed dropout's generator (the trainer does so per shard, for determinism)
        void seed_dropout(std::uint64_t seed) { gen_ = rng(seed); }

    private:
        friend struct Transformer;
        std::size_t max_batch_, B_ = 0, t_ = 0;
        T dropout_;
        rng gen_;
        bool has_targets_ = false;
        bool dropped_ = false;                       // whether the last forward used dropout
        dynamic<std::int32_t, 1> tokens_, targets_;  // (N)
        dynamic<T, 2> x0_;                           // (N, C) embeddings
        std::vector<typename block_layer::Activations> blocks_;
        typename block_layer::Scratch scratch_;
        dynamic<T, 2> lnf_;                  // (N, C)
        dynamic<T, 1> lnf_mean_, lnf_rstd_;  // (N)
        dynamic<T, 2> logits_;               // (N, V)
        dynamic<T, 2> probs_;                // (N, V) softmax of the logits
        dynamic<T, 2> dlogits_;              // (N, V) d loss / d logits
        dynamic<T, 2> dx_;                   // (N, C) gradient of the residual stream
    };

    // GPT-2's initialisation: weights ~ N(0, 0.02), the residual projections (attn.c_proj,
    // mlp.c_proj) scaled by 1/sqrt(2·L); biases 0; LayerNorm weight 1, bias 0
    static void init(Params& p, std::uint64_t seed) {
        rng gen(seed);
        const double proj_std = 0.02 / std::sqrt(2.0 * double(L));
        visit(
            [&](const std::string& name, auto& w) {
                const bool is_norm = name.find("ln_") != std::string::npos;
                const bool is_bias =
                    name.size() >= 4 && name.compare(name.size() - 4, 4, "bias") == 0;
                const bool is_proj =
                    name.size() >= 13 && name.compare(name.size() - 13, 13, "c_proj.weight") == 0;
                for (auto& x : w) {
                    if (is_bias) {
                        x = T(0);
                    } else if (is_norm) {
                        x = T(1);
                    } else {
                        x = T((is_proj ? proj_std : 0.02) * gen.normal());
                    }
                }
            },
            p);
    }

    // a heap-allocated, initialised model; a zeroed gradient buffer
    static std::unique_ptr<Params> make_params(std::uint64_t seed) {
        auto p = std::make_unique<Params>();
        init(*p, seed);
        return p;
    }
    static std::unique_ptr<Grads> make_grads() {
        auto g = std::make_unique<Grads>();
        zero(*g);
        return g;
    }
    static void zero(Grads& g) {
        visit([](const std::string&, auto& x) { std::fill(x.begin(), x.end(), T(0)); }, g);
    }

    // Runs B sequences of t <= BlockSize token ids (tokens: B·t, row-major). With targets
    // (B·t) it returns the mean cross-entropy and readies backward; without, 0.
    static T forward(const Params& p, Activations& a, const std::int32_t* tokens,
                     const std::int32_t* targets, std::size_t B, std::size_t t) {
        check_shape(a, B, t);
        const std::size_t N = B * t;
        check_ids(tokens, N, "token");
        if (targets) check_ids(targets, N, "target");
        std::copy(tokens, tokens + N, a.tokens_.data());
        if (targets) std::copy(targets, targets + N, a.targets_.data());
        a.B_ = B;
        a.t_ = t;
        a.has_targets_ = targets != nullptr;
        const T drop = a.training ? a.dropout_ : T(0);
        a.dropped_ = drop > T(0);
        // embeddings
        embed_layer::forward(p.emb, tokens, a.x0_.data(), B, t);
        // the blocks, each reading the previous one's output
        const T* x = a.x0_.data();
        for (std::size_t l = 0; l < L; ++l) {
            block_layer::forward(p.h[l], a.blocks_[l], a.scratch_, x, B, t, drop, &a.gen_);
            x = a.blocks_[l].out.data();
        }
        // final LayerNorm and the tied output head: logits = ln_f(h) · wteᵀ
        norm_layer::forward(p.ln_f, x, a.lnf_.data(), a.lnf_mean_.data(), a.lnf_rstd_.data(), N);
        gemm(op::none, op::transpose, N, V, C, T(1), a.lnf_.data(), C, p.emb.wte.data(), C, T(0),
             a.logits_.data(), V);
        if (!targets) return T(0);
        const double total = loss_layer::forward(a.logits_.data(), targets, a.probs_.data(), N);
        return T(total / double(N));
    }

    // Adds d(loss_scale · loss)/d params of the last forward pass into g.
    static void backward(const Params& p, Grads& g, Activations& a, T loss_scale = T(1)) {
        if (!a.has_targets_) {
            throw usage_error("Transformer::backward: the last forward pass had no targets");
        }
        const std::size_t B = a.B_, t = a.t_, N = B * t;
        const T drop = a.dropped_ ? a.dropout_ : T(0);
        // loss = mean over N rows: dlogits = (probs - onehot) / N
        T* dlogits = a.dlogits_.data();
        loss_layer::backward(a.probs_.data(), a.targets_.data(), dlogits, N, loss_scale / T(N));
        // logits = lnf · wteᵀ: dlnf = dlogits · wte, dwte += dlogitsᵀ · lnf
        T* dlnf = a.scratch_.dln.data();
        gemm(op::none, op::none, N, C, V, T(1), dlogits, V, p.emb.wte.data(), C, T(0), dlnf, C);
        gemm(op::transpose, op::none, V, C, N, T(1), dlogits, V, a.lnf_.data(), C, T(1),
             g.emb.wte.data(), C);
        // final LayerNorm, into the residual stream's gradient
        T* dx = a.dx_.data();
        std::fill(dx, dx + N * C, T(0));
        const T* x_last = a.blocks_[L - 1].out.data();
        norm_layer::backward(p.ln_f, g.ln_f, x_last, a.lnf_mean_.data(), a.lnf_rstd_.data(), dlnf,
                             dx, N);
        // the blocks in reverse
        for (std::size_t l = L; l-- > 0;) {
            const T* inp = l == 0 ? a.x0_.data() : a.blocks_[l - 1].out.data();
            block_layer::backward(p.h[l], g.h[l], a.blocks_[l], a.scratch_, inp, dx, B, t, drop);
        }
        // embeddings
        embed_layer::backward(g.emb, a.tokens_.data(), dx, B, t);
    }

private:
    static void check_shape(const Activations& a, std::size_t B, std::size_t t) {
        if (B == 0 || B > a.max_batch_) {
            throw usage_error("Transformer::forward: batch " + std::to_string(B) +
                              " is outside 1.." + std::to_string(a.max_batch_) +
                              " (the Activations' max_batch)");
        }
        if (t == 0 || t > BlockSize) {
            throw usage_error("Transformer::forward: length " + std::to_string(t) +
                              " is outside 1.." + std::to_string(BlockSize) + " (BlockSize)");
        }
    }
    static void check_ids(const std::int32_t* ids, std::size_t n, const char* what) {
        for (std::size_t i = 0; i < n; ++i) {
            if (ids[i] < 0 || static_cast<std::size_t>(ids[i]) >= V) {
                throw usage_error(std::string("Transformer::forward: ") + what + " " +
                                  std::to_string(ids[i]) + " at index " + std::to_string(i) +
                                  " is outside 0.." + std::to_string(V - 1) + " (Vocab)");
            }
        }
    }
};

}  // namespace tinyformer
