// tests/test_model_file.cpp: model files round-trip bit for bit, resist damage with clear
// messages, and survive a failed write.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

#include "doctest/doctest.h"
#include "tinyformer/model_file.hpp"
#include "tinyformer/optimizer.hpp"
#include "tinyformer/random.hpp"
#include "tinyformer/transformer.hpp"

using namespace tinyformer;

namespace {

// float, one head, one layer; double, ReLU, two heads and layers, an MLP width of 4·C
using FloatModel = Transformer<Config<7, 5, 12, 1, 1>>;
using DoubleModel = Transformer<Config<11, 8, 16, 2, 2, double, activation::relu, 64>>;

// A fresh folder under the temporary directory, removed with everything in it.
struct temp_folder {
    std::string path;
    temp_folder() {
        const char* base = std::getenv("TMPDIR");
        std::string pattern = std::string(base && *base ? base : "/tmp") + "/tf_model_XXXXXX";
        REQUIRE(::mkdtemp(&pattern[0]) != nullptr);
        path = pattern;
    }
    ~temp_folder() {
        std::error_code ignored;
        std::filesystem::permissions(path, std::filesystem::perms::owner_all,
                                     std::filesystem::perm_options::add, ignored);
        std::filesystem::remove_all(path, ignored);
    }
    std::string operator/(const std::string& name) const { return path + "/" + name; }
    // the names in the folder, sorted
    std::vector<std::string> names() const {
        std::vector<std::string> out;
        for (const auto& e : std::filesystem::directory_iterator(path)) {
            out.push_back(e.path().filename().string());
        }
        std::sort(out.begin(), out.end());
        return out;
    }
};

std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    REQUIRE(in.good());
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_text(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    REQUIRE(out.good());
}

// An alphabet of V characters (or fewer) in code point order, with characters JSON escapes
// and characters UTF-8 spends several bytes on.
template <class Model>
std::string alphabet_for() {
    if (Model::V == 7) return "\t\"\\a\xc3\xa9";  // tab, quote, backslash, a, é: 5 of 7
    return "\n \"\\abcxy\xc3\xa9\xe2\x82\xac";    // ..., é, €: 11 of 11
}

// Some parameters at the edges of the scalar type, the rest from the seed.
template <class Model>
std::unique_ptr<typename Model::Params> edge_params(std::uint64_t seed) {
    using T = typename Model::value_type;
    auto p = Model::make_params(seed);
    T* w = p->emb.wte.data();
    w[0] = std::numeric_limits<T>::denorm_min();
    w[1] = std::numeric_limits<T>::max();
    w[2] = -std::numeric_limits<T>::max();
    w[3] = T(-0.0);
    w[4] = T(1) / T(3);
    w[5] = std::numeric_limits<T>::min();
    w[6] = T(0.1);
    return p;
}

// True when every number of a and b has the same bits.
template <class Model>
bool same_bits(const typename Model::Params& a, const typename Model::Params& b) {
    bool same = true;
    Model::visit(
        [&](const std::string&, const auto& x, const auto& y) {
            same = same && std::memcmp(x.data(), y.data(), x.size() * sizeof(*x.data())) == 0;
        },
        a, b);
    return same;
}

// The logits of a fixed batch of two sequences.
template <class Model>
std::vector<typename Model::value_type> logits_of(const typename Model::Params& p) {
    const std::size_t B = 2, t = Model::BlockSize;
    std::vector<std::int32_t> tokens(B * t);
    rng gen(5);
    for (auto& id : tokens) id = static_cast<std::int32_t>(gen.below(Model::V));
    typename Model::Activations acts(B);
    Model::forward(p, acts, tokens.data(), nullptr, B, t);
    return std::vector<typename Model::value_type>(acts.logits(), acts.logits() + B * t * Model::V);
}

bool same_double(double a, double b) {
    return std::memcmp(&a, &b, sizeof a) == 0 || (std::isnan(a) && std::isnan(b));
}

// A training record from a few real AdamW steps, with every field set.
template <class Model>
training_record<Model> trained_record(typename Model::Params& p, adamw<Model>& opt) {
    auto grads = Model::make_grads();
    typename Model::Activations acts(2);
    std::vector<std::int32_t> tokens(2 * Model::BlockSize), targets(tokens.size());
    rng data(21);
    for (int step = 0; step < 3; ++step) {
        for (auto& id : tokens) id = static_cast<std::int32_t>(data.below(Model::V));
        for (auto& id : targets) id = static_cast<std::int32_t>(data.below(Model::V));
        zero_grads<Model>(*grads);
        Model::forward(p, acts, tokens.data(), targets.data(), 2, Model::BlockSize);
        Model::backward(p, *grads, acts);
        opt.step(p, *grads, 3e-3);
    }
    training_record<Model> r;
    r.iteration = 3;
    r.seed = 18446744073709551615ULL;
    r.batch_size = 2;
    r.data_rng = data.state();
    r.last_train_loss = 1.2345678901234567;
    r.last_val_loss = 0.1 + 0.2;
    // best_val_loss: none yet
    r.schedule = lr_schedule{3e-3, 1, 7, 1.0 / 3e5};
    store_optimizer(r, opt);
    return r;
}

// The message of the file_error that f throws ("" when it throws none).
template <class F>
std::string file_error_of(F&& f) {
    try {
        f();
    } catch (const file_error& e) {
        return e.what();
    }
    return "";
}

bool starts_with(const std::string& s, const std::string& prefix) {
    return s.compare(0, prefix.size(), prefix) == 0;
}
bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() &&
           s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Sets the write-fault hook for a scope.
struct fault_guard {
    explicit fault_guard(detail::file_fault_hook hook) { detail::atomic_write_fault() = hook; }
    ~fault_guard() { detail::atomic_write_fault() = nullptr; }
};

// For the hook: fail the named step with errno `code`, after letting `skip` calls of it pass.
const char* fault_step = "";
int fault_code = 0;
int fault_skip = 0;
int fail_at_step(const char* step) {
    if (std::strcmp(step, fault_step) != 0) return 0;
    return fault_skip-- > 0 ? 0 : fault_code;
}

}  // namespace

