/* SPDX-License-Identifier: MIT */
/*
 * arm_vm.c - an arm64 VM's life cycle, its vGIC's initialisation (KVM's vgic_init and
 * kvm_vgic_map_resources), the engine's side of the GIC model (struct virq_gic_ops), and the VM-level
 * ioctls whose arm64 answer differs from x86's: KVM_CHECK_EXTENSION and KVM_IRQ_LINE.
 *
 * Semantics: ../shared/reference/kvm-arm.md §1.3 (and arch/arm64/kvm/arm.c for the irq line and caps).
 */
#include "engine/arm_vm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/rcu.h"
#include "engine/routing.h"
#include "engine/vcpu.h"
#include "engine/vm.h"

/* ---- the GIC's view of the engine -------------------------------------------------------------------- */

static int virq_arm_read_guest(void *ctx, uint64_t gpa, void *buf, size_t len)
{
	return len > UINT32_MAX ? -EFAULT : virq_vm_read_guest(ctx, gpa, buf, (unsigned)len);
}

static int virq_arm_write_guest(void *ctx, uint64_t gpa, const void *buf, size_t len)
{
	return len > UINT32_MAX ? -EFAULT : virq_vm_write_guest(ctx, gpa, buf, (unsigned)len);
}

/* The GIC's vCPU index is the vCPU id (virq_arm_vgic_init_locked sizes it by the highest id). */
static void virq_arm_kick_vcpu(void *ctx, unsigned idx)
{
	struct virq_vcpu *vcpu = virq_vm_vcpu(ctx, idx);

	if (vcpu)
		virq_vcpu_kick(vcpu);
}

/* KVM's ack notifier for irqchip 0, pin = INTID - 32: the GSI's resampler de-asserts and notifies. */
static void virq_arm_resample(void *ctx, unsigned pin)
{
	struct virq_vm *vm = ctx;

	virq_rcu_read_lock();
	int gsi = virq_routing_pin_to_gsi(virq_rcu_deref(vm->routing), VIRQ_ARM_IRQCHIP, pin);
	if (gsi >= 0)
		virq_resampler_ack(vm, (uint32_t)gsi);
	virq_rcu_read_unlock();
}

static const struct virq_gic_ops virq_arm_gic_ops = {
	.read_guest = virq_arm_read_guest,
	.write_guest = virq_arm_write_guest,
	.kick_vcpu = virq_arm_kick_vcpu,
	.resample = virq_arm_resample,
	.hw_deactivated = virq_arm_fwd_deactivated,
};

/* ---- life cycle -------------------------------------------------------------------------------------- */

int virq_arm_vm_create(struct virq_vm *vm)
{
	struct virq_arm_vm *arm = calloc(1, sizeof(*arm));

	if (!arm)
		return -ENOMEM;
	arm->dist_base = VIRQ_ARM_ADDR_UNDEF;
	pthread_mutex_init(&arm->fwd_lock, NULL);
	vm->arm = arm;
	/* irqfds and routes exist on arm64 without a vGIC (they deliver nothing until it is initialised),
	 * so the watcher thread starts with the VM rather than with an irqchip. */
	int ret = virq_poller_start(vm);
	if (ret < 0) {
		vm->arm = NULL;
		pthread_mutex_destroy(&arm->fwd_lock);
		free(arm);
	}
	return ret;
}

void virq_arm_vm_destroy(struct virq_vm *vm)
{
	struct virq_arm_vm *arm = vm->arm;
	unsigned nr = atomic_load(&arm->nr_its);

	/* ITSes first: each holds LPI references in the GIC (its.h). */
	for (unsigned i = 0; i < nr; i++) {
		if (atomic_load(&arm->its[i]->ready))
			virq_its_destroy(&arm->its[i]->its);
		free(arm->its[i]);
	}
	if (atomic_load(&arm->ready))
		virq_gic_destroy(&arm->gic);
	/* Forwarded SPIs are unlinked by the kvm-vfio device's release, which holds a VM reference. */
	for (unsigned pin = 0; pin < VIRQ_GIC_MAX_SPI_PINS; pin++)
		if (arm->fwd[pin])
			virq_arm_fwd_put(arm->fwd[pin]);
	pthread_mutex_destroy(&arm->fwd_lock);
	free(arm);
}

struct virq_gic *virq_arm_gic(struct virq_vm *vm)
{
	struct virq_arm_vm *arm = vm->arm;

	return arm && atomic_load_explicit(&arm->ready, memory_order_acquire) ? &arm->gic : NULL;
}

/* The default routes vgic_init installs: GSI n -> irqchip 0 pin n for every SPI. */
static int virq_arm_install_default_routing(struct virq_vm *vm, unsigned nr_spis)
{
	struct kvm_irq_routing_entry *e = calloc(nr_spis, sizeof(*e));

	if (!e)
		return -ENOMEM;
	for (unsigned n = 0; n < nr_spis; n++) {
		e[n].gsi = n;
		e[n].type = KVM_IRQ_ROUTING_IRQCHIP;
		e[n].u.irqchip.irqchip = VIRQ_ARM_IRQCHIP;
		e[n].u.irqchip.pin = n;
	}
	int ret = virq_routing_replace_locked(vm, e, nr_spis);
	free(e);
	return ret;
}

