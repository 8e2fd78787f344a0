/* SPDX-License-Identifier: MIT */
/*
 * gicv3.c - GICv3 set-up and what the distributor, redistributors and CPU interface share: reset state
 * (KVM's kvm_vgic_vcpu_init / vgic_init for a v3 model), MPIDR affinity of each vCPU, guest-memory access,
 * kicks, the per-interrupt register bank (arch/arm64/kvm/vgic/vgic-mmio.c), and the list of ITSes whose
 * translation caches an EnableLPIs clear must invalidate. Reference: kvm-arm.md §1.3-1.4.
 */
#include "irqchip/arm/gicv3_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "irqchip/arm/gicv3_regs.h"
#include "irqchip/arm/its.h"

uint64_t virq_gic_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* KVM's reset_mpidr(): Aff0 = id[3:0] (16 CPUs per cluster, the GICv3 SGI target-list width), Aff1, Aff2. */
uint32_t virq_gic_vcpu_mpidr(unsigned vcpu)
{
	return (vcpu & 0xfu) | (((vcpu >> 4) & 0xffu) << 8) | (((vcpu >> 12) & 0xffu) << 16);
}

int virq_gic_mpidr_to_vcpu(const struct virq_gic *gic, uint64_t mpidr)
{
	uint64_t aff0 = mpidr & 0xff, aff1 = (mpidr >> 8) & 0xff, aff2 = (mpidr >> 16) & 0xff;
	uint64_t vcpu;

	if (aff0 > 0xf || (mpidr >> 24) != 0)
		return -1;
	vcpu = aff0 | (aff1 << 4) | (aff2 << 12);
	return vcpu < gic->nr_vcpus ? (int)vcpu : -1;
}

bool virq_gic_vcpu_exists(const struct virq_gic *gic, uint64_t vcpu)
{
	return vcpu < gic->nr_vcpus;
}

int virq_gic_init(struct virq_gic *gic, unsigned nr_vcpus, unsigned nr_spis, const struct virq_gic_ops *ops,
		  void *ctx)
{
	int err;

	if (!ops || !ops->read_guest || !ops->write_guest || !ops->kick_vcpu || nr_vcpus == 0 ||
	    nr_vcpus > VIRQ_GIC_MAX_VCPUS || nr_spis < 32 || nr_spis > VIRQ_GIC_MAX_SPIS || nr_spis % 32)
		return -EINVAL;
	memset(gic, 0, sizeof(*gic));
	gic->ops = ops;
	gic->ctx = ctx;
	gic->nr_vcpus = nr_vcpus;
	gic->nr_spis = nr_spis;
	gic->spis = calloc(nr_spis, sizeof(*gic->spis));
	gic->lpis = calloc(VIRQ_GIC_NR_LPIS, sizeof(*gic->lpis));
	gic->cpus = calloc(nr_vcpus, sizeof(*gic->cpus));
	if (!gic->spis || !gic->lpis || !gic->cpus)
		goto nomem;
	err = pthread_mutex_init(&gic->lock, NULL);
	if (err)
		goto fail;
	for (unsigned i = 0; i < nr_spis; i++) {
		gic->spis[i].group1 = true; /* KVM: every interrupt of a v3 model starts in group 1 */
		gic->spis[i].target = 0;    /* IROUTER 0 = vCPU 0 */
	}
	for (unsigned v = 0; v < nr_vcpus; v++) {
		struct virq_gic_cpu *cpu = &gic->cpus[v];

		err = pthread_mutex_init(&cpu->lock, NULL);
		if (err) {
			while (v--)
				pthread_mutex_destroy(&gic->cpus[v].lock);
			pthread_mutex_destroy(&gic->lock);
			goto fail;
		}
		for (unsigned i = 0; i < VIRQ_GIC_NR_PRIVATE; i++) {
			cpu->priv[i].group1 = true;
			cpu->priv[i].target = (int32_t)v;
			cpu->priv[i].level = i >= VIRQ_GIC_NR_SGIS; /* PPIs level (the timers rely on it) */
		}
		cpu->bpr0 = 7 - VIRQ_GIC_PRI_BITS;     /* minimum binary points for 5 priority bits */
		cpu->bpr1 = 7 - VIRQ_GIC_PRI_BITS + 1;
		/* PENDBASER reset: RaWb / SameAsInner / InnerShareable, address 0. */
		cpu->pendbaser = (GIC_BASER_CACHE_RaWb << GICR_BASER_INNER_SHIFT) |
				 (GIC_BASER_InnerShareable << GICR_BASER_SHARE_SHIFT);
		cpu->lpi_head = -1;
	}
	return 0;
nomem:
	err = ENOMEM;
fail:
	free(gic->spis);
	free(gic->lpis);
	free(gic->cpus);
	return -err;
}

