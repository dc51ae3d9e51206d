// Tests of detail/utf8.hpp, vocabulary.hpp and text_data.hpp: decoding, the vocabulary, the
// split and the windows, and every error message word for word.
#include <tinyformer/detail/utf8.hpp>
#include <tinyformer/text_data.hpp>
#include <tinyformer/vocabulary.hpp>

#include <algorithm>   // std::all_of, std::is_sorted, std::adjacent_find
#include <chrono>      // a unique name for the temporary folder
#include <cstddef>     // std::size_t
#include <cstdint>     // std::int32_t
#include <filesystem>  // the temporary folder the bad files are written to
#include <fstream>     // std::ofstream
#include <string>      // std::string, std::u32string
#include <vector>      // std::vector

#include <doctest/doctest.h>

#include <tinyformer/error.hpp>
#include <tinyformer/random.hpp>

namespace {

namespace fs = std::filesystem;
using tinyformer::data_error;
using tinyformer::text_data;
using tinyformer::usage_error;
using tinyformer::vocabulary;
using tinyformer::detail::decode_utf8;

// A folder of its own under the system's temporary folder, removed with everything in it.
struct temp_dir {
    fs::path path;
    temp_dir() {
        const auto tick = std::chrono::steady_clock::now().time_since_epoch().count();
        path = fs::temp_directory_path() / ("tinyformer_test_data_" + std::to_string(tick));
        fs::create_directories(path);
    }
    ~temp_dir() {
        std::error_code ignored;
        fs::remove_all(path, ignored);
    }
    std::string write(const std::string& name, const std::string& bytes) const {
        const fs::path file = path / name;
        std::ofstream(file, std::ios::binary) << bytes;
        return file.string();
    }
};

std::string shakespeare_path() {
#ifdef TINYFORMER_SOURCE_ROOT
    return std::string(TINYFORMER_SOURCE_ROOT) + "/data/tinyshakespeare.txt";
#else
    return "data/tinyshakespeare.txt";
#endif
}

// n characters that are all distinct (U+0100, U+0101, ...), so that an id is a position.
std::string distinct_text(std::size_t n) {
    std::u32string text;
    for (std::size_t i = 0; i < n; ++i) text.push_back(static_cast<char32_t>(0x100 + i));
    return tinyformer::detail::encode_utf8(text);
}

const std::string bom = "\xEF\xBB\xBF";

const char* const multilingual =
    "Hello, world! Grüße, café. Привет, мир. Γειά σου. שלום. مرحبا. नमस्ते. "
    "你好，世界。こんにちは。안녕하세요. 🙂🚀 𝄞 \t end\n";

}  // namespace

TEST_CASE("utf8: decodes 1-, 2-, 3- and 4-byte characters") {
    CHECK(decode_utf8("a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80", "t") ==
          std::u32string{U'a', 0xE9, 0x20AC, 0x1F600});
    CHECK(decode_utf8("", "t").empty());
    // the edges of each length, and either side of the surrogates
    const std::u32string edges = {0x0,    0x7F,   0x80,   0x7FF,   0x800,
                                  0xD7FF, 0xE000, 0xFFFF, 0x10000, 0x10FFFF};
    const std::string bytes = tinyformer::detail::encode_utf8(edges);
    CHECK(bytes == std::string("\x00\x7F\xC2\x80\xDF\xBF\xE0\xA0\x80\xED\x9F\xBF\xEE\x80\x80"
                               "\xEF\xBF\xBF\xF0\x90\x80\x80\xF4\x8F\xBF\xBF",
                               26));
    CHECK(decode_utf8(bytes, "t") == edges);
}

TEST_CASE("utf8: a leading byte-order mark is skipped, a later one is a character") {
    CHECK(decode_utf8(bom + "ab", "t") == U"ab");
    CHECK(decode_utf8(bom, "t").empty());
    CHECK(decode_utf8("a\xEF\xBB\xBF", "t") == std::u32string{U'a', 0xFEFF});
}