TEST_CASE_TEMPLATE("model_file: save, load and save again give the same bytes and logits", Model,
                   FloatModel, DoubleModel) {
    temp_folder dir;
    const std::string path = dir / "model.json";
    model_file<Model> file{"tiny \"one\"", alphabet_for<Model>(), edge_params<Model>(7), {}};
    save_model_file(path, file);
    const std::string first = read_text(path);

    const model_file<Model> back = load_model_file<Model>(path);
    CHECK(back.preset == "tiny \"one\"");
    CHECK(back.alphabet == alphabet_for<Model>());
    CHECK_FALSE(back.training.has_value());
    REQUIRE(back.params);
    CHECK(same_bits<Model>(*file.params, *back.params));
    const auto a = logits_of<Model>(*file.params), b = logits_of<Model>(*back.params);
    CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(a[0])) == 0);

    save_model_file(path, back);
    CHECK(read_text(path) == first);
    // the folder holds the model file and nothing else (no temporary file)
    CHECK(dir.names() == std::vector<std::string>{"model.json"});
}

TEST_CASE_TEMPLATE("model_file: a training record round-trips and training goes on exactly", Model,
                   FloatModel, DoubleModel) {
    temp_folder dir;
    const std::string path = dir / "train.json";
    auto params = Model::make_params(3);
    adamw<Model> opt(adamw_options{3e-3, 0.85, 0.99, 1e-7, 0.05, 0.5});
    model_file<Model> file{"resume", "abc", nullptr, trained_record<Model>(*params, opt)};
    file.params = std::make_unique<typename Model::Params>(*params);
    save_model_file(path, file);

    model_file<Model> back = load_model_file<Model>(path);
    REQUIRE(back.training.has_value());
    const training_record<Model>& r = *file.training;
    const training_record<Model>& s = *back.training;
    CHECK(s.iteration == 3);
    CHECK(s.seed == 18446744073709551615ULL);
    CHECK(s.batch_size == 2);
    CHECK(s.data_rng == r.data_rng);
    CHECK(same_double(s.last_train_loss, 1.2345678901234567));
    CHECK(same_double(s.last_val_loss, 0.1 + 0.2));
    CHECK(std::isnan(s.best_val_loss));
    CHECK(same_double(s.schedule.max_lr, 3e-3));
    CHECK(s.schedule.warmup_iters == 1);
    CHECK(s.schedule.decay_iters == 7);
    CHECK(same_double(s.schedule.min_lr, 1.0 / 3e5));
    CHECK(same_double(s.optimizer.lr, 3e-3));
    CHECK(same_double(s.optimizer.beta1, 0.85));
    CHECK(same_double(s.optimizer.beta2, 0.99));
    CHECK(same_double(s.optimizer.eps, 1e-7));
    CHECK(same_double(s.optimizer.weight_decay, 0.05));
    CHECK(same_double(s.optimizer.grad_clip, 0.5));
    CHECK(s.step_count == 3);
    CHECK(same_bits<Model>(*s.moments1, opt.moments1()));
    CHECK(same_bits<Model>(*s.moments2, opt.moments2()));
    const std::string saved = read_text(path);
    save_model_file(path, back);
    CHECK(read_text(path) == saved);

    // one more step from the original and from the restored optimizer: the same weights
    adamw<Model> resumed = restore_optimizer(s);
    CHECK(resumed.step_count() == 3);
    auto grads = Model::make_grads();
    typename Model::Activations acts(1);
    std::vector<std::int32_t> tokens(Model::BlockSize, 1), targets(Model::BlockSize, 2);
    Model::forward(*params, acts, tokens.data(), targets.data(), 1, Model::BlockSize);
    Model::backward(*params, *grads, acts);
    auto grads_copy = std::make_unique<typename Model::Grads>(*grads);
    opt.step(*params, *grads, 1e-3);
    resumed.step(*back.params, *grads_copy, 1e-3);
    CHECK(same_bits<Model>(*params, *back.params));
    CHECK(same_bits<Model>(opt.moments2(), resumed.moments2()));
}

