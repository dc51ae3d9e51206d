// tinyformer/schedule.hpp: the learning rate at each iteration, as nanoGPT sets it.
//
//   tinyformer::lr_schedule schedule{1e-3, 100, 5000, 1e-4};  // max, warm-up, decay, min
//   opt.step(*params, *grads, schedule.at(it));
#pragma once

#include <cmath>    // std::cos, std::isfinite, std::isnan
#include <cstddef>  // std::size_t
#include <sstream>  // std::ostringstream: numbers in error messages
#include <string>   // std::string

#include "error.hpp"

namespace tinyformer {

// Linear warm-up, then a half cosine down to min_lr, then min_lr:
//   it <  warmup_iters:                max_lr · (it + 1) / (warmup_iters + 1)
//   warmup_iters <= it < decay_iters:  min_lr + (max_lr - min_lr) · (1 + cos(π·r)) / 2,
//                                      r = (it - warmup_iters) / (decay_iters - warmup_iters)
//   it >= decay_iters:                 min_lr
// The + 1 keeps iteration 0 above zero; the rate reaches max_lr at it = warmup_iters.
struct lr_schedule {
    double max_lr;
    std::size_t warmup_iters;
    std::size_t decay_iters;
    double min_lr;

    // Throws usage_error unless 0 <= min_lr <= max_lr, both finite, and
    // warmup_iters <= decay_iters.
    void validate() const {
        if (!(max_lr >= 0) || !std::isfinite(max_lr)) {
            throw usage_error("lr_schedule: expected a finite max_lr >= 0, found " + text(max_lr));
        }
        if (!(min_lr >= 0) || !std::isfinite(min_lr)) {
            throw usage_error("lr_schedule: expected a finite min_lr >= 0, found " + text(min_lr));
        }
        if (min_lr > max_lr) {
            throw usage_error("lr_schedule: expected min_lr <= max_lr, found min_lr " +
                              text(min_lr) + " and max_lr " + text(max_lr));
        }
        if (warmup_iters > decay_iters) {
            throw usage_error("lr_schedule: expected warmup_iters <= decay_iters, found " +
                              std::to_string(warmup_iters) + " and " + std::to_string(decay_iters));
        }
    }

    // The learning rate of iteration it (counted from 0). Validates first.
    double at(std::size_t it) const {
        validate();
        // warm-up: a straight line from max_lr / (warmup_iters + 1) up
        if (it < warmup_iters) {
            return max_lr * static_cast<double>(it + 1) / static_cast<double>(warmup_iters + 1);
        }
        // after the decay: the floor (also when the decay phase is empty)
        if (it >= decay_iters) return min_lr;
        // cosine from max_lr at warmup_iters down to min_lr at decay_iters
        const double pi = 3.14159265358979323846;
        const double r = static_cast<double>(it - warmup_iters) /
                         static_cast<double>(decay_iters - warmup_iters);
        const double coeff = 0.5 * (1.0 + std::cos(pi * r));
        return min_lr + coeff * (max_lr - min_lr);
    }

private:
    // "nan" spelled the same on every platform
    static std::string text(double x) {
        if (std::isnan(x)) return "nan";
        std::ostringstream out;
        out << x;
        return out.str();
    }
};

}  // namespace tinyformer
