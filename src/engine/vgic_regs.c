/* SPDX-License-Identifier: MIT */
/*
 * vgic_regs.c - the vGICv3 device's register groups for userspace save and restore:
 * KVM_DEV_ARM_VGIC_GRP_DIST_REGS, _REDIST_REGS, _CPU_SYSREGS and _LEVEL_INFO (arch/arm64/kvm/vgic/vgic-kvm-device.c,
 * vgic_v3_attr_regs_access, vgic-sys-reg-v3.c; Documentation/virt/kvm/devices/arm-vgic-v3.rst).
 *
 * DIST_REGS / REDIST_REGS: attr = MPIDR (63:32, Aff3.Aff2.Aff1.Aff0; REDIST_REGS only) | offset (31:0) in
 * the distributor or in the vCPU's redistributor (RD_base frame, then the SGI frame at +64 KiB); the value
 * is a u32 at attr->addr, 64-bit registers being two halves. CPU_SYSREGS: attr = MPIDR | the ICC register's
 * encoding (op0 15:14, op1 13:11, CRn 10:7, CRm 6:3, op2 2:0); the value is a u64. LEVEL_INFO: attr =
 * MPIDR | info type (31:10, only 0 = line level) | INTID (9:0, a multiple of 32); the value is a u32 of
 * line levels (EINVAL for another info type or an INTID not a multiple of 32).
 * Errno as KVM: EFAULT (pointer), EINVAL (no vCPU has that MPIDR, or no vCPU at all for DIST_REGS), EBUSY
 * (a vCPU runs, or the vGIC is not initialised), ENXIO (no register there, or not 4-byte aligned), EINVAL
 * for a GICD_IIDR write that changes more than the revision or names a revision other than 2 or 3, an
 * ICC_CTLR_EL1 write whose PRIbits, IDbits, SEIS or A3V differ from the vCPU's, or an ICC_SRE_EL1 write
 * without SRE.
 *
 * The accesses go to the model's MMIO and ICC handlers (userspace writes behave as guest writes; KVM's
 * few uaccess-specific handlers, such as pending state of level interrupts, coincide with them in the
 * model). The AP0R1-3/AP1R1-3 registers (absent with 5 priority bits) are not offered
 * (docs/kvm-differences.md).
 */
#include <errno.h>
#include <string.h>

#include "engine/arm_vm.h"
#include "engine/vcpu.h"
#include "engine/vm.h"
#include "irqchip/arm/gicv3_regs.h"

#define VIRQ_GICD_IIDR 0x0008u
#define VIRQ_IIDR_REVISION_MASK 0xf000u
#define VIRQ_IIDR_REVISION_SHIFT 12

/* KVM_DEV_ARM_VGIC_SYSREG(): the encoding CPU_SYSREGS attributes use. */
#define VIRQ_SYSREG(op0, op1, crn, crm, op2) ((op0) << 14 | (op1) << 11 | (crn) << 7 | (crm) << 3 | (op2))
#define VIRQ_ICC_SRE_PSEUDO (-1)            /* ICC_SRE_EL1: not in the model, fixed as KVM's */
#define VIRQ_ICC_SRE_VALUE 0x7u             /* SRE | DFB | DIB */
#define VIRQ_ICC_CTLR_FIXED 0xff00u         /* PRIbits, IDbits, SEIS, A3V: userspace must write them back */

/* KVM's gic_v3_icc_reg_descs that exist with 5 priority bits, and the model's register for each. */
static const struct {
	uint16_t enc;
	int reg;
} virq_icc_sysregs[] = {
	{ VIRQ_SYSREG(3, 0, 4, 6, 0), VIRQ_ICC_PMR },
	{ VIRQ_SYSREG(3, 0, 12, 8, 3), VIRQ_ICC_BPR0 },
	{ VIRQ_SYSREG(3, 0, 12, 8, 4), VIRQ_ICC_AP0R0 },
	{ VIRQ_SYSREG(3, 0, 12, 9, 0), VIRQ_ICC_AP1R0 },
	{ VIRQ_SYSREG(3, 0, 12, 12, 3), VIRQ_ICC_BPR1 },
	{ VIRQ_SYSREG(3, 0, 12, 12, 4), VIRQ_ICC_CTLR },
	{ VIRQ_SYSREG(3, 0, 12, 12, 5), VIRQ_ICC_SRE_PSEUDO },
	{ VIRQ_SYSREG(3, 0, 12, 12, 6), VIRQ_ICC_IGRPEN0 },
	{ VIRQ_SYSREG(3, 0, 12, 12, 7), VIRQ_ICC_IGRPEN1 },
};