TEST_CASE("model_file: read_model_header reads a file without its Config compiled in") {
    using Cfg = DoubleModel::config;
    temp_folder dir;
    auto params = DoubleModel::make_params(1);
    adamw<DoubleModel> opt;
    model_file<DoubleModel> file{"wide", alphabet_for<DoubleModel>(), nullptr,
                                 trained_record<DoubleModel>(*params, opt)};
    file.params = std::move(params);
    save_model_file(dir / "train.json", file);

    const model_header h = read_model_header(dir / "train.json");
    CHECK(h.format == "tinyformer-model");
    CHECK(h.version == 1);
    CHECK(h.preset == "wide");
    CHECK(h.config == model_config::of<Cfg>());
    CHECK(h.config.vocab == 11);
    CHECK(h.config.embed == 16);
    CHECK(h.config.hidden == 64);
    CHECK(h.config.activation == "relu");
    CHECK(h.config.scalar == "double");
    CHECK(h.alphabet == alphabet_for<DoubleModel>());
    CHECK(h.characters == 11);
    CHECK(h.has_training);
    CHECK(h.iteration == 3);
    CHECK(same_double(h.last_val_loss, 0.1 + 0.2));
    CHECK(std::isnan(h.best_val_loss));
    CHECK(h.parameter_count == parameter_count<Cfg>());
    CHECK(h.file_size == read_text(dir / "train.json").size());

    // a plain model file; it reads only the header: damage after it goes unseen here
    model_file<DoubleModel> plain{"p", "ab", DoubleModel::make_params(2), {}};
    save_model_file(dir / "plain.json", plain);
    const std::string text = read_text(dir / "plain.json");
    write_text(dir / "plain.json", text.substr(0, text.find("\"h.0.")));
    const model_header p = read_model_header(dir / "plain.json");
    CHECK_FALSE(p.has_training);
    CHECK(p.iteration == 0);
    CHECK(std::isnan(p.last_val_loss));
    CHECK(p.characters == 2);
}

