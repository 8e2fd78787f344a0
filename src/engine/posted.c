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
	struct virq_posted_pcpu *cpu = &p->cpu[ndst];
	pthread_mutex_lock(&cpu->lock);
	for (struct virq_posted_vcpu *pv = cpu->head; pv; pv = pv->blocked_next) {
		if (virq_posted_desc_on(&pv->desc)) {
			virq_posted_count(&p->kicks);
			pv->ops->kick(pv->ctx);
		}
	}
	pthread_mutex_unlock(&cpu->lock);
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
}

uint64_t virq_posted_vcpu_desc_addr(const struct virq_posted_vcpu *pv)
{
	return (uint64_t)(uintptr_t)&pv->desc;
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

unsigned virq_posted_vcpu_fold(struct virq_posted_vcpu *pv, _Atomic uint64_t irr[4])
{
	return virq_posted_vcpu_fold_stamp(pv, irr, NULL);
}

/* Stamp the raise time of every vector in @pir with the fold time: a post carries no time of its own
 * (neither does the hardware's), and the LAPIC's ack reports raise_ns[v] as the request's raise time. */
static void virq_posted_stamp(const uint64_t pir[4], _Atomic uint64_t raise_ns[256])
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts); /* vDSO: no syscall */
	uint64_t now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	for (unsigned i = 0; i < 4; i++)
		for (uint64_t w = pir[i]; w; w &= w - 1)
			atomic_store_explicit(&raise_ns[i * 64 + (unsigned)__builtin_ctzll(w)], now,
					      memory_order_relaxed);
}

unsigned virq_posted_vcpu_fold_stamp(struct virq_posted_vcpu *pv, _Atomic uint64_t irr[4],
				     _Atomic uint64_t raise_ns[256])
{
	uint64_t pir[4];
	unsigned n = 0;

	/* The op-boundary fast path: a relaxed load. ON stays set until a fold clears it, so a late view
	 * only delays the fold to the next boundary; the take below is seq_cst. */
	if (!virq_posted_vcpu_pending(pv))
		return 0;
	if (!virq_posted_desc_take(&pv->desc, pir))
		return 0;
	if (raise_ns)
		virq_posted_stamp(pir, raise_ns); /* before IRR: the IRR's release publishes the stamps */
	for (unsigned i = 0; i < 4; i++) {
		if (pir[i]) {
			/* Release, as the LAPIC's own accept sets IRR: the IRR reader acquires. */
			atomic_fetch_or_explicit(&irr[i], pir[i], memory_order_release);
			n += (unsigned)__builtin_popcountll(pir[i]);
		}
	}
	virq_posted_count(&pv->folds);
	atomic_fetch_add_explicit(&pv->folded, n, memory_order_relaxed);
	return n;
}
