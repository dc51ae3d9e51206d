// Tests for tinyformer/sampling.hpp: argmax, softmax, option checks and the sampler.
#include <doctest/doctest.h>

#include <algorithm>  // std::sort, std::min, for the reference cuts
#include <cmath>      // std::exp, std::log
#include <cstddef>    // std::size_t
#include <cstdint>    // std::int32_t
#include <limits>     // std::numeric_limits
#include <set>        // std::set, for kept tokens
#include <string>     // std::string, a saved generator state
#include <vector>     // std::vector

#include "tinyformer/sampling.hpp"

namespace {

using tinyformer::sampler;
using tinyformer::sampling_options;
using tinyformer::usage_error;

sampling_options make_options(double temperature, int top_k = 0, double top_p = 1.0) {
    sampling_options opt;
    opt.temperature = temperature;
    opt.top_k = top_k;
    opt.top_p = top_p;
    return opt;
}

// A row of V logits drawn from N(0, 3^2).
template <class T>
std::vector<T> random_logits(tinyformer::rng& g, std::size_t V) {
    std::vector<T> row(V);
    for (auto& x : row) x = static_cast<T>(3.0 * g.normal());
    return row;
}

// The index of the largest entry, lowest on ties, written out here as the test's own oracle.
template <class T>
std::int32_t first_max(const std::vector<T>& row) {
    std::size_t best = 0;
    for (std::size_t i = 0; i < row.size(); i++) {
        if (row[i] > row[best]) best = i;
    }
    return static_cast<std::int32_t>(best);
}

// softmax(logits / temperature) in long double, the test's own oracle.
std::vector<double> expected_probs(const std::vector<double>& logits, double temperature) {
    long double m = logits[0], sum = 0;
    for (double x : logits) m = x > m ? x : m;
    std::vector<long double> e(logits.size());
    for (std::size_t i = 0; i < logits.size(); i++) {
        e[i] = std::exp((logits[i] - m) / temperature);
        sum += e[i];
    }
    std::vector<double> p(logits.size());
    for (std::size_t i = 0; i < logits.size(); i++) p[i] = static_cast<double>(e[i] / sum);
    return p;
}

// Keeps only the given ids of p and renormalises.
std::vector<double> restrict_to(const std::vector<double>& p, const std::set<std::int32_t>& ids) {
    std::vector<double> q(p.size(), 0.0);
    double mass = 0;
    for (std::int32_t id : ids) mass += p[static_cast<std::size_t>(id)];
    for (std::int32_t id : ids) {
        const auto i = static_cast<std::size_t>(id);
        q[i] = p[i] / mass;
    }
    return q;
}

// Draws n tokens and returns Pearson's chi-square against p over the tokens with p > 0;
// *outside counts draws of tokens whose p is 0.
double chi_square(sampler& s, const std::vector<double>& logits, const std::vector<double>& p,
                  int n, int* outside) {
    std::vector<long> count(logits.size(), 0);
    for (int i = 0; i < n; i++) {
        count[static_cast<std::size_t>(s.next(logits.data(), logits.size()))]++;
    }
    double chi2 = 0;
    *outside = 0;
    for (std::size_t i = 0; i < p.size(); i++) {
        if (p[i] == 0) {
            *outside += static_cast<int>(count[i]);
            continue;
        }
        const double e = n * p[i];
        const double d = static_cast<double>(count[i]) - e;
        chi2 += d * d / e;
    }
    return chi2;
}

// Upper 0.1% points of the chi-square distribution (P[X > c] = 0.001) by degrees of
// freedom, from the chi-square quantile table (NIST/SEMATECH e-Handbook of Statistical
// Methods, section 1.3.6.7.4, "Critical Values of the Chi-Square Distribution").
constexpr double chi2_999_df2 = 13.816;
constexpr double chi2_999_df7 = 24.322;

// Eight tokens with expected counts of at least a few hundred in 200,000 draws.
const std::vector<double> eight_logits = {1.0, 0.5, 2.0, -0.5, 0.0, 1.5, -1.0, 0.25};

}  // namespace

