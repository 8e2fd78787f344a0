/* SPDX-License-Identifier: MIT */
/*
 * irqfd.h - irqfds and resamplers (virt/kvm/eventfd.c, include/linux/kvm_irqfd.h).
 *
 * An irqfd binds an eventfd to a GSI: the VM's poller thread (poller.c) wakes when the eventfd is
 * signalled, drains it and raises the GSI. A resampling irqfd only asserts the line (source 1); when the
 * guest EOIs the pin, the GSI's one resampler de-asserts it once and then signals every resamplefd of
 * that GSI (resample.c).
 */
#ifndef VIRQ_ENGINE_IRQFD_H
#define VIRQ_ENGINE_IRQFD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct virq_vm;

struct virq_irqfd {
	struct virq_vm *vm;                 /* [I] */
	int efd;                            /* [I] virq's own duplicate of the eventfd */
	int user_fd;                        /* [I] the number the caller passed (liveness check) */
	uint32_t gsi;                       /* [I] */
	int resample_efd;                   /* [I] duplicate of the resamplefd, -1 if not resampling */
	_Atomic bool active;                /* [A] cleared before shutdown; the poller skips inactive ones */
	struct virq_irqfd *next;            /* [L:vm->irqfd_lock] */
	struct virq_irqfd *bound_next;      /* [L:virq_bound_lock] process-wide set of bound eventfds */
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

/* poller.c: the poller's part of an injection. */
void virq_irqfd_inject(struct virq_irqfd *irqfd);

/* resample.c, all with vm->irqfd_lock held. */
int virq_resampler_join_locked(struct virq_vm *vm, struct virq_irqfd *irqfd);
void virq_resampler_leave_locked(struct virq_vm *vm, struct virq_irqfd *irqfd);

#endif /* VIRQ_ENGINE_IRQFD_H */
