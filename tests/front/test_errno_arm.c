/* SPDX-License-Identifier: MIT */
/*
 * test_errno_arm.c - an arm64 VM through the KVM-compatible front, errno by errno (kvm-arm.md §1.1-1.5,
 * §1.8): KVM_CREATE_VM's types side by side, per-VM KVM_CHECK_EXTENSION, KVM_CREATE_IRQCHIP, KVM_IRQ_LINE's
 * arm64 encoding, KVM_CREATE_DEVICE, the vGICv3 and ITS attributes, and KVM_SIGNAL_MSI with a DeviceID.
 */
#include "arm_fixture.h"

static void test_x86_and_arm64_vms_side_by_side(void **state)
{
	(void)state;
	struct arm_vm a;
	arm_vm_open(&a, 1, true, NULL);
	int x86 = fx_create_vm(a.sys, FX_IRQCHIP | FX_NO_HALT_POLL);

	/* Each answers as its own architecture's KVM. */
	assert_int_equal(virq_ioctl(x86, KVM_CHECK_EXTENSION, KVM_CAP_IRQ_INJECT_STATUS), 1);
	assert_int_equal(virq_ioctl(a.vm, KVM_CHECK_EXTENSION, KVM_CAP_IRQ_INJECT_STATUS), 0);
	assert_int_equal(virq_ioctl(x86, KVM_CHECK_EXTENSION, KVM_CAP_MSI_DEVID), 0);
	assert_int_equal(virq_ioctl(a.vm, KVM_CHECK_EXTENSION, KVM_CAP_MSI_DEVID), 1);
	assert_int_equal(virq_ioctl(a.vm, KVM_CHECK_EXTENSION, KVM_CAP_ARM_IRQ_LINE_LAYOUT_2), 1);
	assert_int_equal(virq_ioctl(x86, KVM_CHECK_EXTENSION, KVM_CAP_ARM_IRQ_LINE_LAYOUT_2), 0);

	/* An x86 guest program does not load on an Arm vCPU, nor the reverse. */
	int x86_vcpu = fx_create_vcpu(x86, 0);
	assert_fails(virq_guest_load(a.vcpu[0], "vector 0x41: iret\nmain: hlt\n"), EINVAL);
	assert_fails(virq_guest_load(x86_vcpu, "intid 8192: eret\nmain: hlt\n"), EINVAL);
	assert_int_equal(virq_guest_load(a.vcpu[0], "intid 8192: eret\nmain: hlt\n"), 0);
	assert_int_equal(virq_guest_load(x86_vcpu, "main: hlt\n"), 0);

	/* The arm64 VM's MSI goes through its ITS (disabled yet: EBUSY); x86 ignores the devid. */
	assert_fails(arm_signal_msi(a.vm, 0, 0), EBUSY);
	CLOSE_ALL(x86_vcpu, x86);
	arm_vm_close(&a);
}

static void test_create_vm_types(void **state)
{
	(void)state;
	int sys = fx_open_sys();
	static const unsigned long bad[] = { 1, 2, VIRQ_VM_TYPE_ARM64 + 1, 0xffffffffu, ~0ul };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_fails(virq_ioctl(sys, KVM_CREATE_VM, bad[i]), EINVAL);
	int vm = virq_ioctl(sys, KVM_CREATE_VM, VIRQ_VM_TYPE_ARM64);
	assert_true(vm >= 0);
	CLOSE_ALL(sys, vm);
}

static void test_check_extension_msi_devid_follows_the_its(void **state)
{
	(void)state;
	int sys = fx_open_sys();
	int vm = arm_create_vm(sys);
	assert_int_equal(virq_ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_MSI_DEVID), 0);
	assert_int_equal(virq_ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_IRQ_ROUTING), KVM_MAX_IRQ_ROUTES);
	assert_int_equal(virq_ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_IRQFD_RESAMPLE), 1);
	assert_int_equal(virq_ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_SIGNAL_MSI), 1);
	assert_int_equal(virq_ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_IRQCHIP), 1);
	assert_int_equal(virq_ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_DEVICE_CTRL), 1);
	assert_int_equal(virq_ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_IOAPIC_POLARITY_IGNORED), 0);
	assert_int_equal(virq_ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_MULTI_ADDRESS_SPACE), 1);
	static uint8_t page[4096] __attribute__((aligned(4096)));
	struct kvm_userspace_memory_region smm = { .slot = 1u << 16, .guest_phys_addr = 0, .memory_size = 4096,
						   .userspace_addr = (uint64_t)(uintptr_t)page };
	assert_fails(virq_ioctl(vm, KVM_SET_USER_MEMORY_REGION, &smm), EINVAL); /* one address space */
	int gic = arm_create_device(vm, KVM_DEV_TYPE_ARM_VGIC_V3);
	assert_true(gic >= 0);
	assert_int_equal(virq_ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_MSI_DEVID), 0);
	int its = arm_create_device(vm, KVM_DEV_TYPE_ARM_VGIC_ITS);
	assert_true(its >= 0);
	assert_int_equal(virq_ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_MSI_DEVID), 1);
	/* It stays 1 once the ITS fd is closed: the device lives as long as the VM. */
	assert_int_equal(virq_close(its), 0);
	assert_int_equal(virq_ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_MSI_DEVID), 1);
	CLOSE_ALL(sys, vm, gic);
}

