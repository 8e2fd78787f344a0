/* SPDX-License-Identifier: MIT */
/*
 * gicv3_lpi.c - LPI objects and their per-vCPU queues (arch/arm64/kvm/vgic/vgic-its.c vgic_add_lpi,
 * update_lpi_config, its_sync_lpi_pending_table; vgic.c vgic_queue_irq_unlock; vgic-v3.c
 * vgic_v3_lpi_sync_pending_status and vgic_v3_save_pending_tables; reference kvm-arm.md §1.4).
 *
 * An LPI exists while at least one ITE (of any ITS) maps its INTID; the pending latch, target and cached
 * configuration live in the LPI, so retargeting carries the pending state along. Configuration is
 * copied from the property table only when the LPI is created, on INV/INVALL and on GICR_INVLPIR/INVALLR
 * (a guest store to the table alone changes nothing, as in KVM). A pending and enabled LPI with a target
 * sits on that vCPU's queue (KVM's ap_list); the CPU interface only looks at queues. "Queue attempts"
 * (MSI/INT, INV, INVALL, creation, pending-table sync) put an LPI on its queue; other changes (retarget,
 * disable, CLEAR, acknowledge) only move or prune it. So an LPI dropped by an EnableLPIs clear stays
 * latched but unqueued until the next queue attempt, which is KVM's behaviour with PTZ = 1.
 *
 * The table holds every possible INTID (8192..65535), all under gic->lock.
 */
#include "irqchip/arm/gicv3_internal.h"

#include <errno.h>

#include "irqchip/arm/gicv3_regs.h"

static struct virq_gic_lpi *lpi_of(const struct virq_gic *gic, uint32_t intid)
{
	if (intid < VIRQ_GIC_LPI_BASE || intid >= (1u << VIRQ_GIC_LPI_ID_BITS))
		return NULL;
	return &gic->lpis[intid - VIRQ_GIC_LPI_BASE];
}

static uint32_t lpi_intid(const struct virq_gic *gic, const struct virq_gic_lpi *lpi)
{
	return (uint32_t)(lpi - gic->lpis) + VIRQ_GIC_LPI_BASE;
}

bool virq_gic_lpi_exists_locked(const struct virq_gic *gic, uint32_t intid)
{
	const struct virq_gic_lpi *lpi = lpi_of(gic, intid);

	return lpi && lpi->refs;
}

static void lpi_unqueue(struct virq_gic *gic, struct virq_gic_lpi *lpi)
{
	struct virq_gic_cpu *cpu;

	if (lpi->queued_on < 0)
		return;
	cpu = &gic->cpus[lpi->queued_on];
	if (lpi->prev >= 0)
		gic->lpis[lpi->prev].next = lpi->next;
	else
		cpu->lpi_head = lpi->next;
	if (lpi->next >= 0)
		gic->lpis[lpi->next].prev = lpi->prev;
	lpi->next = lpi->prev = lpi->queued_on = -1;
}

static void lpi_enqueue(struct virq_gic *gic, struct virq_gic_lpi *lpi, int vcpu)
{
	struct virq_gic_cpu *cpu = &gic->cpus[vcpu];
	int32_t idx = (int32_t)(lpi - gic->lpis);

	lpi->queued_on = vcpu;
	lpi->prev = -1;
	lpi->next = cpu->lpi_head;
	if (cpu->lpi_head >= 0)
		gic->lpis[cpu->lpi_head].prev = idx;
	cpu->lpi_head = idx;
	virq_gic_kick(gic, vcpu);
}

/*
 * Bring the LPI's queue membership in line with its state. @queue: this is a queue attempt (KVM's
 * vgic_queue_irq_unlock); otherwise only move a queued LPI to its new target or prune it.
 */
static void lpi_sync(struct virq_gic *gic, struct virq_gic_lpi *lpi, bool queue)
{
	bool ready = lpi->pending && lpi->enabled && lpi->target >= 0;

	if (!lpi->refs)
		return; /* nothing of a freed LPI is queued (virq_gic_lpi_put) */
	if (!ready) {
		lpi_unqueue(gic, lpi);
	} else if (lpi->queued_on >= 0 && lpi->queued_on != lpi->target) {
		lpi_unqueue(gic, lpi);
		lpi_enqueue(gic, lpi, lpi->target);
	} else if (lpi->queued_on < 0 && queue) {
		lpi_enqueue(gic, lpi, lpi->target);
	}
}

