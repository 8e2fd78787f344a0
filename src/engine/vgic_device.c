/* SPDX-License-Identifier: MIT */
/*
 * vgic_device.c - KVM_CREATE_DEVICE on an arm64 VM and the KVM_DEV_TYPE_ARM_VGIC_V3 device's attributes
 * (arch/arm64/kvm/vgic/vgic-kvm-device.c, kvm_vgic_addr, vgic-v3.c's redistributor regions; reference
 * kvm-arm.md §1.3): the ADDR group (distributor, legacy redistributor, redistributor regions), NR_IRQS,
 * and CTRL (INIT, SAVE_PENDING_TABLES). The register groups DIST_REGS, REDIST_REGS, CPU_SYSREGS and
 * LEVEL_INFO are in vgic_regs.c, the ITS device's attributes in its_device.c.
 *
 * A device handle holds a reference on its VM, as a KVM device file does; the device itself belongs to
 * the VM and lives as long as it (KVM destroys devices with the VM, not with their fd).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/arm_vm.h"
#include "engine/vm.h"

#define VIRQ_SZ_64K 0x10000ull

struct virq_arm_device {
	struct virq_vm *vm;          /* [I] holds a reference */
	uint32_t type;               /* [I] KVM_DEV_TYPE_ARM_VGIC_V3 or _ITS */
	struct virq_arm_its *its;    /* [I] the VM's ITS state, for an ITS device */
};

int virq_arm_check_iorange(uint64_t current, uint64_t addr, uint64_t align, uint64_t size)
{
	const uint64_t ipa_end = 1ull << VIRQ_ARM_IPA_BITS;

	if (current != VIRQ_ARM_ADDR_UNDEF)
		return -EEXIST;
	if ((addr & (align - 1)) || (size & (align - 1)) || addr + size < addr)
		return -EINVAL;
	if (addr >= ipa_end || addr + size > ipa_end)
		return -E2BIG;
	return 0;
}

/* User pointers: the front passes the caller's addresses; NULL is what copy_from_user refuses. */
int virq_arm_get_user_u64(uint64_t uaddr, uint64_t *v)
{
	if (!uaddr)
		return -EFAULT;
	memcpy(v, (const void *)(uintptr_t)uaddr, sizeof(*v));
	return 0;
}

int virq_arm_put_user_u64(uint64_t uaddr, uint64_t v)
{
	if (!uaddr)
		return -EFAULT;
	memcpy((void *)(uintptr_t)uaddr, &v, sizeof(v));
	return 0;
}

static int virq_get_u32(uint64_t uaddr, uint32_t *v)
{
	if (!uaddr)
		return -EFAULT;
	memcpy(v, (const void *)(uintptr_t)uaddr, sizeof(*v));
	return 0;
}

/* ---- redistributor regions (vgic_v3_alloc_redist_region) ------------------------------------------- */

static unsigned virq_arm_online_vcpus(struct virq_vm *vm)
{
	return atomic_load(&vm->nr_vcpus);
}

static uint64_t virq_rdist_region_size(struct virq_vm *vm, const struct virq_arm_rdist_region *rg)
{
	return (uint64_t)(rg->count ? rg->count : virq_arm_online_vcpus(vm)) * KVM_VGIC_V3_REDIST_SIZE;
}

static bool virq_overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a + alen > b && a < b + blen;
}

static bool virq_rdist_overlap(struct virq_vm *vm, uint64_t base, uint64_t size)
{
	const struct virq_arm_vm *arm = vm->arm;

	for (unsigned i = 0; i < arm->nr_rdist; i++)
		if (virq_overlaps(base, size, arm->rdist[i].base, virq_rdist_region_size(vm, &arm->rdist[i])))
			return true;
	return false;
}

static int virq_rdist_add_locked(struct virq_vm *vm, uint32_t index, uint64_t base, uint32_t count)
{
	struct virq_arm_vm *arm = vm->arm;
	uint64_t size = (uint64_t)(count ? count : virq_arm_online_vcpus(vm)) * KVM_VGIC_V3_REDIST_SIZE;

	if (base + size < base)
		return -EINVAL;
	if (arm->nr_rdist == 0) {
		if (index != 0)
			return -EINVAL;
	} else {
		const struct virq_arm_rdist_region *last = &arm->rdist[arm->nr_rdist - 1];
		if (!count && last->count)
			return -EINVAL;  /* mixing legacy REDIST and REDIST_REGION */
		if (!count)
			return -EEXIST;  /* legacy base set twice */
		if (index != last->index + 1)
			return -EINVAL;
	}
	if (arm->dist_base != VIRQ_ARM_ADDR_UNDEF &&
	    virq_overlaps(base, size, arm->dist_base, KVM_VGIC_V3_DIST_SIZE))
		return -EINVAL;
	if (virq_rdist_overlap(vm, base, size))
		return -EINVAL;
	int ret = virq_arm_check_iorange(VIRQ_ARM_ADDR_UNDEF, base, VIRQ_SZ_64K, size);
	if (ret < 0)
		return ret;
	if (arm->nr_rdist == VIRQ_ARM_MAX_RDIST_REGIONS)
		return -ENOSPC;
	arm->rdist[arm->nr_rdist++] = (struct virq_arm_rdist_region){ .base = base, .count = count, .index = index };
	return 0;
}