TEST_CASE_TEMPLATE("sampling: argmax picks the largest, ties to the lowest id", T, float, double) {
    const std::vector<T> row = {T(1), T(3), T(-2), T(3), T(0)};
    CHECK(tinyformer::argmax(row.data(), row.size()) == 1);
    const std::vector<T> one = {T(-7)};
    CHECK(tinyformer::argmax(one.data(), one.size()) == 0);
    const std::vector<T> falling = {T(5), T(4), T(5)};
    CHECK(tinyformer::argmax(falling.data(), falling.size()) == 0);
    CHECK_THROWS_WITH_AS(tinyformer::argmax(row.data(), 0), "argmax: the row is empty (V = 0)",
                         usage_error);
}

TEST_CASE("sampling: softmax is stable for large logits and sums to one") {
    // 1000 would overflow exp without the max subtracted
    const std::vector<float> logits = {1000.0f, 1001.0f, 999.0f};
    std::vector<double> p(3);
    tinyformer::softmax(logits.data(), logits.size(), p.data());
    const double sum = std::exp(-1.0) + 1.0 + std::exp(-2.0);
    CHECK(p[0] == doctest::Approx(std::exp(-1.0) / sum).epsilon(1e-12));
    CHECK(p[1] == doctest::Approx(1.0 / sum).epsilon(1e-12));
    CHECK(p[2] == doctest::Approx(std::exp(-2.0) / sum).epsilon(1e-12));
    CHECK(p[0] + p[1] + p[2] == doctest::Approx(1.0).epsilon(1e-15));
    // -inf is a masked token: probability exactly 0
    const std::vector<double> masked = {0.0, -std::numeric_limits<double>::infinity(), 0.0};
    std::vector<float> q(3);
    tinyformer::softmax(masked.data(), masked.size(), q.data());
    CHECK(q[0] == 0.5f);
    CHECK(q[1] == 0.0f);
    CHECK(q[2] == 0.5f);
    CHECK_THROWS_WITH_AS(tinyformer::softmax(masked.data(), 0, q.data()),
                         "softmax: the row is empty (V = 0)", usage_error);
}

TEST_CASE_TEMPLATE("sampling: temperature 0 is greedy for any seed", T, float, double) {
    tinyformer::rng g(7);
    for (std::uint64_t seed = 0; seed < 20; seed++) {
        sampler s(make_options(0.0), seed, 65);
        for (int row = 0; row < 50; row++) {
            const std::vector<T> logits = random_logits<T>(g, 65);
            CHECK(s.next(logits.data(), logits.size()) == first_max(logits));
        }
    }
    // ties go to the lowest id, and greedy decoding draws no random number
    sampler s(make_options(0.0), 3);
    const tinyformer::rng before = s.generator();
    const std::vector<T> tied = {T(0), T(2), T(1), T(2)};
    CHECK(s.next(tied.data(), tied.size()) == 1);
    CHECK(s.generator() == before);
}

TEST_CASE_TEMPLATE("sampling: top_k = 1 equals greedy for any seed", T, float, double) {
    tinyformer::rng g(11);
    for (std::uint64_t seed = 0; seed < 20; seed++) {
        sampler top1(make_options(1.0, 1), seed, 65);
        sampler hot(make_options(5.0, 1, 0.5), seed);  // a hot temperature changes nothing
        for (int row = 0; row < 50; row++) {
            const std::vector<T> logits = random_logits<T>(g, 65);
            CHECK(top1.next(logits.data(), logits.size()) == first_max(logits));
            CHECK(hot.next(logits.data(), logits.size()) == first_max(logits));
        }
    }
    // a tiny top_p keeps only the most likely token too
    sampler tiny_p(make_options(1.0, 0, 1e-9), 5);
    for (int row = 0; row < 200; row++) {
        const std::vector<T> logits = random_logits<T>(g, 65);
        CHECK(tiny_p.next(logits.data(), logits.size()) == first_max(logits));
    }
}

TEST_CASE("sampling: one seed gives one sequence, two seeds differ") {
    tinyformer::rng g(5);
    std::vector<std::vector<float>> rows;
    for (int i = 0; i < 300; i++) rows.push_back(random_logits<float>(g, 65));
    for (const auto& opt : {make_options(1.0), make_options(0.8, 10), make_options(1.2, 0, 0.9),
                            make_options(1.0, 20, 0.95)}) {
        sampler a(opt, 42, 65), b(opt, 42), c(opt, 43, 65);
        int differ = 0;
        for (const auto& row : rows) {
            const std::int32_t ia = a.next(row.data(), row.size());
            CHECK(ia == b.next(row.data(), row.size()));
            differ += ia != c.next(row.data(), row.size());
        }
        CHECK(differ > 30);
    }
}

