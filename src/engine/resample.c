/* SPDX-License-Identifier: MIT */
/*
 * resample.c - one resampler per GSI shared by all its resampling irqfds (seed 004; KVM's
 * irqfd_resampler_ack in virt/kvm/eventfd.c).
 *
 * On the guest's EOI of the pin (or when it unmasks a level pin whose line is pending, KVM's
 * resample-on-unmask), the resampler de-asserts the shared source once and only then signals every
 * resamplefd: a device that re-triggers after seeing the notification produces a fresh assert, and
 * de-asserting once rather than per irqfd cannot cancel another user's re-assert.
 *
 * The resamplefd list is read under RCU by the EOI path (vCPU threads) and replaced whole under
 * vm->irqfd_lock; leaving waits for a grace period before the caller closes the fd, so the EOI path never
 * writes to a closed or reused descriptor. Removing the last irqfd de-asserts the line.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/irqfd.h"
#include "engine/probes.h"
#include "engine/rcu.h"
#include "engine/vcpu.h"
#include "engine/vm.h"

/* The IOAPIC intercepts EOIs of resampled pins; the GIC always reports deactivations (ops->resample). */
static void virq_resample_notifiers_changed(struct virq_vm *vm)
{
	if (!vm->arm)
		virq_ioapic_notifiers_changed(&vm->ioapic);
}

/* A copy of @old with @add appended (add >= 0) or @remove dropped. NULL on allocation failure. */
static struct virq_resample_fds *virq_resample_fds_edit(const struct virq_resample_fds *old, int add,
							 int remove)
{
	unsigned nr = old ? old->nr : 0;
	struct virq_resample_fds *fds = calloc(1, sizeof(*fds) + (nr + 1) * sizeof(fds->fds[0]));

	if (!fds)
		return NULL;
	for (unsigned i = 0; i < nr; i++)
		if (old->fds[i] != remove)
			fds->fds[fds->nr++] = old->fds[i];
	if (add >= 0)
		fds->fds[fds->nr++] = add;
	return fds;
}

int virq_resampler_join_locked(struct virq_vm *vm, struct virq_irqfd *irqfd)
{
	struct virq_resampler *rs = atomic_load_explicit(&vm->resamplers[irqfd->gsi], memory_order_relaxed);
	bool created = false;

	if (!rs) {
		rs = calloc(1, sizeof(*rs));
		if (!rs)
			return -ENOMEM;
		rs->gsi = irqfd->gsi;
		created = true;
	}
	struct virq_resample_fds *old = atomic_load_explicit(&rs->fds, memory_order_relaxed);
	struct virq_resample_fds *fds = virq_resample_fds_edit(old, irqfd->resample_efd, -1);
	if (!fds) {
		if (created)
			free(rs);
		return -ENOMEM;
	}
	virq_rcu_assign(rs->fds, fds);
	if (created) {
		virq_rcu_assign(vm->resamplers[irqfd->gsi], rs);
		/* The IOAPIC must now intercept EOIs of this pin and resample on unmask. */
		virq_resample_notifiers_changed(vm);
	}
	virq_rcu_synchronize();
	free(old);
	return 0;
}

void virq_resampler_leave_locked(struct virq_vm *vm, struct virq_irqfd *irqfd)
{
	struct virq_resampler *rs = atomic_load_explicit(&vm->resamplers[irqfd->gsi], memory_order_relaxed);
	struct virq_resample_fds *old = atomic_load_explicit(&rs->fds, memory_order_relaxed);
	unsigned live = 0;

	for (unsigned i = 0; i < old->nr; i++)
		live += old->fds[i] >= 0;
	bool last = live <= 1;

	if (last) {
		virq_rcu_assign(vm->resamplers[irqfd->gsi], NULL);
		virq_resample_notifiers_changed(vm);
		virq_rcu_synchronize();
		free(old);
		free(rs);
		/* The last resampling user is gone: nobody will de-assert the shared source any more. */
		virq_vm_set_irq(vm, VIRQ_IRQ_SOURCE_RESAMPLE, irqfd->gsi, false, 0);
		return;
	}
	struct virq_resample_fds *fds = virq_resample_fds_edit(old, -1, irqfd->resample_efd);
	if (!fds) {
		/* No memory for a smaller copy: retire the slot in place instead. Readers load each slot
		 * atomically, and after the grace period none can still be writing to this descriptor. */
		for (unsigned i = 0; i < old->nr; i++)
			if (old->fds[i] == irqfd->resample_efd)
				__atomic_store_n(&old->fds[i], -1, __ATOMIC_RELAXED);
		virq_rcu_synchronize();
		return;
	}
	virq_rcu_assign(rs->fds, fds);
	virq_rcu_synchronize();
	free(old);
}

/* Resample on unmask: the line's sources stay as they are; the devices re-check and re-assert. Also the
 * second half of an ack. Caller in an RCU read-side critical section. */
void virq_resampler_notify(struct virq_vm *vm, uint32_t gsi)
{
	struct virq_resampler *rs = virq_rcu_deref(vm->resamplers[gsi]);
	uint64_t one = 1;

	if (!rs)
		return;
	virq_count(&vm->gsi_stats[gsi].resamples);
	VIRQ_PROBE(resample, gsi);
	const struct virq_resample_fds *fds = virq_rcu_deref(rs->fds);
	for (unsigned i = 0; i < fds->nr; i++) {
		int fd = __atomic_load_n(&fds->fds[i], __ATOMIC_RELAXED);
		if (fd >= 0 && write(fd, &one, sizeof(one)) < 0) {
			/* EAGAIN: the counter is saturated, the consumer has a notification pending anyway. */
		}
	}
}

/* EOI path (vCPU thread, inside an RCU read-side critical section, IOAPIC lock dropped). */
void virq_resampler_ack(struct virq_vm *vm, uint32_t gsi)
{
	if (!virq_rcu_deref(vm->resamplers[gsi]))
		return;
	/* De-assert before notifying: a re-trigger that follows the notification must assert afresh. */
	virq_vm_set_irq(vm, VIRQ_IRQ_SOURCE_RESAMPLE, gsi, false, 0);
	virq_resampler_notify(vm, gsi);
}

void virq_resampler_free_all(struct virq_vm *vm)
{
	for (unsigned gsi = 0; gsi < KVM_MAX_IRQ_ROUTES; gsi++) {
		struct virq_resampler *rs = atomic_load_explicit(&vm->resamplers[gsi], memory_order_relaxed);
		if (rs) {
			free(atomic_load_explicit(&rs->fds, memory_order_relaxed));
			free(rs);
		}
	}
}
