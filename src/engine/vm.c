/* SPDX-License-Identifier: MIT */
/*
 * vm.c - VM life cycle, KVM_CREATE_IRQCHIP, capabilities, and the IOAPIC's view of the engine.
 *
 * Destruction order mirrors KVM's VM release: irqfds are shut down first (so no injection can reach a
 * vCPU being freed), then the poller, resamplers, MSI-X tables, vCPUs, IOAPIC, routing and memory slots.
 */
#include "engine/vm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/arm_vm.h"
#include "engine/msix_mmio.h"
#include "engine/rcu.h"
#include "engine/routing.h"
#include "engine/vcpu.h"

#define VIRQ_APIC_PHYS_BROADCAST 0xffu /* xAPIC physical broadcast: never resolved by the APIC map */

void virq_vm_get(struct virq_vm *vm)
{
	atomic_fetch_add_explicit(&vm->refcount, 1, memory_order_relaxed);
}

struct virq_vcpu *virq_vm_vcpu(struct virq_vm *vm, unsigned id)
{
	return id < VIRQ_MAX_VCPUS ? atomic_load_explicit(&vm->vcpus[id], memory_order_acquire) : NULL;
}

/*
 * Would KVM resolve a logical destination through its APIC map? Only while every software-enabled LAPIC
 * with a non-zero LDR uses the same model (flat or cluster), as kvm_recalculate_logical_map() decides;
 * otherwise it takes the slow path.
 */
static bool virq_apic_map_logical_usable(const struct virq_apic_map *map)
{
	int model = -1;

	for (unsigned i = 0; i < map->nr; i++) {
		const struct virq_lapic *apic = map->apics[i];
		if (!apic || !virq_lapic_sw_enabled(apic) || !atomic_load_explicit(&apic->ldr, memory_order_relaxed))
			continue;
		int m = (int)(atomic_load_explicit(&apic->dfr, memory_order_relaxed) >> 28);
		if (model >= 0 && m != model)
			return false;
		model = m;
	}
	return true;
}

int virq_vm_deliver(struct virq_vm *vm, const struct virq_apic_irq *irq)
{
	virq_rcu_read_lock();
	struct virq_apic_map *map = virq_rcu_deref(vm->apic_map);
	int r = virq_apic_deliver(map->apics, map->nr, NULL, irq);
	/*
	 * KVM resolves a non-broadcast destination through its APIC map as soon as the map exists (a vCPU
	 * with a LAPIC was created) and, for logical destinations, while the map's logical mode is usable: a
	 * missing or disabled target then counts 0, not the slow path's -1 "nobody matched" that
	 * KVM_SIGNAL_MSI would surface as EPERM and a level IOAPIC pin as remote IRR.
	 */
	if (r < 0 && map->nr > 0 && irq->shorthand == VIRQ_APIC_SH_NONE &&
	    irq->dest_id != VIRQ_APIC_PHYS_BROADCAST && (!irq->dest_logical || virq_apic_map_logical_usable(map)))
		r = 0;
	virq_rcu_read_unlock();
	return r;
}

int virq_vm_create(unsigned long type, struct virq_vm **out)
{
	struct virq_vm *vm;

	/* Type 0 is an x86 VM, as on an x86 KVM host; VIRQ_VM_TYPE_ARM64 an arm64 VM with a GICv3. */
	if (type != 0 && type != VIRQ_VM_TYPE_ARM64)
		return -EINVAL;
	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	vm->apic_map = calloc(1, sizeof(struct virq_apic_map));
	vm->memslots = virq_memslots_empty();
	if (!vm->apic_map || !vm->memslots) {
		free(vm->apic_map);
		virq_memslots_free(vm->memslots);
		free(vm);
		return -ENOMEM;
	}
	atomic_init(&vm->refcount, 1);
	vm->type = type;
	atomic_init(&vm->halt_poll_max_ns, VIRQ_DEFAULT_HALT_POLL_NS);
	pthread_mutex_init(&vm->lock, NULL);
	pthread_mutex_init(&vm->irqfd_lock, NULL);
	pthread_mutex_init(&vm->msix_lock, NULL);
	virq_poller_init(&vm->poller);
	if (type == VIRQ_VM_TYPE_ARM64) {
		pthread_mutex_lock(&vm->lock);
		int ret = virq_arm_vm_create(vm);
		pthread_mutex_unlock(&vm->lock);
		if (ret < 0) {
			virq_vm_put(vm);
			return ret;
		}
	}
	*out = vm;
	return 0;
}

