/* The daemon's life cycle: load the configuration into a snapshot, start the health
 * checker and N worker threads (each with its own event loop, SO_REUSEPORT listener and
 * upstream client), then wait for signals on the main thread:
 *   SIGHUP          reload: build a new snapshot; publish it only if it is valid
 *   SIGTERM/SIGINT  drain: stop accepting, finish requests in flight (up to
 *                   timeouts.drain), then exit. */
#include "gateway/gateway.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/pool.h"
#include "core/secret.h"
#include "audit/audit.h"
#include "route/health.h"
#include "route/supervisor.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

struct sg_snapshot *sg_runtime_snapshot(struct sg_runtime *rt)
{
    pthread_mutex_lock(&rt->snap_mu);
    struct sg_snapshot *s = sg_snapshot_ref(rt->snap);
    pthread_mutex_unlock(&rt->snap_mu);
    return s;
}

bool sg_runtime_ready(struct sg_runtime *rt, char *why, size_t cap)
{
    if (atomic_load(&rt->draining)) {
        snprintf(why, cap, "shutting down");
        return false;
    }
    if (rt->audit && !sg_audit_healthy(rt->audit)) {
        snprintf(why, cap, "the audit trail cannot write");
        return false;
    }
    struct sg_snapshot *s = sg_runtime_snapshot(rt);
    bool ok = true;
    for (size_t i = 0; i < s->cfg->nroutes && ok; i++) {
        const struct sg_config_route *r = &s->cfg->routes[i];
        bool any = false;
        for (size_t t = 0; t < r->ntargets && !any; t++) {
            const struct sg_backend_rt *be = sg_snapshot_backend(s, r->targets[t].backend);
            any = be && sg_backend_health(be->state) == SG_HEALTH_UP;
        }
        if (!any) {
            snprintf(why, cap, "no healthy backend for model %s", r->model);
            ok = false;
        }
    }
    sg_snapshot_unref(s);
    return ok;
}

/* ---- configuration ---- */

static int load_config(const struct sg_serve_opts *o, struct sg_config **cfg)
{
    struct sg_config_diags d = {0};
    int rc = o->config_text ? sg_config_load_string(o->config_text, strlen(o->config_text),
                                                    "(embedded)", o->config_dir, cfg, &d)
                            : sg_config_load_file(o->config_path, cfg, &d);
    for (size_t i = 0; i < d.n; i++)
        sg_log(SG_LOG_ERROR, "config", "%s", d.v[i].msg);
    sg_config_diags_free(&d);
    return rc;
}

/* After sg_snapshot_build failed (it stops at the first problem, without a position, and
 * frees its config): the file is loaded again and every problem is logged at its key's
 * position, as the loader's own are. Only on failure, so a reload that works builds its
 * detectors, TLS context and backend addresses once. */
static void log_build_problems(const struct sg_serve_opts *o, const struct sg_error *first)
{
    struct sg_config *cfg = NULL;
    struct sg_config_diags d = {0};
    size_t n = load_config(o, &cfg) == 0 ? sg_snapshot_check(cfg, &d) : 0;
    for (size_t i = 0; i < d.n; i++)
        sg_log(SG_LOG_ERROR, "config", "%s", d.v[i].msg);
    if (!n) /* gone by now (a host that resolves again): the first problem as it was met */
        sg_log(SG_LOG_ERROR, "config", "%s", first->msg);
    sg_config_diags_free(&d);
    sg_config_free(cfg);
}

static void fill_limits(const struct sg_config *c, struct sg_http_limits *l)
{
    l->max_header = c->limits.max_header;
    l->max_body = c->limits.max_body;
    l->header_ms = c->timeouts.header_ms;
    l->body_ms = c->timeouts.body_ms;
    l->idle_ms = c->timeouts.idle_ms;
    l->write_ms = c->timeouts.write_ms;
    l->out_high = 256 * 1024;
    l->out_low = 64 * 1024;
}

static void update_health(struct sg_runtime *rt, struct sg_snapshot *s)
{
    const struct sg_config *c = s->cfg;
    struct sg_health_target *t = calloc(c->nbackends ? c->nbackends : 1, sizeof(*t));
    if (!t)
        return;
    for (size_t i = 0; i < c->nbackends; i++)
        t[i] = (struct sg_health_target){s->backends[i].state, s->backends[i].target,
                                         c->backends[i].health_path, s->backends[i].credential};
    sg_health_set_targets(rt->health, t, c->nbackends, c->health.interval_ms, c->health.timeout_ms,
                          c->health.max_backoff_ms);
    free(t);
}

