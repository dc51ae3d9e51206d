// tinyformer/model_file.hpp: a model, and optionally the state of its training, in one JSON file.
//
//   tinyformer::model_file<Model> file{"small", vocab.alphabet(), std::move(params), {}};
//   tinyformer::save_model_file("model.json", file);       // atomic: old or new, never half
//   auto back = tinyformer::load_model_file<Model>("model.json");  // file_error when bad
//   auto head = tinyformer::read_model_header("model.json");       // no Config needed
//
// The file is one JSON object, written in this order (one tensor a line):
//   "format": "tinyformer-model", "version": 1, "preset", "config": {vocab, block, embed,
//   heads, layers, hidden, activation, scalar}, "alphabet" (UTF-8), "checksum",
//   "training": null or {iteration, seed, batch_size, data_rng, last_train_loss,
//   last_val_loss, best_val_loss, schedule: {...}, adamw: {..., step_count, m, v}},
//   "params": {name: {"shape": [...], "data": [...]}, ...} in Model::visit order.
// Numbers are written in the shortest form that reads back to the same bits in the model's
// scalar type, so save, load and save again gives the same bytes. The checksum (FNV-1a 64)
// covers the bits of every number, the texts and the training fields; load verifies it.
#pragma once

#include <cerrno>    // errno
#include <cstddef>   // std::size_t
#include <cstdint>   // std::uint64_t, std::uintmax_t
#include <cstdio>    // std::FILE, fdopen, std::fclose: reading a header
#include <limits>    // std::numeric_limits
#include <memory>    // std::unique_ptr, std::make_unique
#include <optional>  // std::optional
#include <string>    // std::string

#include <unistd.h>  // close

#include <nlohmann/json.hpp>  // nlohmann::json: the text of every number and string

#include "config.hpp"
#include "detail/atomic_file.hpp"
#include "detail/checksum.hpp"
#include "detail/model_fields.hpp"
#include "detail/model_json.hpp"
#include "detail/model_training.hpp"
#include "error.hpp"
#include "optimizer.hpp"
#include "random.hpp"
#include "schedule.hpp"
#include "vocabulary.hpp"

namespace tinyformer {

// The format's name and the version this program writes and reads.
inline constexpr const char* model_format = "tinyformer-model";
inline constexpr int model_format_version = 1;

// A Config's sizes as values, as a model file's "config" holds them.
struct model_config {
    std::size_t vocab = 0, block = 0, embed = 0, heads = 0, layers = 0, hidden = 0;
    std::string activation;  // "gelu_tanh" or "relu"
    std::string scalar;      // "float" or "double"

    template <class Cfg>
    static model_config of() {
        return {Cfg::Vocab,
                Cfg::BlockSize,
                Cfg::EmbedSize,
                Cfg::Heads,
                Cfg::Layers,
                Cfg::Hidden,
                activation_name(Cfg::Activation),
                detail::scalar_name<typename Cfg::value_type>()};
    }

    // parameter_count<Cfg>() for these sizes
    std::size_t parameter_count() const {
        const std::size_t C = embed, F = hidden;
        const std::size_t per_block =
            2 * C + 3 * C * C + 3 * C + C * C + C + 2 * C + F * C + F + C * F + C;
        return vocab * C + block * C + layers * per_block + 2 * C;
    }

    bool operator==(const model_config& o) const {
        return vocab == o.vocab && block == o.block && embed == o.embed && heads == o.heads &&
               layers == o.layers && hidden == o.hidden && activation == o.activation &&
               scalar == o.scalar;
    }
    bool operator!=(const model_config& o) const { return !(*this == o); }
};

// What a training file adds to a model: everything needed to go on exactly where it stopped.
template <class Model>
struct training_record {
    using Params = typename Model::Params;
    static constexpr double none = std::numeric_limits<double>::quiet_NaN();

