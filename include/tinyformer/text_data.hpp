// tinyformer/text_data.hpp: a training text as token ids, split into training and validation
// parts, and the windows a trainer reads from them.
//
//   auto data = tinyformer::text_data::load("data/tinyshakespeare.txt", Cfg::Vocab,
//                                           Cfg::BlockSize);
//   data.sample_batch(gen, B, tokens, targets);   // tokens, targets: (B, T)
//
// The first 90% of the characters train, the last 10% validate. A window is BlockSize + 1
// consecutive ids: its first T are the tokens, its last T the targets (tokens shifted by one).
#pragma once

#include <algorithm>    // std::copy_n, std::set_difference
#include <cerrno>       // errno
#include <cstddef>      // std::size_t
#include <cstdint>      // std::int32_t, std::uint64_t
#include <cstdio>       // std::fopen, std::fread, std::ferror, std::fclose
#include <cstring>      // std::strerror
#include <iterator>     // std::back_inserter
#include <memory>       // std::unique_ptr, closes the file on every path
#include <string>       // std::string, std::u32string
#include <string_view>  // std::string_view
#include <utility>      // std::move
#include <vector>       // std::vector

#include "detail/utf8.hpp"
#include "error.hpp"
#include "random.hpp"
#include "vocabulary.hpp"

namespace tinyformer {

// A fixed set of windows, as whole batches: row i of tokens and targets is window i.
struct text_windows {
    std::size_t count = 0;              // number of windows
    std::size_t block_size = 0;         // T
    std::vector<std::size_t> starts;    // (count,) where each window starts in its part
    std::vector<std::int32_t> tokens;   // (count, T)
    std::vector<std::int32_t> targets;  // (count, T) tokens shifted by one
};

class text_data {
public:
    // Reads a UTF-8 file. Every fault is a data_error that begins with the path: the file is
    // missing or unreadable, not UTF-8, empty, has more than vocab_limit distinct characters,
    // or a part is shorter than one window of block_size + 1 characters.
    static text_data load(const std::string& path, std::size_t vocab_limit,
                          std::size_t block_size) {
        return text_data(read_file(path), path, vocab_limit, block_size);
    }

    // The same for a text in memory; name stands for the path in messages.
    static text_data from_string(std::string_view utf8, const std::string& name,
                                 std::size_t vocab_limit, std::size_t block_size) {
        return text_data(utf8, name, vocab_limit, block_size);
    }

    // The smallest text, in characters, whose two parts both hold a window of block_size + 1:
    // the last 10% (rounded up) must reach block_size + 1.
    static std::size_t minimum_length(std::size_t block_size) { return 10 * block_size + 1; }

    const std::string& name() const { return name_; }
    const vocabulary& vocab() const { return vocab_; }
    std::size_t block_size() const { return block_size_; }

    // Characters of the whole text and of each part.
    std::size_t size() const { return ids_.size(); }
    std::size_t train_size() const { return train_size_; }
    std::size_t validation_size() const { return ids_.size() - train_size_; }

    // (n,) the ids of the whole text, the training part first; and each part's first id.
    const std::vector<std::int32_t>& ids() const { return ids_; }
    const std::int32_t* train_ids() const { return ids_.data(); }
    const std::int32_t* validation_ids() const { return ids_.data() + train_size_; }

    // B random windows of the training part, each starting uniformly in
    // [0, train_size - T - 1]. tokens and targets are (B, T), row-major.
    void sample_batch(rng& gen, std::size_t B, std::int32_t* tokens, std::int32_t* targets) const {
        if (B == 0 || tokens == nullptr || targets == nullptr) {
            throw usage_error("text_data::sample_batch: needs B >= 1 and two (B, T) buffers");
        }
        const std::size_t T = block_size_;
        const std::uint64_t starts = train_size_ - T;  // at least 1: the constructor checked
        for (std::size_t b = 0; b < B; ++b) {
            const std::int32_t* window = ids_.data() + gen.below(starts);
            std::copy_n(window, T, tokens + b * T);
            std::copy_n(window + 1, T, targets + b * T);
        }
    }

    // count windows of the validation part, the same for the same seed: the part's possible
    // starts are cut into count strata of equal size (to within one) and one window is drawn
    // from each, so the set covers the whole part evenly; with more windows than starts, some
    // windows repeat.
    text_windows validation_windows(std::size_t count, std::uint64_t seed) const {
        if (count == 0) throw usage_error("text_data::validation_windows: count must be >= 1");
        const std::size_t T = block_size_;
        const std::size_t span = validation_size() - T;  // possible starts, at least 1
        rng gen(seed);
        text_windows w;
        w.count = count;
        w.block_size = T;
        w.starts.resize(count);
        w.tokens.resize(count * T);
        w.targets.resize(count * T);
        for (std::size_t i = 0; i < count; ++i) {
            // stratum i is [i·span/count, (i+1)·span/count), never past span - 1
            const std::size_t lo = i * span / count, hi = (i + 1) * span / count;
            const std::size_t start = lo + (hi > lo ? gen.below(hi - lo) : 0);
            w.starts[i] = start;
            std::copy_n(validation_ids() + start, T, w.tokens.data() + i * T);
            std::copy_n(validation_ids() + start + 1, T, w.targets.data() + i * T);
        }
        return w;
    }