TEST_CASE("model_file: keys in another order load, and the header reader reads on to find them") {
    temp_folder dir;
    const std::string path = dir / "model.json";
    model_file<FloatModel> file{"p", "ab", FloatModel::make_params(2), {}};
    save_model_file(path, file);
    std::string text = read_text(path);
    const std::string training = "\"training\":null,\n";
    REQUIRE(text.find(training) != std::string::npos);
    text.erase(text.find(training), training.size());
    text.insert(text.rfind('}'), ",\"training\":null");
    write_text(path, text);
    CHECK(same_bits<FloatModel>(*load_model_file<FloatModel>(path).params, *file.params));
    CHECK_FALSE(read_model_header(path).has_training);
}

TEST_CASE("model_file: model_config counts parameters as parameter_count does") {
    using Small = Config<65, 64, 128, 4, 4>;
    using Large = Config<65, 256, 384, 6, 6>;
    CHECK(model_config::of<Small>().parameter_count() == parameter_count<Small>());
    CHECK(model_config::of<Large>().parameter_count() == parameter_count<Large>());
    CHECK(model_config::of<DoubleModel::config>().parameter_count() ==
          parameter_count<DoubleModel::config>());
    CHECK(model_config::of<Small>() != model_config::of<Large>());
}

TEST_CASE("model_file: float and double numbers read back to the same bits") {
    // random bit patterns cover every exponent, subnormals included
    rng gen(99);
    int checked = 0;
    for (int i = 0; i < 20000; ++i) {
        const std::uint64_t bits = gen.next();
        float f;
        double d;
        const std::uint32_t fbits = static_cast<std::uint32_t>(bits);
        std::memcpy(&f, &fbits, sizeof f);
        std::memcpy(&d, &bits, sizeof d);
        if (std::isfinite(f)) {
            const float back =
                detail::json_with<float>::parse(detail::json_with<float>(f).dump()).get<float>();
            CHECK(std::memcmp(&back, &f, sizeof f) == 0);
            ++checked;
        }
        if (std::isfinite(d)) {
            const double back = nlohmann::json::parse(nlohmann::json(d).dump()).get<double>();
            CHECK(std::memcmp(&back, &d, sizeof d) == 0);
            ++checked;
        }
    }
    CHECK(checked > 39000);
}

namespace {

// Replaces the first `from` after position `after` in text; the damage must apply.
std::string replaced(std::string text, const std::string& from, const std::string& to,
                     std::size_t after = 0) {
    const std::size_t at = text.find(from, after);
    REQUIRE_MESSAGE(at != std::string::npos, "no '" << from << "' in the file");
    return text.replace(at, from.size(), to);
}

// The line of the file that starts with prefix, newline included.
std::string line_of(const std::string& text, const std::string& prefix) {
    const std::size_t at = text.find("\n" + prefix);
    REQUIRE_MESSAGE(at != std::string::npos, "no line '" << prefix << "' in the file");
    return text.substr(at + 1, text.find('\n', at + 1) - at);
}

// text without the number that follows the first comma after position `after`
std::string without_number(std::string text, std::size_t after) {
    const std::size_t comma = text.find(',', after);
    return text.erase(comma, text.find(',', comma + 1) - comma);
}

struct damage {
    std::string what;
    std::string text;     // the damaged file
    std::string message;  // after "<path>: "
};

}  // namespace

