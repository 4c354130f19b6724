/* Engine supervision. Everything the child process needs is prepared before fork(): the
 * gateway has other threads, so between fork() and exec() the child only makes
 * async-signal-safe calls (no allocation, no stdio). */
#include "route/supervisor.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/secret.h"
#include "model/model.h"
#include "route/backend.h"
#include "route/chanseen.h"
#include "route/isolate.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/landlock.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#define MAX_ARGS 32
#define MAX_RULES 40 /* 14 at most, and the GPU rules (gpu_rules) */
#define MAX_GPU_NODES 16
#define BACKOFF_MIN_MS 1000u
#define BACKOFF_MAX_MS 30000u
#define STABLE_US (60ull * 1000000) /* running this long resets the backoff */
#define PROBE_MS 250u               /* health probes of a new version */
#define RETIRE_MS 1000u             /* switched: the old engine gets SIGTERM this much later */

#ifndef SG_ENGINE_LIB_DIR
#define SG_ENGINE_LIB_DIR ""
#endif

enum estate { E_STOPPED, E_RUNNING, E_RESTART_WAIT, E_STOPPING };

struct rule {
    char path[PATH_MAX];
    __u64 access;
};

struct eng {
    struct sg_supervisor *sv;
    struct eng *next;
    char *name;
    char *spec; /* all settings as one string: a change restarts the engine */
    char *args[MAX_ARGS];
    int nargs;
    char **envp; /* the gateway's environment less its secrets (secret_var) */
    char socket_dir[PATH_MAX];
    struct rule rules[MAX_RULES];
    int nrules;
    struct sg_backend_state *state; /* reference held; released in eng_free */
    pid_t pid;
    enum estate st;
    bool remove; /* free once stopped */
    struct bufferevent *err;
    struct event *restart;
    unsigned backoff_ms;
    uint64_t started_us;
    /* Model switches (store models): the engine on the new version is a candidate of the
     * running one until it is healthy; then they trade places and the old one retires. */
    char *base;      /* spec without the pinned model version: equal means "switchable" */
    char *model_ref; /* name@channel, or NULL */
    char version[SG_MODEL_NAME_MAX + 1], sha256[65]; /* what the channel pinned; "" unknown */
    char manifest[SG_MODEL_DIGEST_HEX + 1]; /* that version's manifest's digest; "" unknown */
    char sock[PATH_MAX];                    /* the socket it listens on */
    bool alt;                               /* that socket is the second path */
    bool retired;              /* replaced by a switch or a failed candidate: exit is no failure */
    struct eng *cand;          /* the switch in progress, or NULL */
    struct eng *owner;         /* for a candidate: the engine it is to replace */
    struct event *tick;        /* candidate: health probes; retired engine: the SIGTERM delay */
    struct bufferevent *probe; /* candidate: the health probe in flight, or NULL */
    uint64_t switch_deadline_us;
    uint32_t switch_timeout_ms; /* models.switch_timeout when the switch started */
    /* name@channel: the channel file and what stat() said of it when the channel was
     * resolved, so that a promotion is noticed without a reload (channels_changed). */
    char chan_path[PATH_MAX];
    uint64_t chan_seq;       /* the channel file's signed sequence number when it was resolved */
    uint8_t chan_digest[32]; /* and the digest of its signed text */
    /* Not started: the channel file is older than one accepted before, or another file under
     * the sequence number accepted before (a replayed file, or one built on it); refused_seq
     * is the number accepted before. SG_CHANSEEN_OK otherwise. */
    enum sg_chanseen_verdict refused;
    uint64_t refused_seq;
    struct chan_sig {
        dev_t dev;
        ino_t ino;
        off_t size;
        struct timespec mtime;
        bool exists;
    } chan_sig;
};

struct sg_supervisor {
    struct event_base *base;
    struct eng *list;
    /* The channel files accepted (the sequence number and digest each engine was started
     * on): in models.state, or in memory only. It belongs to the channel files, not to an
     * engine, so it outlives restarts with new settings. NULL before the first apply. */
    struct sg_chanseen *seen;
    struct event *sigchld;
    struct sg_supervisor_hooks hooks;
};

void sg_supervisor_set_hooks(struct sg_supervisor *sv, const struct sg_supervisor_hooks *h)
{
    sv->hooks = *h;
}

int sg_supervisor_default_binary(char *out, size_t cap)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return SG_ENOTFOUND;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (!slash)
        return SG_ENOTFOUND;
    *slash = '\0';
    int k = snprintf(out, cap, "%s/sovgate-engine", self);
    if (k < 0 || (size_t)k >= cap || access(out, X_OK) != 0)
        return SG_ENOTFOUND;
    return 0;
}

/* ---- the child ---- */

static void say(const char *s)
{
    ssize_t r = write(2, s, strlen(s));
    (void)r;
}

static long ll_create(const struct landlock_ruleset_attr *a, size_t sz, __u32 flags)
{
    return syscall(__NR_landlock_create_ruleset, a, sz, flags);
}

/* Applies the Landlock ruleset; returns NULL on success or a static reason. */
static const char *apply_landlock(const struct eng *e)
{
    long abi = ll_create(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    if (abi < 1)
        return "Landlock is not available in this kernel";
    __u64 handled =
        LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE |
        LANDLOCK_ACCESS_FS_READ_DIR | LANDLOCK_ACCESS_FS_REMOVE_DIR |
        LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_CHAR |
        LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SOCK |
        LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SYM;
#ifdef LANDLOCK_ACCESS_FS_REFER
    if (abi >= 2)
        handled |= LANDLOCK_ACCESS_FS_REFER;
#endif
#ifdef LANDLOCK_ACCESS_FS_TRUNCATE
    if (abi >= 3)
        handled |= LANDLOCK_ACCESS_FS_TRUNCATE;
#endif
    struct landlock_ruleset_attr attr = {.handled_access_fs = handled};
    long rs = ll_create(&attr, sizeof(attr), 0);
    if (rs < 0)
        return "cannot create a Landlock ruleset";
    for (int i = 0; i < e->nrules; i++) {
        int fd = open(e->rules[i].path, O_PATH | O_CLOEXEC);
        if (fd < 0)
            continue; /* a path that does not exist grants nothing */
        struct stat st;
        __u64 allowed = e->rules[i].access & handled;
        if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode))
            allowed &= LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |
                       LANDLOCK_ACCESS_FS_READ_FILE;
        struct landlock_path_beneath_attr pb = {.allowed_access = allowed, .parent_fd = fd};
        long r = syscall(__NR_landlock_add_rule, rs, LANDLOCK_RULE_PATH_BENEATH, &pb, 0);
        close(fd);
        if (r != 0) {
            close((int)rs);
            return "cannot add a Landlock rule";
        }
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        syscall(__NR_landlock_restrict_self, rs, 0) != 0) {
        close((int)rs);
        return "cannot enforce the Landlock ruleset";
    }
    close((int)rs);
    return NULL;
}

