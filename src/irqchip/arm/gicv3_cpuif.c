/* SPDX-License-Identifier: MIT */
/*
 * gicv3_cpuif.c - the GICv3 CPU interface as the guest sees it (GICv3 spec §4.8 and chapter 12.2 ICC_*;
 * what KVM leaves to the hardware's list registers and the vgic-v3 sysreg traps).
 *
 * Acknowledge (IAR0/IAR1): the highest-priority pending interrupt (HPPI) over the vCPU's SGIs and PPIs,
 * the SPIs routed to it and its queued LPIs, among enabled groups with the distributor enabled. It is
 * taken only if it belongs to the group asked for, its priority is below PMR and its group priority
 * (priority masked by the binary point) beats the running priority; otherwise IAR reads 1023. Ties go to
 * the lowest INTID. Taking it sets the active-priority bit of its group priority; SGIs, PPIs and SPIs
 * become active (a level interrupt whose line is still high is then active and pending), LPIs just stop
 * being pending (they have no active state).
 * Priority drop (EOIR0/1) clears the highest active priority of its group; with ICC_CTLR.EOImode = 0 it
 * also deactivates the INTID written, with EOImode = 1 that is left to DIR (the split that forwarding to
 * a physical interrupt needs). Deactivating a level SPI calls ops->resample (KVM's ack notifier, with
 * EOImode 1 at the DIR and not at the EOIR) after every lock is dropped; a line still high afterwards
 * makes the SPI pending again. A hardware-mapped SPI (a forwarded line, seed 001) calls
 * ops->hw_deactivated instead, at the same moment: that deactivates the physical interrupt directly.
 *
 * Locks: gic->lock (SPIs, LPIs) then the vCPU's cpu->lock (private interrupts, ICC state). The running
 * vCPU's thread is the only caller for its own interface; SGI generation locks each target in turn.
 */
#include "irqchip/arm/gicv3_internal.h"

#include "irqchip/arm/gicv3_regs.h"

#define SPECIAL_INTID_FIRST 1020u

enum hppi_kind { HPPI_NONE, HPPI_IRQ, HPPI_LPI };

struct hppi {
	enum hppi_kind kind;
	uint32_t intid;
	uint8_t priority;
	unsigned group;
	struct virq_gic_irq *irq; /* HPPI_IRQ */
};

static void cpu_stat(_Atomic uint64_t *counter)
{
	atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
}

static bool group_enabled(const struct virq_gic_cpu *cpu, unsigned group)
{
	return group ? cpu->igrpen1 : cpu->igrpen0;
}

static void consider(struct hppi *best, struct virq_gic_irq *irq, uint32_t intid)
{
	if (best->kind != HPPI_NONE && irq->priority >= best->priority)
		return; /* ascending INTID order: equal priority keeps the lower INTID */
	*best = (struct hppi){ HPPI_IRQ, intid, irq->priority, irq->group1, irq };
}

/* gic->lock and cpu->lock held. */
static struct hppi find_hppi(struct virq_gic *gic, unsigned vcpu)
{
	struct virq_gic_cpu *cpu = &gic->cpus[vcpu];
	struct hppi best = { .kind = HPPI_NONE };
	uint8_t lprio = 0;
	int lpi;

	if (!(gic->ctlr & GICD_CTLR_ENABLE_G1))
		return best;
	for (uint32_t i = 0; i < VIRQ_GIC_NR_PRIVATE; i++)
		if (virq_gic_irq_ready(&cpu->priv[i]) && group_enabled(cpu, cpu->priv[i].group1))
			consider(&best, &cpu->priv[i], i);
	for (uint32_t i = 0; i < gic->nr_spis && i < VIRQ_GIC_MAX_SPI_PINS; i++) {
		struct virq_gic_irq *irq = &gic->spis[i];

		if (irq->target == (int32_t)vcpu && virq_gic_irq_ready(irq) && group_enabled(cpu, irq->group1))
			consider(&best, irq, i + VIRQ_GIC_NR_PRIVATE);
	}
	/* LPIs are always group 1 (KVM ignores the property byte's group bit). */
	lpi = cpu->igrpen1 ? virq_gic_lpi_best_locked(gic, vcpu, &lprio) : -1;
	if (lpi >= 0 && (best.kind == HPPI_NONE || lprio < best.priority))
		best = (struct hppi){ HPPI_LPI, (uint32_t)lpi, lprio, 1, NULL };
	return best;
}

