/* SPDX-License-Identifier: MIT */
/*
 * vm_kvm_vfio.c - the kvm-vfio device of a VM (KVM_CREATE_DEVICE with KVM_DEV_TYPE_VFIO; Linux's
 * virt/kvm/vfio.c kvm_vfio_create): one per VM (a second is -EBUSY), its attributes handled by
 * kvm_vfio.c. On x86 its POST_IRQ / UNPOST_IRQ overrides are read by the VM's bypass decisions
 * (irqfd.c); on arm64 it forwards VFIO INTx lines to SPIs (FORWARD_IRQ / UNFORWARD_IRQ, seed 001,
 * docs/forwarding.md) and has no POST_IRQ (no VT-d: -ENXIO).
 *
 * What the engine answers itself, and why: "is this fd a VFIO device?" needs no host header, because
 * the host's VFIO descriptors are virq handles (src/handle/) of kind "virq-vfio-device"; the handle table
 * tells open (-EBADF otherwise) and virq's (-EINVAL otherwise, as for any file that is not VFIO).
 * FORWARD/UNFORWARD_IRQ need the host's IRQ state and an Arm GIC to forward to: not offered on x86
 * (irq_lock NULL: -ENXIO, as the merged kernel answers for group 2). On arm64 the line is found through
 * the same handle: the VFIO descriptor answers VIRQ_FWD_LINE_GET with a struct virq_fwd_line
 * (src/bypass/forward.h), whose ops report and change the host's state under the host's lock; the link
 * from the SPI to the line lives in arm_fwd.c.
 *
 * Lifetime: the device holds a VM reference. At release vm->kvm_vfio is cleared first, then every
 * bypassed irqfd is re-decided (each under its own lock), so no decision can still be reading the
 * device's overrides when it is freed; its overrides die with it (the decisions go back to automatic).
 */
#include "engine/vm_kvm_vfio.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bypass/forward.h"
#include "engine/arm_vm.h"
#include "engine/vm.h"
#include "handle/handle.h"

/* The handle kind name of the host's VFIO device descriptors (src/host/vfio_device.c). */
#define VIRQ_VFIO_DEVICE_KIND "virq-vfio-device"

struct virq_vm_kvm_vfio {
	struct virq_kvm_vfio dev;
	struct virq_vm *vm; /* [I] holds a reference */
};

static int virq_vm_kvm_vfio_file_check(void *ctx, int fd)
{
	struct virq_handle *h;
	int ret = virq_handle_get(fd, NULL, &h);

	if (ret == -ENOTTY)
		return -EINVAL; /* open, but not one of virq's descriptors: not VFIO */
	if (ret < 0)
		return ret;
	ret = strcmp(virq_handle_kind(h)->name, VIRQ_VFIO_DEVICE_KIND) == 0 ? 0 : -EINVAL;
	virq_handle_put(h);
	return ret;
}

static void virq_vm_kvm_vfio_override_changed(void *ctx, uint32_t gsi)
{
	virq_irqfd_bypass_gsi_changed(ctx, gsi);
}

static const struct virq_kvm_vfio_ops virq_vm_kvm_vfio_ops = {
	.file_check = virq_vm_kvm_vfio_file_check,
	.override_changed = virq_vm_kvm_vfio_override_changed,
};

/* ---- arm64: FORWARD_IRQ / UNFORWARD_IRQ (seed 001) ----
 *
 * Called by kvm_vfio.c with the device's lock held, irq_lock then irq_unlock; st->cookie carries the
 * SPI's link (arm_fwd.c, one reference) from one to the other. Lock order (docs/forwarding.md):
 * dev->lock -> the host line's lock -> arm->fwd_lock -> gic->lock.
 */

/* The forwardable line of IRQ (@index, @subindex) of VFIO device @fd, with a reference on its handle. */
static int virq_vm_kvm_vfio_find_line(int fd, uint32_t index, uint32_t subindex, struct virq_handle **out,
				      struct virq_fwd_line **line)
{
	struct virq_fwd_line_get req = { .index = index, .subindex = subindex };
	struct virq_handle *h;
	int ret = virq_handle_get(fd, NULL, &h);

	if (ret == -ENOTTY)
		return -EINVAL;
	if (ret < 0)
		return ret; /* closed since file_check: EBADF */
	const struct virq_handle_ops *kind = virq_handle_kind(h);
	if (strcmp(kind->name, VIRQ_VFIO_DEVICE_KIND) != 0)
		ret = -EINVAL;
	else
		ret = (int)kind->ioctl(virq_handle_object(h), VIRQ_FWD_LINE_GET, (unsigned long)(uintptr_t)&req);
	if (ret < 0) {
		virq_handle_put(h);
		return ret; /* -EINVAL: no such IRQ (or not one that can be forwarded) */
	}
	*out = h;
	*line = req.line;
	return 0;
}

