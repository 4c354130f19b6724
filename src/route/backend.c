/* Registry of backend health states: a mutex-protected list for lookups at load time,
 * atomics for the hot path. */
#include "route/backend.h"
#include "core/clock.h"
#include "core/log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct sg_backend_state {
    struct sg_backend_state *next;
    char *name, *url;
    atomic_int health;
    atomic_uint_fast64_t next_check_us;
    atomic_uint backoff_ms;
    atomic_bool alt_socket;
};

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct sg_backend_state *reg_head;

struct sg_backend_state *sg_backend_state_get(const char *name, const char *url)
{
    pthread_mutex_lock(&reg_mu);
    struct sg_backend_state *s = reg_head;
    for (; s; s = s->next)
        if (strcmp(s->name, name) == 0 && strcmp(s->url, url) == 0)
            break;
    if (!s && (s = calloc(1, sizeof(*s)))) {
        s->name = strdup(name);
        s->url = strdup(url);
        if (!s->name || !s->url) {
            free(s->name);
            free(s->url);
            free(s);
            s = NULL;
        } else {
            atomic_init(&s->health, SG_HEALTH_UNKNOWN);
            s->next = reg_head;
            reg_head = s;
        }
    }
    pthread_mutex_unlock(&reg_mu);
    return s;
}

void sg_backend_registry_free(void)
{
    pthread_mutex_lock(&reg_mu);
    while (reg_head) {
        struct sg_backend_state *n = reg_head->next;
        free(reg_head->name);
        free(reg_head->url);
        free(reg_head);
        reg_head = n;
    }
    pthread_mutex_unlock(&reg_mu);
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