static void test_create_irqchip_and_devices(void **state)
{
	(void)state;
	int sys = fx_open_sys();
	int vm = arm_create_vm(sys);
	/* arm64's KVM_CREATE_IRQCHIP makes a GICv2, which a GICv3-only host cannot emulate. */
	assert_fails(virq_ioctl(vm, KVM_CREATE_IRQCHIP, 0), ENODEV);
	struct kvm_create_device cd = { .type = KVM_DEV_TYPE_ARM_VGIC_V2 };
	assert_fails(virq_ioctl(vm, KVM_CREATE_DEVICE, &cd), ENODEV);
	cd = (struct kvm_create_device){ .type = KVM_DEV_TYPE_VFIO, .flags = KVM_CREATE_DEVICE_TEST };
	assert_int_equal(virq_ioctl(vm, KVM_CREATE_DEVICE, &cd), 0); /* the kvm-vfio device (forwarding) */
	cd = (struct kvm_create_device){ .type = 0x7777 };
	assert_fails(virq_ioctl(vm, KVM_CREATE_DEVICE, &cd), ENODEV);
	assert_fails(virq_ioctl(vm, KVM_CREATE_DEVICE, NULL), EFAULT);
	/* TEST creates nothing. */
	cd = (struct kvm_create_device){ .type = KVM_DEV_TYPE_ARM_VGIC_V3, .flags = KVM_CREATE_DEVICE_TEST };
	assert_int_equal(virq_ioctl(vm, KVM_CREATE_DEVICE, &cd), 0);
	int gic = arm_create_device(vm, KVM_DEV_TYPE_ARM_VGIC_V3);
	assert_true(gic >= 0);
	assert_fails(arm_create_device(vm, KVM_DEV_TYPE_ARM_VGIC_V3), EEXIST);
	assert_fails(virq_ioctl(vm, KVM_CREATE_IRQCHIP, 0), EEXIST);
	/* A device handle takes the attribute ioctls only. */
	assert_fails(virq_ioctl(gic, KVM_RUN, 0), ENOTTY);
	assert_fails(virq_ioctl(gic, KVM_SET_DEVICE_ATTR, NULL), EFAULT);
	CLOSE_ALL(sys, vm, gic);
}

static void test_irq_line_arm64_encoding(void **state)
{
	(void)state;
	int sys = fx_open_sys();
	int vm = arm_create_vm(sys);
	int vcpu = fx_create_vcpu(vm, 0);
	struct kvm_irq_level line = { .level = 1 };
	const uint32_t spi = KVM_ARM_IRQ_TYPE_SPI << KVM_ARM_IRQ_TYPE_SHIFT;
	const uint32_t ppi = KVM_ARM_IRQ_TYPE_PPI << KVM_ARM_IRQ_TYPE_SHIFT;

	/* No vGIC: SPI and PPI lines do not exist; the CPU's own IRQ line does. */
	line.irq = spi | 40;
	assert_fails(virq_ioctl(vm, KVM_IRQ_LINE, &line), ENXIO);
	line.irq = ppi | 20;
	assert_fails(virq_ioctl(vm, KVM_IRQ_LINE, &line), ENXIO);
	line.irq = KVM_ARM_IRQ_CPU_IRQ;
	assert_int_equal(virq_ioctl(vm, KVM_IRQ_LINE, &line), 0);
	line.irq = 2;
	assert_fails(virq_ioctl(vm, KVM_IRQ_LINE, &line), EINVAL);
	line.irq = 5u << KVM_ARM_IRQ_VCPU_SHIFT; /* no vCPU 5 */
	assert_fails(virq_ioctl(vm, KVM_IRQ_LINE, &line), EINVAL);

	int gic = arm_create_device(vm, KVM_DEV_TYPE_ARM_VGIC_V3);
	assert_true(gic >= 0);
	line.irq = KVM_ARM_IRQ_CPU_IRQ;
	assert_fails(virq_ioctl(vm, KVM_IRQ_LINE, &line), ENXIO);
	/* Before CTRL_INIT a GICv3 takes nothing (no lazy init). */
	line.irq = spi | 40;
	assert_fails(virq_ioctl(vm, KVM_IRQ_LINE, &line), EBUSY);
	assert_int_equal(arm_set_attr(gic, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, NULL), 0);
	assert_int_equal(virq_ioctl(vm, KVM_IRQ_LINE, &line), 0);
	line.irq = spi | 31; /* a private INTID as an SPI */
	assert_fails(virq_ioctl(vm, KVM_IRQ_LINE, &line), EINVAL);
	line.irq = spi | 256; /* beyond the default 224 SPIs */
	assert_fails(virq_ioctl(vm, KVM_IRQ_LINE, &line), EINVAL);
	line.irq = spi | 255;
	assert_int_equal(virq_ioctl(vm, KVM_IRQ_LINE, &line), 0);
	/* KVM_IRQ_LINE_STATUS exists on arm64 but writes nothing: status (a union with irq) reads back as irq. */
	assert_int_equal(virq_ioctl(vm, KVM_IRQ_LINE_STATUS, &line), 0);
	assert_int_equal((uint32_t)line.status, spi | 255);
	line.irq = ppi | 20;
	assert_int_equal(virq_ioctl(vm, KVM_IRQ_LINE, &line), 0);
	line.irq = ppi | 15; /* an SGI is not a PPI */
	assert_fails(virq_ioctl(vm, KVM_IRQ_LINE, &line), EINVAL);
	line.irq = ppi | 1u << KVM_ARM_IRQ_VCPU_SHIFT | 20; /* vCPU 1 does not exist */
	assert_fails(virq_ioctl(vm, KVM_IRQ_LINE, &line), EINVAL);
	line.irq = 3u << KVM_ARM_IRQ_TYPE_SHIFT | 40;
	assert_fails(virq_ioctl(vm, KVM_IRQ_LINE, &line), EINVAL);
	/* Once the vGIC is initialised no vCPU may join it. */
	assert_fails(virq_ioctl(vm, KVM_CREATE_VCPU, 1), EBUSY);
	CLOSE_ALL(sys, vm, vcpu, gic);
}