/* The binary point that splits @group's priorities into group priority and subpriority. */
static uint8_t group_priority(const struct virq_gic_cpu *cpu, unsigned group, uint8_t priority)
{
	unsigned shift = (group == 0 || (cpu->icc_ctlr & ICC_CTLR_CBPR)) ? cpu->bpr0 + 1u : cpu->bpr1;

	return shift >= 8 ? 0 : (uint8_t)(priority & (0xffu << shift));
}

/* ICC_RPR: the highest active group priority of either group, 0xff when idle. */
static uint8_t running_priority(const struct virq_gic_cpu *cpu)
{
	uint32_t ap = cpu->ap[0] | cpu->ap[1];

	return ap ? (uint8_t)(__builtin_ctz(ap) << (8 - VIRQ_GIC_PRI_BITS)) : 0xff;
}

static bool can_take(const struct virq_gic_cpu *cpu, const struct hppi *h, unsigned group)
{
	return h->kind != HPPI_NONE && h->group == group && h->priority < cpu->pmr &&
	       group_priority(cpu, group, h->priority) < running_priority(cpu);
}

uint32_t virq_gic_ack(struct virq_gic *gic, unsigned vcpu, unsigned group, uint64_t *raise_ns)
{
	struct virq_gic_cpu *cpu;
	struct hppi h;
	uint64_t raised = 0;

	if (vcpu >= gic->nr_vcpus)
		return VIRQ_GIC_SPURIOUS;
	cpu = &gic->cpus[vcpu];
	group = group ? 1 : 0;
	pthread_mutex_lock(&gic->lock);
	pthread_mutex_lock(&cpu->lock);
	h = find_hppi(gic, vcpu);
	if (!can_take(cpu, &h, group)) {
		pthread_mutex_unlock(&cpu->lock);
		pthread_mutex_unlock(&gic->lock);
		cpu_stat(&cpu->stats.spurious);
		return VIRQ_GIC_SPURIOUS;
	}
	if (h.kind == HPPI_LPI) {
		raised = virq_gic_lpi_ack_locked(gic, h.intid);
	} else {
		/* KVM clears the latch when the guest takes the interrupt, edge or level. */
		h.irq->pending_latch = false;
		h.irq->active = true;
		raised = h.irq->raise_ns;
	}
	cpu->ap[group] |= 1u << (group_priority(cpu, group, h.priority) >> (8 - VIRQ_GIC_PRI_BITS));
	pthread_mutex_unlock(&cpu->lock);
	pthread_mutex_unlock(&gic->lock);
	cpu_stat(&cpu->stats.acked);
	if (raise_ns)
		*raise_ns = raised;
	return h.intid;
}

/* What a deactivation leaves to do once the locks are dropped: resample level SPI @pin (KVM's ack
 * notifier) or, for a hardware-mapped SPI, deactivate the physical interrupt (@hw). */
struct deactivated {
	int pin; /* -1: nothing */
	bool hw;
};

/* Deactivate @intid. gic->lock and cpu->lock held. */
static struct deactivated deactivate_locked(struct virq_gic *gic, unsigned vcpu, uint32_t intid)
{
	struct virq_gic_cpu *cpu = &gic->cpus[vcpu];
	struct virq_gic_irq *irq;
	struct deactivated d = { -1, false };

	if (intid < VIRQ_GIC_NR_PRIVATE) {
		irq = &cpu->priv[intid];
	} else if (intid - VIRQ_GIC_NR_PRIVATE < gic->nr_spis && intid < SPECIAL_INTID_FIRST) {
		irq = &gic->spis[intid - VIRQ_GIC_NR_PRIVATE];
	} else {
		if (intid < VIRQ_GIC_LPI_BASE)
			cpu_stat(&cpu->stats.bad_eoi);
		return d; /* LPIs have nothing to deactivate */
	}
	if (!irq->active)
		return d;
	irq->active = false;
	cpu_stat(&cpu->stats.deactivated);
	if (intid >= VIRQ_GIC_NR_PRIVATE && (irq->level || irq->hw)) {
		/* A HW SPI of either trigger completes its physical interrupt, and is never resampled. */
		d.pin = (int)(intid - VIRQ_GIC_NR_PRIVATE);
		d.hw = irq->hw;
	}
	if (virq_gic_irq_ready(irq))
		virq_gic_kick(gic, irq->target); /* a level line still high: pending again */
	return d;
}

static void resample(struct virq_gic *gic, struct deactivated d)
{
	if (d.pin < 0)
		return;
	if (d.hw) {
		if (gic->ops->hw_deactivated)
			gic->ops->hw_deactivated(gic->ctx, (unsigned)d.pin);
	} else if (gic->ops->resample) {
		gic->ops->resample(gic->ctx, (unsigned)d.pin);
	}
}