/* The worker's letters (struct sg_worker): run on the worker's thread. */
static void apply_limits_cb(void *arg)
{
    struct sg_worker *w = arg;
    struct sg_snapshot *s = sg_runtime_snapshot(w->rt);
    struct sg_http_limits l;
    fill_limits(s->cfg, &l);
    sg_http_server_set_limits(w->http, &l);
    sg_snapshot_unref(s);
}

static bool str_differs(const char *a, const char *b)
{
    return (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0);
}

/* The first key that only a restart can change and that differs between the running
 * configuration and a new one, or NULL. The listening sockets and the workers exist once;
 * privileges are dropped once; the audit trail and the Responses store are opened once
 * (with their keys and settings). Applying the rest of such a file would leave the gateway
 * running with a mixture the operator never wrote, so the whole reload is refused. */
static const char *restart_only_change(const struct sg_config *a, const struct sg_config *b)
{
    if (strcmp(a->listen.address, b->listen.address) != 0)
        return "listen.address";
    if (a->listen.plaintext != b->listen.plaintext)
        return "listen.plaintext";
    if (a->workers != b->workers)
        return "workers";
    if (str_differs(a->user, b->user))
        return "user";
    if (str_differs(a->audit.path, b->audit.path))
        return "audit.path";
    if (str_differs(a->audit.signing_key, b->audit.signing_key))
        return "audit.signing_key";
    if (str_differs(a->audit.postgres, b->audit.postgres))
        return "audit.postgres";
    if (a->audit.checkpoint_every != b->audit.checkpoint_every)
        return "audit.checkpoint_every";
    if (a->audit.checkpoint_interval_ms != b->audit.checkpoint_interval_ms)
        return "audit.checkpoint_interval";
    if (str_differs(a->responses.store, b->responses.store))
        return "responses.store";
    if (str_differs(a->responses.key, b->responses.key))
        return "responses.key";
    if (a->responses.ttl_ms != b->responses.ttl_ms)
        return "responses.ttl";
    return NULL;
}

static int reload(struct sg_runtime *rt)
{
    struct sg_config *cfg = NULL;
    struct sg_snapshot *old = sg_runtime_snapshot(rt);
    struct sg_error err = {0};
    struct sg_snapshot *s = NULL;
    const char *result = "error";
    if (load_config(rt->opts, &cfg) != 0) {
        sg_log(SG_LOG_ERROR, "reload", "the new configuration is invalid; keeping the current one");
        goto out;
    }
    const char *fixed = restart_only_change(old->cfg, cfg);
    if (fixed) {
        sg_log(SG_LOG_ERROR, "reload",
               "%s cannot change on reload (restart instead); keeping the current "
               "configuration",
               fixed);
        sg_config_free(cfg);
        goto out;
    }
    if (sg_snapshot_build(cfg, ++rt->generation, &s, &err) != 0) {
        log_build_problems(rt->opts, &err);
        sg_log(SG_LOG_ERROR, "reload", "the new configuration is invalid; keeping the current one");
        goto out;
    }
    pthread_mutex_lock(&rt->snap_mu);
    struct sg_snapshot *prev = rt->snap;
    rt->snap = s;
    pthread_mutex_unlock(&rt->snap_mu);
    sg_snapshot_unref(prev);
    sg_log_set_level((enum sg_log_level)s->cfg->log_level);
    sg_http_set_max_connections(s->cfg->limits.max_connections);
    update_health(rt, s);
    if (rt->supervisor)
        sg_supervisor_apply(rt->supervisor, s->cfg);
    for (int i = 0; i < rt->nworkers; i++)
        sg_mailbox_post(rt->workers[i].mbox, &rt->workers[i].apply_mail);
    result = "ok";
    struct sg_logline l;
    sg_logline_begin(&l, SG_LOG_INFO, "reload");
    sg_logline_int(&l, "generation", (int64_t)s->generation);
    sg_logline_int(&l, "clients", (int64_t)sg_keytab_count(s->keys));
    sg_logline_end(&l);
out:
    sg_metrics_add(sg_metrics_shard(rt->metrics, 0), SG_M_RELOADS, 1,
                   SG_LABELS({"result", result}));
    sg_snapshot_unref(old);
    return strcmp(result, "ok") == 0 ? 0 : -1;
}

