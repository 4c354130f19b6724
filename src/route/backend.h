/* Health state of backends. A backend's state is shared by every worker thread and
 * survives configuration reloads (it is keyed by the backend's name and URL), so a reload
 * does not forget that a backend is down. States live in a process-wide registry that
 * owns them until sg_backend_registry_free(); readers use atomics only. */
#ifndef SG_ROUTE_BACKEND_H
#define SG_ROUTE_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

enum sg_health { SG_HEALTH_UNKNOWN = 0, SG_HEALTH_UP = 1, SG_HEALTH_DOWN = 2 };

struct sg_backend_state;

/* Returns the state of backend `name` at `url`, creating it (UNKNOWN) on first use. NULL
 * only when out of memory. Thread-safe. */
struct sg_backend_state *sg_backend_state_get(const char *name, const char *url);
/* Frees every state (at exit, when no thread uses them any more). */
void sg_backend_registry_free(void);

const char *sg_backend_state_name(const struct sg_backend_state *s);
enum sg_health sg_backend_health(const struct sg_backend_state *s);
/* True when requests may be sent: up, or not checked yet. */
bool sg_backend_routable(const struct sg_backend_state *s);
/* Records a probe's or a request's outcome; logs transitions with `why`. */
void sg_backend_set_health(struct sg_backend_state *s, enum sg_health h, const char *why);
/* A request could not reach the backend: mark it down and have it probed at once. */
void sg_backend_report_failure(struct sg_backend_state *s, const char *why);

/* For the health checker only (one thread): scheduling of the next probe. */
uint64_t sg_backend_next_check(const struct sg_backend_state *s);
void sg_backend_schedule(struct sg_backend_state *s, uint64_t at_us);
uint32_t sg_backend_backoff(const struct sg_backend_state *s);
void sg_backend_set_backoff(struct sg_backend_state *s, uint32_t ms);
/* Seconds until the next probe (at least 1), for Retry-After. */
uint32_t sg_backend_retry_after(const struct sg_backend_state *s);

/* Engine backends (kind: engine) have two socket paths: the configured one and the same
 * path with SG_ENGINE_ALT_SUFFIX. A model switch (route/supervisor.h) starts the new engine
 * on the path not in use and, once it is healthy, flips this flag so that snapshots built
 * from then on send new requests to it. Thread-safe (atomic). */
#define SG_ENGINE_ALT_SUFFIX ".b"
bool sg_backend_alt_socket(const struct sg_backend_state *s);
void sg_backend_set_alt_socket(struct sg_backend_state *s, bool alt);

#endif
