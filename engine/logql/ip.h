/* ip("...") patterns of LogQL line and label filters: a single address ("192.168.0.1",
 * "::1"), a CIDR prefix ("10.0.0.0/8", "2001:db8::/32") or an inclusive range
 * ("192.168.0.1-192.168.0.23"), with Go net/netip parsing rules (no leading zeros in IPv4
 * fields, IPv6 zones only on single addresses, both ends of a range of one family).
 *
 * logql_ip_matcher_parse fills a caller-provided struct (no allocation); the matcher is immutable
 * and thread-safe. */
#ifndef STRATA_ENGINE_LOGQL_IP_H
#define STRATA_ENGINE_LOGQL_IP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/str.h"

enum logql_ip_kind { LOGQL_IP_ADDR, LOGQL_IP_PREFIX, LOGQL_IP_RANGE };

/* An address in 16 bytes; IPv4 addresses are stored v4-mapped but keep is4 so that a v4 pattern
 * never matches an IPv6 address (netip semantics). */
struct logql_ip_addr {
    uint8_t b[16];
    bool is4;
    bool has_zone;
};

struct logql_ip_matcher {
    enum logql_ip_kind kind;
    struct logql_ip_addr lo, hi; /* ADDR: lo; PREFIX: masked address in lo, bits; RANGE: lo..hi */
    int bits;
};

/* Returns 0, or ERR_INVALID with "ip: invalid pattern: \"...\"" in err. */
int logql_ip_matcher_parse(struct str pattern, struct logql_ip_matcher *m, char *err,
                           size_t err_size);
/* netip.ParseAddr. */
bool logql_ip_parse_addr(struct str s, struct logql_ip_addr *out);
/* True when some IP address found in `text` lies in the pattern. Loki scans line filters and label
 * values the same way: candidate addresses start where an IPv4 ("1.", "10.", "100.") or IPv6
 * ("::f", "f:", "ff:", ...) prefix is seen and extend over the address characters. */
bool logql_ip_matches(const struct logql_ip_matcher *m, struct str text);

#endif