/* The model register a CPU_SYSREGS attribute names; false if none. */
static bool virq_icc_sysreg(uint64_t attr, int *reg)
{
	uint16_t enc = (uint16_t)(attr & KVM_DEV_ARM_VGIC_SYSREG_INSTR_MASK);

	for (size_t i = 0; i < sizeof(virq_icc_sysregs) / sizeof(virq_icc_sysregs[0]); i++) {
		if (virq_icc_sysregs[i].enc == enc) {
			*reg = virq_icc_sysregs[i].reg;
			return true;
		}
	}
	return false;
}

struct virq_reg_range {
	uint32_t start, end;
};

/* KVM's vgic_v3_dist_registers, as the offsets a 32-bit access may use. */
static const struct virq_reg_range virq_dist_ranges[] = {
	{ 0x0000, 0x0014 }, /* CTLR, TYPER, IIDR, TYPER2, STATUSR */
	{ 0x0040, 0x0044 }, { 0x0048, 0x004c }, { 0x0050, 0x0054 }, { 0x0058, 0x005c }, /* SETSPI/CLRSPI */
	{ 0x0080, 0x0400 }, /* IGROUPR, IS/ICENABLER, IS/ICPENDR, IS/ICACTIVER */
	{ 0x0400, 0x0d80 }, /* IPRIORITYR, ITARGETSR, ICFGR, IGRPMODR */
	{ 0x0e00, 0x0f04 }, /* NSACR, SGIR */
	{ 0x0f10, 0x0f30 }, /* CPENDSGIR, SPENDSGIR */
	{ 0x6000, 0x8000 }, /* IROUTER */
	{ 0xffd0, 0x10000 }, /* ID registers */
};

/* KVM's vgic_v3_rd_registers: the RD_base frame, then the SGI frame at +64 KiB. */
static const struct virq_reg_range virq_rdist_ranges[] = {
	{ 0x0000, 0x0018 },  /* CTLR, IIDR, TYPER, STATUSR, WAKER */
	{ 0x0040, 0x0050 },  /* SETLPIR, CLRLPIR */
	{ 0x0070, 0x0080 },  /* PROPBASER, PENDBASER */
	{ 0x00a0, 0x00a8 }, { 0x00b0, 0x00b8 }, { 0x00c0, 0x00c4 }, /* INVLPIR, INVALLR, SYNCR */
	{ 0xffd0, 0x10000 }, /* ID registers */
	{ 0x10080, 0x10084 }, { 0x10100, 0x10104 }, { 0x10180, 0x10184 }, /* IGROUPR0, IS/ICENABLER0 */
	{ 0x10200, 0x10204 }, { 0x10280, 0x10284 }, { 0x10300, 0x10304 }, /* IS/ICPENDR0, ISACTIVER0 */
	{ 0x10380, 0x10384 }, { 0x10400, 0x10420 }, { 0x10c00, 0x10c08 }, /* ICACTIVER0, IPRIORITYR, ICFGR */
	{ 0x10d00, 0x10d04 }, { 0x10e00, 0x10e04 },                       /* IGRPMODR0, NSACR */
};

static bool virq_reg_known(const struct virq_reg_range *r, size_t n, uint64_t offset)
{
	if (offset & 3)
		return false;
	for (size_t i = 0; i < n; i++)
		if (offset >= r[i].start && offset < r[i].end)
			return true;
	return false;
}