TEST_CASE("utf8: malformed input is a data_error naming byte, line and column") {
    auto fails = [](const std::string& bytes) { (void)decode_utf8(bytes, "t.txt"); };
    CHECK_THROWS_WITH_AS(fails("ab\x9f"),
                         "t.txt: invalid UTF-8 at byte 2 (line 1, column 3): unexpected "
                         "continuation byte 0x9f",
                         data_error);
    // the column counts characters, not bytes; the line starts after '\n'
    CHECK_THROWS_WITH_AS(fails("x\ny\xC3\xA9z\x80"),
                         "t.txt: invalid UTF-8 at byte 6 (line 2, column 4): unexpected "
                         "continuation byte 0x80",
                         data_error);
    // the byte-order mark counts in the bytes but is not a character
    CHECK_THROWS_WITH_AS(fails(bom + "a\xFF"),
                         "t.txt: invalid UTF-8 at byte 4 (line 1, column 2): byte 0xff never "
                         "appears in UTF-8",
                         data_error);
    CHECK_THROWS_WITH_AS(fails("\xC0\xAF"),
                         "t.txt: invalid UTF-8 at byte 0 (line 1, column 1): overlong encoding "
                         "0xc0 0xaf of U+002F",
                         data_error);
    CHECK_THROWS_WITH_AS(fails("\xE0\x80\xAF"),
                         "t.txt: invalid UTF-8 at byte 0 (line 1, column 1): overlong encoding "
                         "0xe0 0x80 0xaf of U+002F",
                         data_error);
    CHECK_THROWS_WITH_AS(fails("\xF0\x82\x82\xAC"),
                         "t.txt: invalid UTF-8 at byte 0 (line 1, column 1): overlong encoding "
                         "0xf0 0x82 0x82 0xac of U+20AC",
                         data_error);
    CHECK_THROWS_WITH_AS(fails("a\xED\xA0\x80"),
                         "t.txt: invalid UTF-8 at byte 1 (line 1, column 2): encoded surrogate "
                         "U+D800 (0xed 0xa0 0x80) is not a character",
                         data_error);
    CHECK_THROWS_WITH_AS(fails("\xED\xBF\xBF"),
                         "t.txt: invalid UTF-8 at byte 0 (line 1, column 1): encoded surrogate "
                         "U+DFFF (0xed 0xbf 0xbf) is not a character",
                         data_error);
    CHECK_THROWS_WITH_AS(fails("\xF4\x90\x80\x80"),
                         "t.txt: invalid UTF-8 at byte 0 (line 1, column 1): code point "
                         "U+110000 (0xf4 0x90 0x80 0x80) is above U+10FFFF",
                         data_error);
    CHECK_THROWS_WITH_AS(fails("\xF7\xBF\xBF\xBF"),
                         "t.txt: invalid UTF-8 at byte 0 (line 1, column 1): code point "
                         "U+1FFFFF (0xf7 0xbf 0xbf 0xbf) is above U+10FFFF",
                         data_error);
    CHECK_THROWS_WITH_AS(fails("ab\xE2\x82"),
                         "t.txt: invalid UTF-8 at byte 2 (line 1, column 3): incomplete 3-byte "
                         "sequence 0xe2 0x82 at the end of the text",
                         data_error);
    CHECK_THROWS_WITH_AS(fails("\xF0"),
                         "t.txt: invalid UTF-8 at byte 0 (line 1, column 1): incomplete 4-byte "
                         "sequence 0xf0 at the end of the text",
                         data_error);
    CHECK_THROWS_WITH_AS(fails("\n\n\xE2\x82\x41"),
                         "t.txt: invalid UTF-8 at byte 2 (line 3, column 1): incomplete 3-byte "
                         "sequence 0xe2 0x82 followed by 0x41, which is not a continuation byte",
                         data_error);
    CHECK_THROWS_WITH_AS(fails("\xC3\xC3\xA9"),
                         "t.txt: invalid UTF-8 at byte 0 (line 1, column 1): incomplete 2-byte "
                         "sequence 0xc3 followed by 0xc3, which is not a continuation byte",
                         data_error);
}