void virq_gic_eoi(struct virq_gic *gic, unsigned vcpu, unsigned group, uint32_t intid)
{
	struct virq_gic_cpu *cpu;
	struct deactivated d = { -1, false };

	if (vcpu >= gic->nr_vcpus)
		return;
	cpu = &gic->cpus[vcpu];
	group = group ? 1 : 0;
	if (intid >= SPECIAL_INTID_FIRST && intid <= VIRQ_GIC_SPURIOUS)
		return; /* EOI of a special INTID has no effect */
	pthread_mutex_lock(&gic->lock);
	pthread_mutex_lock(&cpu->lock);
	if (!cpu->ap[group]) {
		cpu_stat(&cpu->stats.bad_eoi); /* nothing to drop: ignored */
	} else {
		cpu->ap[group] &= cpu->ap[group] - 1; /* clear the highest active priority */
		cpu_stat(&cpu->stats.eoi);
		if (!(cpu->icc_ctlr & ICC_CTLR_EOIMODE))
			d = deactivate_locked(gic, vcpu, intid);
		/* The lower running priority may let a pending interrupt in. */
		virq_gic_kick(gic, (int)vcpu);
	}
	pthread_mutex_unlock(&cpu->lock);
	pthread_mutex_unlock(&gic->lock);
	resample(gic, d);
}

void virq_gic_dir(struct virq_gic *gic, unsigned vcpu, uint32_t intid)
{
	struct virq_gic_cpu *cpu;
	struct deactivated d = { -1, false };

	if (vcpu >= gic->nr_vcpus)
		return;
	cpu = &gic->cpus[vcpu];
	pthread_mutex_lock(&gic->lock);
	pthread_mutex_lock(&cpu->lock);
	/* DIR with EOImode 0 is UNPREDICTABLE: ignored and counted. */
	if (!(cpu->icc_ctlr & ICC_CTLR_EOIMODE))
		cpu_stat(&cpu->stats.bad_eoi);
	else
		d = deactivate_locked(gic, vcpu, intid);
	pthread_mutex_unlock(&cpu->lock);
	pthread_mutex_unlock(&gic->lock);
	resample(gic, d);
}

bool virq_gic_pending(struct virq_gic *gic, unsigned vcpu)
{
	struct virq_gic_cpu *cpu;
	struct hppi h;
	bool yes;

	if (vcpu >= gic->nr_vcpus)
		return false;
	cpu = &gic->cpus[vcpu];
	pthread_mutex_lock(&gic->lock);
	pthread_mutex_lock(&cpu->lock);
	h = find_hppi(gic, vcpu);
	yes = can_take(cpu, &h, h.group);
	pthread_mutex_unlock(&cpu->lock);
	pthread_mutex_unlock(&gic->lock);
	return yes;
}

/* ICC_SGI0R/SGI1R: make SGI @value[27:24] pending on the targets, if it is in @group there. */
static void generate_sgi(struct virq_gic *gic, unsigned self, unsigned group, uint64_t value)
{
	unsigned intid = (value >> ICC_SGI_INTID_SHIFT) & 0xf;
	bool all = value & ICC_SGI_IRM;
	uint32_t aff = (uint32_t)((((value >> ICC_SGI_AFF2_SHIFT) & 0xff) << 16) |
				  (((value >> ICC_SGI_AFF1_SHIFT) & 0xff) << 8));
	unsigned rs = (value >> ICC_SGI_RS_SHIFT) & 0xf;

	if ((value >> ICC_SGI_AFF3_SHIFT) & 0xff)
		return; /* KVM's vCPUs all have Aff3 = 0 */
	for (unsigned v = 0; v < gic->nr_vcpus; v++) {
		uint32_t mpidr = virq_gic_vcpu_mpidr(v);
		struct virq_gic_cpu *cpu = &gic->cpus[v];
		unsigned aff0 = mpidr & 0xff;

		if (all ? v == self
			: ((mpidr & ~0xffu) != aff || aff0 / 16 != rs || !((value >> (aff0 % 16)) & 1)))
			continue;
		pthread_mutex_lock(&cpu->lock);
		if (cpu->priv[intid].group1 == (group == 1))
			virq_gic_irq_set_line(gic, &cpu->priv[intid], true);
		pthread_mutex_unlock(&cpu->lock);
	}
}