static void test_vgic_attributes(void **state)
{
	(void)state;
	int sys = fx_open_sys();
	int vm = arm_create_vm(sys);
	int vcpu0 = fx_create_vcpu(vm, 0), vcpu1 = fx_create_vcpu(vm, 1);
	int gic = arm_create_device(vm, KVM_DEV_TYPE_ARM_VGIC_V3);
	uint64_t a;
	uint32_t n;

	/* has_attr */
	assert_int_equal(arm_has_attr(gic, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_DIST), 0);
	assert_int_equal(arm_has_attr(gic, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_REDIST_REGION), 0);
	assert_fails(arm_has_attr(gic, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V2_ADDR_TYPE_DIST), ENXIO);
	assert_fails(arm_has_attr(gic, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_ITS_ADDR_TYPE), ENXIO);
	assert_int_equal(arm_has_attr(gic, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT), 0);
	assert_int_equal(arm_has_attr(gic, KVM_DEV_ARM_VGIC_GRP_NR_IRQS, 0), 0);
	assert_fails(arm_has_attr(gic, 99, 0), ENXIO);

	/* ADDR: unset reads all-ones; alignment, IPA range, twice, wrong type, bad pointer. */
	assert_int_equal(arm_get_attr(gic, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_DIST, &a), 0);
	assert_true(a == UINT64_MAX);
	a = ARM_GICD + 0x1000;
	assert_fails(arm_set_attr(gic, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_DIST, &a), EINVAL);
	a = 1ull << 40;
	assert_fails(arm_set_attr(gic, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_DIST, &a), E2BIG);
	assert_fails(arm_set_attr(gic, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_DIST, NULL), EFAULT);
	assert_fails(arm_set_attr(gic, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V2_ADDR_TYPE_CPU, &a), ENXIO);
	a = ARM_GICD;
	assert_int_equal(arm_set_attr(gic, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_DIST, &a), 0);
	assert_fails(arm_set_attr(gic, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_DIST, &a), EEXIST);
	assert_int_equal(arm_get_attr(gic, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_DIST, &a), 0);
	assert_true(a == ARM_GICD);

	/* REDIST_REGION: count 0, flags, index order, overlap with the distributor or another region. */
	const uint64_t count2 = 2ull << KVM_VGIC_V3_RDIST_COUNT_SHIFT;
	a = ARM_GICR;
	assert_fails(arm_set_attr(gic, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_REDIST_REGION, &a), EINVAL);
	a = ARM_GICR | count2 | 1ull << KVM_VGIC_V3_RDIST_FLAGS_SHIFT;
	assert_fails(arm_set_attr(gic, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_REDIST_REGION, &a), EINVAL);
	a = ARM_GICR | count2 | 1; /* index 1 first */
	assert_fails(arm_set_attr(gic, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_REDIST_REGION, &a), EINVAL);
	a = ARM_GICD | count2; /* over the distributor */
	assert_fails(arm_set_attr(gic, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_REDIST_REGION, &a), EINVAL);
	a = ((1ull << 40) - 0x20000) | count2; /* partly beyond the IPA space */
	assert_fails(arm_set_attr(gic, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_REDIST_REGION, &a), E2BIG);
	a = ARM_GICR | (1ull << KVM_VGIC_V3_RDIST_COUNT_SHIFT);
	assert_int_equal(arm_set_attr(gic, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_REDIST_REGION, &a), 0);
	a = ARM_GICR | (1ull << KVM_VGIC_V3_RDIST_COUNT_SHIFT) | 1; /* overlaps region 0 */
	assert_fails(arm_set_attr(gic, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_REDIST_REGION, &a), EINVAL);
	a = ARM_GICR; /* legacy REDIST after regions */
	assert_fails(arm_set_attr(gic, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_REDIST, &a), EINVAL);
	a = 1; /* reading region 1: none yet */
	assert_fails(arm_get_attr(gic, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_REDIST_REGION, &a), ENOENT);
	a = 0;
	assert_int_equal(arm_get_attr(gic, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_REDIST_REGION, &a), 0);
	assert_true(a == (ARM_GICR | 1ull << KVM_VGIC_V3_RDIST_COUNT_SHIFT));

	/* NR_IRQS: 64..1024 in steps of 32, once. */
	n = 32 + 16;
	assert_fails(arm_set_attr(gic, KVM_DEV_ARM_VGIC_GRP_NR_IRQS, 0, &n), EINVAL);
	n = 1056;
	assert_fails(arm_set_attr(gic, KVM_DEV_ARM_VGIC_GRP_NR_IRQS, 0, &n), EINVAL);
	n = 100;
	assert_fails(arm_set_attr(gic, KVM_DEV_ARM_VGIC_GRP_NR_IRQS, 0, &n), EINVAL);
	assert_fails(arm_set_attr(gic, KVM_DEV_ARM_VGIC_GRP_NR_IRQS, 0, NULL), EFAULT);
	n = 128;
	assert_int_equal(arm_set_attr(gic, KVM_DEV_ARM_VGIC_GRP_NR_IRQS, 0, &n), 0);
	assert_fails(arm_set_attr(gic, KVM_DEV_ARM_VGIC_GRP_NR_IRQS, 0, &n), EBUSY);
	n = 0;
	assert_int_equal(arm_get_attr(gic, KVM_DEV_ARM_VGIC_GRP_NR_IRQS, 0, &n), 0);
	assert_int_equal(n, 128);

	/* CTRL: unknown attr; SAVE_PENDING_TABLES before init; INIT; INIT again is a no-op. */
	assert_fails(arm_set_attr(gic, KVM_DEV_ARM_VGIC_GRP_CTRL, 77, NULL), ENXIO);
	assert_fails(arm_set_attr(gic, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_SAVE_PENDING_TABLES, NULL), ENXIO);
	assert_int_equal(virq_guest_load(vcpu0, "main: shutdown\n"), 0);
	assert_fails(virq_ioctl(vcpu0, KVM_RUN, 0), EBUSY); /* GICv3: no lazy init */
	assert_int_equal(arm_set_attr(gic, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, NULL), 0);
	assert_int_equal(arm_set_attr(gic, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, NULL), 0);
	assert_fails(arm_set_attr(gic, KVM_DEV_ARM_VGIC_GRP_NR_IRQS, 0, &n), EBUSY);
	assert_fails(virq_ioctl(vm, KVM_CREATE_VCPU, 2), EBUSY);
	/* Region 0 holds one redistributor: vCPU 1 has none, so the first run fails (map_resources). */
	assert_int_equal(virq_guest_load(vcpu1, "main: shutdown\n"), 0);
	assert_fails(virq_ioctl(vcpu1, KVM_RUN, 0), ENXIO);
	a = (ARM_GICR + 0x100000) | (1ull << KVM_VGIC_V3_RDIST_COUNT_SHIFT) | 1;
	assert_int_equal(arm_set_attr(gic, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_REDIST_REGION, &a), 0);
	assert_int_equal(virq_ioctl(vcpu1, KVM_RUN, 0), 0);
	assert_int_equal(virq_vcpu_run_struct(vcpu1)->exit_reason, KVM_EXIT_SHUTDOWN);
	assert_int_equal(arm_set_attr(gic, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_SAVE_PENDING_TABLES, NULL), 0);
	CLOSE_ALL(sys, vm, vcpu0, vcpu1, gic);
}