static void child(struct eng *e, int errw, pid_t parent)
{
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent)
        _exit(1);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull >= 0) {
        dup2(devnull, 0);
        dup2(devnull, 1);
    }
    dup2(errw, 2);
    syscall(SYS_close_range, 3, ~0U, 0);
    const char *net = sg_isolate_network();
    const char *fs = apply_landlock(e);
    /* One JSON line says what isolation the engine runs with. */
    say("{\"level\":\"");
    say(net || fs ? "warn" : "info");
    say("\",\"event\":\"engine_isolation\",\"network_namespace\":");
    say(net ? "false" : "true");
    say(",\"landlock\":");
    say(fs ? "false" : "true");
    if (net) {
        say(",\"network_reason\":\"");
        say(net);
        say("\"");
    }
    if (fs) {
        say(",\"landlock_reason\":\"");
        say(fs);
        say("\"");
    }
    say("}\n");
    execve(e->args[0], e->args, e->envp);
    say("{\"level\":\"error\",\"event\":\"engine_exec\",\"msg\":\"cannot run the engine "
        "binary\"}\n");
    _exit(127);
}

/* ---- the parent ---- */

static void eng_free(struct eng *e)
{
    if (e->err)
        bufferevent_free(e->err);
    if (e->restart)
        event_free(e->restart);
    if (e->tick)
        event_free(e->tick);
    if (e->probe)
        bufferevent_free(e->probe);
    for (int i = 0; i < e->nargs; i++)
        free(e->args[i]);
    for (size_t i = 0; e->envp && e->envp[i]; i++)
        free(e->envp[i]);
    free(e->envp);
    free(e->name);
    free(e->spec);
    free(e->base);
    free(e->model_ref);
    sg_backend_state_put(e->state);
    free(e);
}

static void unlink_eng(struct sg_supervisor *sv, struct eng *e)
{
    for (struct eng **p = &sv->list; *p; p = &(*p)->next) {
        if (*p == e) {
            *p = e->next;
            return;
        }
    }
}

/* Relays the engine's stderr: JSON lines get "engine":NAME, other lines are wrapped. */
static void on_err_read(struct bufferevent *bev, void *arg)
{
    struct eng *e = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    char *line;
    size_t n;
    while ((line = evbuffer_readln(in, &n, EVBUFFER_EOL_LF))) {
        if (n > 0 && line[0] == '{' && line[n - 1] == '}') {
            struct sg_buf b;
            sg_buf_init(&b, 64 * 1024);
            sg_buf_puts(&b, "{\"engine\":\"");
            sg_buf_json_escape(&b, e->name, strlen(e->name));
            sg_buf_puts(&b, "\",");
            sg_buf_append(&b, line + 1, n - 1);
            sg_buf_puts(&b, "\n");
            if (b.data)
                sg_log_write_raw(b.data, b.len);
            sg_buf_free(&b);
            if (strstr(line, "\"event\":\"engine_ready\"") && e->owner) {
                struct timeval now = {0, 0}; /* a candidate: probe it now */
                evtimer_add(e->tick, &now);
            } else if (strstr(line, "\"event\":\"engine_ready\"") && !e->retired) {
                /* Ready: check its health now rather than at the next backoff step. */
                sg_backend_set_backoff(e->state, 0);
                sg_backend_schedule(e->state, sg_clock_us());
            }
        } else if (n > 0) {
            struct sg_logline l;
            sg_logline_begin(&l, SG_LOG_INFO, "engine_output");
            sg_logline_str(&l, "engine", e->name);
            line[n > 2000 ? 2000 : n] = '\0';
            sg_logline_str(&l, "msg", line);
            sg_logline_end(&l);
        }
        free(line);
    }
}

static void on_err_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    struct eng *e = arg;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        on_err_read(e->err, e);
        bufferevent_free(e->err);
        e->err = NULL;
    }
}

static void spawn(struct eng *e);

/* Tries again after the next backoff step (1 s doubling up to 30 s; reset by a run of
 * STABLE_US): after an exit, or a start that failed before the engine ran. */
static void restart_later(struct eng *e, bool stable)
{
    e->backoff_ms = stable || !e->backoff_ms             ? BACKOFF_MIN_MS
                    : e->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
                                                         : e->backoff_ms * 2;
    e->st = E_RESTART_WAIT;
    struct timeval tv = {e->backoff_ms / 1000, (e->backoff_ms % 1000) * 1000};
    evtimer_add(e->restart, &tv);
}

static void on_restart(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct eng *e = arg;
    if (e->st == E_RESTART_WAIT)
        spawn(e);
}

static void refuse_record(struct eng *e, const char *why);

/* Why a channel file (sequence `seq`) that the record measured as `v` against the sequence
 * number `rec` accepted before is not taken up. */
static void replay_reason(const struct sg_supervisor *sv, enum sg_chanseen_verdict v, uint64_t seq,
                          uint64_t rec, char *why, size_t cap)
{
    const char *where = sv->seen && sg_chanseen_path(sv->seen) ? ", models.state" : "";
    if (v == SG_CHANSEEN_OLDER)
        snprintf(why, cap,
                 "the channel file is older than one already seen (sequence %llu < %llu%s): a "
                 "replayed channel file? Promote again to move the channel",
                 (unsigned long long)seq, (unsigned long long)rec, where);
    else
        snprintf(why, cap,
                 "the channel file is not the one already seen under sequence %llu%s (another "
                 "file signed with that number: built on a replayed channel file?) Promote "
                 "again to move the channel",
                 (unsigned long long)rec, where);
}

