// examples/shakespeare.cpp: train a character model on TinyShakespeare, then ask it things.
//
//   shakespeare train                       train (or resume) model.json on the shipped text
//   shakespeare ask --question "What is love?"
//   shakespeare sample --prompt "ROMEO:"
//   shakespeare info --model model.json
//
// Each preset is its own Config type, chosen by --preset at run time; a model file records
// its preset, so ask, sample and info load whichever one the file holds.
#include <atomic>      // std::atomic, the signal flag
#include <chrono>      // timing generation
#include <cmath>       // std::isfinite: flag values
#include <cstdint>     // std::uint64_t, UINT64_MAX
#include <cerrno>      // errno: why a file could not be opened
#include <csignal>     // SIGINT, SIGTERM
#include <cstdio>      // std::fputs, std::fflush
#include <cstring>     // std::strerror
#include <fstream>     // the CSV log, prompt files
#include <future>      // background checkpoints
#include <iostream>    // std::cin, std::cout, std::cerr
#include <memory>      // std::unique_ptr
#include <optional>    // std::optional
#include <sstream>     // std::ostringstream
#include <stdexcept>   // std::out_of_range: flag values
#include <string>      // std::string
#include <sys/stat.h>  // stat: does the model file exist
#include <unistd.h>    // isatty
#include <vector>      // std::vector

#include <CLI/CLI.hpp>

#include "tinyformer/tinyformer.hpp"

#ifndef TINYFORMER_DATA_DIR
#define TINYFORMER_DATA_DIR "data"
#endif

namespace tf = tinyformer;

