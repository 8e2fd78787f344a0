/* SPDX-License-Identifier: MIT */
/*
 * gicv3_dist.c - the GICv3 distributor as the guest and the injection paths see it
 * (arch/arm64/kvm/vgic/vgic-mmio-v3.c; reference kvm-arm.md §1.3): GICD_CTLR with KVM's single enable
 * (EnableGrp1; ARE_NS and DS read as one), TYPER (LPIs and 16 ID bits once an ITS exists), IIDR
 * revision 3, the per-SPI bank (group, enable, pending, active, priority, edge/level), IROUTER affinity
 * routing (Aff2.Aff1.Aff0; IRM and Aff3 RAZ/WI as in KVM) and the SPI input lines.
 *
 * With affinity routing always on, the distributor's registers for INTIDs 0..31 read as zero and ignore
 * writes: those live in each redistributor's SGI frame (gicv3_redist.c). Everything here runs under
 * gic->lock.
 */
#include "irqchip/arm/gicv3_internal.h"

#include <errno.h>

#include "irqchip/arm/gicv3_regs.h"

static uint64_t dist_read_locked(struct virq_gic *gic, uint64_t offset, unsigned len)
{
	uint64_t v = 0;

	if (virq_gic_bank_read(gic->spis, VIRQ_GIC_NR_PRIVATE, gic->nr_spis, offset, len, &v))
		return v;
	if (offset >= GICD_IROUTER && offset < GICD_IROUTER + 8 * 1024) {
		unsigned intid = (unsigned)(offset - GICD_IROUTER) / 8;

		if ((len != 4 && len != 8) || (offset & (len - 1)) || intid < VIRQ_GIC_NR_PRIVATE ||
		    intid - VIRQ_GIC_NR_PRIVATE >= gic->nr_spis)
			return 0;
		v = gic->spis[intid - VIRQ_GIC_NR_PRIVATE].mpidr;
		return (offset & 4) ? v >> 32 : v;
	}
	if (len != 4 || (offset & 3))
		return 0;
	switch (offset) {
	case GICD_CTLR:
		return (gic->ctlr & GICD_CTLR_ENABLE_G1) | GICD_CTLR_ARE_NS | GICD_CTLR_DS;
	case GICD_TYPER:
		v = (gic->nr_spis + VIRQ_GIC_NR_PRIVATE) / 32 - 1;
		if (gic->nr_its)
			v |= ((VIRQ_GIC_LPI_ID_BITS - 1) << GICD_TYPER_IDBITS_SHIFT) | GICD_TYPER_LPIS;
		else
			v |= (10 - 1) << GICD_TYPER_IDBITS_SHIFT; /* INTERRUPT_ID_BITS_SPIS */
		return v;
	case GICD_IIDR:
		return GIC_IIDR_KVM(GICD_IIDR_REVISION);
	case GICD_PIDR2:
		return GIC_PIDR2_GICV3;
	default:
		return 0; /* TYPER2, STATUSR, IGRPMODR, unimplemented offsets: RAZ */
	}
}

uint64_t virq_gic_dist_read(struct virq_gic *gic, uint64_t offset, unsigned len)
{
	uint64_t v;

	if (offset >= VIRQ_GIC_DIST_SIZE)
		return 0;
	pthread_mutex_lock(&gic->lock);
	v = dist_read_locked(gic, offset, len);
	pthread_mutex_unlock(&gic->lock);
	return v;
}

/* Kick the target of every SPI the guest just made deliverable by enabling the distributor. */
static void dist_kick_ready_locked(struct virq_gic *gic)
{
	for (unsigned i = 0; i < gic->nr_spis; i++)
		if (virq_gic_irq_ready(&gic->spis[i]))
			virq_gic_kick(gic, gic->spis[i].target);
	for (unsigned v = 0; v < gic->nr_vcpus; v++)
		virq_gic_kick(gic, (int)v); /* private interrupts and queued LPIs: let each vCPU re-check */
}

static void dist_write_locked(struct virq_gic *gic, uint64_t offset, unsigned len, uint64_t value)
{
	if (offset >= GICD_IGROUPR && offset < GICD_IROUTER) {
		virq_gic_bank_write(gic, gic->spis, VIRQ_GIC_NR_PRIVATE, gic->nr_spis, offset, len, value);
		return;
	}
	if (offset >= GICD_IROUTER && offset < GICD_IROUTER + 8 * 1024) {
		unsigned intid = (unsigned)(offset - GICD_IROUTER) / 8;
		struct virq_gic_irq *irq;

		/* KVM: the upper word (Aff3) is WI; a 64-bit write keeps its low 24 bits. */
		if ((len != 4 && len != 8) || (offset & (len - 1)) || (offset & 4) ||
		    intid < VIRQ_GIC_NR_PRIVATE || intid - VIRQ_GIC_NR_PRIVATE >= gic->nr_spis)
			return;
		irq = &gic->spis[intid - VIRQ_GIC_NR_PRIVATE];
		irq->mpidr = (uint32_t)(value & GICD_IROUTER_AFF_MASK);
		irq->target = virq_gic_mpidr_to_vcpu(gic, irq->mpidr);
		if (virq_gic_irq_ready(irq))
			virq_gic_kick(gic, irq->target);
		return;
	}
	if (len != 4 || (offset & 3))
		return;
	if (offset == GICD_CTLR) {
		bool was = gic->ctlr & GICD_CTLR_ENABLE_G1;

		gic->ctlr = (uint32_t)value & GICD_CTLR_ENABLE_G1;
		if (!was && (gic->ctlr & GICD_CTLR_ENABLE_G1))
			dist_kick_ready_locked(gic);
	}
	/* IIDR: KVM lets userspace (not the guest) pick revision 2 or 3; TYPER, PIDR2: read-only. */
}