TEST_CASE("sampling: restoring the generator's state repeats the draws") {
    sampler s(make_options(1.0, 5), 9, 8);
    const std::string saved = s.generator().state();
    std::vector<std::int32_t> first, second;
    for (int i = 0; i < 100; i++) first.push_back(s.next(eight_logits.data(), 8));
    s.generator().set_state(saved);
    for (int i = 0; i < 100; i++) second.push_back(s.next(eight_logits.data(), 8));
    CHECK(first == second);
}

TEST_CASE("sampling: option errors carry exact messages") {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const double inf = std::numeric_limits<double>::infinity();
    CHECK_NOTHROW(make_options(0.0).validate());
    CHECK_NOTHROW(make_options(0.8, 40, 1.0).validate());
    CHECK_NOTHROW(make_options(1.0, 0, 1e-9).validate());
    CHECK_THROWS_WITH_AS(make_options(-0.5).validate(),
                         "sampling_options: temperature must be a finite number >= 0, got -0.5",
                         usage_error);
    CHECK_THROWS_WITH_AS(make_options(nan).validate(),
                         "sampling_options: temperature must be a finite number >= 0, got nan",
                         usage_error);
    CHECK_THROWS_WITH_AS(make_options(inf).validate(),
                         "sampling_options: temperature must be a finite number >= 0, got inf",
                         usage_error);
    CHECK_THROWS_WITH_AS(make_options(1.0, -1).validate(),
                         "sampling_options: top_k must be >= 0, got -1", usage_error);
    CHECK_THROWS_WITH_AS(make_options(1.0, 0, 0.0).validate(),
                         "sampling_options: top_p must be in (0, 1], got 0", usage_error);
    CHECK_THROWS_WITH_AS(make_options(1.0, 0, 1.5).validate(),
                         "sampling_options: top_p must be in (0, 1], got 1.5", usage_error);
    CHECK_THROWS_WITH_AS(make_options(1.0, 0, -0.25).validate(),
                         "sampling_options: top_p must be in (0, 1], got -0.25", usage_error);
    CHECK_THROWS_WITH_AS(make_options(1.0, 0, nan).validate(),
                         "sampling_options: top_p must be in (0, 1], got nan", usage_error);
    // the sampler checks its options when built
    CHECK_THROWS_WITH_AS(sampler(make_options(1.0, -3), 1),
                         "sampling_options: top_k must be >= 0, got -3", usage_error);
}

TEST_CASE("sampling: next rejects empty and non-finite rows, and never picks -inf") {
    const double inf = std::numeric_limits<double>::infinity();
    const double nan = std::numeric_limits<double>::quiet_NaN();
    for (double t : {0.0, 1.0}) {
        CAPTURE(t);
        sampler s(make_options(t), 1);
        const std::vector<double> with_nan = {0.0, 1.0, nan, 2.0};
        const std::vector<double> with_inf = {0.0, inf, 1.0};
        const std::vector<double> all_masked = {-inf, -inf};
        CHECK_THROWS_WITH_AS(s.next(with_nan.data(), 0), "sampler::next: the row is empty (V = 0)",
                             usage_error);
        CHECK_THROWS_WITH_AS(
            s.next(with_nan.data(), with_nan.size()),
            "sampler::next: expected finite logits (or -inf), found nan at index 2", usage_error);
        CHECK_THROWS_WITH_AS(
            s.next(with_inf.data(), with_inf.size()),
            "sampler::next: expected finite logits (or -inf), found inf at index 1", usage_error);
        CHECK_THROWS_WITH_AS(s.next(all_masked.data(), all_masked.size()),
                             "sampler::next: every logit is -inf, so no token can be chosen",
                             usage_error);
        // -inf marks a token that must never be chosen
        const std::vector<double> masked = {-inf, 0.0, -inf, 0.0, -inf};
        for (int i = 0; i < 1000; i++) {
            const std::int32_t id = s.next(masked.data(), masked.size());
            REQUIRE((id == 1 || id == 3));
        }
    }
}