/* Supervisor hooks: a model switch publishes a snapshot with the new engine's socket, and
 * its steps go to the audit trail when there is one. */
static int republish_hook(void *arg)
{
    return reload(arg);
}

static void audit_hook(void *arg, const char *json)
{
    struct sg_runtime *rt = arg;
    if (rt->audit && sg_audit_append(rt->audit, json, strlen(json), NULL, NULL) != 0)
        sg_log(SG_LOG_ERROR, "audit", "cannot record a model switch in the audit trail");
}

/* ---- workers ---- */

static SSL *tls_new(void *app)
{
    struct sg_worker *w = app;
    pthread_mutex_lock(&w->rt->snap_mu);
    SSL *ssl = w->rt->snap->tls ? SSL_new(w->rt->snap->tls) : NULL;
    pthread_mutex_unlock(&w->rt->snap_mu);
    return ssl;
}

/* Opens the audit trail of the configuration (once per process: a reload keeps it). */
static int open_audit(struct sg_runtime *rt, const struct sg_config *c, struct sg_error *err)
{
    uint8_t seed[SG_AUDIT_KEY_LEN];
    bool have_key = false;
    struct sg_secret key = {0}, pg = {0};
    int rc = 0;
    if (c->audit.signing_key) {
        if ((rc = sg_secret_load(c->audit.signing_key, c->dir, &key, err)) == 0 &&
            (rc = sg_audit_key_parse(key.data, key.len, seed, err)) == 0)
            have_key = true;
    }
    if (!rc && c->audit.postgres)
        rc = sg_secret_load(c->audit.postgres, c->dir, &pg, err);
    if (!rc) {
        struct sg_audit_opts o = {
            .path = c->audit.path,
            .signing_key = have_key ? seed : NULL,
            .checkpoint_every = c->audit.checkpoint_every,
            .checkpoint_interval_ms = c->audit.checkpoint_interval_ms,
            .postgres = pg.data,
        };
        rc = sg_audit_open(&o, &rt->audit, err);
    }
    sg_secure_zero(seed, sizeof(seed));
    sg_secret_free(&key);
    sg_secret_free(&pg);
    return rc;
}

/* Switches to `user` (its uid, gid and groups) when running as root; a no-op when already
 * running as that user; an error otherwise. */
