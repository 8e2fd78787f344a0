/* SPDX-License-Identifier: MIT */
/*
 * irq.c - raising a GSI or an MSI: KVM's kvm_set_irq() fan-out, KVM_IRQ_LINE(_STATUS) and KVM_SIGNAL_MSI.
 *
 * kvm_set_irq() semantics: the GSI is looked up in the routing table current at the time of the call and
 * every route of it is set; the status combines the per-route results (negative ones are skipped; the
 * others are summed; -1 if none was non-negative). The per-GSI counters count what happened to each
 * assert: delivered (>0), coalesced (0) or ignored (<0), or held in an MSI-X pending bit (pended).
 */
#include <errno.h>

#include "engine/arm_vm.h"
#include "engine/msix_mmio.h"
#include "engine/probes.h"
#include "engine/rcu.h"
#include "engine/routing.h"
#include "engine/vcpu.h"
#include "engine/vm.h"

int virq_vm_deliver_msi(struct virq_vm *vm, uint32_t address_lo, uint32_t address_hi, uint32_t data,
			uint64_t raise_ns)
{
	struct virq_apic_irq irq;

	virq_msi_decode(address_lo, address_hi, data, false, &irq);
	irq.raise_ns = raise_ns;
	VIRQ_PROBE(inject, irq.dest_id, irq.vector, irq.delivery_mode);
	return virq_vm_deliver(vm, &irq);
}

void virq_vm_count_outcome(struct virq_vm *vm, uint32_t gsi, int status)
{
	struct virq_gsi_stats *st;

	if (gsi >= KVM_MAX_IRQ_ROUTES)
		return;
	st = &vm->gsi_stats[gsi];
	if (status > 0)
		virq_count(&st->delivered);
	else if (status == 0)
		virq_count(&st->coalesced);
	else
		virq_count(&st->ignored);
}

int virq_routing_set_gsi(struct virq_vm *vm, const struct virq_routing *rt, unsigned source, uint32_t gsi,
			 bool level, uint64_t raise_ns)
{
	int status = -1;

	if (!rt || gsi >= rt->nr_gsi)
		return status;
	for (uint32_t i = rt->first[gsi]; i != VIRQ_ROUTE_NONE; i = rt->routes[i].next) {
		const struct virq_route *route = &rt->routes[i];
		int r = route->set(vm, route, source, level, raise_ns);
		if (r >= 0)
			status = r + (status < 0 ? 0 : status);
	}
	return status;
}

/*
 * A GSI bound to an MSI-X table entry (msix_mmio.c) goes through the entry's gate: masked, disabled or
 * waiting for a route update, the assert is held in the entry's pending bit instead of delivered, and is
 * counted when the entry replays it. Unbound GSIs cost one pointer load here.
 */
int virq_vm_set_irq(struct virq_vm *vm, unsigned source, uint32_t gsi, bool level, uint64_t raise_ns)
{
	bool counted = level && gsi < KVM_MAX_IRQ_ROUTES;
	bool held = false;
	int status;

	VIRQ_PROBE(raise, gsi, level, source);
	virq_rcu_read_lock();
	const struct virq_routing *rt = virq_rcu_deref(vm->routing);
	struct virq_msix_entry *entry = counted ? virq_rcu_deref(vm->msix_gsi[gsi]) : NULL;
	if (entry)
		status = virq_msix_raise(vm, entry, rt, gsi, raise_ns, &held);
	else
		status = virq_routing_set_gsi(vm, rt, source, gsi, level, raise_ns);
	virq_rcu_read_unlock();
	if (counted) {
		virq_count(&vm->gsi_stats[gsi].raised);
		if (held)
			virq_count(&vm->gsi_stats[gsi].pended);
		else
			virq_vm_count_outcome(vm, gsi, status);
	}
	return status;
}

int virq_vm_irq_line(struct virq_vm *vm, uint32_t gsi, uint32_t level, int32_t *status)
{
	/* arm64 encodes the INTID in the line number and writes no status: KVM copies the structure back
	 * unchanged, so the status field (a union with irq) reads as the line number. */
	if (vm->arm) {
		if (status)
			*status = (int32_t)gsi;
		return virq_arm_irq_line(vm, gsi, level);
	}
	if (!atomic_load_explicit(&vm->has_irqchip, memory_order_acquire))
		return -ENXIO;
	/* Polarity is ignored (KVM_CAP_IOAPIC_POLARITY_IGNORED): any non-zero level is "asserted". */
	int r = virq_vm_set_irq(vm, VIRQ_IRQ_SOURCE_USERSPACE, gsi, level != 0, virq_now_ns());
	if (status)
		*status = r;
	return 0;
}

int virq_vm_signal_msi(struct virq_vm *vm, const struct kvm_msi *msi)
{
	if (vm->arm)
		return virq_arm_signal_msi(vm, msi);
	if (!atomic_load_explicit(&vm->has_irqchip, memory_order_acquire))
		return -EINVAL;
	if (msi->flags & ~KVM_MSI_VALID_DEVID)
		return -EINVAL;
	/* x86 ignores devid. A negative result (-1: nobody matched) is returned raw, as KVM does. */
	return virq_vm_deliver_msi(vm, msi->address_lo, msi->address_hi, msi->data, virq_now_ns());
}
