/* SPDX-License-Identifier: MIT */
/*
 * vm.h - the engine's VM object and the internal API its parts share.
 *
 * Lock tags on fields: [I] immutable after creation, [A] atomic (order stated at each access),
 * [L:x] protected by lock x, [R] published with release and read under RCU (engine/rcu.h),
 * [P] owned by the VM's irqfd poller thread.
 *
 * Lock order (outer first): vm->lock -> vm->irqfd_lock -> virq_bound_lock -> ioapic->lock, and
 * vm->msix_lock -> msix device lock (docs/locking.md); on an arm64 VM vm->lock -> its->lock -> gic->lock ->
 * cpu->lock -> its->cache.lock (engine/arm_vm.h, irqchip/arm/gicv3.h), and an irqfd's bypass lock
 * (engine/irqfd_bypass.h) between vm->irqfd_lock and its->lock (direct LPI injection, arm_direct.c). No
 * lock is held across virq_rcu_synchronize() that a reader could need.
 */
#ifndef VIRQ_ENGINE_VM_H
#define VIRQ_ENGINE_VM_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "engine/stats.h"
#include "irqchip/x86/ioapic.h"
#include "irqchip/x86/lapic.h"
#include "virq/kvm.h"
#include "virq/vm.h"

#define VIRQ_MAX_VCPUS 256            /* vCPU ids (= APIC ids) 0..255 */
#define VIRQ_MAX_MEMSLOTS 512         /* slot ids 0..511 per address space */
#define VIRQ_NR_ADDRESS_SPACES 2      /* x86: normal and SMM, as KVM */
#define VIRQ_DEFAULT_HALT_POLL_NS 200000 /* KVM's halt_poll_ns module default */

struct virq_vcpu;
struct virq_routing;
struct virq_irqfd;
struct virq_resampler;
struct virq_memslots;
struct virq_irqfd_table;
struct virq_msix_set;
struct virq_msix_entry;
struct virq_arm_vm;
struct virq_kvm_vfio;

/* Immutable snapshot of the VM's LAPICs, replaced whole when a vCPU is created (KVM's APIC map). */
struct virq_apic_map {
	unsigned nr;                      /* highest APIC ID + 1 */
	struct virq_lapic *apics[];
};

/* The per-VM thread that watches irqfd eventfds with epoll (engine/poller.c). */
struct virq_poller {
	int epoll_fd;                     /* [I] once started */
	int kick_fd;                      /* [I] eventfd that wakes the poller for control messages */
	int storm_timer_fd;               /* [I] timerfd of the IOAPIC storm guard */
	pthread_t thread;                 /* [L:vm->lock] */
	bool started;                     /* [L:vm->lock] */
	_Atomic bool stop;                /* [A] */
};

struct virq_vm {
	_Atomic int refcount;             /* [A] VM handle + one per vCPU */
	unsigned long type;               /* [I] KVM_CREATE_VM type */
	struct virq_arm_vm *arm;          /* [I] the vGIC side of an arm64 VM (engine/arm_vm.h), NULL on x86 */
	pthread_mutex_t lock;             /* creation of irqchip and vCPUs, memslots, caps */

	_Atomic bool has_irqchip;         /* [A] release after ioapic is initialised */
	struct virq_ioapic ioapic;        /* valid once has_irqchip */
	_Atomic uint64_t halt_poll_max_ns; /* [A] KVM_CAP_HALT_POLL */

	struct virq_vcpu *_Atomic vcpus[VIRQ_MAX_VCPUS]; /* [A] release on creation, indexed by vCPU id */
	struct virq_apic_map *_Atomic apic_map; /* [R] the LAPICs by APIC ID, for the APIC bus */
	_Atomic unsigned nr_vcpus;        /* [A] */
	_Atomic bool vcpu_created;        /* [A] any vCPU ever created (KVM_CREATE_IRQCHIP refuses after) */

	struct virq_memslots *_Atomic memslots; /* [R] replaced whole under vm->lock */
	struct virq_routing *_Atomic routing;   /* [R] replaced whole under vm->lock */

	pthread_mutex_t irqfd_lock;       /* the irqfd list and resamplers */
	struct virq_irqfd *irqfds;        /* [L:irqfd_lock] */
	struct virq_irqfd_table *_Atomic irqfd_table; /* [R] irqfds by epoll cookie slot; [L:irqfd_lock] */
	uint32_t irqfd_gen;               /* [L:irqfd_lock] generation of the last irqfd bound */
	struct virq_resampler *_Atomic resamplers[KVM_MAX_IRQ_ROUTES]; /* [R] by GSI; written under irqfd_lock */

	pthread_mutex_t msix_lock;        /* MSI-X registrations and GSI bindings (msix_mmio.c) */
	struct virq_msix_set *_Atomic msix; /* [R] registered tables and PBAs; replaced whole under msix_lock */
	struct virq_msix_entry *_Atomic msix_gsi[KVM_MAX_IRQ_ROUTES]; /* [R] entry bound to each GSI;
							 * written under msix_lock */

	struct virq_poller poller;

