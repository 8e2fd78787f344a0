/* SPDX-License-Identifier: MIT */
/*
 * arm_fixture.h - what the arm64 tests share: an arm64 VM with guest RAM, a vGICv3 and an ITS placed as on
 * QEMU's "virt" board, set up through the KVM-compatible front only; a text builder for Arm guest programs
 * that program the GIC and the ITS themselves (mmio_write to GICD/GICR/GITS, mem_write for the property
 * table and the command queue); ITS commands in their 32-byte encoding; vCPU threads; MSIs with DeviceID.
 *
 * Header-only, on top of kvm_fixture.h. Assertions belong on the test's main thread, as there.
 */
#ifndef VIRQ_TESTS_ARM_FIXTURE_H
#define VIRQ_TESTS_ARM_FIXTURE_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/mman.h>

#include "kvm_fixture.h"
#include <virq/vcpu.h>
#include <virq/vm.h>

/* Guest-physical layout (QEMU virt's GIC frames; tables in RAM). */
#define ARM_GICD 0x08000000ull
#define ARM_ITS 0x08080000ull
#define ARM_GICR 0x080a0000ull
#define ARM_DOORBELL (ARM_ITS + 0x10040)
#define ARM_RAM 0x40000000ull
#define ARM_RAM_SIZE (16ull << 20)
#define ARM_PROPTAB (ARM_RAM + 0x000000)     /* 64 KiB: LPI INTIDs up to 2^16 */
#define ARM_PENDTAB(v) (ARM_RAM + 0x100000 + (uint64_t)(v) * 0x10000)
#define ARM_DEVTAB (ARM_RAM + 0x200000)      /* BASER0, flat, one 64 KiB page */
#define ARM_COLLTAB (ARM_RAM + 0x300000)     /* BASER1, one page */
#define ARM_CMDQ (ARM_RAM + 0x400000)        /* CBASER, 4 KiB = 128 commands */
#define ARM_CMDQ_SLOTS 128u
#define ARM_ITT(d) (ARM_RAM + 0x500000 + (uint64_t)(d) * 0x1000)
#define ARM_LPI_BASE 8192u
#define ARM_LPI_PRIO 0xa0u

/* ---- VM set-up through the front ---------------------------------------------------------------- */

struct arm_vm {
	int sys, vm, gic, its;        /* its -1 without an ITS */
	int vcpu[4];
	unsigned nr_vcpus;
	void *ram;
	bool own_ram;
};

static inline int arm_set_attr(int dev, uint32_t group, uint64_t attr, const void *value)
{
	struct kvm_device_attr a = { .group = group, .attr = attr, .addr = (uint64_t)(uintptr_t)value };
	return virq_ioctl(dev, KVM_SET_DEVICE_ATTR, &a);
}

static inline int arm_get_attr(int dev, uint32_t group, uint64_t attr, void *value)
{
	struct kvm_device_attr a = { .group = group, .attr = attr, .addr = (uint64_t)(uintptr_t)value };
	return virq_ioctl(dev, KVM_GET_DEVICE_ATTR, &a);
}

static inline int arm_has_attr(int dev, uint32_t group, uint64_t attr)
{
	struct kvm_device_attr a = { .group = group, .attr = attr };
	return virq_ioctl(dev, KVM_HAS_DEVICE_ATTR, &a);
}

static inline int arm_create_device(int vm, uint32_t type)
{
	struct kvm_create_device cd = { .type = type };
	int ret = virq_ioctl(vm, KVM_CREATE_DEVICE, &cd);
	return ret < 0 ? ret : (int)cd.fd;
}

static inline int arm_create_vm(int sys)
{
	int vm = virq_ioctl(sys, KVM_CREATE_VM, VIRQ_VM_TYPE_ARM64);
	assert_true(vm >= 0);
	struct kvm_enable_cap cap = { .cap = KVM_CAP_HALT_POLL, .args = { 0 } };
	assert_int_equal(virq_ioctl(vm, KVM_ENABLE_CAP, &cap), 0);
	return vm;
}