/* The property byte of @intid (priority & 0xfc, enable). */
static int lpi_read_prop(struct virq_gic *gic, uint32_t intid, uint8_t *prop)
{
	uint64_t base = gic->propbaser & GICR_PROPBASER_ADDR_MASK;

	if (virq_gic_read_guest(gic, base + (intid - VIRQ_GIC_LPI_BASE), prop, 1)) {
		atomic_fetch_add_explicit(&gic->lpi_read_faults, 1, memory_order_relaxed);
		return -EFAULT;
	}
	return 0;
}

static uint64_t pending_byte_gpa(const struct virq_gic *gic, unsigned vcpu, uint32_t intid)
{
	return (gic->cpus[vcpu].pendbaser & GICR_PENDBASER_ADDR_MASK) + intid / 8;
}

uint32_t virq_gic_lpi_limit(struct virq_gic *gic)
{
	unsigned bits;

	pthread_mutex_lock(&gic->lock);
	bits = (unsigned)(gic->propbaser & GICR_PROPBASER_IDBITS_MASK) + 1;
	pthread_mutex_unlock(&gic->lock);
	return 1u << (bits < VIRQ_GIC_LPI_ID_BITS ? bits : VIRQ_GIC_LPI_ID_BITS);
}

int virq_gic_lpi_get(struct virq_gic *gic, uint32_t intid, int target)
{
	struct virq_gic_lpi *lpi = lpi_of(gic, intid);
	uint8_t prop, pend = 0;
	int ret = 0;

	if (!lpi || target >= (int)gic->nr_vcpus)
		return -EINVAL;
	pthread_mutex_lock(&gic->lock);
	if (lpi->refs) {
		/* Shared INTID (another ITE or ITS): keep its configuration and target (KVM). */
		if (lpi->refs == UINT32_MAX)
			ret = -ENOSPC;
		else
			lpi->refs++;
		goto out;
	}
	ret = lpi_read_prop(gic, intid, &prop);
	if (ret)
		goto out;
	if (target >= 0) {
		/* The target's pending bit: read, and consumed (cleared in guest memory) when set. */
		uint64_t gpa = pending_byte_gpa(gic, (unsigned)target, intid);

		ret = virq_gic_read_guest(gic, gpa, &pend, 1);
		if (!ret && (pend & (1u << (intid % 8)))) {
			uint8_t cleared = pend & (uint8_t)~(1u << (intid % 8));

			ret = virq_gic_write_guest(gic, gpa, &cleared, 1);
		}
		if (ret) {
			atomic_fetch_add_explicit(&gic->lpi_read_faults, 1, memory_order_relaxed);
			goto out;
		}
	}
	lpi->refs = 1;
	lpi->queued_on = lpi->next = lpi->prev = -1;
	lpi->target = target;
	if ((uint32_t)(lpi - gic->lpis) >= gic->lpi_hi)
		gic->lpi_hi = (uint32_t)(lpi - gic->lpis) + 1;
	lpi->priority = prop & LPI_PROP_PRIORITY_MASK;
	lpi->enabled = prop & LPI_PROP_ENABLE;
	lpi->pending = pend & (1u << (intid % 8));
	if (lpi->pending)
		lpi->raise_ns = virq_gic_now_ns();
	lpi_sync(gic, lpi, true);
out:
	pthread_mutex_unlock(&gic->lock);
	return ret;
}

void virq_gic_lpi_put(struct virq_gic *gic, uint32_t intid)
{
	struct virq_gic_lpi *lpi = lpi_of(gic, intid);

	if (!lpi)
		return;
	pthread_mutex_lock(&gic->lock);
	if (lpi->refs && --lpi->refs == 0) {
		/* Freed with its last ITE: the pending state goes with it. */
		lpi_unqueue(gic, lpi);
		lpi->pending = lpi->enabled = false;
		lpi->target = -1;
	}
	pthread_mutex_unlock(&gic->lock);
}

void virq_gic_lpi_set_target(struct virq_gic *gic, uint32_t intid, int target)
{
	struct virq_gic_lpi *lpi = lpi_of(gic, intid);

	if (!lpi || target >= (int)gic->nr_vcpus)
		return;
	pthread_mutex_lock(&gic->lock);
	if (lpi->refs) {
		lpi->target = target < 0 ? -1 : target;
		lpi_sync(gic, lpi, false);
	}
	pthread_mutex_unlock(&gic->lock);
}