static int virq_vm_kvm_vfio_irq_lock(void *ctx, int fd, uint32_t index, uint32_t subindex, uint32_t gsi,
				     bool forward, struct virq_kvm_vfio_irq_state *st)
{
	struct virq_vm *vm = ctx;
	struct virq_fwd_line_state ls;
	struct virq_fwd_line *line = NULL;
	struct virq_arm_fwd *fwd = NULL;
	int ret;

	if (forward) {
		struct virq_handle *h = NULL;
		ret = virq_vm_kvm_vfio_find_line(fd, index, subindex, &h, &line);
		if (ret == 0)
			ret = virq_arm_fwd_check(vm, gsi);
		if (ret == 0 && !(fwd = virq_arm_fwd_new(h, line)))
			ret = -ENOMEM;
		if (ret < 0) {
			if (h)
				virq_handle_put(h);
			return ret;
		}
	} else {
		/* kvm_vfio.c found the forward; its link is the SPI's (@fd may be the device's dup). */
		fwd = virq_arm_fwd_get(vm, gsi);
		if (!fwd)
			return -ENOENT;
		line = virq_arm_fwd_line(fwd);
	}
	line->ops->lock(line, &ls);
	if (forward && ls.forwarded) {
		/* The line is forwarded by another VM's kvm-vfio device. */
		line->ops->unlock(line, 0);
		virq_arm_fwd_put(fwd);
		return -EBUSY;
	}
	st->signalling = ls.signalling;
	st->active = ls.active;
	st->cookie = fwd;
	st->gen = ls.gen;
	return 0;
}

static void virq_vm_kvm_vfio_irq_unlock(void *ctx, int fd, uint32_t index, uint32_t subindex, int change,
					uint32_t gsi, struct virq_kvm_vfio_irq_state *st)
{
	struct virq_vm *vm = ctx;
	struct virq_arm_fwd *fwd = st->cookie;
	struct virq_fwd_line *line = virq_arm_fwd_line(fwd);

	(void)fd, (void)index, (void)subindex;
	if (change > 0) {
		/* Map the SPI while the line's lock still keeps it from firing (line -> fwd_lock -> GIC is
		 * the documented order), with the generation the forward is about to create: a line that fired
		 * in between would otherwise become active with nothing in the guest to complete it (a plain
		 * irqfd's pulse is gone by then). The table takes our reference. */
		virq_arm_fwd_attach(vm, gsi, fwd, st->gen + 1);
		uint64_t gen = line->ops->unlock(line, 1);
		assert(gen == st->gen + 1); /* the line's lock was held since irq_lock: nothing else bumped it */
		(void)gen;
		return;
	}
	/* Unforward: the SPI becomes ordinary before the host completes an active line, so a re-fire that
	 * follows is resampled as usual rather than waiting for a deactivation nobody would forward. */
	if (change < 0)
		virq_arm_fwd_detach(vm, gsi);
	line->ops->unlock(line, change);
	virq_arm_fwd_put(fwd);
}

static const struct virq_kvm_vfio_ops virq_vm_kvm_vfio_arm_ops = {
	.file_check = virq_vm_kvm_vfio_file_check,
	.irq_lock = virq_vm_kvm_vfio_irq_lock,
	.irq_unlock = virq_vm_kvm_vfio_irq_unlock,
};

int virq_vm_kvm_vfio_create(struct virq_vm *vm, const struct kvm_create_device *cd, struct virq_vm_kvm_vfio **out)
{
	struct virq_vm_kvm_vfio *v;
	int ret;

	*out = NULL;
	if (cd->type != KVM_DEV_TYPE_VFIO)
		return -ENODEV; /* the only device type an x86 VM registers (arm64's others: vgic_device.c) */
	if (cd->flags & KVM_CREATE_DEVICE_TEST)
		return 0;
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	ret = virq_kvm_vfio_init(&v->dev, vm->arm ? &virq_vm_kvm_vfio_arm_ops : &virq_vm_kvm_vfio_ops, vm);
	if (ret < 0) {
		free(v);
		return ret;
	}
	pthread_mutex_lock(&vm->lock);
	ret = atomic_load_explicit(&vm->kvm_vfio, memory_order_relaxed) ? -EBUSY : 0;
	if (ret == 0)
		atomic_store_explicit(&vm->kvm_vfio, &v->dev, memory_order_release);
	pthread_mutex_unlock(&vm->lock);
	if (ret < 0) {
		virq_kvm_vfio_destroy(&v->dev);
		free(v);
		return ret;
	}
	virq_vm_get(vm);
	v->vm = vm;
	*out = v;
	return 0;
}

void virq_vm_kvm_vfio_release(struct virq_vm_kvm_vfio *v)
{
	struct virq_vm *vm = v->vm;

	pthread_mutex_lock(&vm->lock);
	atomic_store_explicit(&vm->kvm_vfio, NULL, memory_order_release);
	pthread_mutex_unlock(&vm->lock);
	virq_irqfd_bypass_update_all(vm, false);
	virq_kvm_vfio_destroy(&v->dev);
	free(v);
	virq_vm_put(vm);
}

long virq_vm_kvm_vfio_ioctl(struct virq_vm_kvm_vfio *v, unsigned long request, unsigned long arg)
{
	const struct kvm_device_attr *attr = (const struct kvm_device_attr *)(uintptr_t)arg;

	if (request != KVM_SET_DEVICE_ATTR && request != KVM_GET_DEVICE_ATTR && request != KVM_HAS_DEVICE_ATTR)
		return -ENOTTY;
	if (!attr)
		return -EFAULT;
	switch (request) {
	case KVM_SET_DEVICE_ATTR:
		return virq_kvm_vfio_set_attr(&v->dev, attr->group, attr->attr, (const void *)(uintptr_t)attr->addr);
	case KVM_GET_DEVICE_ATTR:
		return virq_kvm_vfio_get_attr(&v->dev, attr->group, attr->attr, (void *)(uintptr_t)attr->addr);
	default:
		return virq_kvm_vfio_has_attr(&v->dev, attr->group, attr->attr);
	}
}
