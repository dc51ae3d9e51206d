// tinyformer/detail/model_fields.hpp: the pieces of a model file's text, written and checked.
//
// model_fields reads the keys of one JSON object with a message for each fault ("model.json:
// config: expected "embed" to be a whole number, found "x""); the tensor functions write,
// read, check and hash every tensor of a model's Params in Model::visit order.
#pragma once

#include <algorithm>         // std::copy
#include <cmath>             // std::isfinite, std::isnan, std::isinf
#include <cstddef>           // std::size_t
#include <cstdint>           // std::uint64_t
#include <initializer_list>  // std::initializer_list
#include <limits>            // std::numeric_limits
#include <map>               // std::map
#include <set>               // std::set
#include <sstream>           // std::ostringstream: numbers in messages
#include <string>            // std::string
#include <utility>           // std::move

#include <nlohmann/json.hpp>  // nlohmann::json

#include "../error.hpp"
#include "checksum.hpp"
#include "model_json.hpp"

namespace tinyformer {
namespace detail {

// A number as messages show it: "nan", "inf" and "-inf" alike on every platform.
inline std::string describe(double x) {
    if (std::isnan(x)) return "nan";
    if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
    std::ostringstream out;
    out << x;
    return out.str();
}

// The keys of one object of a model file. `where` ("config", "training.schedule", or empty
// for the top level) follows the file's name in every message.
class model_fields {
public:
    model_fields(std::string file, std::string where, const nlohmann::json& object)
        : file_(std::move(file)), where_(std::move(where)), object_(&object) {}

    const nlohmann::json& value() const { return *object_; }
    const std::string& file() const { return file_; }

    [[noreturn]] void fail(const std::string& what) const {
        throw file_error(file_ + ": " + (where_.empty() ? "" : where_ + ": ") + what);
    }

    bool has(const std::string& key) const { return object_->contains(key); }

    // the value at key, which must be there
    const nlohmann::json& get(const std::string& key, const char* expected) const {
        const auto it = object_->find(key);
        if (it == object_->end()) fail("expected \"" + key + "\" (" + expected + "), found none");
        return *it;
    }
    [[noreturn]] void wrong(const std::string& key, const char* expected,
                            const nlohmann::json& found) const {
        fail("expected \"" + key + "\" to be " + expected + ", found " + describe(found));
    }

    std::uint64_t whole(const std::string& key) const {
        const nlohmann::json& v = get(key, "a whole number");
        if (!v.is_number_unsigned()) wrong(key, "a whole number", v);
        return v.get<std::uint64_t>();
    }
    double number(const std::string& key) const {
        const nlohmann::json& v = get(key, "a number");
        if (!v.is_number()) wrong(key, "a number", v);
        return v.get<double>();
    }
    // null (a loss not measured yet) reads as NaN
    double number_or_null(const std::string& key) const {
        const nlohmann::json& v = get(key, "a number or null");
        if (v.is_null()) return std::numeric_limits<double>::quiet_NaN();
        if (!v.is_number()) wrong(key, "a number or null", v);
        return v.get<double>();
    }
    std::string text(const std::string& key) const {
        const nlohmann::json& v = get(key, "a string");
        if (!v.is_string()) wrong(key, "a string", v);
        return v.get<std::string>();
    }
    model_fields object(const std::string& key) const {
        const nlohmann::json& v = get(key, "an object");
        if (!v.is_object()) wrong(key, "an object", v);
        return model_fields(file_, where_.empty() ? key : where_ + "." + key, v);
    }

