// tests/golden.hpp: reading the PyTorch reference cases of tests/data/*.json.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "doctest/doctest.h"

#ifndef TINYFORMER_TEST_DATA
#define TINYFORMER_TEST_DATA "tests/data"
#endif

namespace golden {

inline nlohmann::json load(const std::string& name) {
    const std::string path = std::string(TINYFORMER_TEST_DATA) + "/" + name;
    std::ifstream in(path);
    REQUIRE_MESSAGE(in.good(), "cannot open " << path);
    return nlohmann::json::parse(in);
}

inline std::vector<std::int32_t> ids(const nlohmann::json& rows) {
    std::vector<std::int32_t> out;
    for (const auto& row : rows)
        for (const auto& x : row) out.push_back(x.get<std::int32_t>());
    return out;
}

// flattens a tensor {"shape": [...], "data": [...]} whose data may be nested or flat
inline void flatten(const nlohmann::json& j, std::vector<double>& out) {
    if (j.is_array()) {
        for (const auto& x : j) flatten(x, out);
    } else {
        out.push_back(j.get<double>());
    }
}

inline std::vector<double> values(const nlohmann::json& tensor) {
    std::vector<double> out;
    flatten(tensor.contains("data") ? tensor["data"] : tensor, out);
    return out;
}

// every parameter of the model set from the case's tensors of the same names
template <class Model>
void set_params(typename Model::Params& p, const nlohmann::json& tensors) {
    Model::visit(
        [&](const std::string& name, auto& w) {
            REQUIRE_MESSAGE(tensors.contains(name), "golden case lacks " << name);
            const std::vector<double> v = values(tensors[name]);
            REQUIRE(v.size() == w.size());
            std::size_t i = 0;
            for (auto& x : w) x = static_cast<typename Model::value_type>(v[i++]);
        },
        p);
}

// |a - b| <= rel · |b|, or <= abs near zero
inline bool close(double a, double b, double rel, double abs) {
    const double d = a > b ? a - b : b - a;
    return d <= abs || d <= rel * (b < 0 ? -b : b);
}

}  // namespace golden
