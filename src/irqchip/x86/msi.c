/* SPDX-License-Identifier: MIT */
/*
 * msi.c - x86 MSI address/data decoding as KVM's kvm_set_msi_irq() does it (arch/x86/kvm/irq.c;
 * SDM vol. 3 §11.11; reference kvm-x86.md §2.5).
 *
 * Models: destination ID (address bits 19:12, plus address_hi bits 31:8 with 32-bit x2APIC IDs),
 * redirection hint (bit 3), destination mode (bit 2), vector, delivery mode, trigger mode.
 *
 * Omits (as KVM does): the 0xFEE prefix in address bits 31:20 is not checked, address bits 11:4
 * (including the 15-bit extended destination ID, a VMM concern) and data bit 14 are ignored: an MSI is
 * always an assert. Validation of address_hi bits 7:0 in x2APIC format belongs to the routing code.
 *
 * Locking: none (pure function).
 */
#include "irqchip/x86/lapic.h"

#define VIRQ_MSI_ADDR_DEST_SHIFT 12
#define VIRQ_MSI_ADDR_DEST_MASK 0xffu
#define VIRQ_MSI_ADDR_RH (1u << 3)
#define VIRQ_MSI_ADDR_DEST_LOGICAL (1u << 2)
#define VIRQ_MSI_ADDR_HI_DEST_MASK 0xffffff00u
#define VIRQ_MSI_DATA_VECTOR_MASK 0xffu
#define VIRQ_MSI_DATA_MODE_SHIFT 8
#define VIRQ_MSI_DATA_MODE_MASK 0x7u
#define VIRQ_MSI_DATA_LEVEL_TRIGGER (1u << 15)

void virq_msi_decode(uint32_t address_lo, uint32_t address_hi, uint32_t data, bool x2apic_ids,
		     struct virq_apic_irq *out)
{
	uint8_t mode = (data >> VIRQ_MSI_DATA_MODE_SHIFT) & VIRQ_MSI_DATA_MODE_MASK;
	bool rh = address_lo & VIRQ_MSI_ADDR_RH;

	*out = (struct virq_apic_irq){
		.dest_id = (address_lo >> VIRQ_MSI_ADDR_DEST_SHIFT) & VIRQ_MSI_ADDR_DEST_MASK,
		.vector = (uint8_t)(data & VIRQ_MSI_DATA_VECTOR_MASK),
		.delivery_mode = mode,
		.shorthand = VIRQ_APIC_SH_NONE,
		.dest_logical = address_lo & VIRQ_MSI_ADDR_DEST_LOGICAL,
		.trigger_level = data & VIRQ_MSI_DATA_LEVEL_TRIGGER,
		.level = true,
		.msi_redir_hint = rh,
	};
	if (x2apic_ids)
		out->dest_id |= address_hi & VIRQ_MSI_ADDR_HI_DEST_MASK;
	/*
	 * KVM keeps the data's delivery mode and lets msi_redir_hint select lowest priority at delivery. A
	 * fixed message with RH=1 is reported as lowest priority so that callers looking only at the mode
	 * see the same choice; other modes (NMI, INIT, ...) keep theirs and rely on msi_redir_hint.
	 */
	if (rh && mode == VIRQ_APIC_DM_FIXED)
		out->delivery_mode = VIRQ_APIC_DM_LOWEST;
}