void virq_gic_destroy(struct virq_gic *gic)
{
	for (unsigned v = 0; v < gic->nr_vcpus; v++)
		pthread_mutex_destroy(&gic->cpus[v].lock);
	pthread_mutex_destroy(&gic->lock);
	free(gic->spis);
	free(gic->lpis);
	free(gic->cpus);
	gic->spis = NULL;
	gic->lpis = NULL;
	gic->cpus = NULL;
}

int virq_gic_read_guest(struct virq_gic *gic, uint64_t gpa, void *buf, size_t len)
{
	if (gpa + len < gpa)
		return -EFAULT;
	return gic->ops->read_guest(gic->ctx, gpa, buf, len) ? -EFAULT : 0;
}

int virq_gic_write_guest(struct virq_gic *gic, uint64_t gpa, const void *buf, size_t len)
{
	if (gpa + len < gpa)
		return -EFAULT;
	return gic->ops->write_guest(gic->ctx, gpa, buf, len) ? -EFAULT : 0;
}

void virq_gic_kick(struct virq_gic *gic, int vcpu)
{
	if (vcpu >= 0 && (unsigned)vcpu < gic->nr_vcpus)
		gic->ops->kick_vcpu(gic->ctx, (unsigned)vcpu);
}

int virq_gic_attach_its(struct virq_gic *gic, struct virq_its *its)
{
	int ret = 0;

	pthread_mutex_lock(&gic->lock);
	if (gic->nr_its == VIRQ_GIC_MAX_ITS) {
		ret = -ENOSPC;
	} else {
		gic->its[gic->nr_its++] = its;
		/* KVM resets the VM's PROPBASER to its attributes (IDbits 0) whenever an ITS is created. */
		gic->propbaser = (GIC_BASER_CACHE_RaWb << GICR_BASER_INNER_SHIFT) |
				 (GIC_BASER_InnerShareable << GICR_BASER_SHARE_SHIFT);
	}
	pthread_mutex_unlock(&gic->lock);
	return ret;
}

void virq_gic_detach_its(struct virq_gic *gic, struct virq_its *its)
{
	pthread_mutex_lock(&gic->lock);
	for (unsigned i = 0; i < gic->nr_its; i++) {
		if (gic->its[i] == its) {
			gic->its[i] = gic->its[--gic->nr_its];
			break;
		}
	}
	pthread_mutex_unlock(&gic->lock);
}

void virq_gic_invalidate_its_caches_locked(struct virq_gic *gic)
{
	/* Caches and direct-injection targets (its.h): every ITS's translations may now fail. */
	for (unsigned i = 0; i < gic->nr_its; i++)
		virq_its_invalidate_translations(gic->its[i]);
}

void virq_gic_irq_set_line(struct virq_gic *gic, struct virq_gic_irq *irq, bool level)
{
	if (irq->hw) {
		/* Hardware-mapped: rising edges only; the physical line re-asserts after deactivation. */
		if (!level)
			return;
		if (!virq_gic_irq_pending(irq))
			irq->raise_ns = virq_gic_now_ns();
		irq->pending_latch = true;
		if (virq_gic_irq_ready(irq))
			virq_gic_kick(gic, irq->target);
		return;
	}
	/*
	 * KVM's vgic_validate_injection: edge takes every assert; level only changes of the line. The line
	 * is remembered for edge interrupts too, so a switch to level sees the current input.
	 */
	if (level && !virq_gic_irq_pending(irq) && (!irq->level || !irq->line))
		irq->raise_ns = virq_gic_now_ns();
	if (!irq->level && level)
		irq->pending_latch = true;
	irq->line = level;
	if (virq_gic_irq_ready(irq))
		virq_gic_kick(gic, irq->target);
}

