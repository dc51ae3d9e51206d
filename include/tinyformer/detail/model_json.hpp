// tinyformer/detail/model_json.hpp: reading a model file's JSON with nlohmann's SAX parser.
//
// A model file is mostly numbers: the tensors' "data" arrays. model_reader keeps those as
// plain vectors of T, read by nlohmann's lexer straight as T (strtof for float), and builds a
// small nlohmann::json of everything else, to be checked afterwards. On the way it rejects what
// a DOM would hide: a key given twice (nlohmann keeps one), a number too large for T, a text
// that is not JSON or is cut short.
#pragma once

#include <array>        // std::array
#include <cstddef>      // std::size_t
#include <cstdint>      // std::int64_t, std::uint64_t
#include <cstdlib>      // std::strtod
#include <functional>   // std::function
#include <map>          // std::map
#include <string>       // std::string
#include <type_traits>  // std::is_same
#include <utility>      // std::move
#include <vector>       // std::vector

#include <nlohmann/json.hpp>  // nlohmann::json, basic_json, sax_parse

#include "../error.hpp"

namespace tinyformer {
namespace detail {

// JSON whose floating-point numbers are T: with float, a float prints in its shortest form
// (about 9 digits instead of 17) and parses with strtof, so it round-trips without a detour.
template <class T>
using json_with =
    nlohmann::basic_json<std::map, std::vector, std::string, bool, std::int64_t, std::uint64_t, T>;

template <class T>
const char* scalar_name() {
    return std::is_same<T, float>::value ? "float" : "double";
}

// The groups of tensors a model file holds, by where they are in it.
enum model_tensor_group { params_group, m_group, v_group, group_count };
inline const char* group_path(int group) {
    static const char* const paths[] = {"params", "training.adamw.m", "training.adamw.v"};
    return paths[group];
}

// How messages show a JSON value: strings and numbers as written, containers by kind.
inline std::string describe(const nlohmann::json& v) {
    if (v.is_array()) return "an array";
    if (v.is_object()) return "an object";
    std::string text = v.dump();
    if (text.size() > 40) text = text.substr(0, 37) + "...";
    return text;
}

// One tensor's "data" as read: the numbers, the number of elements, and the first element
// that is not a number.
template <class T>
struct tensor_numbers {
    std::vector<T> values;
    std::size_t count = 0;
    std::string bad;  // "data[12] is a string", or empty
};

// The SAX handler (nlohmann's sax_parse calls these by name). Throws file_error naming
// `file` for a duplicated key, a number out of range and text that is not JSON. When
// `collect` is false, tensor data is skipped (reading a header). `stop` is asked each time a
// group of tensors begins; true ends the parse there.
template <class T>
class model_reader {
public:
    using parser_json = json_with<T>;

    model_reader(std::string file, std::size_t size, bool collect)
        : file_(std::move(file)), size_(size), collect_(collect) {}

    std::function<bool()> stop;

    nlohmann::json& root() { return root_; }
    std::map<std::string, tensor_numbers<T>>& tensors(int group) { return tensors_[group]; }

    // scalars
    bool null() { return in_data_ ? element("null") : put(nullptr); }
    bool boolean(bool b) { return in_data_ ? element("true or false") : put(b); }
    bool string(std::string& s) { return in_data_ ? element("a string") : put(std::move(s)); }
    bool binary(typename parser_json::binary_t&) { return in_data_ ? element("binary") : true; }
    bool number_integer(std::int64_t x) { return in_data_ ? number(T(x)) : put(x); }
    bool number_unsigned(std::uint64_t x) { return in_data_ ? number(T(x)) : put(x); }
    bool number_float(T x, const std::string& text) {
        if (in_data_) return number(x);
        // outside the tensors every number is a double: read it again from its text (the
        // float lexer has already refused one beyond float's range; no setting is that large)
        if (std::is_same<T, double>::value) return put(double(x));
        return put(std::strtod(text.c_str(), nullptr));
    }

    // containers
    bool start_object(std::size_t) {
        if (in_data_) return nested("an object");
        const int group = group_of_new();
        const int tensor_of = stack_.empty() ? -1 : stack_.back().group;
        open(nlohmann::json::object(), group, tensor_of);
        return group < 0 || !stop || !stop();
    }
    bool start_array(std::size_t) {
        if (in_data_) return nested("an array");
        if (!stack_.empty() && stack_.back().tensor_of >= 0 && key_ == "data") {
            // a tensor's numbers: a placeholder in the tree, the values on the side
            (*stack_.back().value)[key_] = nullptr;
            in_data_ = true;
            tensor_ = collect_ ? &tensors_[stack_.back().tensor_of][stack_.back().name] : &skip_;
            return true;
        }
        open(nlohmann::json::array(), -1, -1);
        return true;
    }
    bool end_object() {
        if (in_data_) return unnest();
        stack_.pop_back();
        return true;
    }
    bool end_array() {
        if (in_data_) {
            if (depth_ > 0) return unnest();
            in_data_ = false;
            skip_ = tensor_numbers<T>();
            return true;
        }
        stack_.pop_back();
        return true;
    }
    bool key(std::string& k) {
        if (in_data_) return true;
        const level& top = stack_.back();
        if (top.value->contains(k)) {
            if (top.group >= 0) {
                throw file_error(file_ + ": " + group_path(top.group) + ": the parameter \"" + k +
                                 "\" appears twice");
            }
            throw file_error(file_ + ": the key \"" + k + "\" appears twice in " + where(false));
        }
        key_ = std::move(k);
        return true;
    }