uint64_t virq_gic_icc_read(struct virq_gic *gic, unsigned vcpu, enum virq_icc_reg reg)
{
	struct virq_gic_cpu *cpu;
	uint64_t v = 0;
	struct hppi h;

	if (vcpu >= gic->nr_vcpus)
		return 0;
	if (reg == VIRQ_ICC_IAR0 || reg == VIRQ_ICC_IAR1)
		return virq_gic_ack(gic, vcpu, reg == VIRQ_ICC_IAR1, NULL);
	cpu = &gic->cpus[vcpu];
	pthread_mutex_lock(&gic->lock);
	pthread_mutex_lock(&cpu->lock);
	switch (reg) {
	case VIRQ_ICC_HPPIR0:
	case VIRQ_ICC_HPPIR1:
		h = find_hppi(gic, vcpu);
		v = (h.kind != HPPI_NONE && h.group == (reg == VIRQ_ICC_HPPIR1)) ? h.intid : VIRQ_GIC_SPURIOUS;
		break;
	case VIRQ_ICC_RPR: v = running_priority(cpu); break;
	case VIRQ_ICC_PMR: v = cpu->pmr; break;
	case VIRQ_ICC_BPR0: v = cpu->bpr0; break;
	case VIRQ_ICC_BPR1:
		v = (cpu->icc_ctlr & ICC_CTLR_CBPR) ? (cpu->bpr0 < 7 ? cpu->bpr0 + 1u : 7u) : cpu->bpr1;
		break;
	case VIRQ_ICC_CTLR:
		v = cpu->icc_ctlr | ((VIRQ_GIC_PRI_BITS - 1u) << ICC_CTLR_PRIBITS_SHIFT) | ICC_CTLR_A3V;
		break;
	case VIRQ_ICC_IGRPEN0: v = cpu->igrpen0; break;
	case VIRQ_ICC_IGRPEN1: v = cpu->igrpen1; break;
	case VIRQ_ICC_AP0R0: v = cpu->ap[0]; break;
	case VIRQ_ICC_AP1R0: v = cpu->ap[1]; break;
	default: v = 0; break; /* write-only registers read as zero */
	}
	pthread_mutex_unlock(&cpu->lock);
	pthread_mutex_unlock(&gic->lock);
	return v;
}

void virq_gic_icc_write(struct virq_gic *gic, unsigned vcpu, enum virq_icc_reg reg, uint64_t value)
{
	struct virq_gic_cpu *cpu;
	const unsigned min_bpr = 7 - VIRQ_GIC_PRI_BITS;

	if (vcpu >= gic->nr_vcpus)
		return;
	switch (reg) {
	case VIRQ_ICC_EOIR0:
	case VIRQ_ICC_EOIR1:
		virq_gic_eoi(gic, vcpu, reg == VIRQ_ICC_EOIR1, (uint32_t)value & 0xffffff);
		return;
	case VIRQ_ICC_DIR:
		virq_gic_dir(gic, vcpu, (uint32_t)value & 0xffffff);
		return;
	case VIRQ_ICC_SGI0R:
	case VIRQ_ICC_SGI1R:
		generate_sgi(gic, vcpu, reg == VIRQ_ICC_SGI1R, value);
		return;
	default:
		break;
	}
	cpu = &gic->cpus[vcpu];
	pthread_mutex_lock(&cpu->lock);
	switch (reg) {
	case VIRQ_ICC_PMR: cpu->pmr = (uint8_t)value & VIRQ_GIC_PRI_MASK; break;
	case VIRQ_ICC_BPR0: cpu->bpr0 = (uint8_t)((value & 7) < min_bpr ? min_bpr : (value & 7)); break;
	case VIRQ_ICC_BPR1:
		if (!(cpu->icc_ctlr & ICC_CTLR_CBPR))
			cpu->bpr1 = (uint8_t)((value & 7) < min_bpr + 1 ? min_bpr + 1 : (value & 7));
		break;
	case VIRQ_ICC_CTLR: cpu->icc_ctlr = (uint32_t)value & (ICC_CTLR_CBPR | ICC_CTLR_EOIMODE); break;
	case VIRQ_ICC_IGRPEN0: cpu->igrpen0 = value & ICC_IGRPEN_ENABLE; break;
	case VIRQ_ICC_IGRPEN1: cpu->igrpen1 = value & ICC_IGRPEN_ENABLE; break;
	case VIRQ_ICC_AP0R0: cpu->ap[0] = (uint32_t)value; break;
	case VIRQ_ICC_AP1R0: cpu->ap[1] = (uint32_t)value; break;
	default: break; /* read-only registers ignore writes */
	}
	pthread_mutex_unlock(&cpu->lock);
	/* PMR, group enables, binary point or active priorities may have unmasked something. */
	virq_gic_kick(gic, (int)vcpu);
}