    // A model trained on another text can go on only if its alphabet is this text's: the ids
    // mean the same characters. Otherwise a data_error lists the differences.
    void require_alphabet(const vocabulary& model) const {
        if (model == vocab_) return;
        const std::u32string& ours = vocab_.characters();
        const std::u32string& theirs = model.characters();
        std::u32string only_text, only_model;
        std::set_difference(ours.begin(), ours.end(), theirs.begin(), theirs.end(),
                            std::back_inserter(only_text));
        std::set_difference(theirs.begin(), theirs.end(), ours.begin(), ours.end(),
                            std::back_inserter(only_model));
        std::string msg = name_ + ": the text's characters are not the model's alphabet";
        const char* sep = ": ";
        if (!only_text.empty()) {
            msg += sep + count_of(only_text.size(), "character") + " of the text " +
                   (only_text.size() == 1 ? "is" : "are") + " not in the model (" +
                   quote_characters(only_text) + ")";
            sep = "; ";
        }
        if (!only_model.empty()) {
            msg += sep + count_of(only_model.size(), "character") + " of the model " +
                   (only_model.size() == 1 ? "is" : "are") + " not in the text (" +
                   quote_characters(only_model) + ")";
        }
        throw data_error(msg);
    }

private:
    text_data(std::string_view utf8, std::string name, std::size_t vocab_limit,
              std::size_t block_size)
        : name_(std::move(name)), block_size_(block_size) {
        if (vocab_limit == 0 || block_size == 0) {
            throw usage_error("text_data: the vocabulary limit and the block size must be >= 1");
        }
        const std::size_t needed = minimum_length(block_size);
        const std::u32string text = detail::decode_utf8(utf8, name_);
        if (text.empty()) {
            throw data_error(name_ + ": the text is empty; at least " + std::to_string(needed) +
                             " characters are needed (BlockSize " + std::to_string(block_size) +
                             ")");
        }

        // the vocabulary must fit the model's
        vocab_ = vocabulary::from_text(text);
        if (vocab_.size() > vocab_limit) {
            const std::u32string past = vocab_.characters().substr(vocab_limit);
            throw data_error(name_ + ": the text has " + std::to_string(vocab_.size()) +
                             " distinct characters, but this model was built for at most " +
                             std::to_string(vocab_limit) + " (its Vocab); the " +
                             count_of(past.size(), "character") +
                             " past the limit, by code point: " + quote_characters(past));
        }

        // the split: each part must hold one window
        const std::size_t n = text.size();
        train_size_ = n * 9 / 10;
        check_part("training part (the first 90% of the text)", train_size_, n);
        check_part("validation part (the last 10% of the text)", n - train_size_, n);
        ids_ = vocab_.encode(text);
    }

    void check_part(const char* part, std::size_t length, std::size_t n) const {
        if (length >= block_size_ + 1) return;
        throw data_error(name_ + ": the " + part + " has " + count_of(length, "character") +
                         ", fewer than one window of " + std::to_string(block_size_ + 1) +
                         " (BlockSize " + std::to_string(block_size_) + " + 1); the text has " +
                         std::to_string(n) + ", at least " +
                         std::to_string(minimum_length(block_size_)) + " are needed");
    }

    // "1 character", "3 characters".
    static std::string count_of(std::size_t n, const char* noun) {
        return std::to_string(n) + " " + noun + (n == 1 ? "" : "s");
    }

    // The whole file as bytes; a file that cannot be opened or read is a data_error.
    static std::string read_file(const std::string& path) {
        struct closer {
            void operator()(std::FILE* f) const { std::fclose(f); }
        };
        errno = 0;
        std::unique_ptr<std::FILE, closer> file(std::fopen(path.c_str(), "rb"));
        if (!file) throw data_error(path + ": cannot open the file: " + std::strerror(errno));
        // read in growing chunks straight into the string: works for pipes too
        std::string bytes;
        for (std::size_t chunk = 1 << 16;; chunk *= 2) {
            const std::size_t old = bytes.size();
            bytes.resize(old + chunk);
            const std::size_t got = std::fread(&bytes[old], 1, chunk, file.get());
            bytes.resize(old + got);
            if (got < chunk) break;
        }
        if (std::ferror(file.get())) {
            throw data_error(path + ": cannot read the file: " + std::strerror(errno));
        }
        return bytes;
    }

    std::string name_;               // the path, or the name given, for messages
    vocabulary vocab_;               // the text's sorted distinct characters
    std::size_t block_size_ = 0;     // T
    std::size_t train_size_ = 0;     // the first 90% of the characters (rounded down)
    std::vector<std::int32_t> ids_;  // (n,) the whole text as ids, training part first
};

}  // namespace tinyformer