static void spawn(struct eng *e)
{
    struct sg_supervisor *sv = e->sv;
    if (e->refused != SG_CHANSEEN_OK) {
        char why[400];
        replay_reason(sv, e->refused, e->chan_seq, e->refused_seq, why, sizeof(why));
        if (!e->owner) /* a candidate's switch fails instead; the running engine serves */
            sg_backend_set_health(e->state, SG_HEALTH_DOWN, "replayed channel file");
        e->st = E_STOPPED;
        refuse_record(e, why);
        return;
    }
    if (sv->seen && e->version[0] && e->chan_path[0]) {
        struct sg_error err = {0};
        if (sg_chanseen_put(sv->seen, e->chan_path, e->chan_seq, e->chan_digest, &err) != 0)
            sg_log(SG_LOG_ERROR, "engine", "cannot record the channel's sequence number: %s",
                   err.msg);
    }
    int p[2];
    if (mkdir(e->socket_dir, 0700) != 0 && errno != EEXIST)
        sg_log(SG_LOG_WARN, "engine", "cannot create %s: %s", e->socket_dir, strerror(errno));
    if (pipe2(p, O_CLOEXEC) != 0) {
        sg_log(SG_LOG_ERROR, "engine", "cannot start engine %s: %s", e->name, strerror(errno));
        if (!e->owner) /* a candidate is not retried: the switch fails */
            restart_later(e, false);
        return;
    }
    if (!e->owner) /* a candidate: the running engine still serves */
        sg_backend_set_health(e->state, SG_HEALTH_DOWN, "engine starting");
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0)
        child(e, p[1], parent);
    close(p[1]);
    if (pid < 0) {
        close(p[0]);
        sg_log(SG_LOG_ERROR, "engine", "cannot start engine %s: %s", e->name, strerror(errno));
        if (e->owner) { /* a candidate is not retried: the switch fails */
            e->st = E_STOPPED;
            return;
        }
        restart_later(e, false);
        return;
    }
    e->pid = pid;
    e->st = E_RUNNING;
    e->started_us = sg_clock_us();
    evutil_make_socket_nonblocking(p[0]);
    e->err = bufferevent_socket_new(sv->base, p[0], BEV_OPT_CLOSE_ON_FREE);
    if (e->err) {
        bufferevent_setcb(e->err, on_err_read, NULL, on_err_event, e);
        bufferevent_enable(e->err, EV_READ);
    } else {
        close(p[0]);
    }
    struct sg_logline l;
    sg_logline_begin(&l, SG_LOG_INFO, "engine_start");
    sg_logline_str(&l, "engine", e->name);
    sg_logline_int(&l, "pid", pid);
    sg_logline_str(&l, "model", e->args[2]);
    sg_logline_end(&l);
}

static void fail_switch(struct eng *e, const char *why);
static void on_tick(evutil_socket_t fd, short what, void *arg);

static void exited(struct eng *e, int status)
{
    struct sg_supervisor *sv = e->sv;
    char why[96];
    if (WIFEXITED(status))
        snprintf(why, sizeof(why), "engine exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(why, sizeof(why), "engine killed by signal %d", WTERMSIG(status));
    else
        snprintf(why, sizeof(why), "engine stopped");
    e->pid = 0;
    if (e->owner) { /* a candidate that died before it was healthy */
        char reason[160];
        snprintf(reason, sizeof(reason), "the new engine exited before it was healthy (%s)", why);
        e->st = E_STOPPED;
        fail_switch(e->owner, reason);
        return;
    }
    if (!e->retired)
        sg_backend_report_failure(e->state, why);
    if (e->st == E_STOPPING || e->remove) {
        sg_log(SG_LOG_INFO, "engine", "engine %s stopped (%s)", e->name, why);
        e->st = E_STOPPED;
        if (e->remove) {
            unlink_eng(sv, e);
            eng_free(e);
        }
        return;
    }
    restart_later(e, sg_clock_us() - e->started_us >= STABLE_US);
    struct sg_logline l;
    sg_logline_begin(&l, SG_LOG_WARN, "engine_exit");
    sg_logline_str(&l, "engine", e->name);
    sg_logline_str(&l, "reason", why);
    sg_logline_int(&l, "restart_in_ms", e->backoff_ms);
    sg_logline_end(&l);
}

static void on_sigchld(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sg_supervisor *sv = arg;
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (struct eng *e = sv->list; e; e = e->next) {
            if (e->pid == pid) {
                exited(e, status);
                break;
            }
            if (e->cand && e->cand->pid == pid) {
                exited(e->cand, status);
                break;
            }
        }
    }
}

struct sg_supervisor *sg_supervisor_new(struct event_base *base, struct sg_error *err)
{
    struct sg_supervisor *sv = calloc(1, sizeof(*sv));
    if (!sv) {
        sg_error_set(err, SG_ENOMEM, "out of memory");
        return NULL;
    }
    sv->base = base;
    sv->sigchld = evsignal_new(base, SIGCHLD, on_sigchld, sv);
    if (!sv->sigchld || event_add(sv->sigchld, NULL) != 0) {
        if (sv->sigchld)
            event_free(sv->sigchld);
        free(sv);
        sg_error_set(err, SG_EIO, "cannot watch child processes");
        return NULL;
    }
    return sv;
}

static void add_rule(struct eng *e, const char *path, __u64 access)
{
    if (e->nrules < MAX_RULES && path && *path) {
        snprintf(e->rules[e->nrules].path, sizeof(e->rules[e->nrules].path), "%s", path);
        e->rules[e->nrules].access = access;
        e->nrules++;
    }
}

