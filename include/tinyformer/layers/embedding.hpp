// tinyformer/layers/embedding.hpp: token plus position embedding, h[t] = wte[x[t]] + wpe[t].
#pragma once

#include <cstddef>  // std::size_t
#include <cstdint>  // std::int32_t
#include <string>   // std::string

#include "../tensor.hpp"

namespace tinyformer {

template <class T, std::size_t V, std::size_t BlockSize, std::size_t C>
struct embedding {
    struct Params {
        fixed<T, V, C> wte;          // (V, C) token embedding, also the tied output head
        fixed<T, BlockSize, C> wpe;  // (T, C) position embedding

        template <class F, class... P>
        static void visit(const std::string& prefix, F& f, P&... p) {
            f(prefix + "wte.weight", p.wte...);
            f(prefix + "wpe.weight", p.wpe...);
        }
    };

    // out(B·t, C) = wte[tokens] + wpe[position]; tokens (B·t) were checked to be < V
    static void forward(const Params& p, const std::int32_t* tokens, T* out, std::size_t B,
                        std::size_t t) {
        for (std::size_t r = 0; r < B * t; ++r) {
            const T* te = p.wte.data() + static_cast<std::size_t>(tokens[r]) * C;
            const T* pe = p.wpe.data() + (r % t) * C;
            for (std::size_t i = 0; i < C; ++i) out[r * C + i] = te[i] + pe[i];
        }
    }

    // dwte[tokens] += dout, dwpe[position] += dout
    static void backward(Params& g, const std::int32_t* tokens, const T* dout, std::size_t B,
                         std::size_t t) {
        for (std::size_t r = 0; r < B * t; ++r) {
            T* dte = g.wte.data() + static_cast<std::size_t>(tokens[r]) * C;
            T* dpe = g.wpe.data() + (r % t) * C;
            for (std::size_t i = 0; i < C; ++i) {
                dte[i] += dout[r * C + i];
                dpe[i] += dout[r * C + i];
            }
        }
    }
};

}  // namespace tinyformer
