/* SPDX-License-Identifier: MIT */
/*
 * its_device.c - the KVM_DEV_TYPE_ARM_VGIC_ITS device's attributes (arch/arm64/kvm/vgic/vgic-its.c,
 * vgic_its_set_attr / get_attr / has_attr; reference kvm-arm.md §1.5, §1.8): the frame address, the CTRL
 * group (INIT, RESET, SAVE_TABLES, RESTORE_TABLES) and userspace access to the ITS registers.
 *
 * Userspace register and table access needs every vCPU idle: the run tokens of all vCPUs are taken under
 * vm->lock (KVM's kvm_trylock_all_vcpus), EBUSY if one runs.
 *
 * Difference: the ITS model lives inside the GIC model, which exists from the vGIC's CTRL_INIT on; until
 * then register access and the table operations fail with ENXIO (KVM keeps ITS registers before init).
 */
#include <errno.h>

#include "engine/arm_vm.h"
#include "engine/vm.h"

#define VIRQ_SZ_64K 0x10000ull

/* KVM's its_registers[]: which offsets the ITS_REGS group knows. */
static bool virq_its_reg_known(uint64_t off)
{
	return off == 0x0 || off == 0x4 || off == 0x8 || off == 0x80 || off == 0x88 || off == 0x90 ||
	       (off >= 0x100 && off < 0x140) || (off >= 0xffd0 && off < 0x10000);
}

/* CTLR, IIDR and the ID registers are 32-bit, the rest 64-bit. */
static bool virq_its_reg_aligned(uint64_t off)
{
	return off < 0x8 || off >= 0xffd0 ? (off & 3) == 0 : (off & 7) == 0;
}

/* Run @fn with vm->lock and every vCPU's run token held. -EBUSY if a vCPU runs, -ENXIO before init. */
static int virq_its_idle_call(struct virq_vm *vm, struct virq_arm_its *its, int (*fn)(struct virq_its *, void *),
			      void *arg)
{
	int ret;

	pthread_mutex_lock(&vm->lock);
	ret = virq_arm_lock_all_vcpus_locked(vm);
	if (ret == 0) {
		ret = atomic_load_explicit(&its->ready, memory_order_acquire) ? fn(&its->its, arg) : -ENXIO;
		virq_arm_unlock_all_vcpus_locked(vm);
	}
	pthread_mutex_unlock(&vm->lock);
	return ret;
}

static int virq_its_do_reset(struct virq_its *its, void *arg)
{
	virq_its_reset(its);
	return 0;
}

static int virq_its_do_save(struct virq_its *its, void *arg)
{
	return virq_its_save_tables(its);
}

static int virq_its_do_restore(struct virq_its *its, void *arg)
{
	return virq_its_restore_tables(its);
}

struct virq_its_reg_access {
	uint64_t offset;
	uint64_t *value;
	bool write;
};

static int virq_its_do_reg(struct virq_its *its, void *arg)
{
	struct virq_its_reg_access *a = arg;

	return a->write ? virq_its_uaccess_write(its, a->offset, *a->value)
			: virq_its_uaccess_read(its, a->offset, a->value);
}

static int virq_its_regs(struct virq_vm *vm, struct virq_arm_its *its, uint64_t offset, uint64_t *value,
			 bool write)
{
	struct virq_its_reg_access a = { .offset = offset, .value = value, .write = write };

	/* vgic_its_attr_regs(): base first, then alignment, then the vCPUs, then the register. */
	if (atomic_load(&its->base) == VIRQ_ARM_ADDR_UNDEF)
		return -ENXIO;
	if (!virq_its_reg_aligned(offset))
		return -EINVAL;
	return virq_its_idle_call(vm, its, virq_its_do_reg, &a);
}