int virq_arm_vgic_init_locked(struct virq_vm *vm)
{
	struct virq_arm_vm *arm = vm->arm;
	unsigned nr_vcpus = 0;
	int ret;

	if (atomic_load(&arm->ready))
		return 0; /* KVM's vgic_init: a second CTRL_INIT is a no-op */
	for (unsigned id = 0; id < VIRQ_MAX_VCPUS; id++)
		if (virq_vm_vcpu(vm, id))
			nr_vcpus = id + 1;
	/* KVM sizes the vGIC by online vCPUs; with none, the GIC still needs one redistributor to exist. */
	if (nr_vcpus == 0)
		nr_vcpus = 1;
	if (!arm->nr_spis)
		arm->nr_spis = VIRQ_ARM_DEFAULT_NR_IRQS - VIRQ_GIC_NR_PRIVATE;
	ret = virq_gic_init(&arm->gic, nr_vcpus, arm->nr_spis, &virq_arm_gic_ops, vm);
	if (ret < 0)
		return ret;
	unsigned nr_its = atomic_load(&arm->nr_its);
	for (unsigned i = 0; i < nr_its && ret == 0; i++) {
		struct virq_arm_its *its = arm->its[i];
		ret = virq_its_init(&its->its, &arm->gic);
		if (ret == 0) {
			if (its->base != VIRQ_ARM_ADDR_UNDEF)
				virq_its_set_base(&its->its, its->base);
			atomic_store_explicit(&its->ready, true, memory_order_release);
		}
	}
	if (ret == 0)
		ret = virq_arm_install_default_routing(vm, arm->nr_spis);
	if (ret < 0) {
		for (unsigned i = 0; i < nr_its; i++) {
			if (atomic_load(&arm->its[i]->ready)) {
				atomic_store(&arm->its[i]->ready, false);
				virq_its_destroy(&arm->its[i]->its);
			}
		}
		virq_gic_destroy(&arm->gic);
		return ret;
	}
	atomic_store_explicit(&arm->ready, true, memory_order_release);
	/* The default routes replaced the table (KVM's vgic_init does the same) and the GIC exists now:
	 * bypassed irqfds are re-decided against both, as a routing change would (vm->lock held). */
	virq_irqfd_bypass_update_all(vm, true);
	return 0;
}

int virq_arm_vcpu_create_check_locked(struct virq_vm *vm)
{
	/* kvm_arch_vcpu_create: no vCPU joins an initialised vGIC. */
	return vm->arm && atomic_load(&vm->arm->ready) ? -EBUSY : 0;
}

/* ---- first run: KVM's kvm_vgic_map_resources --------------------------------------------------------- */

static bool virq_ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/* The base of vCPU @id's 128 KiB redistributor frame, or VIRQ_ARM_ADDR_UNDEF if no region covers it. */
uint64_t virq_arm_rdist_base(const struct virq_arm_vm *arm, unsigned id)
{
	for (unsigned r = 0; r < arm->nr_rdist; r++) {
		const struct virq_arm_rdist_region *rg = &arm->rdist[r];
		if (rg->count == 0 || id < rg->count)
			return rg->base + (uint64_t)id * KVM_VGIC_V3_REDIST_SIZE;
		id -= rg->count;
	}
	return VIRQ_ARM_ADDR_UNDEF;
}

static int virq_arm_map_resources(struct virq_vm *vm)
{
	struct virq_arm_vm *arm = vm->arm;
	unsigned nr = arm->gic.nr_vcpus;

	if (arm->dist_base == VIRQ_ARM_ADDR_UNDEF)
		return -ENXIO;
	for (unsigned id = 0; id < nr; id++) {
		if (virq_vm_vcpu(vm, id) && virq_arm_rdist_base(arm, id) == VIRQ_ARM_ADDR_UNDEF)
			return -ENXIO;
	}
	/* vgic_v3_check_base(): no redistributor frame in use may overlap the distributor. */
	for (unsigned id = 0; id < nr; id++) {
		uint64_t rd = virq_arm_rdist_base(arm, id);
		if (rd != VIRQ_ARM_ADDR_UNDEF &&
		    virq_ranges_overlap(rd, KVM_VGIC_V3_REDIST_SIZE, arm->dist_base, KVM_VGIC_V3_DIST_SIZE))
			return -EINVAL;
	}
	return 0;
}

int virq_arm_vcpu_run_check(struct virq_vcpu *vcpu)
{
	struct virq_vm *vm = vcpu->vm;
	struct virq_arm_vm *arm = vm->arm;
	int ret;

	if (!arm || !atomic_load_explicit(&arm->vgic_created, memory_order_acquire) ||
	    atomic_load_explicit(&arm->resources_ok, memory_order_acquire))
		return 0;
	/* vgic_lazy_init(): a GICv3 is never initialised implicitly. */
	if (!atomic_load_explicit(&arm->ready, memory_order_acquire))
		return -EBUSY;
	pthread_mutex_lock(&vm->lock);
	ret = virq_arm_map_resources(vm);
	if (ret == 0)
		atomic_store_explicit(&arm->resources_ok, true, memory_order_release);
	pthread_mutex_unlock(&vm->lock);
	return ret;
}