void virq_gic_hw_note_locked(struct virq_gic *gic, const struct virq_gic_irq *irq)
{
	size_t pin = (size_t)(irq - gic->spis); /* hw is only ever set on SPIs */

	if (!gic->uaccess)
		gic->hw_done[pin / 64] |= 1ull << (pin % 64);
}

bool virq_gic_hw_take_locked(struct virq_gic *gic, uint64_t done[VIRQ_GIC_HW_WORDS])
{
	bool any = false;

	for (unsigned w = 0; w < VIRQ_GIC_HW_WORDS; w++) {
		done[w] = gic->hw_done[w];
		gic->hw_done[w] = 0;
		any |= done[w] != 0;
	}
	return any;
}

void virq_gic_hw_deactivated(struct virq_gic *gic, const uint64_t done[VIRQ_GIC_HW_WORDS])
{
	if (!gic->ops->hw_deactivated)
		return;
	for (unsigned w = 0; w < VIRQ_GIC_HW_WORDS; w++)
		for (uint64_t bits = done[w]; bits; bits &= bits - 1)
			gic->ops->hw_deactivated(gic->ctx, w * 64 + (unsigned)__builtin_ctzll(bits));
}

/* ---- The per-interrupt register bank (vgic-mmio.c) ---- */

enum bank_field { F_GROUP, F_ENABLE, F_PENDING, F_ACTIVE };

/* Which one-bit-per-INTID register @offset falls in: field, set (true) or clear variant, first INTID. */
static bool bank_bit_reg(uint64_t offset, enum bank_field *field, bool *set, unsigned *intid)
{
	static const struct { uint64_t base; enum bank_field field; bool set; } regs[] = {
		{ GICD_IGROUPR, F_GROUP, true },      { GICD_ISENABLER, F_ENABLE, true },
		{ GICD_ICENABLER, F_ENABLE, false },  { GICD_ISPENDR, F_PENDING, true },
		{ GICD_ICPENDR, F_PENDING, false },   { GICD_ISACTIVER, F_ACTIVE, true },
		{ GICD_ICACTIVER, F_ACTIVE, false },
	};

	for (unsigned i = 0; i < sizeof(regs) / sizeof(regs[0]); i++) {
		if (offset >= regs[i].base && offset < regs[i].base + 0x80) {
			*field = regs[i].field;
			*set = regs[i].set;
			*intid = (unsigned)(offset - regs[i].base) * 8;
			return true;
		}
	}
	return false;
}

static struct virq_gic_irq *bank_irq(const struct virq_gic_irq *irqs, unsigned first, unsigned count,
				     unsigned intid)
{
	if (intid < first || intid - first >= count)
		return NULL;
	return (struct virq_gic_irq *)&irqs[intid - first];
}

bool virq_gic_bank_read(const struct virq_gic_irq *irqs, unsigned first, unsigned count, uint64_t offset,
			unsigned len, uint64_t *value)
{
	enum bank_field field;
	unsigned intid;
	bool set;
	uint64_t v = 0;

	if (bank_bit_reg(offset, &field, &set, &intid)) {
		if (len != 4 || (offset & 3))
			return false;
		for (unsigned b = 0; b < 32; b++) {
			const struct virq_gic_irq *irq = bank_irq(irqs, first, count, intid + b);
			bool bit = false;

			if (!irq)
				continue;
			switch (field) {
			case F_GROUP: bit = irq->group1; break;
			case F_ENABLE: bit = irq->enabled; break;
			case F_PENDING: bit = virq_gic_irq_pending(irq); break;
			case F_ACTIVE: bit = irq->active; break;
			}
			v |= (uint64_t)bit << b;
		}
	} else if (offset >= GICD_IPRIORITYR && offset < GICD_IPRIORITYR + 0x400) {
		if ((len != 1 && len != 4) || (offset & (len - 1)))
			return false;
		for (unsigned b = 0; b < len; b++) {
			const struct virq_gic_irq *irq =
				bank_irq(irqs, first, count, (unsigned)(offset - GICD_IPRIORITYR) + b);
			if (irq)
				v |= (uint64_t)irq->priority << (8 * b);
		}
	} else if (offset >= GICD_ICFGR && offset < GICD_ICFGR + 0x100) {
		if (len != 4 || (offset & 3))
			return false;
		intid = (unsigned)(offset - GICD_ICFGR) * 4;
		for (unsigned b = 0; b < 16; b++) {
			const struct virq_gic_irq *irq = bank_irq(irqs, first, count, intid + b);
			if (irq && !irq->level)
				v |= 2ull << (2 * b); /* Int_config bit 1: edge */
		}
	} else {
		return false;
	}
	*value = v;
	return true;
}

