/* SPDX-License-Identifier: MIT */
/*
 * gicv3_internal.h - what the GICv3 files share and nobody else sees: guest-memory access with overflow
 * checks, vCPU kicks, the register bank that the distributor (SPIs) and the SGI frame of each
 * redistributor (SGIs, PPIs) lay out identically, and the LPI queue operations the CPU interface and the
 * redistributor need. Private to src/irqchip/arm.
 */
#ifndef VIRQ_IRQCHIP_ARM_GICV3_INTERNAL_H
#define VIRQ_IRQCHIP_ARM_GICV3_INTERNAL_H

#include "irqchip/arm/gicv3.h"

/* ops->read_guest / write_guest after refusing a wrapping range: 0 or -EFAULT. Any lock may be held. */
int virq_gic_read_guest(struct virq_gic *gic, uint64_t gpa, void *buf, size_t len);
int virq_gic_write_guest(struct virq_gic *gic, uint64_t gpa, const void *buf, size_t len);

/* ops->kick_vcpu for a valid target; negative targets (no vCPU) are ignored. */
void virq_gic_kick(struct virq_gic *gic, int vcpu);

/* KVM's irq_is_pending(): the latch, or a high line on a level interrupt. */
static inline bool virq_gic_irq_pending(const struct virq_gic_irq *irq)
{
	return irq->pending_latch || (irq->level && irq->line);
}

/* Pending, enabled and not active: the CPU interface may take it. */
static inline bool virq_gic_irq_ready(const struct virq_gic_irq *irq)
{
	return irq->enabled && !irq->active && virq_gic_irq_pending(irq);
}

/* Hardware-mapped SPI @irq was deactivated by a guest register write (gic->lock held; ignored during a
 * userspace write): remembered in gic->hw_done. The writer takes the bits before it drops gic->lock
 * (virq_gic_hw_take_locked: whether there were any) and calls ops->hw_deactivated for each after
 * (virq_gic_hw_deactivated). */
void virq_gic_hw_note_locked(struct virq_gic *gic, const struct virq_gic_irq *irq);
bool virq_gic_hw_take_locked(struct virq_gic *gic, uint64_t done[VIRQ_GIC_HW_WORDS]);
void virq_gic_hw_deactivated(struct virq_gic *gic, const uint64_t done[VIRQ_GIC_HW_WORDS]);

/* An input line of an SGI/PPI/SPI changed (KVM_IRQ_LINE semantics); caller holds the bank's lock. */
void virq_gic_irq_set_line(struct virq_gic *gic, struct virq_gic_irq *irq, bool level);

/* A 32- or 64-bit access to a 64-bit register: the new value (KVM's update_64bit_reg). */
static inline uint64_t virq_gic_update_reg64(uint64_t old, uint64_t offset, unsigned len, uint64_t value)
{
	if (len == 8)
		return value;
	if (offset & 4)
		return (old & 0xffffffffull) | (value << 32);
	return (old & ~0xffffffffull) | (value & 0xffffffffull);
}

/*
 * KVM's BASER sanitising (vgic_sanitise_field): Outer-Shareable becomes Inner-Shareable, inner nC/nCnB
 * becomes RaWb, outer other than SameAsInner/nC becomes SameAsInner. Shared with the ITS.
 */
uint64_t virq_gic_sanitise_baser(uint64_t reg, unsigned inner_shift, unsigned outer_shift, unsigned share_shift);

/*
 * The per-interrupt registers at GICD/GICR-SGI offsets 0x080..0xcff (IGROUPR, IS/ICENABLER, IS/ICPENDR,
 * IS/ICACTIVER, IPRIORITYR, ICFGR) over the bank @irqs holding INTIDs [@first, @first + @count). INTIDs
 * outside the bank read as zero and ignore writes. The caller holds the lock that protects @irqs. Returns
 * false from read when @offset is not one of these registers or @len is a width it does not take.
 */
bool virq_gic_bank_read(const struct virq_gic_irq *irqs, unsigned first, unsigned count, uint64_t offset,
			unsigned len, uint64_t *value);
void virq_gic_bank_write(struct virq_gic *gic, struct virq_gic_irq *irqs, unsigned first, unsigned count,
			 uint64_t offset, unsigned len, uint64_t value);

/* GICR_CTLR.EnableLPIs transitions and GICR_INVALLR (gic->lock held). */
void virq_gic_lpi_flush_locked(struct virq_gic *gic, unsigned vcpu);
void virq_gic_lpi_sync_pending_locked(struct virq_gic *gic, unsigned vcpu);
void virq_gic_invalidate_its_caches_locked(struct virq_gic *gic);
bool virq_gic_lpi_exists_locked(const struct virq_gic *gic, uint32_t intid);
void virq_gic_lpi_inv_locked(struct virq_gic *gic, uint32_t intid);
void virq_gic_lpi_invall_locked(struct virq_gic *gic, unsigned vcpu);

/* CPU interface: the best queued LPI of @vcpu (gic->lock held), -1 if none; and taking it. */
int virq_gic_lpi_best_locked(struct virq_gic *gic, unsigned vcpu, uint8_t *priority);
uint64_t virq_gic_lpi_ack_locked(struct virq_gic *gic, uint32_t intid);

#endif /* VIRQ_IRQCHIP_ARM_GICV3_INTERNAL_H */
