/* SPDX-License-Identifier: MIT */
/*
 * posted.c - KVM's posted-interrupt vCPU flow over one VT-d descriptor per vCPU (see posted.h for the
 * state table and the pCPU model).
 *
 * The one race that matters, and how each transition closes it (the descriptor's own rule, clear ON
 * before taking PIR, is in bypass/posted_desc.h):
 *  - block: a post may read NV = 0xf2 just before we switch to 0xf1. It sets ON and "notifies" the
 *    running vector, which wakes nobody. So after the switch (a seq_cst CAS) we load ON (seq_cst): either
 *    the post's ON set is visible to us (return "pending"), or the post's control load comes after our
 *    switch and it notifies 0xf1 to our list, where the handler finds us (we were added before the
 *    switch, under the list lock the handler takes).
 *  - running after SN: posts under SN leave PIR bits with ON clear; we clear SN, then set ON if PIR is
 *    non-empty, so the first fold takes them. A post racing with that either sees SN clear and sets ON
 *    itself, or its PIR bit is visible to our PIR check.
 */
#define _GNU_SOURCE
#include "engine/posted.h"

#include <errno.h>
#include <sched.h>
#include <stddef.h>
#include <time.h>

#include "bypass/notify.h"

int virq_posted_pcpus_init(struct virq_posted_pcpus *p)
{
	for (unsigned i = 0; i < VIRQ_POSTED_NR_PCPUS; i++) {
		int r = pthread_mutex_init(&p->cpu[i].lock, NULL);
		if (r) {
			while (i--)
				pthread_mutex_destroy(&p->cpu[i].lock);
			return -r;
		}
		p->cpu[i].head = NULL;
	}
	atomic_init(&p->notify_running, 0);
	atomic_init(&p->notify_wakeup, 0);
	atomic_init(&p->notify_stray, 0);
	atomic_init(&p->kicks, 0);
	return 0;
}

void virq_posted_pcpus_destroy(struct virq_posted_pcpus *p)
{
	for (unsigned i = 0; i < VIRQ_POSTED_NR_PCPUS; i++)
		pthread_mutex_destroy(&p->cpu[i].lock);
}

