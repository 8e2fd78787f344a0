/* SPDX-License-Identifier: MIT */
/*
 * gicv3_redist.c - one redistributor per vCPU (arch/arm64/kvm/vgic/vgic-mmio-v3.c, vgic_v3_rd_registers
 * and vgic_v3_sgibase_registers; reference kvm-arm.md §1.4).
 *
 * RD_base frame: GICR_CTLR (EnableLPIs, writable only once an ITS exists; IR and CES read as one, KVM
 * revision 3), IIDR, TYPER (PLPIS with an ITS, Last on the last vCPU, Processor_Number, affinity),
 * STATUSR/WAKER RAZ/WI as in KVM, PROPBASER (one VM-wide value) and PENDBASER (per vCPU), both ignored
 * while this vCPU has LPIs enabled, INVLPIR/INVALLR, SYNCR (reads 0: invalidation is synchronous).
 * SGI_base frame: the per-interrupt bank for SGIs and PPIs, under the vCPU's lock.
 *
 * EnableLPIs 1 -> 0 removes every queued LPI of this vCPU (their latches stay, KVM's
 * vgic_flush_pending_lpis) and invalidates every ITS's translation cache and direct-injection targets
 * (its.h); 0 -> 1 reloads the latches of
 * the LPIs targeting this vCPU from its pending table unless PENDBASER was written with PTZ = 1. The
 * transition is done under gic->lock, so no MSI can slip in between (KVM's RWP phase is never visible).
 */
#include "irqchip/arm/gicv3_internal.h"

#include <errno.h>

#include "irqchip/arm/gicv3_regs.h"

static uint64_t sanitise_propbaser(uint64_t reg)
{
	reg = virq_gic_sanitise_baser(reg, GICR_BASER_INNER_SHIFT, GICR_BASER_OUTER_SHIFT, GICR_BASER_SHARE_SHIFT);
	return reg & ~GICR_PROPBASER_RES0;
}

static uint64_t sanitise_pendbaser(uint64_t reg)
{
	reg = virq_gic_sanitise_baser(reg, GICR_BASER_INNER_SHIFT, GICR_BASER_OUTER_SHIFT, GICR_BASER_SHARE_SHIFT);
	return reg & ~GICR_PENDBASER_RES0;
}

static bool reg64_width_ok(uint64_t offset, unsigned len)
{
	return (len == 8 && !(offset & 7)) || (len == 4 && !(offset & 3));
}

static uint64_t rd_typer(struct virq_gic *gic, unsigned vcpu)
{
	uint64_t v = (uint64_t)virq_gic_vcpu_mpidr(vcpu) << GICR_TYPER_AFF_SHIFT;

	v |= (uint64_t)(vcpu & 0xffff) << GICR_TYPER_PROC_SHIFT;
	if (gic->nr_its)
		v |= GICR_TYPER_PLPIS;
	/* One contiguous region, vCPU order: the last vCPU's frame ends it. */
	if (vcpu == gic->nr_vcpus - 1)
		v |= GICR_TYPER_LAST;
	return v;
}

/* RD_base frame read, gic->lock held. */
static uint64_t rd_read_locked(struct virq_gic *gic, unsigned vcpu, uint64_t offset, unsigned len)
{
	struct virq_gic_cpu *cpu = &gic->cpus[vcpu];
	uint64_t reg = offset & ~7ull, v;

	switch (reg) {
	case GICR_TYPER:
		v = rd_typer(gic, vcpu);
		break;
	case GICR_PROPBASER:
		v = gic->propbaser;
		break;
	case GICR_PENDBASER:
		v = cpu->pendbaser & ~GICR_PENDBASER_PTZ;
		break;
	default:
		/* 32-bit registers. */
		if (len != 4 || (offset & 3))
			return 0;
		switch (offset) {
		case GICR_CTLR:
			return (cpu->enable_lpis ? GICR_CTLR_ENABLE_LPIS : 0) | GICR_CTLR_CES | GICR_CTLR_IR;
		case GICR_IIDR:
			return GIC_IIDR_KVM(0);
		case GICR_PIDR2:
			return GIC_PIDR2_GICV3;
		default:
			return 0; /* STATUSR, WAKER, SETLPIR, CLRLPIR, SYNCR, unimplemented: RAZ */
		}
	}
	if (!reg64_width_ok(offset, len))
		return 0;
	return len == 8 ? v : (offset & 4) ? v >> 32 : v & 0xffffffffull;
}

static void rd_write_ctlr_locked(struct virq_gic *gic, unsigned vcpu, uint64_t value)
{
	struct virq_gic_cpu *cpu = &gic->cpus[vcpu];
	bool enable = value & GICR_CTLR_ENABLE_LPIS;

	if (!gic->nr_its || enable == cpu->enable_lpis)
		return; /* KVM ignores GICR_CTLR writes in a VM without an ITS */
	cpu->enable_lpis = enable;
	if (!enable) {
		virq_gic_lpi_flush_locked(gic, vcpu);
		virq_gic_invalidate_its_caches_locked(gic); /* and direct-injection targets */
		return;
	}
	if (!(cpu->pendbaser & GICR_PENDBASER_PTZ))
		virq_gic_lpi_sync_pending_locked(gic, vcpu);
	virq_gic_lpi_note_change(gic); /* translations to this vCPU can be delivered again */
}

