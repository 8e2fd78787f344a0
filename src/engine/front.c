/* SPDX-License-Identifier: MIT */
/*
 * front.c - the KVM-compatible front (include/virq/kvm.h): the system, VM and vCPU handle kinds and
 * their ioctl dispatch to the native API. The descriptors themselves live in the process-wide handle
 * table (src/handle/), which the host simulation's VFIO devices share.
 *
 * Unknown requests fail as KVM's do on x86: EINVAL on the system and vCPU handles, ENOTTY on a VM.
 * VMs also make device handles (KVM_CREATE_DEVICE): an arm64 VM the vGICv3 and its ITSes (engine/arm_vm.h),
 * either the kvm-vfio device (engine/vm_kvm_vfio.h); they take the KVM_{SET,GET,HAS}_DEVICE_ATTR ioctls
 * and ENOTTY for anything else.
 */
#define _GNU_SOURCE
#include "virq/kvm.h"

#include <errno.h>
#include <stdarg.h>

#include "engine/arm_vm.h"
#include "engine/vcpu.h"
#include "engine/vm.h"
#include "engine/vm_kvm_vfio.h"
#include "handle/handle.h"
#include "virq/vcpu.h"
#include "virq/vm.h"

#define VIRQ_KVM_API_VERSION 12

static _Thread_local char virq_guest_error[160];

static int virq_fail(long ret)
{
	if (ret < 0) {
		errno = (int)-ret;
		return -1;
	}
	return (int)ret;
}

static long virq_system_ioctl(void *object, unsigned long request, unsigned long arg);
static long virq_vm_ioctl(void *object, unsigned long request, unsigned long arg);
static long virq_vcpu_ioctl(void *object, unsigned long request, unsigned long arg);
static long virq_device_ioctl(void *object, unsigned long request, unsigned long arg);

static void virq_system_release(void *object)
{
	(void)object;
}

static void virq_vm_handle_closed(void *object)
{
	virq_irqfd_reap_closed(object);
}

static void virq_vm_handle_release(void *object)
{
	virq_vm_put(object);
}

static void virq_vcpu_handle_release(void *object)
{
	virq_vcpu_put(object);
}

static void virq_device_handle_release(void *object)
{
	virq_arm_device_release(object);
}

static long virq_device_ioctl(void *object, unsigned long request, unsigned long arg)
{
	return virq_arm_device_ioctl(object, request, arg);
}

static void virq_kvm_vfio_handle_release(void *object)
{
	virq_vm_kvm_vfio_release(object);
}

static long virq_kvm_vfio_ioctl(void *object, unsigned long request, unsigned long arg)
{
	return virq_vm_kvm_vfio_ioctl(object, request, arg);
}

static const struct virq_handle_ops virq_system_handle = {
	.name = "virq-system", .ioctl = virq_system_ioctl, .release = virq_system_release,
};
static const struct virq_handle_ops virq_vm_handle = {
	.name = "virq-vm", .ioctl = virq_vm_ioctl, .closed = virq_vm_handle_closed,
	.release = virq_vm_handle_release,
};
static const struct virq_handle_ops virq_vcpu_handle = {
	.name = "virq-vcpu", .ioctl = virq_vcpu_ioctl, .release = virq_vcpu_handle_release,
};
static const struct virq_handle_ops virq_device_handle = {
	.name = "virq-device", .ioctl = virq_device_ioctl, .release = virq_device_handle_release,
};
static const struct virq_handle_ops virq_kvm_vfio_handle = {
	.name = "virq-device", .ioctl = virq_kvm_vfio_ioctl, .release = virq_kvm_vfio_handle_release,
};

int virq_open(void)
{
	return virq_fail(virq_handle_create(&virq_system_handle, NULL));
}

int virq_close(int fd)
{
	return virq_fail(virq_handle_close(fd));
}

/* Copy-in helpers: a NULL user pointer is KVM's -EFAULT. */
#define VIRQ_ARG(type, arg) ((type *)(uintptr_t)(arg))

