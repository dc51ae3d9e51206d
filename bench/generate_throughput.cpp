// bench/generate_throughput.cpp: characters per second of generation, with the key/value
// cache and without it (a full forward pass over the window for every character), for the
// example's presets. Prints one JSON line per measurement.
#include <chrono>   // std::chrono::steady_clock
#include <cstdint>  // std::int32_t
#include <cstdio>   // std::printf
#include <vector>   // std::vector

#include "tinyformer/tinyformer.hpp"

namespace tf = tinyformer;

namespace {

template <class Cfg>
void measure(const char* preset, std::size_t chars) {
    using Model = tf::Transformer<Cfg>;
    using clock = std::chrono::steady_clock;
    auto params = Model::make_params(1);
    tf::sampling_options o;
    o.temperature = 0.8;
    const std::vector<std::int32_t> prompt = {0};

    // with the cache: one position's work per character
    tf::kv_cache<Model> cache(*params);
    tf::sampler pick(o, 7, Cfg::Vocab);
    auto t0 = clock::now();
    const std::size_t made =
        tf::generate(cache, prompt, pick, chars, [](std::int32_t) { return true; });
    const double cached = std::chrono::duration<double>(clock::now() - t0).count();
    std::printf(
        "{\"bench\": \"generate\", \"preset\": \"%s\", \"threads\": 1, \"cache\": true, "
        "\"characters\": %zu, \"characters_per_second\": %.1f}\n",
        preset, made, double(made) / cached);

    // without: the whole window again for every character, as the original program did
    typename Model::Activations acts(1);
    tf::sampler pick2(o, 7, Cfg::Vocab);
    std::vector<std::int32_t> window = prompt;
    const std::size_t slow = chars / 4;  // fewer: it is slow
    t0 = clock::now();
    for (std::size_t i = 0; i < slow; ++i) {
        Model::forward(*params, acts, window.data(), nullptr, 1, window.size());
        const float* last = acts.logits() + (window.size() - 1) * Cfg::Vocab;
        window.push_back(pick2.next(last, Cfg::Vocab));
        if (window.size() > Cfg::BlockSize) window.erase(window.begin());
    }
    const double full = std::chrono::duration<double>(clock::now() - t0).count();
    std::printf(
        "{\"bench\": \"generate\", \"preset\": \"%s\", \"threads\": 1, \"cache\": false, "
        "\"characters\": %zu, \"characters_per_second\": %.1f}\n",
        preset, slow, double(slow) / full);
}

}  // namespace

int main() {
    measure<tf::Config<65, 64, 128, 4, 4>>("small", 4000);
    measure<tf::Config<65, 128, 192, 6, 6>>("medium", 2000);
}
