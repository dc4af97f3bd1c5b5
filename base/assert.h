/* Always-on assertions and panics for programmer errors (never for bad input: see
 * docs/ARCHITECTURE.md). ASSERT stays on in release builds. Both print file:line, the message and a
 * backtrace to stderr, then abort(). Thread-safe; async-signal-unsafe (they format). */
#ifndef STRATA_BASE_ASSERT_H
#define STRATA_BASE_ASSERT_H

#define ASSERT(cond)                                                                               \
    do {                                                                                           \
        if (__builtin_expect(!(cond), 0))                                                          \
            base_panic(__FILE__, __LINE__, "BUG: assertion failed: %s", #cond);                    \
    } while (0)

/* PANIC("BUG: ...", args): unconditional stop. Used for impossible states and failed fsync. */
#define PANIC(...) base_panic(__FILE__, __LINE__, __VA_ARGS__)

#define STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)

_Noreturn void base_panic(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), cold));

#endif
