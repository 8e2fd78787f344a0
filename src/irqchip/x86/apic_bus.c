/* SPDX-License-Identifier: MIT */
/*
 * apic_bus.c - destination matching and delivery of one message to a set of LAPICs, after KVM's
 * kvm_apic_match_dest() and the slow path of kvm_irq_delivery_to_apic() (arch/x86/kvm/lapic.c, irq.c;
 * reference kvm-x86.md §2.7).
 *
 * Models: physical (0xff broadcast) and logical flat/cluster matching, including KVM's rule that logical
 * destination 0xff is a broadcast; ICR shorthands relative to the sender; lowest priority (DM=1 or MSI
 * RH=1) by vector hashing, the (vector mod N)-th of the N matching software-enabled LAPICs in array
 * order; physical broadcast + lowest priority demoted to fixed; KVM's slow-path result (-1 when nothing
 * was delivered to, else the sum of the LAPICs' results).
 *
 * Omits: x2APIC destinations and the x2APIC broadcast quirk (xAPIC IDs are 8 bits here, so the
 * hot-plug rule "destination > 0xff matches the x2APIC ID" never matches), the RCU APIC-map fast path
 * (which answers 0 instead of -1 for an unmatched physical or logical destination), arbitration by
 * arb_prio (vector_hashing=false).
 *
 * Locking: none; reads only the LAPICs' atomic ID/LDR/DFR/SVR and calls virq_lapic_accept (any thread).
 * A LAPIC enabled or disabled between the two passes of a lowest-priority delivery may shift the choice.
 */
#include "irqchip/x86/lapic.h"

#include <stddef.h>

#include "irqchip/x86/lapic_regs.h"

static bool virq_lapic_match_physical(const struct virq_lapic *apic, uint32_t dest_id)
{
	return dest_id == APIC_BROADCAST || dest_id == virq_lapic_id(apic);
}

static bool virq_lapic_match_logical(const struct virq_lapic *apic, uint32_t dest_id)
{
	uint32_t lid = atomic_load_explicit(&apic->ldr, memory_order_relaxed) >> APIC_DEST_SHIFT;
	uint32_t model = atomic_load_explicit(&apic->dfr, memory_order_relaxed) >> 28;

	if (dest_id == APIC_BROADCAST)
		return true;
	if (model == 0xf)
		return (lid & dest_id) != 0;
	if (model == 0x0)
		return (lid >> 4) == (dest_id >> 4) && (lid & dest_id & 0xf) != 0;
	return false; /* any other DFR model matches nothing (KVM) */
}

bool virq_lapic_match_dest(const struct virq_lapic *apic, uint32_t dest_id, bool logical)
{
	return logical ? virq_lapic_match_logical(apic, dest_id) : virq_lapic_match_physical(apic, dest_id);
}

static bool virq_apic_bus_match(const struct virq_lapic *target, const struct virq_lapic *self,
				const struct virq_apic_irq *irq)
{
	switch (irq->shorthand) {
	case VIRQ_APIC_SH_NONE:
		return virq_lapic_match_dest(target, irq->dest_id, irq->dest_logical);
	case VIRQ_APIC_SH_SELF:
		return target == self;
	case VIRQ_APIC_SH_ALL_INCLUDING_SELF:
		return true;
	case VIRQ_APIC_SH_ALL_EXCLUDING_SELF:
		return target != self;
	default:
		return false;
	}
}

static bool virq_apic_lowest_prio(const struct virq_apic_irq *irq)
{
	return irq->delivery_mode == VIRQ_APIC_DM_LOWEST || irq->msi_redir_hint;
}

static int virq_apic_deliver_all(struct virq_lapic *const *apics, unsigned nr, const struct virq_lapic *self,
				 const struct virq_apic_irq *irq)
{
	int r = -1;

	for (unsigned i = 0; i < nr; i++) {
		if (!apics[i] || !virq_apic_bus_match(apics[i], self, irq))
			continue;
		if (r < 0)
			r = 0;
		r += virq_lapic_accept(apics[i], irq);
	}
	return r;
}

static bool virq_apic_lowest_candidate(const struct virq_lapic *apic, const struct virq_lapic *self,
				       const struct virq_apic_irq *irq)
{
	return apic && virq_apic_bus_match(apic, self, irq) && virq_lapic_sw_enabled(apic);
}

/* KVM's kvm_vector_to_index(): deterministic, so posted-interrupt decisions stay stable (bug #24). */
static int virq_apic_deliver_hashed(struct virq_lapic *const *apics, unsigned nr, const struct virq_lapic *self,
				    const struct virq_apic_irq *irq)
{
	unsigned n = 0, k;
	struct virq_lapic *chosen = NULL;

	for (unsigned i = 0; i < nr; i++)
		n += virq_apic_lowest_candidate(apics[i], self, irq);
	if (n == 0)
		return -1; /* matched LAPICs that are all software-disabled also give -1, as in KVM */
	k = irq->vector % n;
	for (unsigned i = 0; i < nr && !chosen; i++) {
		if (!virq_apic_lowest_candidate(apics[i], self, irq))
			continue;
		if (k-- == 0)
			chosen = apics[i];
	}
	return chosen ? virq_lapic_accept(chosen, irq) : -1;
}

int virq_apic_deliver(struct virq_lapic *const *apics, unsigned nr, const struct virq_lapic *self,
		      const struct virq_apic_irq *irq)
{
	struct virq_apic_irq msg = *irq;

	/* KVM: "apic: phys broadcast and lowest prio" -> fixed to every CPU (RH alone still hashes). */
	if (!msg.dest_logical && msg.dest_id == APIC_BROADCAST && virq_apic_lowest_prio(&msg))
		msg.delivery_mode = VIRQ_APIC_DM_FIXED;
	if (virq_apic_lowest_prio(&msg))
		return virq_apic_deliver_hashed(apics, nr, self, &msg);
	return virq_apic_deliver_all(apics, nr, self, &msg);
}
