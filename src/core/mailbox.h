/* A mailbox of an event loop: the way other threads have a function run on that loop's
 * thread. With every cross-thread call going through its mailbox, a loop's event_base is
 * only ever touched by its own thread and can run without locks (EVENT_BASE_FLAG_NOLOCK):
 * the gateway's workers take no mutex per event.
 *
 * A letter (struct sg_mail) is owned by whoever embeds it; it is queued at most once at a
 * time: posting a letter that is still queued does nothing (like event_active on an active
 * event), and its function runs once. The mailbox wakes its loop through an eventfd.
 *
 * Threads: sg_mailbox_post from any thread; everything else on the loop's thread (or once
 * that loop no longer runs). */
#ifndef SG_CORE_MAILBOX_H
#define SG_CORE_MAILBOX_H

#include <stdbool.h>

struct event_base;

struct sg_mail {
    void (*fn)(void *arg); /* runs on the loop's thread */
    void *arg;
    struct sg_mail *next; /* the mailbox's, while queued */
    bool queued;          /* guarded by the mailbox's mutex */
};

struct sg_mailbox;

/* A mailbox on `base`. NULL when out of memory or file descriptors. */
struct sg_mailbox *sg_mailbox_new(struct event_base *base);
/* Frees the mailbox (before its base); letters still queued are dropped, not run. */
void sg_mailbox_free(struct sg_mailbox *mb);
void sg_mail_init(struct sg_mail *m, void (*fn)(void *arg), void *arg);
/* Queues `m` to run on the loop (any thread). A queued letter must stay valid until it has
 * run or its mailbox is freed. */
void sg_mailbox_post(struct sg_mailbox *mb, struct sg_mail *m);

#endif