void virq_gic_bank_write(struct virq_gic *gic, struct virq_gic_irq *irqs, unsigned first, unsigned count,
			 uint64_t offset, unsigned len, uint64_t value)
{
	enum bank_field field;
	unsigned intid;
	bool set;

	if (bank_bit_reg(offset, &field, &set, &intid)) {
		if (len != 4 || (offset & 3))
			return;
		for (unsigned b = 0; b < 32; b++) {
			struct virq_gic_irq *irq = bank_irq(irqs, first, count, intid + b);
			bool bit = (value >> b) & 1;

			if (!irq || (field != F_GROUP && !bit))
				continue; /* set/clear registers: writing 0 has no effect */
			switch (field) {
			case F_GROUP: irq->group1 = bit; break;
			case F_ENABLE: irq->enabled = set; break;
			case F_PENDING:
				if (set && !virq_gic_irq_pending(irq))
					irq->raise_ns = virq_gic_now_ns();
				irq->pending_latch = set; /* ICPENDR: a high level line keeps it pending */
				/* KVM's vgic_hw_irq_cpending: a HW interrupt cleared while inactive completes
				 * the physical one, so SPENDR + CPENDR cannot leave it masked for ever. */
				if (!set && irq->hw && !irq->active)
					virq_gic_hw_note_locked(gic, irq);
				break;
			case F_ACTIVE:
				/* KVM's vgic_hw_irq_change_active: clearing a HW interrupt's active state
				 * deactivates the physical one. */
				if (!set && irq->hw && irq->active)
					virq_gic_hw_note_locked(gic, irq);
				irq->active = set;
				break;
			}
			if (virq_gic_irq_ready(irq))
				virq_gic_kick(gic, irq->target);
		}
	} else if (offset >= GICD_IPRIORITYR && offset < GICD_IPRIORITYR + 0x400) {
		if ((len != 1 && len != 4) || (offset & (len - 1)))
			return;
		for (unsigned b = 0; b < len; b++) {
			struct virq_gic_irq *irq =
				bank_irq(irqs, first, count, (unsigned)(offset - GICD_IPRIORITYR) + b);
			if (irq)
				irq->priority = (uint8_t)(value >> (8 * b)) & VIRQ_GIC_PRI_MASK;
		}
	} else if (offset >= GICD_ICFGR && offset < GICD_ICFGR + 0x100) {
		if (len != 4 || (offset & 3))
			return;
		intid = (unsigned)(offset - GICD_ICFGR) * 4;
		for (unsigned b = 0; b < 16; b++) {
			struct virq_gic_irq *irq = bank_irq(irqs, first, count, intid + b);

			/* KVM: SGIs are edge and PPIs level, read-only (the timers rely on level PPIs). */
			if (!irq || intid + b < VIRQ_GIC_NR_PRIVATE)
				continue;
			irq->level = !((value >> (2 * b + 1)) & 1);
			if (virq_gic_irq_ready(irq))
				virq_gic_kick(gic, irq->target);
		}
	}
}

uint64_t virq_gic_sanitise_baser(uint64_t reg, unsigned inner_shift, unsigned outer_shift, unsigned share_shift)
{
	uint64_t share = (reg >> share_shift) & 3, inner = (reg >> inner_shift) & 7, outer = (reg >> outer_shift) & 7;

	if (share == GIC_BASER_OuterShareable)
		share = GIC_BASER_InnerShareable;
	if (inner == GIC_BASER_CACHE_nCnB || inner == GIC_BASER_CACHE_nC)
		inner = GIC_BASER_CACHE_RaWb;
	if (outer != GIC_BASER_CACHE_SameAsInner && outer != GIC_BASER_CACHE_nC)
		outer = GIC_BASER_CACHE_SameAsInner;
	reg &= ~((3ull << share_shift) | (7ull << inner_shift) | (7ull << outer_shift));
	return reg | (share << share_shift) | (inner << inner_shift) | (outer << outer_shift);
}