/* What an engine with GPU layers needs beyond a CPU one: the GPU's device nodes, not the
 * rest of /dev (raw disks, /dev/mem), and write access to its own /proc/PID, which CUDA's
 * initialisation writes to (without it: "OS call failed or operation not supported on this
 * OS"). The child opens "/proc/self" itself, so that rule is its own /proc/PID only.
 * Measured on an H100 and an H200 (driver 580): these NVIDIA nodes and /proc/self are
 * enough, and each of /dev/nvidiactl, nvidiaN and nvidia-uvm is needed. /dev/dri and
 * /dev/kfd (Vulkan, ROCm) are granted where they exist, untested. */
static void gpu_rules(struct eng *e)
{
    const __u64 rw = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE;
    const __u64 rwd = rw | LANDLOCK_ACCESS_FS_READ_DIR;
    add_rule(e, "/proc/self", rwd);
    add_rule(e, "/dev/nvidiactl", rw);
    add_rule(e, "/dev/nvidia-uvm", rw);
    add_rule(e, "/dev/nvidia-uvm-tools", rw);
    add_rule(e, "/dev/nvidia-caps", LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR);
    add_rule(e, "/dev/dri", rwd);
    add_rule(e, "/dev/kfd", rw);
    DIR *d = opendir("/dev");
    if (!d)
        return;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL && n < MAX_GPU_NODES) {
        if (strncmp(de->d_name, "nvidia", 6) != 0)
            continue;
        const char *num = de->d_name + 6; /* nvidiaN: one GPU */
        if (*num == '\0' || strspn(num, "0123456789") != strlen(num))
            continue;
        char path[64];
        snprintf(path, sizeof(path), "/dev/%s", de->d_name);
        add_rule(e, path, rw);
        n++;
    }
    closedir(d);
}

static void dirname_of(const char *path, char *out, size_t cap)
{
    snprintf(out, cap, "%s", path);
    char *slash = strrchr(out, '/');
    if (slash && slash != out)
        *slash = '\0';
}

/* A key reference for the engine: file: paths made absolute (the engine's working directory
 * is not the config's), env: as it is. `path` gets the file (for Landlock), or "". */
static void abs_ref(const char *dir, const char *ref, char *out, size_t cap, char *path,
                    size_t pcap)
{
    path[0] = '\0';
    if (ref && strncmp(ref, "file:", 5) == 0 && sg_path_resolve(dir, ref + 5, path, pcap) == 0)
        snprintf(out, cap, "file:%s", path);
    else
        snprintf(out, cap, "%s", ref ? ref : "");
}

static struct chan_sig chan_stat(const char *path)
{
    struct stat sb;
    struct chan_sig g = {0};
    if (stat(path, &sb) == 0)
        g = (struct chan_sig){sb.st_dev, sb.st_ino, sb.st_size, sb.st_mtim, true};
    return g;
}

static bool chan_sig_equal(const struct chan_sig *a, const struct chan_sig *b)
{
    return a->exists == b->exists && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* For a backend naming a store model (name@channel): the version the channel points at
 * now, as "name:version", so that a reload after `sovgate model promote` switches the
 * backend to an engine on the new version (see start_switch); `e` gets the version, the
 * weights' digest and the digest of the manifest resolved (the one the channel pins), which
 * the engine gets as --manifest-sha256: it verifies everything again itself and loads only
 * that manifest, not another signed one put under the version after this resolution.
 * When the channel cannot be resolved here the reference is passed as it is (no pin), and
 * the engine resolves it itself or refuses it with the reason in the log. */
static void pin_model_ref(const struct sg_config *cfg, const char *ref, char *out, size_t cap,
                          struct eng *e)
{
    snprintf(out, cap, "%s", ref);
    uint8_t pub[32];
    struct sg_error err = {0};
    if (!cfg->models.public_key ||
        sg_model_key_load(cfg->models.public_key, cfg->dir, false, pub, &err) != 0)
        return;
    struct sg_model_store_opts o = {.root = cfg->models.store, .public_key = pub, .audit_path = ""};
    struct sg_model_store *st = NULL;
    struct sg_model_chanver ver;
    json_t *p = NULL;
    const char *at = strchr(ref, '@');
    if (at && (size_t)(at - ref) <= SG_MODEL_NAME_MAX) {
        snprintf(e->chan_path, sizeof(e->chan_path), "%s/channels/%.*s.json", cfg->models.store,
                 (int)(at - ref), ref);
        e->chan_sig = chan_stat(e->chan_path);
    }
    if (sg_model_store_open(&o, &st, &err) == 0 && sg_model_resolve(st, ref, &p, &ver, &err) == 0) {
        e->chan_seq = ver.seq;
        memcpy(e->chan_digest, ver.digest, sizeof(e->chan_digest));
        const char *v = json_string_value(json_object_get(p, "version"));
        const char *h = json_string_value(json_object_get(json_object_get(p, "weights"), "sha256"));
        snprintf(e->version, sizeof(e->version), "%s", v ? v : "");
        snprintf(out, cap, "%s:%s", json_string_value(json_object_get(p, "name")), e->version);
        snprintf(e->sha256, sizeof(e->sha256), "%s", h ? h : "");
        if (sg_model_manifest_sha256(p, e->manifest) != 0) { /* out of memory */
            e->manifest[0] = '\0';
            snprintf(out, cap, "%s", ref); /* no pin: the engine resolves the channel itself */
        }
    }
    json_decref(p);
    sg_model_store_free(st);
}

/* Whether the environment entry NAME=VALUE is the variable that `ref` (env:NAME) names. */
static bool names_var(const char *ref, const char *entry)
{
    if (!ref || strncmp(ref, "env:", 4) != 0)
        return false;
    size_t n = strlen(ref + 4);
    return strncmp(entry, ref + 4, n) == 0 && entry[n] == '=';
}

/* Whether an environment entry holds one of the configuration's secrets (env:NAME): the
 * engine runs model files and gets none of them, except the store's keys that it is
 * given itself (`store`). */
static bool secret_var(const struct sg_config *cfg, bool store, const char *entry)
{
    if (store &&
        (names_var(cfg->models.public_key, entry) || names_var(cfg->models.encryption_key, entry)))
        return false;
    const char *refs[] = {cfg->redaction.key,        cfg->audit.signing_key,
                          cfg->audit.postgres,       cfg->responses.key,
                          cfg->models.signing_key,   cfg->models.public_key,
                          cfg->models.encryption_key};
    for (size_t i = 0; i < sizeof(refs) / sizeof(refs[0]); i++)
        if (names_var(refs[i], entry))
            return true;
    for (size_t i = 0; i < cfg->nbackends; i++)
        if (names_var(cfg->backends[i].credential, entry))
            return true;
    return false;
}

/* A copy of the gateway's environment without its secrets; NULL when out of memory. */
static char **engine_env(const struct sg_config *cfg, bool store)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + 1, sizeof(*env));
    for (size_t i = 0, k = 0; env && i < n; i++) {
        if (secret_var(cfg, store, environ[i]))
            continue;
        if (!(env[k++] = strdup(environ[i]))) {
            for (size_t j = 0; j + 1 < k; j++)
                free(env[j]);
            free(env);
            env = NULL;
        }
    }
    return env;
}

