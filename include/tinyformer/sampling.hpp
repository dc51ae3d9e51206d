// tinyformer/sampling.hpp: choosing the next token from a row of V logits.
//
//   tinyformer::sampling_options opt;           // temperature 0.8, no top-k, no top-p
//   opt.top_k = 40;
//   tinyformer::sampler pick(opt, /*seed=*/42, /*vocab=*/V);
//   std::int32_t id = pick.next(logits, V);     // logits: (V,) float or double
//
// Temperature 0 is greedy decoding. Otherwise the distribution is softmax(logits / temperature),
// cut to the top_k most likely tokens, then to the nucleus (the most likely tokens whose mass
// reaches top_p of what is left), renormalised, and drawn from with one rng::uniform().
#pragma once

#include <cmath>      // std::exp, std::isnan, std::isfinite
#include <cstddef>    // std::size_t
#include <cstdint>    // std::int32_t, std::uint64_t
#include <limits>     // std::numeric_limits, for infinities
#include <sstream>    // std::ostringstream, for error messages
#include <string>     // std::string
#include <vector>     // std::vector, the sampler's scratch

#include "error.hpp"
#include "random.hpp"

namespace tinyformer {

namespace detail {

// A number as error messages show it: 6 significant digits, and "nan" whatever its sign bit.
inline std::string sampling_number(double x) {
    if (std::isnan(x)) return "nan";
    std::ostringstream out;
    out << x;
    return out.str();
}

// Throws unless every logit is finite or -inf and at least one is finite; m is the row's max.
template <class T>
void check_logits(const char* op, const T* logits, std::size_t V, T m) {
    for (std::size_t i = 0; i < V; i++) {
        const T x = logits[i];
        if (std::isnan(x) || x == std::numeric_limits<T>::infinity()) {
            throw usage_error(std::string(op) + ": expected finite logits (or -inf), found " +
                              sampling_number(static_cast<double>(x)) + " at index " +
                              std::to_string(i));
        }
    }
    if (m == -std::numeric_limits<T>::infinity()) {
        throw usage_error(std::string(op) + ": every logit is -inf, so no token can be chosen");
    }
}

}  // namespace detail

// The index of the largest logit, the lowest index among equal ones. NaN entries are
// skipped unless they come first; use sampler::next for rows that may not be finite.
template <class T>
std::int32_t argmax(const T* logits, std::size_t V) {
    if (V == 0) throw usage_error("argmax: the row is empty (V = 0)");
    std::size_t best = 0;
    for (std::size_t i = 1; i < V; i++) {
        if (logits[i] > logits[best]) best = i;
    }
    return static_cast<std::int32_t>(best);
}

// probs = softmax(logits), with the max subtracted first so that no exp overflows.
// logits: (V,), probs: (V,); P may differ from T (float logits into double probabilities).
// A NaN or +inf logit gives NaN probabilities; -inf gives 0.
template <class T, class P>
void softmax(const T* logits, std::size_t V, P* probs) {
    if (V == 0) throw usage_error("softmax: the row is empty (V = 0)");
    const T m = logits[argmax(logits, V)];
    double sum = 0;
    for (std::size_t i = 0; i < V; i++) {
        const double e = std::exp(static_cast<double>(logits[i]) - static_cast<double>(m));
        probs[i] = static_cast<P>(e);
        sum += e;
    }
    const double inv = 1.0 / sum;
    for (std::size_t i = 0; i < V; i++) probs[i] = static_cast<P>(probs[i] * inv);
}

// How the next token is chosen. Check with validate(); the sampler does so when built.
struct sampling_options {
    double temperature = 0.8;  // 0 is greedy; larger is flatter
    int top_k = 0;             // keep the k most likely tokens; 0 (or >= V) keeps all
    double top_p = 1.0;        // keep the nucleus holding this share of the mass; 1 keeps all

    void validate() const {
        if (!(temperature >= 0) || !std::isfinite(temperature)) {
            throw usage_error("sampling_options: temperature must be a finite number >= 0, got " +
                              detail::sampling_number(temperature));
        }
        if (top_k < 0) {
            throw usage_error("sampling_options: top_k must be >= 0, got " + std::to_string(top_k));
        }
        if (!(top_p > 0 && top_p <= 1)) {
            throw usage_error("sampling_options: top_p must be in (0, 1], got " +
                              detail::sampling_number(top_p));
        }
    }
};

// Draws token ids from rows of logits with fixed options and its own generator.
//
// Tokens are ranked by logit, ties towards the lower id, so the kept set and the draw depend
// only on the logits and the generator. Greedy decoding draws no random number; any other
// call draws one rng::uniform(). next() allocates nothing once its scratch holds V entries:
// pass vocab to the constructor to allocate it there, otherwise the first call (or a call with
// a larger V) grows it.
class sampler {
public:
    sampler(const sampling_options& options, std::uint64_t seed, std::size_t vocab = 0)
        : sampler(options, rng(seed), vocab) {}