static bool virq_vgic_reg_known(uint32_t group, uint64_t offset)
{
	int reg;

	if (group == KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS)
		return virq_icc_sysreg(offset, &reg);
	return group == KVM_DEV_ARM_VGIC_GRP_DIST_REGS
		       ? virq_reg_known(virq_dist_ranges, sizeof(virq_dist_ranges) / sizeof(virq_dist_ranges[0]), offset)
		       : virq_reg_known(virq_rdist_ranges, sizeof(virq_rdist_ranges) / sizeof(virq_rdist_ranges[0]),
					offset);
}

int virq_vgic_regs_has_attr(const struct kvm_device_attr *attr)
{
	if (attr->group == KVM_DEV_ARM_VGIC_GRP_LEVEL_INFO)
		return (attr->attr & KVM_DEV_ARM_VGIC_LINE_LEVEL_INFO_MASK) >> KVM_DEV_ARM_VGIC_LINE_LEVEL_INFO_SHIFT ==
			       VGIC_LEVEL_INFO_LINE_LEVEL ? 0 : -ENXIO;
	return virq_vgic_reg_known(attr->group, attr->attr & KVM_DEV_ARM_VGIC_OFFSET_MASK) ? 0 : -ENXIO;
}

/* One ICC register of @vcpu from userspace, with KVM's checks on CTLR and SRE writes. */
static int virq_vgic_sysreg_access(struct virq_gic *gic, unsigned vcpu, uint64_t attr, uint64_t *val, bool write)
{
	int reg;

	if (!virq_icc_sysreg(attr, &reg))
		return -ENXIO;
	if (reg == VIRQ_ICC_SRE_PSEUDO) {
		if (write)
			return (*val & 1) ? 0 : -EINVAL;
		*val = VIRQ_ICC_SRE_VALUE;
		return 0;
	}
	if (!write) {
		*val = virq_gic_icc_read(gic, vcpu, (enum virq_icc_reg)reg);
		return 0;
	}
	if (reg == VIRQ_ICC_CTLR &&
	    ((*val ^ virq_gic_icc_read(gic, vcpu, VIRQ_ICC_CTLR)) & VIRQ_ICC_CTLR_FIXED))
		return -EINVAL;
	virq_gic_icc_write(gic, vcpu, (enum virq_icc_reg)reg, *val);
	return 0;
}

/* vgic_v3_parse_attr(): the vCPU whose registers the access means. -EINVAL if none. */
static int virq_vgic_regs_vcpu(struct virq_vm *vm, const struct kvm_device_attr *attr, unsigned *vcpu)
{
	if (attr->group == KVM_DEV_ARM_VGIC_GRP_DIST_REGS) {
		/* KVM takes vCPU index 0 for the distributor: the VM must have one. */
		for (unsigned id = 0; id < VIRQ_MAX_VCPUS; id++) {
			if (virq_vm_vcpu(vm, id)) {
				*vcpu = id;
				return 0;
			}
		}
		return -EINVAL;
	}
	uint64_t mpidr = (attr->attr & KVM_DEV_ARM_VGIC_V3_MPIDR_MASK) >> KVM_DEV_ARM_VGIC_V3_MPIDR_SHIFT;
	struct virq_gic *gic = virq_arm_gic(vm);
	/* Aff3 (31:24) is 0 for every vCPU virq makes; the model's lookup takes Aff2.Aff1.Aff0. */
	int v = gic && (mpidr >> 24) == 0 ? virq_gic_mpidr_to_vcpu(gic, mpidr) : -1;
	if (v < 0 || !virq_vm_vcpu(vm, (unsigned)v))
		return -EINVAL;
	*vcpu = (unsigned)v;
	return 0;
}

/* GICD_IIDR from userspace: only the revision may change, and only to 2 or 3 (KVM). */
static int virq_vgic_iidr_write(struct virq_gic *gic, uint32_t value)
{
	uint32_t cur = (uint32_t)virq_gic_dist_read(gic, VIRQ_GICD_IIDR, 4);
	uint32_t rev = (value & VIRQ_IIDR_REVISION_MASK) >> VIRQ_IIDR_REVISION_SHIFT;

	if ((value & ~VIRQ_IIDR_REVISION_MASK) != (cur & ~VIRQ_IIDR_REVISION_MASK) || (rev != 2 && rev != 3))
		return -EINVAL;
	return 0; /* the model implements revision 3's behaviour either way (docs/kvm-differences.md) */
}

