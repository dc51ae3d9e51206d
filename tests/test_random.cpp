// tests/test_random.cpp: tinyformer::rng in tinyformer/random.hpp.
#include <tinyformer/random.hpp>

#include <array>    // std::array
#include <cmath>    // std::abs
#include <cstddef>  // std::size_t
#include <cstdint>  // std::uint64_t
#include <string>   // std::string

#include <doctest/doctest.h>

#include <tinyformer/error.hpp>

namespace tf = tinyformer;

TEST_CASE("random: the engine is the standard's mt19937_64") {
    // The standard fixes the 10000th output of a default-seeded mt19937_64 (seed 5489), so
    // every platform draws the same numbers.
    tf::rng gen(5489);
    for (int i = 0; i < 9999; ++i) gen.next();
    CHECK(gen.next() == 9981545732273789042ULL);
}

TEST_CASE("random: two generators with one seed agree") {
    tf::rng a(42), b(42), c(43);
    CHECK(a == b);
    CHECK(a != c);
    bool all_equal = true, any_differs_from_c = false;
    for (int i = 0; i < 1000; ++i) {
        const std::uint64_t x = a.next();
        all_equal = all_equal && x == b.next();
        any_differs_from_c = any_differs_from_c || x != c.next();
    }
    CHECK(all_equal);
    CHECK(any_differs_from_c);
    CHECK(a.normal() == b.normal());
    CHECK(a.uniform() == b.uniform());
    CHECK(a.below(1000) == b.below(1000));
    CHECK(a == b);
}

TEST_CASE("random: uniform is next() with 53 bits, in [0, 1)") {
    tf::rng a(7), b(7);
    for (int i = 0; i < 10000; ++i) {
        const double u = a.uniform();
        const double expected = static_cast<double>(b.next() >> 11) / 9007199254740992.0;
        REQUIRE(u == expected);
        REQUIRE(u >= 0.0);
        REQUIRE(u < 1.0);
    }
}

TEST_CASE("random: state round trip") {
    tf::rng gen(2026);
    for (int i = 0; i < 123; ++i) gen.next();
    const std::string saved = gen.state();
    std::array<std::uint64_t, 10> first{};
    for (auto& x : first) x = gen.next();
    const double first_normal = gen.normal();

    // Back to the saved state, in this generator and in a new one with another seed.
    gen.set_state(saved);
    tf::rng other(1);
    other.set_state(saved);
    CHECK(other == gen);
    for (std::size_t i = 0; i < first.size(); ++i) {
        CAPTURE(i);
        CHECK(gen.next() == first[i]);
        CHECK(other.next() == first[i]);
    }
    CHECK(gen.normal() == first_normal);
    CHECK(other.normal() == first_normal);
    CHECK(gen == other);
}

TEST_CASE("random: set_state rejects text that is not a state") {
    tf::rng gen(5);
    const tf::rng before = gen;
    CHECK_THROWS_WITH_AS(gen.set_state("not a state"),
                         "rng::set_state: the text is not a generator state", tf::error);
    CHECK_THROWS_AS(gen.set_state(""), tf::error);
    // A failed set_state leaves the generator as it was.
    CHECK(gen == before);
}

TEST_CASE("random: normal has mean 0 and variance 1") {
    tf::rng gen(1337);
    const int n = 100000;
    double sum = 0, sum_sq = 0;
    for (int i = 0; i < n; ++i) {
        const double z = gen.normal();
        sum += z;
        sum_sq += z * z;
    }
    const double mean = sum / n;
    const double variance = sum_sq / n - mean * mean;
    // Standard errors over 100k draws: 0.0032 for the mean, 0.0045 for the variance; the
    // tolerances are about six of them.
    CHECK(std::abs(mean) < 0.02);
    CHECK(std::abs(variance - 1.0) < 0.03);
}

TEST_CASE("random: below(n) stays in [0, n) and is uniform") {
    tf::rng gen(99);
    for (int i = 0; i < 100; ++i) REQUIRE(gen.below(1) == 0);

    // Seven buckets of 70000 draws: about 10000 each, standard deviation 93.
    std::array<int, 7> counts{};
    for (int i = 0; i < 70000; ++i) {
        const std::uint64_t k = gen.below(counts.size());
        REQUIRE(k < counts.size());
        ++counts[k];
    }
    for (std::size_t k = 0; k < counts.size(); ++k) {
        CAPTURE(k);
        CHECK(counts[k] > 9500);
        CHECK(counts[k] < 10500);
    }

    // n just above 2^63, where about half the raw numbers are drawn again.
    const std::uint64_t big = (std::uint64_t(1) << 63) + 12345;
    for (int i = 0; i < 1000; ++i) REQUIRE(gen.below(big) < big);
}
