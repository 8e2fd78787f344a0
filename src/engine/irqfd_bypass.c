/* SPDX-License-Identifier: MIT */
/*
 * irqfd_bypass.c - an irqfd's bypass consumer: decide with the policy, program the paired producer
 * (rules and lock order in irqfd_bypass.h).
 *
 * Pairing failures never break the irqfd: if the producer cannot post, the consumer stays paired in
 * remapped mode, where delivery goes through the host IRQ, VFIO's eventfd and this very irqfd, exactly
 * as without bypass (Linux logs and carries on the same way). On arm64 the same holds for direct LPI
 * injection: whatever cannot be injected directly goes through the eventfd and the irqfd.
 */
#include "engine/irqfd_bypass.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define virq_irqfd_bypass_of(cons) \
	((struct virq_irqfd_bypass *)((char *)(cons) - offsetof(struct virq_irqfd_bypass, consumer)))

/* ---- arm64: direct LPI injection ---- */

/* The producer's per-message call (struct virq_bypass_lpi.inject): no consumer lock, only [I] fields. */
static int virq_irqfd_bypass_inject(const struct virq_bypass_lpi *t, uint64_t raise_ns)
{
	struct virq_irqfd_bypass *b = t->ctx;
	int r = b->ops->inject_lpi(b->ctx, b->gsi, t, raise_ns);

	atomic_fetch_add_explicit(r == 0 ? &b->injected : &b->fallbacks, 1, memory_order_relaxed);
	return r;
}

static int virq_irqfd_bypass_set_lpi(struct virq_irqfd_bypass *b, const struct virq_bypass_lpi *t)
{
	struct virq_bypass_producer *p = b->producer;
	int r = p->ops && p->ops->set_lpi ? p->ops->set_lpi(p, t) : -EOPNOTSUPP;

	atomic_fetch_add_explicit(r ? &b->failures : t ? &b->posts : &b->remaps, 1, memory_order_relaxed);
	return r;
}

/* Resolve, and unless the route resolves to a deliverable LPI, say why not. @t gets the target. */
static void virq_irqfd_bypass_resolve_locked(struct virq_irqfd_bypass *b, struct virq_bypass_lpi *t)
{
	memset(t, 0, sizeof(*t));
	b->ops->resolve_lpi(b->ctx, b->gsi, &b->route, &b->decision, t);
	if (b->decision.mode != VIRQ_BYPASS_DIRECT_LPI)
		return;
	/* The engine's MSI-X table holds the GSI (masked entry, ...): only the irqfd path sets its pending
	 * bit. (The producer's injection checks this again per message: see inject_lpi.) */
	const char *held = b->ops->held ? b->ops->held(b->ctx, b->gsi) : NULL;
	if (held) {
		b->decision.mode = VIRQ_BYPASS_SOFTWARE;
		snprintf(b->decision.reason, sizeof(b->decision.reason), "software: %s", held);
	}
}

static bool virq_bypass_lpi_same(const struct virq_bypass_lpi *a, const struct virq_bypass_lpi *b)
{
	return a->its == b->its && a->intid == b->intid && a->gen == b->gen;
}

