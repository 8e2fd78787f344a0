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
#include <linux/pci_regs.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virq/kvm.h"

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
	uint64_t pended;     /* asserts held in an MSI-X pending bit (masked or route out of date); each is
			      * counted delivered/coalesced/ignored when its entry replays it, so
			      * raised = delivered + coalesced + ignored + the entry's pending bit (0 or 1) */
};
int virq_vm_gsi_counts(struct virq_vm *vm, uint32_t gsi, struct virq_gsi_counts *out);

/*
 * MSI-X table emulation (seed 002, docs/msix-mmio.md). A device's table and PBA are registered with
 * virq_vm_register_msix_mmio() (KVM_REGISTER_MSIX_MMIO); guest accesses to them are then handled inside
 * KVM_RUN. The engine owns the table state from then on: base_va (the VMM's copy) is read at
 * registration and by virq_vm_msix_mmio_restore(), and written by virq_vm_msix_mmio_save() and at
 * unregistration. A device is named by dev_id; its table and PBA are two registrations of it.
 */

/**
 * virq_vm_register_msix_mmio() - KVM_REGISTER_MSIX_MMIO: claim the table or PBA window @u describes and
 * load its state from u->base_va (a table: entries of 16 bytes; a PBA: (max_entries_nr + 63) / 64 qwords).
 * Registering the table and the PBA of one dev_id (in either order) needs the same max_entries_nr.
 * A new device starts with MSI-X enabled and not function-masked (see virq_vm_msix_mmio_set_control).
 * Returns 0, or -EINVAL (non-zero flags or reserved, type not exactly ASSIGNED_DEV plus one of
 * BASE_TABLE / BASE_PBA, max_entries_nr 0 or above 2048 or differing from the device's, base_addr not
 * aligned (16 bytes for a table, 8 for a PBA), window wrapping past 2^64, base_va not aligned likewise),
 * -EFAULT (base_va NULL), -EEXIST (dev_id+type registered, or the window overlaps a registered one, the
 * LAPIC page or the IOAPIC window), -ENOSPC (VIRQ_MSIX_MAX_REGIONS windows registered), -ENOMEM.
 */
#define VIRQ_MSIX_MAX_ENTRIES 2048 /* PCI: the table size field encodes N - 1 in 11 bits */
#define VIRQ_MSIX_MAX_REGIONS 256  /* windows per VM: a table and a PBA for 128 devices */
int virq_vm_register_msix_mmio(struct virq_vm *vm, const struct kvm_msix_mmio_user *u);

/**
 * virq_vm_unregister_msix_mmio() - KVM_UNREGISTER_MSIX_MMIO, keyed by u->dev_id and u->type (the other
 * fields are ignored but flags and reserved must be 0). The window's state is written to its base_va
 * first, so the VMM can take over. When the device's last window goes, its GSI bindings go too.
 * Returns 0, -EINVAL (flags, reserved, type as for registration), -ENXIO (not registered).
 */
int virq_vm_unregister_msix_mmio(struct virq_vm *vm, const struct kvm_msix_mmio_user *u);

/**
 * virq_vm_msix_mmio_bind() - say which GSI delivers table entry @entry of device @dev_id, so that the
 * entry's mask bit, the function mask and pending bits act on that GSI's deliveries (irqfds, KVM_IRQ_LINE).
 * The GSI's route itself stays the VMM's (KVM_SET_GSI_ROUTING). @gsi VIRQ_MSIX_NO_GSI unbinds. Binding
 * also confirms the entry's route is current (ends the hold after a routing update) and delivers a
 * pending event if the entry is deliverable. When it returns, every later delivery on @gsi is gated.
 * Returns 0, -ENXIO (no such device), -EINVAL (entry or gsi out of range), -EBUSY (@gsi is bound to
 * another entry).
 */
#define VIRQ_MSIX_NO_GSI UINT32_MAX
int virq_vm_msix_mmio_bind(struct virq_vm *vm, uint32_t dev_id, uint32_t entry, uint32_t gsi);

/**
 * virq_vm_msix_mmio_set_control() - the function's MSI-X Message Control register, which lives in config
 * space (the VMM's), as the guest wrote it: PCI_MSIX_FLAGS_ENABLE and PCI_MSIX_FLAGS_MASKALL are used,
 * other bits ignored. Disabled or function-masked, every vector is held pending; clearing either
 * delivers what is pending. Any thread, also while vCPUs run.
 * Returns 0 or -ENXIO (no such device).
 */
int virq_vm_msix_mmio_set_control(struct virq_vm *vm, uint32_t dev_id, uint16_t msg_ctrl);

/**
 * virq_vm_msix_mmio_save() - write the device's table and pending bits to the base_va of its windows
 * (a snapshot; pending bits may change right after on other threads). Any thread.
 * virq_vm_msix_mmio_restore() - the reverse: reload the engine's state from the base_va copies, the
 * save/restore path. Refused while any vCPU of the VM is inside KVM_RUN (the guest may be programming the
 * table: a VMM overwriting it then loses the guest's writes); delivers what the restored state has
 * pending and unmasked. Both return 0, -ENXIO (no such device); restore also -EBUSY.
 */