static inline void arm_add_ram(int vm, void *ram)
{
	struct kvm_userspace_memory_region r = { .slot = 0, .guest_phys_addr = ARM_RAM, .memory_size = ARM_RAM_SIZE,
						 .userspace_addr = (uint64_t)(uintptr_t)ram };
	assert_int_equal(virq_ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r), 0);
}

/*
 * An arm64 VM with @nr_vcpus vCPUs (ids 0..n-1), RAM (@ram, or a fresh zeroed mapping if NULL), a vGICv3
 * (GICD, legacy GICR region), with an ITS if @with_its, initialised (CTRL_INIT).
 */
static inline void arm_vm_open(struct arm_vm *a, unsigned nr_vcpus, bool with_its, void *ram)
{
	uint64_t addr;

	memset(a, 0, sizeof(*a));
	a->sys = fx_open_sys();
	a->vm = arm_create_vm(a->sys);
	a->own_ram = ram == NULL;
	a->ram = ram ? ram : mmap(NULL, ARM_RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(a->ram != MAP_FAILED);
	arm_add_ram(a->vm, a->ram);
	a->nr_vcpus = nr_vcpus;
	for (unsigned i = 0; i < nr_vcpus; i++)
		a->vcpu[i] = fx_create_vcpu(a->vm, i);
	a->gic = arm_create_device(a->vm, KVM_DEV_TYPE_ARM_VGIC_V3);
	assert_true(a->gic >= 0);
	addr = ARM_GICD;
	assert_int_equal(arm_set_attr(a->gic, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_DIST, &addr), 0);
	addr = ARM_GICR;
	assert_int_equal(arm_set_attr(a->gic, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_REDIST, &addr), 0);
	a->its = -1;
	if (with_its) {
		a->its = arm_create_device(a->vm, KVM_DEV_TYPE_ARM_VGIC_ITS);
		assert_true(a->its >= 0);
		addr = ARM_ITS;
		assert_int_equal(arm_set_attr(a->its, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_ITS_ADDR_TYPE, &addr), 0);
	}
	assert_int_equal(arm_set_attr(a->gic, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, NULL), 0);
	if (with_its)
		assert_int_equal(arm_set_attr(a->its, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, NULL), 0);
}

static inline void arm_vm_close(struct arm_vm *a)
{
	for (unsigned i = a->nr_vcpus; i-- > 0;)
		assert_int_equal(virq_close(a->vcpu[i]), 0);
	if (a->its >= 0)
		assert_int_equal(virq_close(a->its), 0);
	assert_int_equal(virq_close(a->gic), 0);
	assert_int_equal(virq_close(a->vm), 0);
	assert_int_equal(virq_close(a->sys), 0);
	if (a->own_ram)
		munmap(a->ram, ARM_RAM_SIZE);
}

/* KVM_SIGNAL_MSI with DeviceID @devid, EventID @event, to the ITS doorbell. */
static inline int arm_signal_msi(int vm, uint32_t devid, uint32_t event)
{
	struct kvm_msi msi = { .address_lo = (uint32_t)ARM_DOORBELL, .address_hi = (uint32_t)(ARM_DOORBELL >> 32),
			       .data = event, .flags = KVM_MSI_VALID_DEVID, .devid = devid };
	return virq_ioctl(vm, KVM_SIGNAL_MSI, &msi);
}

static inline struct kvm_irq_routing_entry arm_msi_entry(uint32_t gsi, uint32_t devid, uint32_t event)
{
	struct kvm_irq_routing_entry e = { .gsi = gsi, .type = KVM_IRQ_ROUTING_MSI, .flags = KVM_MSI_VALID_DEVID };
	e.u.msi.address_lo = (uint32_t)ARM_DOORBELL;
	e.u.msi.address_hi = (uint32_t)(ARM_DOORBELL >> 32);
	e.u.msi.data = event;
	e.u.msi.devid = devid;
	return e;
}

static inline uint64_t arm_intid_handled(int vcpu_fd, uint32_t intid)
{
	struct virq_intid_counts c;
	assert_int_equal(virq_vcpu_intid_counts(virq_vcpu_of_fd(vcpu_fd), intid, &c), 0);
	return c.handled;
}

/* KVM_DEV_ARM_VGIC_SYSREG(): a CPU_SYSREGS attribute's register encoding. */
#define ARM_SYSREG(op0, op1, crn, crm, op2) ((op0) << 14 | (op1) << 11 | (crn) << 7 | (crm) << 3 | (op2))
#define ARM_ICC_PMR ARM_SYSREG(3, 0, 4, 6, 0)
#define ARM_ICC_CTLR ARM_SYSREG(3, 0, 12, 12, 4)
#define ARM_ICC_SRE ARM_SYSREG(3, 0, 12, 12, 5)
#define ARM_ICC_IGRPEN1 ARM_SYSREG(3, 0, 12, 12, 7)

/* ---- guest program text ------------------------------------------------------------------------- */

struct arm_text {
	char *buf;
	size_t len, cap;
	unsigned cmds;                /* commands queued so far: the next slot is cmds % ARM_CMDQ_SLOTS */
};

__attribute__((format(printf, 2, 3)))
static inline void arm_emit(struct arm_text *t, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		va_start(ap, fmt);
		int n = vsnprintf(t->buf ? t->buf + t->len : NULL, t->buf ? t->cap - t->len : 0, fmt, ap);
		va_end(ap);
		assert_true(n >= 0);
		if (t->buf && t->len + (size_t)n < t->cap) {
			t->len += (size_t)n;
			return;
		}
		t->cap = (t->cap + (size_t)n + 1) * 2;
		t->buf = realloc(t->buf, t->cap);
		assert_non_null(t->buf);
	}
}