/* DIST_REGS / REDIST_REGS: a u32 at addr; attr = MPIDR (63:32, REDIST only) | offset. */
static void test_vgic_register_groups(void **state)
{
	(void)state;
	int sys = fx_open_sys();
	int vm = arm_create_vm(sys);
	int gic = arm_create_device(vm, KVM_DEV_TYPE_ARM_VGIC_V3);
	uint32_t v = 0;
	const uint64_t mpidr1 = 1ull << KVM_DEV_ARM_VGIC_V3_MPIDR_SHIFT; /* Aff0 = 1: vCPU 1 */

	assert_int_equal(arm_has_attr(gic, KVM_DEV_ARM_VGIC_GRP_DIST_REGS, 0x0), 0);
	assert_int_equal(arm_has_attr(gic, KVM_DEV_ARM_VGIC_GRP_DIST_REGS, 0x6100), 0);
	assert_fails(arm_has_attr(gic, KVM_DEV_ARM_VGIC_GRP_DIST_REGS, 0x2), ENXIO);
	assert_fails(arm_has_attr(gic, KVM_DEV_ARM_VGIC_GRP_DIST_REGS, 0x9000), ENXIO);
	assert_int_equal(arm_has_attr(gic, KVM_DEV_ARM_VGIC_GRP_REDIST_REGS, 0x70), 0);
	assert_int_equal(arm_has_attr(gic, KVM_DEV_ARM_VGIC_GRP_REDIST_REGS, 0x10400), 0);
	assert_fails(arm_has_attr(gic, KVM_DEV_ARM_VGIC_GRP_REDIST_REGS, 0x20), ENXIO);
	assert_fails(arm_has_attr(gic, KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS, 0), ENXIO);
	assert_int_equal(arm_has_attr(gic, KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS, ARM_ICC_PMR), 0);
	assert_int_equal(arm_has_attr(gic, KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS, ARM_ICC_SRE), 0);
	assert_int_equal(arm_has_attr(gic, KVM_DEV_ARM_VGIC_GRP_LEVEL_INFO, 32), 0);
	assert_fails(arm_has_attr(gic, KVM_DEV_ARM_VGIC_GRP_LEVEL_INFO, 1u << 10 | 32), ENXIO);

	/* No vCPU at all: DIST_REGS has no vCPU 0 to go through. Before init: EBUSY. */
	assert_fails(arm_get_attr(gic, KVM_DEV_ARM_VGIC_GRP_DIST_REGS, 0x0, NULL), EFAULT);
	int vcpu0 = fx_create_vcpu(vm, 0), vcpu1 = fx_create_vcpu(vm, 1);
	assert_fails(arm_get_attr(gic, KVM_DEV_ARM_VGIC_GRP_DIST_REGS, 0x0, &v), EBUSY);
	assert_int_equal(arm_set_attr(gic, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, NULL), 0);

	/* GICD_CTLR round trip; GICD_IIDR: only the revision may change, to 2 or 3. */
	v = 0x2;
	assert_int_equal(arm_set_attr(gic, KVM_DEV_ARM_VGIC_GRP_DIST_REGS, 0x0, &v), 0);
	v = 0;
	assert_int_equal(arm_get_attr(gic, KVM_DEV_ARM_VGIC_GRP_DIST_REGS, 0x0, &v), 0);
	assert_true(v & 0x2);
	uint32_t iidr;
	assert_int_equal(arm_get_attr(gic, KVM_DEV_ARM_VGIC_GRP_DIST_REGS, 0x8, &iidr), 0);
	assert_int_equal((iidr >> 12) & 0xf, 3);
	v = (iidr & ~0xf000u) | 0x2000;
	assert_int_equal(arm_set_attr(gic, KVM_DEV_ARM_VGIC_GRP_DIST_REGS, 0x8, &v), 0);
	v = (iidr & ~0xf000u) | 0x1000;
	assert_fails(arm_set_attr(gic, KVM_DEV_ARM_VGIC_GRP_DIST_REGS, 0x8, &v), EINVAL);
	v = iidr ^ 1;
	assert_fails(arm_set_attr(gic, KVM_DEV_ARM_VGIC_GRP_DIST_REGS, 0x8, &v), EINVAL);
	assert_fails(arm_get_attr(gic, KVM_DEV_ARM_VGIC_GRP_DIST_REGS, 0x6, &v), ENXIO);

	/* GICR_TYPER of vCPU 1 by its MPIDR: Processor_Number 1, Last set. An unknown MPIDR is EINVAL. */
	assert_int_equal(arm_get_attr(gic, KVM_DEV_ARM_VGIC_GRP_REDIST_REGS, mpidr1 | 0x8, &v), 0);
	assert_int_equal((v >> 8) & 0xffff, 1);
	assert_true(v & (1u << 4));
	assert_fails(arm_get_attr(gic, KVM_DEV_ARM_VGIC_GRP_REDIST_REGS, 5ull << 32 | 0x8, &v), EINVAL);
	/* PROPBASER in two halves. */
	v = 0x4000000f;
	assert_int_equal(arm_set_attr(gic, KVM_DEV_ARM_VGIC_GRP_REDIST_REGS, mpidr1 | 0x70, &v), 0);
	v = 0;
	assert_int_equal(arm_get_attr(gic, KVM_DEV_ARM_VGIC_GRP_REDIST_REGS, 0x70, &v), 0); /* one per VM */
	assert_int_equal(v & 0xfffff01f, 0x4000000f);

	/* CPU_SYSREGS: u64 values; CTLR's read-only fields must be written back unchanged; SRE must stay 1. */
	uint64_t r64 = 0xf0;
	assert_int_equal(arm_set_attr(gic, KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS, mpidr1 | ARM_ICC_PMR, &r64), 0);
	r64 = 0;
	assert_int_equal(arm_get_attr(gic, KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS, mpidr1 | ARM_ICC_PMR, &r64), 0);
	assert_true(r64 == 0xf0);
	assert_int_equal(arm_get_attr(gic, KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS, ARM_ICC_PMR, &r64), 0);
	assert_true(r64 == 0); /* vCPU 0's is its own */
	assert_int_equal(arm_get_attr(gic, KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS, ARM_ICC_SRE, &r64), 0);
	assert_true(r64 == 7);
	r64 = 6;
	assert_fails(arm_set_attr(gic, KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS, ARM_ICC_SRE, &r64), EINVAL);
	uint64_t ctlr;
	assert_int_equal(arm_get_attr(gic, KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS, ARM_ICC_CTLR, &ctlr), 0);
	r64 = ctlr ^ (1u << 8); /* another PRIbits */
	assert_fails(arm_set_attr(gic, KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS, ARM_ICC_CTLR, &r64), EINVAL);
	r64 = ctlr | 2; /* EOImode */
	assert_int_equal(arm_set_attr(gic, KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS, ARM_ICC_CTLR, &r64), 0);
	assert_int_equal(arm_get_attr(gic, KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS, ARM_ICC_CTLR, &r64), 0);
	assert_true(r64 & 2);
	assert_fails(arm_get_attr(gic, KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS, ARM_SYSREG(3, 0, 12, 8, 5), &r64), ENXIO);
	assert_fails(arm_get_attr(gic, KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS, 7ull << 32 | ARM_ICC_PMR, &r64), EINVAL);

	/* LEVEL_INFO: the lines of level-configured interrupts, 32 at a time. */
	v = 0; /* GICD_ICFGR2: INTIDs 32-47 level */
	assert_int_equal(arm_set_attr(gic, KVM_DEV_ARM_VGIC_GRP_DIST_REGS, 0xc08, &v), 0);
	v = 1u << 8; /* INTID 40 high */
	assert_int_equal(arm_set_attr(gic, KVM_DEV_ARM_VGIC_GRP_LEVEL_INFO, 32, &v), 0);
	v = 0;
	assert_int_equal(arm_get_attr(gic, KVM_DEV_ARM_VGIC_GRP_LEVEL_INFO, 32, &v), 0);
	assert_int_equal(v, 1u << 8);
	v = 1u << 20; /* INTID 84 is edge: its line is stored, not reported */
	assert_int_equal(arm_set_attr(gic, KVM_DEV_ARM_VGIC_GRP_LEVEL_INFO, 64, &v), 0);
	assert_int_equal(arm_get_attr(gic, KVM_DEV_ARM_VGIC_GRP_LEVEL_INFO, 64, &v), 0);
	assert_int_equal(v, 0);
	assert_fails(arm_get_attr(gic, KVM_DEV_ARM_VGIC_GRP_LEVEL_INFO, 33, &v), EINVAL);
	assert_fails(arm_get_attr(gic, KVM_DEV_ARM_VGIC_GRP_LEVEL_INFO, 1u << 10 | 32, &v), EINVAL);
	assert_fails(arm_get_attr(gic, KVM_DEV_ARM_VGIC_GRP_LEVEL_INFO, 7ull << 32 | 32, &v), EINVAL);
	assert_int_equal(arm_get_attr(gic, KVM_DEV_ARM_VGIC_GRP_LEVEL_INFO, 992, &v), 0); /* beyond the SPIs */
	assert_int_equal(v, 0);
	CLOSE_ALL(sys, vm, gic, vcpu0, vcpu1);
}

