// tinyformer/detail/utf8.hpp: strict UTF-8 decoding and encoding of code points.
//
// A training text is a sequence of characters (Unicode scalar values), so it must be decoded
// exactly: overlong forms, surrogates, code points above U+10FFFF, cut-off sequences and stray
// continuation bytes are errors that name the byte offset, the line and the column.
#pragma once

#include <cstddef>      // std::size_t
#include <cstdint>      // std::uint8_t, std::uint32_t
#include <cstdio>       // std::snprintf, for hex in messages
#include <string>       // std::string, std::u32string
#include <string_view>  // std::string_view, std::u32string_view

#include "../error.hpp"

namespace tinyformer {
namespace detail {

// "0x9f": one byte as it is shown in messages.
inline std::string hex_byte(unsigned char b) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "0x%02x", static_cast<unsigned>(b));
    return buf;
}

// "U+00E9": a code point as it is shown in messages (at least four hex digits).
inline std::string code_point_name(char32_t c) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "U+%04X", static_cast<unsigned>(c));
    return buf;
}

// True for a code point that can be a character: at most U+10FFFF and not a surrogate.
inline bool is_scalar_value(char32_t c) {
    return c <= 0x10FFFF && !(c >= 0xD800 && c <= 0xDFFF);
}

// Appends the UTF-8 form of c; a surrogate or a value above U+10FFFF is a usage_error.
inline void append_utf8(std::string& out, char32_t c) {
    if (!is_scalar_value(c)) {
        throw usage_error("append_utf8: " + code_point_name(c) + " is not a Unicode character");
    }
    if (c < 0x80) {
        out.push_back(static_cast<char>(c));
    } else if (c < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (c >> 6)));
        out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else if (c < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (c >> 12)));
        out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (c >> 18)));
        out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
}

inline std::string encode_utf8(char32_t c) {
    std::string out;
    append_utf8(out, c);
    return out;
}

inline std::string encode_utf8(std::u32string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char32_t c : text) append_utf8(out, c);
    return out;
}

// Bytes in the sequence a lead byte starts: 1 to 4, or 0 for a continuation byte (10xxxxxx)
// and for 0xF8..0xFF, which start nothing. 0xC0, 0xC1 and 0xF5..0xF7 get their length so that
// the decoder can name the overlong form or the too-large value they encode.
inline std::size_t utf8_sequence_length(unsigned char lead) {
    if (lead < 0x80) return 1;
    if (lead < 0xC0) return 0;
    if (lead < 0xE0) return 2;
    if (lead < 0xF0) return 3;
    if (lead < 0xF8) return 4;
    return 0;
}

inline bool is_continuation_byte(unsigned char b) {
    return (b & 0xC0) == 0x80;
}

// True when bytes starts with the byte-order mark EF BB BF, which is skipped, not a character.
inline bool starts_with_bom(std::string_view bytes) {
    return bytes.size() >= 3 && static_cast<unsigned char>(bytes[0]) == 0xEF &&
           static_cast<unsigned char>(bytes[1]) == 0xBB &&
           static_cast<unsigned char>(bytes[2]) == 0xBF;
}

// The data_error for a malformed sequence at byte offset `at` (0-based). Everything before
// `at` is valid UTF-8, so the line (1-based, split at '\n') and the column (1-based, in
// characters; the byte-order mark is not one) are counted from the lead bytes.
[[noreturn]] inline void throw_invalid_utf8(std::string_view bytes, std::size_t at,
                                            const std::string& name, const std::string& what) {
    std::size_t line = 1, column = 1;
    for (std::size_t i = 0; i < at; ++i) {
        const auto b = static_cast<unsigned char>(bytes[i]);
        if (b == '\n') {
            ++line;
            column = 1;
        } else if (!is_continuation_byte(b)) {
            ++column;
        }
    }
    if (line == 1 && at >= 3 && starts_with_bom(bytes)) --column;
    throw data_error(name + ": invalid UTF-8 at byte " + std::to_string(at) + " (line " +
                     std::to_string(line) + ", column " + std::to_string(column) + "): " + what);
}

// The bytes bytes[from, to) as "0xe2 0x82".
inline std::string hex_bytes(std::string_view bytes, std::size_t from, std::size_t to) {
    std::string out;
    for (std::size_t i = from; i < to; ++i) {
        if (i > from) out += ' ';
        out += hex_byte(static_cast<unsigned char>(bytes[i]));
    }
    return out;
}

