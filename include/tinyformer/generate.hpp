// tinyformer/generate.hpp: text generation with a key/value cache.
//
// A kv_cache keeps, for every block, the keys and values of the positions seen so far, so
// that each new token costs one position's work instead of a whole forward pass. When the
// window is full, it keeps the newest half of its tokens and recomputes their cache: the
// position embeddings are absolute, so the kept tokens must move to positions 0, 1, ...
// That recomputation, and a prompt pushed into an empty cache, run as one forward pass over
// all their rows through the model's own blocks, whose matrix products then read each weight
// once for all the rows: one position at a time, the recomputation doubled the cost of every
// generated token.
#pragma once

#include <algorithm>  // std::copy
#include <cmath>      // std::sqrt
#include <cstddef>    // std::size_t
#include <cstdint>    // std::int32_t
#include <string>     // std::to_string
#include <vector>     // std::vector

#include "detail/kernel.hpp"  // row_times, row_times_transposed
#include "error.hpp"
#include "gemm.hpp"
#include "sampling.hpp"
#include "tensor.hpp"

namespace tinyformer {

template <class Model>
class kv_cache {
public:
    using Cfg = typename Model::config;
    using T = typename Model::value_type;
    static constexpr std::size_t V = Cfg::Vocab, BlockSize = Cfg::BlockSize;
    static constexpr std::size_t C = Cfg::EmbedSize, F = Cfg::Hidden, L = Cfg::Layers;
    static constexpr std::size_t NH = Cfg::Heads, hs = Cfg::HeadSize;
    // tokens kept when the window slides: the newest half (at least one)
    static constexpr std::size_t keep = BlockSize / 2 > 0 ? BlockSize / 2 : 1;

    explicit kv_cache(const typename Model::Params& params)
        : p_(params),
          window_(BlockSize),
          k_(buffer<T>(L, BlockSize, C)),
          v_(buffer<T>(L, BlockSize, C)),
          x_(buffer<T>(C)),
          ln_(buffer<T>(C)),
          mean_(buffer<T>(1)),
          rstd_(buffer<T>(1)),
          qkv_(buffer<T>(3 * C)),
          att_(buffer<T>(BlockSize)),
          y_(buffer<T>(C)),
          branch_(buffer<T>(C)),
          mlp_(1),
          logits_(buffer<T>(V)),
          rows_(buffer<T>(BlockSize, C)),
          block_acts_(1, false),
          block_scratch_(1) {}

    // Forgets every token.
    void clear() { n_ = 0; }

    // Tokens in the window now (at most BlockSize).
    std::size_t size() const { return n_; }
    const std::int32_t* tokens() const { return window_.data(); }

    // Appends a token and returns the logits (V) for the one after it. A full window first
    // slides: its newest `keep` tokens are kept and their cache recomputed.
    const T* push(std::int32_t id) {
        if (id < 0 || static_cast<std::size_t>(id) >= V) {
            throw usage_error("kv_cache::push: token " + std::to_string(id) + " is outside 0.." +
                              std::to_string(V - 1) + " (Vocab)");
        }
        if (n_ == BlockSize) {
            std::copy(window_.end() - keep, window_.end(), window_.begin());
            prefill(keep);
        }
        window_[n_] = id;
        step(id);
        return logits_.data();
    }

    // Appends several tokens; returns the logits after the last (nullptr for none).
    const T* push(const std::int32_t* ids, std::size_t n) {
        if (n == 0) return nullptr;
        std::size_t i = 0;
        // into an empty cache, all but the last token in one pass (no slide can come between
        // them), as long as they fit in the window
        if (n_ == 0 && n <= BlockSize) {
            for (; i + 1 < n; ++i) {
                const std::int32_t id = ids[i];
                if (id < 0 || static_cast<std::size_t>(id) >= V) break;
                window_[i] = id;
            }
            if (i > 0) prefill(i);
        }
        const T* out = nullptr;
        for (; i < n; ++i) out = push(ids[i]);
        return out;
    }

    // The logits after the newest token.
    const T* logits() const { return logits_.data(); }

private:
    using block_layer = typename Model::block_layer;
    using norm_layer = typename Model::norm_layer;
    using attn_layer = typename block_layer::attn_layer;
    using mlp_layer = typename block_layer::mlp_layer;
    using embed_layer = typename Model::embed_layer;

    // Makes the cache hold the window's first n tokens at positions 0..n-1: their forward
    // pass as Model::forward runs it, n rows through each block, with the keys and values
    // taken from the rows of the block's qkv. No logits: a token always follows.
    void prefill(std::size_t n) {
        T* x = rows_.data();  // (n, C) the residual stream
        embed_layer::forward(p_.emb, window_.data(), x, 1, n);
        for (std::size_t l = 0; l < L; ++l) {
            block_layer::forward(p_.h[l], block_acts_, block_scratch_, x, 1, n, T(0), nullptr);
            const T* qkv = block_acts_.attn.qkv.data();  // (n, 3C) rows q, k, v
            T* kc = k_.data() + l * BlockSize * C;
            T* vc = v_.data() + l * BlockSize * C;
            for (std::size_t i = 0; i < n; ++i) {
                std::copy(qkv + i * 3 * C + C, qkv + i * 3 * C + 2 * C, kc + i * C);
                std::copy(qkv + i * 3 * C + 2 * C, qkv + i * 3 * C + 3 * C, vc + i * C);
            }
            std::copy(block_acts_.out.data(), block_acts_.out.data() + n * C, x);
        }
        n_ = n;
    }

