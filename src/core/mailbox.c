/* A mutex-guarded queue of letters and an eventfd that wakes the loop. */
#include "core/mailbox.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>

struct sg_mailbox {
    pthread_mutex_t mu;
    struct sg_mail *head, *tail;
    int fd;
    struct event *ev;
};

/* Takes the first letter out of the queue (NULL when empty). */
static struct sg_mail *take(struct sg_mailbox *mb)
{
    pthread_mutex_lock(&mb->mu);
    struct sg_mail *m = mb->head;
    if (m) {
        mb->head = m->next;
        if (!mb->head)
            mb->tail = NULL;
        m->next = NULL;
        m->queued = false; /* from here a post queues it again */
    }
    pthread_mutex_unlock(&mb->mu);
    return m;
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct sg_mailbox *mb = arg;
    uint64_t n;
    while (read(fd, &n, sizeof(n)) < 0 && errno == EINTR)
        ;
    /* One letter at a time, each out of the queue before it runs: its function may post
     * it again, or free what holds it. */
    for (struct sg_mail *m; (m = take(mb));)
        m->fn(m->arg);
}

struct sg_mailbox *sg_mailbox_new(struct event_base *base)
{
    struct sg_mailbox *mb = calloc(1, sizeof(*mb));
    if (!mb)
        return NULL;
    pthread_mutex_init(&mb->mu, NULL);
    mb->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (mb->fd < 0 || !(mb->ev = event_new(base, mb->fd, EV_READ | EV_PERSIST, on_wake, mb)) ||
        event_add(mb->ev, NULL) != 0) {
        sg_mailbox_free(mb);
        return NULL;
    }
    return mb;
}

void sg_mailbox_free(struct sg_mailbox *mb)
{
    if (!mb)
        return;
    if (mb->ev)
        event_free(mb->ev);
    if (mb->fd >= 0)
        close(mb->fd);
    for (struct sg_mail *m = mb->head; m; m = m->next)
        m->queued = false;
    pthread_mutex_destroy(&mb->mu);
    free(mb);
}

void sg_mail_init(struct sg_mail *m, void (*fn)(void *arg), void *arg)
{
    m->fn = fn;
    m->arg = arg;
    m->next = NULL;
    m->queued = false;
}

void sg_mailbox_post(struct sg_mailbox *mb, struct sg_mail *m)
{
    bool wake = false;
    pthread_mutex_lock(&mb->mu);
    if (!m->queued) {
        m->queued = true;
        m->next = NULL;
        if (mb->tail)
            mb->tail->next = m;
        else
            mb->head = m;
        mb->tail = m;
        wake = true;
    }
    pthread_mutex_unlock(&mb->mu);
    if (wake) {
        uint64_t one = 1;
        /* fails only when the counter would overflow: the loop is then woken already */
        while (write(mb->fd, &one, sizeof(one)) < 0 && errno == EINTR)
            ;
    }
}
