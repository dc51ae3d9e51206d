// tinyformer/random.hpp: a seeded generator whose numbers are the same on every platform.
//
// std::mt19937_64 is specified bit for bit by the standard; its distributions are not, so
// uniform and normal numbers are made here from its raw output.
#pragma once

#include <cmath>    // std::log, std::sqrt, std::cos
#include <cstdint>  // std::uint64_t
#include <random>   // std::mt19937_64
#include <sstream>  // std::ostringstream, for saving the state
#include <string>   // std::string

#include "error.hpp"

namespace tinyformer {

class rng {
public:
    explicit rng(std::uint64_t seed = 1337) : engine_(seed) {}

    // The next raw 64-bit number.
    std::uint64_t next() { return engine_(); }

    // Uniform in [0, 1) with 53 random bits.
    double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

    // Uniform integer in [0, n), n > 0, without modulo bias.
    std::uint64_t below(std::uint64_t n) {
        const std::uint64_t limit = UINT64_MAX - UINT64_MAX % n;
        std::uint64_t x = next();
        while (x >= limit) x = next();
        return x % n;
    }

    // Standard normal by Box-Muller (one value per call; the pair's second is dropped so
    // that the state is the engine's alone).
    double normal() {
        const double u1 = 1.0 - uniform();  // in (0, 1]: log is finite
        const double u2 = uniform();
        return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
    }

    // The whole state as text, and back: a training file stores it to resume exactly.
    std::string state() const {
        std::ostringstream out;
        out << engine_;
        return out.str();
    }
    void set_state(const std::string& text) {
        std::istringstream in(text);
        std::mt19937_64 e;
        in >> e;
        if (in.fail()) throw error("rng::set_state: the text is not a generator state");
        engine_ = e;
    }

    bool operator==(const rng& other) const { return engine_ == other.engine_; }
    bool operator!=(const rng& other) const { return !(*this == other); }

private:
    std::mt19937_64 engine_;
};

}  // namespace tinyformer