static long virq_system_ioctl(void *object, unsigned long request, unsigned long arg)
{
	(void)object;
	struct virq_vm *vm;
	int fd, ret;

	switch (request) {
	case KVM_GET_API_VERSION:
		return arg ? -EINVAL : VIRQ_KVM_API_VERSION;
	case KVM_CHECK_EXTENSION:
		return virq_vm_check_extension(NULL, (long)arg);
	case KVM_GET_VCPU_MMAP_SIZE:
		return arg ? -EINVAL : VIRQ_VCPU_RUN_SIZE;
	case KVM_CREATE_VM:
		ret = virq_vm_create(arg, &vm);
		if (ret < 0)
			return ret;
		fd = virq_handle_create(&virq_vm_handle, vm);
		if (fd < 0)
			virq_vm_put(vm);
		return fd;
	default:
		return -EINVAL;
	}
}

static long virq_vm_create_vcpu_handle(struct virq_vm *vm, unsigned long id)
{
	struct virq_vcpu *vcpu;
	int ret = virq_vm_vcpu_create(vm, id, &vcpu);

	if (ret < 0)
		return ret;
	ret = virq_handle_create(&virq_vcpu_handle, vcpu);
	if (ret < 0)
		virq_vm_vcpu_abandon(vcpu);
	return ret;
}

static long virq_vm_irq_line_ioctl(struct virq_vm *vm, unsigned long request, struct kvm_irq_level *line)
{
	int32_t status;
	int ret;

	if (!line)
		return -EFAULT;
	ret = virq_vm_irq_line(vm, line->irq, line->level, &status);
	if (ret == 0 && request == KVM_IRQ_LINE_STATUS)
		line->status = status;
	return ret;
}

/*
 * KVM_CREATE_DEVICE: the new descriptor goes back in cd->fd, as KVM writes it (0 is returned). arm64:
 * the vGICv3, its ITSes and the kvm-vfio device (forwarding); x86: the kvm-vfio device.
 * KVM_CREATE_DEVICE_TEST creates nothing.
 */
static long virq_vm_create_device_ioctl(struct virq_vm *vm, struct kvm_create_device *cd)
{
	const struct virq_handle_ops *kind;
	void *dev;
	int ret;

	if (!cd)
		return -EFAULT;
	bool vgic = vm->arm && cd->type != KVM_DEV_TYPE_VFIO;
	kind = vgic ? &virq_device_handle : &virq_kvm_vfio_handle;
	if (vgic) {
		struct virq_arm_device *arm_dev;
		ret = virq_arm_create_device(vm, cd, &arm_dev);
		dev = arm_dev;
	} else {
		struct virq_vm_kvm_vfio *vfio_dev;
		ret = virq_vm_kvm_vfio_create(vm, cd, &vfio_dev);
		dev = vfio_dev;
	}
	if (ret < 0 || !dev)
		return ret;
	ret = virq_handle_create(kind, dev);
	if (ret < 0) {
		kind->release(dev);
		return ret;
	}
	cd->fd = (uint32_t)ret;
	return 0;
}

static long virq_vm_set_gsi_routing_ioctl(struct virq_vm *vm, const struct kvm_irq_routing *routing)
{
	if (!routing)
		return -EFAULT;
	return virq_vm_set_gsi_routing(vm, routing);
}

