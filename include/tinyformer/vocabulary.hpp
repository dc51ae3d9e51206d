// tinyformer/vocabulary.hpp: the characters a model knows, and their token ids.
//
// A vocabulary is the sorted list of distinct characters (code points) of a training text; a
// character's id is its place in that list. The model file stores the list as a UTF-8 string,
// the alphabet, from which the same vocabulary is rebuilt.
#pragma once

#include <algorithm>    // std::sort, std::lower_bound, std::adjacent_find
#include <array>        // std::array, the table of ASCII ids
#include <cstddef>      // std::size_t
#include <cstdint>      // std::int32_t, std::uint64_t
#include <string>       // std::string, std::u32string
#include <string_view>  // std::string_view, std::u32string_view
#include <utility>      // std::move
#include <vector>       // std::vector

#include "detail/utf8.hpp"
#include "error.hpp"

namespace tinyformer {

// "'x', 'y', '\n'": characters as messages show them, the first `limit` of them, then
// ", and 7 more" for the rest.
inline std::string quote_characters(std::u32string_view chars, std::size_t limit = 10) {
    std::string out;
    for (std::size_t i = 0; i < chars.size() && i < limit; ++i) {
        if (i > 0) out += ", ";
        out += detail::quote_character(chars[i]);
    }
    if (chars.size() > limit) out += ", and " + std::to_string(chars.size() - limit) + " more";
    return out;
}

// What vocabulary::encode_known returns: the ids of the known characters and the characters
// that were left out.
struct encoded_text {
    std::vector<std::int32_t> ids;  // the known characters, in order
    std::u32string dropped;         // each unknown character once, in order of first appearance
    std::size_t dropped_count = 0;  // how many characters were left out, repeats included
};

class vocabulary {
public:
    // The empty vocabulary; use the factories below to make a useful one.
    vocabulary() { ascii_.fill(-1); }

    // The sorted distinct characters of a text.
    static vocabulary from_text(std::u32string_view text) {
        // one bit per code point marks the characters present; reading the bits in order
        // gives them sorted, with no sort over the whole text
        std::vector<std::uint64_t> seen(0x110000 / 64, 0);
        for (char32_t c : text) {
            if (!detail::is_scalar_value(c)) {
                throw usage_error("vocabulary::from_text: " + detail::code_point_name(c) +
                                  " is not a Unicode character");
            }
            seen[c / 64] |= std::uint64_t{1} << (c % 64);
        }
        std::u32string chars;
        for (std::size_t w = 0; w < seen.size(); ++w) {
            for (std::uint64_t bits = seen[w]; bits != 0; bits &= bits - 1) {
                chars.push_back(static_cast<char32_t>(w * 64 + count_trailing_zeros(bits)));
            }
        }
        return vocabulary(std::move(chars));
    }

    // The vocabulary of a UTF-8 text; name begins the message of a decoding error.
    static vocabulary from_text(std::string_view utf8, const std::string& name) {
        return from_text(detail::decode_utf8(utf8, name));
    }

    // Rebuilds a vocabulary from its alphabet (a model file stores it). The alphabet must be
    // non-empty, valid UTF-8, and list each character once in increasing code point order, or
    // a data_error names `name` and the fault.
    static vocabulary from_alphabet(std::string_view utf8, const std::string& name = "alphabet") {
        std::u32string chars = detail::decode_utf8(utf8, name);
        if (chars.empty()) throw data_error(name + ": the alphabet is empty");
        // a repeat is reported first, wherever it is, since it is the likelier damage
        std::u32string sorted = chars;
        std::sort(sorted.begin(), sorted.end());
        const auto twice = std::adjacent_find(sorted.begin(), sorted.end());
        if (twice != sorted.end()) {
            throw data_error(name + ": the alphabet has the character " +
                             detail::quote_character(*twice) + " more than once");
        }
        for (std::size_t i = 1; i < chars.size(); ++i) {
            if (chars[i] < chars[i - 1]) {
                throw data_error(name + ": the alphabet is not in code point order: " +
                                 detail::quote_character(chars[i]) + " (character " +
                                 std::to_string(i + 1) + ") comes after " +
                                 detail::quote_character(chars[i - 1]));
            }
        }
        return vocabulary(std::move(chars));
    }

    // Number of characters, V; ids are 0 .. V-1.
    std::size_t size() const { return chars_.size(); }

