/* CRC-32C: slicing-by-8 software path and an SSE4.2 path that runs three independent crc32 streams
 * (hiding the instruction's 3-cycle latency) and joins them with precomputed "shift by N zero
 * bytes" operators. The CRC register is linear over GF(2): reg(A||B) = shift(reg(A), |B|) ^
 * reg0(B). */
#include "base/crc32c.h"

#include <string.h>

#define POLY        0x82F63B78u
#define LONG_BLOCK  8192
#define SHORT_BLOCK 256

static uint32_t sw_table[8][256];
static uint32_t shift_long[4][256];  /* operator: append LONG_BLOCK zero bytes to the register */
static uint32_t shift_short[4][256]; /* operator: append SHORT_BLOCK zero bytes */
static int have_hw;

/* Raw register update, one byte at a time (used only to build operators). */
static uint32_t reg_zeros_sw(uint32_t reg, size_t n)
{
    while (n--)
        reg = sw_table[0][reg & 0xff] ^ (reg >> 8);
    return reg;
}

static void build_shift(uint32_t table[4][256], size_t zeros)
{
    uint32_t basis[32];
    for (int i = 0; i < 32; i++)
        basis[i] = reg_zeros_sw(1u << i, zeros);
    for (int k = 0; k < 4; k++) {
        for (int b = 0; b < 256; b++) {
            uint32_t v = 0;
            for (int bit = 0; bit < 8; bit++)
                if (b & (1 << bit))
                    v ^= basis[k * 8 + bit];
            table[k][b] = v;
        }
    }
}

static inline uint32_t shift(const uint32_t table[4][256], uint32_t reg)
{
    return table[0][reg & 0xff] ^ table[1][(reg >> 8) & 0xff] ^ table[2][(reg >> 16) & 0xff] ^
           table[3][reg >> 24];
}

__attribute__((constructor)) static void crc32c_init(void)
{
    for (uint32_t b = 0; b < 256; b++) {
        uint32_t c = b;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (POLY & (0u - (c & 1)));
        sw_table[0][b] = c;
    }
    for (int t = 1; t < 8; t++)
        for (int b = 0; b < 256; b++)
            sw_table[t][b] = sw_table[0][sw_table[t - 1][b] & 0xff] ^ (sw_table[t - 1][b] >> 8);
    build_shift(shift_long, LONG_BLOCK);
    build_shift(shift_short, SHORT_BLOCK);
#if defined(__x86_64__)
    __builtin_cpu_init();
    have_hw = __builtin_cpu_supports("sse4.2");
#endif
}

int crc32c_hw_available(void)
{
    return have_hw;
}

uint32_t crc32c_update_sw(uint32_t crc, const void *data, size_t n)
{
    const uint8_t *p = data;
    uint32_t reg = ~crc;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        w ^= reg;
        reg = sw_table[7][w & 0xff] ^ sw_table[6][(w >> 8) & 0xff] ^ sw_table[5][(w >> 16) & 0xff] ^
              sw_table[4][(w >> 24) & 0xff] ^ sw_table[3][(w >> 32) & 0xff] ^
              sw_table[2][(w >> 40) & 0xff] ^ sw_table[1][(w >> 48) & 0xff] ^ sw_table[0][w >> 56];
        p += 8;
        n -= 8;
    }
    while (n--)
        reg = sw_table[0][(reg ^ *p++) & 0xff] ^ (reg >> 8);
    return ~reg;
}

#if defined(__x86_64__)
#include <nmmintrin.h>

__attribute__((target("sse4.2"))) static uint32_t
hw_blocks(uint32_t reg, const uint8_t **pp, size_t *np, size_t block, const uint32_t table[4][256])
{
    const uint8_t *p = *pp;
    size_t n = *np;
    while (n >= 3 * block) {
        uint64_t c0 = reg, c1 = 0, c2 = 0;
        const uint8_t *end = p + block;
        do {
            uint64_t a, b, c;
            memcpy(&a, p, 8);
            memcpy(&b, p + block, 8);
            memcpy(&c, p + 2 * block, 8);
            c0 = _mm_crc32_u64(c0, a);
            c1 = _mm_crc32_u64(c1, b);
            c2 = _mm_crc32_u64(c2, c);
            p += 8;
        } while (p < end);
        reg = shift(table, (uint32_t)c0) ^ (uint32_t)c1;
        reg = shift(table, reg) ^ (uint32_t)c2;
        p += 2 * block;
        n -= 3 * block;
    }
    *pp = p;
    *np = n;
    return reg;
}

__attribute__((target("sse4.2"))) uint32_t crc32c_update_hw(uint32_t crc, const void *data,
                                                            size_t n)
{
    const uint8_t *p = data;
    uint32_t reg = ~crc;
    while (n && ((uintptr_t)p & 7)) {
        reg = _mm_crc32_u8(reg, *p++);
        n--;
    }
    reg = hw_blocks(reg, &p, &n, LONG_BLOCK, shift_long);
    reg = hw_blocks(reg, &p, &n, SHORT_BLOCK, shift_short);
    uint64_t r64 = reg;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        r64 = _mm_crc32_u64(r64, w);
        p += 8;
        n -= 8;
    }
    reg = (uint32_t)r64;
    while (n--)
        reg = _mm_crc32_u8(reg, *p++);
    return ~reg;
}
#else
uint32_t crc32c_update_hw(uint32_t crc, const void *data, size_t n)
{
    return crc32c_update_sw(crc, data, n);
}
#endif

uint32_t crc32c_update(uint32_t crc, const void *data, size_t n)
{
    return have_hw ? crc32c_update_hw(crc, data, n) : crc32c_update_sw(crc, data, n);
}