TEST_CASE("utf8: encoding refuses surrogates and values above U+10FFFF") {
    CHECK(tinyformer::detail::encode_utf8(U'\u00E9') == "\xC3\xA9");
    CHECK_THROWS_WITH_AS(tinyformer::detail::encode_utf8(char32_t{0xD800}),
                         "append_utf8: U+D800 is not a Unicode character", usage_error);
    CHECK_THROWS_WITH_AS(tinyformer::detail::encode_utf8(char32_t{0x110000}),
                         "append_utf8: U+110000 is not a Unicode character", usage_error);
}

TEST_CASE("utf8: the complete prefix holds back only an unfinished character") {
    using tinyformer::detail::utf8_complete_length;
    using tinyformer::detail::utf8_ends_complete;
    CHECK(utf8_complete_length("") == 0);
    CHECK(utf8_complete_length("ab") == 2);
    CHECK(utf8_complete_length("a\xC3") == 1);
    CHECK(utf8_complete_length("a\xC3\xA9") == 3);
    CHECK(utf8_complete_length("a\xE2\x82") == 1);
    CHECK(utf8_complete_length("\xF0\x9F\x98") == 0);
    CHECK(utf8_complete_length("\xF0\x9F\x98\x80") == 4);
    // malformed bytes never complete, so they are not held back
    CHECK(utf8_complete_length("a\xFF") == 2);
    CHECK(utf8_complete_length("\x80\x80\x80\x80") == 4);
    CHECK(utf8_ends_complete("a\xE2\x82\xAC"));
    CHECK_FALSE(utf8_ends_complete("a\xE2\x82"));

    // fed one byte at a time, the complete prefixes are whole characters and add up to all
    const std::string all = multilingual;
    std::string pending, emitted;
    std::size_t chunks = 0;
    for (char byte : all) {
        pending.push_back(byte);
        const std::size_t n = utf8_complete_length(pending);
        if (n == 0) continue;
        CHECK_NOTHROW((void)decode_utf8(pending.substr(0, n), "chunk"));
        emitted += pending.substr(0, n);
        pending.erase(0, n);
        ++chunks;
    }
    CHECK(pending.empty());
    CHECK(emitted == all);
    CHECK(chunks == decode_utf8(all, "t").size());
}

TEST_CASE("utf8: characters in messages are quoted or escaped") {
    using tinyformer::detail::quote_character;
    CHECK(quote_character(U'a') == "'a'");
    CHECK(quote_character(U'\u00E9') == "'\xC3\xA9'");
    CHECK(quote_character(U'\n') == "'\\n'");
    CHECK(quote_character(U'\t') == "'\\t'");
    CHECK(quote_character(U'\'') == "'\\''");
    CHECK(quote_character(U'\\') == "'\\\\'");
    CHECK(quote_character(char32_t{0}) == "U+0000");
    CHECK(quote_character(char32_t{0x7F}) == "U+007F");
    CHECK(quote_character(char32_t{0xA0}) == "U+00A0");
    CHECK(quote_character(char32_t{0xFEFF}) == "U+FEFF");
    CHECK(tinyformer::quote_characters(U"abc", 2) == "'a', 'b', and 1 more");
}

