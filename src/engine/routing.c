/* SPDX-License-Identifier: MIT */
/*
 * routing.c - build, validate and publish GSI routing tables (virt/kvm/irqchip.c, kvm_set_irq_routing,
 * and the x86 kvm_set_routing_entry).
 *
 * A new table is built completely off-line; any invalid entry discards it and leaves the old table in
 * force. Publication swaps the pointer under vm->lock, then waits for a grace period, so that when
 * KVM_SET_GSI_ROUTING returns no delivery can still be using the old table. irqfds do not cache routes:
 * each injection resolves its GSI in the table current at that moment, so a routing change retargets
 * live irqfds with nothing else to update, except on x86 the bypass decision of irqfds paired with a
 * VFIO vector (posted or remapped, and to which descriptor), re-made under vm->lock before returning.
 *
 * x86 has no 8259 PIC in virq: PIC entries are validated exactly as KVM does and deliver nothing.
 * arm64 (arch/arm64/kvm/vgic/vgic-irqfd.c, kvm_set_routing_entry) takes IRQCHIP entries (irqchip 0, pin =
 * SPI - 32, only pin >= 988 refused) and MSI entries with their DeviceID; nothing else.
 */
#include "engine/routing.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/arm_vm.h"
#include "engine/bypass_policy.h"
#include "engine/msix_mmio.h"
#include "engine/rcu.h"
#include "engine/vm.h"

#define VIRQ_PIC_PINS_PER_CHIP 8

static int virq_route_set_ioapic(struct virq_vm *vm, const struct virq_route *route, unsigned source,
				 bool level, uint64_t raise_ns)
{
	return virq_ioapic_set_irq(&vm->ioapic, route->irqchip.pin, source, level);
}

/* A PIC that masks every line: KVM's per-pin result for a masked IMR bit. */
static int virq_route_set_pic(struct virq_vm *vm, const struct virq_route *route, unsigned source,
			      bool level, uint64_t raise_ns)
{
	return -1;
}

static int virq_route_set_msi(struct virq_vm *vm, const struct virq_route *route, unsigned source,
			      bool level, uint64_t raise_ns)
{
	if (!level)
		return -1;
	return virq_vm_deliver_msi(vm, route->msi.address_lo, route->msi.address_hi, route->msi.data, raise_ns);
}

static int virq_route_set_arm_spi(struct virq_vm *vm, const struct virq_route *route, unsigned source,
				  bool level, uint64_t raise_ns)
{
	return virq_arm_set_spi(vm, route->irqchip.pin, level);
}

/* kvm_set_msi() on arm64: pulses are edge, so only the assert does something. */
static int virq_route_set_arm_msi(struct virq_vm *vm, const struct virq_route *route, unsigned source,
				  bool level, uint64_t raise_ns)
{
	if (!level)
		return -1;
	return virq_arm_deliver_msi(vm, (uint64_t)route->msi.address_hi << 32 | route->msi.address_lo,
				    route->msi.data, route->msi.flags, route->msi.devid, raise_ns);
}

static int virq_route_setup_arm(struct virq_route *route, const struct kvm_irq_routing_entry *ue)
{
	switch (ue->type) {
	case KVM_IRQ_ROUTING_IRQCHIP:
		if (ue->u.irqchip.irqchip != VIRQ_ARM_IRQCHIP || ue->u.irqchip.pin >= VIRQ_ARM_NR_PINS)
			return -EINVAL;
		route->irqchip.irqchip = VIRQ_ARM_IRQCHIP;
		route->irqchip.pin = ue->u.irqchip.pin;
		route->set = virq_route_set_arm_spi;
		return 0;
	case KVM_IRQ_ROUTING_MSI:
		/* Not checked against any ITS now: an MSI route is only translated when used (KVM). */
		route->msi.address_lo = ue->u.msi.address_lo;
		route->msi.address_hi = ue->u.msi.address_hi;
		route->msi.data = ue->u.msi.data;
		route->msi.flags = ue->flags;
		route->msi.devid = ue->u.msi.devid;
		route->set = virq_route_set_arm_msi;
		return 0;
	default:
		return -EINVAL;
	}
}

/* Hyper-V SynIC routes are accepted as KVM does; virq models no SynIC, so they reach nobody. */
static int virq_route_set_nothing(struct virq_vm *vm, const struct virq_route *route, unsigned source,
				  bool level, uint64_t raise_ns)
{
	return -1;
}

static int virq_route_setup_irqchip(struct virq_route *route, const struct kvm_irq_routing_entry *ue)
{
	uint32_t pin = ue->u.irqchip.pin;

	switch (ue->u.irqchip.irqchip) {
	case KVM_IRQCHIP_PIC_SLAVE:
	case KVM_IRQCHIP_PIC_MASTER:
		if (pin >= VIRQ_PIC_PINS_PER_CHIP)
			return -EINVAL;
		/* KVM numbers slave pins 8..15 in its reverse map. */
		if (ue->u.irqchip.irqchip == KVM_IRQCHIP_PIC_SLAVE)
			pin += VIRQ_PIC_PINS_PER_CHIP;
		route->set = virq_route_set_pic;
		break;
	case KVM_IRQCHIP_IOAPIC:
		if (pin >= KVM_IOAPIC_NUM_PINS)
			return -EINVAL;
		route->set = virq_route_set_ioapic;
		break;
	default:
		return -EINVAL;
	}
	route->irqchip.irqchip = ue->u.irqchip.irqchip;
	route->irqchip.pin = pin;
	return 0;
}