/* The standard handler: report nothing, end the LPI (priority drop; LPIs have no active state), return. */
#define ARM_HANDLER_QUIET "intid any:\n    eoir r15\n    eret\n"
/* A handler that reports each INTID to the VMM (an MMIO exit at FX_REPORT_ADDR) before ending it. */
#define ARM_HANDLER_REPORT "intid any:\n    mmio_write 0xd0000000, 4, r15\n    eoir r15\n    eret\n"

/* The CPU interface opened: group 1 on, every priority unmasked. */
static inline void arm_emit_cpuif(struct arm_text *t)
{
	arm_emit(t, "    igrpen1 1\n    pmr 0xff\n");
}

/*
 * GIC set-up as a guest does it: distributor Group 1 on; the property table (priority 0xa0, enabled) for
 * @nr_lpis LPIs from 8192 written with mem_write; each vCPU's PROPBASER (16 ID bits), PENDBASER and
 * EnableLPIs.
 */
static inline void arm_emit_redist_setup(struct arm_text *t, unsigned nr_vcpus, unsigned nr_lpis)
{
	arm_emit(t, "    mmio_write 0x%llx, 4, 0x12\n", (unsigned long long)ARM_GICD); /* EnableGrp1 | ARE */
	for (unsigned i = 0; i < nr_lpis; i += 8)
		arm_emit(t, "    mem_write 0x%llx, 8, 0x%llx\n", (unsigned long long)(ARM_PROPTAB + i),
			 0x0101010101010101ull * (ARM_LPI_PRIO | 1));
	for (unsigned v = 0; v < nr_vcpus; v++) {
		uint64_t rd = ARM_GICR + (uint64_t)v * 0x20000;
		arm_emit(t, "    mmio_write 0x%llx, 8, 0x%llx\n", (unsigned long long)(rd + 0x70),
			 (unsigned long long)(ARM_PROPTAB | 15));           /* PROPBASER, IDbits 15 */
		arm_emit(t, "    mmio_write 0x%llx, 8, 0x%llx\n", (unsigned long long)(rd + 0x78),
			 (unsigned long long)(ARM_PENDTAB(v) | (1ull << 62))); /* PENDBASER, PTZ */
		arm_emit(t, "    mmio_write 0x%llx, 4, 1\n", (unsigned long long)rd); /* EnableLPIs */
	}
}

