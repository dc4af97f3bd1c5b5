/* CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as used by our WAL, blocks and chunks.
 * crc32c_update(0, "123456789", 9) == 0xE3069283. Chaining: crc32c_update(crc32c_update(0, a), b)
 * equals the CRC of a||b. Uses the SSE4.2 crc32 instruction on three interleaved streams where the
 * CPU has it, a slicing-by-8 table otherwise; the choice is made once at load. Thread-safe. */
#ifndef STRATA_BASE_CRC32C_H
#define STRATA_BASE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

uint32_t crc32c_update(uint32_t crc, const void *data, size_t n);

static inline uint32_t crc32c(const void *data, size_t n)
{
    return crc32c_update(0, data, n);
}

/* Forced implementations, for tests and benchmarks. crc32c_hw_available() says whether _hw may run.
 */
uint32_t crc32c_update_sw(uint32_t crc, const void *data, size_t n);
uint32_t crc32c_update_hw(uint32_t crc, const void *data, size_t n);
int crc32c_hw_available(void);

#endif