/* ---- the ADDR group --------------------------------------------------------------------------------- */

static int virq_vgic_set_addr_locked(struct virq_vm *vm, uint64_t type, uint64_t value)
{
	struct virq_arm_vm *arm = vm->arm;
	int ret;

	/* The vCPU loop reads the frames without a lock once the first run checked them (arm_mmio.c). */
	if (atomic_load(&arm->resources_ok) &&
	    (type == KVM_VGIC_V3_ADDR_TYPE_DIST || type == KVM_VGIC_V3_ADDR_TYPE_REDIST ||
	     type == KVM_VGIC_V3_ADDR_TYPE_REDIST_REGION))
		return -EBUSY;
	switch (type) {
	case KVM_VGIC_V3_ADDR_TYPE_DIST:
		ret = virq_arm_check_iorange(arm->dist_base, value, VIRQ_SZ_64K, KVM_VGIC_V3_DIST_SIZE);
		if (ret == 0 && virq_rdist_overlap(vm, value, KVM_VGIC_V3_DIST_SIZE))
			ret = -EINVAL;
		if (ret == 0)
			arm->dist_base = value;
		return ret;
	case KVM_VGIC_V3_ADDR_TYPE_REDIST:
		return virq_rdist_add_locked(vm, 0, value, 0);
	case KVM_VGIC_V3_ADDR_TYPE_REDIST_REGION: {
		if (value & KVM_VGIC_V3_RDIST_FLAGS_MASK)
			return -EINVAL;
		uint32_t count = (uint32_t)((value & KVM_VGIC_V3_RDIST_COUNT_MASK) >> KVM_VGIC_V3_RDIST_COUNT_SHIFT);
		if (!count)
			return -EINVAL;
		return virq_rdist_add_locked(vm, (uint32_t)(value & KVM_VGIC_V3_RDIST_INDEX_MASK),
					     value & KVM_VGIC_V3_RDIST_BASE_MASK, count);
	}
	default:
		/* V2 types and unknown ones: kvm_vgic_addr's ENODEV, which the attribute layer makes ENXIO. */
		return -ENXIO;
	}
}

static int virq_vgic_get_addr_locked(struct virq_vm *vm, uint64_t type, uint64_t *value)
{
	const struct virq_arm_vm *arm = vm->arm;

	switch (type) {
	case KVM_VGIC_V3_ADDR_TYPE_DIST:
		*value = arm->dist_base;
		return 0;
	case KVM_VGIC_V3_ADDR_TYPE_REDIST:
		*value = arm->nr_rdist && arm->rdist[0].count == 0 ? arm->rdist[0].base : VIRQ_ARM_ADDR_UNDEF;
		return 0;
	case KVM_VGIC_V3_ADDR_TYPE_REDIST_REGION: {
		uint64_t index = *value & KVM_VGIC_V3_RDIST_INDEX_MASK;
		for (unsigned i = 0; i < arm->nr_rdist; i++) {
			const struct virq_arm_rdist_region *rg = &arm->rdist[i];
			if (rg->count && rg->index == index) {
				*value = index | rg->base | (uint64_t)rg->count << KVM_VGIC_V3_RDIST_COUNT_SHIFT;
				return 0;
			}
		}
		return -ENOENT;
	}
	default:
		return -ENXIO;
	}
}

/* ---- vGICv3 attributes ------------------------------------------------------------------------------ */

static int virq_vgic_ctrl_locked(struct virq_vm *vm, uint64_t attr)
{
	int ret;

	switch (attr) {
	case KVM_DEV_ARM_VGIC_CTRL_INIT:
		return virq_arm_vgic_init_locked(vm);
	case KVM_DEV_ARM_VGIC_SAVE_PENDING_TABLES:
		ret = virq_arm_lock_all_vcpus_locked(vm);
		if (ret < 0)
			return ret;
		struct virq_gic *gic = virq_arm_gic(vm);
		ret = gic ? virq_gic_save_pending_tables(gic) : -ENXIO;
		virq_arm_unlock_all_vcpus_locked(vm);
		return ret;
	default:
		return -ENXIO;
	}
}

