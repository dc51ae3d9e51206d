// tinyformer/detail/transpose.hpp: a panel of rows copied transposed, for packing B when the
// product reads it transposed (a linear layer's A · Wᵀ, attention's q · kᵀ).
//
// Floats go through square register transposes of the widest vectors compiled for (16 by 16
// with AVX-512, 8 by 8 with AVX, 4 by 4 with SSE), several times faster than one number at
// a time; anything else, and the last columns, are copied one by one.
#pragma once

#include <cstddef>  // std::size_t

#if defined(__AVX512F__) || defined(__AVX__) || defined(__SSE__)
#include <immintrin.h>  // the x86 shuffles
#endif

namespace tinyformer {
namespace detail {

// out[k·R + j] = src[j·ld + k] for j < R, k in [k0, kc)
template <class T>
void transpose_tail(const T* src, std::size_t ld, std::size_t R, std::size_t k0,
                    std::size_t kc, T* out) {
    for (std::size_t j = 0; j < R; ++j) {
        for (std::size_t k = k0; k < kc; ++k) out[k * R + j] = src[j * ld + k];
    }
}

// out(kc, R) = the R rows src[j·ld + k], j < R, k < kc, transposed: out[k·R + j]
template <class T>
void transpose_rows(const T* src, std::size_t ld, std::size_t R, std::size_t kc, T* out) {
    transpose_tail(src, ld, R, 0, kc, out);
}

#if defined(__AVX512F__)

// the same for floats, in 16 by 16 blocks; R is a multiple of 16
inline void transpose_rows(const float* src, std::size_t ld, std::size_t R, std::size_t kc,
                           float* out) {
    const std::size_t kv = kc - kc % 16;
    for (std::size_t j0 = 0; j0 < R; j0 += 16) {
        for (std::size_t k0 = 0; k0 < kv; k0 += 16) {
            __m512 r[16], t[16];
            for (std::size_t i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(src + (j0 + i) * ld + k0);
            // within 128-bit lanes: pairs of rows interleaved, then quadruples, so that lane L
            // of t[4q + c] holds column 4L + c of rows 4q..4q+3
            for (std::size_t p = 0; p < 8; ++p) {
                t[2 * p] = _mm512_unpacklo_ps(r[2 * p], r[2 * p + 1]);
                t[2 * p + 1] = _mm512_unpackhi_ps(r[2 * p], r[2 * p + 1]);
            }
            for (std::size_t q = 0; q < 4; ++q) {
                r[4 * q] = _mm512_shuffle_ps(t[4 * q], t[4 * q + 2], 0x44);
                r[4 * q + 1] = _mm512_shuffle_ps(t[4 * q], t[4 * q + 2], 0xee);
                r[4 * q + 2] = _mm512_shuffle_ps(t[4 * q + 1], t[4 * q + 3], 0x44);
                r[4 * q + 3] = _mm512_shuffle_ps(t[4 * q + 1], t[4 * q + 3], 0xee);
            }
            // across lanes: column c + 4L gathers lane L of r[c], r[4 + c], r[8 + c], r[12 + c]
            for (std::size_t c = 0; c < 4; ++c) {
                const __m512 x = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x88);
                const __m512 y = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xdd);
                const __m512 xx = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x88);
                const __m512 yy = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xdd);
                float* o = out + (k0 + c) * R + j0;
                _mm512_store_ps(o, _mm512_shuffle_f32x4(x, xx, 0x88));
                _mm512_store_ps(o + 4 * R, _mm512_shuffle_f32x4(y, yy, 0x88));
                _mm512_store_ps(o + 8 * R, _mm512_shuffle_f32x4(x, xx, 0xdd));
                _mm512_store_ps(o + 12 * R, _mm512_shuffle_f32x4(y, yy, 0xdd));
            }
        }
    }
    transpose_tail(src, ld, R, kv, kc, out);
}

#elif defined(__AVX__)

// the same for floats, in 8 by 8 blocks; R is a multiple of 8
inline void transpose_rows(const float* src, std::size_t ld, std::size_t R, std::size_t kc,
                           float* out) {
    const std::size_t kv = kc - kc % 8;
    for (std::size_t j0 = 0; j0 < R; j0 += 8) {
        for (std::size_t k0 = 0; k0 < kv; k0 += 8) {
            __m256 r[8], t[8];
            for (std::size_t i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + (j0 + i) * ld + k0);
            // within 128-bit lanes, as for AVX-512; then lane L of r[c] and r[4 + c] together
            for (std::size_t p = 0; p < 4; ++p) {
                t[2 * p] = _mm256_unpacklo_ps(r[2 * p], r[2 * p + 1]);
                t[2 * p + 1] = _mm256_unpackhi_ps(r[2 * p], r[2 * p + 1]);
            }
            for (std::size_t q = 0; q < 2; ++q) {
                r[4 * q] = _mm256_shuffle_ps(t[4 * q], t[4 * q + 2], 0x44);
                r[4 * q + 1] = _mm256_shuffle_ps(t[4 * q], t[4 * q + 2], 0xee);
                r[4 * q + 2] = _mm256_shuffle_ps(t[4 * q + 1], t[4 * q + 3], 0x44);
                r[4 * q + 3] = _mm256_shuffle_ps(t[4 * q + 1], t[4 * q + 3], 0xee);
            }
            for (std::size_t c = 0; c < 4; ++c) {
                float* o = out + (k0 + c) * R + j0;
                _mm256_store_ps(o, _mm256_permute2f128_ps(r[c], r[4 + c], 0x20));
                _mm256_store_ps(o + 4 * R, _mm256_permute2f128_ps(r[c], r[4 + c], 0x31));
            }
        }
    }
    transpose_tail(src, ld, R, kv, kc, out);
}

#elif defined(__SSE__)

// the same for floats, in 4 by 4 blocks; R is a multiple of 4
inline void transpose_rows(const float* src, std::size_t ld, std::size_t R, std::size_t kc,
                           float* out) {
    const std::size_t kv = kc - kc % 4;
    for (std::size_t j0 = 0; j0 < R; j0 += 4) {
        for (std::size_t k0 = 0; k0 < kv; k0 += 4) {
            __m128 r0 = _mm_loadu_ps(src + j0 * ld + k0);
            __m128 r1 = _mm_loadu_ps(src + (j0 + 1) * ld + k0);
            __m128 r2 = _mm_loadu_ps(src + (j0 + 2) * ld + k0);
            __m128 r3 = _mm_loadu_ps(src + (j0 + 3) * ld + k0);
            _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
            _mm_store_ps(out + k0 * R + j0, r0);
            _mm_store_ps(out + (k0 + 1) * R + j0, r1);
            _mm_store_ps(out + (k0 + 2) * R + j0, r2);
            _mm_store_ps(out + (k0 + 3) * R + j0, r3);
        }
    }
    transpose_tail(src, ld, R, kv, kc, out);
}

#endif

}  // namespace detail
}  // namespace tinyformer