TEST_CASE("vocabulary: sorted distinct characters, round trip on many scripts") {
    const vocabulary v = vocabulary::from_text(std::string(multilingual), "t");
    const std::u32string text = decode_utf8(multilingual, "t");
    const std::u32string& chars = v.characters();
    CHECK(std::is_sorted(chars.begin(), chars.end()));
    CHECK(std::adjacent_find(chars.begin(), chars.end()) == chars.end());
    CHECK(std::all_of(text.begin(), text.end(), [&](char32_t c) { return v.contains(c); }));

    const std::vector<std::int32_t> ids = v.encode(std::string(multilingual));
    CHECK(ids.size() == text.size());
    CHECK(ids == v.encode(text));
    CHECK(v.decode(ids) == multilingual);
    for (std::size_t i = 0; i < ids.size(); ++i) CHECK(v.character(ids[i]) == text[i]);

    CHECK_FALSE(v.contains(U'Z'));
    CHECK(v.find(U'Z') == -1);
    CHECK(v.find(U'\t') == 0);  // the smallest code point in the text
    CHECK(v.find(U'\U0001F680') == static_cast<std::int32_t>(v.size()) - 1);  // the rocket
}

TEST_CASE("vocabulary: ids follow code point order") {
    const vocabulary v = vocabulary::from_text(U"banana\u00E9!");
    CHECK(v.size() == 5);
    CHECK(v.characters() == U"!abn\u00E9");
    CHECK(v.alphabet() == "!abn\xC3\xA9");
    CHECK(v.encode(U"nab\u00E9") == std::vector<std::int32_t>{3, 1, 2, 4});
    CHECK(vocabulary().size() == 0);
}

TEST_CASE("vocabulary: rebuilt from its alphabet") {
    const vocabulary v = vocabulary::from_text(std::string(multilingual), "t");
    const vocabulary w = vocabulary::from_alphabet(v.alphabet(), "model.json");
    CHECK(w == v);
    CHECK(w.decode(v.encode(std::string(multilingual))) == multilingual);
}

TEST_CASE("vocabulary: a bad alphabet is a data_error") {
    CHECK_THROWS_WITH_AS(vocabulary::from_alphabet("abca", "model.json"),
                         "model.json: the alphabet has the character 'a' more than once",
                         data_error);
    CHECK_THROWS_WITH_AS(vocabulary::from_alphabet("\n\n", "model.json"),
                         "model.json: the alphabet has the character '\\n' more than once",
                         data_error);
    CHECK_THROWS_WITH_AS(vocabulary::from_alphabet("acb", "model.json"),
                         "model.json: the alphabet is not in code point order: 'b' (character "
                         "3) comes after 'c'",
                         data_error);
    CHECK_THROWS_WITH_AS(vocabulary::from_alphabet("", "model.json"),
                         "model.json: the alphabet is empty", data_error);
    CHECK_THROWS_WITH_AS(vocabulary::from_alphabet("ab\xC3", "model.json"),
                         "model.json: invalid UTF-8 at byte 2 (line 1, column 3): incomplete "
                         "2-byte sequence 0xc3 at the end of the text",
                         data_error);
}

TEST_CASE("vocabulary: unknown characters and ids are usage errors") {
    const vocabulary v = vocabulary::from_text(U"abc");
    CHECK_THROWS_WITH_AS(v.encode(U"abz"),
                         "vocabulary::encode: the character 'z' (character 3 of the text) is not "
                         "in the vocabulary",
                         usage_error);
    CHECK_THROWS_WITH_AS(v.decode(std::vector<std::int32_t>{0, 3}),
                         "vocabulary::decode: id 3 (position 1) is outside [0, 3)", usage_error);
    CHECK_THROWS_WITH_AS(v.decode(std::vector<std::int32_t>{-1}),
                         "vocabulary::decode: id -1 (position 0) is outside [0, 3)", usage_error);
    CHECK_THROWS_WITH_AS(v.character(3), "vocabulary::character: id 3 is outside [0, 3)",
                         usage_error);
}