/* ---- all vCPUs idle ---------------------------------------------------------------------------------- */

int virq_arm_lock_all_vcpus_locked(struct virq_vm *vm)
{
	for (unsigned id = 0; id < VIRQ_MAX_VCPUS; id++) {
		struct virq_vcpu *vcpu = virq_vm_vcpu(vm, id);
		/* in_run is the run token (vcpu.c): holding it keeps KVM_RUN and program loads out. */
		if (vcpu && atomic_exchange(&vcpu->in_run, true)) {
			while (id-- > 0) {
				vcpu = virq_vm_vcpu(vm, id);
				if (vcpu)
					atomic_store(&vcpu->in_run, false);
			}
			return -EBUSY;
		}
	}
	return 0;
}

void virq_arm_unlock_all_vcpus_locked(struct virq_vm *vm)
{
	for (unsigned id = 0; id < VIRQ_MAX_VCPUS; id++) {
		struct virq_vcpu *vcpu = virq_vm_vcpu(vm, id);
		if (vcpu)
			atomic_store(&vcpu->in_run, false);
	}
}

/* ---- VM ioctls --------------------------------------------------------------------------------------- */

/* The arm64 answers that differ from x86's (virq_vm_check_extension() handles the shared ones). */
long virq_arm_check_extension(struct virq_vm *vm, long cap)
{
	switch (cap) {
	case KVM_CAP_DEVICE_CTRL:
	case KVM_CAP_ARM_IRQ_LINE_LAYOUT_2:
		return 1;
	case KVM_CAP_MSI_DEVID:
		return atomic_load(&vm->arm->msis_require_devid);
	case KVM_CAP_MULTI_ADDRESS_SPACE:
	case KVM_CAP_VIRQ_ARM_DIRECT_LPI:
		return 1;
	default:
		/* x86-only ones (IRQ_INJECT_STATUS, IOAPIC_POLARITY_IGNORED, SPLIT_IRQCHIP, X2APIC_API) too. */
		return 0;
	}
}

/*
 * arm64's kvm_vm_ioctl_irq_line(): irq = vcpu2_index 31:28 | type 27:24 | vcpu_index 23:16 | number 15:0.
 * GSI routing does not apply here (KVM_IRQ_LINE names the INTID itself).
 */
int virq_arm_irq_line(struct virq_vm *vm, uint32_t irq, uint32_t level)
{
	struct virq_arm_vm *arm = vm->arm;
	unsigned type = (irq >> KVM_ARM_IRQ_TYPE_SHIFT) & KVM_ARM_IRQ_TYPE_MASK;
	unsigned vcpu_id = ((irq >> KVM_ARM_IRQ_VCPU_SHIFT) & KVM_ARM_IRQ_VCPU_MASK) +
			   ((irq >> KVM_ARM_IRQ_VCPU2_SHIFT) & KVM_ARM_IRQ_VCPU2_MASK) * (KVM_ARM_IRQ_VCPU_MASK + 1);
	unsigned num = (irq >> KVM_ARM_IRQ_NUM_SHIFT) & KVM_ARM_IRQ_NUM_MASK;
	bool in_kernel = atomic_load_explicit(&arm->vgic_created, memory_order_acquire);
	struct virq_gic *gic;

	switch (type) {
	case KVM_ARM_IRQ_TYPE_CPU:
		/* The vCPU's own IRQ/FIQ lines exist only without an in-kernel GIC; virq's guests take
		 * interrupts through a GIC only, so a line set here reaches nothing (docs/kvm-differences.md). */
		if (in_kernel)
			return -ENXIO;
		if (!virq_vm_vcpu(vm, vcpu_id) || num > KVM_ARM_IRQ_CPU_FIQ)
			return -EINVAL;
		return 0;
	case KVM_ARM_IRQ_TYPE_PPI:
		if (!in_kernel)
			return -ENXIO;
		if (!virq_vm_vcpu(vm, vcpu_id))
			return -EINVAL;
		if (num < VIRQ_GIC_NR_SGIS || num >= VIRQ_GIC_NR_PRIVATE)
			return -EINVAL;
		gic = virq_arm_gic(vm);
		if (!gic)
			return -EBUSY; /* vgic_lazy_init() on a GICv3 */
		return virq_gic_set_ppi_level(gic, vcpu_id, num, level != 0) < 0 ? -EINVAL : 0;
	case KVM_ARM_IRQ_TYPE_SPI:
		if (!in_kernel)
			return -ENXIO;
		if (num < VIRQ_GIC_NR_PRIVATE)
			return -EINVAL;
		gic = virq_arm_gic(vm);
		if (!gic)
			return -EBUSY;
		return virq_gic_set_spi_level(gic, num - VIRQ_GIC_NR_PRIVATE, level != 0) < 0 ? -EINVAL : 0;
	default:
		return -EINVAL;
	}
}
