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
 * the gateway (PR_SET_PDEATHSIG). Its environment is the gateway's without the variables
 * that hold the configuration's secrets (env:NAME references), except the model store keys
 * it is given itself.
 *
 * Model switches: when a reload (SIGHUP, or the runtime's channel watch: a `sovgate model
 * promote` or `rollback` rewrote the channel file) finds that an engine backend's store
 * model (name@channel) now resolves to another version (or another manifest of the version) and
 * nothing else changed, and the running engine is healthy, the supervisor starts a second engine
 * on the new version on the backend's
 * other socket (route/backend.h), keeps the running one serving, probes the new one's /health, and
 * once it answers flips the backend's socket and has the runtime publish a new snapshot
 * (hooks.republish): new requests go to the new engine, requests in flight finish on the old one,
 * which gets SIGTERM a second later (it then drains what it still has). A new engine that exits or
 * is not healthy within models.switch_timeout (180 s by default) is stopped and the old one keeps
 * serving. Each step is logged (event
 * "model_switch") and given to hooks.audit as
 * {"event":"model.switch_started"|"model.switch_completed"|"model.switch_failed",
 *  "backend","model","old_version","new_version","old_sha256","new_sha256"[,"reason"]}.
 *
 * The engine is started on the resolved name:version with --manifest-sha256, the digest of the
 * manifest resolved: it loads that manifest and no other signed one put under the version later.
 *
 * Replayed channel files: a channel file whose signed sequence number is below one seen
 * before, or equal to it with another digest (a file built on a put-back one), is refused.
 * The record (route/chanseen.h: per channel file, the highest number an engine was started
 * on and that file's digest) lives in memory, and with `models.state` on disk too; it
 * belongs to the channel files, not to an engine. A running engine's check gives
 * model.switch_failed; an engine (re)started on such a file (after a restart with
 * `models.state`, or a reload that changed other settings) is not started, the backend
 * stays down, and hooks.audit gets {"event":"model.start_refused","backend","model",
 * "version","sha256","reason"} (log event "engine_refused"). An unreadable or damaged
 * state file makes the first sg_supervisor_apply() fail (a reload keeps the record it had).
 *
 * Runs on the gateway's main thread, on the main event loop (it handles SIGCHLD there). */
#ifndef SG_ROUTE_SUPERVISOR_H
#define SG_ROUTE_SUPERVISOR_H

#include <stdbool.h>

#include <event2/event.h>

#include "config/config.h"
#include "core/error.h"

struct sg_supervisor;

/* What the runtime does for the supervisor (main thread). `republish` rebuilds and
 * publishes the snapshot from the configuration (0 on success; it may call
 * sg_supervisor_apply); `audit` records one compact JSON object (copied). Either may be
 * NULL. */
struct sg_supervisor_hooks {
    int (*republish)(void *arg);
    void (*audit)(void *arg, const char *json);
    void *arg;
};

/* Creates a supervisor on the main loop `base`. NULL with `err` on failure. */
struct sg_supervisor *sg_supervisor_new(struct event_base *base, struct sg_error *err);
/* Makes the running engines match the engine backends of `cfg`: starts new ones, stops
 * those that are gone, and restarts those whose settings changed. Engines with unchanged
 * settings keep running across reloads; those whose store model's version alone changed are
 * switched (above). Copies what it needs from `cfg`. Returns 0, SG_ENOMEM, or SG_EINVAL when
 * models.state cannot be read on the first call (logged with the file and line). */
int sg_supervisor_apply(struct sg_supervisor *s, const struct sg_config *cfg);
/* Whether the channel file of any running engine's name@channel model changed (stat:
 * inode, size, mtime) since the channel was last resolved or this last said so; each change
 * is reported once. The runtime polls it and then applies its current configuration again,
 * which switches the engines whose channel now points at another version. */
bool sg_supervisor_channels_changed(struct sg_supervisor *s);
void sg_supervisor_set_hooks(struct sg_supervisor *s, const struct sg_supervisor_hooks *h);
/* Stops every engine (SIGTERM, then SIGKILL after `grace_ms`) and frees the supervisor. */
void sg_supervisor_free(struct sg_supervisor *s, unsigned grace_ms);

/* The sovgate-engine program next to the running sovgate (for the default
 * engine_binary); writes it into `out`. Returns 0 or SG_ENOTFOUND. */
int sg_supervisor_default_binary(char *out, size_t cap);

#endif