namespace {

// ---------------------------------------------------------------------------------------
// Presets: one Config type each. Vocab 65 is TinyShakespeare's alphabet.

// nanoGPT's CPU recipe: 4 layers, 4 heads, C 128, T 64 (0.8 M parameters)
using SmallConfig = tf::Config<65, 64, 128, 4, 4>;
// a larger model for a half-hour run on two cores: 6 layers, 6 heads, C 192, T 128
using MediumConfig = tf::Config<65, 128, 192, 6, 6>;

struct preset_defaults {
    std::size_t batch, iters, warmup;
    double lr, min_lr;
};

template <class Cfg>
struct preset;
template <>
struct preset<SmallConfig> {
    static constexpr const char* name = "small";
    static constexpr preset_defaults defaults{12, 8000, 100, 1e-3, 1e-4};
};
template <>
struct preset<MediumConfig> {
    static constexpr const char* name = "medium";
    static constexpr preset_defaults defaults{12, 6000, 150, 1e-3, 1e-4};
};

const char* const default_preset = "small";

// Runs f.template operator()<Cfg>() for the preset named; false when there is none.
template <class F>
bool with_preset(const std::string& name, F&& f) {
    if (name == preset<SmallConfig>::name) {
        f(SmallConfig{});
        return true;
    }
    if (name == preset<MediumConfig>::name) {
        f(MediumConfig{});
        return true;
    }
    return false;
}

// ---------------------------------------------------------------------------------------
// Exit codes and messages.

constexpr int exit_ok = 0, exit_failure = 1, exit_usage = 2;
constexpr int exit_sigint = 130, exit_sigterm = 143;

// A problem the user can fix: printed as one line, exit code 2.
struct usage_problem {
    std::string message;
};

std::atomic<int> stop_signal{0};

extern "C" void on_stop_signal(int sig) {
    stop_signal.store(sig);
}

bool file_exists(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0;
}

bool is_directory(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// "model.json" -> "model.csv", "model.best.json"
std::string sibling(const std::string& model, const std::string& suffix) {
    const auto slash = model.find_last_of('/');
    const auto dot = model.find_last_of('.');
    const bool has_ext = dot != std::string::npos && (slash == std::string::npos || dot > slash);
    return (has_ext ? model.substr(0, dot) : model) + suffix;
}

std::string format_duration(double seconds) {
    const long s = static_cast<long>(seconds + 0.5);
    std::ostringstream out;
    if (s >= 3600) out << s / 3600 << "h";
    if (s >= 60) out << (s / 60) % 60 << "m";
    out << s % 60 << "s";
    return out.str();
}

// ---------------------------------------------------------------------------------------
// Generation shared by train (its samples), ask and sample.

struct decoding {
    double temperature = 0.8;
    int top_k = 0;
    double top_p = 1.0;
    std::uint64_t seed = 1337;
    std::size_t max_chars = 400;
};

// Streams up to max_chars characters after prompt to out, one character at a time; stops
// early when `stop_at` (if not empty) appears in the text. Returns the text generated.
template <class Model>
std::string stream_text(tf::kv_cache<Model>& cache, const tf::vocabulary& vocab,
                        const std::vector<std::int32_t>& prompt, const decoding& d,
                        std::ostream* out, const std::string& stop_at = "") {
    tf::sampling_options o;
    o.temperature = d.temperature;
    o.top_k = d.top_k;
    o.top_p = d.top_p;
    tf::sampler pick(o, d.seed, Model::config::Vocab);
    std::string text, pending;
    tf::generate(cache, prompt, pick, d.max_chars, [&](std::int32_t id) {
        if (static_cast<std::size_t>(id) >= vocab.size()) return true;  // an unused id
        const std::string ch = vocab.decode(&id, 1);
        text += ch;
        if (!stop_at.empty()) {
            // hold back what might be the start of stop_at; print the rest
            pending += ch;
            if (text.size() >= stop_at.size() &&
                text.compare(text.size() - stop_at.size(), stop_at.size(), stop_at) == 0) {
                text.erase(text.size() - stop_at.size());
                return false;
            }
            std::size_t hold = 0;
            for (std::size_t k = std::min(stop_at.size() - 1, pending.size()); k > 0; --k) {
                if (pending.compare(pending.size() - k, k, stop_at, 0, k) == 0) {
                    hold = k;
                    break;
                }
            }
            if (out) *out << pending.substr(0, pending.size() - hold) << std::flush;
            pending.erase(0, pending.size() - hold);
            return true;
        }
        if (out) *out << ch << std::flush;
        return true;
    });
    if (out && stop_at.empty() == false && text.size() == d.max_chars) *out << pending;
    return text;
}

// ---------------------------------------------------------------------------------------
// Model files.

// A loaded model with its alphabet; a clear message when the file is missing or unusable.
template <class Model>
tf::model_file<Model> load_for_use(const std::string& path) {
    if (!file_exists(path)) {
        throw usage_problem{path +
                            ": no such model file; train one first with "
                            "`shakespeare train --model " +
                            path + "`"};
    }
    try {
        return tf::load_model_file<Model>(path);
    } catch (const tf::file_error& e) {
        throw usage_problem{std::string(e.what()) +
                            "\n(train a new model with `shakespeare train --fresh --model " + path +
                            "`)"};
    }
}

// The preset a model file holds, read from its header.
std::string preset_of(const std::string& path) {
    if (!file_exists(path)) {
        throw usage_problem{path +
                            ": no such model file; train one first with "
                            "`shakespeare train --model " +
                            path + "`"};
    }
    try {
        return tf::read_model_header(path).preset;
    } catch (const tf::file_error& e) {
        throw usage_problem{e.what()};
    }
}

// ---------------------------------------------------------------------------------------
// train

struct train_flags {
    std::string data = std::string(TINYFORMER_DATA_DIR) + "/tinyshakespeare.txt";
    std::string model = "model.json";
    std::string preset;  // empty: the model file's, or default_preset
    std::size_t iters = 0, batch = 0, threads = 0, eval_every = 100, checkpoint_every = 1000;
    double lr = 0;
    double dropout = 0;
    std::uint64_t seed = 1337;
    bool fresh = false;
    std::size_t sample_chars = 200;
};

template <class Cfg>
int run_train(const train_flags& f) {
    using Model = tf::Transformer<Cfg>;
    using defaults = preset<Cfg>;
    const preset_defaults& pd = defaults::defaults;

    // the text first: a bad one stops here, before anything is written
    const tf::text_data data = tf::text_data::load(f.data, Cfg::Vocab, Cfg::BlockSize);

    tf::train_options o;
    o.batch = f.batch ? f.batch : pd.batch;
    o.threads = f.threads;
    o.eval_every = f.eval_every;
    o.checkpoint_every = f.checkpoint_every;
    o.dropout = f.dropout;
    const double lr = f.lr > 0 ? f.lr : pd.lr;
    tf::adamw_options ao;
    ao.lr = lr;
    ao.beta2 = 0.99;

    tf::model_file<Model> mf;
    tf::train_state state;
    std::unique_ptr<tf::adamw<Model>> opt;
    bool resumed = false;
    if (!f.fresh && file_exists(f.model)) {
        // resume: the file must be this preset's and know this text's characters
        try {
            mf = tf::load_model_file<Model>(f.model);
        } catch (const tf::file_error& e) {
            throw usage_problem{std::string(e.what()) +
                                " (the file is left as it is; --fresh starts over)"};
        }
        try {
            data.require_alphabet(tf::vocabulary::from_alphabet(mf.alphabet, f.model));
        } catch (const tf::error& e) {
            throw usage_problem{std::string(e.what()) +
                                " (the file is left as it is; --fresh starts over)"};
        }
        if (!mf.training) {
            throw usage_problem{f.model +
                                ": holds no training state to resume from "
                                "(the file is left as it is; --fresh starts over)"};
        }
        const auto& tr = *mf.training;
        ao = tr.optimizer;
        opt = std::make_unique<tf::adamw<Model>>(tf::restore_optimizer(tr));
        state.iteration = tr.iteration;
        state.seed = tr.seed;
        state.data_gen.set_state(tr.data_rng);
        state.last_train_loss = tr.last_train_loss;
        state.last_val_loss = tr.last_val_loss;
        state.best_val_loss = tr.best_val_loss;
        o.schedule = tr.schedule;
        o.batch = f.batch ? f.batch : tr.batch_size;
        if (o.batch != tr.batch_size) {
            std::cerr << "shakespeare: resuming with batch " << o.batch << " where the file was "
                      << "trained with " << tr.batch_size
                      << ": the run goes on, but not as one uninterrupted run would\n";
        }
        // --iters counts from here; without it, the schedule's end
        o.iterations = f.iters ? state.iteration + f.iters
                               : std::max<std::size_t>(tr.schedule.decay_iters, state.iteration);
        resumed = true;
    } else {
        mf.preset = defaults::name;
        mf.alphabet = data.vocab().alphabet();
        mf.params = Model::make_params(f.seed);
        opt = std::make_unique<tf::adamw<Model>>(ao);
        state.seed = f.seed;
        state.data_gen = tf::rng(f.seed);
        const std::size_t iters = f.iters ? f.iters : pd.iters;
        o.iterations = iters;
        o.schedule = {lr, std::min(pd.warmup, iters), iters, lr * pd.min_lr / pd.lr};
    }
    const tf::vocabulary& vocab = data.vocab();

    // the configuration, once, a key: value per line
    std::cout << "preset: " << defaults::name << "\n"
              << "config: vocab " << Cfg::Vocab << ", block " << Cfg::BlockSize << ", embed "
              << Cfg::EmbedSize << ", heads " << Cfg::Heads << ", layers " << Cfg::Layers
              << ", hidden " << Cfg::Hidden << "\n"
              << "parameters: " << tf::parameter_count<Cfg>() << "\n"
              << "data: " << f.data << " (" << data.train_size() << " training, "
              << data.validation_size() << " validation characters, " << vocab.size()
              << " distinct)\n"
              << "model: " << f.model
              << (resumed ? " (resuming at iteration " + std::to_string(state.iteration) + ")"
                          : " (new)")
              << "\n"
              << "iterations: " << o.iterations << ", batch " << o.batch << ", lr "
              << o.schedule.max_lr << " (warm-up " << o.schedule.warmup_iters << ", cosine to "
              << o.schedule.min_lr << " at " << o.schedule.decay_iters << ")\n"
              << "threads: " << (o.threads ? o.threads : tf::default_threads()) << "\n"
              << std::flush;

    // snapshots of what a file holds, written in the background
    auto snapshot = [&]() {
        auto s = std::make_unique<tf::model_file<Model>>();
        s->preset = mf.preset;
        s->alphabet = mf.alphabet;
        s->params = std::make_unique<typename Model::Params>(*mf.params);
        tf::training_record<Model> tr;
        tr.iteration = state.iteration;
        tr.seed = state.seed;
        tr.batch_size = o.batch;
        tr.data_rng = state.data_gen.state();
        tr.last_train_loss = state.last_train_loss;
        tr.last_val_loss = state.last_val_loss;
        tr.best_val_loss = state.best_val_loss;
        tr.schedule = o.schedule;
        tf::store_optimizer(tr, *opt);
        s->training = std::move(tr);
        return s;
    };
    std::future<void> writing;
    auto wait_for_writer = [&]() {
        if (writing.valid()) writing.get();
    };
    auto save_in_background = [&](std::unique_ptr<tf::model_file<Model>> s, std::string path) {
        wait_for_writer();
        writing = std::async(std::launch::async,
                             [s = std::move(s), path]() { tf::save_model_file(path, *s); });
    };
    const std::string best_path = sibling(f.model, ".best.json");
    std::unique_ptr<typename Model::Params> best_params;
    bool best_unsaved = false;

    // the CSV log beside the model
    const std::string csv_path = sibling(f.model, ".csv");
    const bool csv_new = !file_exists(csv_path) || !resumed;
    std::ofstream csv(csv_path, csv_new ? std::ios::trunc : std::ios::app);
    if (!csv) {
        throw usage_problem{csv_path + ": cannot write the training log (" +
                            std::strerror(errno) + ")"};
    }
    if (csv_new) csv << "iteration,train_loss,val_loss,tokens_per_second,elapsed_seconds,lr\n";

    const bool progress = ::isatty(STDERR_FILENO) != 0;
    tf::kv_cache<Model> cache(*mf.params);
    const std::vector<std::int32_t> sample_prompt = vocab.encode(U"\n");
    tf::train_hooks hooks;
    double lr_now = 0;
    hooks.on_step = [&](const tf::step_report& r) {
        lr_now = r.lr;
        if (progress) {
            const std::size_t into = r.iteration % o.eval_every;
            std::fprintf(stderr, "\r  iter %zu  loss %.4f  [%zu/%zu]   ", r.iteration, r.loss,
                         into ? into : o.eval_every, o.eval_every);
            std::fflush(stderr);
        }
    };
    hooks.on_eval = [&](const tf::eval_report& r) {
        if (progress) std::fputs("\r\033[K", stderr);
        std::printf("iter %6zu | train %.4f | val %.4f%s | %7.0f tok/s | %s | eta %s\n",
                    r.iteration, r.train_loss, r.val_loss, r.best ? "*" : " ", r.tokens_per_second,
                    format_duration(r.elapsed_seconds).c_str(),
                    format_duration(r.eta_seconds).c_str());
        csv << r.iteration << ',' << r.train_loss << ',' << r.val_loss << ',' << r.tokens_per_second
            << ',' << r.elapsed_seconds << ',' << lr_now << '\n'
            << std::flush;
        if (r.best) {
            best_params = std::make_unique<typename Model::Params>(*mf.params);
            best_unsaved = true;
        }
        // a sample from a fixed prompt and seed, so that samples compare across time
        decoding d;
        d.max_chars = f.sample_chars;
        d.seed = 42;
        std::cout << "  | ";
        const std::string text = stream_text(cache, vocab, sample_prompt, d, nullptr);
        for (char c : text) std::cout << (c == '\n' ? std::string("\n  | ") : std::string(1, c));
        std::cout << "\n" << std::flush;
    };
    hooks.on_checkpoint = [&](std::size_t) {
        save_in_background(snapshot(), f.model);
        if (best_unsaved) {
            auto b = snapshot();
            b->params = std::make_unique<typename Model::Params>(*best_params);
            save_in_background(std::move(b), best_path);
            best_unsaved = false;
        }
    };
    hooks.stop_requested = [&]() { return stop_signal.load() != 0; };

    std::signal(SIGINT, on_stop_signal);
    std::signal(SIGTERM, on_stop_signal);
    tf::train_end end;
    try {
        end = tf::parallel_train<Model>(*mf.params, *opt, data, o, state, hooks);
    } catch (const tf::divergence_error& e) {
        wait_for_writer();
        std::cerr << "shakespeare: " << e.what() << "\n"
                  << "shakespeare: nothing was saved; " << f.model
                  << " holds the last checkpoint, if any\n";
        return exit_failure;
    }
    // the final save, in the foreground; a second signal now is ignored by the handler
    if (progress) std::fputs("\r\033[K", stderr);
    wait_for_writer();
    tf::save_model_file(f.model, *snapshot());
    if (best_unsaved) {
        auto b = snapshot();
        b->params = std::make_unique<typename Model::Params>(*best_params);
        tf::save_model_file(best_path, *b);
    }
    if (end == tf::train_end::stopped) {
        const int sig = stop_signal.load();
        std::cerr << "shakespeare: stopped by " << (sig == SIGTERM ? "SIGTERM" : "SIGINT")
                  << " after iteration " << state.iteration << "; saved " << f.model << "\n";
        return sig == SIGTERM ? exit_sigterm : exit_sigint;
    }
    std::cout << "saved " << f.model << " (iteration " << state.iteration << ", val loss "
              << state.last_val_loss << "; lowest " << state.best_val_loss << " in " << best_path
              << ")\n";
    return exit_ok;
}

// ---------------------------------------------------------------------------------------
// ask and sample

struct ask_flags {
    std::string model = "model.json";
    std::string question;
    bool has_question = false;
    decoding d;
};

// One line on standard error naming the characters of a text that the model lacks.
void warn_dropped(const tf::encoded_text& q) {
    if (q.dropped_count == 0) return;
    std::cerr << "shakespeare: dropped " << q.dropped_count
              << " character(s) the model does not know: " << tf::quote_characters(q.dropped)
              << "\n";
}

// Who asks and who answers: the question becomes a speech in the form of the training text.
const char* const asker = "ROMEO";
const char* const answerer = "JULIET";

template <class Cfg>
int run_ask(const ask_flags& f) {
    using Model = tf::Transformer<Cfg>;
    const auto mf = load_for_use<Model>(f.model);
    const tf::vocabulary vocab = tf::vocabulary::from_alphabet(mf.alphabet, f.model);
    tf::kv_cache<Model> cache(*mf.params);
    const bool interactive = !f.has_question && ::isatty(STDIN_FILENO) != 0;

    auto answer = [&](const std::string& question, std::size_t n) {
        tf::encoded_text q = vocab.encode_known(question, "the question");
        warn_dropped(q);
        if (q.ids.empty()) {
            std::cerr << "shakespeare: the question has no character the model knows; "
                         "nothing to answer\n";
            return;
        }
        // "ROMEO:\n<question>\n\nJULIET:\n" then JULIET's speech, up to its blank line
        std::string frame = std::string("\n\n") + asker + ":\n";
        std::vector<std::int32_t> prompt = vocab.encode(frame, "the frame");
        prompt.insert(prompt.end(), q.ids.begin(), q.ids.end());
        const auto tail = vocab.encode(std::string("\n\n") + answerer + ":\n", "the frame");
        prompt.insert(prompt.end(), tail.begin(), tail.end());
        decoding d = f.d;
        d.seed = f.d.seed + n;
        std::cout << answerer << ":\n" << std::flush;
        const auto t0 = std::chrono::steady_clock::now();
        const std::string text = stream_text(cache, vocab, prompt, d, &std::cout, "\n\n");
        const double s =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::cout << "\n\n" << std::flush;
        std::cerr << "(" << text.size() << " characters, " << static_cast<long>(text.size() / s)
                  << " characters/s)\n";
    };

    if (f.has_question) {
        if (f.question.find_first_not_of(" \t\r\n") == std::string::npos) {
            throw usage_problem{"--question is empty"};
        }
        answer(f.question, 0);
        return exit_ok;
    }
    std::string line;
    std::size_t n = 0, lines = 0;
    bool skipped = false;
    while (true) {
        if (interactive) std::cerr << "you> " << std::flush;
        if (!std::getline(std::cin, line)) break;
        ++lines;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line == "quit") break;
        if (line.find_first_not_of(" \t") == std::string::npos) continue;
        // a line that is not text is skipped with its number; the others are still answered
        try {
            answer(line, n++);
        } catch (const tf::data_error& e) {
            std::cerr << "shakespeare: line " << lines << " of standard input: " << e.what()
                      << "; skipped\n";
            skipped = true;
        }
    }
    if (interactive) std::cerr << "\n";
    return skipped ? exit_usage : exit_ok;
}

struct sample_flags {
    std::string model = "model.json";
    std::string prompt;
    std::string prompt_file;
    std::size_t num_samples = 1;
    decoding d;
};

template <class Cfg>
int run_sample(const sample_flags& f) {
    using Model = tf::Transformer<Cfg>;
    const auto mf = load_for_use<Model>(f.model);
    const tf::vocabulary vocab = tf::vocabulary::from_alphabet(mf.alphabet, f.model);
    std::string prompt_text = f.prompt;
    if (!f.prompt_file.empty()) {
        std::ifstream in(f.prompt_file, std::ios::binary);
        if (!in) throw usage_problem{f.prompt_file + ": cannot read the prompt file"};
        std::ostringstream all;
        all << in.rdbuf();
        prompt_text = all.str();
    }
    const std::string source = f.prompt_file.empty() ? "the prompt" : f.prompt_file;
    tf::encoded_text q = vocab.encode_known(prompt_text, source);
    warn_dropped(q);
    std::vector<std::int32_t> prompt = q.ids;
    if (prompt.empty()) prompt = vocab.encode(std::string("\n"), "the prompt");
    tf::kv_cache<Model> cache(*mf.params);
    std::size_t chars = 0;
    double seconds = 0;
    for (std::size_t i = 0; i < f.num_samples; ++i) {
        decoding d = f.d;
        d.seed = f.d.seed + i;
        if (i) std::cout << "\n---\n";
        std::cout << prompt_text << std::flush;
        const auto t0 = std::chrono::steady_clock::now();
        chars += stream_text(cache, vocab, prompt, d, &std::cout).size();
        seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
    std::cout << "\n" << std::flush;
    std::cerr << "(" << chars << " characters in " << seconds << " s, "
              << static_cast<long>(chars / std::max(seconds, 1e-9)) << " characters/s)\n";
    return exit_ok;
}

// ---------------------------------------------------------------------------------------
// info

int run_info(const std::string& path) {
    if (!file_exists(path)) throw usage_problem{path + ": no such model file"};
    tf::model_header h;
    try {
        h = tf::read_model_header(path);
    } catch (const tf::file_error& e) {
        throw usage_problem{e.what()};
    }
    bool known = false;
    with_preset(h.preset, [&](auto cfg) {
        using Model = tf::Transformer<decltype(cfg)>;
        try {
            tf::load_model_file<Model>(path);  // every check, numbers and checksum included
        } catch (const tf::file_error& e) {
            throw usage_problem{e.what()};
        }
        known = true;
    });
    if (!known) throw usage_problem{path + ": unknown preset '" + h.preset + "'"};
    std::cout << "file: " << path << "\n"
              << "size: " << h.file_size << " bytes\n"
              << "format: " << h.format << " version " << h.version << "\n"
              << "preset: " << h.preset << "\n"
              << "config: vocab " << h.config.vocab << ", block " << h.config.block << ", embed "
              << h.config.embed << ", heads " << h.config.heads << ", layers " << h.config.layers
              << ", hidden " << h.config.hidden << ", " << h.config.activation << ", "
              << h.config.scalar << "\n"
              << "parameters: " << h.parameter_count << "\n"
              << "alphabet: " << h.characters << " characters\n";
    if (h.has_training) {
        std::cout << "iterations: " << h.iteration << "\n"
                  << "last validation loss: " << h.last_val_loss << "\n";
    } else {
        std::cout << "iterations: (no training state)\n";
    }
    return exit_ok;
}

// ---------------------------------------------------------------------------------------
// The command line.

// A whole number in [lo, hi]. CLI11's own number checks would let "-1" wrap around in an
// unsigned flag and name the limits of a double in their message.
CLI::Validator whole(std::uint64_t lo, std::uint64_t hi) {
    const std::string range = std::to_string(lo) + " to " + std::to_string(hi);
    return CLI::Validator(
        [lo, hi, range](std::string& text) -> std::string {
            const bool digits = !text.empty() && text.size() <= 20 &&
                                text.find_first_not_of("0123456789") == std::string::npos;
            if (digits) {
                try {
                    const unsigned long long v = std::stoull(text);
                    if (v >= lo && v <= hi) return "";
                } catch (const std::out_of_range&) {
                }
            }
            return "expected a whole number from " + range + ", found '" + text + "'";
        },
        "INT in " + range);
}

// A finite number in [lo, hi], or in (lo, hi] when open_below.
CLI::Validator real(double lo, double hi, bool open_below = false) {
    std::ostringstream range;
    range << (open_below ? "(" : "[") << lo << ", " << hi << "]";
    return CLI::Validator(
        [lo, hi, open_below, r = range.str()](std::string& text) -> std::string {
            std::size_t used = 0;
            double v = 0;
            try {
                v = std::stod(text, &used);
            } catch (const std::exception&) {
                used = 0;
            }
            const bool inside = used == text.size() && !text.empty() && std::isfinite(v) &&
                                (open_below ? v > lo : v >= lo) && v <= hi;
            return inside ? "" : "expected a number in " + r + ", found '" + text + "'";
        },
        "FLOAT in " + range.str());
}

void add_decoding_flags(CLI::App* cmd, decoding& d, bool with_max_chars) {
    cmd->add_option("--temperature", d.temperature, "sampling temperature; 0 is greedy")
        ->capture_default_str()
        ->check(real(0, 100));
    cmd->add_option("--top-k", d.top_k, "keep the k most likely characters; 0 keeps all")
        ->capture_default_str()
        ->check(whole(0, 1000000));
    cmd->add_option("--top-p", d.top_p, "keep the smallest set holding this share; in (0, 1]")
        ->capture_default_str()
        ->check(real(0, 1, true));
    cmd->add_option("--seed", d.seed, "random seed: one seed, one answer")
        ->capture_default_str()
        ->check(whole(0, UINT64_MAX));
    if (with_max_chars) {
        cmd->add_option("--max-chars", d.max_chars, "the longest answer, in characters")
            ->capture_default_str()
            ->check(whole(1, 1000000));
    }
}

// The original program's --mode=train and --mode=ask become subcommands.
std::vector<std::string> rewrite_mode(int argc, char** argv) {
    std::vector<std::string> args;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a.rfind("--mode=", 0) == 0) {
            args.insert(args.begin(), a.substr(7));
        } else if (a == "--mode" && i + 1 < argc) {
            args.insert(args.begin(), argv[++i]);
        } else {
            args.push_back(a);
        }
    }
    return args;
}