static int virq_its_ctrl(struct virq_vm *vm, struct virq_arm_its *its, uint64_t attr)
{
	int ret;

	switch (attr) {
	case KVM_DEV_ARM_VGIC_CTRL_INIT:
		return 0; /* a no-op for the ITS, as in KVM */
	case KVM_DEV_ARM_ITS_CTRL_RESET:
		ret = virq_its_idle_call(vm, its, virq_its_do_reset, NULL);
		break;
	case KVM_DEV_ARM_ITS_SAVE_TABLES:
		return virq_its_idle_call(vm, its, virq_its_do_save, NULL);
	case KVM_DEV_ARM_ITS_RESTORE_TABLES:
		ret = virq_its_idle_call(vm, its, virq_its_do_restore, NULL);
		break;
	default:
		return -ENXIO;
	}
	virq_arm_bypass_refresh(vm, false); /* direct LPI injection follows the ITS's new state */
	return ret;
}

static int virq_its_set_addr(struct virq_vm *vm, struct virq_arm_its *its, uint64_t addr)
{
	int ret;

	pthread_mutex_lock(&vm->lock);
	ret = virq_arm_check_iorange(atomic_load(&its->base), addr, VIRQ_SZ_64K, KVM_VGIC_V3_ITS_SIZE);
	if (ret == 0) {
		/* The model first, then the doorbell lookup may find the frame (arm_msi.c). */
		if (atomic_load_explicit(&its->ready, memory_order_acquire))
			virq_its_set_base(&its->its, addr);
		atomic_store_explicit(&its->base, addr, memory_order_release);
	}
	pthread_mutex_unlock(&vm->lock);
	return ret;
}

int virq_its_device_set_attr(struct virq_vm *vm, struct virq_arm_its *its, const struct kvm_device_attr *attr)
{
	uint64_t v;
	int ret;

	switch (attr->group) {
	case KVM_DEV_ARM_VGIC_GRP_ADDR:
		if (attr->attr != KVM_VGIC_ITS_ADDR_TYPE)
			return -ENODEV;
		ret = virq_arm_get_user_u64(attr->addr, &v);
		ret = ret < 0 ? ret : virq_its_set_addr(vm, its, v);
		if (ret == 0)
			virq_arm_bypass_refresh(vm, true); /* a doorbell may belong to this ITS now */
		return ret;
	case KVM_DEV_ARM_VGIC_GRP_CTRL:
		return virq_its_ctrl(vm, its, attr->attr);
	case KVM_DEV_ARM_VGIC_GRP_ITS_REGS:
		ret = virq_arm_get_user_u64(attr->addr, &v);
		ret = ret < 0 ? ret : virq_its_regs(vm, its, attr->attr, &v, true);
		virq_arm_bypass_refresh(vm, false); /* GITS_CTLR, BASERs: as a guest write */
		return ret;
	default:
		return -ENXIO;
	}
}

int virq_its_device_get_attr(struct virq_vm *vm, struct virq_arm_its *its, const struct kvm_device_attr *attr)
{
	uint64_t v = 0;
	int ret;

	switch (attr->group) {
	case KVM_DEV_ARM_VGIC_GRP_ADDR:
		if (attr->attr != KVM_VGIC_ITS_ADDR_TYPE)
			return -ENODEV;
		return virq_arm_put_user_u64(attr->addr, atomic_load(&its->base));
	case KVM_DEV_ARM_VGIC_GRP_ITS_REGS:
		ret = virq_its_regs(vm, its, attr->attr, &v, false);
		return ret < 0 ? ret : virq_arm_put_user_u64(attr->addr, v);
	default:
		return -ENXIO;
	}
}

int virq_its_device_has_attr(struct virq_vm *vm, struct virq_arm_its *its, const struct kvm_device_attr *attr)
{
	switch (attr->group) {
	case KVM_DEV_ARM_VGIC_GRP_ADDR:
		return attr->attr == KVM_VGIC_ITS_ADDR_TYPE ? 0 : -ENXIO;
	case KVM_DEV_ARM_VGIC_GRP_CTRL:
		return attr->attr == KVM_DEV_ARM_VGIC_CTRL_INIT || attr->attr == KVM_DEV_ARM_ITS_CTRL_RESET ||
		       attr->attr == KVM_DEV_ARM_ITS_SAVE_TABLES || attr->attr == KVM_DEV_ARM_ITS_RESTORE_TABLES
		       ? 0 : -ENXIO;
	case KVM_DEV_ARM_VGIC_GRP_ITS_REGS:
		return virq_its_reg_known(attr->attr) ? 0 : -ENXIO;
	default:
		return -ENXIO;
	}
}
