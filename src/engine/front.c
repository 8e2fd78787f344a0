/* SPDX-License-Identifier: MIT */
/*
 * front.c - the KVM-compatible front (include/virq/kvm.h): the process-wide handle table and the ioctl
 * dispatch to the native API.
 *
 * Every handle is a real descriptor (a memfd named after its kind) that virq creates and owns, so it
 * never collides with the caller's descriptors and shows up in /proc/self/fd. The handle table maps a
 * descriptor number to its object; it is the only process-wide table of the front and sits behind one
 * mutex. A lookup takes a reference, so closing a handle while another thread is inside an ioctl on it is
 * safe: the object goes away when that ioctl returns.
 *
 * Unknown requests fail as KVM's do on x86: EINVAL on the system and vCPU handles, ENOTTY on a VM.
 */
#define _GNU_SOURCE
#include "virq/kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "engine/vcpu.h"
#include "engine/vm.h"
#include "virq/vcpu.h"
#include "virq/vm.h"

#define VIRQ_KVM_API_VERSION 12

enum virq_handle_kind { VIRQ_HANDLE_SYSTEM, VIRQ_HANDLE_VM, VIRQ_HANDLE_VCPU };

struct virq_handle {
	enum virq_handle_kind kind;   /* [I] */
	_Atomic int refs;             /* [A] the table's reference + one per ioctl in progress */
	union {
		struct virq_vm *vm;     /* VIRQ_HANDLE_VM */
		struct virq_vcpu *vcpu; /* VIRQ_HANDLE_VCPU */
	};
};

static pthread_mutex_t virq_handles_lock = PTHREAD_MUTEX_INITIALIZER;
static struct virq_handle **virq_handles; /* [L:virq_handles_lock] indexed by descriptor */
static int virq_handles_size;             /* [L:virq_handles_lock] */

static _Thread_local char virq_guest_error[160];

static void virq_handle_put(struct virq_handle *h)
{
	if (atomic_fetch_sub_explicit(&h->refs, 1, memory_order_acq_rel) != 1)
		return;
	if (h->kind == VIRQ_HANDLE_VM)
		virq_vm_put(h->vm);
	else if (h->kind == VIRQ_HANDLE_VCPU)
		virq_vcpu_put(h->vcpu);
	free(h);
}

static int virq_handle_install(int fd, struct virq_handle *h)
{
	int ret = 0;

	pthread_mutex_lock(&virq_handles_lock);
	if (fd >= virq_handles_size) {
		int size = fd + 64;
		struct virq_handle **grown = realloc(virq_handles, (size_t)size * sizeof(*grown));
		if (!grown) {
			ret = -ENOMEM;
			goto out_unlock;
		}
		memset(grown + virq_handles_size, 0, (size_t)(size - virq_handles_size) * sizeof(*grown));
		virq_handles = grown;
		virq_handles_size = size;
	}
	virq_handles[fd] = h;
out_unlock:
	pthread_mutex_unlock(&virq_handles_lock);
	return ret;
}

/* Create a descriptor for a new object. Returns the fd or -errno; on failure @h is not consumed. */
static int virq_handle_create(enum virq_handle_kind kind, void *object)
{
	static const char *const names[] = { "virq-system", "virq-vm", "virq-vcpu" };
	struct virq_handle *h = calloc(1, sizeof(*h));
	int fd, ret;

	if (!h)
		return -ENOMEM;
	h->kind = kind;
	atomic_init(&h->refs, 1);
	if (kind == VIRQ_HANDLE_VM)
		h->vm = object;
	else if (kind == VIRQ_HANDLE_VCPU)
		h->vcpu = object;
	fd = memfd_create(names[kind], MFD_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		free(h);
		return ret;
	}
	ret = virq_handle_install(fd, h);
	if (ret < 0) {
		close(fd);
		free(h);
		return ret;
	}
	return fd;
}

/* Find the handle of @fd and take a reference. -EBADF if @fd is not open, -ENOTTY if it is not ours. */
static int virq_handle_get(int fd, struct virq_handle **out)
{
	struct virq_handle *h = NULL;

	pthread_mutex_lock(&virq_handles_lock);
	if (fd >= 0 && fd < virq_handles_size)
		h = virq_handles[fd];
	if (h)
		atomic_fetch_add_explicit(&h->refs, 1, memory_order_relaxed);
	pthread_mutex_unlock(&virq_handles_lock);
	if (h) {
		*out = h;
		return 0;
	}
	return fd >= 0 && fcntl(fd, F_GETFD) >= 0 ? -ENOTTY : -EBADF;
}

static int virq_fail(int ret)
{
	if (ret < 0) {
		errno = -ret;
		return -1;
	}
	return ret;
}

int virq_open(void)
{
	return virq_fail(virq_handle_create(VIRQ_HANDLE_SYSTEM, NULL));
}