static void test_vgic_frames_checked_at_first_run(void **state)
{
	(void)state;
	int sys = fx_open_sys();
	int vm = arm_create_vm(sys);
	int gic = arm_create_device(vm, KVM_DEV_TYPE_ARM_VGIC_V3);
	uint64_t a = ARM_GICR;
	/* A legacy region set before any vCPU exists has no size yet: overlap shows only at the first run. */
	assert_int_equal(arm_set_attr(gic, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_REDIST, &a), 0);
	assert_fails(arm_set_attr(gic, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_REDIST, &a), EEXIST);
	int vcpu = fx_create_vcpu(vm, 0);
	assert_int_equal(virq_guest_load(vcpu, "main: shutdown\n"), 0);
	assert_int_equal(arm_set_attr(gic, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, NULL), 0);
	assert_fails(virq_ioctl(vcpu, KVM_RUN, 0), ENXIO); /* no distributor */
	/* Now the region has a size (one vCPU): a distributor inside it is refused at once. */
	a = ARM_GICR + 0x10000;
	assert_fails(arm_set_attr(gic, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_DIST, &a), EINVAL);
	a = ARM_GICD;
	assert_int_equal(arm_set_attr(gic, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_DIST, &a), 0);
	assert_int_equal(virq_ioctl(vcpu, KVM_RUN, 0), 0);
	assert_int_equal(virq_vcpu_run_struct(vcpu)->exit_reason, KVM_EXIT_SHUTDOWN);
	CLOSE_ALL(sys, vm, gic, vcpu);

	/* Distributor first, legacy region of size 0 over it, then a vCPU: EINVAL at the first run. */
	sys = fx_open_sys();
	vm = arm_create_vm(sys);
	gic = arm_create_device(vm, KVM_DEV_TYPE_ARM_VGIC_V3);
	a = ARM_GICD;
	assert_int_equal(arm_set_attr(gic, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_DIST, &a), 0);
	a = ARM_GICD - 0x10000;
	assert_int_equal(arm_set_attr(gic, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_REDIST, &a), 0);
	vcpu = fx_create_vcpu(vm, 0);
	assert_int_equal(virq_guest_load(vcpu, "main: shutdown\n"), 0);
	assert_int_equal(arm_set_attr(gic, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, NULL), 0);
	assert_fails(virq_ioctl(vcpu, KVM_RUN, 0), EINVAL);
	CLOSE_ALL(sys, vm, gic, vcpu);
}