/* vgic_v3_line_level_info_uaccess(): 32 line levels from a multiple-of-32 INTID. */
static int virq_vgic_level_info(struct virq_gic *gic, unsigned vcpu, uint64_t attr, uint64_t *val, bool write)
{
	unsigned info = (unsigned)((attr & KVM_DEV_ARM_VGIC_LINE_LEVEL_INFO_MASK) >> KVM_DEV_ARM_VGIC_LINE_LEVEL_INFO_SHIFT);
	unsigned intid = (unsigned)(attr & KVM_DEV_ARM_VGIC_LINE_LEVEL_INTID_MASK);

	if (info != VGIC_LEVEL_INFO_LINE_LEVEL || intid % 32)
		return -EINVAL;
	if (write)
		virq_gic_set_line_levels(gic, vcpu, intid, (uint32_t)*val);
	else
		*val = virq_gic_line_levels(gic, vcpu, intid);
	return 0;
}

static int virq_vgic_regs_access_locked(struct virq_vm *vm, const struct kvm_device_attr *attr, uint64_t *val,
					bool write)
{
	uint64_t offset = attr->attr & KVM_DEV_ARM_VGIC_OFFSET_MASK;
	struct virq_gic *gic = virq_arm_gic(vm);
	unsigned vcpu;
	int ret;

	if (!gic)
		return -EBUSY; /* KVM: not initialised */
	ret = virq_vgic_regs_vcpu(vm, attr, &vcpu);
	if (ret < 0)
		return ret;
	if (attr->group == KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS)
		return virq_vgic_sysreg_access(gic, vcpu, attr->attr, val, write);
	if (attr->group == KVM_DEV_ARM_VGIC_GRP_LEVEL_INFO)
		return virq_vgic_level_info(gic, vcpu, attr->attr, val, write);
	if (!virq_vgic_reg_known(attr->group, offset))
		return -ENXIO;
	if (attr->group == KVM_DEV_ARM_VGIC_GRP_DIST_REGS) {
		if (write && offset == VIRQ_GICD_IIDR)
			return virq_vgic_iidr_write(gic, (uint32_t)*val);
		if (write) /* userspace: a hardware-mapped SPI's physical interrupt is left alone (KVM) */
			virq_gic_dist_uaccess_write(gic, offset, 4, *val);
		else
			*val = (uint32_t)virq_gic_dist_read(gic, offset, 4);
	} else {
		if (write)
			virq_gic_redist_write(gic, vcpu, offset, 4, *val);
		else
			*val = (uint32_t)virq_gic_redist_read(gic, vcpu, offset, 4);
	}
	return 0;
}

int virq_vgic_regs_access(struct virq_vm *vm, const struct kvm_device_attr *attr, bool write)
{
	/* The value is a u32, but a u64 for the ICC system registers. */
	size_t width = attr->group == KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS ? sizeof(uint64_t) : sizeof(uint32_t);
	uint64_t val = 0;
	int ret;

	if (!attr->addr)
		return -EFAULT;
	if (write)
		memcpy(&val, (const void *)(uintptr_t)attr->addr, width); /* little-endian: the low bytes */
	pthread_mutex_lock(&vm->lock);
	ret = virq_arm_lock_all_vcpus_locked(vm);
	if (ret == 0) {
		ret = virq_vgic_regs_access_locked(vm, attr, &val, write);
		virq_arm_unlock_all_vcpus_locked(vm);
	}
	pthread_mutex_unlock(&vm->lock);
	if (ret == 0 && !write)
		memcpy((void *)(uintptr_t)attr->addr, &val, width);
	if (ret == 0 && write && attr->group == KVM_DEV_ARM_VGIC_GRP_REDIST_REGS)
		virq_arm_bypass_refresh(vm, false); /* a restored GICR_CTLR.EnableLPIs: direct LPI injection */
	return ret;
}
