/* SPDX-License-Identifier: MIT */
/*
 * virq/vm.h - the native API of a VM: the typed calls that the KVM-compatible front (virq/kvm.h)
 * dispatches to, for programs that embed virq directly.
 *
 * Conventions: functions return 0 or a non-negative count on success and -errno on failure; a failed
 * call changes nothing. Unless stated otherwise every function may be called from any thread. The
 * errno values are KVM's for the same input (docs/kvm-differences.md lists the exceptions).
 */
#ifndef VIRQ_VM_H
#define VIRQ_VM_H

#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct virq_vm;
struct virq_vcpu;

/**
 * virq_vm_create() - create a VM (KVM_CREATE_VM).
 * @type: 0 for x86. VIRQ_VM_TYPE_ARM64 and anything else: -EINVAL.
 * Returns 0 and a VM holding one reference in *@out, or -EINVAL, -ENOMEM.
 */
int virq_vm_create(unsigned long type, struct virq_vm **out);

/* Drop a reference; the last one destroys the VM (irqfds torn down first, then vCPUs). */
void virq_vm_put(struct virq_vm *vm);

/**
 * virq_vm_check_extension() - KVM_CHECK_EXTENSION; @vm may be NULL (asked on the system handle).
 * Returns the capability's value, 0 when virq does not have it.
 */
long virq_vm_check_extension(struct virq_vm *vm, long cap);

/**
 * virq_vm_create_irqchip() - KVM_CREATE_IRQCHIP: IOAPIC at 0xfec00000, a LAPIC for every later vCPU,
 * default GSI routes (GSI 0-15 -> IOAPIC pin n and the PIC; 16-23 -> IOAPIC pin n). virq has no 8259 PIC:
 * PIC routes are accepted and deliver nothing, as a PIC masking every line would.
 * Returns 0, -EEXIST (irqchip exists), -EINVAL (a vCPU exists), -ENOMEM.
 */
int virq_vm_create_irqchip(struct virq_vm *vm);

/* KVM_GET_IRQCHIP / KVM_SET_IRQCHIP of the IOAPIC. -ENXIO without an irqchip and for the PIC chip ids
 * (virq has no PIC), -EINVAL for an unknown chip id. */
int virq_vm_get_irqchip(struct virq_vm *vm, struct kvm_irqchip *chip);
int virq_vm_set_irqchip(struct virq_vm *vm, const struct kvm_irqchip *chip);

/**
 * virq_vm_set_memory_region() - KVM_SET_USER_MEMORY_REGION.
 * Returns 0, -EINVAL (flags, alignment, slot id, address space, size change of a live slot, deleting an
 * empty slot), -EEXIST (overlaps another slot), -ENOMEM.
 */
int virq_vm_set_memory_region(struct virq_vm *vm, const struct kvm_userspace_memory_region *region);

/**
 * virq_vm_set_gsi_routing() - KVM_SET_GSI_ROUTING: build, validate and swap the whole table. When it
 * returns, no delivery uses the old table. Returns 0 or -EINVAL (see docs), -ENOMEM; on error the old
 * table stays in force.
 */
int virq_vm_set_gsi_routing(struct virq_vm *vm, const struct kvm_irq_routing *routing);

/**
 * virq_vm_irq_line() - KVM_IRQ_LINE(_STATUS): set GSI @gsi to @level (non-zero = asserted) on the
 * userspace source. Stores KVM's status (-1 ignored, 0 coalesced, >0 delivered) in *@status if not NULL.
 * Returns 0 or -ENXIO (no irqchip).
 */
int virq_vm_irq_line(struct virq_vm *vm, uint32_t gsi, uint32_t level, int32_t *status);

/**
 * virq_vm_signal_msi() - KVM_SIGNAL_MSI. Returns the number of vCPUs that accepted it (0 if the guest
 * blocked it), -1 as a raw value when no vCPU matched at all (KVM returns it and it surfaces as EPERM),
 * -EINVAL (no irqchip, unknown flags).
 */
int virq_vm_signal_msi(struct virq_vm *vm, const struct kvm_msi *msi);

/**
 * virq_vm_irqfd() - KVM_IRQFD assign or deassign (see docs/irqfd.md). The eventfds stay owned by the
 * caller; virq keeps its own duplicates. Returns 0, -EINVAL, -EBADF, -EBUSY, -ENOMEM.
 */
int virq_vm_irqfd(struct virq_vm *vm, const struct kvm_irqfd *irqfd);

/**
 * virq_vm_enable_cap() - KVM_ENABLE_CAP on the VM. Supported: KVM_CAP_HALT_POLL (args[0] = maximum
 * halt-polling ns, 0 = off). Returns 0 or -EINVAL (flags, unknown cap, bad args).
 */
int virq_vm_enable_cap(struct virq_vm *vm, const struct kvm_enable_cap *cap);

/* Per-GSI counters. */
struct virq_gsi_counts {
	uint64_t raised;     /* asserts and MSI signals (de-asserts are not counted) */
	uint64_t delivered;  /* reached at least one LAPIC */
	uint64_t coalesced;  /* merged into a request already pending */
	uint64_t ignored;    /* masked, no route, nobody accepted, or a level pin with remote IRR set: that
			      * assert stays pending in the IOAPIC and is delivered at the EOI */
	uint64_t irqfd_signals; /* eventfd signals consumed by irqfds on this GSI */
	uint64_t resamples;  /* resampler acks (EOI or unmask) */
};
int virq_vm_gsi_counts(struct virq_vm *vm, uint32_t gsi, struct virq_gsi_counts *out);

/**
 * virq_vm_vcpu_create() - KVM_CREATE_VCPU: vCPU @id is also its APIC ID.
 * Returns 0 and the vCPU (holding a VM reference) in *@out, or -EINVAL (id >= 256), -EEXIST, -ENOMEM.
 */
int virq_vm_vcpu_create(struct virq_vm *vm, unsigned long id, struct virq_vcpu **out);

/*
 * virq_vm_of_fd() - the VM behind a VM handle of the KVM-compatible front, so a program that drives virq
 * through <virq/kvm.h> can also read the native counters. The pointer is borrowed: valid while the
 * handle stays open. NULL with errno EBADF or ENOTTY.
 */
struct virq_vm *virq_vm_of_fd(int vm_fd);

#ifdef __cplusplus
}
#endif

#endif /* VIRQ_VM_H */