TEST_CASE("vocabulary: encode_known drops unknown characters and names them") {
    const vocabulary v = vocabulary::from_text(U"helo wrd");
    const tinyformer::encoded_text e = v.encode_known("h\xC3\xA9llo w\xC3\xB6rld \xC3\xB6!");
    CHECK(v.decode(e.ids) == "hllo wrld ");
    CHECK(e.dropped == U"\u00E9\u00F6!");
    CHECK(e.dropped_count == 4);
    CHECK(tinyformer::quote_characters(e.dropped) == "'\xC3\xA9', '\xC3\xB6', '!'");

    const tinyformer::encoded_text all = v.encode_known("hello");
    CHECK(all.ids == v.encode(U"hello"));
    CHECK(all.dropped.empty());
    CHECK(all.dropped_count == 0);
}

TEST_CASE("text_data: the shipped TinyShakespeare has 65 characters") {
    const text_data data = text_data::load(shakespeare_path(), 65, 256);
    CHECK(data.vocab().size() == 65);
    CHECK(data.size() == 1115394);
    CHECK(data.train_size() == 1003854);
    CHECK(data.validation_size() == 111540);
    CHECK(data.vocab().alphabet() ==
          "\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");
    CHECK(data.vocab().decode(data.train_ids(), 14) == "First Citizen:");
    CHECK_THROWS_WITH_AS(
        text_data::load(shakespeare_path(), 64, 8),
        (shakespeare_path() + ": the text has 65 distinct characters, but this model was built "
                              "for at most 64 (its Vocab); the 1 character past the limit, by "
                              "code point: 'z'")
            .c_str(),
        data_error);
}

TEST_CASE("text_data: the first 90% train, the last 10% validate") {
    // 106 characters: 95 train, 11 validate
    const std::string abc = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    const std::string text = abc + abc.substr(0, 44);
    const text_data data = text_data::from_string(text, "mem", 80, 8);
    CHECK(data.size() == 106);
    CHECK(data.train_size() == 95);
    CHECK(data.validation_size() == 11);
    CHECK(data.vocab().decode(data.validation_ids(), 11) == "HIJKLMNOPQR");
    CHECK(data.vocab().decode(data.ids()) == text);
    CHECK(data.block_size() == 8);
    CHECK(data.name() == "mem");
}

TEST_CASE("text_data: minimum_length is the shortest text both parts accept") {
    for (std::size_t T : {1, 2, 3, 7, 8, 33}) {
        CAPTURE(T);
        const std::size_t n = text_data::minimum_length(T);
        CHECK_NOTHROW(text_data::from_string(std::string(n, 'a'), "mem", 1, T));
        CHECK_THROWS_AS(text_data::from_string(std::string(n - 1, 'a'), "mem", 1, T), data_error);
    }
}

TEST_CASE("text_data: a text too short or too varied is a data_error") {
    CHECK_THROWS_WITH_AS(text_data::from_string("", "mem.txt", 65, 8),
                         "mem.txt: the text is empty; at least 81 characters are needed "
                         "(BlockSize 8)",
                         data_error);
    CHECK_THROWS_WITH_AS(text_data::from_string(bom, "mem.txt", 65, 8),
                         "mem.txt: the text is empty; at least 81 characters are needed "
                         "(BlockSize 8)",
                         data_error);
    CHECK_THROWS_WITH_AS(text_data::from_string("abcde", "mem.txt", 65, 8),
                         "mem.txt: the training part (the first 90% of the text) has 4 "
                         "characters, fewer than one window of 9 (BlockSize 8 + 1); the text "
                         "has 5, at least 81 are needed",
                         data_error);
    CHECK_THROWS_WITH_AS(text_data::from_string(std::string(80, 'a'), "mem.txt", 65, 8),
                         "mem.txt: the validation part (the last 10% of the text) has 8 "
                         "characters, fewer than one window of 9 (BlockSize 8 + 1); the text "
                         "has 80, at least 81 are needed",
                         data_error);
    CHECK_THROWS_WITH_AS(text_data::from_string("abc\xC2\xA0\xC3\xA9", "mem.txt", 3, 8),
                         "mem.txt: the text has 5 distinct characters, but this model was "
                         "built for at most 3 (its Vocab); the 2 characters past the limit, by "
                         "code point: U+00A0, '\xC3\xA9'",
                         data_error);
    CHECK_THROWS_WITH_AS(text_data::from_string(distinct_text(20), "mem.txt", 5, 1),
                         "mem.txt: the text has 20 distinct characters, but this model was "
                         "built for at most 5 (its Vocab); the 15 characters past the limit, by "
                         "code point: '\xC4\x85', '\xC4\x86', '\xC4\x87', '\xC4\x88', "
                         "'\xC4\x89', '\xC4\x8A', '\xC4\x8B', '\xC4\x8C', '\xC4\x8D', "
                         "'\xC4\x8E', and 5 more",
                         data_error);
    CHECK_THROWS_WITH_AS(text_data::from_string("ab", "mem.txt", 65, 0),
                         "text_data: the vocabulary limit and the block size must be >= 1",
                         usage_error);
}