static int virq_route_setup(struct virq_route *route, const struct kvm_irq_routing_entry *ue)
{
	switch (ue->type) {
	case KVM_IRQ_ROUTING_IRQCHIP:
		return virq_route_setup_irqchip(route, ue);
	case KVM_IRQ_ROUTING_MSI:
		/* x86 drops devid; without KVM_CAP_X2APIC_API address_hi is not checked. */
		route->msi.address_lo = ue->u.msi.address_lo;
		route->msi.address_hi = ue->u.msi.address_hi;
		route->msi.data = ue->u.msi.data;
		route->set = virq_route_set_msi;
		return 0;
	case KVM_IRQ_ROUTING_HV_SINT:
		route->set = virq_route_set_nothing;
		return 0;
	default:
		return -EINVAL; /* S390_ADAPTER, XEN_EVTCHN (no Xen emulation) and unknown types */
	}
}

/* KVM's rule: a GSI may have several irqchip routes only to different chips, and nothing else. */
static bool virq_route_conflicts(const struct virq_routing *rt, const struct kvm_irq_routing_entry *ue)
{
	for (uint32_t i = rt->first[ue->gsi]; i != VIRQ_ROUTE_NONE; i = rt->routes[i].next) {
		const struct virq_route *other = &rt->routes[i];
		if (other->type != KVM_IRQ_ROUTING_IRQCHIP || ue->type != KVM_IRQ_ROUTING_IRQCHIP ||
		    ue->u.irqchip.irqchip == other->irqchip.irqchip)
			return true;
	}
	return false;
}

static int virq_routing_add(struct virq_routing *rt, const struct kvm_irq_routing_entry *ue)
{
	struct virq_route *route = &rt->routes[rt->nr_routes];
	uint32_t allowed_flags = ue->type == KVM_IRQ_ROUTING_MSI ? KVM_MSI_VALID_DEVID : 0;
	int ret;

	if (ue->flags & ~allowed_flags)
		return -EINVAL;
	if (virq_route_conflicts(rt, ue))
		return -EINVAL;
	ret = rt->arm ? virq_route_setup_arm(route, ue) : virq_route_setup(route, ue);
	if (ret < 0)
		return ret;
	route->gsi = ue->gsi;
	route->type = ue->type;
	/* Append to the GSI's chain so routes are set in array order, as KVM walks them. */
	route->next = VIRQ_ROUTE_NONE;
	uint32_t *link = &rt->first[ue->gsi];
	while (*link != VIRQ_ROUTE_NONE)
		link = &rt->routes[*link].next;
	*link = rt->nr_routes++;
	if (route->type == KVM_IRQ_ROUTING_IRQCHIP && rt->arm)
		rt->arm_pin_gsi[route->irqchip.pin] = (int32_t)route->gsi;
	else if (route->type == KVM_IRQ_ROUTING_IRQCHIP)
		rt->pin_gsi[route->irqchip.irqchip][route->irqchip.pin] = (int32_t)route->gsi;
	return 0;
}

void virq_routing_free(struct virq_routing *rt)
{
	if (rt) {
		free(rt->first);
		free(rt);
	}
}

static int virq_routing_build(const struct kvm_irq_routing_entry *entries, uint32_t nr, bool arm,
			      struct virq_routing **out)
{
	uint32_t nr_gsi = 0;
	struct virq_routing *rt;
	int ret = 0;

	for (uint32_t i = 0; i < nr; i++) {
		if (entries[i].gsi >= KVM_MAX_IRQ_ROUTES)
			return -EINVAL;
		if (entries[i].gsi + 1 > nr_gsi)
			nr_gsi = entries[i].gsi + 1;
	}
	rt = calloc(1, sizeof(*rt) + nr * sizeof(rt->routes[0]));
	if (!rt)
		return -ENOMEM;
	rt->nr_gsi = nr_gsi;
	rt->arm = arm;
	rt->first = malloc((nr_gsi ? nr_gsi : 1) * sizeof(rt->first[0]));
	if (!rt->first) {
		virq_routing_free(rt);
		return -ENOMEM;
	}
	memset(rt->first, 0xff, (nr_gsi ? nr_gsi : 1) * sizeof(rt->first[0]));
	memset(rt->pin_gsi, 0xff, sizeof(rt->pin_gsi));
	memset(rt->arm_pin_gsi, 0xff, sizeof(rt->arm_pin_gsi));
	for (uint32_t i = 0; i < nr && ret == 0; i++)
		ret = virq_routing_add(rt, &entries[i]);
	if (ret < 0) {
		virq_routing_free(rt);
		return ret;
	}
	*out = rt;
	return 0;
}