    sampler(const sampling_options& options, const rng& generator, std::size_t vocab = 0)
        : options_(options), rng_(generator) {
        options_.validate();
        // 1/t overflows only for t < 2^-1022; the largest double then still sends every
        // logit below the max to exp(-huge) = 0 and the max to exp(0) = 1, as 1/t would
        const double inv = 1.0 / options_.temperature;
        inv_temperature_ = std::isfinite(inv) ? inv : std::numeric_limits<double>::max();
        reserve(vocab);
    }

    const sampling_options& options() const { return options_; }

    // The generator, to save its state with rng::state() or restore it.
    rng& generator() { return rng_; }
    const rng& generator() const { return rng_; }

    // Makes room for rows of V logits, so that next() on them never allocates.
    void reserve(std::size_t V) {
        if (V > weight_.size()) {
            weight_.resize(V);
            rank_.resize(V);
        }
    }

    // The next token id for logits: (V,). Throws usage_error on an empty row, a NaN or +inf
    // logit, or a row that is all -inf.
    template <class T>
    std::int32_t next(const T* logits, std::size_t V) {
        if (V == 0) throw usage_error("sampler::next: the row is empty (V = 0)");
        // the max, noting any NaN on the way (the check is cheap; the message is not); four
        // running maxima, so that each comparison need not wait for the one before
        T lane[4] = {logits[0], logits[0], logits[0], logits[0]};
        bool nan = false;
        for (std::size_t i = 0; i < V; i++) {
            const T x = logits[i];
            lane[i % 4] = x > lane[i % 4] ? x : lane[i % 4];
            nan |= x != x;
        }
        const T m01 = lane[1] > lane[0] ? lane[1] : lane[0];
        const T m23 = lane[3] > lane[2] ? lane[3] : lane[2];
        const T m = m23 > m01 ? m23 : m01;
        if (nan || !std::isfinite(m)) detail::check_logits("sampler::next", logits, V, m);
        // greedy: the first token holding the max
        if (options_.temperature == 0) {
            std::size_t i = 0;
            while (logits[i] != m) i++;
            return static_cast<std::int32_t>(i);
        }
        reserve(V);
        const std::size_t k = options_.top_k > 0 && static_cast<std::size_t>(options_.top_k) < V
                                  ? static_cast<std::size_t>(options_.top_k)
                                  : V;
        const double md = static_cast<double>(m);
        if (k == V && options_.top_p >= 1) {
            // no cut: w_i = exp((x_i - max) / t), left unnormalised (the draw scales by the sum)
            double* w = weight_.data();
            for (std::size_t i = 0; i < V; i++) w[i] = weight(logits[i], md);
            return draw(V);
        }
        // the cuts: rank tokens by logit (larger first, then lower id); top-k moves the k
        // first to rank[0, k), in no particular order
        ranked* rank = rank_.data();
        for (std::size_t i = 0; i < V; i++) {
            rank[i] = {static_cast<double>(logits[i]), static_cast<std::int32_t>(i)};
        }
        if (k < V) select_first(rank, V, k);
        // keys become weights; exp is monotone, so the ranking still holds
        for (std::size_t j = 0; j < k; j++) rank[j].key = weight(rank[j].key, md);
        const std::size_t n = options_.top_p < 1 ? select_nucleus(rank, k) : k;
        return draw_ranked(n);
    }

private:
    // A token and its key: first its logit, then its unnormalised probability.
    struct ranked {
        double key;
        std::int32_t id;
    };

    // exp((x - max) / temperature): the unnormalised probability of a logit x.
    double weight(double x, double md) const { return std::exp((x - md) * inv_temperature_); }

    // Whether a ranks before b: larger key first, then lower id. A strict total order, so the
    // kept sets are unique. Bitwise operators: both sides are cheap, a branch is not.
    static bool before(const ranked& a, const ranked& b) {
        return (a.key > b.key) | ((a.key == b.key) & (a.id < b.id));
    }