int run(int argc, char** argv) {
    CLI::App app{"shakespeare: train a tinyformer on TinyShakespeare and ask it questions"};
    app.require_subcommand(1);
    app.name("shakespeare");

    train_flags tf_;
    auto* train = app.add_subcommand("train", "train a model, or resume the one in --model");
    train->add_option("--data", tf_.data, "the UTF-8 training text")->capture_default_str();
    train->add_option("--model", tf_.model, "the model file, written atomically")
        ->capture_default_str();
    train
        ->add_option("--preset", tf_.preset,
                     "small (nanoGPT's CPU recipe) or medium; default: the model file's, "
                     "or small")
        ->check(CLI::IsMember({"small", "medium"}));
    train
        ->add_option("--iters", tf_.iters,
                     "iterations to train (default: 8000 small, 6000 medium; when resuming, "
                     "more iterations from where the file is)")
        ->check(whole(1, 1000000000));
    train->add_option("--batch", tf_.batch, "sequences per iteration (default: 12)")
        ->check(whole(1, 1024));
    train->add_option("--lr", tf_.lr, "peak learning rate (default: 1e-3)")
        ->check(real(0, 1e9, true));
    train->add_option("--threads", tf_.threads, "worker threads (default: every core)")
        ->check(whole(1, 256));
    train->add_option("--seed", tf_.seed, "seed of the initialisation and the batches")
        ->capture_default_str()
        ->check(whole(0, UINT64_MAX));
    train->add_option("--eval-every", tf_.eval_every, "log, validate and sample every N")
        ->capture_default_str()
        ->check(whole(1, 1000000000));
    train->add_option("--checkpoint-every", tf_.checkpoint_every, "save every N iterations")
        ->capture_default_str()
        ->check(whole(1, 1000000000));
    train->add_option("--dropout", tf_.dropout, "dropout rate while training")
        ->capture_default_str()
        ->check(real(0, 0.99));
    train->add_flag("--fresh", tf_.fresh, "start over even if --model exists");

    ask_flags af;
    auto* ask = app.add_subcommand("ask", "answer questions in Shakespeare's manner");
    ask->add_option("--model", af.model, "the model file")->capture_default_str();
    ask->add_option("--question", af.question,
                    "the question; without it, one question per line from standard input");
    add_decoding_flags(ask, af.d, true);

    sample_flags sf;
    auto* sample = app.add_subcommand("sample", "generate free text");
    sample->add_option("--model", sf.model, "the model file")->capture_default_str();
    auto* prompt = sample->add_option("--prompt", sf.prompt, "text to continue");
    sample->add_option("--prompt-file", sf.prompt_file, "a file whose text to continue")
        ->excludes(prompt);
    sample->add_option("--num-samples", sf.num_samples, "how many samples")
        ->capture_default_str()
        ->check(whole(1, 10000));
    add_decoding_flags(sample, sf.d, true);

    std::string info_model = "model.json";
    auto* info = app.add_subcommand("info", "describe a model file");
    info->add_option("--model", info_model, "the model file")->capture_default_str();

    std::vector<std::string> args = rewrite_mode(argc, argv);
    std::reverse(args.begin(), args.end());  // CLI11 takes them last first
    try {
        app.parse(args);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::cerr << "shakespeare: " << e.what() << "\n"
                  << "run `shakespeare --help` or `shakespeare SUBCOMMAND --help`\n";
        return exit_usage;
    }

    if (*train) {
        // found now, not when the first checkpoint cannot replace it
        if (is_directory(tf_.model)) {
            throw usage_problem{tf_.model + ": is a directory; --model names the model file"};
        }
        std::string name = tf_.preset;
        if (name.empty()) {
            name = default_preset;
            if (!tf_.fresh && file_exists(tf_.model)) name = preset_of(tf_.model);
        } else if (!tf_.fresh && file_exists(tf_.model)) {
            const std::string held = preset_of(tf_.model);
            if (held != name) {
                throw usage_problem{tf_.model + ": the file holds preset '" + held + "', not '" +
                                    name + "' (the file is left as it is; --fresh starts over)"};
            }
        }
        int rc = exit_ok;
        if (!with_preset(name, [&](auto cfg) { rc = run_train<decltype(cfg)>(tf_); })) {
            throw usage_problem{tf_.model + ": unknown preset '" + name + "'"};
        }
        return rc;
    }
    if (*ask || *sample) {
        af.has_question = ask->count("--question") > 0;
        const std::string path = *ask ? af.model : sf.model;
        const std::string name = preset_of(path);
        int rc = exit_ok;
        const bool known = with_preset(name, [&](auto cfg) {
            rc = *ask ? run_ask<decltype(cfg)>(af) : run_sample<decltype(cfg)>(sf);
        });
        if (!known) throw usage_problem{path + ": unknown preset '" + name + "'"};
        return rc;
    }
    return run_info(info_model);
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const usage_problem& p) {
        std::cerr << "shakespeare: " << p.message << "\n";
        return exit_usage;
    } catch (const tf::data_error& e) {
        std::cerr << "shakespeare: " << e.what() << "\n";
        return exit_usage;
    } catch (const tf::usage_error& e) {
        std::cerr << "shakespeare: " << e.what() << "\n";
        return exit_usage;
    } catch (const tf::file_error& e) {
        std::cerr << "shakespeare: " << e.what() << "\n";
        return exit_usage;
    } catch (const std::exception& e) {
        std::cerr << "shakespeare: " << e.what() << "\n";
        return exit_failure;
    }
}