TEST_CASE("model_file: every damage of a good file gives its own message and leaves it alone") {
    temp_folder dir;
    const std::string path = dir / "model.json";
    const std::string P = path + ": ";
    // a good plain file and a good training file of the float model
    model_file<FloatModel> good{"small", "abcdefg", FloatModel::make_params(11), {}};
    save_model_file(path, good);
    const std::string text = read_text(path);
    auto params = FloatModel::make_params(12);
    adamw<FloatModel> opt;
    model_file<FloatModel> trained{"small", "abcdefg", nullptr,
                                   trained_record<FloatModel>(*params, opt)};
    trained.params = std::move(params);
    save_model_file(path, trained);
    const std::string train_text = read_text(path);

    // a changed digit in wte.weight: the expected checksum is that of the changed numbers
    const std::string data_start = "\"wte.weight\":{\"shape\":[7,12],\"data\":[";
    const std::size_t first = text.find(data_start) + data_start.size();
    const std::size_t end = text.find(',', first);
    std::string number = text.substr(first, end - first);
    std::size_t digit = number.find_last_of("123456789");
    REQUIRE(digit != std::string::npos);
    std::string changed_number = number;
    changed_number[digit] = number[digit] == '9' ? '1' : char(number[digit] + 1);
    std::string changed = text;
    changed.replace(first, number.size(), changed_number);
    model_file<FloatModel> expected{
        "small", "abcdefg", std::make_unique<FloatModel::Params>(*good.params), {}};
    expected.params->emb.wte.data()[0] = std::strtof(changed_number.c_str(), nullptr);
    REQUIRE(expected.params->emb.wte.data()[0] != good.params->emb.wte.data()[0]);
    const std::string stored_sum = detail::model_checksum(good);
    const std::string changed_sum = detail::model_checksum(expected);

    const std::string ln_f_data = "\"ln_f.weight\":{\"shape\":[12],\"data\":[";
    const std::string bias_data = "\"ln_f.bias\":{\"shape\":[12],\"data\":[";
    const std::size_t wpe_first = text.find("\"wpe.weight\":{\"shape\":[5,12],\"data\":[");
    const std::vector<damage> damages = {
        {"empty", "", "the file is empty, expected a tinyformer model (JSON)"},
        {"cut short", text.substr(0, text.size() / 2),
         "the file is cut short: its JSON stops unfinished after " +
             std::to_string(text.size() / 2) + " bytes"},
        {"garbage", "hello",
         "not valid JSON at line 1, column 1: syntax error while parsing value - invalid "
         "literal; last read: 'h'"},
        {"text after the object", text + "x",
         "not valid JSON at line " +
             std::to_string(std::count(text.begin(), text.end(), '\n') + 1) +
             ", column 1: syntax error while parsing value - invalid literal; last read: "
             "'0.0]}}}<U+000A>x'; expected end of input"},
        {"not an object", "[1, 2]", "expected a JSON object (a tinyformer model), found an array"},
        {"other format", replaced(text, "tinyformer-model", "keras-model"),
         "expected format \"tinyformer-model\", found \"keras-model\""},
        {"no format", replaced(text, "\"format\"", "\"formal\""),
         "expected \"format\": \"tinyformer-model\", found no \"format\" (not a model file)"},
        {"newer version", replaced(text, "\"version\":1", "\"version\":2"),
         "the file is format version 2, this program reads version 1 (a newer tinyformer "
         "wrote it)"},
        {"embed changed", replaced(text, "\"embed\":12", "\"embed\":256"),
         "the file holds embed 256, this program was built for 12"},
        {"activation changed", replaced(text, "gelu_tanh", "relu"),
         "the file holds activation relu, this program was built for gelu_tanh"},
        {"scalar changed", replaced(text, "\"scalar\":\"float\"", "\"scalar\":\"double\""),
         "the file holds scalar double, this program was built for float"},
        {"config field a string", replaced(text, "\"heads\":1", "\"heads\":\"one\""),
         "config: expected \"heads\" to be a whole number, found \"one\""},
        {"unknown top-level key", replaced(text, "\"preset\"", "\"note\":1,\"preset\""),
         "unexpected key \"note\""},
        {"parameter missing", replaced(text, line_of(text, "\"h.0.ln_2.bias\""), ""),
         "params: the parameter \"h.0.ln_2.bias\" is missing"},
        {"parameter unknown",
         replaced(text, "\"ln_f.bias\"",
                  "\"ln_g.bias\":{\"shape\":[1],\"data\":[0.5]},\n\"ln_f.bias\""),
         "params: unknown parameter \"ln_g.bias\" (not in this program's model)"},
        {"parameter twice",
         replaced(text, "\"h.0.ln_2.weight\"",
                  line_of(text, "\"h.0.ln_2.weight\"") + "\"h.0.ln_2.weight\""),
         "params: the parameter \"h.0.ln_2.weight\" appears twice"},
        {"key twice", replaced(text, "\"alphabet\"", "\"preset\":\"again\",\"alphabet\""),
         "the key \"preset\" appears twice in the top level"},
        {"wrong shape", replaced(text, "\"shape\":[7,12]", "\"shape\":[12,7]"),
         "params: \"wte.weight\" has shape [12,7], expected [7,12]"},
        {"a number too few", without_number(text, wpe_first + 40),
         "params: \"wpe.weight\" has 59 numbers, its shape [5,12] needs 60"},
        {"a string for a number", replaced(text, ln_f_data + "1.0", ln_f_data + "\"1.0\""),
         "params: \"ln_f.weight\" data[0] is a string, expected a number"},
        {"null for a number", replaced(text, ln_f_data + "1.0,1.0", ln_f_data + "1.0,null"),
         "params: \"ln_f.weight\" data[1] is null, expected a number"},
        {"data not an array",
         replaced(text, line_of(text, "\"ln_f.weight\""),
                  "\"ln_f.weight\":{\"shape\":[12],\"data\":\"none\"},\n"),
         "params: expected the data of \"ln_f.weight\" to be an array of numbers, found \"none\""},
        {"a key too many in a tensor",
         replaced(text, ln_f_data, "\"ln_f.weight\":{\"shape\":[12],\"data\":[],\"more\":["),
         "params: \"ln_f.weight\" has the unexpected key \"more\""},
        {"an overflowing number", replaced(text, bias_data + "0.0", bias_data + "1e999"),
         "params: \"ln_f.bias\" data[0] is 1e999, beyond the range of float"},
        {"beyond float, not double", replaced(text, bias_data + "0.0,0.0", bias_data + "0.0,4e38"),
         "params: \"ln_f.bias\" data[1] is 4e38, beyond the range of float"},
        {"a changed digit", changed,
         "the checksum does not match: the file says " + stored_sum + ", its contents give " +
             changed_sum + " (the file was changed or damaged)"},
        {"no checksum", replaced(text, "\"checksum\"", "\"checksun\""),
         "unexpected key \"checksun\""},
        {"alphabet too long", replaced(text, "\"abcdefg\"", "\"abcdefgh\""),
         "the alphabet has 8 characters, this program was built for at most 7 (Vocab)"},
        {"alphabet repeats", replaced(text, "\"abcdefg\"", "\"abcdefa\""),
         "the alphabet has the character 'a' more than once"},
        {"training: iteration a string",
         replaced(train_text, "\"iteration\":3", "\"iteration\":\"3\""),
         "training: expected \"iteration\" to be a whole number, found \"3\""},
        {"training: no schedule", replaced(train_text, "\"schedule\"", "\"schedula\""),
         "training: unexpected key \"schedula\""},
        {"training: bad generator state",
         replaced(train_text, "\"data_rng\":\"", "\"data_rng\":\"x"),
         "training: expected \"data_rng\" to be a generator state (rng::state()), found \"x" +
             trained.training->data_rng.substr(0, 35) + "..."},
        {"training: a moment missing",
         replaced(train_text, line_of(train_text, "\"h.0.ln_2.bias\""), "",
                  train_text.find("\"m\":")),
         "training.adamw.m: the parameter \"h.0.ln_2.bias\" is missing"},
        {"training: not an object", replaced(text, "\"training\":null", "\"training\":7"),
         "expected \"training\" to be an object, found 7"},
    };
    for (const damage& d : damages) {
        CAPTURE(d.what);
        write_text(path, d.text);
        CHECK_THROWS_WITH_AS(load_model_file<FloatModel>(path), (P + d.message).c_str(),
                             file_error);
        CHECK(read_text(path) == d.text);  // a failed load changes nothing
    }
    // and the good files still load
    write_text(path, text);
    CHECK(same_bits<FloatModel>(*load_model_file<FloatModel>(path).params, *good.params));
    write_text(path, train_text);
    CHECK(load_model_file<FloatModel>(path).training.has_value());
}

