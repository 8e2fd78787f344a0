/* SPDX-License-Identifier: MIT */
/*
 * msix_mmio.h - the in-engine MSI-X table and PBA (seed 002, KVM_REGISTER_MSIX_MMIO): what the vCPU MMIO
 * path (vcpu_run.c), the GSI fan-out (irq.c) and the routing writer (routing.c) call. How it works, and
 * why, is at the top of msix_mmio.c; the user's view is docs/msix-mmio.md.
 */
#ifndef VIRQ_ENGINE_MSIX_MMIO_H
#define VIRQ_ENGINE_MSIX_MMIO_H

#include <stdbool.h>
#include <stdint.h>

#include "virq/kvm.h"

struct virq_vm;
struct virq_routing;
struct virq_msix_entry;

enum virq_msix_access {
	VIRQ_MSIX_UNCLAIMED, /* no registered window there: the access goes on to RAM or exits as MMIO */
	VIRQ_MSIX_HANDLED,   /* done inside the engine */
	VIRQ_MSIX_EXIT,      /* done, and the VMM must hear of it: *update is filled */
};

/* vCPU thread, outside any RCU read-side section (a write that changes a route waits a grace period). */
enum virq_msix_access virq_msix_mmio_read(struct virq_vm *vm, uint64_t addr, unsigned size, uint64_t *value);
enum virq_msix_access virq_msix_mmio_write(struct virq_vm *vm, uint64_t addr, unsigned size, uint64_t value,
					   struct kvm_msix_routing_update *update);

/*
 * irq.c: an assert of @gsi, which is bound to @entry. Caller in an RCU read-side section with @rt the
 * routing table it read there. Delivers through @rt if the entry is deliverable, else holds the assert in
 * the entry's pending bit. Returns KVM's status (0 when held); *held is set when the assert took a clear
 * pending bit (it is counted when replayed), left false when it merged into a set one (coalesced).
 */
int virq_msix_raise(struct virq_vm *vm, struct virq_msix_entry *entry, const struct virq_routing *rt,
		    uint32_t gsi, uint64_t raise_ns, bool *held);

/* The bypass policy (irqfd.c): why the entry bound to @gsi holds its interrupts now ("MSI-X entry
 * masked", ...), or NULL if no entry is bound or it delivers. Any thread, any context. */
const char *virq_msix_gsi_held(struct virq_vm *vm, uint32_t gsi);

/* routing.c: a new routing table is published and a grace period has passed. No lock held. */
void virq_msix_routing_changed(struct virq_vm *vm);

/* VM destruction: nothing else runs. */
void virq_msix_free_all(struct virq_vm *vm);

#endif /* VIRQ_ENGINE_MSIX_MMIO_H */