static long virq_vm_ioctl(void *object, unsigned long request, unsigned long arg)
{
	struct virq_vm *vm = object;

	switch (request) {
	case KVM_CREATE_VCPU:
		return virq_vm_create_vcpu_handle(vm, arg);
	case KVM_CREATE_IRQCHIP:
		return virq_vm_create_irqchip(vm);
	case KVM_CHECK_EXTENSION:
		return virq_vm_check_extension(vm, (long)arg);
	case KVM_IRQ_LINE:
	case KVM_IRQ_LINE_STATUS:
		return virq_vm_irq_line_ioctl(vm, request, VIRQ_ARG(struct kvm_irq_level, arg));
	case KVM_SET_GSI_ROUTING:
		return virq_vm_set_gsi_routing_ioctl(vm, VIRQ_ARG(struct kvm_irq_routing, arg));
	case KVM_CREATE_DEVICE:
		return virq_vm_create_device_ioctl(vm, VIRQ_ARG(struct kvm_create_device, arg));
	}
	/* The rest take a structure; a NULL pointer is -EFAULT, as copy_from_user would say. */
	if (!arg && (request == KVM_IRQFD || request == KVM_SIGNAL_MSI || request == KVM_ENABLE_CAP ||
		     request == KVM_SET_USER_MEMORY_REGION || request == KVM_GET_IRQCHIP ||
		     request == KVM_SET_IRQCHIP || request == KVM_REGISTER_MSIX_MMIO ||
		     request == KVM_UNREGISTER_MSIX_MMIO))
		return -EFAULT;
	switch (request) {
	case KVM_IRQFD:
		return virq_vm_irqfd(vm, VIRQ_ARG(struct kvm_irqfd, arg));
	case KVM_SIGNAL_MSI:
		return virq_vm_signal_msi(vm, VIRQ_ARG(struct kvm_msi, arg));
	case KVM_ENABLE_CAP:
		return virq_vm_enable_cap(vm, VIRQ_ARG(struct kvm_enable_cap, arg));
	case KVM_SET_USER_MEMORY_REGION:
		return virq_vm_set_memory_region(vm, VIRQ_ARG(struct kvm_userspace_memory_region, arg));
	case KVM_GET_IRQCHIP:
		return virq_vm_get_irqchip(vm, VIRQ_ARG(struct kvm_irqchip, arg));
	case KVM_SET_IRQCHIP:
		return virq_vm_set_irqchip(vm, VIRQ_ARG(struct kvm_irqchip, arg));
	case KVM_REGISTER_MSIX_MMIO:
		return virq_vm_register_msix_mmio(vm, VIRQ_ARG(struct kvm_msix_mmio_user, arg));
	case KVM_UNREGISTER_MSIX_MMIO:
		return virq_vm_unregister_msix_mmio(vm, VIRQ_ARG(struct kvm_msix_mmio_user, arg));
	default:
		return -ENOTTY;
	}
}

static long virq_vcpu_ioctl(void *object, unsigned long request, unsigned long arg)
{
	struct virq_vcpu *vcpu = object;

	switch (request) {
	case KVM_RUN:
		return arg ? -EINVAL : virq_vcpu_run(vcpu);
	case KVM_GET_MP_STATE:
		return arg ? virq_vcpu_get_mp_state(vcpu, VIRQ_ARG(struct kvm_mp_state, arg)) : -EFAULT;
	case KVM_SET_MP_STATE:
		return arg ? virq_vcpu_set_mp_state(vcpu, VIRQ_ARG(struct kvm_mp_state, arg)) : -EFAULT;
	default:
		return -EINVAL;
	}
}

int virq_ioctl(int fd, unsigned long request, ...)
{
	unsigned long arg;
	va_list ap;

	va_start(ap, request);
	arg = va_arg(ap, unsigned long);
	va_end(ap);
	return virq_fail(virq_handle_ioctl(fd, request, arg));
}

struct kvm_run *virq_vcpu_run_struct(int vcpu_fd)
{
	struct virq_vcpu *vcpu = virq_handle_borrow(vcpu_fd, &virq_vcpu_handle);

	return vcpu ? virq_vcpu_kvm_run(vcpu) : NULL;
}

int virq_guest_load(int vcpu_fd, const char *text)
{
	struct virq_handle *h;
	int ret = virq_handle_get(vcpu_fd, &virq_vcpu_handle, &h);

	virq_guest_error[0] = '\0';
	if (ret < 0)
		return virq_fail(ret);
	ret = virq_vcpu_load_guest(virq_handle_object(h), text, virq_guest_error, sizeof(virq_guest_error));
	virq_handle_put(h);
	return virq_fail(ret);
}

const char *virq_guest_last_error(void)
{
	return virq_guest_error;
}

struct virq_vm *virq_vm_of_fd(int vm_fd)
{
	return virq_handle_borrow(vm_fd, &virq_vm_handle);
}

struct virq_vcpu *virq_vcpu_of_fd(int vcpu_fd)
{
	return virq_handle_borrow(vcpu_fd, &virq_vcpu_handle);
}