static void test_its_attributes(void **state)
{
	(void)state;
	int sys = fx_open_sys();
	int vm = arm_create_vm(sys);
	int vcpu = fx_create_vcpu(vm, 0);
	int gic = arm_create_device(vm, KVM_DEV_TYPE_ARM_VGIC_V3);
	int its = arm_create_device(vm, KVM_DEV_TYPE_ARM_VGIC_ITS);
	uint64_t v;

	assert_int_equal(arm_has_attr(its, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_ITS_ADDR_TYPE), 0);
	assert_fails(arm_has_attr(its, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_DIST), ENXIO);
	static const uint64_t ctrl[] = { KVM_DEV_ARM_VGIC_CTRL_INIT, KVM_DEV_ARM_ITS_SAVE_TABLES,
					 KVM_DEV_ARM_ITS_RESTORE_TABLES, KVM_DEV_ARM_ITS_CTRL_RESET };
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(arm_has_attr(its, KVM_DEV_ARM_VGIC_GRP_CTRL, ctrl[i]), 0);
	assert_fails(arm_has_attr(its, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_SAVE_PENDING_TABLES), ENXIO);
	assert_int_equal(arm_has_attr(its, KVM_DEV_ARM_VGIC_GRP_ITS_REGS, 0x80), 0);
	assert_fails(arm_has_attr(its, KVM_DEV_ARM_VGIC_GRP_ITS_REGS, 0x200), ENXIO);
	assert_fails(arm_has_attr(its, KVM_DEV_ARM_VGIC_GRP_NR_IRQS, 0), ENXIO);

	/* The frame: unset reads all-ones; wrong attr ENODEV; alignment; range; twice. */
	assert_int_equal(arm_get_attr(its, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_ITS_ADDR_TYPE, &v), 0);
	assert_true(v == UINT64_MAX);
	assert_fails(arm_get_attr(its, KVM_DEV_ARM_VGIC_GRP_ADDR, 0, &v), ENODEV);
	v = ARM_ITS;
	assert_fails(arm_set_attr(its, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_DIST, &v), ENODEV);
	assert_fails(arm_set_attr(its, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_ITS_ADDR_TYPE, NULL), EFAULT);
	v = ARM_ITS + 0x8000;
	assert_fails(arm_set_attr(its, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_ITS_ADDR_TYPE, &v), EINVAL);
	v = (1ull << 40) - 0x10000; /* 128 KiB would cross the end of the IPA space */
	assert_fails(arm_set_attr(its, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_ITS_ADDR_TYPE, &v), E2BIG);

	/* Registers need the base first. */
	assert_fails(arm_get_attr(its, KVM_DEV_ARM_VGIC_GRP_ITS_REGS, 0x80, &v), ENXIO);
	v = ARM_ITS;
	assert_int_equal(arm_set_attr(its, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_ITS_ADDR_TYPE, &v), 0);
	assert_fails(arm_set_attr(its, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_ITS_ADDR_TYPE, &v), EEXIST);
	/* virq's ITS model is built with the vGIC (docs/kvm-differences.md): ENXIO until CTRL_INIT. */
	assert_fails(arm_get_attr(its, KVM_DEV_ARM_VGIC_GRP_ITS_REGS, 0x80, &v), ENXIO);
	assert_int_equal(arm_set_attr(its, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, NULL), 0);
	assert_int_equal(arm_set_attr(gic, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, NULL), 0);

	assert_int_equal(arm_get_attr(its, KVM_DEV_ARM_VGIC_GRP_ITS_REGS, 0x4, &v), 0); /* IIDR */
	assert_true(v == 0x4B00043B);
	assert_fails(arm_get_attr(its, KVM_DEV_ARM_VGIC_GRP_ITS_REGS, 0x84, &v), EINVAL); /* misaligned */
	assert_fails(arm_get_attr(its, KVM_DEV_ARM_VGIC_GRP_ITS_REGS, 0x2, &v), EINVAL);
	assert_fails(arm_get_attr(its, KVM_DEV_ARM_VGIC_GRP_ITS_REGS, 0x200, &v), ENXIO);
	assert_fails(arm_get_attr(its, KVM_DEV_ARM_VGIC_GRP_ITS_REGS, 0x80, NULL), EFAULT);
	v = 0x1000; /* IIDR revision 1: no such ABI */
	assert_fails(arm_set_attr(its, KVM_DEV_ARM_VGIC_GRP_ITS_REGS, 0x4, &v), EINVAL);
	v = 1ull << 63 | ARM_CMDQ;
	assert_int_equal(arm_set_attr(its, KVM_DEV_ARM_VGIC_GRP_ITS_REGS, 0x80, &v), 0);
	v = 0x1000; /* CREADR beyond the 4 KiB queue */
	assert_fails(arm_set_attr(its, KVM_DEV_ARM_VGIC_GRP_ITS_REGS, 0x90, &v), EINVAL);
	v = 0x40;
	assert_int_equal(arm_set_attr(its, KVM_DEV_ARM_VGIC_GRP_ITS_REGS, 0x90, &v), 0);
	assert_int_equal(arm_get_attr(its, KVM_DEV_ARM_VGIC_GRP_ITS_REGS, 0x90, &v), 0);
	assert_true(v == 0x40);

	/* CTRL: unknown attr; save and restore of empty tables; reset. */
	assert_fails(arm_set_attr(its, KVM_DEV_ARM_VGIC_GRP_CTRL, 9, NULL), ENXIO);
	assert_int_equal(arm_set_attr(its, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_ITS_SAVE_TABLES, NULL), 0);
	assert_int_equal(arm_set_attr(its, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_ITS_RESTORE_TABLES, NULL), 0);
	assert_int_equal(arm_set_attr(its, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_ITS_CTRL_RESET, NULL), 0);
	assert_int_equal(arm_get_attr(its, KVM_DEV_ARM_VGIC_GRP_ITS_REGS, 0x80, &v), 0);
	assert_true(v == 0);
	assert_fails(arm_set_attr(its, 99, 0, &v), ENXIO);
	assert_fails(virq_ioctl(its, KVM_RUN, 0), ENOTTY);

	/* A second ITS is allowed; its frame may not overlap... KVM does not check, nor does virq. */
	int its2 = arm_create_device(vm, KVM_DEV_TYPE_ARM_VGIC_ITS);
	assert_true(its2 >= 0);
	assert_int_equal(arm_has_attr(its2, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_ITS_ADDR_TYPE), 0);
	CLOSE_ALL(sys, vm, vcpu, gic, its, its2);
}