TEST_CASE("model_file: a double model rejects a number beyond double and a float file") {
    temp_folder dir;
    const std::string path = dir / "model.json";
    model_file<DoubleModel> file{"d", "ab", DoubleModel::make_params(4), {}};
    save_model_file(path, file);
    const std::string text = read_text(path);
    const std::string bias = "\"ln_f.bias\":{\"shape\":[16],\"data\":[0.0";
    write_text(path, replaced(text, bias, "\"ln_f.bias\":{\"shape\":[16],\"data\":[-1e309"));
    CHECK_THROWS_WITH_AS(load_model_file<DoubleModel>(path),
                         (path + ": params: \"ln_f.bias\" data[0] is -1e309, beyond the range of "
                                 "double")
                             .c_str(),
                         file_error);
    write_text(path, replaced(text, "\"preset\":\"d\"", "\"preset\":1e999"));
    CHECK_THROWS_WITH_AS(
        load_model_file<DoubleModel>(path),
        (path + ": preset: the number 1e999 is beyond the range of double").c_str(), file_error);
    // a file of the float model: the first difference is the vocabulary
    model_file<FloatModel> other{"f", "ab", FloatModel::make_params(4), {}};
    save_model_file(path, other);
    CHECK_THROWS_WITH_AS(load_model_file<DoubleModel>(path),
                         (path + ": the file holds vocab 7, this program was built for 11").c_str(),
                         file_error);
}