    bool parse_error(std::size_t position, const std::string& token,
                     const nlohmann::json::exception& e) {
        // a number beyond T's range (nlohmann's "number overflow", id 406)
        if (e.id == 406) {
            if (in_data_ && depth_ == 0) {
                const level& top = stack_.back();
                throw file_error(file_ + ": " + group_path(top.tensor_of) + ": \"" + top.name +
                                 "\" data[" + std::to_string(tensor_->count) + "] is " + token +
                                 ", beyond the range of " + scalar_name<T>());
            }
            throw file_error(file_ + ": " + where(true) + ": the number " + token +
                             " is beyond the range of " + scalar_name<T>());
        }
        // the lexer read past the last byte: the text stops before the JSON is complete
        if (position > size_) {
            throw file_error(file_ + ": the file is cut short: its JSON stops unfinished after " +
                             std::to_string(size_) + " bytes");
        }
        // nlohmann's "[json.exception.parse_error.101] parse error at line 1, column 1: ..."
        std::string what = e.what();
        const std::string at = "parse error at ";
        const std::size_t from = what.find(at);
        if (from != std::string::npos) what = what.substr(from + at.size());
        throw file_error(file_ + ": not valid JSON at " + what);
    }

private:
    struct level {
        nlohmann::json* value;  // the object or array being filled
        std::string name;       // its key in the enclosing object
        int group;              // a group of tensors: its tensor_group, else -1
        int tensor_of;          // a tensor: the group it is in, else -1
    };

    // the group a new object at key_ would be: "params", "training"."adamw"."m" or "v"
    int group_of_new() const {
        if (stack_.empty() || !stack_.back().value->is_object()) return -1;
        if (stack_.size() == 1 && key_ == "params") return params_group;
        if (stack_.size() == 3 && stack_[1].name == "training" && stack_[2].name == "adamw") {
            if (key_ == "m") return m_group;
            if (key_ == "v") return v_group;
        }
        return -1;
    }

    // "training.schedule", or "the top level"; with the pending key when `with_key`
    std::string where(bool with_key) const {
        std::string path;
        for (std::size_t i = 1; i < stack_.size(); ++i) {
            path += (path.empty() ? "" : ".") + stack_[i].name;
        }
        if (with_key && !stack_.empty() && stack_.back().value->is_object()) {
            path += (path.empty() ? "" : ".") + key_;
        }
        return path.empty() ? "the top level" : path;
    }

    // adds a value to the innermost container (or makes it the root)
    nlohmann::json* add(nlohmann::json v) {
        if (stack_.empty()) {
            root_ = std::move(v);
            return &root_;
        }
        nlohmann::json& top = *stack_.back().value;
        if (top.is_array()) {
            top.push_back(std::move(v));
            return &top.back();
        }
        return &(top[key_] = std::move(v));
    }
    bool put(nlohmann::json v) {
        add(std::move(v));
        return true;
    }
    void open(nlohmann::json v, int group, int tensor_of) {
        std::string name = stack_.empty() || stack_.back().value->is_array() ? "" : key_;
        nlohmann::json* value = add(std::move(v));
        stack_.push_back({value, std::move(name), group, tensor_of});
    }

    // inside a tensor's "data": a number, something else, or a container (skipped whole)
    bool number(T x) {
        if (depth_ > 0) return true;
        if (tensor_ != &skip_) tensor_->values.push_back(x);
        ++tensor_->count;
        return true;
    }
    bool element(const char* kind) {
        if (depth_ > 0) return true;
        if (tensor_->bad.empty()) {
            tensor_->bad = "data[" + std::to_string(tensor_->count) + "] is " + kind;
        }
        ++tensor_->count;
        return true;
    }
    bool nested(const char* kind) {
        element(kind);
        ++depth_;
        return true;
    }
    bool unnest() {
        --depth_;
        return true;
    }

    std::string file_;
    std::size_t size_;
    bool collect_;
    nlohmann::json root_;
    std::vector<level> stack_;
    std::string key_;  // the last key read in the innermost object
    std::array<std::map<std::string, tensor_numbers<T>>, group_count> tensors_;
    bool in_data_ = false;   // inside a tensor's "data" array
    std::size_t depth_ = 0;  // containers open inside that array
    tensor_numbers<T>* tensor_ = nullptr;
    tensor_numbers<T> skip_;  // the tensor read when not collecting
};

}  // namespace detail
}  // namespace tinyformer