TEST_CASE("text_data: file errors name the path") {
    const temp_dir dir;
    const std::string missing = (dir.path / "missing.txt").string();
    CHECK_THROWS_WITH_AS(text_data::load(missing, 65, 8),
                         (missing + ": cannot open the file: No such file or directory").c_str(),
                         data_error);
    const std::string folder = dir.path.string();
    CHECK_THROWS_WITH_AS(text_data::load(folder, 65, 8),
                         (folder + ": cannot read the file: Is a directory").c_str(), data_error);

    const std::string empty = dir.write("data_empty.txt", "");
    CHECK_THROWS_WITH_AS(text_data::load(empty, 65, 8),
                         (empty + ": the text is empty; at least 81 characters are needed "
                                  "(BlockSize 8)")
                             .c_str(),
                         data_error);
    const std::string bad = dir.write("data_latin1.txt", "First line\ncaf\xE9 au lait\n");
    CHECK_THROWS_WITH_AS(text_data::load(bad, 65, 8),
                         (bad + ": invalid UTF-8 at byte 14 (line 2, column 4): incomplete "
                                "3-byte sequence 0xe9 followed by 0x20, which is not a "
                                "continuation byte")
                             .c_str(),
                         data_error);

    // a good file loads the same as the same text in memory
    const std::string text = bom + multilingual + multilingual;
    const std::string good = dir.write("data_good.txt", text);
    const text_data from_file = text_data::load(good, 200, 8);
    const text_data from_memory = text_data::from_string(text, "mem", 200, 8);
    CHECK(from_file.ids() == from_memory.ids());
    CHECK(from_file.vocab() == from_memory.vocab());
    CHECK(from_file.name() == good);
}

TEST_CASE("text_data: training windows lie in the training part, targets shift by one") {
    // all characters distinct, so a window's first id is where it starts
    const text_data data = text_data::from_string(distinct_text(200), "mem", 200, 8);
    const std::size_t T = 8, B = 50, starts = data.train_size() - T;  // 180 - 8 = 172
    std::vector<std::int32_t> tokens(B * T), targets(B * T);
    std::vector<int> hits(starts, 0);
    tinyformer::rng gen(7);
    for (int round = 0; round < 200; ++round) {
        data.sample_batch(gen, B, tokens.data(), targets.data());
        for (std::size_t b = 0; b < B; ++b) {
            const std::int32_t start = tokens[b * T];
            REQUIRE(start >= 0);
            REQUIRE(static_cast<std::size_t>(start) < starts);
            ++hits[static_cast<std::size_t>(start)];
            for (std::size_t t = 0; t < T; ++t) {
                CHECK(tokens[b * T + t] == start + static_cast<std::int32_t>(t));
                CHECK(targets[b * T + t] == start + static_cast<std::int32_t>(t) + 1);
            }
        }
    }
    // 10000 draws over 172 starts: each, the first and the last included, is drawn
    CHECK(std::all_of(hits.begin(), hits.end(), [](int h) { return h > 0; }));
}