    // every key of the object is one of these
    void only(std::initializer_list<const char*> keys) const {
        for (const auto& item : object_->items()) {
            bool known = false;
            for (const char* k : keys) known = known || item.key() == k;
            if (!known) fail("unexpected key \"" + item.key() + "\"");
        }
    }

private:
    std::string file_;
    std::string where_;
    const nlohmann::json* object_;
};

// `"key":value` and what follows it (a comma, a line break, or nothing for the last member)
inline void append_member(std::string& out, const char* key, const nlohmann::json& value,
                          const char* after = ",") {
    out += '"';
    out += key;
    out += "\":";
    out += value.dump();
    out += after;
}

// {"name":{"shape":[...],"data":[...]}, ...}, a tensor a line, each number in the shortest
// text that reads back as the same T.
template <class Model, class T>
void append_tensors(std::string& out, const typename Model::Params& p) {
    json_with<T> data = json_with<T>::array();
    auto& numbers = data.template get_ref<typename json_with<T>::array_t&>();
    bool first = true;
    Model::visit(
        [&](const std::string& name, const auto& x) {
            out += first ? "{\n" : ",\n";
            first = false;
            out += nlohmann::json(name).dump();
            nlohmann::json shape = nlohmann::json::array();
            for (std::size_t n : x.shape()) shape.push_back(n);
            out += ":{\"shape\":" + shape.dump() + ",\"data\":";
            numbers.clear();
            numbers.reserve(x.size());
            for (const T v : x) numbers.emplace_back(v);
            out += data.dump();
            out += '}';
        },
        p);
    out += '}';
}

// A usage_error (nothing is saved) for a number that JSON cannot hold.
template <class Model>
void check_finite(const std::string& path, const char* group, const typename Model::Params& p) {
    Model::visit(
        [&](const std::string& name, const auto& x) {
            const auto* v = x.data();
            for (std::size_t i = 0; i < x.size(); ++i) {
                if (std::isfinite(v[i])) continue;
                throw usage_error("save_model_file: " + path + ": " + group + ": \"" + name +
                                  "\" data[" + std::to_string(i) + "] is " +
                                  describe(double(v[i])) +
                                  "; a model file holds finite numbers only");
            }
        },
        p);
}

// Every tensor's name and numbers, in visit order.
template <class Model>
void hash_tensors(fnv1a64& h, const typename Model::Params& p) {
    Model::visit(
        [&](const std::string& name, const auto& x) {
            h.add(name);
            h.add(x.data(), x.size());
        },
        p);
}

// Fills p from a group of tensors read by model_reader, checking that every parameter is
// there once with its shape and count, and that there is no other.
template <class Model>
void read_tensors(const model_fields& group,
                  std::map<std::string, tensor_numbers<typename Model::value_type>>& data,
                  typename Model::Params& p) {
    std::set<std::string> names;
    Model::visit(
        [&](const std::string& name, auto& x) {
            names.insert(name);
            const std::string quoted = "\"" + name + "\"";
            if (!group.has(name)) group.fail("the parameter " + quoted + " is missing");
            const nlohmann::json& t = group.value().at(name);
            if (!t.is_object()) {
                group.fail("expected " + quoted + " to be an object with \"shape\" and \"data\", " +
                           "found " + describe(t));
            }
            for (const auto& item : t.items()) {
                if (item.key() != "shape" && item.key() != "data") {
                    group.fail(quoted + " has the unexpected key \"" + item.key() + "\"");
                }
            }
            // the shape, as the compiled model has it
            nlohmann::json shape = nlohmann::json::array();
            for (std::size_t n : x.shape()) shape.push_back(n);
            const auto s = t.find("shape");
            if (s == t.end()) group.fail(quoted + " has no \"shape\", expected " + shape.dump());
            if (*s != shape) {
                std::string found = s->dump();
                if (found.size() > 40) found = found.substr(0, 37) + "...";
                group.fail(quoted + " has shape " + found + ", expected " + shape.dump());
            }
            // the numbers
            const auto d = data.find(name);
            if (d == data.end()) {
                const auto v = t.find("data");
                if (v == t.end()) group.fail(quoted + " has no \"data\"");
                group.fail("expected the data of " + quoted + " to be an array of numbers, " +
                           "found " + describe(*v));
            }
            if (!d->second.bad.empty())
                group.fail(quoted + " " + d->second.bad + ", expected a number");
            if (d->second.count != x.size()) {
                group.fail(quoted + " has " + std::to_string(d->second.count) +
                           " numbers, its shape " + shape.dump() + " needs " +
                           std::to_string(x.size()));
            }
            std::copy(d->second.values.begin(), d->second.values.end(), x.data());
            d->second.values = {};  // done with it: free the memory
        },
        p);
    for (const auto& item : group.value().items()) {
        if (names.count(item.key()) == 0) {
            group.fail("unknown parameter \"" + item.key() + "\" (not in this program's model)");
        }
    }
}

}  // namespace detail
}  // namespace tinyformer