    // Partitions r[lo, hi) (hi - lo >= 2) around the median of its first, middle and last
    // tokens: those ranking before it first, then it; returns its index. Branch-free Lomuto
    // loop, since with random logits every comparison is a coin flip for the predictor.
    static std::size_t partition(ranked* r, std::size_t lo, std::size_t hi) {
        const std::size_t a = lo, b = lo + (hi - lo) / 2, c = hi - 1;
        std::size_t m;
        if (before(r[a], r[b])) {
            m = before(r[b], r[c]) ? b : (before(r[a], r[c]) ? c : a);
        } else {
            m = before(r[a], r[c]) ? a : (before(r[b], r[c]) ? c : b);
        }
        const ranked pivot = r[m];
        r[m] = r[c];
        std::size_t i = lo;
        for (std::size_t j = lo; j < c; j++) {
            // r[lo, i) rank before the pivot, r[i, j) do not
            const ranked e = r[j];
            r[j] = r[i];
            r[i] = e;
            i += before(e, pivot);
        }
        r[c] = r[i];
        r[i] = pivot;
        return i;
    }

    // Reorders r[0, V) so that r[0, k) hold the k tokens ranking first (0 < k < V).
    static void select_first(ranked* r, std::size_t V, std::size_t k) {
        // r[0, lo) are among the k first, r[hi, V) are not
        std::size_t lo = 0, hi = V;
        while (hi - lo >= 2) {
            const std::size_t p = partition(r, lo, hi);
            if (p == k || p + 1 == k) return;
            if (p < k) {
                lo = p + 1;
            } else {
                hi = p;
            }
        }
    }

    // Reorders r[0, k) (keys are weights) so that r[0, n) is the nucleus, and returns n: the
    // fewest tokens, taken in rank order, whose mass reaches top_p of the mass of all k.
    std::size_t select_nucleus(ranked* r, std::size_t k) const {
        double kept = 0;
        for (std::size_t j = 0; j < k; j++) kept += r[j].key;
        const double target = options_.top_p * kept;
        // r[0, lo) are in the nucleus, with mass taken < target; r[hi, k) are not
        std::size_t lo = 0, hi = k;
        double taken = 0;
        while (lo < hi) {
            if (hi - lo == 1) return hi;  // the last candidate: rounding aside, it closes it
            const std::size_t p = partition(r, lo, hi);
            double front = taken;  // the mass of r[0, p)
            for (std::size_t j = lo; j < p; j++) front += r[j].key;
            if (front >= target) {
                hi = p;  // reached before the pivot (p > lo, as taken < target)
            } else if (front + r[p].key >= target) {
                return p + 1;
            } else {
                taken = front + r[p].key;
                lo = p + 1;
            }
        }
        return lo;  // only when rounding kept the sum of all k below top_p of it
    }

    // Draws one of r[0, n) (keys are weights) in their order: the first j with
    // u * mass < w_0 + ... + w_j.
    std::int32_t draw_ranked(std::size_t n) {
        const ranked* r = rank_.data();
        double mass = 0;
        for (std::size_t j = 0; j < n; j++) mass += r[j].key;
        const double u = rng_.uniform() * mass;
        double acc = 0;
        std::int32_t last = r[0].id;  // the last token with weight, in case rounding needs it
        for (std::size_t j = 0; j < n; j++) {
            acc += r[j].key;
            if (u < acc) return r[j].id;
            if (r[j].key > 0) last = r[j].id;
        }
        return last;
    }

    // Draws from weight_[0, V) in id order: the first i with u * sum < w_0 + ... + w_i.
    std::int32_t draw(std::size_t V) {
        const double* w = weight_.data();
        double total = 0;
        for (std::size_t i = 0; i < V; i++) total += w[i];
        const double r = rng_.uniform() * total;
        double acc = 0;
        std::size_t last = 0;  // the last id with weight, in case rounding leaves r >= acc
        for (std::size_t i = 0; i < V; i++) {
            acc += w[i];
            if (r < acc) return static_cast<std::int32_t>(i);
            if (w[i] > 0) last = i;
        }
        return static_cast<std::int32_t>(last);
    }

    sampling_options options_;
    rng rng_;
    double inv_temperature_;      // 1 / temperature, or the largest double
    std::vector<double> weight_;  // (V,) unnormalised probabilities
    std::vector<ranked> rank_;    // (V,) tokens, reordered by the cuts
};

}  // namespace tinyformer