void virq_gic_dist_write(struct virq_gic *gic, uint64_t offset, unsigned len, uint64_t value)
{
	if (offset >= VIRQ_GIC_DIST_SIZE)
		return;
	uint64_t hw[VIRQ_GIC_HW_WORDS];
	bool any;

	pthread_mutex_lock(&gic->lock);
	dist_write_locked(gic, offset, len, value);
	any = virq_gic_hw_take_locked(gic, hw);
	pthread_mutex_unlock(&gic->lock);
	if (any) /* ICACTIVER / ICPENDR of a hardware-mapped SPI: deactivate the physical one */
		virq_gic_hw_deactivated(gic, hw);
}

void virq_gic_dist_uaccess_write(struct virq_gic *gic, uint64_t offset, unsigned len, uint64_t value)
{
	if (offset >= VIRQ_GIC_DIST_SIZE)
		return;
	pthread_mutex_lock(&gic->lock);
	gic->uaccess = true;
	dist_write_locked(gic, offset, len, value);
	gic->uaccess = false;
	pthread_mutex_unlock(&gic->lock);
}

/* The 32 interrupts of a LEVEL_INFO block and the lock that protects them (NULL: none there). */
static struct virq_gic_irq *line_block(struct virq_gic *gic, unsigned vcpu, unsigned intid, pthread_mutex_t **lock)
{
	if (intid == 0 && vcpu < gic->nr_vcpus) {
		*lock = &gic->cpus[vcpu].lock;
		return gic->cpus[vcpu].priv;
	}
	if (intid < VIRQ_GIC_NR_PRIVATE || intid % 32 || intid - VIRQ_GIC_NR_PRIVATE >= gic->nr_spis)
		return NULL;
	*lock = &gic->lock;
	return &gic->spis[intid - VIRQ_GIC_NR_PRIVATE]; /* nr_spis is a multiple of 32: 32 of them exist */
}

uint32_t virq_gic_line_levels(struct virq_gic *gic, unsigned vcpu, unsigned intid)
{
	pthread_mutex_t *lock;
	struct virq_gic_irq *irqs = line_block(gic, vcpu, intid, &lock);
	uint32_t levels = 0;

	if (!irqs)
		return 0;
	pthread_mutex_lock(lock);
	for (unsigned i = 0; i < 32; i++)
		if (irqs[i].level && irqs[i].line)
			levels |= 1u << i;
	pthread_mutex_unlock(lock);
	return levels;
}

void virq_gic_set_line_levels(struct virq_gic *gic, unsigned vcpu, unsigned intid, uint32_t levels)
{
	pthread_mutex_t *lock;
	struct virq_gic_irq *irqs = line_block(gic, vcpu, intid, &lock);
	bool kick = false;

	if (!irqs)
		return;
	pthread_mutex_lock(lock);
	for (unsigned i = 0; i < 32; i++) {
		bool level = levels & (1u << i);
		if (irqs[i].hw)
			continue; /* a hardware-mapped SPI's line is the physical one's, sampled at deactivation */
		if (level && !irqs[i].line && irqs[i].level && !virq_gic_irq_pending(&irqs[i]))
			irqs[i].raise_ns = virq_gic_now_ns();
		irqs[i].line = level;
		kick |= virq_gic_irq_ready(&irqs[i]);
	}
	pthread_mutex_unlock(lock);
	/* Restored SPIs may target any vCPU: let each look (kicks may be spurious). */
	for (unsigned v = 0; kick && v < gic->nr_vcpus; v++)
		virq_gic_kick(gic, (int)v);
}

int virq_gic_set_spi_level(struct virq_gic *gic, unsigned pin, bool level)
{
	struct virq_gic_irq *irq;

	if (pin >= gic->nr_spis || pin >= VIRQ_GIC_MAX_SPI_PINS)
		return -EINVAL;
	pthread_mutex_lock(&gic->lock);
	irq = &gic->spis[pin];
	virq_gic_irq_set_line(gic, irq, level);
	pthread_mutex_unlock(&gic->lock);
	return 0;
}

int virq_gic_set_spi_hw(struct virq_gic *gic, unsigned pin, bool hw)
{
	struct virq_gic_irq *irq;

	if (pin >= gic->nr_spis || pin >= VIRQ_GIC_MAX_SPI_PINS)
		return -EINVAL;
	pthread_mutex_lock(&gic->lock);
	irq = &gic->spis[pin];
	if (hw && !irq->hw && irq->level && irq->line)
		irq->pending_latch = true; /* a high line is seen as the edge it was */
	if (hw)
		irq->line = false;
	irq->hw = hw;
	if (virq_gic_irq_ready(irq))
		virq_gic_kick(gic, irq->target);
	pthread_mutex_unlock(&gic->lock);
	return 0;
}