/* virq_gic_lpi_inject's latch, gic->lock held. */
static int lpi_inject_locked(struct virq_gic *gic, struct virq_gic_lpi *lpi, int check_vcpu, uint64_t raise_ns)
{
	int vcpu = check_vcpu >= 0 ? check_vcpu : lpi->target;

	if (!lpi->refs || vcpu < 0)
		return -ENOENT;
	if (!gic->cpus[vcpu].enable_lpis)
		return -EBUSY; /* not latched */
	if (!lpi->pending)
		lpi->raise_ns = raise_ns; /* a coalesced MSI keeps the first raise time */
	lpi->pending = true;
	lpi_sync(gic, lpi, true);
	return 1;
}

int virq_gic_lpi_inject(struct virq_gic *gic, uint32_t intid, int check_vcpu, uint64_t raise_ns)
{
	struct virq_gic_lpi *lpi = lpi_of(gic, intid);
	int ret;

	if (!lpi || check_vcpu >= (int)gic->nr_vcpus)
		return -ENOENT;
	pthread_mutex_lock(&gic->lock);
	ret = lpi_inject_locked(gic, lpi, check_vcpu, raise_ns);
	pthread_mutex_unlock(&gic->lock);
	return ret;
}

int virq_gic_lpi_inject_if(struct virq_gic *gic, uint32_t intid, const _Atomic uint64_t *epoch, uint64_t expect,
			   uint64_t raise_ns)
{
	struct virq_gic_lpi *lpi = lpi_of(gic, intid);
	int ret;

	if (!lpi)
		return -ENOENT;
	pthread_mutex_lock(&gic->lock);
	/* seq_cst: against the bump that precedes every change of a translation (its.c). */
	ret = atomic_load(epoch) != expect ? -ESTALE : lpi_inject_locked(gic, lpi, -1, raise_ns);
	pthread_mutex_unlock(&gic->lock);
	return ret;
}

int virq_gic_lpi_target_locked(const struct virq_gic *gic, uint32_t intid)
{
	const struct virq_gic_lpi *lpi = lpi_of(gic, intid);

	return lpi && lpi->refs ? lpi->target : -2;
}

uint64_t virq_gic_lpi_changes(struct virq_gic *gic)
{
	return atomic_load(&gic->lpi_changes);
}

void virq_gic_lpi_note_change(struct virq_gic *gic)
{
	atomic_fetch_add(&gic->lpi_changes, 1);
}

void virq_gic_lpi_clear(struct virq_gic *gic, uint32_t intid)
{
	struct virq_gic_lpi *lpi = lpi_of(gic, intid);

	if (!lpi)
		return;
	pthread_mutex_lock(&gic->lock);
	lpi->pending = false;
	lpi_sync(gic, lpi, false);
	pthread_mutex_unlock(&gic->lock);
}

void virq_gic_lpi_inv_locked(struct virq_gic *gic, uint32_t intid)
{
	struct virq_gic_lpi *lpi = lpi_of(gic, intid);
	uint8_t prop;

	if (!lpi || !lpi->refs || lpi_read_prop(gic, intid, &prop))
		return; /* KVM: a failed read leaves the cached configuration as it was */
	lpi->priority = prop & LPI_PROP_PRIORITY_MASK;
	lpi->enabled = prop & LPI_PROP_ENABLE;
	lpi_sync(gic, lpi, true);
}

void virq_gic_lpi_inv(struct virq_gic *gic, uint32_t intid)
{
	pthread_mutex_lock(&gic->lock);
	virq_gic_lpi_inv_locked(gic, intid);
	pthread_mutex_unlock(&gic->lock);
}

void virq_gic_lpi_invall_locked(struct virq_gic *gic, unsigned vcpu)
{
	for (uint32_t i = 0; i < gic->lpi_hi; i++)
		if (gic->lpis[i].refs && gic->lpis[i].target == (int32_t)vcpu)
			virq_gic_lpi_inv_locked(gic, i + VIRQ_GIC_LPI_BASE);
}

void virq_gic_lpi_invall(struct virq_gic *gic, unsigned vcpu)
{
	if (vcpu >= gic->nr_vcpus)
		return;
	pthread_mutex_lock(&gic->lock);
	virq_gic_lpi_invall_locked(gic, vcpu);
	pthread_mutex_unlock(&gic->lock);
}