TEST_CASE("model_file: a missing file, a folder, an empty and a cut file, by both readers") {
    temp_folder dir;
    const std::string missing = dir / "none.json";
    CHECK_THROWS_WITH_AS(
        load_model_file<FloatModel>(missing),
        (missing + ": cannot open the model file: No such file or directory").c_str(), file_error);
    CHECK_THROWS_WITH_AS(
        read_model_header(missing),
        (missing + ": cannot open the model file: No such file or directory").c_str(), file_error);
    CHECK_THROWS_WITH_AS(load_model_file<FloatModel>(dir.path),
                         (dir.path + ": expected a model file, found a directory").c_str(),
                         file_error);
    CHECK_THROWS_WITH_AS(read_model_header(dir.path),
                         (dir.path + ": expected a model file, found a directory").c_str(),
                         file_error);
    const std::string empty = dir / "empty.json";
    write_text(empty, "");
    CHECK_THROWS_WITH_AS(
        read_model_header(empty),
        (empty + ": the file is empty, expected a tinyformer model (JSON)").c_str(), file_error);
    const std::string cut = dir / "cut.json";
    write_text(cut, "{\"format\":\"tinyformer-model\",\"vers");
    CHECK_THROWS_WITH_AS(read_model_header(cut),
                         (cut + ": the file is cut short: its JSON stops unfinished after 34 "
                                "bytes")
                             .c_str(),
                         file_error);
}

TEST_CASE("model_file: a write that fails at any step leaves the old file whole and no temp") {
    temp_folder dir;
    const std::string path = dir / "model.json";
    model_file<DoubleModel> old_file{"old", "ab", DoubleModel::make_params(1), {}};
    save_model_file(path, old_file);
    const std::string old_text = read_text(path);
    // a bigger file, so that the write takes several pieces and fails after the first
    auto params = DoubleModel::make_params(2);
    adamw<DoubleModel> opt;
    model_file<DoubleModel> new_file{"new", "ab", nullptr,
                                     trained_record<DoubleModel>(*params, opt)};
    new_file.params = std::move(params);

    struct step {
        const char* name;
        int code;
        int skip;
        std::string doing;  // the message's middle
        std::string os;     // the OS error's text
    };
    const std::string temp = path + ".tmp.";
    const std::vector<step> steps = {
        {"create", EACCES, 0, "cannot create the temporary file " + temp, "Permission denied"},
        {"write", ENOSPC, 1, "writing " + temp, "No space left on device"},
        {"sync", EIO, 0, "syncing " + temp, "Input/output error"},
        {"close", EDQUOT, 0, "closing " + temp, "Disk quota exceeded"},
        {"rename", EXDEV, 0, "renaming " + temp, "Invalid cross-device link"},
    };
    for (const step& s : steps) {
        CAPTURE(s.name);
        fault_step = s.name;
        fault_code = s.code;
        fault_skip = s.skip;
        std::string message;
        {
            fault_guard guard(fail_at_step);
            message = file_error_of([&] { save_model_file(path, new_file); });
        }
        CHECK(starts_with(message, path + ": cannot save: " + s.doing));
        CHECK(ends_with(message, ": " + s.os));
        CHECK(read_text(path) == old_text);
        CHECK(dir.names() == std::vector<std::string>{"model.json"});
    }
    // without the fault the same save goes through
    save_model_file(path, new_file);
    CHECK(load_model_file<DoubleModel>(path).preset == "new");
    CHECK(dir.names() == std::vector<std::string>{"model.json"});
}