/* The ITS's device and collection tables and command queue, then the ITS enabled. */
static inline void arm_emit_its_setup(struct arm_text *t)
{
	arm_emit(t, "    mmio_write 0x%llx, 8, 0x%llx\n", (unsigned long long)(ARM_ITS + 0x100),
		 (unsigned long long)((1ull << 63) | ARM_DEVTAB));   /* BASER0 valid, 1 page */
	arm_emit(t, "    mmio_write 0x%llx, 8, 0x%llx\n", (unsigned long long)(ARM_ITS + 0x108),
		 (unsigned long long)((1ull << 63) | ARM_COLLTAB));  /* BASER1 valid, 1 page */
	arm_emit(t, "    mmio_write 0x%llx, 8, 0x%llx\n", (unsigned long long)(ARM_ITS + 0x80),
		 (unsigned long long)((1ull << 63) | ARM_CMDQ));     /* CBASER valid, 4 KiB */
	arm_emit(t, "    mmio_write 0x%llx, 4, 1\n", (unsigned long long)ARM_ITS); /* GITS_CTLR.Enable */
}

static inline void arm_emit_gic_setup(struct arm_text *t, unsigned nr_vcpus, unsigned nr_lpis)
{
	arm_emit_redist_setup(t, nr_vcpus, nr_lpis);
	arm_emit_its_setup(t);
}

/* A report to the VMM: an MMIO exit at FX_REPORT_ADDR with @value. */
static inline void arm_emit_report(struct arm_text *t, uint32_t value)
{
	arm_emit(t, "    mmio_write 0x%x, 4, 0x%x\n", FX_REPORT_ADDR, value);
}

/* The idle loop every test guest ends in. */
static inline void arm_emit_idle(struct arm_text *t)
{
	arm_emit(t, "idle:\n    hlt\n    jmp idle\n");
}

/* One 32-byte command into the next queue slot (four mem_writes). */
static inline void arm_emit_cmd(struct arm_text *t, uint64_t dw0, uint64_t dw1, uint64_t dw2, uint64_t dw3)
{
	uint64_t slot = ARM_CMDQ + (uint64_t)(t->cmds++ % ARM_CMDQ_SLOTS) * 32;
	const uint64_t dw[4] = { dw0, dw1, dw2, dw3 };
	for (int i = 0; i < 4; i++)
		arm_emit(t, "    mem_write 0x%llx, 8, 0x%llx\n", (unsigned long long)(slot + 8 * i),
			 (unsigned long long)dw[i]);
	/* Keep the ring from overrunning unprocessed commands: publish every half queue. */
	if (t->cmds % (ARM_CMDQ_SLOTS / 2) == 0)
		arm_emit(t, "    mmio_write 0x%llx, 8, 0x%llx\n", (unsigned long long)(ARM_ITS + 0x88),
			 (unsigned long long)((t->cmds % ARM_CMDQ_SLOTS) * 32));
}

/* GITS_CWRITER past the last command: the ITS runs the queue (synchronously, as KVM's). */
static inline void arm_emit_cwriter(struct arm_text *t)
{
	arm_emit(t, "    mmio_write 0x%llx, 8, 0x%llx\n", (unsigned long long)(ARM_ITS + 0x88),
		 (unsigned long long)((t->cmds % ARM_CMDQ_SLOTS) * 32));
}

static inline void arm_cmd_mapd(struct arm_text *t, uint32_t dev, uint64_t itt, unsigned eid_bits, bool valid)
{
	arm_emit_cmd(t, 0x08 | (uint64_t)dev << 32, eid_bits - 1, (valid ? 1ull << 63 : 0) | itt, 0);
}

static inline void arm_cmd_mapc(struct arm_text *t, uint16_t icid, uint32_t vcpu)
{
	arm_emit_cmd(t, 0x09, 0, 1ull << 63 | (uint64_t)vcpu << 16 | icid, 0);
}

static inline void arm_cmd_mapti(struct arm_text *t, uint32_t dev, uint32_t event, uint32_t intid, uint16_t icid)
{
	arm_emit_cmd(t, 0x0a | (uint64_t)dev << 32, event | (uint64_t)intid << 32, icid, 0);
}

