/* Health state of backends. A backend's state is shared by every worker thread and
 * survives configuration reloads (it is keyed by the backend's name and URL), so a reload
 * does not forget that a backend is down.
 *
 * Ownership: states are reference-counted. sg_backend_state_get() returns a new reference
 * (the existing state of that name and URL while anyone holds one, else a fresh UNKNOWN
 * one); every holder (a configuration snapshot per backend, the health checker per target,
 * the engine supervisor per engine) drops its reference with sg_backend_state_put() when it
 * drops the pointer. The last put unlinks and frees the state, so the registry holds only
 * the backends some holder still uses, however many reloads there were. A reload keeps a
 * backend's state (and its health) because the new snapshot takes its reference before the
 * old one is released. Reference counting takes the registry's mutex; the readers below
 * (health, routable, alt socket, scheduling) use atomics only and never lock. */
#ifndef SG_ROUTE_BACKEND_H
#define SG_ROUTE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum sg_health { SG_HEALTH_UNKNOWN = 0, SG_HEALTH_UP = 1, SG_HEALTH_DOWN = 2 };

struct sg_backend_state;

/* Returns a new reference to the state of backend `name` at `url`: the same state as every
 * other holder's while one is held, else a new one (UNKNOWN). NULL only when out of memory.
 * Thread-safe. */
struct sg_backend_state *sg_backend_state_get(const char *name, const char *url);
/* Takes another reference to a state the caller holds a reference to. Thread-safe. */
struct sg_backend_state *sg_backend_state_ref(struct sg_backend_state *s);
/* Drops a reference; the last one unlinks the state from the registry and frees it. NULL is
 * accepted. Thread-safe. */
void sg_backend_state_put(struct sg_backend_state *s);
/* How many states the registry holds now (each referenced by someone): the gauge
 * sovgate_backend_states. Thread-safe. */
size_t sg_backend_registry_count(void);
/* At exit, when no thread uses states any more: frees the states still in the registry
 * (a holder that did not put its reference: logged as a warning) and returns how many
 * there were; 0 when every holder released its references. */
size_t sg_backend_registry_free(void);

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