// Decodes the UTF-8 in bytes into code points, skipping a leading byte-order mark. name (a file
// path, say) begins every message: "data.txt: invalid UTF-8 at byte 1234 (line 5, column 7):
// unexpected continuation byte 0x9f". Byte offsets count from 0 and include the mark.
inline std::u32string decode_utf8(std::string_view bytes, const std::string& name) {
    // at most one character per byte: write into room for that many, then trim
    std::u32string out(bytes.size(), U'\0');
    std::size_t count = 0;
    const std::size_t n = bytes.size();
    std::size_t i = starts_with_bom(bytes) ? 3 : 0;
    while (i < n) {
        const auto lead = static_cast<unsigned char>(bytes[i]);
        // ASCII, the common case, one byte one character
        if (lead < 0x80) {
            out[count++] = lead;
            ++i;
            continue;
        }
        const std::size_t len = utf8_sequence_length(lead);
        if (len == 0) {
            throw_invalid_utf8(bytes, i, name,
                               is_continuation_byte(lead)
                                   ? "unexpected continuation byte " + hex_byte(lead)
                                   : "byte " + hex_byte(lead) + " never appears in UTF-8");
        }
        // the continuation bytes: each must be present and of the form 10xxxxxx
        char32_t c = lead & (0x7F >> len);
        for (std::size_t k = 1; k < len; ++k) {
            if (i + k == n) {
                throw_invalid_utf8(bytes, i, name,
                                   "incomplete " + std::to_string(len) + "-byte sequence " +
                                       hex_bytes(bytes, i, n) + " at the end of the text");
            }
            const auto b = static_cast<unsigned char>(bytes[i + k]);
            if (!is_continuation_byte(b)) {
                throw_invalid_utf8(bytes, i, name,
                                   "incomplete " + std::to_string(len) + "-byte sequence " +
                                       hex_bytes(bytes, i, i + k) + " followed by " + hex_byte(b) +
                                       ", which is not a continuation byte");
            }
            c = (c << 6) | (b & 0x3F);
        }
        // the value: the shortest form, not a surrogate, within Unicode
        static constexpr char32_t least[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (c < least[len]) {
            throw_invalid_utf8(
                bytes, i, name,
                "overlong encoding " + hex_bytes(bytes, i, i + len) + " of " + code_point_name(c));
        }
        if (c >= 0xD800 && c <= 0xDFFF) {
            throw_invalid_utf8(bytes, i, name,
                               "encoded surrogate " + code_point_name(c) + " (" +
                                   hex_bytes(bytes, i, i + len) + ") is not a character");
        }
        if (c > 0x10FFFF) {
            throw_invalid_utf8(bytes, i, name,
                               "code point " + code_point_name(c) + " (" +
                                   hex_bytes(bytes, i, i + len) + ") is above U+10FFFF");
        }
        out[count++] = c;
        i += len;
    }
    out.resize(count);
    return out;
}

// For streaming whole characters: the length of the longest prefix of bytes that does not end
// inside a character, i.e. bytes.size() unless the buffer ends with the first 1 to 3 bytes of a
// multi-byte sequence (the rest still to come). Malformed bytes are not held back: they will
// never complete, and a decoder reports them.
inline std::size_t utf8_complete_length(std::string_view bytes) {
    const std::size_t n = bytes.size();
    // step back over at most three trailing continuation bytes to the last lead byte
    std::size_t i = n;
    while (i > 0 && n - i < 3 && is_continuation_byte(static_cast<unsigned char>(bytes[i - 1]))) {
        --i;
    }
    if (i == 0) return n;
    const std::size_t start = i - 1;
    const std::size_t len = utf8_sequence_length(static_cast<unsigned char>(bytes[start]));
    return len > 1 && start + len > n ? start : n;
}

// True when bytes does not end inside a character (see utf8_complete_length).
inline bool utf8_ends_complete(std::string_view bytes) {
    return utf8_complete_length(bytes) == bytes.size();
}

// A character as messages show it: 'a', 'é', '\n', '\t', '\r', '\'', '\\', or U+XXXX for other
// control, format and invisible characters (U+0000, U+00A0, U+200B, U+FEFF, ...).
inline std::string quote_character(char32_t c) {
    switch (c) {
        case '\n':
            return "'\\n'";
        case '\t':
            return "'\\t'";
        case '\r':
            return "'\\r'";
        case '\'':
            return "'\\''";
        case '\\':
            return "'\\\\'";
        default:
            break;
    }
    const bool invisible = c < 0x20 || (c >= 0x7F && c <= 0xA0) || c == 0xAD ||
                           (c >= 0x2000 && c <= 0x200F) || (c >= 0x2028 && c <= 0x202F) ||
                           (c >= 0x205F && c <= 0x206F) || c == 0x3000 || c == 0xFEFF ||
                           (c >= 0xFFF0 && c <= 0xFFFF) || !is_scalar_value(c);
    if (invisible) return code_point_name(c);
    return "'" + encode_utf8(c) + "'";
}

}  // namespace detail
}  // namespace tinyformer
