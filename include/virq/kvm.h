/* SPDX-License-Identifier: MIT */
/*
 * virq/kvm.h - the KVM-compatible front of virq.
 *
 * A VMM written against Linux KVM's uAPI runs on virq by renaming three calls:
 *
 *     open("/dev/kvm", O_RDWR)   ->  virq_open()
 *     ioctl(fd, REQUEST, arg)    ->  virq_ioctl(fd, REQUEST, arg)
 *     close(fd)                  ->  virq_close(fd)
 *
 * and by taking a vCPU's struct kvm_run from virq_vcpu_run_struct() instead of mmap() on the vCPU fd.
 * Every handle returned (system, VM, vCPU) is a real file descriptor that virq creates and owns, so it
 * never collides with the caller's descriptors. Each call fails as the system call it stands for: -1 with
 * errno set. The semantics, errno by errno, are those of Linux KVM on x86 (docs/kvm-differences.md lists
 * where virq differs).
 *
 * This header includes only libc and <linux/kvm.h>. Names that Linux merged after the 6.1 headers Debian 12
 * ships, and the extensions virq offers from never-merged patch series, are defined here with their values.
 */
#ifndef VIRQ_KVM_H
#define VIRQ_KVM_H

#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Kernel-internal in Linux: the most routes one KVM_SET_GSI_ROUTING may install (KVM_CAP_IRQ_ROUTING). */
#ifndef KVM_MAX_IRQ_ROUTES
#define KVM_MAX_IRQ_ROUTES 4096
#endif

/* KVM_CREATE_VM type of an arm64 VM. Refused with EINVAL until virq models the GICv3. */
#define VIRQ_VM_TYPE_ARM64 0x5649u

/**
 * virq_open() - open the virq "system" handle, the counterpart of open("/dev/kvm").
 *
 * Returns a new descriptor, or -1 with errno (EMFILE, ENFILE, ENOMEM).
 */
int virq_open(void);

/**
 * virq_ioctl() - issue a KVM (or VFIO) ioctl on a virq handle.
 * @fd:      a handle from virq_open() or from an ioctl that creates one.
 * @request: the ioctl number, as in <linux/kvm.h>.
 * @...:     optional third argument, an integer or a pointer, read as unsigned long.
 *
 * Returns what KVM's ioctl returns (0, a new descriptor, a count, a status) or -1 with errno.
 * EBADF: @fd is not open. ENOTTY: @fd is open but virq did not create it, or @request is unknown to the
 * handle's kind. Other errno values are documented per request in docs/kvm-differences.md and follow KVM.
 * Context: any thread. KVM_RUN runs the guest on the calling thread.
 */
int virq_ioctl(int fd, unsigned long request, ...);

/**
 * virq_close() - close a virq handle. Closing a VM handle destroys the VM once its vCPU handles are
 * closed too (as with KVM, where vCPU files hold a reference on the VM).
 *
 * Returns 0, or -1 with errno EBADF.
 */
int virq_close(int fd);

/**
 * virq_vcpu_run_struct() - the vCPU's shared struct kvm_run area.
 *
 * The area is KVM_GET_VCPU_MMAP_SIZE bytes, so KVM_EXIT_IO's data_offset points inside it. It stays valid
 * until the vCPU handle is closed. Returns NULL with errno EBADF or ENOTTY (not a vCPU handle).
 */
struct kvm_run *virq_vcpu_run_struct(int vcpu_fd);

/**
 * virq_guest_load() - load a micro-op guest program (docs/guest.md) into a vCPU.
 *
 * Replaces any program loaded before; the vCPU starts at the program's "main:" label. Returns 0, or -1 with
 * errno: EBADF/ENOTTY (not a vCPU handle), EINVAL (the text does not parse: the message, with its line, is
 * available from virq_guest_last_error() in <virq/vcpu.h>), EBUSY (the vCPU is inside KVM_RUN).
 */
int virq_guest_load(int vcpu_fd, const char *text);

#ifdef __cplusplus
}
#endif

#endif /* VIRQ_KVM_H */
