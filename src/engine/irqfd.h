/* SPDX-License-Identifier: MIT */
/*
 * irqfd.h - irqfds and resamplers (virt/kvm/eventfd.c, include/linux/kvm_irqfd.h).
 *
 * An irqfd binds an eventfd to a GSI: when the eventfd is signalled, one watcher wakes (a halted vCPU,
 * else the VM's poller thread; irqfd_watch.c), drains it and raises the GSI. A resampling irqfd only
 * asserts the line (source 1); when the guest EOIs the pin, the GSI's one resampler de-asserts it once
 * and then signals every resamplefd of that GSI (resample.c).
 */
#ifndef VIRQ_ENGINE_IRQFD_H
#define VIRQ_ENGINE_IRQFD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "engine/irqfd_bypass.h"

struct virq_vm;

struct virq_irqfd {
	struct virq_vm *vm;                 /* [I] */
	int efd;                            /* [I] virq's own duplicate of the eventfd */
	int user_fd;                        /* [I] the number the caller passed (liveness check) */
	uint32_t gsi;                       /* [I] */
	int resample_efd;                   /* [I] duplicate of the resamplefd, -1 if not resampling */
	uint32_t slot, gen;                 /* [I] place in vm->irqfd_table; the epoll cookie (irqfd_watch.c) */
	struct virq_irqfd *next;            /* [L:vm->irqfd_lock] */
	struct virq_irqfd *bound_next;      /* [L:virq_bound_lock] process-wide set of bound eventfds */
	/* The irqfd as an irq bypass consumer (its eventfd pairs it with a VFIO vector's producer): x86
	 * posts or remaps that vector as the policy decides, arm64 has it injected straight into the LPI
	 * its MSI route resolves to (engine/irqfd_bypass.h, arm_direct.c). */
	bool bypass_on;                     /* [I] once published: registered with the bypass manager */
	struct virq_irqfd_bypass bypass;
};

/* The resamplefds of one GSI, immutable once published (replaced whole on join and leave). */
struct virq_resample_fds {
	unsigned nr;
	int fds[];
};

struct virq_resampler {
	uint32_t gsi;                                /* [I] */
	struct virq_resample_fds *_Atomic fds;       /* [R] written under vm->irqfd_lock */
};

/* irqfd_watch.c: the table of live irqfds and the epoll sets that watch their eventfds (all but harvest
 * with vm->irqfd_lock held). */
uint64_t virq_irqfd_cookie(const struct virq_irqfd *irqfd);
int virq_irqfd_table_reserve_locked(struct virq_vm *vm, struct virq_irqfd *irqfd);
void virq_irqfd_table_publish_locked(struct virq_vm *vm, struct virq_irqfd *irqfd);
void virq_irqfd_table_remove_locked(struct virq_vm *vm, struct virq_irqfd *irqfd);
int virq_irqfd_watch_locked(struct virq_vm *vm, struct virq_irqfd *irqfd);
void virq_irqfd_unwatch_locked(struct virq_vm *vm, struct virq_irqfd *irqfd);
/* Read the eventfd (without blocking) and, if it held anything, inject as the watcher does. The caller
 * keeps @irqfd alive (an RCU read section, or a lock its shutdown needs). */
void virq_irqfd_drain(struct virq_irqfd *irqfd);

/* resample.c, all with vm->irqfd_lock held. */
int virq_resampler_join_locked(struct virq_vm *vm, struct virq_irqfd *irqfd);
void virq_resampler_leave_locked(struct virq_vm *vm, struct virq_irqfd *irqfd);

#endif /* VIRQ_ENGINE_IRQFD_H */