int virq_close(int fd)
{
	struct virq_handle *h = NULL;

	pthread_mutex_lock(&virq_handles_lock);
	if (fd >= 0 && fd < virq_handles_size) {
		h = virq_handles[fd];
		virq_handles[fd] = NULL;
	}
	pthread_mutex_unlock(&virq_handles_lock);
	if (!h)
		return virq_fail(-EBADF);
	close(fd);
	if (h->kind == VIRQ_HANDLE_VM)
		virq_irqfd_reap_closed(h->vm);
	virq_handle_put(h);
	return 0;
}

/* Copy-in helpers: a NULL user pointer is KVM's -EFAULT. */
#define VIRQ_ARG(type, arg) ((type *)(uintptr_t)(arg))

static long virq_system_ioctl(unsigned long request, unsigned long arg)
{
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
		fd = virq_handle_create(VIRQ_HANDLE_VM, vm);
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
	ret = virq_handle_create(VIRQ_HANDLE_VCPU, vcpu);
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

static long virq_vm_set_gsi_routing_ioctl(struct virq_vm *vm, const struct kvm_irq_routing *routing)
{
	if (!routing)
		return -EFAULT;
	return virq_vm_set_gsi_routing(vm, routing);
}

static long virq_vm_ioctl(struct virq_vm *vm, unsigned long request, unsigned long arg)
{
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
	}
	/* The rest take a structure; a NULL pointer is -EFAULT, as copy_from_user would say. */
	if (!arg && (request == KVM_IRQFD || request == KVM_SIGNAL_MSI || request == KVM_ENABLE_CAP ||
		     request == KVM_SET_USER_MEMORY_REGION || request == KVM_GET_IRQCHIP ||
		     request == KVM_SET_IRQCHIP))
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
	default:
		return -ENOTTY;
	}
}

static long virq_vcpu_ioctl(struct virq_vcpu *vcpu, unsigned long request, unsigned long arg)
{
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
	struct virq_handle *h;
	unsigned long arg;
	va_list ap;
	long ret;

	va_start(ap, request);
	arg = va_arg(ap, unsigned long);
	va_end(ap);

	ret = virq_handle_get(fd, &h);
	if (ret < 0)
		return virq_fail((int)ret);
	switch (h->kind) {
	case VIRQ_HANDLE_SYSTEM:
		ret = virq_system_ioctl(request, arg);
		break;
	case VIRQ_HANDLE_VM:
		ret = virq_vm_ioctl(h->vm, request, arg);
		break;
	case VIRQ_HANDLE_VCPU:
		ret = virq_vcpu_ioctl(h->vcpu, request, arg);
		break;
	}
	virq_handle_put(h);
	return virq_fail((int)ret);
}

static int virq_vcpu_handle_get(int fd, struct virq_handle **out)
{
	int ret = virq_handle_get(fd, out);

	if (ret == 0 && (*out)->kind != VIRQ_HANDLE_VCPU) {
		virq_handle_put(*out);
		ret = -ENOTTY;
	}
	return ret;
}

struct kvm_run *virq_vcpu_run_struct(int vcpu_fd)
{
	struct virq_handle *h;
	int ret = virq_vcpu_handle_get(vcpu_fd, &h);

	if (ret < 0) {
		errno = -ret;
		return NULL;
	}
	struct kvm_run *run = virq_vcpu_kvm_run(h->vcpu);
	virq_handle_put(h);
	return run;
}

int virq_guest_load(int vcpu_fd, const char *text)
{
	struct virq_handle *h;
	int ret = virq_vcpu_handle_get(vcpu_fd, &h);

	virq_guest_error[0] = '\0';
	if (ret < 0)
		return virq_fail(ret);
	ret = virq_vcpu_load_guest(h->vcpu, text, virq_guest_error, sizeof(virq_guest_error));
	virq_handle_put(h);
	return virq_fail(ret);
}

const char *virq_guest_last_error(void)
{
	return virq_guest_error;
}

/* Borrowed object of a handle of @kind; the caller keeps the handle open while using it. */
static void *virq_handle_object(int fd, enum virq_handle_kind kind)
{
	struct virq_handle *h;
	void *object;
	int ret = virq_handle_get(fd, &h);

	if (ret < 0) {
		errno = -ret;
		return NULL;
	}
	object = h->kind == VIRQ_HANDLE_VM && kind == VIRQ_HANDLE_VM ? (void *)h->vm
	       : h->kind == VIRQ_HANDLE_VCPU && kind == VIRQ_HANDLE_VCPU ? (void *)h->vcpu : NULL;
	virq_handle_put(h);
	if (!object)
		errno = ENOTTY;
	return object;
}

struct virq_vm *virq_vm_of_fd(int vm_fd)
{
	return virq_handle_object(vm_fd, VIRQ_HANDLE_VM);
}

struct virq_vcpu *virq_vcpu_of_fd(int vcpu_fd)
{
	return virq_handle_object(vcpu_fd, VIRQ_HANDLE_VCPU);
}