TEST_CASE("text_data: the same seed gives the same batch") {
    const text_data data = text_data::load(shakespeare_path(), 65, 64);
    const std::size_t B = 16, T = 64;
    std::vector<std::int32_t> x1(B * T), y1(B * T), x2(B * T), y2(B * T), x3(B * T), y3(B * T);
    tinyformer::rng a(1337), b(1337), c(1338);
    data.sample_batch(a, B, x1.data(), y1.data());
    data.sample_batch(b, B, x2.data(), y2.data());
    data.sample_batch(c, B, x3.data(), y3.data());
    CHECK(x1 == x2);
    CHECK(y1 == y2);
    CHECK(x1 != x3);
    CHECK(a == b);
    CHECK_THROWS_WITH_AS(data.sample_batch(a, 0, x1.data(), y1.data()),
                         "text_data::sample_batch: needs B >= 1 and two (B, T) buffers",
                         usage_error);
}

TEST_CASE("text_data: validation windows are fixed by the seed and cover the part") {
    // 1000 distinct characters: the validation part is ids 900..999, 92 possible starts
    const text_data data = text_data::from_string(distinct_text(1000), "mem", 1000, 8);
    const std::size_t T = 8, span = data.validation_size() - T;
    const tinyformer::text_windows w = data.validation_windows(10, 42);
    CHECK(w.count == 10);
    CHECK(w.block_size == T);
    REQUIRE(w.tokens.size() == 10 * T);
    REQUIRE(w.targets.size() == 10 * T);
    CHECK(std::is_sorted(w.starts.begin(), w.starts.end()));
    for (std::size_t i = 0; i < w.count; ++i) {
        CAPTURE(i);
        // window i comes from stratum i of the starts
        CHECK(w.starts[i] >= i * span / 10);
        CHECK(w.starts[i] < (i + 1) * span / 10);
        for (std::size_t t = 0; t < T; ++t) {
            const auto id = static_cast<std::int32_t>(900 + w.starts[i] + t);
            CHECK(w.tokens[i * T + t] == id);
            CHECK(w.targets[i * T + t] == id + 1);
        }
    }
    const tinyformer::text_windows again = data.validation_windows(10, 42);
    CHECK(again.starts == w.starts);
    CHECK(again.tokens == w.tokens);
    CHECK(data.validation_windows(10, 43).starts != w.starts);

    // more windows than starts: some repeat, none goes past the part
    const tinyformer::text_windows many = data.validation_windows(500, 1);
    CHECK(many.starts.back() == span - 1);
    CHECK(std::all_of(many.starts.begin(), many.starts.end(),
                      [&](std::size_t s) { return s < span; }));
    CHECK_THROWS_WITH_AS(data.validation_windows(0, 1),
                         "text_data::validation_windows: count must be >= 1", usage_error);
}

TEST_CASE("text_data: a model's alphabet must be the text's") {
    const text_data data = text_data::from_string(
        std::string(50, 'a') + std::string(50, 'b') + "\xC3\xA9\xC3\xBC", "data.txt", 65, 8);
    CHECK_NOTHROW(data.require_alphabet(vocabulary::from_alphabet("ab\xC3\xA9\xC3\xBC")));
    CHECK_THROWS_WITH_AS(data.require_alphabet(vocabulary::from_alphabet("Qab")),
                         "data.txt: the text's characters are not the model's alphabet: 2 "
                         "characters of the text are not in the model ('\xC3\xA9', "
                         "'\xC3\xBC'); 1 character of the model is not in the text ('Q')",
                         data_error);
    CHECK_THROWS_WITH_AS(data.require_alphabet(vocabulary::from_alphabet("\nab\xC3\xA9\xC3\xBC")),
                         "data.txt: the text's characters are not the model's alphabet: 1 "
                         "character of the model is not in the text ('\\n')",
                         data_error);
}