static void virq_vm_destroy(struct virq_vm *vm)
{
	virq_irqfd_release_all(vm);
	virq_poller_stop(vm);
	virq_irqfd_table_free(vm);
	virq_resampler_free_all(vm);
	virq_msix_free_all(vm);
	/* The GIC and its ITSes kick vCPUs: gone before the vCPUs are. */
	if (vm->arm)
		virq_arm_vm_destroy(vm);
	for (unsigned i = 0; i < VIRQ_MAX_VCPUS; i++)
		if (vm->vcpus[i])
			virq_vcpu_destroy(vm->vcpus[i]);
	if (atomic_load(&vm->has_irqchip))
		virq_ioapic_destroy(&vm->ioapic);
	virq_routing_free(vm->routing);
	virq_memslots_free(vm->memslots);
	free(vm->apic_map);
	pthread_mutex_destroy(&vm->msix_lock);
	pthread_mutex_destroy(&vm->irqfd_lock);
	pthread_mutex_destroy(&vm->lock);
	free(vm);
}

void virq_vm_put(struct virq_vm *vm)
{
	if (atomic_fetch_sub_explicit(&vm->refcount, 1, memory_order_acq_rel) == 1)
		virq_vm_destroy(vm);
}

/* The IOAPIC's callbacks. Pins reach resamplers through the routing table's reverse map. */
static int virq_vm_ioapic_deliver(void *opaque, const struct virq_apic_irq *irq)
{
	return virq_vm_deliver(opaque, irq);
}

static int virq_vm_pin_gsi(struct virq_vm *vm, unsigned pin)
{
	return virq_routing_pin_to_gsi(virq_rcu_deref(vm->routing), KVM_IRQCHIP_IOAPIC, pin);
}

static void virq_vm_ioapic_ack(void *opaque, unsigned pin)
{
	struct virq_vm *vm = opaque;

	virq_rcu_read_lock();
	int gsi = virq_vm_pin_gsi(vm, pin);
	if (gsi >= 0)
		virq_resampler_ack(vm, (uint32_t)gsi);
	virq_rcu_read_unlock();
}

static void virq_vm_ioapic_resample(void *opaque, unsigned pin)
{
	struct virq_vm *vm = opaque;

	virq_rcu_read_lock();
	int gsi = virq_vm_pin_gsi(vm, pin);
	if (gsi >= 0)
		virq_resampler_notify(vm, (uint32_t)gsi);
	virq_rcu_read_unlock();
}

static bool virq_vm_ioapic_has_resampler(void *opaque, unsigned pin)
{
	struct virq_vm *vm = opaque;

	virq_rcu_read_lock();
	int gsi = virq_vm_pin_gsi(vm, pin);
	bool has = gsi >= 0 && virq_rcu_deref(vm->resamplers[gsi]) != NULL;
	virq_rcu_read_unlock();
	return has;
}

static void virq_vm_ioapic_arm_timer(void *opaque, uint64_t delay_ns)
{
	virq_poller_arm_storm_timer(opaque, delay_ns);
}

static const struct virq_ioapic_ops virq_vm_ioapic_ops = {
	.deliver = virq_vm_ioapic_deliver,
	.ack = virq_vm_ioapic_ack,
	.resample = virq_vm_ioapic_resample,
	.has_resampler = virq_vm_ioapic_has_resampler,
	.arm_timer = virq_vm_ioapic_arm_timer,
};

int virq_vm_create_irqchip(struct virq_vm *vm)
{
	int ret;

	pthread_mutex_lock(&vm->lock);
	ret = -EEXIST;
	if (atomic_load(&vm->has_irqchip) || (vm->arm && vm->arm->has_vgic))
		goto out_unlock;
	/* arm64 KVM makes a GICv2 here, which a GICv3-only host (all virq models) cannot emulate. */
	ret = -ENODEV;
	if (vm->arm)
		goto out_unlock;
	ret = -EINVAL;
	if (atomic_load(&vm->vcpu_created))
		goto out_unlock;
	ret = virq_ioapic_init(&vm->ioapic, &virq_vm_ioapic_ops, vm);
	if (ret < 0)
		goto out_unlock;
	ret = virq_routing_install_default(vm);
	if (ret == 0)
		ret = virq_poller_start(vm);
	if (ret < 0) {
		virq_ioapic_destroy(&vm->ioapic);
		goto out_unlock;
	}
	atomic_store_explicit(&vm->has_irqchip, true, memory_order_release);
out_unlock:
	pthread_mutex_unlock(&vm->lock);
	return ret;
}

int virq_vm_get_irqchip(struct virq_vm *vm, struct kvm_irqchip *chip)
{
	if (vm->arm)
		return -EINVAL; /* not an arm64 ioctl: kvm_arch_vm_ioctl's default */
	if (!atomic_load_explicit(&vm->has_irqchip, memory_order_acquire))
		return -ENXIO;
	switch (chip->chip_id) {
	case KVM_IRQCHIP_IOAPIC:
		virq_ioapic_get_state(&vm->ioapic, &chip->chip.ioapic);
		return 0;
	case KVM_IRQCHIP_PIC_MASTER:
	case KVM_IRQCHIP_PIC_SLAVE:
		return -ENXIO; /* virq has no 8259 PIC (docs/kvm-differences.md) */
	default:
		return -EINVAL;
	}
}

