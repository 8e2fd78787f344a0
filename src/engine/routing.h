/* SPDX-License-Identifier: MIT */
/*
 * routing.h - the GSI routing table (KVM_SET_GSI_ROUTING), immutable once published.
 *
 * Readers take the table with virq_rcu_deref(vm->routing) inside an RCU read-side critical section and
 * walk a GSI's entries through first[gsi] / next. Writers build a whole new table, validate it, publish
 * it under vm->lock and free the old one after a grace period.
 */
#ifndef VIRQ_ENGINE_ROUTING_H
#define VIRQ_ENGINE_ROUTING_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

#define VIRQ_ROUTE_NONE UINT32_MAX
#define VIRQ_NR_IRQCHIPS 3  /* x86: PIC master, PIC slave, IOAPIC */
#define VIRQ_ARM_IRQCHIP 0   /* arm64: the one irqchip (KVM_NR_IRQCHIPS = 1), pin = SPI INTID - 32 */
#define VIRQ_ARM_NR_PINS 988 /* arm64's KVM_IRQCHIP_NUM_PINS (1020 - 32) */

struct virq_vm;
struct virq_route;

/* Deliver @level from @source through one route; returns KVM's per-chip status (-1, 0, >0). */
typedef int (*virq_route_set_fn)(struct virq_vm *vm, const struct virq_route *route, unsigned source,
				 bool level, uint64_t raise_ns);

struct virq_route {
	uint32_t gsi;
	uint32_t type;                   /* KVM_IRQ_ROUTING_IRQCHIP / _MSI / _HV_SINT */
	uint32_t next;                   /* next route of the same GSI, or VIRQ_ROUTE_NONE */
	virq_route_set_fn set;
	union {
		struct { uint32_t irqchip, pin; } irqchip;
		struct { uint32_t address_lo, address_hi, data, flags, devid; } msi; /* flags, devid: arm64 */
	};
};

struct virq_routing {
	uint32_t nr_gsi;                 /* highest GSI + 1 */
	uint32_t nr_routes;
	uint32_t *first;                 /* [nr_gsi] first route of each GSI */
	bool arm;                        /* built for an arm64 VM: arm_pin_gsi is the reverse map */
	int32_t pin_gsi[VIRQ_NR_IRQCHIPS][KVM_IOAPIC_NUM_PINS]; /* x86 reverse map, -1 = none */
	int32_t arm_pin_gsi[VIRQ_ARM_NR_PINS];                  /* arm64 reverse map, -1 = none */
	struct virq_route routes[];
};

int virq_vm_routing_replace(struct virq_vm *vm, const struct kvm_irq_routing_entry *entries, uint32_t nr);
/* Build and publish only (no notifier updates); the caller holds vm->lock (arm64's vgic_init). */
int virq_routing_replace_locked(struct virq_vm *vm, const struct kvm_irq_routing_entry *entries, uint32_t nr);

#endif /* VIRQ_ENGINE_ROUTING_H */