/* Prepares an engine record (argv, environment, rules) from a backend's settings (and, for
 * a store model, the configuration's `models` section). */
static struct eng *eng_new(struct sg_supervisor *sv, const struct sg_config_backend *b,
                           const struct sg_config *cfg, bool alt)
{
    struct eng *e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->sv = sv;
    e->alt = alt;
    snprintf(e->sock, sizeof(e->sock), "%s%s", b->unix_path, alt ? SG_ENGINE_ALT_SUFFIX : "");
    char bin[PATH_MAX];
    if (b->engine.binary)
        snprintf(bin, sizeof(bin), "%s", b->engine.binary);
    else if (sg_supervisor_default_binary(bin, sizeof(bin)) != 0)
        snprintf(bin, sizeof(bin), "sovgate-engine");
    char num[4][16];
    snprintf(num[0], 16, "%d", b->engine.ctx);
    snprintf(num[1], 16, "%d", b->engine.parallel);
    snprintf(num[2], 16, "%d", b->engine.threads);
    snprintf(num[3], 16, "%d", b->engine.gpu_layers);
    /* A store model (name@channel): --model-ref, --store, --pubkey [--encryption-key]. */
    const char *ref = b->engine.model_ref;
    char pinned[2 * SG_MODEL_NAME_MAX + 2] = "", pubref[PATH_MAX + 8], encref[PATH_MAX + 8];
    char pubpath[PATH_MAX], encpath[PATH_MAX];
    if (ref) {
        pin_model_ref(cfg, ref, pinned, sizeof(pinned), e);
        /* An older channel file than one accepted before (in this run, or before a restart
         * with models.state), or another file under the number accepted: a signed file put
         * back, or one built on it. The engine is not started on it. */
        if (e->version[0] && e->chan_path[0])
            e->refused = sg_chanseen_check(sv->seen, e->chan_path, e->chan_seq, e->chan_digest,
                                           &e->refused_seq);
        abs_ref(cfg->dir, cfg->models.public_key, pubref, sizeof(pubref), pubpath, sizeof(pubpath));
        abs_ref(cfg->dir, cfg->models.encryption_key, encref, sizeof(encref), encpath,
                sizeof(encpath));
    }
    const char *argv[MAX_ARGS] = {bin,
                                  ref ? "--model-ref" : "--model",
                                  ref ? pinned : b->engine.model,
                                  "--socket",
                                  e->sock,
                                  "--name",
                                  b->name,
                                  "--ctx",
                                  num[0],
                                  "--parallel",
                                  num[1],
                                  "--threads",
                                  num[2],
                                  "--gpu-layers",
                                  num[3]};
    size_t na = 15, pin_at = 0;
    if (ref) {
        argv[na++] = "--store";
        argv[na++] = cfg->models.store ? cfg->models.store : "";
        argv[na++] = "--pubkey";
        argv[na++] = pubref;
        if (cfg->models.encryption_key) {
            argv[na++] = "--encryption-key";
            argv[na++] = encref;
        }
        if (e->manifest[0]) { /* the manifest the channel was resolved to, and no other */
            argv[na++] = "--manifest-sha256";
            pin_at = na;
            argv[na++] = e->manifest;
        }
    }
    /* The spec names the configured socket (which of the two paths is in use is no
     * setting); the base leaves out the pinned version and its manifest's digest. */
    struct sg_buf spec, base;
    sg_buf_init(&spec, 1 << 16);
    sg_buf_init(&base, 1 << 16);
    for (size_t i = 0; i < na; i++) {
        if (!(e->args[i] = strdup(argv[i]))) {
            e->nargs = (int)i;
            eng_free(e);
            sg_buf_free(&spec);
            sg_buf_free(&base);
            return NULL;
        }
        const char *sv_arg = i == 4 ? b->unix_path : argv[i];
        sg_buf_puts(&spec, sv_arg);
        sg_buf_puts(&spec, "\x1f");
        if (pin_at && (i == pin_at - 1 || i == pin_at))
            continue; /* with or without a pin (unresolved: the engine resolves), same base */
        sg_buf_puts(&base, i == 2 && ref ? ref : sv_arg);
        sg_buf_puts(&base, "\x1f");
    }
    e->nargs = (int)na;
    e->args[na] = NULL;
    e->spec = sg_buf_steal(&spec);
    e->base = sg_buf_steal(&base);
    e->model_ref = ref ? strdup(ref) : NULL;
    e->envp = engine_env(cfg, ref != NULL);
    e->name = strdup(b->name);
    e->state = sg_backend_state_get(b->name, b->url);
    e->restart = evtimer_new(sv->base, on_restart, e);
    e->tick = evtimer_new(sv->base, on_tick, e);
    dirname_of(b->unix_path, e->socket_dir, sizeof(e->socket_dir));
    if (!e->spec || !e->base || (ref && !e->model_ref) || !e->envp || !e->name || !e->state ||
        !e->restart || !e->tick) {
        eng_free(e);
        return NULL;
    }
    /* What the engine may touch. */
    const __u64 rx =
        LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR | LANDLOCK_ACCESS_FS_EXECUTE;
    const __u64 r = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR;
    char bindir[PATH_MAX];
    dirname_of(bin, bindir, sizeof(bindir));
    add_rule(e, "/usr", rx);
    add_rule(e, "/lib", rx);
    add_rule(e, "/lib64", rx);
    add_rule(e, "/etc/ld.so.cache", LANDLOCK_ACCESS_FS_READ_FILE);
    add_rule(e, "/proc", r);
    add_rule(e, "/sys", r);
    add_rule(e, bindir, rx);
    add_rule(e, SG_ENGINE_LIB_DIR, rx);
    if (ref) {
        add_rule(e, cfg->models.store, r);
        if (pubpath[0])
            add_rule(e, pubpath, LANDLOCK_ACCESS_FS_READ_FILE);
        if (encpath[0])
            add_rule(e, encpath, LANDLOCK_ACCESS_FS_READ_FILE);
    } else {
        add_rule(e, b->engine.model, LANDLOCK_ACCESS_FS_READ_FILE);
    }
    add_rule(e, e->socket_dir,
             LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_REMOVE_FILE |
                 LANDLOCK_ACCESS_FS_READ_DIR);
    add_rule(e, "/dev/null", LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE);
    add_rule(e, "/dev/urandom", LANDLOCK_ACCESS_FS_READ_FILE);
    if (b->engine.gpu_layers != 0)
        gpu_rules(e);
    return e;
}