/* KVM_SIGNAL_MSI on arm64, in KVM's order of checks (kvm-arm.md §1.1). */
static void test_signal_msi_devid_errno(void **state)
{
	(void)state;
	int sys = fx_open_sys();
	int vm = arm_create_vm(sys);
	int vcpu = fx_create_vcpu(vm, 0);
	struct kvm_msi msi = { .address_lo = (uint32_t)ARM_DOORBELL, .flags = KVM_MSI_VALID_DEVID };

	/* No vGIC (no in-kernel irqchip). */
	assert_fails(virq_ioctl(vm, KVM_SIGNAL_MSI, &msi), EINVAL);
	assert_fails(virq_ioctl(vm, KVM_SIGNAL_MSI, NULL), EFAULT);
	int gic = arm_create_device(vm, KVM_DEV_TYPE_ARM_VGIC_V3);
	/* A vGIC but no ITS. */
	assert_fails(virq_ioctl(vm, KVM_SIGNAL_MSI, &msi), ENODEV);
	msi.flags = 2;
	assert_fails(virq_ioctl(vm, KVM_SIGNAL_MSI, &msi), EINVAL); /* unknown flags first */
	msi.flags = KVM_MSI_VALID_DEVID;
	int its = arm_create_device(vm, KVM_DEV_TYPE_ARM_VGIC_ITS);
	/* ITS without a frame: the doorbell matches nothing. */
	assert_fails(virq_ioctl(vm, KVM_SIGNAL_MSI, &msi), EINVAL);
	uint64_t base = ARM_ITS;
	assert_int_equal(arm_set_attr(its, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_ITS_ADDR_TYPE, &base), 0);
	/* The frame exists but the ITS is disabled (here: not even built before CTRL_INIT). */
	assert_fails(virq_ioctl(vm, KVM_SIGNAL_MSI, &msi), EBUSY);
	assert_int_equal(arm_set_attr(gic, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, NULL), 0);
	assert_fails(virq_ioctl(vm, KVM_SIGNAL_MSI, &msi), EBUSY);
	/* Without the devid flag, before any translation was cached. */
	msi.flags = 0;
	assert_fails(virq_ioctl(vm, KVM_SIGNAL_MSI, &msi), EINVAL);
	/* Anywhere inside the 128 KiB frame is a doorbell; GICD or unmapped addresses are not. */
	msi.flags = KVM_MSI_VALID_DEVID;
	msi.address_lo = (uint32_t)(ARM_ITS + 0x1fffc);
	assert_fails(virq_ioctl(vm, KVM_SIGNAL_MSI, &msi), EBUSY);
	msi.address_lo = (uint32_t)ARM_GICD;
	assert_fails(virq_ioctl(vm, KVM_SIGNAL_MSI, &msi), EINVAL);
	msi.address_lo = (uint32_t)(ARM_ITS + 0x20000);
	assert_fails(virq_ioctl(vm, KVM_SIGNAL_MSI, &msi), EINVAL);
	msi.address_lo = (uint32_t)ARM_DOORBELL;
	msi.address_hi = 1; /* address_hi counts on arm64 */
	assert_fails(virq_ioctl(vm, KVM_SIGNAL_MSI, &msi), EINVAL);
	CLOSE_ALL(sys, vm, vcpu, gic, its);
}