    // One position's forward pass at position n_, which becomes part of the cache, and the
    // logits after it.
    void step(std::int32_t id) {
        const std::size_t t = n_;
        T* x = x_.data();
        // h = wte[id] + wpe[t]
        const T* te = p_.emb.wte.data() + static_cast<std::size_t>(id) * C;
        const T* pe = p_.emb.wpe.data() + t * C;
        for (std::size_t i = 0; i < C; ++i) x[i] = te[i] + pe[i];
        for (std::size_t l = 0; l < L; ++l) {
            const auto& b = p_.h[l];
            // x += attn(ln_1(x)), this position's key and value going into the cache
            norm_layer::forward(b.ln_1, x, ln_.data(), mean_.data(), rstd_.data(), 1);
            attn_layer::qkv_layer::forward(b.attn.c_attn, ln_.data(), qkv_.data(), 1);
            T* kc = k_.data() + l * BlockSize * C;  // (T, C) keys of positions 0..t
            T* vc = v_.data() + l * BlockSize * C;  // (T, C) values
            std::copy(qkv_.data() + C, qkv_.data() + 2 * C, kc + t * C);
            std::copy(qkv_.data() + 2 * C, qkv_.data() + 3 * C, vc + t * C);
            attend(qkv_.data(), kc, vc, t);
            attn_layer::proj_layer::forward(b.attn.c_proj, y_.data(), branch_.data(), 1);
            for (std::size_t i = 0; i < C; ++i) x[i] += branch_.data()[i];
            // x += mlp(ln_2(x))
            norm_layer::forward(b.ln_2, x, ln_.data(), mean_.data(), rstd_.data(), 1);
            mlp_layer::forward(b.mlp, mlp_, ln_.data(), branch_.data(), 1);
            for (std::size_t i = 0; i < C; ++i) x[i] += branch_.data()[i];
        }
        ++n_;
        // logits = ln_f(x) · wteᵀ
        norm_layer::forward(p_.ln_f, x, ln_.data(), mean_.data(), rstd_.data(), 1);
        gemm(op::none, op::transpose, 1, V, C, T(1), ln_.data(), C, p_.emb.wte.data(), C, T(0),
             logits_.data(), V);
    }

    // y_(C): per head, softmax(q · kᵢ / sqrt(hs)) over i <= t, then Σ pᵢ vᵢ. Products of
    // one row by at most BlockSize: the header-only vector loops directly, with or without
    // BLAS, whose call would cost more than the product.
    void attend(const T* q, const T* kc, const T* vc, std::size_t t) {
        const T scale = T(1) / std::sqrt(T(hs));
        T* att = att_.data();
        for (std::size_t h = 0; h < NH; ++h) {
            const T* qh = q + h * hs;
            // scores (t + 1) = k (t+1, hs) · q (hs) · scale over the cached positions
            detail::row_times_transposed(t + 1, hs, scale, qh, kc + h * hs, C, T(0), att);
            attn_layer::softmax_causal_row(att, t, t + 1);
            // y_h (hs) = p (t+1) · v (t+1, hs)
            detail::row_times(hs, t + 1, T(1), att, 1, vc + h * hs, C, T(0), y_.data() + h * hs);
        }
    }

    const typename Model::Params& p_;
    std::size_t n_ = 0;
    std::vector<std::int32_t> window_;  // (T) the tokens in the cache
    dynamic<T, 3> k_, v_;               // (L, T, C) keys and values, heads side by side
    dynamic<T, 1> x_;                   // (C) the residual stream of the position
    dynamic<T, 1> ln_;                  // (C) a LayerNorm's output
    dynamic<T, 1> mean_, rstd_;         // (1) its statistics, unused here
    dynamic<T, 1> qkv_;                 // (3C)
    dynamic<T, 1> att_;                 // (T) one head's attention weights
    dynamic<T, 1> y_;                   // (C) the heads' outputs joined
    dynamic<T, 1> branch_;              // (C) a residual branch's output
    typename mlp_layer::Activations mlp_;
    dynamic<T, 1> logits_;  // (V)
    // prefill's: the rows' residual stream, and one block's activations and scratch, shared
    // by the blocks one after another
    dynamic<T, 2> rows_;  // (T, C)
    typename block_layer::Activations block_acts_;
    typename block_layer::Scratch block_scratch_;
};

// Generates up to max_tokens tokens after prompt (ids). Each token goes to on_token(id)
// as soon as it is drawn; on_token returns false to stop (at the end of a speech, say).
// Returns the number of tokens generated. The prompt may be longer than BlockSize: the
// cache keeps its end.
template <class Model, class OnToken>
std::size_t generate(kv_cache<Model>& cache, const std::vector<std::int32_t>& prompt, sampler& pick,
                     std::size_t max_tokens, OnToken&& on_token) {
    constexpr std::size_t V = Model::config::Vocab;
    if (prompt.empty()) throw usage_error("generate: the prompt is empty");
    cache.clear();
    // only the prompt's last BlockSize tokens can matter
    const std::size_t skip =
        prompt.size() > Model::config::BlockSize ? prompt.size() - Model::config::BlockSize : 0;
    const auto* logits = cache.push(prompt.data() + skip, prompt.size() - skip);
    std::size_t made = 0;
    while (made < max_tokens) {
        const std::int32_t id = pick.next(logits, V);
        ++made;
        if (!on_token(id)) break;
        if (made < max_tokens) logits = cache.push(id);
    }
    return made;
}

}  // namespace tinyformer