int virq_routing_pin_to_gsi(const struct virq_routing *rt, unsigned irqchip, unsigned pin)
{
	if (rt && rt->arm)
		return irqchip == VIRQ_ARM_IRQCHIP && pin < VIRQ_ARM_NR_PINS ? rt->arm_pin_gsi[pin] : -1;
	if (!rt || irqchip >= VIRQ_NR_IRQCHIPS || pin >= KVM_IOAPIC_NUM_PINS)
		return -1;
	return rt->pin_gsi[irqchip][pin];
}

void virq_routing_bypass_route(const struct virq_routing *rt, uint32_t gsi, struct virq_bypass_route *out)
{
	memset(out, 0, sizeof(*out));
	if (!rt || gsi >= rt->nr_gsi)
		return;
	for (uint32_t i = rt->first[gsi]; i != VIRQ_ROUTE_NONE; i = rt->routes[i].next) {
		const struct virq_route *route = &rt->routes[i];
		if (out->nr_entries++ == 0) {
			out->type = route->type;
			if (route->type == KVM_IRQ_ROUTING_MSI) {
				out->address_lo = route->msi.address_lo;
				out->address_hi = route->msi.address_hi;
				out->data = route->msi.data;
				out->flags = route->msi.flags;
				out->devid = route->msi.devid;
			}
		}
	}
}

/* Swap in @rt, wait until no reader can see the old table, free it. Caller holds vm->lock. */
static void virq_routing_publish_locked(struct virq_vm *vm, struct virq_routing *rt)
{
	struct virq_routing *old = atomic_load_explicit(&vm->routing, memory_order_relaxed);

	virq_rcu_assign(vm->routing, rt);
	virq_rcu_synchronize();
	virq_routing_free(old);
}

int virq_routing_replace_locked(struct virq_vm *vm, const struct kvm_irq_routing_entry *entries, uint32_t nr)
{
	struct virq_routing *rt;
	int ret = virq_routing_build(entries, nr, vm->arm != NULL, &rt);

	if (ret == 0)
		virq_routing_publish_locked(vm, rt);
	return ret;
}

int virq_vm_routing_replace(struct virq_vm *vm, const struct kvm_irq_routing_entry *entries, uint32_t nr)
{
	pthread_mutex_lock(&vm->lock);
	int ret = virq_routing_replace_locked(vm, entries, nr);
	/* Still under vm->lock, so bypass decisions follow routing changes in order (KVM updates IRTEs in
	 * kvm_irq_routing_update, inside its irq_lock). Once this returns, a re-targeted posted vector
	 * posts only to its new vCPU, with its pending bit carried over (irqfd_bypass.c). */
	if (ret == 0)
		virq_irqfd_bypass_update_all(vm, true); /* arm64: direct LPI injection re-resolved likewise */
	pthread_mutex_unlock(&vm->lock);
	if (ret < 0)
		return ret;
	/* The resample-on-unmask decision and EOI interest follow the reverse map. */
	if (atomic_load_explicit(&vm->has_irqchip, memory_order_acquire))
		virq_ioapic_notifiers_changed(&vm->ioapic);
	/* MSI-X entries held for a route update: the grace period above means no delivery still uses the
	 * old table, so their pending events now go through the new one. */
	virq_msix_routing_changed(vm);
	return 0;
}

int virq_vm_set_gsi_routing(struct virq_vm *vm, const struct kvm_irq_routing *routing)
{
	/* x86 needs the in-kernel irqchip; arm64 takes routes at any time (kvm_arch_can_set_irq_routing). */
	if (!vm->arm && !atomic_load_explicit(&vm->has_irqchip, memory_order_acquire))
		return -EINVAL;
	if (routing->nr > KVM_MAX_IRQ_ROUTES || routing->flags)
		return -EINVAL;
	/* A bound eventfd whose number the caller closed is found and torn down here (ARCHITECTURE 8.1). */
	virq_irqfd_reap_closed(vm);
	return virq_vm_routing_replace(vm, routing->entries, routing->nr);
}

/* KVM_CREATE_IRQCHIP's table: GSI 0-15 to IOAPIC pin n and the PIC, 16-23 to IOAPIC pin n only. */
int virq_routing_install_default(struct virq_vm *vm)
{
	struct kvm_irq_routing_entry entries[16 * 2 + 8];
	uint32_t nr = 0;

	memset(entries, 0, sizeof(entries));
	for (uint32_t gsi = 0; gsi < KVM_IOAPIC_NUM_PINS; gsi++) {
		entries[nr].gsi = gsi;
		entries[nr].type = KVM_IRQ_ROUTING_IRQCHIP;
		entries[nr].u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
		entries[nr++].u.irqchip.pin = gsi;
		if (gsi < 16) {
			entries[nr].gsi = gsi;
			entries[nr].type = KVM_IRQ_ROUTING_IRQCHIP;
			entries[nr].u.irqchip.irqchip = gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE;
			entries[nr++].u.irqchip.pin = gsi % 8;
		}
	}
	struct virq_routing *rt;
	int ret = virq_routing_build(entries, nr, false, &rt);
	if (ret == 0)
		virq_routing_publish_locked(vm, rt);
	return ret;
}