int virq_vm_set_irqchip(struct virq_vm *vm, const struct kvm_irqchip *chip)
{
	if (vm->arm)
		return -EINVAL;
	if (!atomic_load_explicit(&vm->has_irqchip, memory_order_acquire))
		return -ENXIO;
	switch (chip->chip_id) {
	case KVM_IRQCHIP_IOAPIC:
		virq_ioapic_set_state(&vm->ioapic, &chip->chip.ioapic);
		return 0;
	case KVM_IRQCHIP_PIC_MASTER:
	case KVM_IRQCHIP_PIC_SLAVE:
		return -ENXIO;
	default:
		return -EINVAL;
	}
}

/* What x86 and arm64 VMs answer alike; -1 for a capability whose answer depends on the architecture. */
static long virq_vm_common_extension(long cap)
{
	switch (cap) {
	case KVM_CAP_IRQCHIP: /* arm64: vgic_present */
	case KVM_CAP_IRQFD:
	case KVM_CAP_IRQFD_RESAMPLE:
	case KVM_CAP_SIGNAL_MSI:
	case KVM_CAP_USER_MEMORY:
	case KVM_CAP_MP_STATE:
	case KVM_CAP_IMMEDIATE_EXIT:
	case KVM_CAP_HALT_POLL:
	case KVM_CAP_ENABLE_CAP_VM:
	case KVM_CAP_READONLY_MEM:
	case KVM_CAP_MSIX_MMIO:
		return 1;
	case KVM_CAP_IRQ_ROUTING:
		return KVM_MAX_IRQ_ROUTES;
	case KVM_CAP_NR_VCPUS:
	case KVM_CAP_MAX_VCPUS:
	case KVM_CAP_MAX_VCPU_ID:
		return VIRQ_MAX_VCPUS;
	case KVM_CAP_NR_MEMSLOTS:
		return VIRQ_MAX_MEMSLOTS;
	default:
		return -1;
	}
}

long virq_vm_check_extension(struct virq_vm *vm, long cap)
{
	long common = virq_vm_common_extension(cap);

	if (common >= 0)
		return common;
	if (vm && vm->arm)
		return virq_arm_check_extension(vm, cap);
	switch (cap) {
	case KVM_CAP_IRQ_INJECT_STATUS:
	case KVM_CAP_IOAPIC_POLARITY_IGNORED:
		return 1;
	case KVM_CAP_MULTI_ADDRESS_SPACE:
		return VIRQ_NR_ADDRESS_SPACES;
	default:
		/* Includes KVM_CAP_MSI_DEVID (0 on x86), KVM_CAP_SPLIT_IRQCHIP, KVM_CAP_X2APIC_API, and
		 * KVM_CAP_ENABLE_CAP (no per-vCPU capabilities). */
		return 0;
	}
}

int virq_vm_enable_cap(struct virq_vm *vm, const struct kvm_enable_cap *cap)
{
	if (cap->flags)
		return -EINVAL;
	switch (cap->cap) {
	case KVM_CAP_HALT_POLL:
		/* KVM caps the value to an unsigned int of nanoseconds. */
		if (cap->args[0] > UINT32_MAX)
			return -EINVAL;
		atomic_store_explicit(&vm->halt_poll_max_ns, cap->args[0], memory_order_relaxed);
		return 0;
	case KVM_CAP_VIRQ_ARM_DIRECT_LPI:
		if (!vm->arm || cap->args[0] > 1)
			return -EINVAL;
		atomic_store(&vm->arm->direct_lpi, cap->args[0] == 1);
		virq_arm_bypass_refresh(vm, true); /* paired irqfds follow at once, either way */
		return 0;
	default:
		return -EINVAL;
	}
}

int virq_vm_gsi_counts(struct virq_vm *vm, uint32_t gsi, struct virq_gsi_counts *out)
{
	if (gsi >= KVM_MAX_IRQ_ROUTES)
		return -EINVAL;
	const struct virq_gsi_stats *st = &vm->gsi_stats[gsi];
	out->raised = virq_counter_read(&st->raised);
	out->delivered = virq_counter_read(&st->delivered);
	out->coalesced = virq_counter_read(&st->coalesced);
	out->ignored = virq_counter_read(&st->ignored);
	out->irqfd_signals = virq_counter_read(&st->irqfd_signals);
	out->resamples = virq_counter_read(&st->resamples);
	out->pended = virq_counter_read(&st->pended);
	return 0;
}
