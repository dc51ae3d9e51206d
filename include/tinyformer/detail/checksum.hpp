// tinyformer/detail/checksum.hpp: FNV-1a (64 bit) over the exact bits of numbers and text.
//
// A model file stores this hash of everything it holds, so that a changed digit that keeps
// the JSON valid is caught on load. Numbers are hashed as the little-endian bytes of their
// bit pattern, and strings with their length first, so the hash is the same on every platform.
#pragma once

#include <cmath>        // std::isnan
#include <cstddef>      // std::size_t
#include <cstdint>      // std::uint32_t, std::uint64_t
#include <cstring>      // std::memcpy
#include <limits>       // std::numeric_limits
#include <string>       // std::string
#include <string_view>  // std::string_view

namespace tinyformer {
namespace detail {

class fnv1a64 {
public:
    // the low n bytes of bits, lowest first
    void add_bits(std::uint64_t bits, std::size_t n) {
        for (std::size_t i = 0; i < n; ++i) {
            hash_ = (hash_ ^ ((bits >> (8 * i)) & 0xFF)) * prime;
        }
    }

    void add(std::uint64_t x) { add_bits(x, 8); }

    void add(float x) {
        std::uint32_t bits;
        std::memcpy(&bits, &x, sizeof bits);
        add_bits(bits, 4);
    }

    // every NaN hashes alike: a model file stores NaN ("none yet") as null
    void add(double x) {
        if (std::isnan(x)) x = std::numeric_limits<double>::quiet_NaN();
        std::uint64_t bits;
        std::memcpy(&bits, &x, sizeof bits);
        add_bits(bits, 8);
    }

    void add(std::string_view text) {
        add(static_cast<std::uint64_t>(text.size()));
        for (char c : text) add_bits(static_cast<unsigned char>(c), 1);
    }

    // n numbers (float or double) in order
    template <class T>
    void add(const T* x, std::size_t n) {
        for (std::size_t i = 0; i < n; ++i) add(x[i]);
    }

    std::uint64_t value() const { return hash_; }

    // "fnv1a64:" and 16 lower-case hex digits, as a model file stores it
    std::string text() const {
        static const char digits[] = "0123456789abcdef";
        std::string out = "fnv1a64:";
        for (int shift = 60; shift >= 0; shift -= 4) out += digits[(hash_ >> shift) & 0xF];
        return out;
    }

private:
    static constexpr std::uint64_t prime = 0x100000001b3ULL;
    std::uint64_t hash_ = 0xcbf29ce484222325ULL;  // the FNV offset basis
};

}  // namespace detail
}  // namespace tinyformer
