/* SPDX-License-Identifier: MIT */
/*
 * vm_kvm_vfio.h - a VM's kvm-vfio device: creation (one per VM), the device handle's ioctls and
 * release, over kvm_vfio.c's attribute logic (see vm_kvm_vfio.c). x86: FILE and POST/UNPOST_IRQ; arm64:
 * FILE and FORWARD/UNFORWARD_IRQ.
 */
#ifndef VIRQ_ENGINE_VM_KVM_VFIO_H
#define VIRQ_ENGINE_VM_KVM_VFIO_H

#include <linux/kvm.h>

#include "engine/kvm_vfio.h"

struct virq_vm;
struct virq_vm_kvm_vfio;

/* KVM_CREATE_DEVICE of KVM_DEV_TYPE_VFIO (x86 or arm64): -ENODEV for any other type; with
 * KVM_CREATE_DEVICE_TEST 0 and *out NULL; -EBUSY if the VM has one; -ENOMEM. Takes a VM reference. */
int virq_vm_kvm_vfio_create(struct virq_vm *vm, const struct kvm_create_device *cd, struct virq_vm_kvm_vfio **out);
/* The device's last reference went away (its descriptor closed). */
void virq_vm_kvm_vfio_release(struct virq_vm_kvm_vfio *v);
/* KVM_{SET,GET,HAS}_DEVICE_ATTR; anything else -ENOTTY. */
long virq_vm_kvm_vfio_ioctl(struct virq_vm_kvm_vfio *v, unsigned long request, unsigned long arg);

#endif /* VIRQ_ENGINE_VM_KVM_VFIO_H */