static int virq_vgic_set_attr(struct virq_vm *vm, const struct kvm_device_attr *attr)
{
	struct virq_arm_vm *arm = vm->arm;
	uint64_t v64;
	uint32_t v32;
	int ret;

	switch (attr->group) {
	case KVM_DEV_ARM_VGIC_GRP_ADDR:
		ret = virq_arm_get_user_u64(attr->addr, &v64);
		if (ret < 0)
			return ret;
		pthread_mutex_lock(&vm->lock);
		ret = virq_vgic_set_addr_locked(vm, attr->attr, v64);
		pthread_mutex_unlock(&vm->lock);
		return ret;
	case KVM_DEV_ARM_VGIC_GRP_NR_IRQS:
		ret = virq_get_u32(attr->addr, &v32);
		if (ret < 0)
			return ret;
		/* At least 32 SPIs beyond the private ones, at most 1024 interrupts, a multiple of 32. */
		if (v32 < VIRQ_GIC_NR_PRIVATE + 32 || v32 > VIRQ_GIC_NR_PRIVATE + VIRQ_GIC_MAX_SPIS || (v32 & 31))
			return -EINVAL;
		pthread_mutex_lock(&vm->lock);
		ret = atomic_load(&arm->ready) || arm->nr_spis ? -EBUSY : 0;
		if (ret == 0)
			arm->nr_spis = v32 - VIRQ_GIC_NR_PRIVATE;
		pthread_mutex_unlock(&vm->lock);
		return ret;
	case KVM_DEV_ARM_VGIC_GRP_CTRL:
		pthread_mutex_lock(&vm->lock);
		ret = virq_vgic_ctrl_locked(vm, attr->attr);
		pthread_mutex_unlock(&vm->lock);
		return ret;
	case KVM_DEV_ARM_VGIC_GRP_DIST_REGS:
	case KVM_DEV_ARM_VGIC_GRP_REDIST_REGS:
	case KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS:
	case KVM_DEV_ARM_VGIC_GRP_LEVEL_INFO:
		return virq_vgic_regs_access(vm, attr, true);
	default:
		return -ENXIO;
	}
}

static int virq_vgic_get_attr(struct virq_vm *vm, const struct kvm_device_attr *attr)
{
	uint64_t v64;
	int ret;

	switch (attr->group) {
	case KVM_DEV_ARM_VGIC_GRP_ADDR:
		ret = virq_arm_get_user_u64(attr->addr, &v64); /* REDIST_REGION reads the index from it */
		if (ret < 0)
			return ret;
		pthread_mutex_lock(&vm->lock);
		ret = virq_vgic_get_addr_locked(vm, attr->attr, &v64);
		pthread_mutex_unlock(&vm->lock);
		return ret < 0 ? ret : virq_arm_put_user_u64(attr->addr, v64);
	case KVM_DEV_ARM_VGIC_GRP_NR_IRQS: {
		if (!attr->addr)
			return -EFAULT;
		pthread_mutex_lock(&vm->lock);
		uint32_t v = vm->arm->nr_spis + VIRQ_GIC_NR_PRIVATE;
		pthread_mutex_unlock(&vm->lock);
		memcpy((void *)(uintptr_t)attr->addr, &v, sizeof(v));
		return 0;
	}
	case KVM_DEV_ARM_VGIC_GRP_DIST_REGS:
	case KVM_DEV_ARM_VGIC_GRP_REDIST_REGS:
	case KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS:
	case KVM_DEV_ARM_VGIC_GRP_LEVEL_INFO:
		return virq_vgic_regs_access(vm, attr, false);
	default:
		return -ENXIO;
	}
}

static int virq_vgic_has_attr(const struct kvm_device_attr *attr)
{
	switch (attr->group) {
	case KVM_DEV_ARM_VGIC_GRP_ADDR:
		return attr->attr == KVM_VGIC_V3_ADDR_TYPE_DIST || attr->attr == KVM_VGIC_V3_ADDR_TYPE_REDIST ||
		       attr->attr == KVM_VGIC_V3_ADDR_TYPE_REDIST_REGION ? 0 : -ENXIO;
	case KVM_DEV_ARM_VGIC_GRP_NR_IRQS:
		return 0;
	case KVM_DEV_ARM_VGIC_GRP_CTRL:
		return attr->attr == KVM_DEV_ARM_VGIC_CTRL_INIT ||
		       attr->attr == KVM_DEV_ARM_VGIC_SAVE_PENDING_TABLES ? 0 : -ENXIO;
	case KVM_DEV_ARM_VGIC_GRP_DIST_REGS:
	case KVM_DEV_ARM_VGIC_GRP_REDIST_REGS:
	case KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS:
	case KVM_DEV_ARM_VGIC_GRP_LEVEL_INFO:
		return virq_vgic_regs_has_attr(attr);
	default:
		return -ENXIO;
	}
}