static inline void arm_cmd_movi(struct arm_text *t, uint32_t dev, uint32_t event, uint16_t icid)
{
	arm_emit_cmd(t, 0x01 | (uint64_t)dev << 32, event, icid, 0);
}

static inline void arm_cmd_discard(struct arm_text *t, uint32_t dev, uint32_t event)
{
	arm_emit_cmd(t, 0x0f | (uint64_t)dev << 32, event, 0, 0);
}

/* ---- vCPU threads --------------------------------------------------------------------------------- */

struct arm_vcpu_thread {
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	int last_errno;
	_Atomic unsigned exits;
};

static inline void arm_on_stop_signal(int sig)
{
	(void)sig;
}

/* KVM_RUN until the VMM stops the vCPU (EINTR); other exits (reports) are counted and resumed. */
static inline void *arm_vcpu_main(void *arg)
{
	struct arm_vcpu_thread *vt = arg;
	for (;;) {
		if (virq_ioctl(vt->fd, KVM_RUN, 0) < 0) {
			/* EBUSY: a test's program load or all-vCPU attribute access held the vCPU for a moment
			 * (virq refuses concurrent vCPU ioctls where KVM would make them wait): try again. */
			if (errno == EBUSY && !__atomic_load_n(&vt->run->immediate_exit, __ATOMIC_RELAXED)) {
				usleep(100);
				continue;
			}
			vt->last_errno = errno;
			return NULL;
		}
		if (vt->run->exit_reason == KVM_EXIT_SHUTDOWN)
			return NULL;
		atomic_fetch_add(&vt->exits, 1);
	}
}

static inline void arm_vcpu_start(struct arm_vcpu_thread *vt, int fd)
{
	signal(SIGUSR1, arm_on_stop_signal);
	vt->fd = fd;
	vt->run = virq_vcpu_run_struct(fd);
	assert_non_null(vt->run);
	__atomic_store_n(&vt->run->immediate_exit, 0, __ATOMIC_RELAXED);
	assert_int_equal(pthread_create(&vt->thread, NULL, arm_vcpu_main, vt), 0);
}

/* Stop it as QEMU does: immediate_exit, then a signal. */
static inline void arm_vcpu_stop(struct arm_vcpu_thread *vt)
{
	__atomic_store_n(&vt->run->immediate_exit, 1, __ATOMIC_RELAXED);
	pthread_kill(vt->thread, SIGUSR1);
	pthread_join(vt->thread, NULL);
	__atomic_store_n(&vt->run->immediate_exit, 0, __ATOMIC_RELAXED);
}

/*
 * Signal irqfd @efd of GSI @gsi and wait until the watcher thread has injected it (the GSI's `raised`
 * count moved): a vCPU run right after then finds the interrupt pending, whoever watched the eventfd.
 */
static inline void arm_signal_irqfd_sync(int vm_fd, int efd, uint32_t gsi)
{
	struct virq_vm *vm = virq_vm_of_fd(vm_fd);
	struct virq_gsi_counts c;

	assert_non_null(vm);
	assert_int_equal(virq_vm_gsi_counts(vm, gsi, &c), 0);
	uint64_t raised = c.raised;
	fx_signal_efd(efd);
	for (int i = 0; i < 100000; i++) {
		assert_int_equal(virq_vm_gsi_counts(vm, gsi, &c), 0);
		if (c.raised > raised)
			return;
		usleep(100);
	}
	fail_msg("irqfd on GSI %u was not injected", gsi);
}

/* Wait (up to 10 s) until @vcpu_fd handled @intid at least @count times. */
static inline bool arm_wait_handled(int vcpu_fd, uint32_t intid, uint64_t count)
{
	for (int i = 0; i < 100000; i++) {
		if (arm_intid_handled(vcpu_fd, intid) >= count)
			return true;
		usleep(100);
	}
	return false;
}

#endif /* VIRQ_TESTS_ARM_FIXTURE_H */
