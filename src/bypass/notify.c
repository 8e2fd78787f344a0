/* SPDX-License-Identifier: MIT */
/*
 * notify.c - the posted-interrupt notification slot (bypass/notify.h).
 *
 * Senders never lock: each one counts itself in one of two in-flight counters (chosen by an epoch)
 * before it loads the handler, and out after the call. Removal clears the handler, then flips the epoch
 * and waits for the old counter to drain, twice, so both counters have been seen at zero after the
 * handler was cleared. A sender that loaded the old handler was counted before it loaded it, so it has
 * finished by then; a sender that loads after the clear sees NULL (every access is seq_cst: counting in,
 * then loading, against clearing, then reading the counter). Flipping before each wait means new senders
 * count in the other slot, so a storm cannot keep the wait going: the same two-slot drain as the host's
 * virq_pci_sync_signals().
 */
#include "bypass/notify.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

struct virq_notify_handler {
	virq_posted_notify_fn *fn; /* [I] */
	void *ctx;                 /* [I] */
};

static pthread_mutex_t virq_notify_lock = PTHREAD_MUTEX_INITIALIZER; /* install/remove */
static _Atomic(struct virq_notify_handler *) virq_notify_handler;   /* [A] written under the lock */
static atomic_uint virq_notify_epoch;                               /* [A] */
static atomic_uint virq_notify_inflight[2];                         /* [A] */
static _Atomic uint64_t virq_notify_sent, virq_notify_dropped;      /* [A] relaxed counters */

int virq_bypass_notify_install(virq_posted_notify_fn *fn, void *ctx)
{
	if (!fn)
		return -EINVAL;
	struct virq_notify_handler *h = malloc(sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->fn = fn;
	h->ctx = ctx;
	pthread_mutex_lock(&virq_notify_lock);
	int ret = atomic_load(&virq_notify_handler) ? -EBUSY : 0;
	if (!ret)
		atomic_store(&virq_notify_handler, h);
	pthread_mutex_unlock(&virq_notify_lock);
	if (ret)
		free(h);
	return ret;
}

void virq_bypass_notify_remove(void)
{
	pthread_mutex_lock(&virq_notify_lock);
	struct virq_notify_handler *h = atomic_exchange(&virq_notify_handler, NULL);
	for (int i = 0; h && i < 2; i++) {
		unsigned slot = atomic_fetch_add(&virq_notify_epoch, 1) & 1;
		while (atomic_load(&virq_notify_inflight[slot]))
			sched_yield();
	}
	pthread_mutex_unlock(&virq_notify_lock);
	free(h);
}

bool virq_bypass_notify(uint32_t ndst, uint8_t nv)
{
	unsigned slot = atomic_load(&virq_notify_epoch) & 1;

	atomic_fetch_add(&virq_notify_inflight[slot], 1);
	struct virq_notify_handler *h = atomic_load(&virq_notify_handler);
	if (h)
		h->fn(h->ctx, ndst, nv);
	atomic_fetch_sub(&virq_notify_inflight[slot], 1);
	atomic_fetch_add_explicit(h ? &virq_notify_sent : &virq_notify_dropped, 1, memory_order_relaxed);
	return h != NULL;
}

void virq_bypass_notify_stats(struct virq_bypass_notify_stats *out)
{
	out->sent = atomic_load_explicit(&virq_notify_sent, memory_order_relaxed);
	out->dropped = atomic_load_explicit(&virq_notify_dropped, memory_order_relaxed);
}
