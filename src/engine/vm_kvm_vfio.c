/* SPDX-License-Identifier: MIT */
/*
 * vm_kvm_vfio.c - the kvm-vfio device of an x86 VM (KVM_CREATE_DEVICE with KVM_DEV_TYPE_VFIO; Linux's
 * virt/kvm/vfio.c kvm_vfio_create): one per VM (a second is -EBUSY), its attributes handled by
 * kvm_vfio.c, its POST_IRQ / UNPOST_IRQ overrides read by the VM's bypass decisions (irqfd.c).
 *
 * What the engine answers itself, and why: "is this fd a VFIO device?" needs no host header, because
 * the host's VFIO descriptors are virq handles (src/handle/) of kind "virq-vfio-device"; the handle table
 * tells open (-EBADF otherwise) and virq's (-EINVAL otherwise, as for any file that is not VFIO).
 * FORWARD/UNFORWARD_IRQ need the host's IRQ state and an Arm GIC to forward to: not offered on x86
 * (irq_lock NULL: -ENXIO, as the merged kernel answers for group 2).
 *
 * Lifetime: the device holds a VM reference. At release vm->kvm_vfio is cleared first, then every
 * bypassed irqfd is re-decided (each under its own lock), so no decision can still be reading the
 * device's overrides when it is freed; its overrides die with it (the decisions go back to automatic).
 */
#include "engine/vm_kvm_vfio.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

int virq_vm_kvm_vfio_create(struct virq_vm *vm, const struct kvm_create_device *cd, struct virq_vm_kvm_vfio **out)
{
	struct virq_vm_kvm_vfio *v;
	int ret;

	*out = NULL;
	if (cd->type != KVM_DEV_TYPE_VFIO)
		return -ENODEV; /* the only device type an x86 VM registers here */
	if (cd->flags & KVM_CREATE_DEVICE_TEST)
		return 0;
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	ret = virq_kvm_vfio_init(&v->dev, &virq_vm_kvm_vfio_ops, vm);
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