/* The arm64 form of apply: direct to the resolved LPI, or back to the eventfd. */
static int virq_irqfd_bypass_apply_arm_locked(struct virq_irqfd_bypass *b)
{
	struct virq_bypass_lpi t;
	int ret = 0;

	virq_irqfd_bypass_resolve_locked(b, &t);
	if (!b->producer)
		return 0;
	if (b->decision.mode == VIRQ_BYPASS_DIRECT_LPI) {
		t.inject = virq_irqfd_bypass_inject;
		t.ctx = b;
		if (b->direct && virq_bypass_lpi_same(&t, &b->lpi))
			return 0; /* unchanged (a MOVI, say: the target lives in the LPI) */
		ret = virq_irqfd_bypass_set_lpi(b, &t);
		if (ret == 0) {
			b->direct = true;
			b->lpi = t;
			/* Every message sent before the switch has reached the eventfd by now (set_lpi waited
			 * for them): deliver them here rather than leave them to a watcher's later wake-up. */
			if (b->ops->drain)
				b->ops->drain(b);
			return 0;
		}
		b->decision.mode = VIRQ_BYPASS_SOFTWARE;
		if (ret == -EOPNOTSUPP)
			snprintf(b->decision.reason, sizeof(b->decision.reason),
				 "software: the host interrupt cannot inject into an LPI");
		else
			snprintf(b->decision.reason, sizeof(b->decision.reason),
				 "software: direct injection refused (%s)", strerror(-ret));
	}
	if (b->direct) {
		virq_irqfd_bypass_set_lpi(b, NULL); /* back to the eventfd; waits out injections in flight */
		b->direct = false;
	}
	return ret;
}

/* ---- the decision (x86: posting; arm64: resolve_lpi) ---- */

static void virq_irqfd_bypass_decide_locked(struct virq_irqfd_bypass *b, bool no_iommu)
{
	if (b->ops->resolve_lpi) {
		struct virq_bypass_lpi t;
		virq_irqfd_bypass_resolve_locked(b, &t);
		return;
	}
	struct virq_bypass_policy_in in = {
		.route = &b->route,
		.override = b->ops->override ? b->ops->override(b->ctx, b->gsi) : VIRQ_BYPASS_AUTO,
		.explicit_only = b->explicit_only,
		.no_iommu = no_iommu,
		.held = b->ops->held ? b->ops->held(b->ctx, b->gsi) : NULL,
	};

	in.apics = b->ops->apics(b->ctx, &in.nr_apics);
	virq_bypass_decide(&in, &b->decision);
	if (b->ops->apics_done)
		b->ops->apics_done(b->ctx);
}

static int virq_irqfd_bypass_affinity(struct virq_irqfd_bypass *b, const struct virq_bypass_vcpu_info *info)
{
	struct virq_bypass_producer *p = b->producer;
	int r = p->ops && p->ops->set_vcpu_affinity ? p->ops->set_vcpu_affinity(p, info) : -EOPNOTSUPP;

	atomic_fetch_add_explicit(r ? &b->failures : info ? &b->posts : &b->remaps, 1, memory_order_relaxed);
	return r;
}

/* Bring the producer in line with a fresh decision. Returns 0 or the error posting failed with. */
static int virq_irqfd_bypass_apply_locked(struct virq_irqfd_bypass *b)
{
	int ret = 0;

	if (b->ops->resolve_lpi)
		return virq_irqfd_bypass_apply_arm_locked(b);
	virq_irqfd_bypass_decide_locked(b, false);
	if (!b->producer)
		return 0;
	if (b->decision.mode == VIRQ_BYPASS_POSTED) {
		struct virq_bypass_vcpu_info info = {
			.pi_desc_addr = b->ops->desc_addr(b->ctx, b->decision.vcpu),
			.vector = b->decision.vector,
		};
		if (b->posted && info.pi_desc_addr == b->info.pi_desc_addr && info.vector == b->info.vector)
			return 0; /* unchanged: no IRTE write (Linux skips an unchanged payload) */
		if (info.pi_desc_addr == 0)
			ret = -ENODEV;
		else if ((ret = virq_irqfd_bypass_affinity(b, &info)) == 0) {
			if (b->posted && b->ops->retargeted)
				b->ops->retargeted(b->ctx, &b->info, &info);
			b->posted = true;
			b->info = info;
			return 0;
		}
		/* Posting failed: remapped, and say why (KVM clears the cached posted target). */
		if (ret == -EOPNOTSUPP)
			virq_irqfd_bypass_decide_locked(b, true);
		else {
			b->decision.mode = VIRQ_BYPASS_REMAPPED;
			snprintf(b->decision.reason, sizeof(b->decision.reason),
				 "remapped: posting to vCPU %u failed (%s)", b->decision.vcpu, strerror(-ret));
		}
	}
	if (b->posted) {
		virq_irqfd_bypass_affinity(b, NULL);
		b->posted = false;
	}
	return ret;
}