	/* x86: the kvm-vfio device (vm_kvm_vfio.c), whose POST/UNPOST overrides bypass decisions read. Set
	 * and cleared under vm->lock; read (acquire) by deciders, each under its irqfd's bypass lock. */
	struct virq_kvm_vfio *_Atomic kvm_vfio;
	/* irqfds paired with a host producer (x86: posting; arm64: direct LPI injection). MSI-X table and
	 * (arm64) ITS changes re-decide bypass only when non-zero (seq_cst: paired before deciding, against
	 * "table changed, then read this"). */
	_Atomic unsigned bypass_paired;

	struct virq_gsi_stats gsi_stats[KVM_MAX_IRQ_ROUTES];
};

/* Reference counting: the VM is destroyed at the last put. */
void virq_vm_get(struct virq_vm *vm);

/* vm.c */
struct virq_vcpu *virq_vm_vcpu(struct virq_vm *vm, unsigned id);
/* vcpu.c: undo a vCPU creation whose handle could not be made. */
void virq_vm_vcpu_abandon(struct virq_vcpu *vcpu);
int virq_vm_deliver(struct virq_vm *vm, const struct virq_apic_irq *irq);

/* irq.c: KVM's kvm_set_irq(): fan @level of @source out to every route of @gsi; returns the status. */
int virq_vm_set_irq(struct virq_vm *vm, unsigned source, uint32_t gsi, bool level, uint64_t raise_ns);
int virq_vm_deliver_msi(struct virq_vm *vm, uint32_t address_lo, uint32_t address_hi, uint32_t data,
			uint64_t raise_ns);
/* Set every route of @gsi in @rt (caller in RCU); KVM's combined status. No counting. */
int virq_routing_set_gsi(struct virq_vm *vm, const struct virq_routing *rt, unsigned source, uint32_t gsi,
			 bool level, uint64_t raise_ns);
/* Count what became of one assert of @gsi (delivered, coalesced or ignored by @status), not the raise. */
void virq_vm_count_outcome(struct virq_vm *vm, uint32_t gsi, int status);

/* routing.c */
int virq_routing_install_default(struct virq_vm *vm);
void virq_routing_free(struct virq_routing *rt);
/* GSI that an irqchip pin maps back to (KVM's reverse map; last entry wins), or -1. Caller in RCU. */
int virq_routing_pin_to_gsi(const struct virq_routing *rt, unsigned irqchip, unsigned pin);
/* @gsi's routes in @rt as the bypass policy sees them (count; type and MSI payload of a single route).
 * Caller in RCU or holding vm->lock. */
struct virq_bypass_route;
void virq_routing_bypass_route(const struct virq_routing *rt, uint32_t gsi, struct virq_bypass_route *out);

/* irqfd.c / resample.c / poller.c */
void virq_irqfd_release_all(struct virq_vm *vm);
/* Re-decide every bypassed irqfd (posted or remapped): with its GSI's route in the table now published
 * when @reroute (caller holds vm->lock, the routing writer), else with its cached route (the vCPUs
 * changed). Takes vm->irqfd_lock. */
void virq_irqfd_bypass_update_all(struct virq_vm *vm, bool reroute);
/* The kvm-vfio override of @gsi changed, or whether the MSI-X table holds it: re-decide the bypassed
 * irqfds on it. Takes vm->irqfd_lock: never call it inside an RCU read-side section (irqfd shutdown
 * waits for a grace period under that lock). */
void virq_irqfd_bypass_gsi_changed(struct virq_vm *vm, uint32_t gsi);
/* arm64: the ITSes or redistributors changed (gic->lpi_changes read @changes): re-resolve every bypassed
 * irqfd (arm_direct.c's virq_arm_bypass_refresh decides when). Takes vm->irqfd_lock. */
void virq_irqfd_bypass_lpis_changed(struct virq_vm *vm, uint64_t changes);
void virq_irqfd_reap_closed(struct virq_vm *vm);
void virq_poller_init(struct virq_poller *poller);
int virq_poller_start(struct virq_vm *vm);
void virq_poller_stop(struct virq_vm *vm);
/* irqfd_watch.c: an epoll event's cookie -> the irqfd, if still bound -> inject. Any watcher thread. */
void virq_irqfd_harvest(struct virq_vm *vm, uint64_t cookie);
void virq_irqfd_table_free(struct virq_vm *vm);
/* With vm->irqfd_lock held: a new vCPU watches every bound eventfd while it halts. */
int virq_irqfd_watch_vcpu_locked(struct virq_vm *vm, struct virq_vcpu *vcpu);
void virq_poller_arm_storm_timer(struct virq_vm *vm, uint64_t delay_ns);
void virq_resampler_ack(struct virq_vm *vm, uint32_t gsi);
void virq_resampler_notify(struct virq_vm *vm, uint32_t gsi);
void virq_resampler_free_all(struct virq_vm *vm);

/* memslot.c */
struct virq_memslots *virq_memslots_empty(void);
void virq_memslots_free(struct virq_memslots *slots);
/* Copy @len bytes to guest-physical @gpa. Returns 0, or -EFAULT if no writable slot backs it all. */
int virq_vm_write_guest(struct virq_vm *vm, uint64_t gpa, const void *data, unsigned len);
/* Copy @len bytes from guest-physical @gpa. Returns 0, or -EFAULT if no slot backs it all. */
int virq_vm_read_guest(struct virq_vm *vm, uint64_t gpa, void *data, unsigned len);

#endif /* VIRQ_ENGINE_VM_H */