/* ---- KVM_CREATE_DEVICE ------------------------------------------------------------------------------ */

/* kvm_vgic_create(): one vGIC per VM, and not while a vCPU runs. */
static int virq_vgic_create_locked(struct virq_vm *vm)
{
	struct virq_arm_vm *arm = vm->arm;
	int ret;

	if (arm->has_vgic)
		return -EEXIST;
	ret = virq_arm_lock_all_vcpus_locked(vm);
	if (ret < 0)
		return ret;
	arm->has_vgic = true;
	atomic_store_explicit(&arm->vgic_created, true, memory_order_release);
	virq_arm_unlock_all_vcpus_locked(vm);
	return 0;
}

int virq_arm_its_create_locked(struct virq_vm *vm, struct virq_arm_its **out)
{
	struct virq_arm_vm *arm = vm->arm;
	unsigned nr = atomic_load(&arm->nr_its);
	struct virq_arm_its *its;

	if (nr == VIRQ_GIC_MAX_ITS)
		return -ENOSPC;
	its = calloc(1, sizeof(*its));
	if (!its)
		return -ENOMEM;
	atomic_init(&its->base, VIRQ_ARM_ADDR_UNDEF);
	/* After CTRL_INIT the model is built now; before, at CTRL_INIT (arm_vm.c). */
	if (atomic_load(&arm->ready)) {
		int ret = virq_its_init(&its->its, &arm->gic);
		if (ret < 0) {
			free(its);
			return ret;
		}
		atomic_store_explicit(&its->ready, true, memory_order_release);
	}
	arm->its[nr] = its;
	atomic_store_explicit(&arm->nr_its, nr + 1, memory_order_release);
	/* KVM_CAP_MSI_DEVID reads 1 from now on, for good. */
	atomic_store(&arm->msis_require_devid, true);
	*out = its;
	return 0;
}

int virq_arm_create_device(struct virq_vm *vm, struct kvm_create_device *cd, struct virq_arm_device **out)
{
	struct virq_arm_device *dev;
	struct virq_arm_its *its = NULL;
	int ret;

	/* Only the types a GICv3 host registers: no VGIC_V2 (this host cannot emulate one), no others. */
	if (cd->type != KVM_DEV_TYPE_ARM_VGIC_V3 && cd->type != KVM_DEV_TYPE_ARM_VGIC_ITS)
		return -ENODEV;
	*out = NULL;
	if (cd->flags & KVM_CREATE_DEVICE_TEST)
		return 0;
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return -ENOMEM;
	pthread_mutex_lock(&vm->lock);
	ret = cd->type == KVM_DEV_TYPE_ARM_VGIC_V3 ? virq_vgic_create_locked(vm) : virq_arm_its_create_locked(vm, &its);
	pthread_mutex_unlock(&vm->lock);
	if (ret < 0) {
		free(dev);
		return ret;
	}
	virq_vm_get(vm);
	dev->vm = vm;
	dev->type = cd->type;
	dev->its = its;
	*out = dev;
	return 0;
}

void virq_arm_device_release(struct virq_arm_device *dev)
{
	virq_vm_put(dev->vm);
	free(dev);
}

long virq_arm_device_ioctl(struct virq_arm_device *dev, unsigned long request, unsigned long arg)
{
	const struct kvm_device_attr *attr = (const struct kvm_device_attr *)(uintptr_t)arg;
	bool its = dev->type == KVM_DEV_TYPE_ARM_VGIC_ITS;

	if (request != KVM_SET_DEVICE_ATTR && request != KVM_GET_DEVICE_ATTR && request != KVM_HAS_DEVICE_ATTR)
		return -ENOTTY;
	if (!attr)
		return -EFAULT;
	switch (request) {
	case KVM_SET_DEVICE_ATTR:
		return its ? virq_its_device_set_attr(dev->vm, dev->its, attr) : virq_vgic_set_attr(dev->vm, attr);
	case KVM_GET_DEVICE_ATTR:
		return its ? virq_its_device_get_attr(dev->vm, dev->its, attr) : virq_vgic_get_attr(dev->vm, attr);
	default:
		return its ? virq_its_device_has_attr(dev->vm, dev->its, attr) : virq_vgic_has_attr(attr);
	}
}
