// tests/finite_difference.hpp: hand-written gradients against central differences, in double.
//
//   d loss / d x[i]  ≈  (loss(x[i] + h) - loss(x[i] - h)) / 2h
//
// Used by test_layers.cpp (each layer alone) and test_gradcheck.cpp (the whole model).
#pragma once

#include <algorithm>  // std::max, std::sort, std::unique
#include <cmath>      // std::fabs
#include <cstddef>    // std::size_t
#include <iomanip>    // std::setprecision
#include <sstream>    // std::ostringstream
#include <string>     // std::string
#include <vector>     // std::vector

#include <doctest/doctest.h>

#include <tinyformer/random.hpp>

namespace fd {

// How close a backward value and its central difference must be. The floor covers the
// rounding noise of the loss divided by the step 2h: a layer's Σ out ⊙ R over O(100) terms of
// magnitude O(1) carries about 1e-14, which becomes up to 4e-8 (measured, for a block); the
// model's mean cross-entropy carries less (measured up to 1e-9, so its tests pass abs 1e-8).
// The truncation error, about h² times the third derivative, is far below either.
struct tolerance {
    double rel = 1e-6;  // relative to the larger of the two magnitudes
    double abs = 1e-7;  // floor for entries near zero
    double h = 1e-6;    // step
};

// One entry whose backward value disagrees with its central difference.
struct mismatch {
    std::size_t index;
    double backward, numeric;
};

// Every index of an n-element tensor.
inline std::vector<std::size_t> all(std::size_t n) {
    std::vector<std::size_t> at(n);
    for (std::size_t i = 0; i < n; ++i) at[i] = i;
    return at;
}

// The first and last index of an n-element tensor and up to k random others, sorted.
inline std::vector<std::size_t> sample(std::size_t n, std::size_t k, tinyformer::rng& gen) {
    if (n <= k + 2) return all(n);
    std::vector<std::size_t> at{0, n - 1};
    for (std::size_t j = 0; j < k; ++j) at.push_back(std::size_t(gen.below(n)));
    std::sort(at.begin(), at.end());
    at.erase(std::unique(at.begin(), at.end()), at.end());
    return at;
}

// x(n) = mean + std · N(0, 1)
template <class T>
void fill_normal(T* x, std::size_t n, tinyformer::rng& gen, double mean, double std) {
    for (std::size_t i = 0; i < n; ++i) x[i] = T(mean + std * gen.normal());
}

// Probes x[i] for each i in `at`, calling loss() at x[i] ± h, and returns the entries where
// grad[i] disagrees with the central difference. x is restored exactly after each probe.
template <class Loss>
std::vector<mismatch> compare(double* x, const double* grad, const std::vector<std::size_t>& at,
                              Loss&& loss, tolerance tol = {}) {
    std::vector<mismatch> bad;
    for (std::size_t i : at) {
        const double x0 = x[i];
        const double up = x0 + tol.h, down = x0 - tol.h;
        x[i] = up;
        const double loss_up = loss();
        x[i] = down;
        const double loss_down = loss();
        x[i] = x0;
        // divide by the step actually taken, not by the rounded 2h
        const double numeric = (loss_up - loss_down) / (up - down);
        const double diff = std::fabs(numeric - grad[i]);
        const double scale = std::max(std::fabs(numeric), std::fabs(grad[i]));
        if (!(diff <= tol.abs || diff <= tol.rel * scale)) bad.push_back({i, grad[i], numeric});
    }
    return bad;
}

// Fails the running test case when `bad` is not empty, naming the tensor and its first few
// disagreeing indices.
inline void report(const std::string& name, const std::vector<mismatch>& bad, std::size_t checked) {
    for (std::size_t k = 0; k < bad.size() && k < 3; ++k) {
        std::ostringstream text;
        text << std::setprecision(12) << name << "[" << bad[k].index << "]: backward "
             << bad[k].backward << ", central difference " << bad[k].numeric;
        FAIL_CHECK(text.str());
    }
    CHECK_MESSAGE(bad.empty(), name << ": " << bad.size() << " of " << checked
                                    << " entries disagree with central differences");
}

// compare() and report() over the indices `at` of one tensor.
template <class Loss>
void check(const std::string& name, double* x, const double* grad,
           const std::vector<std::size_t>& at, Loss&& loss, tolerance tol = {}) {
    report(name, compare(x, grad, at, loss, tol), at.size());
}

}  // namespace fd
