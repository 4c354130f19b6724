/* Registry of backend health states: a mutex-protected doubly linked list for lookups and
 * reference counting (at load time, never per request), atomics for the hot path.
 *
 * `refs` is atomic so that sg_backend_state_ref() (the caller already holds a reference, so
 * the count cannot reach zero under it) needs no lock; a put always takes the mutex, so that
 * a state whose count reaches zero is unlinked before any lookup can find it again. */
#include "route/backend.h"
#include "core/clock.h"
#include "core/log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct sg_backend_state {
    struct sg_backend_state *next, **pprev; /* registry list; guarded by reg_mu */
    char *name, *url;
    atomic_uint refs;
    atomic_int health;
    atomic_uint_fast64_t next_check_us;
    atomic_uint backoff_ms;
    atomic_bool alt_socket;
};

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct sg_backend_state *reg_head; /* guarded by reg_mu */
static atomic_size_t reg_count;           /* written under reg_mu; read without */

static void state_free(struct sg_backend_state *s)
{
    free(s->name);
    free(s->url);
    free(s);
}

static void state_unlink(struct sg_backend_state *s)
{
    *s->pprev = s->next;
    if (s->next)
        s->next->pprev = s->pprev;
    atomic_fetch_sub(&reg_count, 1);
}

struct sg_backend_state *sg_backend_state_get(const char *name, const char *url)
{
    pthread_mutex_lock(&reg_mu);
    struct sg_backend_state *s = reg_head;
    for (; s; s = s->next)
        if (strcmp(s->name, name) == 0 && strcmp(s->url, url) == 0)
            break;
    if (s) {
        atomic_fetch_add(&s->refs, 1);
    } else if ((s = calloc(1, sizeof(*s)))) {
        s->name = strdup(name);
        s->url = strdup(url);
        if (!s->name || !s->url) {
            state_free(s);
            s = NULL;
        } else {
            atomic_init(&s->refs, 1);
            atomic_init(&s->health, SG_HEALTH_UNKNOWN);
            s->next = reg_head;
            s->pprev = &reg_head;
            if (reg_head)
                reg_head->pprev = &s->next;
            reg_head = s;
            atomic_fetch_add(&reg_count, 1);
        }
    }
    pthread_mutex_unlock(&reg_mu);
    return s;
}

struct sg_backend_state *sg_backend_state_ref(struct sg_backend_state *s)
{
    if (s)
        atomic_fetch_add(&s->refs, 1);
    return s;
}

void sg_backend_state_put(struct sg_backend_state *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&reg_mu);
    bool last = atomic_fetch_sub(&s->refs, 1) == 1;
    if (last)
        state_unlink(s);
    pthread_mutex_unlock(&reg_mu);
    if (last)
        state_free(s);
}

size_t sg_backend_registry_count(void)
{
    return atomic_load(&reg_count);
}

size_t sg_backend_registry_free(void)
{
    size_t n = 0;
    pthread_mutex_lock(&reg_mu);
    while (reg_head) {
        struct sg_backend_state *s = reg_head;
        state_unlink(s);
        sg_log(SG_LOG_WARN, "backend_registry",
               "backend %s still had %u references at exit (a holder did not release it)", s->name,
               atomic_load(&s->refs));
        state_free(s);
        n++;
    }
    pthread_mutex_unlock(&reg_mu);
    return n;
}

bool sg_backend_alt_socket(const struct sg_backend_state *s)
{
    return atomic_load(&((struct sg_backend_state *)s)->alt_socket);
}

void sg_backend_set_alt_socket(struct sg_backend_state *s, bool alt)
{
    atomic_store(&s->alt_socket, alt);
}

const char *sg_backend_state_name(const struct sg_backend_state *s)
{
    return s->name;
}

enum sg_health sg_backend_health(const struct sg_backend_state *s)
{
    return (enum sg_health)atomic_load(&((struct sg_backend_state *)s)->health);
}

bool sg_backend_routable(const struct sg_backend_state *s)
{
    return sg_backend_health(s) != SG_HEALTH_DOWN;
}

static const char *health_name(int h)
{
    return h == SG_HEALTH_UP ? "up" : h == SG_HEALTH_DOWN ? "down" : "unknown";
}

void sg_backend_set_health(struct sg_backend_state *s, enum sg_health h, const char *why)
{
    int old = atomic_exchange(&s->health, (int)h);
    if (old != (int)h) {
        struct sg_logline l;
        sg_logline_begin(&l, h == SG_HEALTH_DOWN ? SG_LOG_WARN : SG_LOG_INFO, "backend_health");
        sg_logline_str(&l, "backend", s->name);
        sg_logline_str(&l, "from", health_name(old));
        sg_logline_str(&l, "to", health_name((int)h));
        sg_logline_str(&l, "reason", why);
        sg_logline_end(&l);
    }
}

void sg_backend_report_failure(struct sg_backend_state *s, const char *why)
{
    sg_backend_set_health(s, SG_HEALTH_DOWN, why);
    atomic_store(&s->next_check_us, sg_clock_us());
}

uint64_t sg_backend_next_check(const struct sg_backend_state *s)
{
    return atomic_load(&((struct sg_backend_state *)s)->next_check_us);
}

void sg_backend_schedule(struct sg_backend_state *s, uint64_t at_us)
{
    atomic_store(&s->next_check_us, at_us);
}

uint32_t sg_backend_backoff(const struct sg_backend_state *s)
{
    return atomic_load(&((struct sg_backend_state *)s)->backoff_ms);
}

void sg_backend_set_backoff(struct sg_backend_state *s, uint32_t ms)
{
    atomic_store(&s->backoff_ms, ms);
}

uint32_t sg_backend_retry_after(const struct sg_backend_state *s)
{
    uint64_t next = sg_backend_next_check(s), now = sg_clock_us();
    uint64_t secs = next > now ? (next - now + 999999) / 1000000 : 1;
    return secs < 1 ? 1 : secs > 3600 ? 3600 : (uint32_t)secs;
}
