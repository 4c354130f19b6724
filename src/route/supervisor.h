/* Supervision of engine backends (kind: engine): the gateway starts one sovgate-engine
 * process per engine backend, relays its stderr into the gateway's log, marks the backend
 * down while it is not running, restarts it with exponential backoff (1 s doubling up to
 * 30 s) when it exits, and stops it gracefully on shutdown.
 *
 * Isolation, where the operating system allows it: the engine gets a new network namespace
 * (no network at all, not even loopback is up; its Unix socket is a file and still works),
 * and a Landlock ruleset that lets it read only its model file, the program and its
 * libraries, and create its socket. What could not be applied is logged by the engine
 * process itself (event "engine_isolation") before it starts. The engine also dies with
 * the gateway (PR_SET_PDEATHSIG).
 *
 * Runs on the gateway's main thread, on the main event loop (it handles SIGCHLD there). */
#ifndef SG_ROUTE_SUPERVISOR_H
#define SG_ROUTE_SUPERVISOR_H

#include <event2/event.h>

#include "config/config.h"
#include "core/error.h"

struct sg_supervisor;

/* Creates a supervisor on the main loop `base`. NULL with `err` on failure. */
struct sg_supervisor *sg_supervisor_new(struct event_base *base, struct sg_error *err);
/* Makes the running engines match the engine backends of `cfg`: starts new ones, stops
 * those that are gone, and restarts those whose settings changed. Engines with unchanged
 * settings keep running across reloads. Copies what it needs from `cfg`. */
int sg_supervisor_apply(struct sg_supervisor *s, const struct sg_config *cfg);
/* Stops every engine (SIGTERM, then SIGKILL after `grace_ms`) and frees the supervisor. */
void sg_supervisor_free(struct sg_supervisor *s, unsigned grace_ms);

/* The sovgate-engine program next to the running sovgate (for the default
 * engine_binary); writes it into `out`. Returns 0 or SG_ENOTFOUND. */
int sg_supervisor_default_binary(char *out, size_t cap);

#endif