static void stop(struct eng *e)
{
    evtimer_del(e->restart);
    if (e->st == E_RUNNING && e->pid > 0) {
        e->st = E_STOPPING;
        kill(e->pid, SIGTERM);
    } else {
        e->st = E_STOPPED;
    }
}

/* ---- model switches ---- */

/* One record for the log and the audit trail: model.switch_started, _completed, _failed. */
static void switch_record(struct eng *e, struct eng *c, const char *event, const char *why)
{
    struct sg_supervisor *sv = e->sv;
    struct sg_logline l;
    sg_logline_begin(&l, strcmp(event, "model.switch_failed") == 0 ? SG_LOG_WARN : SG_LOG_INFO,
                     "model_switch");
    sg_logline_str(&l, "engine", e->name);
    sg_logline_str(&l, "step", event);
    sg_logline_str(&l, "model", e->model_ref ? e->model_ref : "");
    sg_logline_str(&l, "old_version", e->version);
    sg_logline_str(&l, "new_version", c->version);
    sg_logline_int(&l, "new_pid", c->pid);
    if (why)
        sg_logline_str(&l, "reason", why);
    sg_logline_end(&l);
    if (!sv->hooks.audit)
        return;
    json_t *r =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "event", event, "backend", e->name,
                  "model", e->model_ref ? e->model_ref : "", "old_version", e->version,
                  "new_version", c->version, "old_sha256", e->sha256, "new_sha256", c->sha256);
    if (r && why)
        json_object_set_new(r, "reason", json_string(why));
    char *text = r ? json_dumps(r, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (text)
        sv->hooks.audit(sv->hooks.arg, text);
    else
        sg_log(SG_LOG_ERROR, "engine", "cannot write the %s audit record: out of memory", event);
    json_free_t jf = NULL; /* json_dumps's memory comes from jansson's allocator */
    json_get_alloc_funcs(NULL, &jf);
    if (text)
        (jf ? jf : free)(text);
    json_decref(r);
}

/* Swaps `a` (in the list) for `b` (not in it). */
/* An engine not started because its channel file was replayed: logged and audited as
 * {"event":"model.start_refused","backend","model","version","sha256","reason"}. */
static void refuse_record(struct eng *e, const char *why)
{
    struct sg_supervisor *sv = e->sv;
    struct sg_logline l;
    sg_logline_begin(&l, SG_LOG_ERROR, "engine_refused");
    sg_logline_str(&l, "engine", e->name);
    sg_logline_str(&l, "model", e->model_ref ? e->model_ref : "");
    sg_logline_str(&l, "version", e->version);
    sg_logline_str(&l, "reason", why);
    sg_logline_end(&l);
    if (!sv->hooks.audit)
        return;
    json_t *r = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "event", "model.start_refused",
                          "backend", e->name, "model", e->model_ref ? e->model_ref : "", "version",
                          e->version, "sha256", e->sha256, "reason", why);
    char *text = r ? json_dumps(r, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (text)
        sv->hooks.audit(sv->hooks.arg, text);
    else
        sg_log(SG_LOG_ERROR, "engine", "cannot write the model.start_refused audit record");
    json_free_t jf = NULL; /* json_dumps's memory comes from jansson's allocator */
    json_get_alloc_funcs(NULL, &jf);
    if (text)
        (jf ? jf : free)(text);
    json_decref(r);
}

static void list_replace(struct sg_supervisor *sv, struct eng *a, struct eng *b)
{
    for (struct eng **p = &sv->list; *p; p = &(*p)->next) {
        if (*p == a) {
            b->next = a->next;
            *p = b;
            a->next = NULL;
            return;
        }
    }
}

/* Hands a stopped-or-stopping engine that is in no list to the list, to be reaped. */
static void retire(struct eng *e)
{
    e->retired = true;
    e->remove = true;
    e->owner = NULL;
    evtimer_del(e->tick);
    if (e->probe) {
        bufferevent_free(e->probe);
        e->probe = NULL;
    }
    if (e->pid > 0) {
        stop(e);
        e->next = e->sv->list;
        e->sv->list = e;
    } else {
        if (e->err)
            on_err_read(e->err, e); /* last words */
        eng_free(e);
    }
}

static void fail_switch(struct eng *e, const char *why)
{
    struct eng *c = e->cand;
    e->cand = NULL;
    switch_record(e, c, "model.switch_failed", why);
    retire(c);
}