/* KVM_SET_GSI_ROUTING on arm64: irqchip 0 only, pin < 988, MSI entries with the devid flag. */
static void test_gsi_routing_arm64_validation(void **state)
{
	(void)state;
	int sys = fx_open_sys();
	int vm = arm_create_vm(sys);
	struct kvm_irq_routing_entry e;

	/* Allowed before a vGIC exists (arm64 has no in-kernel-irqchip check here). */
	e = fx_irqchip_entry(0, 0, 987);
	assert_int_equal(fx_set_routing(vm, &e, 1), 0);
	e = fx_irqchip_entry(0, 0, 988);
	assert_fails(fx_set_routing(vm, &e, 1), EINVAL);
	e = fx_irqchip_entry(0, 1, 3);
	assert_fails(fx_set_routing(vm, &e, 1), EINVAL);
	e = fx_irqchip_entry(0, 0, 3);
	e.flags = KVM_MSI_VALID_DEVID;
	assert_fails(fx_set_routing(vm, &e, 1), EINVAL);
	e = arm_msi_entry(1, 7, 3);
	assert_int_equal(fx_set_routing(vm, &e, 1), 0);
	e.flags = 2;
	assert_fails(fx_set_routing(vm, &e, 1), EINVAL);
	e = arm_msi_entry(1, 7, 3);
	e.flags = 0; /* accepted: the flag is looked at when the route is used */
	assert_int_equal(fx_set_routing(vm, &e, 1), 0);
	struct kvm_irq_routing_entry two[2] = { arm_msi_entry(1, 7, 3), fx_irqchip_entry(1, 0, 3) };
	assert_fails(fx_set_routing(vm, two, 2), EINVAL);
	e = (struct kvm_irq_routing_entry){ .gsi = 1, .type = KVM_IRQ_ROUTING_HV_SINT };
	assert_fails(fx_set_routing(vm, &e, 1), EINVAL); /* arm64 takes IRQCHIP and MSI only */
	CLOSE_ALL(sys, vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_x86_and_arm64_vms_side_by_side),
		cmocka_unit_test(test_create_vm_types),
		cmocka_unit_test(test_check_extension_msi_devid_follows_the_its),
		cmocka_unit_test(test_create_irqchip_and_devices),
		cmocka_unit_test(test_irq_line_arm64_encoding),
		cmocka_unit_test(test_vgic_attributes),
		cmocka_unit_test(test_vgic_register_groups),
		cmocka_unit_test(test_vgic_frames_checked_at_first_run),
		cmocka_unit_test(test_its_attributes),
		cmocka_unit_test(test_signal_msi_devid_errno),
		cmocka_unit_test(test_gsi_routing_arm64_validation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