static int virq_irqfd_bypass_add_producer(struct virq_bypass_consumer *cons, struct virq_bypass_producer *prod)
{
	struct virq_irqfd_bypass *b = virq_irqfd_bypass_of(cons);

	pthread_mutex_lock(&b->lock);
	if (b->ops->paired)
		b->ops->paired(b->ctx, true);
	b->producer = prod;
	b->posted = false; /* a fresh producer starts remapped (x86) or writing its eventfd (arm64) */
	b->direct = false;
	/* A posting failure leaves the pair in remapped mode, which works: do not fail the pairing. */
	virq_irqfd_bypass_apply_locked(b);
	pthread_mutex_unlock(&b->lock);
	return 0;
}

static void virq_irqfd_bypass_del_producer(struct virq_bypass_consumer *cons, struct virq_bypass_producer *prod)
{
	struct virq_irqfd_bypass *b = virq_irqfd_bypass_of(cons);

	pthread_mutex_lock(&b->lock);
	if (b->producer == prod) {
		if (b->posted)
			virq_irqfd_bypass_affinity(b, NULL); /* detach always returns to remapped */
		if (b->direct)
			virq_irqfd_bypass_set_lpi(b, NULL); /* and to the eventfd: no injection with us after */
		b->posted = false;
		b->direct = false;
		b->producer = NULL;
		if (b->ops->paired)
			b->ops->paired(b->ctx, false);
	}
	pthread_mutex_unlock(&b->lock);
}

static const struct virq_bypass_consumer_ops virq_irqfd_bypass_consumer_ops = {
	.add_producer = virq_irqfd_bypass_add_producer,
	.del_producer = virq_irqfd_bypass_del_producer,
};

int virq_irqfd_bypass_init(struct virq_irqfd_bypass *b, const struct virq_irqfd_bypass_ops *ops, void *ctx,
			   uint32_t gsi, bool explicit_only, const struct virq_bypass_route *route)
{
	int r;

	memset(b, 0, sizeof(*b));
	if (!ops || (ops->resolve_lpi ? !ops->inject_lpi : !ops->apics || !ops->desc_addr))
		return -EINVAL;
	r = pthread_mutex_init(&b->lock, NULL);
	if (r)
		return -r;
	b->consumer.ops = &virq_irqfd_bypass_consumer_ops;
	b->ops = ops;
	b->ctx = ctx;
	b->gsi = gsi;
	b->explicit_only = explicit_only;
	if (route)
		b->route = *route;
	virq_irqfd_bypass_decide_locked(b, false); /* not shared yet: nothing to lock against */
	return 0;
}

void virq_irqfd_bypass_destroy(struct virq_irqfd_bypass *b)
{
	pthread_mutex_destroy(&b->lock);
}

int virq_irqfd_bypass_register(struct virq_irqfd_bypass *b, int eventfd)
{
	return virq_bypass_register_consumer(&b->consumer, eventfd);
}

void virq_irqfd_bypass_unregister(struct virq_irqfd_bypass *b)
{
	virq_bypass_unregister_consumer(&b->consumer);
}

int virq_irqfd_bypass_update(struct virq_irqfd_bypass *b, const struct virq_bypass_route *route)
{
	int ret;

	pthread_mutex_lock(&b->lock);
	if (route)
		b->route = *route;
	ret = virq_irqfd_bypass_apply_locked(b);
	pthread_mutex_unlock(&b->lock);
	return ret;
}

bool virq_irqfd_bypass_explain(struct virq_irqfd_bypass *b, struct virq_bypass_decision *out)
{
	bool paired;

	pthread_mutex_lock(&b->lock);
	*out = b->decision;
	paired = b->producer != NULL;
	pthread_mutex_unlock(&b->lock);
	return paired;
}
