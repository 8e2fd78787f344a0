/* SPDX-License-Identifier: MIT */
/*
 * arm_fwd.c - forwarded SPIs: the vGIC side of KVM_DEV_VFIO_DEVICE_FORWARD_IRQ (seed 001; kvm-arm.md
 * 1.11; docs/forwarding.md). A forwarded SPI is a hardware-mapped virtual interrupt (the GIC model's
 * virq_gic_set_spi_hw): while the guest has not deactivated it, the host line stays active (masked);
 * when the guest deactivates it (EOIR with EOImode 0, DIR with EOImode 1) the GIC calls
 * ops->hw_deactivated, and this file completes the host line straight away through the line's ops
 * (src/bypass/forward.h): no resampler, no resamplefd, no VMM.
 *
 * The table arm->fwd[] maps SPI pins to links. A link holds the host line and a reference on the VFIO
 * device's handle (src/handle/), which keeps the device and its line alive as a file reference does in
 * Linux, so a user closing the VFIO descriptor while a line is forwarded cannot free it under us.
 *
 * Locks: arm->fwd_lock protects the table and each link's generation. It nests inside the host line's
 * lock (FORWARD/UNFORWARD hold the line while they change the table) and outside gic->lock (attach and
 * detach map and unmap the SPI under it). A deactivation is called with no GIC lock held; it takes a
 * reference on the link under fwd_lock, drops fwd_lock, and only then calls the host, so no engine lock
 * is ever held while a host line's lock is taken. A deactivation racing with UNFORWARD either completes
 * the line first (UNFORWARD then finds it inactive) or carries a stale generation, which the host
 * ignores (UNFORWARD completes the line itself).
 */
#include <errno.h>
#include <stdlib.h>

#include "bypass/forward.h"
#include "engine/arm_vm.h"
#include "engine/vm.h"
#include "handle/handle.h"

struct virq_arm_fwd {
	_Atomic unsigned refs;       /* [A] the table's, plus one per user in progress */
	struct virq_handle *handle;  /* [I] reference on the VFIO device's handle */
	struct virq_fwd_line *line;  /* [I] valid while @handle is held */
	uint64_t gen;                /* [L:fwd_lock] the forwarding generation the host gave at FORWARD */
};

int virq_arm_fwd_check(struct virq_vm *vm, uint32_t pin)
{
	struct virq_arm_vm *arm = vm->arm;
	struct virq_gic *gic;
	int ret = 0;

	if (!arm || !atomic_load_explicit(&arm->vgic_created, memory_order_acquire))
		return -ENXIO; /* no vGIC: nothing to forward to (KVM_IRQ_LINE's answer for an SPI) */
	gic = virq_arm_gic(vm);
	if (!gic)
		return -EBUSY; /* vgic_lazy_init() on a GICv3: not initialised yet */
	if (pin >= gic->nr_spis || pin >= VIRQ_GIC_MAX_SPI_PINS)
		return -EINVAL;
	pthread_mutex_lock(&arm->fwd_lock);
	if (arm->fwd[pin])
		ret = -EBUSY; /* KVM: the vIRQ is mapped to another physical interrupt */
	pthread_mutex_unlock(&arm->fwd_lock);
	return ret;
}

struct virq_arm_fwd *virq_arm_fwd_new(struct virq_handle *h, struct virq_fwd_line *line)
{
	struct virq_arm_fwd *fwd = calloc(1, sizeof(*fwd));

	if (!fwd)
		return NULL;
	atomic_init(&fwd->refs, 1);
	fwd->handle = h;
	fwd->line = line;
	return fwd;
}

struct virq_fwd_line *virq_arm_fwd_line(const struct virq_arm_fwd *fwd)
{
	return fwd->line;
}

void virq_arm_fwd_put(struct virq_arm_fwd *fwd)
{
	if (atomic_fetch_sub_explicit(&fwd->refs, 1, memory_order_acq_rel) != 1)
		return;
	/* May be the last reference on the VFIO device (its descriptor was closed meanwhile): its release
	 * runs here, with no engine lock held but the kvm-vfio device's (which the host never takes). */
	virq_handle_put(fwd->handle);
	free(fwd);
}

struct virq_arm_fwd *virq_arm_fwd_get(struct virq_vm *vm, uint32_t pin)
{
	struct virq_arm_vm *arm = vm->arm;
	struct virq_arm_fwd *fwd = NULL;

	if (!arm || pin >= VIRQ_GIC_MAX_SPI_PINS)
		return NULL;
	pthread_mutex_lock(&arm->fwd_lock);
	fwd = arm->fwd[pin];
	if (fwd)
		atomic_fetch_add_explicit(&fwd->refs, 1, memory_order_relaxed);
	pthread_mutex_unlock(&arm->fwd_lock);
	return fwd;
}

void virq_arm_fwd_attach(struct virq_vm *vm, uint32_t pin, struct virq_arm_fwd *fwd, uint64_t gen)
{
	struct virq_arm_vm *arm = vm->arm;
	struct virq_arm_fwd *old;

	pthread_mutex_lock(&arm->fwd_lock);
	old = arm->fwd[pin]; /* NULL: virq_arm_fwd_check ran under the kvm-vfio device's lock */
	fwd->gen = gen;
	arm->fwd[pin] = fwd;
	virq_gic_set_spi_hw(&arm->gic, pin, true);
	pthread_mutex_unlock(&arm->fwd_lock);
	if (old)
		virq_arm_fwd_put(old);
}

void virq_arm_fwd_detach(struct virq_vm *vm, uint32_t pin)
{
	struct virq_arm_vm *arm = vm->arm;
	struct virq_arm_fwd *fwd;

	pthread_mutex_lock(&arm->fwd_lock);
	fwd = arm->fwd[pin];
	arm->fwd[pin] = NULL;
	if (fwd)
		virq_gic_set_spi_hw(&arm->gic, pin, false);
	pthread_mutex_unlock(&arm->fwd_lock);
	if (fwd)
		virq_arm_fwd_put(fwd); /* not the last: the caller holds one (its irq_lock) */
}

void virq_arm_fwd_deactivated(void *ctx, unsigned pin)
{
	struct virq_vm *vm = ctx;
	struct virq_arm_vm *arm = vm->arm;
	struct virq_arm_fwd *fwd;
	uint64_t gen = 0;

	if (pin >= VIRQ_GIC_MAX_SPI_PINS)
		return;
	pthread_mutex_lock(&arm->fwd_lock);
	fwd = arm->fwd[pin];
	if (fwd) {
		atomic_fetch_add_explicit(&fwd->refs, 1, memory_order_relaxed);
		gen = fwd->gen;
	}
	pthread_mutex_unlock(&arm->fwd_lock);
	if (!fwd)
		return; /* unforwarded in between: UNFORWARD completed the line itself */
	atomic_fetch_add_explicit(&arm->fwd_deactivations, 1, memory_order_relaxed);
	fwd->line->ops->complete(fwd->line, gen);
	virq_arm_fwd_put(fwd);
}