static void rd_write_locked(struct virq_gic *gic, unsigned vcpu, uint64_t offset, unsigned len, uint64_t value)
{
	struct virq_gic_cpu *cpu = &gic->cpus[vcpu];
	uint64_t reg = offset & ~7ull;

	if (reg == GICR_PROPBASER || reg == GICR_PENDBASER || reg == GICR_INVLPIR || reg == GICR_INVALLR) {
		if (!reg64_width_ok(offset, len))
			return;
	} else if (len != 4 || (offset & 3)) {
		return;
	}
	switch (reg) {
	case GICR_PROPBASER:
		/* Storing a value with LPIs enabled is UNPREDICTABLE: KVM ignores it. */
		if (!cpu->enable_lpis)
			gic->propbaser = sanitise_propbaser(virq_gic_update_reg64(gic->propbaser, offset, len, value));
		return;
	case GICR_PENDBASER:
		if (!cpu->enable_lpis)
			cpu->pendbaser = sanitise_pendbaser(virq_gic_update_reg64(cpu->pendbaser, offset, len, value));
		return;
	case GICR_INVLPIR:
		/* The INTID is the low word; an upper-word-only write and writes with LPIs off are ignored. */
		if (cpu->enable_lpis && !(offset & 4) && virq_gic_lpi_exists_locked(gic, (uint32_t)value))
			virq_gic_lpi_inv_locked(gic, (uint32_t)value);
		return;
	case GICR_INVALLR:
		if (cpu->enable_lpis)
			virq_gic_lpi_invall_locked(gic, vcpu);
		return;
	default:
		break;
	}
	if (offset == GICR_CTLR)
		rd_write_ctlr_locked(gic, vcpu, value);
	/* IIDR, TYPER, PIDR2 read-only; STATUSR, WAKER, SETLPIR, CLRLPIR, SYNCR: WI */
}

uint64_t virq_gic_redist_read(struct virq_gic *gic, unsigned vcpu, uint64_t offset, unsigned len)
{
	uint64_t v = 0;

	if (vcpu >= gic->nr_vcpus || offset >= GICR_FRAME_SIZE)
		return 0;
	if (offset < GICR_RD_FRAME_SIZE) {
		pthread_mutex_lock(&gic->lock);
		v = rd_read_locked(gic, vcpu, offset, len);
		pthread_mutex_unlock(&gic->lock);
	} else {
		struct virq_gic_cpu *cpu = &gic->cpus[vcpu];

		pthread_mutex_lock(&cpu->lock);
		if (!virq_gic_bank_read(cpu->priv, 0, VIRQ_GIC_NR_PRIVATE, offset - GICR_SGI_BASE, len, &v))
			v = 0; /* IGRPMODR0, NSACR, unimplemented: RAZ */
		pthread_mutex_unlock(&cpu->lock);
	}
	return v;
}

void virq_gic_redist_write(struct virq_gic *gic, unsigned vcpu, uint64_t offset, unsigned len, uint64_t value)
{
	if (vcpu >= gic->nr_vcpus || offset >= GICR_FRAME_SIZE)
		return;
	if (offset < GICR_RD_FRAME_SIZE) {
		pthread_mutex_lock(&gic->lock);
		rd_write_locked(gic, vcpu, offset, len, value);
		pthread_mutex_unlock(&gic->lock);
	} else {
		struct virq_gic_cpu *cpu = &gic->cpus[vcpu];

		pthread_mutex_lock(&cpu->lock);
		virq_gic_bank_write(gic, cpu->priv, 0, VIRQ_GIC_NR_PRIVATE, offset - GICR_SGI_BASE, len, value);
		pthread_mutex_unlock(&cpu->lock);
	}
}

int virq_gic_set_ppi_level(struct virq_gic *gic, unsigned vcpu, unsigned intid, bool level)
{
	struct virq_gic_cpu *cpu;

	if (vcpu >= gic->nr_vcpus || intid < VIRQ_GIC_NR_SGIS || intid >= VIRQ_GIC_NR_PRIVATE)
		return -EINVAL;
	cpu = &gic->cpus[vcpu];
	pthread_mutex_lock(&cpu->lock);
	virq_gic_irq_set_line(gic, &cpu->priv[intid], level);
	pthread_mutex_unlock(&cpu->lock);
	return 0;
}

bool virq_gic_lpis_enabled(struct virq_gic *gic, unsigned vcpu)
{
	bool on;

	if (vcpu >= gic->nr_vcpus)
		return false;
	pthread_mutex_lock(&gic->lock);
	on = gic->cpus[vcpu].enable_lpis;
	pthread_mutex_unlock(&gic->lock);
	return on;
}