TEST_CASE_TEMPLATE("sampling: top_k never returns a token outside the k largest", T, float,
                   double) {
    tinyformer::rng g(3);
    sampler s(make_options(1.5, 5), 21, 65);
    for (int row = 0; row < 200; row++) {
        const std::vector<T> logits = random_logits<T>(g, 65);
        // the k-th largest logit: a token is among the k largest iff at most 4 others beat it
        const std::int32_t id = s.next(logits.data(), logits.size());
        int beaten_by = 0;
        for (T x : logits) beaten_by += x > logits[static_cast<std::size_t>(id)];
        REQUIRE(beaten_by < 5);
    }
    // ties at the edge of the cut go to the lower id: of three equal 3s, ids 1 and 2 stay
    const std::vector<T> tied = {T(1), T(3), T(3), T(3), T(0)};
    sampler two(make_options(1.0, 2), 4);
    std::set<std::int32_t> seen;
    for (int i = 0; i < 2000; i++) seen.insert(two.next(tied.data(), tied.size()));
    CHECK(seen == std::set<std::int32_t>{1, 2});
    // top_k >= V keeps every token
    sampler all(make_options(1.0, 5), 4);
    std::set<std::int32_t> every;
    for (int i = 0; i < 2000; i++) every.insert(all.next(tied.data(), 4));
    CHECK(every == std::set<std::int32_t>{0, 1, 2, 3});
}

TEST_CASE("sampling: top_p never returns a token outside the nucleus") {
    // probabilities 0.05, 0.5, 0.1, 0.2, 0.15: sorted 0.5 (id 1), 0.2 (id 3), 0.15 (id 4),
    // 0.1 (id 2), 0.05 (id 0), with running mass 0.5, 0.7, 0.85, 0.95, 1
    const std::vector<double> probs = {0.05, 0.5, 0.1, 0.2, 0.15};
    std::vector<double> logits;
    for (double p : probs) logits.push_back(std::log(p));
    const auto kept = [&](double top_p, int top_k) {
        sampler s(make_options(1.0, top_k, top_p), 17, 5);
        std::set<std::int32_t> seen;
        for (int i = 0; i < 5000; i++) seen.insert(s.next(logits.data(), logits.size()));
        return seen;
    };
    CHECK(kept(0.4, 0) == std::set<std::int32_t>{1});
    CHECK(kept(0.6, 0) == std::set<std::int32_t>{1, 3});
    CHECK(kept(0.8, 0) == std::set<std::int32_t>{1, 3, 4});
    CHECK(kept(0.9, 0) == std::set<std::int32_t>{1, 2, 3, 4});
    CHECK(kept(0.99, 0) == std::set<std::int32_t>{0, 1, 2, 3, 4});
    // after top_k = 2 the mass left is 0.7; the nucleus is measured against it:
    // id 1 holds 0.5 / 0.7 = 0.714 of it
    CHECK(kept(0.7, 2) == std::set<std::int32_t>{1});
    CHECK(kept(0.75, 2) == std::set<std::int32_t>{1, 3});
    CHECK(kept(0.8, 3) == std::set<std::int32_t>{1, 3});
    CHECK(kept(0.9, 3) == std::set<std::int32_t>{1, 3, 4});
    // equal logits give weights of exactly 1, so a prefix can hold exactly top_p of the mass:
    // reaching it is enough, and ties rank the lower id first
    const std::vector<double> flat = {2.0, 2.0, 2.0, 2.0};
    const auto kept_flat = [&](double top_p) {
        sampler s(make_options(1.0, 0, top_p), 18, 4);
        std::set<std::int32_t> seen;
        for (int i = 0; i < 2000; i++) seen.insert(s.next(flat.data(), flat.size()));
        return seen;
    };
    CHECK(kept_flat(0.25) == std::set<std::int32_t>{0});
    CHECK(kept_flat(0.5) == std::set<std::int32_t>{0, 1});
    CHECK(kept_flat(0.75) == std::set<std::int32_t>{0, 1, 2});
    CHECK(kept_flat(0.76) == std::set<std::int32_t>{0, 1, 2, 3});
}