static void complete_switch(struct eng *e)
{
    struct sg_supervisor *sv = e->sv;
    struct eng *c = e->cand;
    evtimer_del(c->tick);
    /* New requests go to the new engine from the next snapshot on; the old one stays in
     * the list (to be reaped) and keeps answering what it has in flight. */
    e->cand = NULL;
    c->owner = NULL;
    list_replace(sv, e, c);
    e->next = sv->list;
    sv->list = e;
    e->remove = true;
    e->retired = true;
    sg_backend_set_alt_socket(c->state, c->alt);
    sg_backend_set_health(c->state, SG_HEALTH_UP, "new model version healthy");
    if (sv->hooks.republish && sv->hooks.republish(sv->hooks.arg) != 0) {
        /* Still on the old snapshot: undo. */
        sg_backend_set_alt_socket(c->state, e->alt);
        unlink_eng(sv, e);
        list_replace(sv, c, e);
        e->remove = false;
        e->retired = false;
        e->cand = c;
        c->owner = e;
        fail_switch(e, "the configuration could not be reloaded to switch");
        return;
    }
    switch_record(e, c, "model.switch_completed", NULL);
    struct timeval tv = {RETIRE_MS / 1000, (RETIRE_MS % 1000) * 1000};
    evtimer_add(e->tick, &tv);
}

/* ---- health probes of a candidate: GET /health on its socket, on the main loop ---- */

/* The answer of a probe (or its failure): switch, give up, or probe again later. */
static void probe_done(struct eng *c, bool healthy)
{
    if (c->probe) {
        bufferevent_free(c->probe);
        c->probe = NULL;
    }
    if (!c->owner || c->st != E_RUNNING)
        return;
    if (healthy) {
        complete_switch(c->owner);
        return;
    }
    if (sg_clock_us() >= c->switch_deadline_us) {
        char why[96];
        snprintf(why, sizeof(why),
                 "the new engine was not healthy within %u ms (models.switch_timeout)",
                 c->switch_timeout_ms);
        fail_switch(c->owner, why);
        return;
    }
    struct timeval tv = {0, PROBE_MS * 1000};
    evtimer_add(c->tick, &tv);
}

static void probe_read(struct bufferevent *bev, void *arg)
{
    struct evbuffer *in = bufferevent_get_input(bev);
    char status[12];
    if (evbuffer_get_length(in) < sizeof(status))
        return;
    evbuffer_copyout(in, status, sizeof(status));
    probe_done(arg, memcmp(status, "HTTP/1.1 200", sizeof(status)) == 0);
}

static void probe_event(struct bufferevent *bev, short what, void *arg)
{
    if (what & BEV_EVENT_CONNECTED) {
        static const char req[] =
            "GET /health HTTP/1.1\r\nHost: engine\r\nConnection: close\r\n\r\n";
        bufferevent_write(bev, req, sizeof(req) - 1);
        return;
    }
    probe_done(arg, false); /* refused, closed before the status line, or timed out */
}

/* Starts a probe; its answer arrives in probe_done. Engines are local: a probe that has no
 * status line within a second counts as a failed one. */
