// bench/model_file_bench.cpp: how long a model file takes to save, load and read the header
// of, for the two presets; one JSON line per figure on stdout.
//
//   model_file_bench [--preset small|large|all] [--runs N] [--dir FOLDER]
//
// "file" is "model" (the parameters) or "training" (with the two AdamW moments, three times
// the numbers). "seconds" is the median of the runs; a save includes the fsync and the rename.
// "cpu_seconds" is this process's CPU time (user and system) in that run: on a busy machine it
// shows the work alone.
// Files go to a fresh folder under --dir (default $TMPDIR or /tmp), removed at the end.
#include <sys/resource.h>  // getrusage: CPU time

#include <algorithm>   // std::sort
#include <chrono>      // std::chrono::steady_clock
#include <cstdint>     // std::uint64_t
#include <cstdio>      // std::printf, std::fprintf
#include <cstdlib>     // std::getenv, mkdtemp
#include <cstring>     // std::strcmp
#include <filesystem>  // std::filesystem::remove_all, file_size
#include <string>      // std::string, std::stoi
#include <vector>      // std::vector

#include "tinyformer/model_file.hpp"
#include "tinyformer/optimizer.hpp"
#include "tinyformer/transformer.hpp"

namespace {

using clock_type = std::chrono::steady_clock;
using Small = tinyformer::Config<65, 64, 128, 4, 4>;
using Large = tinyformer::Config<65, 256, 384, 6, 6>;

// the 65 characters of tinyshakespeare, in code point order
const char* const alphabet = "\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

double cpu_seconds() {
    rusage u;
    getrusage(RUSAGE_SELF, &u);
    return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

struct timing {
    double seconds;      // wall clock
    double cpu_seconds;  // of this process
};

// The run of median wall-clock time among `runs` runs of f.
template <class F>
timing median_run(int runs, F&& f) {
    std::vector<timing> times;
    for (int r = 0; r < runs; ++r) {
        const double c0 = cpu_seconds();
        const auto t0 = clock_type::now();
        f();
        times.push_back(
            {std::chrono::duration<double>(clock_type::now() - t0).count(), cpu_seconds() - c0});
    }
    std::sort(times.begin(), times.end(),
              [](const timing& a, const timing& b) { return a.seconds < b.seconds; });
    return times[times.size() / 2];
}

void report(const char* bench, const char* preset, const char* file, timing t, std::uintmax_t bytes,
            std::size_t parameters) {
    std::printf(
        "{\"bench\":\"%s\",\"preset\":\"%s\",\"file\":\"%s\",\"threads\":1,"
        "\"seconds\":%.6f,\"cpu_seconds\":%.6f,\"bytes\":%ju,\"parameters\":%zu}\n",
        bench, preset, file, t.seconds, t.cpu_seconds, bytes, parameters);
    std::fflush(stdout);
}

// Saves, loads and reads the header of a plain and a training file of Cfg's model.
template <class Cfg>
void run(const char* preset, int runs, const std::string& dir) {
    using Model = tinyformer::Transformer<Cfg>;
    const std::size_t n = tinyformer::parameter_count<Cfg>();
    tinyformer::model_file<Model> file{preset, alphabet, Model::make_params(1), {}};
    // moments of a realistic spread: from one AdamW step on a made-up gradient
    tinyformer::adamw<Model> opt;
    auto grads = Model::make_params(2);
    auto params = Model::make_params(1);
    opt.step(*params, *grads, 1e-3);
    tinyformer::training_record<Model> record;
    record.iteration = 1;
    record.data_rng = tinyformer::rng(3).state();
    record.schedule = {1e-3, 100, 5000, 1e-4};
    tinyformer::store_optimizer(record, opt);

    for (const bool training : {false, true}) {
        const char* kind = training ? "training" : "model";
        if (training) file.training = std::move(record);
        const std::string path = dir + "/" + preset + "_" + kind + ".json";
        const timing save = median_run(runs, [&] { tinyformer::save_model_file(path, file); });
        const std::uintmax_t bytes = std::filesystem::file_size(path);
        report("save", preset, kind, save, bytes, n);
        const timing load = median_run(runs, [&] {
            const auto back = tinyformer::load_model_file<Model>(path);
            if (!back.params) std::abort();
        });
        report("load", preset, kind, load, bytes, n);
        const timing header = median_run(runs, [&] {
            if (tinyformer::read_model_header(path).parameter_count != n) std::abort();
        });
        report("header", preset, kind, header, bytes, n);
    }
}

}  // namespace

int main(int argc, char** argv) {
    std::string preset = "all";
    int runs = 3;
    const char* base = std::getenv("TMPDIR");
    std::string dir = base && *base ? base : "/tmp";
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--preset" && i + 1 < argc) {
            preset = argv[++i];
        } else if (arg == "--runs" && i + 1 < argc) {
            runs = std::stoi(argv[++i]);
        } else if (arg == "--dir" && i + 1 < argc) {
            dir = argv[++i];
        } else {
            std::fprintf(stderr,
                         "usage: model_file_bench [--preset small|large|all] [--runs N] "
                         "[--dir FOLDER]\n");
            return 2;
        }
    }
    if (runs < 1 || (preset != "small" && preset != "large" && preset != "all")) {
        std::fprintf(stderr,
                     "model_file_bench: --runs must be >= 1 and --preset small, large "
                     "or all\n");
        return 2;
    }
    std::string folder = dir + "/model_file_bench_XXXXXX";
    if (!::mkdtemp(&folder[0])) {
        std::fprintf(stderr, "model_file_bench: cannot make a folder under %s\n", dir.c_str());
        return 1;
    }
    try {
        if (preset != "large") run<Small>("small", runs, folder);
        if (preset != "small") run<Large>("large", runs, folder);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "model_file_bench: %s\n", e.what());
        std::filesystem::remove_all(folder);
        return 1;
    }
    std::filesystem::remove_all(folder);
    return 0;
}