void virq_gic_lpi_move_all(struct virq_gic *gic, unsigned from, unsigned to)
{
	if (from >= gic->nr_vcpus || to >= gic->nr_vcpus)
		return;
	pthread_mutex_lock(&gic->lock);
	for (uint32_t i = 0; i < gic->lpi_hi; i++) {
		struct virq_gic_lpi *lpi = &gic->lpis[i];

		if (lpi->refs && lpi->target == (int32_t)from) {
			lpi->target = (int32_t)to;
			lpi_sync(gic, lpi, false);
		}
	}
	pthread_mutex_unlock(&gic->lock);
}

int virq_gic_lpi_target(struct virq_gic *gic, uint32_t intid)
{
	struct virq_gic_lpi *lpi = lpi_of(gic, intid);
	int t;

	if (!lpi)
		return -2;
	pthread_mutex_lock(&gic->lock);
	t = lpi->refs ? lpi->target : -2;
	pthread_mutex_unlock(&gic->lock);
	return t;
}

bool virq_gic_lpi_pending(struct virq_gic *gic, uint32_t intid)
{
	struct virq_gic_lpi *lpi = lpi_of(gic, intid);
	bool p;

	if (!lpi)
		return false;
	pthread_mutex_lock(&gic->lock);
	p = lpi->refs && lpi->pending;
	pthread_mutex_unlock(&gic->lock);
	return p;
}

void virq_gic_lpi_flush_locked(struct virq_gic *gic, unsigned vcpu)
{
	while (gic->cpus[vcpu].lpi_head >= 0)
		lpi_unqueue(gic, &gic->lpis[gic->cpus[vcpu].lpi_head]);
}

void virq_gic_lpi_sync_pending_locked(struct virq_gic *gic, unsigned vcpu)
{
	for (uint32_t i = 0; i < gic->lpi_hi; i++) {
		struct virq_gic_lpi *lpi = &gic->lpis[i];
		uint32_t intid = i + VIRQ_GIC_LPI_BASE;
		uint8_t pend;

		if (!lpi->refs || lpi->target != (int32_t)vcpu)
			continue;
		if (virq_gic_read_guest(gic, pending_byte_gpa(gic, vcpu, intid), &pend, 1)) {
			atomic_fetch_add_explicit(&gic->lpi_read_faults, 1, memory_order_relaxed);
			return; /* KVM stops at the first failed read */
		}
		/* Overwrites the latch, not consumed: KVM's its_sync_lpi_pending_table. */
		if ((pend >> (intid % 8)) & 1) {
			if (!lpi->pending)
				lpi->raise_ns = virq_gic_now_ns();
			lpi->pending = true;
		} else {
			lpi->pending = false;
		}
		lpi_sync(gic, lpi, true);
	}
}

int virq_gic_lpi_best_locked(struct virq_gic *gic, unsigned vcpu, uint8_t *priority)
{
	int best = -1;

	for (int32_t i = gic->cpus[vcpu].lpi_head; i >= 0; i = gic->lpis[i].next) {
		const struct virq_gic_lpi *lpi = &gic->lpis[i];

		if (best < 0 || lpi->priority < *priority || (lpi->priority == *priority && i < best)) {
			best = i;
			*priority = lpi->priority;
		}
	}
	return best < 0 ? -1 : (int)(best + VIRQ_GIC_LPI_BASE);
}

uint64_t virq_gic_lpi_ack_locked(struct virq_gic *gic, uint32_t intid)
{
	struct virq_gic_lpi *lpi = lpi_of(gic, intid);

	if (!lpi)
		return 0;
	/* LPIs have no active state: acknowledging only clears the latch. */
	lpi->pending = false;
	lpi_sync(gic, lpi, false);
	return lpi->raise_ns;
}

int virq_gic_save_pending_tables(struct virq_gic *gic)
{
	int ret = 0;

	pthread_mutex_lock(&gic->lock);
	for (uint32_t i = 0; i < gic->lpi_hi && !ret; i++) {
		const struct virq_gic_lpi *lpi = &gic->lpis[i];
		uint32_t intid = lpi_intid(gic, lpi);
		uint64_t gpa;
		uint8_t val, want;

		if (!lpi->refs || lpi->target < 0)
			continue;
		gpa = pending_byte_gpa(gic, (unsigned)lpi->target, intid);
		ret = virq_gic_read_guest(gic, gpa, &val, 1);
		if (ret)
			break;
		want = lpi->pending ? (uint8_t)(val | (1u << (intid % 8))) : (uint8_t)(val & ~(1u << (intid % 8)));
		if (want != val)
			ret = virq_gic_write_guest(gic, gpa, &want, 1);
	}
	pthread_mutex_unlock(&gic->lock);
	return ret;
}