TEST_CASE("sampling: cuts on random rows keep to a sorted reference") {
    // the reference: sort by logit (ties to the lower id), keep k, then the shortest prefix
    // whose mass reaches top_p of the kept mass, in long double
    tinyformer::rng g(99);
    const std::size_t V = 65;
    int draws = 0;
    for (int top_k : {0, 1, 3, 17, 64, 65, 80}) {
        for (double top_p : {0.05, 0.5, 0.9, 0.999, 1.0}) {
            CAPTURE(top_k);
            CAPTURE(top_p);
            const double t = 0.7;
            sampler s(make_options(t, top_k, top_p), 1000 + static_cast<std::uint64_t>(top_k), V);
            for (int row = 0; row < 100; row++) {
                std::vector<float> logits = random_logits<float>(g, V);
                logits[5] = logits[9] = logits[40];  // a tie, so ties get ranked too
                std::vector<std::int32_t> order(V);
                for (std::size_t i = 0; i < V; i++) order[i] = static_cast<std::int32_t>(i);
                std::sort(order.begin(), order.end(), [&](std::int32_t a, std::int32_t b) {
                    const float xa = logits[static_cast<std::size_t>(a)];
                    const float xb = logits[static_cast<std::size_t>(b)];
                    return xa > xb || (xa == xb && a < b);
                });
                const std::size_t k = top_k == 0 ? V : std::min<std::size_t>(V, top_k);
                const long double m = logits[static_cast<std::size_t>(order[0])];
                std::vector<long double> w(k);
                long double kept = 0;
                for (std::size_t j = 0; j < k; j++) {
                    w[j] = std::exp((logits[static_cast<std::size_t>(order[j])] - m) / t);
                    kept += w[j];
                }
                std::size_t n = 0;
                long double mass = 0;
                while (n < k && mass < top_p * kept) mass += w[n++];
                const std::set<std::int32_t> nucleus(order.begin(), order.begin() + n);
                const std::int32_t id = s.next(logits.data(), V);
                draws++;
                REQUIRE(nucleus.count(id) == 1);
            }
        }
    }
    CHECK(draws == 7 * 5 * 100);
}

TEST_CASE("sampling: draws fit softmax(logits / temperature) by chi-square") {
    const int n = 200000;
    for (double t : {1.0, 0.5}) {
        CAPTURE(t);
        sampler s(make_options(t), 2024, 8);
        int outside = 0;
        const double chi2 = chi_square(s, eight_logits, expected_probs(eight_logits, t), n,
                                       &outside);
        CAPTURE(chi2);
        CHECK(chi2 < chi2_999_df7);  // 8 tokens: 7 degrees of freedom
        CHECK(chi2 > 0.5);  // too good a fit: counts that track the expectation are not random
        CHECK(outside == 0);
    }
}

TEST_CASE("sampling: top_k = 3 draws fit the renormalised top 3 by chi-square") {
    // the three largest of eight_logits: 2.0 (id 2), 1.5 (id 5), 1.0 (id 0)
    const std::vector<double> p = restrict_to(expected_probs(eight_logits, 1.0), {0, 2, 5});
    sampler s(make_options(1.0, 3), 77, 8);
    int outside = 0;
    const double chi2 = chi_square(s, eight_logits, p, 200000, &outside);
    CAPTURE(chi2);
    CHECK(chi2 < chi2_999_df2);  // 3 tokens: 2 degrees of freedom
    CHECK(chi2 > 0.01);
    CHECK(outside == 0);
}

TEST_CASE("sampling: top_p draws fit the renormalised nucleus by chi-square") {
    // probabilities as in the nucleus test; top_p = 0.8 keeps ids 1, 3, 4 (mass 0.85)
    const std::vector<double> probs = {0.05, 0.5, 0.1, 0.2, 0.15};
    std::vector<double> logits;
    for (double p : probs) logits.push_back(std::log(p));
    const std::vector<double> p = restrict_to(probs, {1, 3, 4});
    sampler s(make_options(1.0, 0, 0.8), 78, 5);
    int outside = 0;
    const double chi2 = chi_square(s, logits, p, 200000, &outside);
    CAPTURE(chi2);
    CHECK(chi2 < chi2_999_df2);  // 3 tokens: 2 degrees of freedom
    CHECK(chi2 > 0.01);
    CHECK(outside == 0);
}

TEST_CASE("sampling: a row longer than the reserved vocabulary still works") {
    sampler s(make_options(1.0, 3, 0.9), 1, 4);
    tinyformer::rng g(2);
    const std::vector<double> logits = random_logits<double>(g, 100);
    const std::int32_t id = s.next(logits.data(), logits.size());
    int beaten_by = 0;
    for (double x : logits) beaten_by += x > logits[static_cast<std::size_t>(id)];
    CHECK(beaten_by < 3);
}