TEST_CASE("model_file: a save the OS refuses leaves everything as it was") {
    temp_folder dir;
    model_file<FloatModel> file{"p", "ab", FloatModel::make_params(1), {}};
    // the folder is a file: the temporary file cannot be made
    write_text(dir / "plain", "not a folder");
    const std::string under_file = dir / "plain/model.json";
    const std::string message = file_error_of([&] { save_model_file(under_file, file); });
    CHECK(starts_with(message, under_file + ": cannot save: cannot create the temporary file " +
                                   under_file + ".tmp."));
    CHECK(ends_with(message, ": Not a directory"));
    CHECK(read_text(dir / "plain") == "not a folder");

    // the target is a folder: the rename fails, the folder and its contents stay
    std::filesystem::create_directory(dir / "model.json");
    write_text(dir / "model.json/inside", "x");
    const std::string onto_folder =
        file_error_of([&] { save_model_file(dir / "model.json", file); });
    CHECK(starts_with(onto_folder, dir / "model.json: cannot save: renaming "));
    CHECK(ends_with(onto_folder, ": Is a directory"));
    CHECK(read_text(dir / "model.json/inside") == "x");
    CHECK(dir.names() == std::vector<std::string>{"model.json", "plain"});

    // a folder without write permission (root writes anyway, so only as another user)
    if (::geteuid() != 0) {
        const std::string locked = dir / "locked";
        std::filesystem::create_directory(locked);
        save_model_file(locked + "/model.json", file);
        const std::string before = read_text(locked + "/model.json");
        REQUIRE(::chmod(locked.c_str(), 0555) == 0);
        const std::string denied =
            file_error_of([&] { save_model_file(locked + "/model.json", file); });
        ::chmod(locked.c_str(), 0755);
        CHECK(ends_with(denied, ": Permission denied"));
        CHECK(read_text(locked + "/model.json") == before);
    }
}

TEST_CASE("model_file: a model that cannot be saved is refused before anything is written") {
    temp_folder dir;
    const std::string path = dir / "model.json";
    model_file<FloatModel> file{"p", "ab", FloatModel::make_params(1), {}};
    adamw<FloatModel> opt;
    file.params->h[0].ln_1.bias.data()[3] = std::numeric_limits<float>::quiet_NaN();
    CHECK_THROWS_WITH_AS(save_model_file(path, file),
                         ("save_model_file: " + path +
                          ": params: \"h.0.ln_1.bias\" data[3] is nan; a model file holds finite "
                          "numbers only")
                             .c_str(),
                         usage_error);
    file.params->h[0].ln_1.bias.data()[3] = 0;
    file.alphabet = "abcdefgh";
    CHECK_THROWS_WITH_AS(
        save_model_file(path, file),
        ("save_model_file: " + path + ": the alphabet has 8 characters, more than Vocab 7").c_str(),
        usage_error);
    file.alphabet = "ba";
    CHECK_THROWS_WITH_AS(save_model_file(path, file),
                         ("save_model_file: " + path +
                          ": the alphabet is not in code point order: 'a' (character 2) comes "
                          "after 'b'")
                             .c_str(),
                         usage_error);
    file.alphabet = "ab";
    file.training = trained_record<FloatModel>(*file.params, opt);
    file.training->last_val_loss = std::numeric_limits<double>::infinity();
    CHECK_THROWS_WITH_AS(save_model_file(path, file),
                         ("save_model_file: " + path +
                          ": training.last_val_loss is inf; a model file holds finite numbers "
                          "only")
                             .c_str(),
                         usage_error);
    file.training.reset();
    file.params.reset();
    CHECK_THROWS_WITH_AS(save_model_file(path, file),
                         ("save_model_file: " + path + ": the model file has no params").c_str(),
                         usage_error);
    CHECK(dir.names().empty());
}