static void virq_posted_count(_Atomic uint64_t *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

void virq_posted_notify_handler(void *ctx, uint32_t ndst, uint8_t nv)
{
	struct virq_posted_pcpus *p = ctx;

	if (nv == VIRQ_POSTED_INTR_VECTOR) {
		/* The vCPU was running when the post read NV: it polls ON at every op boundary (KVM's 0xf2
		 * handler, arriving in host mode, likewise only acknowledges). */
		virq_posted_count(&p->notify_running);
		return;
	}
	if (nv != VIRQ_POSTED_INTR_WAKEUP_VECTOR || ndst >= VIRQ_POSTED_NR_PCPUS) {
		virq_posted_count(&p->notify_stray);
		return;
	}
	virq_posted_count(&p->notify_wakeup);
	/*
	 * Kick after unlocking: the woken vCPU's first step (unblock) takes this very lock, and woken on our
	 * core it would preempt us inside the critical section and sleep on the mutex (3 more syscalls and
	 * a second switch per wakeup, measured by posted_halted_syscalls_per_delivery). A kick reference
	 * keeps each vCPU alive until its kick is done (virq_posted_vcpu_destroy waits for it); a list
	 * longer than the batch kicks the rest under the lock, as before.
	 */
	struct virq_posted_vcpu *batch[VIRQ_POSTED_KICK_BATCH];
	unsigned n = 0;
	struct virq_posted_pcpu *cpu = &p->cpu[ndst];
	pthread_mutex_lock(&cpu->lock);
	for (struct virq_posted_vcpu *pv = cpu->head; pv; pv = pv->blocked_next) {
		if (!virq_posted_desc_on(&pv->desc))
			continue;
		virq_posted_count(&p->kicks);
		if (n < VIRQ_POSTED_KICK_BATCH) {
			atomic_fetch_add_explicit(&pv->kick_refs, 1, memory_order_relaxed);
			batch[n++] = pv;
		} else {
			pv->ops->kick(pv->ctx);
		}
	}
	pthread_mutex_unlock(&cpu->lock);
	for (unsigned i = 0; i < n; i++) {
		batch[i]->ops->kick(batch[i]->ctx);
		atomic_fetch_sub_explicit(&batch[i]->kick_refs, 1, memory_order_release);
	}
}

int virq_posted_pcpus_install(struct virq_posted_pcpus *p)
{
	return virq_bypass_notify_install(virq_posted_notify_handler, p);
}

void virq_posted_pcpus_remove(void)
{
	virq_bypass_notify_remove();
}

int virq_posted_this_pcpu(void)
{
	int cpu = sched_getcpu();
	return cpu < 0 ? 0 : cpu & (VIRQ_POSTED_NR_PCPUS - 1);
}

void virq_posted_vcpu_init(struct virq_posted_vcpu *pv, struct virq_posted_pcpus *pcpus,
			   const struct virq_posted_ops *ops, void *ctx)
{
	virq_posted_desc_init(&pv->desc, VIRQ_POSTED_INTR_VECTOR, 0);
	virq_posted_desc_set_sn(&pv->desc); /* not running until running() */
	pv->pcpus = pcpus;
	pv->ops = ops;
	pv->ctx = ctx;
	pv->pcpu = 0;
	pv->blocked_pcpu = -1;
	pv->blocked_prev = pv->blocked_next = NULL;
	atomic_init(&pv->folds, 0);
	atomic_init(&pv->folded, 0);
	atomic_init(&pv->block_pending, 0);
	atomic_init(&pv->sw_posts, 0);
	atomic_init(&pv->sw_notified, 0);
	atomic_init(&pv->kick_refs, 0);
	for (unsigned v = 0; v < 256; v++)
		atomic_init(&pv->raise_ns[v], 0);
}

uint64_t virq_posted_vcpu_desc_addr(const struct virq_posted_vcpu *pv)
{
	return (uint64_t)(uintptr_t)&pv->desc;
}

struct virq_posted_vcpu *virq_posted_vcpu_of_desc(uint64_t desc_addr)
{
	return (struct virq_posted_vcpu *)((char *)(uintptr_t)desc_addr - offsetof(struct virq_posted_vcpu, desc));
}

bool virq_posted_vcpu_take_device_request(struct virq_posted_vcpu *pv, uint8_t vector)
{
	uint64_t bit = 1ull << (vector & 63);

	if (!(atomic_fetch_and(&pv->desc.pir[vector >> 6], ~bit) & bit))
		return false;
	/* A software post stamps before it sets the bit (seq_cst), so a bit it set shows its stamp here. */
	if (atomic_load(&pv->raise_ns[vector]) == 0)
		return true;
	struct virq_posted_result r = virq_posted_desc_post(&pv->desc, vector, false);
	if (r.notify)
		virq_bypass_notify(r.ndst, r.nv);
	return false;
}

bool virq_posted_vcpu_blocked(const struct virq_posted_vcpu *pv)
{
	return pv->blocked_pcpu >= 0;
}

/* Take @pv off its blocked list (owner; @pv is on one). */
static void virq_posted_unlink(struct virq_posted_vcpu *pv)
{
	struct virq_posted_pcpu *cpu = &pv->pcpus->cpu[pv->blocked_pcpu];

	pthread_mutex_lock(&cpu->lock);
	if (pv->blocked_prev)
		pv->blocked_prev->blocked_next = pv->blocked_next;
	else
		cpu->head = pv->blocked_next;
	if (pv->blocked_next)
		pv->blocked_next->blocked_prev = pv->blocked_prev;
	pv->blocked_prev = pv->blocked_next = NULL;
	pv->blocked_pcpu = -1;
	pthread_mutex_unlock(&cpu->lock);
}

void virq_posted_vcpu_destroy(struct virq_posted_vcpu *pv)
{
	if (virq_posted_vcpu_blocked(pv))
		virq_posted_unlink(pv);
	virq_posted_desc_set_sn(&pv->desc);
	/* Off the list, so no new kick reference; wait out a handler still kicking us (a few µs). */
	while (atomic_load_explicit(&pv->kick_refs, memory_order_acquire))
		sched_yield();
}

void virq_posted_vcpu_running(struct virq_posted_vcpu *pv, int pcpu)
{
	pcpu &= VIRQ_POSTED_NR_PCPUS - 1;
	if (virq_posted_vcpu_blocked(pv) || pv->pcpu != pcpu) {
		if (virq_posted_vcpu_blocked(pv))
			virq_posted_unlink(pv);
		virq_posted_desc_set_nv_ndst(&pv->desc, VIRQ_POSTED_INTR_VECTOR, (uint32_t)pcpu);
		pv->pcpu = pcpu;
	}
	virq_posted_desc_clear_sn(&pv->desc);
	/* Requests recorded under SN (ON was left clear): make the next fold take them. */
	if (virq_posted_desc_pir_pending(&pv->desc))
		virq_posted_desc_test_and_set_on(&pv->desc);
}

void virq_posted_vcpu_sched_out(struct virq_posted_vcpu *pv)
{
	virq_posted_desc_set_sn(&pv->desc);
}

bool virq_posted_vcpu_block(struct virq_posted_vcpu *pv, int pcpu)
{
	pcpu &= VIRQ_POSTED_NR_PCPUS - 1;
	if (virq_posted_vcpu_blocked(pv))
		virq_posted_unlink(pv);

	struct virq_posted_pcpu *cpu = &pv->pcpus->cpu[pcpu];
	pthread_mutex_lock(&cpu->lock);
	pv->blocked_prev = NULL;
	pv->blocked_next = cpu->head;
	if (cpu->head)
		cpu->head->blocked_prev = pv;
	cpu->head = pv;
	pv->blocked_pcpu = pcpu;
	/* Under the lock, as KVM does: a handler walking this list sees us together with NV = 0xf1. */
	virq_posted_desc_set_nv_ndst(&pv->desc, VIRQ_POSTED_INTR_WAKEUP_VECTOR, (uint32_t)pcpu);
	pthread_mutex_unlock(&cpu->lock);

	if (virq_posted_desc_on(&pv->desc)) {
		virq_posted_count(&pv->block_pending);
		return true;
	}
	return false;
}

void virq_posted_vcpu_unblock(struct virq_posted_vcpu *pv)
{
	if (virq_posted_vcpu_blocked(pv))
		virq_posted_unlink(pv);
	virq_posted_desc_set_nv_ndst(&pv->desc, VIRQ_POSTED_INTR_VECTOR, (uint32_t)pv->pcpu);
}

static uint64_t virq_posted_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts); /* vDSO: no syscall */
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * Take PIR into @pir and, for every vector taken, its software post's stamp into @stamp[v] (0 when it
 * has none). The stamp is read after the PIR exchange that acquired the post's bit, so a post's own stamp
 * is seen; a later post of the same vector that stored its stamp in between lends this request its
 * (later) time and leaves its own bit for the next fold with none: a latency understated by at most the
 * gap between the two, never a stale time. Returns whether anything was taken. Owner.
 */