static int drop_privileges(const char *user, struct sg_error *err)
{
    struct passwd *pw = getpwnam(user);
    if (!pw)
        return sg_error_set(err, SG_ENOTFOUND, "user: no such user \"%s\"", user);
    if (geteuid() == pw->pw_uid)
        return 0;
    if (geteuid() != 0)
        return sg_error_set(err, SG_EDENIED,
                            "user: the gateway runs as uid %u and cannot switch to \"%s\"",
                            (unsigned)geteuid(), user);
    if (initgroups(user, pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0)
        return sg_error_set(err, SG_EIO, "user: cannot switch to \"%s\": %s", user,
                            strerror(errno));
    if (setuid(0) == 0) /* must be impossible now */
        return sg_error_set(err, SG_EIO, "user: root could be regained");
    /* setuid clears the dumpable flag; keep it cleared (no core dumps of keys and prompts) */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    sg_log(SG_LOG_INFO, "privileges", "running as user %s (uid %u)", user, (unsigned)pw->pw_uid);
    return 0;
}

static void *worker_main(void *arg)
{
    struct sg_worker *w = arg;
    /* Request log lines are written once per loop iteration: EVLOOP_ONCE returns after
     * each batch of events. */
    sg_log_buffered(true);
    while (!atomic_load(&w->stop)) {
        if (event_base_loop(w->base, EVLOOP_ONCE | EVLOOP_NO_EXIT_ON_EMPTY) < 0)
            break;
        sg_log_flush();
        if (event_base_got_break(w->base))
            break;
    }
    sg_log_buffered(false);
    sg_pool_thread_release();
    return NULL;
}

static void stop_cb(void *arg)
{
    struct sg_worker *w = arg;
    event_base_loopbreak(w->base);
}

static void drain_cb(void *arg)
{
    struct sg_worker *w = arg;
    sg_http_server_drain(w->http);
}

/* Ends a worker's thread (from any thread; the worker sees `stop` once woken). */
static void worker_stop(struct sg_worker *w)
{
    atomic_store(&w->stop, true);
    sg_mailbox_post(w->mbox, &w->stop_mail);
}

static void worker_free(struct sg_worker *w)
{
    /* Letters still queued (a reload, a drain, a record's commit) are dropped: the thread
     * has ended, and their targets go now. */
    sg_mailbox_free(w->mbox);
    /* Connections go first: aborting their requests cancels upstream transfers. */
    sg_http_server_free(w->http);
    sg_upstream_free(w->up);
    sg_detect_scratch_free(w->dscratch);
    /* Bufferevents freed with deferred callbacks still queued are only released by the
     * loop: let it run those (nothing else is left to fire) before the base goes. */
    for (int i = 0; w->base && i < 4; i++)
        event_base_loop(w->base, EVLOOP_NONBLOCK);
    sg_audit_free_waits(w); /* after the trail was closed: no callback can come any more */
    if (w->base)
        event_base_free(w->base);
}

static int worker_init(struct sg_runtime *rt, struct sg_worker *w, int id, const char *addr,
                       struct sg_error *err)
{
    const struct sg_config *c = rt->snap->cfg;
    w->id = id;
    w->rt = rt;
    w->metrics = sg_metrics_shard(rt->metrics, id);
    uint32_t rnd = 0;
    sg_random_bytes(&rnd, sizeof(rnd));
    w->id_prefix = rnd;
    /* No locks in the worker's base: only its own thread touches it, other threads post to
     * its mailbox (locking cost about 5 % of a request's user time). */
    struct event_config *ec = event_config_new();
    if (ec && event_config_set_flag(ec, EVENT_BASE_FLAG_NOLOCK) == 0)
        w->base = event_base_new_with_config(ec);
    event_config_free(ec);
    sg_mail_init(&w->apply_mail, apply_limits_cb, w);
    sg_mail_init(&w->stop_mail, stop_cb, w);
    sg_mail_init(&w->drain_mail, drain_cb, w);
    if (!w->base || !(w->mbox = sg_mailbox_new(w->base)) || !(w->up = sg_upstream_new(w->base)) ||
        !(w->dscratch = sg_detect_scratch_new(rt->snap->redaction->det)))
        return sg_error_set(err, SG_ENOMEM, "cannot create worker %d", id);
    struct sg_http_limits l;
    fill_limits(c, &l);
    struct sg_http_callbacks cb = {sg_pipeline_on_head, sg_pipeline_on_request,
                                   c->listen.plaintext ? NULL : tls_new, sg_pipeline_on_done};
    if (!(w->http = sg_http_server_new(w->base, addr, &l, &cb, w, err)))
        return err->code ? err->code : SG_EIO;
    return 0;
}

/* ---- main loop ---- */

struct main_ctx {
    struct sg_runtime *rt;
    struct event_base *base;
    struct event *drain_timer;
    struct event *channel_watch; /* persistent, every CHANNEL_WATCH_MS */
    uint64_t drain_deadline;
};

/* How often the channel files of store models (name@channel) are checked: a `sovgate model
 * promote` or `rollback` switches the engines within this long, without a SIGHUP. */
#define CHANNEL_WATCH_MS 1000

static void on_channel_watch(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct main_ctx *m = arg;
    struct sg_runtime *rt = m->rt;
    if (!rt->supervisor || atomic_load(&rt->draining) ||
        !sg_supervisor_channels_changed(rt->supervisor))
        return;
    sg_log(SG_LOG_INFO, "engine", "a model channel changed: applying it to the engines");
    struct sg_snapshot *s = sg_runtime_snapshot(rt);
    sg_supervisor_apply(rt->supervisor, s->cfg);
    sg_snapshot_unref(s);
}

static void drain_check(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct main_ctx *m = arg;
    if (sg_http_open_connections() == 0 || sg_clock_us() >= m->drain_deadline) {
        event_base_loopbreak(m->base);
        return;
    }
    struct timeval tv = {0, 50000};
    evtimer_add(m->drain_timer, &tv);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct main_ctx *m = arg;
    struct sg_runtime *rt = m->rt;
    if (sig == SIGHUP) {
        sg_log(SG_LOG_INFO, "reload", "SIGHUP: reloading the configuration");
        reload(rt);
        return;
    }
    if (atomic_exchange(&rt->draining, true)) {
        sg_log(SG_LOG_WARN, "shutdown", "second signal: exiting now");
        m->drain_deadline = 0;
        drain_check(-1, 0, m);
        return;
    }
    struct sg_snapshot *s = sg_runtime_snapshot(rt);
    m->drain_deadline = sg_clock_us() + (uint64_t)s->cfg->timeouts.drain_ms * 1000;
    sg_snapshot_unref(s);
    sg_log(SG_LOG_INFO, "shutdown", "draining %zu connections", sg_http_open_connections());
    for (int i = 0; i < rt->nworkers; i++)
        sg_mailbox_post(rt->workers[i].mbox, &rt->workers[i].drain_mail);
    drain_check(-1, 0, m);
}

static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int sg_gateway_serve(const struct sg_serve_opts *opts)
{
    struct sg_runtime rt;
    memset(&rt, 0, sizeof(rt));
    rt.opts = opts;
    pthread_mutex_init(&rt.snap_mu, NULL);
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();
    /* Keys, credentials and prompts must never land on disk in a core dump. */
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    sg_pool_install(); /* before any libevent or jansson object */
    evthread_use_pthreads();

    int status = 1;
    struct sg_error err = {0};
    struct sg_config *cfg = NULL;
    struct main_ctx m = {0};
    struct event *sigs[3] = {0};
    /* Signal handlers first: a SIGHUP or SIGTERM that arrives while starting must not take
     * the default action (terminate). */
    m.rt = &rt;
    if (!(m.base = event_base_new()))
        goto out;
    static const int signals[3] = {SIGHUP, SIGTERM, SIGINT};
    for (int i = 0; i < 3; i++) {
        sigs[i] = evsignal_new(m.base, signals[i], on_signal, &m);
        if (!sigs[i] || event_add(sigs[i], NULL) != 0)
            goto out;
    }
    if (!(m.drain_timer = evtimer_new(m.base, drain_check, &m)))
        goto out;
    if (load_config(opts, &cfg) != 0)
        goto out;
    if (sg_snapshot_build(cfg, ++rt.generation, &rt.snap, &err) != 0) {
        log_build_problems(opts, &err);
        sg_log(SG_LOG_ERROR, "startup", "the configuration cannot be built (see above)");
        goto out;
    }
    const struct sg_config *c = rt.snap->cfg;
    sg_log_set_level((enum sg_log_level)c->log_level);
    if (rt.snap->redaction->enabled && rt.snap->redaction->key_generated)
        sg_log(SG_LOG_INFO, "redaction_key",
               "redaction.key is not set: pseudonyms and hashes use a random key until the "
               "gateway restarts");
    sg_http_set_max_connections(c->limits.max_connections);
    if (c->audit.path && open_audit(&rt, c, &err) != 0) {
        sg_log(SG_LOG_ERROR, "startup", "audit: %s", err.msg);
        goto out;
    }
    if (sg_responses_open(&rt, c, &err) != 0) {
        sg_log(SG_LOG_ERROR, "startup", "responses: %s", err.msg);
        goto out;
    }
    if (!(rt.metrics = sg_metrics_new(c->workers)) || !(rt.limiter = sg_limiter_new()) ||
        !(rt.health = sg_health_start(&err))) {
        sg_log(SG_LOG_ERROR, "startup", "%s", err.msg[0] ? err.msg : "out of memory");
        goto out;
    }
    update_health(&rt, rt.snap);
    rt.workers = calloc((size_t)c->workers, sizeof(*rt.workers));
    if (!rt.workers)
        goto out;
    /* The first worker binds (possibly port 0); the others bind the port it got. */
    char addr[300];
    snprintf(addr, sizeof(addr), "%s", c->listen.address);
    for (int i = 0; i < c->workers; i++) {
        if (worker_init(&rt, &rt.workers[i], i, addr, &err) != 0) {
            sg_log(SG_LOG_ERROR, "startup", "%s", err.msg);
            rt.nworkers = i + 1;
            goto out;
        }
        rt.nworkers = i + 1;
        if (i == 0) {
            const char *colon = strrchr(c->listen.address, ':');
            snprintf(addr, sizeof(addr), "%.*s:%d", (int)(colon - c->listen.address),
                     c->listen.address, sg_http_server_port(rt.workers[0].http));
        }
    }
    /* Listening sockets are bound: no need for root any more. Engines start after, as the
     * unprivileged user too. */
    if (c->user && drop_privileges(c->user, &err) != 0) {
        sg_log(SG_LOG_ERROR, "startup", "%s", err.msg);
        goto out;
    }
    struct sg_supervisor_hooks hooks = {republish_hook, audit_hook, &rt};
    if ((rt.supervisor = sg_supervisor_new(m.base, &err)))
        sg_supervisor_set_hooks(rt.supervisor, &hooks);
    if (!rt.supervisor || sg_supervisor_apply(rt.supervisor, c) != 0) {
        sg_log(SG_LOG_ERROR, "startup", "%s", err.msg[0] ? err.msg : "cannot start engines");
        goto out;
    }
    struct timeval watch = {CHANNEL_WATCH_MS / 1000, (CHANNEL_WATCH_MS % 1000) * 1000};
    if (!(m.channel_watch = event_new(m.base, -1, EV_PERSIST, on_channel_watch, &m)) ||
        event_add(m.channel_watch, &watch) != 0)
        goto out;
    int port = sg_http_server_port(rt.workers[0].http);
    for (int i = 0; i < rt.nworkers; i++) {
        if (pthread_create(&rt.workers[i].thread, NULL, worker_main, &rt.workers[i]) != 0) {
            sg_log(SG_LOG_ERROR, "startup", "cannot start worker threads");
            for (int j = 0; j < i; j++) {
                worker_stop(&rt.workers[j]);
                pthread_join(rt.workers[j].thread, NULL);
            }
            goto out;
        }
    }
    {
        struct sg_logline l;
        sg_logline_begin(&l, SG_LOG_INFO, "listening");
        sg_logline_str(&l, "address", addr);
        sg_logline_int(&l, "port", port);
        sg_logline_bool(&l, "tls", !c->listen.plaintext);
        sg_logline_int(&l, "workers", rt.nworkers);
        sg_logline_int(&l, "clients", (int64_t)sg_keytab_count(rt.snap->keys));
        sg_logline_str(&l, "version", SG_VERSION);
        sg_logline_end(&l);
    }
    if (opts->banner) {
        fputs(opts->banner, stdout);
        fflush(stdout);
    }
    event_base_loop(m.base, EVLOOP_NO_EXIT_ON_EMPTY);
    status = 0;
    for (int i = 0; i < rt.nworkers; i++)
        worker_stop(&rt.workers[i]);
    for (int i = 0; i < rt.nworkers; i++)
        pthread_join(rt.workers[i].thread, NULL);
    sg_log(SG_LOG_INFO, "shutdown", "stopped");
out:
    /* The trail answers what is still pending (the workers no longer run: their waits are
     * only marked), writes a final checkpoint and closes. */
    sg_audit_close(rt.audit);
    rt.audit = NULL;
    sg_responses_close(&rt);
    for (int i = 0; i < rt.nworkers; i++)
        worker_free(&rt.workers[i]);
    free(rt.workers);
    /* Engines go after the workers (no request needs them any more) and before the main
     * loop they are watched from. */
    sg_supervisor_free(rt.supervisor, 10000);
    for (int i = 0; i < 3; i++)
        if (sigs[i])
            event_free(sigs[i]);
    if (m.drain_timer)
        event_free(m.drain_timer);
    if (m.channel_watch)
        event_free(m.channel_watch);
    if (m.base)
        event_base_free(m.base);
    sg_health_stop(rt.health);
    sg_metrics_free(rt.metrics);
    sg_limiter_free(rt.limiter);
    sg_snapshot_unref(rt.snap);
    /* The snapshot, the health checker and the supervisor have released their references to
     * the backend states by now: the registry is empty (what is left is logged and freed). */
    sg_backend_registry_free();
    libevent_global_shutdown();
    sg_pool_thread_release();
    pthread_mutex_destroy(&rt.snap_mu);
    return status;
}