    // The characters in id order, and the same as UTF-8 (what the model file stores).
    const std::u32string& characters() const { return chars_; }
    std::string alphabet() const { return detail::encode_utf8(chars_); }

    // The id of c, or -1 when c is not in the vocabulary.
    std::int32_t find(char32_t c) const {
        if (c < 128) return ascii_[c];
        const auto it = std::lower_bound(chars_.begin(), chars_.end(), c);
        if (it == chars_.end() || *it != c) return -1;
        return static_cast<std::int32_t>(it - chars_.begin());
    }

    bool contains(char32_t c) const { return find(c) >= 0; }

    // The character with this id; an id outside [0, V) is a usage_error.
    char32_t character(std::int32_t id) const {
        if (id < 0 || static_cast<std::size_t>(id) >= chars_.size()) {
            throw usage_error("vocabulary::character: id " + std::to_string(id) +
                              " is outside [0, " + std::to_string(chars_.size()) + ")");
        }
        return chars_[static_cast<std::size_t>(id)];
    }

    // The ids of a text whose every character is in the vocabulary; an unknown character is a
    // usage_error (for text that may hold any character, use encode_known).
    std::vector<std::int32_t> encode(std::u32string_view text) const {
        std::vector<std::int32_t> ids(text.size());
        for (std::size_t i = 0; i < text.size(); ++i) {
            ids[i] = find(text[i]);
            if (ids[i] < 0) {
                throw usage_error("vocabulary::encode: the character " +
                                  detail::quote_character(text[i]) + " (character " +
                                  std::to_string(i + 1) + " of the text) is not in the vocabulary");
            }
        }
        return ids;
    }

    // The same for UTF-8 text; name begins the message of a decoding error.
    std::vector<std::int32_t> encode(std::string_view utf8,
                                     const std::string& name = "vocabulary::encode") const {
        return encode(detail::decode_utf8(utf8, name));
    }

    // The ids of the characters of a UTF-8 text that the vocabulary has, and which characters
    // it does not have (for a question typed by a user, which may hold anything).
    encoded_text encode_known(std::string_view utf8,
                              const std::string& name = "vocabulary::encode_known") const {
        const std::u32string text = detail::decode_utf8(utf8, name);
        encoded_text out;
        out.ids.reserve(text.size());
        for (char32_t c : text) {
            const std::int32_t id = find(c);
            if (id >= 0) {
                out.ids.push_back(id);
                continue;
            }
            ++out.dropped_count;
            if (out.dropped.find(c) == std::u32string::npos) out.dropped.push_back(c);
        }
        return out;
    }

    // The UTF-8 text of n ids; an id outside [0, V) is a usage_error.
    std::string decode(const std::int32_t* ids, std::size_t n) const {
        std::string out;
        out.reserve(n);
        for (std::size_t i = 0; i < n; ++i) {
            if (ids[i] < 0 || static_cast<std::size_t>(ids[i]) >= chars_.size()) {
                throw usage_error("vocabulary::decode: id " + std::to_string(ids[i]) +
                                  " (position " + std::to_string(i) + ") is outside [0, " +
                                  std::to_string(chars_.size()) + ")");
            }
            detail::append_utf8(out, chars_[static_cast<std::size_t>(ids[i])]);
        }
        return out;
    }

    std::string decode(const std::vector<std::int32_t>& ids) const {
        return decode(ids.data(), ids.size());
    }

    bool operator==(const vocabulary& other) const { return chars_ == other.chars_; }
    bool operator!=(const vocabulary& other) const { return !(*this == other); }

private:
    // chars_ is sorted and distinct: every factory ensures it.
    explicit vocabulary(std::u32string chars) : chars_(std::move(chars)) {
        ascii_.fill(-1);
        for (std::size_t i = 0; i < chars_.size() && chars_[i] < 128; ++i) {
            ascii_[chars_[i]] = static_cast<std::int32_t>(i);
        }
    }

    static unsigned count_trailing_zeros(std::uint64_t bits) {
        unsigned n = 0;
        while ((bits & 1) == 0) {
            bits >>= 1;
            ++n;
        }
        return n;
    }

    std::u32string chars_;                 // (V,) the character of each id, increasing
    std::array<std::int32_t, 128> ascii_;  // (128,) the id of each ASCII character, or -1
};

}  // namespace tinyformer