static bool virq_posted_take(struct virq_posted_vcpu *pv, uint64_t pir[4], uint64_t *stamp)
{
	/* The op-boundary fast path: a relaxed load. ON stays set until a fold clears it, so a late view
	 * only delays the fold to the next boundary; the take below is seq_cst. */
	if (!virq_posted_vcpu_pending(pv))
		return false;
	if (!virq_posted_desc_take(&pv->desc, pir))
		return false;
	for (unsigned i = 0; i < 4; i++)
		for (uint64_t w = pir[i]; w; w &= w - 1) {
			unsigned v = i * 64 + (unsigned)__builtin_ctzll(w);
			/* Exchange only a stamp that is there: device posts leave none, and a load is cheaper. */
			uint64_t ns = atomic_load_explicit(&pv->raise_ns[v], memory_order_relaxed);
			if (ns)
				ns = atomic_exchange_explicit(&pv->raise_ns[v], 0, memory_order_relaxed);
			if (stamp)
				stamp[v] = ns;
		}
	return true;
}

static void virq_posted_count_fold(struct virq_posted_vcpu *pv, unsigned n)
{
	virq_posted_count(&pv->folds);
	atomic_fetch_add_explicit(&pv->folded, n, memory_order_relaxed);
}

unsigned virq_posted_vcpu_fold(struct virq_posted_vcpu *pv, _Atomic uint64_t irr[4])
{
	uint64_t pir[4];
	unsigned n = 0;

	if (!virq_posted_take(pv, pir, NULL))
		return 0;
	for (unsigned i = 0; i < 4; i++) {
		if (pir[i]) {
			/* Release, as the LAPIC's own accept sets IRR: the IRR reader acquires. */
			atomic_fetch_or_explicit(&irr[i], pir[i], memory_order_release);
			n += (unsigned)__builtin_popcountll(pir[i]);
		}
	}
	virq_posted_count_fold(pv, n);
	return n;
}

unsigned virq_posted_vcpu_fold_lapic(struct virq_posted_vcpu *pv, struct virq_lapic *apic)
{
	uint64_t pir[4], stamp[256], now;

	if (!virq_posted_take(pv, pir, stamp))
		return 0;
	now = virq_posted_now_ns();
	/* Before IRR: virq_lapic_update_irr's release publishes the raise times with the bits. */
	for (unsigned i = 0; i < 4; i++)
		for (uint64_t w = pir[i]; w; w &= w - 1) {
			unsigned v = i * 64 + (unsigned)__builtin_ctzll(w);
			atomic_store_explicit(&apic->raise_ns[v], stamp[v] ? stamp[v] : now, memory_order_relaxed);
		}
	unsigned n = virq_lapic_update_irr(apic, pir);
	virq_posted_count_fold(pv, n);
	return n;
}

static unsigned virq_posted_lapic_set_intr_ready(void *ctx, uint8_t vector, uint64_t raise_ns)
{
	struct virq_posted_vcpu *pv = ctx;

	/* The stamp first: the PIR bit's seq_cst RMW releases it to the fold that takes the bit. A request
	 * that coalesces into a pending bit moves the stamp later, as the software path's raise_ns does. */
	atomic_store_explicit(&pv->raise_ns[vector], raise_ns, memory_order_relaxed);
	struct virq_posted_result r = virq_posted_desc_post(&pv->desc, vector, true);
	virq_posted_count(&pv->sw_posts);
	if (r.notify)
		virq_posted_count(&pv->sw_notified);
	return (r.coalesced ? VIRQ_LAPIC_INTR_COALESCED : 0u) | (r.notify ? VIRQ_LAPIC_INTR_NOTIFY : 0u);
}

const struct virq_lapic_intr_ops virq_posted_lapic_intr_ops = {
	.set_intr_ready = virq_posted_lapic_set_intr_ready,
};