    std::uint64_t iteration = 0;    // iterations done
    std::uint64_t seed = 0;         // the run's seed
    std::uint64_t batch_size = 0;   // B
    std::string data_rng;           // rng::state() of the generator that draws the batches
    double last_train_loss = none;  // NaN: none yet (stored as null)
    double last_val_loss = none;
    double best_val_loss = none;
    lr_schedule schedule{};
    adamw_options optimizer{};
    std::unique_ptr<Params> moments1;  // AdamW's first moment, laid out as Params
    std::unique_ptr<Params> moments2;  // AdamW's second moment
    std::uint64_t step_count = 0;      // AdamW steps taken (its bias correction)
};

// A model file: the preset's name, the vocabulary's alphabet, the parameters, and in a
// training file the training record.
template <class Model>
struct model_file {
    std::string preset;    // a name for the Config ("small"); any text
    std::string alphabet;  // vocabulary::alphabet(): UTF-8, sorted, at most Vocab characters
    std::unique_ptr<typename Model::Params> params;
    std::optional<training_record<Model>> training;
};

// What read_model_header finds at the top of a model file, without knowing its Config.
struct model_header {
    std::string format;  // "tinyformer-model"
    int version = 0;     // of the format
    std::string preset;
    model_config config;          // the sizes the file was made for
    std::string alphabet;         // UTF-8
    std::size_t characters = 0;   // in the alphabet
    bool has_training = false;    // a training file
    std::uint64_t iteration = 0;  // iterations trained (0 without training)
    double last_train_loss = std::numeric_limits<double>::quiet_NaN();  // NaN: none
    double last_val_loss = std::numeric_limits<double>::quiet_NaN();
    double best_val_loss = std::numeric_limits<double>::quiet_NaN();
    std::size_t parameter_count = 0;  // of the model its config describes
    std::uintmax_t file_size = 0;     // bytes
};

// The optimizer part of a training record: its options, a copy of its moments, its steps.
template <class Model>
void store_optimizer(training_record<Model>& record, const adamw<Model>& opt) {
    using Params = typename Model::Params;
    record.optimizer = opt.options();
    if (!record.moments1) record.moments1 = std::make_unique<Params>();
    if (!record.moments2) record.moments2 = std::make_unique<Params>();
    *record.moments1 = opt.moments1();
    *record.moments2 = opt.moments2();
    record.step_count = opt.step_count();
}

// An AdamW that goes on where the recorded one stopped.
template <class Model>
adamw<Model> restore_optimizer(const training_record<Model>& record) {
    if (!record.moments1 || !record.moments2) {
        throw usage_error("restore_optimizer: the training record has no moments");
    }
    adamw<Model> opt(record.optimizer);
    opt.moments1() = *record.moments1;
    opt.moments2() = *record.moments2;
    opt.set_step_count(static_cast<std::size_t>(record.step_count));
    return opt;
}

namespace detail {

// The top level of a parsed model file, once it is known to be this format and version.
inline model_fields check_format(const std::string& path, const nlohmann::json& root) {
    if (!root.is_object()) {
        throw file_error(path + ": expected a JSON object (a tinyformer model), found " +
                         describe(root));
    }
    const model_fields top(path, "", root);
    const std::string expected = std::string("\"") + model_format + "\"";
    if (!top.has("format")) {
        top.fail("expected \"format\": " + expected + ", found no \"format\" (not a model file)");
    }
    const nlohmann::json& format = top.get("format", "a string");
    if (format != model_format) {
        top.fail("expected format " + expected + ", found " + describe(format));
    }
    const std::uint64_t version = top.whole("version");
    if (version > std::uint64_t(model_format_version)) {
        top.fail("the file is format version " + std::to_string(version) +
                 ", this program reads version " + std::to_string(model_format_version) +
                 " (a newer tinyformer wrote it)");
    }
    if (version != std::uint64_t(model_format_version)) {
        top.fail("expected format version " + std::to_string(model_format_version) + ", found " +
                 std::to_string(version));
    }
    return top;
}

// "config", its fields checked one by one.
inline model_config read_config(const model_fields& c) {
    c.only({"vocab", "block", "embed", "heads", "layers", "hidden", "activation", "scalar"});
    model_config config;
    auto size = [&c](const char* key) {
        const std::uint64_t n = c.whole(key);
        if (n == 0) c.wrong(key, "a whole number >= 1", c.get(key, ""));
        return static_cast<std::size_t>(n);
    };
    config.vocab = size("vocab");
    config.block = size("block");
    config.embed = size("embed");
    config.heads = size("heads");
    config.layers = size("layers");
    config.hidden = size("hidden");
    config.activation = c.text("activation");
    if (config.activation != "gelu_tanh" && config.activation != "relu") {
        c.wrong("activation", "\"gelu_tanh\" or \"relu\"", c.get("activation", ""));
    }
    config.scalar = c.text("scalar");
    if (config.scalar != "float" && config.scalar != "double") {
        c.wrong("scalar", "\"float\" or \"double\"", c.get("scalar", ""));
    }
    return config;
}

// The file's "config" against the compiled one, field by field.
inline void check_config(const model_fields& top, const model_config& built) {
    const model_config found = read_config(top.object("config"));
    auto compare = [&top](const char* name, const std::string& in_file, const std::string& ours) {
        if (in_file != ours) {
            top.fail(std::string("the file holds ") + name + " " + in_file +
                     ", this program was built for " + ours);
        }
    };
    using std::to_string;
    compare("vocab", to_string(found.vocab), to_string(built.vocab));
    compare("block", to_string(found.block), to_string(built.block));
    compare("embed", to_string(found.embed), to_string(built.embed));
    compare("heads", to_string(found.heads), to_string(built.heads));
    compare("layers", to_string(found.layers), to_string(built.layers));
    compare("hidden", to_string(found.hidden), to_string(built.hidden));
    compare("activation", found.activation, built.activation);
    compare("scalar", found.scalar, built.scalar);
}

// "alphabet": a vocabulary's, of at most max_characters characters; gives their count.
inline std::string read_alphabet(const model_fields& top, std::size_t max_characters,
                                 std::size_t* characters = nullptr) {
    const std::string alphabet = top.text("alphabet");
    std::size_t n = 0;
    try {
        n = vocabulary::from_alphabet(alphabet, top.file()).size();
    } catch (const data_error& e) {
        throw file_error(e.what());
    }
    if (n > max_characters) {
        top.fail("the alphabet has " + std::to_string(n) +
                 " characters, this program was built for at most " +
                 std::to_string(max_characters) + " (Vocab)");
    }
    if (characters) *characters = n;
    return alphabet;
}

// "config" into the text of a model file
inline void append_config(std::string& out, const model_config& c) {
    out += "\"config\":{";
    append_member(out, "vocab", c.vocab);
    append_member(out, "block", c.block);
    append_member(out, "embed", c.embed);
    append_member(out, "heads", c.heads);
    append_member(out, "layers", c.layers);
    append_member(out, "hidden", c.hidden);
    append_member(out, "activation", c.activation);
    append_member(out, "scalar", c.scalar, "},\n");
}

// True once a header has everything read_model_header wants (in the order save writes,
// that is before the first tensor), so the rest need not be read.
inline bool header_complete(const nlohmann::json& root) {
    if (!root.is_object()) return false;
    for (const char* key : {"format", "version", "preset", "config", "alphabet", "training"}) {
        if (!root.contains(key)) return false;
    }
    const nlohmann::json& training = root["training"];
    if (!training.is_object()) return true;
    for (const char* key : {"iteration", "last_train_loss", "last_val_loss", "best_val_loss"}) {
        if (!training.contains(key)) return false;
    }
    return true;
}

}  // namespace detail

// Writes the model file at path atomically: the old file, if any, stays whole until the new
// one is complete on disk. A usage_error (nothing written) when the file cannot be saved as
// given: no params, a bad alphabet, a number that is not finite. A file_error naming path and
// the OS error when the writing fails.
template <class Model>
void save_model_file(const std::string& path, const model_file<Model>& file) {
    using Cfg = typename Model::config;
    using T = typename Model::value_type;
    detail::check_for_save(path, file);
    std::string out;
    out.reserve(parameter_count<Cfg>() * (file.training ? 3 : 1) * 14 + 4096);
    out += '{';
    detail::append_member(out, "format", model_format);
    detail::append_member(out, "version", model_format_version);
    detail::append_member(out, "preset", file.preset, ",\n");
    detail::append_config(out, model_config::of<Cfg>());
    detail::append_member(out, "alphabet", file.alphabet, ",\n");
    detail::append_member(out, "checksum", detail::model_checksum(file), ",\n");
    out += "\"training\":";
    if (file.training) {
        detail::append_training(out, *file.training);
    } else {
        out += "null";
    }
    out += ",\n\"params\":";
    detail::append_tensors<Model, T>(out, *file.params);
    out += "}\n";
    detail::write_file_atomically(path, out);
}

// Reads a model file made for Model's Config. Every fault is a file_error naming path, what
// was expected and what was found: a missing or unreadable file, text that is not JSON or is
// cut short, another format or a newer version, another Config, a bad alphabet, a missing,
// unknown or repeated parameter, a wrong shape or count, a value that is not a finite number,
// a malformed training section, a checksum that does not match. Reading changes no file.
template <class Model>
model_file<Model> load_model_file(const std::string& path) {
    using Cfg = typename Model::config;
    using T = typename Model::value_type;
    using Params = typename Model::Params;
    std::string text = detail::read_whole_file(path);
    if (text.empty()) {
        throw file_error(path + ": the file is empty, expected a tinyformer model (JSON)");
    }
    detail::model_reader<T> in(path, text.size(), true);
    detail::json_with<T>::sax_parse(text.data(), text.data() + text.size(), &in);
    std::string().swap(text);  // the numbers are in `in` now: free the text
    // what it is, and for which Config
    const detail::model_fields top = detail::check_format(path, in.root());
    top.only(
        {"format", "version", "preset", "config", "alphabet", "checksum", "training", "params"});
    detail::check_config(top, model_config::of<Cfg>());
    model_file<Model> file;
    file.preset = top.text("preset");
    file.alphabet = detail::read_alphabet(top, Cfg::Vocab);
    const std::string stored = top.text("checksum");
    // the numbers
    file.params = std::make_unique<Params>();
    detail::read_tensors<Model>(top.object("params"), in.tensors(detail::params_group),
                                *file.params);
    if (top.has("training") && !top.value().at("training").is_null()) {
        file.training = detail::read_training<Model>(top.object("training"), in);
    }
    // last, the checksum: the file is well-formed, but is it what was saved?
    const std::string actual = detail::model_checksum(file);
    if (actual != stored) {
        throw file_error(path + ": the checksum does not match: the file says " + stored +
                         ", its contents give " + actual + " (the file was changed or damaged)");
    }
    return file;
}

// The format, preset, Config, alphabet and training progress of a model file, without its
// Config at compile time (to choose which compiled model to load, or to describe a file).
// Checks the header as load_model_file does; it does not read the tensors, so the numbers and
// the checksum are only verified by load_model_file. Stops reading at the first tensors when
// the header is complete, so it is fast on big files.
inline model_header read_model_header(const std::string& path) {
    std::size_t size = 0;
    const int fd = detail::open_to_read(path, size);
    std::FILE* stream = ::fdopen(fd, "rb");
    if (!stream) {
        const int error = errno;
        ::close(fd);
        throw file_error(path + ": cannot read the model file: " + detail::os_error_text(error));
    }
    if (size == 0) {
        std::fclose(stream);
        throw file_error(path + ": the file is empty, expected a tinyformer model (JSON)");
    }
    detail::model_reader<double> in(path, size, false);
    in.stop = [&in] { return detail::header_complete(in.root()); };
    try {
        nlohmann::json::sax_parse(stream, &in);
    } catch (...) {
        std::fclose(stream);
        throw;
    }
    std::fclose(stream);
    model_header h;
    const detail::model_fields top = detail::check_format(path, in.root());
    h.format = model_format;
    h.version = model_format_version;
    h.preset = top.text("preset");
    h.config = detail::read_config(top.object("config"));
    h.alphabet = detail::read_alphabet(top, std::numeric_limits<std::size_t>::max(), &h.characters);
    if (top.has("training") && !top.value().at("training").is_null()) {
        const detail::model_fields t = top.object("training");
        h.has_training = true;
        h.iteration = t.whole("iteration");
        h.last_train_loss = t.number_or_null("last_train_loss");
        h.last_val_loss = t.number_or_null("last_val_loss");
        h.best_val_loss = t.number_or_null("best_val_loss");
    }
    h.parameter_count = h.config.parameter_count();
    h.file_size = size;
    return h;
}

}  // namespace tinyformer
