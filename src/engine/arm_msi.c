/* SPDX-License-Identifier: MIT */
/*
 * arm_msi.c - MSIs with a DeviceID (seed 003) and SPI lines on an arm64 VM: KVM_SIGNAL_MSI, MSI routes
 * (irqfds, MSI-X) and irqchip routes.
 *
 * The order of the checks is KVM's (kvm-arm.md §1.1, virt/kvm/irqchip.c + vgic-irqfd.c + vgic-its.c):
 * no vGIC or unknown flag bits -> EINVAL; no ITS -> ENODEV; then the translation cache of the ITS whose
 * frame holds the doorbell, *before* the devid flag is looked at (KVM's quirk: a cached (devid, data)
 * is delivered even without KVM_MSI_VALID_DEVID); then, on a miss, flag missing or doorbell outside every
 * ITS frame -> EINVAL, ITS not yet built or disabled -> EBUSY, and the ITS's full translation.
 *
 * Threads: any. ITS devices are only ever added (vm->arm->its[] is publish-once), so the doorbell lookup
 * takes no lock; the ITS model takes its own.
 */
#include <errno.h>

#include "engine/arm_vm.h"
#include "engine/probes.h"
#include "engine/vcpu.h"
#include "engine/vm.h"

/* The ITS device whose 128 KiB frame holds @doorbell, or NULL. */
struct virq_arm_its *virq_arm_its_at(struct virq_arm_vm *arm, uint64_t doorbell)
{
	unsigned nr = atomic_load_explicit(&arm->nr_its, memory_order_acquire);

	for (unsigned i = 0; i < nr; i++) {
		struct virq_arm_its *its = arm->its[i];
		uint64_t base = atomic_load_explicit(&its->base, memory_order_acquire);
		if (base != VIRQ_ARM_ADDR_UNDEF && doorbell >= base && doorbell - base < KVM_VGIC_V3_ITS_SIZE)
			return its;
	}
	return NULL;
}

int virq_arm_deliver_msi(struct virq_vm *vm, uint64_t address, uint32_t data, uint32_t flags, uint32_t devid,
			 uint64_t raise_ns)
{
	struct virq_arm_vm *arm = vm->arm;

	if (atomic_load_explicit(&arm->nr_its, memory_order_acquire) == 0)
		return -ENODEV;
	struct virq_arm_its *its = virq_arm_its_at(arm, address);
	bool ready = its && atomic_load_explicit(&its->ready, memory_order_acquire);

	VIRQ_PROBE(inject, devid, data, 0);
	if (!(flags & KVM_MSI_VALID_DEVID)) {
		/* KVM's quirk: the cache is looked up before the flag, so a cached translation still lands. */
		if (ready && virq_its_inject_cached(&its->its, devid, data, raise_ns) == 1)
			return 1;
		return -EINVAL;
	}
	if (!its)
		return -EINVAL;
	if (!ready)
		return -EBUSY; /* the ITS is still disabled: its model is built at the vGIC's CTRL_INIT */
	/* The translation cache first (virq_its_inject_cached, the lock-free fast path an irqfd's wake-up
	 * takes in KVM), the ITS's tables under its lock on a miss. */
	return virq_its_translate_and_inject_at(&its->its, devid, data, raise_ns);
}

int virq_arm_signal_msi(struct virq_vm *vm, const struct kvm_msi *msi)
{
	if (!atomic_load_explicit(&vm->arm->vgic_created, memory_order_acquire) ||
	    (msi->flags & ~KVM_MSI_VALID_DEVID))
		return -EINVAL;
	return virq_arm_deliver_msi(vm, (uint64_t)msi->address_hi << 32 | msi->address_lo, msi->data, msi->flags,
				    msi->devid, virq_now_ns());
}

int virq_arm_set_spi(struct virq_vm *vm, uint32_t pin, bool level)
{
	struct virq_gic *gic = virq_arm_gic(vm);

	/* Before CTRL_INIT KVM's lazy init fails (EBUSY); a pin beyond the SPIs is "silently nothing". Both
	 * are ignored injections here. */
	if (!gic || virq_gic_set_spi_level(gic, pin, level) < 0)
		return -1;
	return 1;
}
