// tinyformer/detail/model_training.hpp: the parts of a model file that only a training file
// has, and the checksum over everything; model_file.hpp defines the types they work on.
#pragma once

#include <cmath>    // std::isfinite, std::isnan, std::isinf
#include <cstddef>  // std::size_t
#include <cstdint>  // std::uint64_t
#include <memory>   // std::make_unique
#include <string>   // std::string
#include <utility>  // std::pair

#include <nlohmann/json.hpp>  // nlohmann::json

#include "../error.hpp"
#include "../optimizer.hpp"
#include "../random.hpp"
#include "../schedule.hpp"
#include "../vocabulary.hpp"
#include "checksum.hpp"
#include "model_fields.hpp"
#include "model_json.hpp"
#include "utf8.hpp"

namespace tinyformer {

template <class Model>
struct training_record;
template <class Model>
struct model_file;

namespace detail {

// The checksum a model file stores: the bits of everything in it, in a fixed order.
template <class Model>
std::string model_checksum(const model_file<Model>& file) {
    fnv1a64 h;
    h.add(file.preset);
    h.add(file.alphabet);
    hash_tensors<Model>(h, *file.params);
    if (!file.training) return h.text();
    const training_record<Model>& r = *file.training;
    h.add(r.iteration);
    h.add(r.seed);
    h.add(r.batch_size);
    h.add(r.data_rng);
    h.add(r.last_train_loss);
    h.add(r.last_val_loss);
    h.add(r.best_val_loss);
    h.add(r.schedule.max_lr);
    h.add(static_cast<std::uint64_t>(r.schedule.warmup_iters));
    h.add(static_cast<std::uint64_t>(r.schedule.decay_iters));
    h.add(r.schedule.min_lr);
    const adamw_options& o = r.optimizer;
    for (double x : {o.lr, o.beta1, o.beta2, o.eps, o.weight_decay, o.grad_clip}) h.add(x);
    h.add(r.step_count);
    hash_tensors<Model>(h, *r.moments1);
    hash_tensors<Model>(h, *r.moments2);
    return h.text();
}

// A save that cannot be made from what the caller gave: nothing is written.
inline void save_refused(const std::string& path, const std::string& why) {
    throw usage_error("save_model_file: " + path + ": " + why);
}

// The caller's mistakes, found before anything is written.
template <class Model>
void check_for_save(const std::string& path, const model_file<Model>& file) {
    using Cfg = typename Model::config;
    if (!file.params) save_refused(path, "the model file has no params");
    std::size_t characters = 0;
    try {
        characters = vocabulary::from_alphabet(file.alphabet, path).size();
        decode_utf8(file.preset, path + ": the preset");
    } catch (const data_error& e) {
        throw usage_error(std::string("save_model_file: ") + e.what());
    }
    if (characters > Cfg::Vocab) {
        save_refused(path, "the alphabet has " + std::to_string(characters) +
                               " characters, more than Vocab " + std::to_string(Cfg::Vocab));
    }
    check_finite<Model>(path, "params", *file.params);
    if (!file.training) return;
    const training_record<Model>& r = *file.training;
    if (!r.moments1 || !r.moments2) save_refused(path, "the training record has no moments");
    check_finite<Model>(path, "training.adamw.m", *r.moments1);
    check_finite<Model>(path, "training.adamw.v", *r.moments2);
    const adamw_options& o = r.optimizer;
    const std::pair<const char*, double> numbers[] = {
        {"schedule.max_lr", r.schedule.max_lr},
        {"schedule.min_lr", r.schedule.min_lr},
        {"adamw.lr", o.lr},
        {"adamw.beta1", o.beta1},
        {"adamw.beta2", o.beta2},
        {"adamw.eps", o.eps},
        {"adamw.weight_decay", o.weight_decay},
        {"adamw.grad_clip", o.grad_clip},
        {"last_train_loss", r.last_train_loss},  // NaN (none yet) is allowed for a loss
        {"last_val_loss", r.last_val_loss},
        {"best_val_loss", r.best_val_loss}};
    for (const auto& n : numbers) {
        const bool loss = std::string(n.first).find("loss") != std::string::npos;
        if (std::isinf(n.second) || (!loss && std::isnan(n.second))) {
            save_refused(path, std::string("training.") + n.first + " is " + describe(n.second) +
                                   "; a model file holds finite numbers only");
        }
    }
}

// The "training" object's text, the moments included.
template <class Model>
void append_training(std::string& out, const training_record<Model>& r) {
    using T = typename Model::value_type;
    auto loss = [](double x) { return std::isnan(x) ? nlohmann::json() : nlohmann::json(x); };
    out += '{';
    append_member(out, "iteration", r.iteration);
    append_member(out, "seed", r.seed);
    append_member(out, "batch_size", r.batch_size);
    append_member(out, "data_rng", r.data_rng);
    append_member(out, "last_train_loss", loss(r.last_train_loss));
    append_member(out, "last_val_loss", loss(r.last_val_loss));
    append_member(out, "best_val_loss", loss(r.best_val_loss), ",\n");
    out += "\"schedule\":{";
    append_member(out, "max_lr", r.schedule.max_lr);
    append_member(out, "warmup_iters", static_cast<std::uint64_t>(r.schedule.warmup_iters));
    append_member(out, "decay_iters", static_cast<std::uint64_t>(r.schedule.decay_iters));
    append_member(out, "min_lr", r.schedule.min_lr, "},\n");
    out += "\"adamw\":{";
    const adamw_options& o = r.optimizer;
    append_member(out, "lr", o.lr);
    append_member(out, "beta1", o.beta1);
    append_member(out, "beta2", o.beta2);
    append_member(out, "eps", o.eps);
    append_member(out, "weight_decay", o.weight_decay);
    append_member(out, "grad_clip", o.grad_clip);
    append_member(out, "step_count", r.step_count, ",\n");
    out += "\"m\":";
    append_tensors<Model, T>(out, *r.moments1);
    out += ",\n\"v\":";
    append_tensors<Model, T>(out, *r.moments2);
    out += "}}";
}

// The fields of "training", checked.
template <class Model>
training_record<Model> read_training(const model_fields& t,
                                     model_reader<typename Model::value_type>& in) {
    using Params = typename Model::Params;
    t.only({"iteration", "seed", "batch_size", "data_rng", "last_train_loss", "last_val_loss",
            "best_val_loss", "schedule", "adamw"});
    training_record<Model> r;
    r.iteration = t.whole("iteration");
    r.seed = t.whole("seed");
    r.batch_size = t.whole("batch_size");
    r.data_rng = t.text("data_rng");
    try {
        rng().set_state(r.data_rng);
    } catch (const error&) {
        t.fail("expected \"data_rng\" to be a generator state (rng::state()), found " +
               describe(nlohmann::json(r.data_rng)));
    }
    r.last_train_loss = t.number_or_null("last_train_loss");
    r.last_val_loss = t.number_or_null("last_val_loss");
    r.best_val_loss = t.number_or_null("best_val_loss");
    const model_fields s = t.object("schedule");
    s.only({"max_lr", "warmup_iters", "decay_iters", "min_lr"});
    r.schedule.max_lr = s.number("max_lr");
    r.schedule.warmup_iters = static_cast<std::size_t>(s.whole("warmup_iters"));
    r.schedule.decay_iters = static_cast<std::size_t>(s.whole("decay_iters"));
    r.schedule.min_lr = s.number("min_lr");
    const model_fields a = t.object("adamw");
    a.only({"lr", "beta1", "beta2", "eps", "weight_decay", "grad_clip", "step_count", "m", "v"});
    adamw_options& o = r.optimizer;
    o.lr = a.number("lr");
    o.beta1 = a.number("beta1");
    o.beta2 = a.number("beta2");
    o.eps = a.number("eps");
    o.weight_decay = a.number("weight_decay");
    o.grad_clip = a.number("grad_clip");
    r.step_count = a.whole("step_count");
    r.moments1 = std::make_unique<Params>();
    r.moments2 = std::make_unique<Params>();
    read_tensors<Model>(a.object("m"), in.tensors(m_group), *r.moments1);
    read_tensors<Model>(a.object("v"), in.tensors(v_group), *r.moments2);
    return r;
}

}  // namespace detail
}  // namespace tinyformer