static void probe_start(struct eng *c)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t n = strlen(c->sock);
    if (n >= sizeof(sa.sun_path) ||
        !(c->probe = bufferevent_socket_new(c->sv->base, -1, BEV_OPT_CLOSE_ON_FREE))) {
        probe_done(c, false);
        return;
    }
    memcpy(sa.sun_path, c->sock, n + 1);
    struct timeval limit = {1, 0};
    bufferevent_setcb(c->probe, probe_read, NULL, probe_event, c);
    bufferevent_set_timeouts(c->probe, &limit, &limit);
    bufferevent_enable(c->probe, EV_READ);
    if (bufferevent_socket_connect(c->probe, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        probe_done(c, false);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct eng *c = arg;
    if (c->retired) { /* the drain delay of a replaced engine is over */
        if (c->st == E_RUNNING)
            stop(c);
        return;
    }
    if (!c->owner || c->st != E_RUNNING || c->probe) /* a probe in flight schedules the next */
        return;
    probe_start(c);
}

/* Starts an engine on the channel's new version next to the running `e`. */
static void start_switch(struct eng *e, const struct sg_config_backend *b,
                         const struct sg_config *cfg)
{
    struct eng *c = eng_new(e->sv, b, cfg, !e->alt);
    if (!c) {
        sg_log(SG_LOG_ERROR, "engine", "cannot switch engine %s: out of memory", e->name);
        return;
    }
    c->owner = e;
    c->switch_timeout_ms = cfg->models.switch_timeout_ms;
    c->switch_deadline_us = sg_clock_us() + (uint64_t)c->switch_timeout_ms * 1000;
    e->cand = c;
    spawn(c);
    switch_record(e, c, "model.switch_started", NULL);
    if (c->pid <= 0) {
        fail_switch(e, "cannot start the new engine");
        return;
    }
    struct timeval tv = {0, PROBE_MS * 1000};
    evtimer_add(c->tick, &tv);
}

bool sg_supervisor_channels_changed(struct sg_supervisor *sv)
{
    bool changed = false;
    for (struct eng *e = sv->list; e; e = e->next) {
        if (e->remove || !e->chan_path[0])
            continue;
        struct chan_sig now = chan_stat(e->chan_path);
        if (!chan_sig_equal(&now, &e->chan_sig)) {
            /* noted once: a promotion that fails to switch is not retried every tick */
            e->chan_sig = now;
            changed = true;
        }
    }
    return changed;
}

/* The record of accepted channel files: models.state, (re)opened when its path changes, or
 * one in memory. What was recorded before goes into the new record (it belongs to the
 * channel files, not to where it is kept). A file that cannot be read keeps what was loaded
 * before (a reload) or stops the start (nothing loaded yet): the gateway does not guess
 * which channel files it accepted. */
static int seen_sync(struct sg_supervisor *sv, const struct sg_config *cfg)
{
    const char *want = cfg->models.state;
    const char *have = sv->seen ? sg_chanseen_path(sv->seen) : NULL;
    if (sv->seen && (want ? have && strcmp(have, want) == 0 : !have))
        return 0;
    struct sg_chanseen *s = NULL;
    struct sg_error err = {0};
    int rc = 0;
    if (want)
        rc = sg_chanseen_open(want, &s, &err);
    else if (!(s = sg_chanseen_new()))
        rc = sg_error_set(&err, SG_ENOMEM, "out of memory");
    if (rc) {
        sg_log(SG_LOG_ERROR, "engine", "models.state: %s", err.msg);
        return rc;
    }
    if (sv->seen && sg_chanseen_merge(s, sv->seen, &err) != 0)
        sg_log(SG_LOG_ERROR, "engine", "models.state: %s", err.msg);
    sg_chanseen_free(sv->seen);
    sv->seen = s;
    return 0;
}

/* Whether the channel file `probe` resolved must not be taken up by the running `e`: older
 * than, or another file under the number of, one accepted before (the record, or what `e`
 * and the switch under way came from). `why` gets the reason. */
static bool replayed(const struct sg_supervisor *sv, const struct eng *e, const struct eng *probe,
                     char *why, size_t cap)
{
    uint64_t rec = 0;
    enum sg_chanseen_verdict v =
        sg_chanseen_check(sv->seen, probe->chan_path, probe->chan_seq, probe->chan_digest, &rec);
    uint64_t own = e->cand && e->cand->chan_seq > e->chan_seq ? e->cand->chan_seq : e->chan_seq;
    if (v == SG_CHANSEEN_OK && probe->chan_seq < own) {
        v = SG_CHANSEEN_OLDER;
        rec = own;
    }
    if (v != SG_CHANSEEN_OK)
        replay_reason(sv, v, probe->chan_seq, rec, why, cap);
    return v != SG_CHANSEEN_OK;
}

int sg_supervisor_apply(struct sg_supervisor *sv, const struct sg_config *cfg)
{
    bool first = !sv->list && !(sv->seen && sg_chanseen_path(sv->seen));
    if (seen_sync(sv, cfg) != 0 && first)
        return SG_EINVAL;
    /* Stop what is gone or changed. */
    for (struct eng *e = sv->list, *next; e; e = next) {
        next = e->next;
        if (e->remove) /* already on its way out */
            continue;
        bool keep = false;
        for (size_t i = 0; i < cfg->nbackends && !keep; i++) {
            const struct sg_config_backend *b = &cfg->backends[i];
            if (b->kind != SG_BACKEND_ENGINE || strcmp(b->name, e->name) != 0)
                continue;
            struct eng *probe = eng_new(sv, b, cfg, e->alt);
            if (!probe)
                break;
            keep = strcmp(probe->spec, e->spec) == 0;
            if (keep && e->cand) /* back to the running version */
                fail_switch(e, "the channel points at the running version again");
            /* A channel file older than the one the running engine (or the switch under way)
             * came from, or another file under a number accepted, is a signed file put back
             * (or built on one), not a promotion: keep what runs. */
            char why[400];
            if (!keep && e->model_ref && strcmp(probe->base, e->base) == 0 &&
                replayed(sv, e, probe, why, sizeof(why))) {
                switch_record(e, probe, "model.switch_failed", why);
                eng_free(probe);
                keep = true;
                continue;
            }
            /* Only the store model's version changed, and the running engine serves: start
             * the new version next to it (or let the switch under way go on). */
            bool switchable = !keep && e->model_ref && strcmp(probe->base, e->base) == 0 &&
                              e->st == E_RUNNING && sg_backend_health(e->state) == SG_HEALTH_UP &&
                              strlen(b->unix_path) + strlen(SG_ENGINE_ALT_SUFFIX) <
                                  sizeof(((struct sockaddr_un *)0)->sun_path);
            if (switchable && e->cand && strcmp(e->cand->spec, probe->spec) != 0)
                fail_switch(e, "the channel changed again before the switch completed");
            if (switchable && !e->cand)
                start_switch(e, b, cfg);
            keep = keep || switchable;
            eng_free(probe);
        }
        if (keep)
            continue;
        if (e->cand)
            fail_switch(e, "the engine restarts with new settings");
        e->remove = true;
        stop(e);
        if (e->st == E_STOPPED) {
            unlink_eng(sv, e);
            eng_free(e);
        }
    }
    /* Start what is new (or changed). */
    for (size_t i = 0; i < cfg->nbackends; i++) {
        const struct sg_config_backend *b = &cfg->backends[i];
        if (b->kind != SG_BACKEND_ENGINE)
            continue;
        bool running = false;
        for (struct eng *e = sv->list; e && !running; e = e->next)
            running = !e->remove && strcmp(e->name, b->name) == 0;
        if (running)
            continue;
        /* A lookup only (which socket the state says is in use): eng_new takes its own
         * reference before this one goes, so the state is the same. */
        struct sg_backend_state *st = sg_backend_state_get(b->name, b->url);
        struct eng *e = eng_new(sv, b, cfg, st && sg_backend_alt_socket(st));
        sg_backend_state_put(st);
        if (!e)
            return SG_ENOMEM;
        e->next = sv->list;
        sv->list = e;
        spawn(e);
    }
    return 0;
}

void sg_supervisor_free(struct sg_supervisor *sv, unsigned grace_ms)
{
    if (!sv)
        return;
    for (struct eng *e = sv->list; e; e = e->next) {
        if (e->cand) { /* a switch under way: the candidate joins the list */
            struct eng *c = e->cand;
            e->cand = NULL;
            c->owner = NULL;
            c->next = e->next;
            e->next = c;
        }
        stop(e);
    }
    uint64_t deadline = sg_clock_us() + (uint64_t)grace_ms * 1000;
    for (;;) {
        bool any = false;
        for (struct eng *e = sv->list; e; e = e->next) {
            if (e->pid > 0) {
                int status;
                if (waitpid(e->pid, &status, WNOHANG) == e->pid)
                    e->pid = 0;
                else
                    any = true;
            }
        }
        if (!any)
            break;
        if (sg_clock_us() >= deadline) {
            for (struct eng *e = sv->list; e; e = e->next) {
                if (e->pid > 0) {
                    kill(e->pid, SIGKILL);
                    waitpid(e->pid, NULL, 0);
                    e->pid = 0;
                }
            }
            break;
        }
        usleep(10000);
    }
    while (sv->list) {
        struct eng *e = sv->list;
        sv->list = e->next;
        if (e->err)
            on_err_read(e->err, e); /* last words */
        eng_free(e);
    }
    event_free(sv->sigchld);
    sg_chanseen_free(sv->seen);
    free(sv);
}