int virq_vm_msix_mmio_save(struct virq_vm *vm, uint32_t dev_id);
int virq_vm_msix_mmio_restore(struct virq_vm *vm, uint32_t dev_id);

/* What the in-engine table did for one device (relaxed counters, exact once traffic stops). */
struct virq_msix_counts {
	uint64_t reads, writes;   /* guest accesses handled without an exit (table and PBA) */
	uint64_t ignored;         /* of those, ignored: bad size or alignment, writes to the PBA */
	uint64_t mask_changes;    /* per-vector mask bit transitions */
	uint64_t routing_exits;   /* KVM_EXIT_MSIX_ROUTING_UPDATE exits */
	uint64_t pended;          /* deliveries held in a pending bit (0 -> 1 transitions) */
	uint64_t replayed;        /* pending events delivered at unmask, route update, bind or restore */
};
/* Returns 0 or -ENXIO. */
int virq_vm_msix_mmio_counts(struct virq_vm *vm, uint32_t dev_id, struct virq_msix_counts *out);

/*
 * How an irqfd's interrupts reach the guest, for `virq explain` (issue 6). An irqfd is a bypass consumer:
 * when a host interrupt with the same eventfd is registered (a VFIO MSI/MSI-X vector), the two are
 * paired. On x86 the bypass policy then decides between posting it (the IOMMU writes the target vCPU's
 * posted-interrupt descriptor: no eventfd, no engine thread) and remapping it (the host signals the
 * eventfd, the irqfd injects); docs/posted.md has the policy and its reasons. On arm64 the irqfd's MSI
 * route (with a DeviceID) is resolved through the vITS: when it translates to an LPI that can be
 * delivered, the device's raise latches that LPI itself (GICv4-like direct injection: no eventfd, no
 * engine thread), otherwise the host signals the eventfd and the irqfd injects through the ITS, with
 * the reason; docs/forwarding.md ("MSIs straight to the LPI") has the rules and the reasons.
 */
enum virq_irqfd_path {
	VIRQ_IRQFD_PATH_SOFTWARE = 0, /* no paired producer: whoever signals the eventfd, the irqfd injects;
				       * arm64: also paired but not direct (reason "software: ...") */
	VIRQ_IRQFD_PATH_REMAPPED,     /* x86, paired, remapped: host handler -> eventfd -> irqfd */
	VIRQ_IRQFD_PATH_POSTED,       /* x86, paired, posted to one vCPU's descriptor */
	VIRQ_IRQFD_PATH_DIRECT_LPI,   /* arm64, paired: the raise latches LPI @intid (target vCPU @vcpu) */
};
struct virq_irqfd_bypass_state {
	enum virq_irqfd_path path;
	uint32_t gsi;
	uint32_t vcpu;          /* posted: the target vCPU (its APIC ID is the same) */
	uint8_t vector;         /* posted: the guest vector the IOMMU posts */
	char reason[96];        /* the policy's reason in words ("posted: fixed delivery to APIC 1 ..."),
				 * or why there is no bypass ("no host interrupt shares this eventfd") */
	uint64_t posts, remaps; /* times the producer was programmed posted / back to remapped (arm64:
				 * direct to an LPI, including re-resolutions / back to the eventfd) */
	uint64_t failures;      /* programming attempts the producer refused */
	/* arm64, VIRQ_IRQFD_PATH_DIRECT_LPI: the translation (@vcpu is the LPI's target vCPU) */
	uint32_t devid, eventid, intid;
	/* arm64: messages latched straight into the LPI, and messages the direct path handed back to the
	 * eventfd (the translation changed since it was resolved: they went through the irqfd, counted in
	 * the GSI's irqfd_signals with the rest) */
	uint64_t direct_injected, direct_fallbacks;
};

/**
 * virq_vm_irqfd_bypass() - the delivery path of the irqfd bound to @eventfd (any descriptor of the same
 * open eventfd), as last decided. Returns 0, or -EBADF (@eventfd not open), -ENOENT (no irqfd of @vm has
 * that eventfd). Irqfds that are not bypass consumers answer VIRQ_IRQFD_PATH_SOFTWARE with the reason.
 * arm64 reasons: "direct: DeviceID 0x18 EventID 3 -> LPI 8195 on vCPU 1", or "software: " and why
 * (docs/forwarding.md lists them: "software: ITS disabled", "software: event not mapped (DeviceID 0x18
 * EventID 3)", ...). The decision is re-made whenever the route, the ITS's mappings or a
 * redistributor's EnableLPIs change, so it is current once the call that changed them has returned.
 */
int virq_vm_irqfd_bypass(struct virq_vm *vm, int eventfd, struct virq_irqfd_bypass_state *out);

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
