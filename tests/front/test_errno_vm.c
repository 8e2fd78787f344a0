/* SPDX-License-Identifier: MIT */
/*
 * test_errno_vm.c - errno by errno through the KVM-compatible front (<virq/kvm.h>): the handles
 * themselves, the system handle, KVM_CREATE_VM, KVM_CREATE_IRQCHIP, KVM_CREATE_VCPU, KVM_ENABLE_CAP,
 * KVM_SET_USER_MEMORY_REGION, KVM_GET/SET_IRQCHIP, KVM_RUN and KVM_GET/SET_MP_STATE.
 *
 * The expected values are Linux KVM's on x86 (reference kvm-x86.md section 1); where virq differs on
 * purpose (ARCHITECTURE.md sections 7 and 8) the test says so and checks virq's documented behaviour.
 * Every test opens its own handles and closes all of them.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include <virq/kvm.h>
#include <virq/vcpu.h>

#include "kvm_fixture.h"

/* An ioctl number no KVM handle knows (KVMIO, nr 0xff). */
#define UNKNOWN_IOCTL _IO(KVMIO, 0xff)

/* ---- handles ------------------------------------------------------------------------------------ */

static void test_ioctl_on_fd_virq_did_not_create_is_enotty(void **state)
{
	(void)state;
	int p[2];
	assert_int_equal(pipe(p), 0);
	assert_fails(virq_ioctl(p[0], KVM_GET_API_VERSION, 0), ENOTTY);
	assert_fails(virq_ioctl(p[1], KVM_CREATE_VM, 0), ENOTTY);
	/* An ordinary eventfd is not a handle either. */
	int efd = eventfd(0, EFD_CLOEXEC);
	assert_fails(virq_ioctl(efd, KVM_CHECK_EXTENSION, KVM_CAP_IRQCHIP), ENOTTY);
	close(efd);
	close(p[0]);
	close(p[1]);
}

static void test_ioctl_on_closed_fd_is_ebadf(void **state)
{
	(void)state;
	assert_fails(virq_ioctl(fx_closed_fd(), KVM_GET_API_VERSION, 0), EBADF);
	assert_fails(virq_ioctl(-1, KVM_GET_API_VERSION, 0), EBADF);
	assert_fails(virq_ioctl(1 << 30, KVM_GET_API_VERSION, 0), EBADF);
}

static void test_ioctl_on_closed_handle_is_ebadf(void **state)
{
	(void)state;
	int sys = fx_open_sys();
	int vm = fx_create_vm(sys, 0);
	assert_int_equal(virq_close(vm), 0);
	assert_fails(virq_ioctl(vm, KVM_CREATE_IRQCHIP, 0), EBADF);
	assert_int_equal(virq_close(sys), 0);
	assert_fails(virq_ioctl(sys, KVM_GET_API_VERSION, 0), EBADF);
}

static void test_closed_handle_number_reused_by_caller_is_enotty(void **state)
{
	(void)state;
	int sys = fx_open_sys();
	int vm = fx_create_vm(sys, 0);
	assert_int_equal(virq_close(vm), 0);
	/* The caller's own eventfd now sits at the number the VM handle had. */
	int efd = eventfd(0, EFD_CLOEXEC);
	assert_int_equal(dup2(efd, vm), vm);
	assert_fails(virq_ioctl(vm, KVM_CREATE_IRQCHIP, 0), ENOTTY);
	assert_fails(virq_close(vm), EBADF);
	close(vm);
	close(efd);
	assert_int_equal(virq_close(sys), 0);
}

static void test_close_of_fd_virq_did_not_create_is_ebadf_and_leaves_it_open(void **state)
{
	(void)state;
	int p[2];
	assert_int_equal(pipe(p), 0);
	assert_fails(virq_close(p[0]), EBADF);
	assert_true(fcntl(p[0], F_GETFD) >= 0); /* not closed behind the caller's back */
	assert_fails(virq_close(-1), EBADF);
	assert_fails(virq_close(fx_closed_fd()), EBADF);
	close(p[0]);
	close(p[1]);
}

static void test_close_twice_is_ebadf(void **state)
{
	(void)state;
	int sys = fx_open_sys();
	assert_int_equal(virq_close(sys), 0);
	assert_fails(virq_close(sys), EBADF);
}

static void test_handles_are_real_descriptors(void **state)
{
	(void)state;
	int sys = fx_open_sys();
	int vm = fx_create_vm(sys, FX_IRQCHIP);
	int vcpu = fx_create_vcpu(vm, 0);
	assert_true(fcntl(sys, F_GETFD) >= 0);
	assert_true(fcntl(vm, F_GETFD) >= 0);
	assert_true(fcntl(vcpu, F_GETFD) >= 0);
	assert_true(sys != vm && vm != vcpu && sys != vcpu);
	CLOSE_ALL(sys, vm, vcpu);
	assert_true(fcntl(vcpu, F_GETFD) < 0);
}

/* Unknown requests: KVM answers EINVAL on the system and vCPU handles, ENOTTY on a VM. */
static void test_unknown_ioctl_is_einval_on_system_enotty_on_vm_einval_on_vcpu(void **state)
{
	(void)state;
	int sys = fx_open_sys();
	int vm = fx_create_vm(sys, FX_IRQCHIP);
	int vcpu = fx_create_vcpu(vm, 0);

	assert_fails(virq_ioctl(sys, UNKNOWN_IOCTL, 0), EINVAL);
	assert_fails(virq_ioctl(vm, UNKNOWN_IOCTL, 0), ENOTTY);
	assert_fails(virq_ioctl(vcpu, UNKNOWN_IOCTL, 0), EINVAL);
	/* Requests of another handle kind are unknown to this one. */
	assert_fails(virq_ioctl(sys, KVM_CREATE_IRQCHIP, 0), EINVAL);
	assert_fails(virq_ioctl(sys, KVM_RUN, 0), EINVAL);
	assert_fails(virq_ioctl(vm, KVM_GET_API_VERSION, 0), ENOTTY);
	assert_fails(virq_ioctl(vm, KVM_GET_VCPU_MMAP_SIZE, 0), ENOTTY);
	assert_fails(virq_ioctl(vm, KVM_CREATE_VM, 0), ENOTTY);
	assert_fails(virq_ioctl(vm, KVM_RUN, 0), ENOTTY);
	assert_fails(virq_ioctl(vcpu, KVM_CREATE_VM, 0), EINVAL);
	assert_fails(virq_ioctl(vcpu, KVM_CREATE_IRQCHIP, 0), EINVAL);
	assert_fails(virq_ioctl(vcpu, KVM_CHECK_EXTENSION, KVM_CAP_IRQCHIP), EINVAL);
	CLOSE_ALL(sys, vm, vcpu);
}

static void test_vcpu_run_struct_of_a_non_vcpu_handle_fails(void **state)
{
	(void)state;
	int sys = fx_open_sys();
	int vm = fx_create_vm(sys, 0);
	int p[2];
	assert_int_equal(pipe(p), 0);

	errno = 0;
	assert_null(virq_vcpu_run_struct(vm));
	assert_int_equal(errno, ENOTTY);
	errno = 0;
	assert_null(virq_vcpu_run_struct(sys));
	assert_int_equal(errno, ENOTTY);
	errno = 0;
	assert_null(virq_vcpu_run_struct(p[0]));
	assert_int_equal(errno, ENOTTY);
	errno = 0;
	assert_null(virq_vcpu_run_struct(fx_closed_fd()));
	assert_int_equal(errno, EBADF);

	int vcpu = fx_create_vcpu(vm, 0);
	struct kvm_run *run = virq_vcpu_run_struct(vcpu);
	assert_non_null(run);
	/* The area is KVM_GET_VCPU_MMAP_SIZE bytes: touch its last byte. */
	int size = virq_ioctl(sys, KVM_GET_VCPU_MMAP_SIZE, 0);
	assert_true(size >= (int)sizeof(struct kvm_run));
	((volatile char *)run)[size - 1] = 0;
	assert_ptr_equal(virq_vcpu_run_struct(vcpu), run);
	close(p[0]);
	close(p[1]);
	CLOSE_ALL(sys, vm, vcpu);
}

static void test_guest_load_errors(void **state)
{
	(void)state;
	int sys = fx_open_sys();
	int vm = fx_create_vm(sys, 0);
	int vcpu = fx_create_vcpu(vm, 0);

	assert_fails(virq_guest_load(vm, "main:\n hlt\n"), ENOTTY);
	assert_fails(virq_guest_load(sys, "main:\n hlt\n"), ENOTTY);
	assert_fails(virq_guest_load(fx_closed_fd(), "main:\n hlt\n"), EBADF);

	static const char *const bad[] = {
		"main:\n frobnicate 1\n",          /* unknown mnemonic */
		"hlt\n",                           /* no main: */
		"main:\n jmp nowhere\n",           /* undefined label */
		"main:\n spin 010\n",              /* leading zero */
		"main:\n mmio_write 0xd0000000, 3, 1\n", /* no such size */
		"main: hlt\nmain: hlt\n",          /* duplicate label */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_fails(virq_guest_load(vcpu, bad[i]), EINVAL);
		assert_true(strlen(virq_guest_last_error()) > 0);
	}
	assert_fails(virq_guest_load(vcpu, NULL), EINVAL);
	/* A good program loads and clears the message. */
	assert_int_equal(virq_guest_load(vcpu, "main:\n hlt\n"), 0);
	assert_string_equal(virq_guest_last_error(), "");
	CLOSE_ALL(sys, vm, vcpu);
}

/* ---- system handle -------------------------------------------------------------------------------- */

static void test_system_handle_answers_as_kvm(void **state)
{
	(void)state;
	int sys = fx_open_sys();
	assert_int_equal(virq_ioctl(sys, KVM_GET_API_VERSION, 0), 12);
	assert_fails(virq_ioctl(sys, KVM_GET_API_VERSION, 1), EINVAL);
	int size = virq_ioctl(sys, KVM_GET_VCPU_MMAP_SIZE, 0);
	assert_true(size >= 4096 && size % 4096 == 0);
	assert_fails(virq_ioctl(sys, KVM_GET_VCPU_MMAP_SIZE, 1), EINVAL);
	assert_int_equal(virq_close(sys), 0);
}

static const struct {
	long cap;
	long value;
} check_extension_table[] = {
	{ KVM_CAP_IRQCHIP, 1 },
	{ KVM_CAP_IRQ_ROUTING, KVM_MAX_IRQ_ROUTES },
	{ KVM_CAP_IRQFD, 1 },
	{ KVM_CAP_IRQFD_RESAMPLE, 1 },
	{ KVM_CAP_SIGNAL_MSI, 1 },
	{ KVM_CAP_IRQ_INJECT_STATUS, 1 },
	{ KVM_CAP_IOAPIC_POLARITY_IGNORED, 1 },
	{ KVM_CAP_HALT_POLL, 1 },
	{ KVM_CAP_IMMEDIATE_EXIT, 1 },
	{ KVM_CAP_MP_STATE, 1 },
	{ KVM_CAP_ENABLE_CAP_VM, 1 },
	{ KVM_CAP_ENABLE_CAP, 0 },      /* no per-vCPU KVM_ENABLE_CAP */
	{ KVM_CAP_SET_TSS_ADDR, 0 },    /* no KVM_SET_TSS_ADDR: nothing to run real-mode code */
	{ KVM_CAP_MSI_DEVID, 0 },       /* only GICv3-ITS VMs have it; 0 on x86 */
	{ KVM_CAP_SPLIT_IRQCHIP, 0 },   /* virq models the full irqchip only */
	{ KVM_CAP_X2APIC_API, 0 },      /* xAPIC only */
	{ 0x7fff, 0 },                  /* unknown */
	{ -1, 0 },                      /* unknown (KVM reads the cap as a long) */
};

static void test_check_extension_is_truthful_on_system_and_vm(void **state)
{
	(void)state;
	int sys = fx_open_sys();
	int vm = fx_create_vm(sys, 0);
	for (size_t i = 0; i < sizeof(check_extension_table) / sizeof(check_extension_table[0]); i++) {
		long cap = check_extension_table[i].cap;
		long want = check_extension_table[i].value;
		assert_int_equal(virq_ioctl(sys, KVM_CHECK_EXTENSION, (unsigned long)cap), want);
		assert_int_equal(virq_ioctl(vm, KVM_CHECK_EXTENSION, (unsigned long)cap), want);
	}
	/* A VM with an irqchip answers the same. */
	assert_int_equal(virq_ioctl(vm, KVM_CREATE_IRQCHIP, 0), 0);
	assert_int_equal(virq_ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_IRQ_ROUTING), KVM_MAX_IRQ_ROUTES);
	assert_int_equal(virq_ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_MSI_DEVID), 0);
	CLOSE_ALL(sys, vm);
}

static void test_create_vm_accepts_type_0_only(void **state)
{
	(void)state;
	int sys = fx_open_sys();
	/* Besides 0, only VIRQ_VM_TYPE_ARM64 (test_errno_arm.c). */
	static const unsigned long bad_types[] = { 1, 2, 0xffffffffu, ~0ul };
	for (size_t i = 0; i < sizeof(bad_types) / sizeof(bad_types[0]); i++)
		assert_fails(virq_ioctl(sys, KVM_CREATE_VM, bad_types[i]), EINVAL);
	int vm = virq_ioctl(sys, KVM_CREATE_VM, 0);
	assert_true(vm >= 0);
	int vm2 = virq_ioctl(sys, KVM_CREATE_VM, 0);
	assert_true(vm2 >= 0 && vm2 != vm);
	CLOSE_ALL(sys, vm, vm2);
}

static void test_vm_outlives_system_handle(void **state)
{
	(void)state;
	int sys = fx_open_sys();
	int vm = fx_create_vm(sys, 0);
	assert_int_equal(virq_close(sys), 0);
	assert_int_equal(virq_ioctl(vm, KVM_CREATE_IRQCHIP, 0), 0);
	assert_int_equal(virq_close(vm), 0);
}

/* ---- KVM_CREATE_IRQCHIP, KVM_CREATE_VCPU ------------------------------------------------------------- */

static void test_create_irqchip_twice_is_eexist(void **state)
{
	(void)state;
	int sys = fx_open_sys();
	int vm = fx_create_vm(sys, FX_IRQCHIP);
	assert_fails(virq_ioctl(vm, KVM_CREATE_IRQCHIP, 0), EEXIST);
	/* The first irqchip is untouched: its default routes still work (de-assert of GSI 20 is 1). */
	assert_int_equal(fx_line_status(vm, 20, 0), 1);
	CLOSE_ALL(sys, vm);
}

static void test_create_irqchip_after_vcpu_is_einval_and_creates_nothing(void **state)
{
	(void)state;
	int sys = fx_open_sys();
	int vm = fx_create_vm(sys, 0);
	int vcpu = fx_create_vcpu(vm, 0);
	assert_fails(virq_ioctl(vm, KVM_CREATE_IRQCHIP, 0), EINVAL);
	/* Still no irqchip. */
	struct kvm_irq_level line = { .irq = 4, .level = 1 };
	assert_fails(virq_ioctl(vm, KVM_IRQ_LINE, &line), ENXIO);
	assert_fails(virq_ioctl(vm, KVM_CREATE_IRQCHIP, 0), EINVAL);
	/* Closing the vCPU handle does not undo "a vCPU was created" (KVM's vCPUs live with the VM). */
	assert_int_equal(virq_close(vcpu), 0);
	assert_fails(virq_ioctl(vm, KVM_CREATE_IRQCHIP, 0), EINVAL);
	CLOSE_ALL(sys, vm);
}

static void test_create_vcpu_duplicate_id_is_eexist(void **state)
{
	(void)state;
	int sys = fx_open_sys();
	int vm = fx_create_vm(sys, FX_IRQCHIP);
	int vcpu = fx_create_vcpu(vm, 3);
	assert_fails(virq_ioctl(vm, KVM_CREATE_VCPU, 3), EEXIST);
	/* The vCPU whose handle was closed still exists in the VM. */
	assert_int_equal(virq_close(vcpu), 0);
	assert_fails(virq_ioctl(vm, KVM_CREATE_VCPU, 3), EEXIST);
	CLOSE_ALL(sys, vm);
}

static void test_create_vcpu_id_out_of_range_is_einval(void **state)
{
	(void)state;
	int sys = fx_open_sys();
	int vm = fx_create_vm(sys, 0);
	assert_int_equal(virq_ioctl(sys, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPU_ID), 256);
	static const unsigned long bad_ids[] = { 256, 257, 4096, 0xffffffffu, ~0ul };
	for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++)
		assert_fails(virq_ioctl(vm, KVM_CREATE_VCPU, bad_ids[i]), EINVAL);
	/* A refused vCPU does not count as created: the irqchip may still be created. */
	assert_int_equal(virq_ioctl(vm, KVM_CREATE_IRQCHIP, 0), 0);
	int vcpu = fx_create_vcpu(vm, 255);
	CLOSE_ALL(sys, vm, vcpu);
}

/* ---- KVM_ENABLE_CAP ----------------------------------------------------------------------------------- */

static void test_enable_cap_errors(void **state)
{
	(void)state;
	int sys = fx_open_sys();
	int vm = fx_create_vm(sys, FX_IRQCHIP);
	struct kvm_enable_cap cap;

	memset(&cap, 0, sizeof(cap));
	cap.cap = KVM_CAP_HALT_POLL;
	assert_int_equal(virq_ioctl(vm, KVM_ENABLE_CAP, &cap), 0);
	cap.args[0] = 500000;
	assert_int_equal(virq_ioctl(vm, KVM_ENABLE_CAP, &cap), 0);
	cap.flags = 1;
	assert_fails(virq_ioctl(vm, KVM_ENABLE_CAP, &cap), EINVAL);
	cap.flags = 0;
	/* KVM: args[0] must fit the unsigned int it is stored in. */
	cap.args[0] = (uint64_t)UINT32_MAX + 1;
	assert_fails(virq_ioctl(vm, KVM_ENABLE_CAP, &cap), EINVAL);

	/* Unknown caps and caps virq reports absent (CHECK_EXTENSION 0) are refused. */
	static const uint32_t refused[] = { 0x7fff, KVM_CAP_SPLIT_IRQCHIP, KVM_CAP_X2APIC_API,
					    KVM_CAP_MSI_DEVID };
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		memset(&cap, 0, sizeof(cap));
		cap.cap = refused[i];
		assert_fails(virq_ioctl(vm, KVM_ENABLE_CAP, &cap), EINVAL);
	}
	CLOSE_ALL(sys, vm);
}

/* ---- KVM_SET_USER_MEMORY_REGION ----------------------------------------------------------------------- */

static void test_set_user_memory_region_errors(void **state)
{
	(void)state;
	int sys = fx_open_sys();
	int vm = fx_create_vm(sys, 0);
	size_t len = 4 * 4096;
	uint8_t *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(mem != MAP_FAILED);
	uint64_t hva = (uintptr_t)mem;

	const struct {
		const char *what;
		struct kvm_userspace_memory_region r;
		int err;
	} table[] = {
		{ "unaligned size", { .slot = 0, .guest_phys_addr = 0x100000, .memory_size = 4095, .userspace_addr = hva }, EINVAL },
		{ "unaligned gpa", { .slot = 0, .guest_phys_addr = 0x100800, .memory_size = 4096, .userspace_addr = hva }, EINVAL },
		{ "unaligned hva", { .slot = 0, .guest_phys_addr = 0x100000, .memory_size = 4096, .userspace_addr = hva + 8 }, EINVAL },
		{ "unknown flag", { .slot = 0, .flags = 1u << 5, .guest_phys_addr = 0x100000, .memory_size = 4096, .userspace_addr = hva }, EINVAL },
		{ "high flag", { .slot = 0, .flags = 0x80000000u, .guest_phys_addr = 0x100000, .memory_size = 4096, .userspace_addr = hva }, EINVAL },
		{ "slot id = KVM_CAP_NR_MEMSLOTS", { .slot = 512, .guest_phys_addr = 0x100000, .memory_size = 4096, .userspace_addr = hva }, EINVAL },
		{ "slot id 0xffff", { .slot = 0xffff, .guest_phys_addr = 0x100000, .memory_size = 4096, .userspace_addr = hva }, EINVAL },
		{ "address space 2", { .slot = 2u << 16, .guest_phys_addr = 0x100000, .memory_size = 4096, .userspace_addr = hva }, EINVAL },
		{ "gpa wraps", { .slot = 0, .guest_phys_addr = 0xfffffffffffff000ull, .memory_size = 8192, .userspace_addr = hva }, EINVAL },
		{ "delete of an empty slot", { .slot = 7, .memory_size = 0 }, EINVAL },
		{ "host range in kernel space", { .slot = 0, .guest_phys_addr = 0x100000, .memory_size = 4096, .userspace_addr = 0xffff888000000000ull }, EINVAL },
		{ "host range ends past user space", { .slot = 0, .guest_phys_addr = 0x100000, .memory_size = 2 * 4096, .userspace_addr = (1ull << 47) - 4096 }, EINVAL },
		{ "host range wraps", { .slot = 0, .guest_phys_addr = 0x100000, .memory_size = 8192, .userspace_addr = 0xfffffffffffff000ull }, EINVAL },
		{ "more than KVM_MEM_MAX_NR_PAGES", { .slot = 0, .guest_phys_addr = 0, .memory_size = 1ull << 43, .userspace_addr = 0x10000000 }, EINVAL },
	};
	assert_int_equal(virq_ioctl(sys, KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS), 512);
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		errno = 0;
		int ret = virq_ioctl(vm, KVM_SET_USER_MEMORY_REGION, &table[i].r);
		if (ret != -1 || errno != table[i].err)
			fail_msg("%s: got %d errno %d, want -1 errno %d", table[i].what, ret, errno, table[i].err);
	}
	/* None of them created anything: deleting slot 0 is still deleting an empty slot. */
	struct kvm_userspace_memory_region del0 = { .slot = 0 };
	assert_fails(virq_ioctl(vm, KVM_SET_USER_MEMORY_REGION, &del0), EINVAL);

	/* Overlap within one address space is EEXIST, and the refused slot is not created. */
	struct kvm_userspace_memory_region a = { .slot = 0, .guest_phys_addr = 0x100000, .memory_size = 2 * 4096,
						 .userspace_addr = hva };
	struct kvm_userspace_memory_region b = { .slot = 1, .guest_phys_addr = 0x101000, .memory_size = 2 * 4096,
						 .userspace_addr = hva + 2 * 4096 };
	assert_int_equal(virq_ioctl(vm, KVM_SET_USER_MEMORY_REGION, &a), 0);
	assert_fails(virq_ioctl(vm, KVM_SET_USER_MEMORY_REGION, &b), EEXIST);
	struct kvm_userspace_memory_region del1 = { .slot = 1 };
	assert_fails(virq_ioctl(vm, KVM_SET_USER_MEMORY_REGION, &del1), EINVAL);
	/* Adjacent is fine; so is the same range in the other address space. */
	b.guest_phys_addr = 0x102000;
	assert_int_equal(virq_ioctl(vm, KVM_SET_USER_MEMORY_REGION, &b), 0);
	struct kvm_userspace_memory_region smm = { .slot = (1u << 16) | 0, .guest_phys_addr = 0x100000,
						   .memory_size = 4096, .userspace_addr = hva };
	assert_int_equal(virq_ioctl(vm, KVM_SET_USER_MEMORY_REGION, &smm), 0);
	/* A live slot may not change size. */
	struct kvm_userspace_memory_region grow = a;
	grow.memory_size = 4096;
	assert_fails(virq_ioctl(vm, KVM_SET_USER_MEMORY_REGION, &grow), EINVAL);
	/* Delete, then the slot is empty again. */
	struct kvm_userspace_memory_region del = { .slot = 0 };
	assert_int_equal(virq_ioctl(vm, KVM_SET_USER_MEMORY_REGION, &del), 0);
	assert_fails(virq_ioctl(vm, KVM_SET_USER_MEMORY_REGION, &del), EINVAL);
	CLOSE_ALL(sys, vm);
	munmap(mem, len);
}

/* ---- NULL pointers ----------------------------------------------------------------------------------- */

/* A NULL user pointer is copy_from_user's EFAULT, checked before anything else (even the irqchip). */
static void test_null_pointer_args_are_efault(void **state)
{
	(void)state;
	static const unsigned long vm_requests[] = {
		KVM_IRQ_LINE, KVM_IRQ_LINE_STATUS, KVM_SET_GSI_ROUTING, KVM_IRQFD, KVM_SIGNAL_MSI,
		KVM_ENABLE_CAP, KVM_SET_USER_MEMORY_REGION, KVM_GET_IRQCHIP, KVM_SET_IRQCHIP,
	};
	int sys = fx_open_sys();
	int with_chip = fx_create_vm(sys, FX_IRQCHIP);
	int without_chip = fx_create_vm(sys, 0);
	for (size_t i = 0; i < sizeof(vm_requests) / sizeof(vm_requests[0]); i++) {
		assert_fails(virq_ioctl(with_chip, vm_requests[i], NULL), EFAULT);
		assert_fails(virq_ioctl(without_chip, vm_requests[i], NULL), EFAULT);
	}
	int vcpu = fx_create_vcpu(with_chip, 0);
	assert_fails(virq_ioctl(vcpu, KVM_GET_MP_STATE, NULL), EFAULT);
	assert_fails(virq_ioctl(vcpu, KVM_SET_MP_STATE, NULL), EFAULT);
	CLOSE_ALL(sys, with_chip, without_chip, vcpu);
}

/* ---- KVM_GET_IRQCHIP / KVM_SET_IRQCHIP ---------------------------------------------------------------- */

static void test_get_set_irqchip_errors(void **state)
{
	(void)state;
	int sys = fx_open_sys();
	int bare = fx_create_vm(sys, 0);
	int vm = fx_create_vm(sys, FX_IRQCHIP);
	struct kvm_irqchip chip;

	memset(&chip, 0, sizeof(chip));
	chip.chip_id = KVM_IRQCHIP_IOAPIC;
	assert_fails(virq_ioctl(bare, KVM_GET_IRQCHIP, &chip), ENXIO);
	assert_fails(virq_ioctl(bare, KVM_SET_IRQCHIP, &chip), ENXIO);

	assert_int_equal(virq_ioctl(vm, KVM_GET_IRQCHIP, &chip), 0);
	assert_int_equal(chip.chip.ioapic.base_address, 0xfec00000u);
	for (int pin = 0; pin < KVM_IOAPIC_NUM_PINS; pin++)
		assert_true(chip.chip.ioapic.redirtbl[pin].fields.mask); /* reset: every pin masked */

	chip.chip_id = 3;
	assert_fails(virq_ioctl(vm, KVM_GET_IRQCHIP, &chip), EINVAL);
	assert_fails(virq_ioctl(vm, KVM_SET_IRQCHIP, &chip), EINVAL);
	/* virq difference (ARCHITECTURE.md 7, no 8259 PIC): the PIC chips have no state to get or set,
	 * where KVM would return the PIC's registers. */
	chip.chip_id = KVM_IRQCHIP_PIC_MASTER;
	assert_fails(virq_ioctl(vm, KVM_GET_IRQCHIP, &chip), ENXIO);
	chip.chip_id = KVM_IRQCHIP_PIC_SLAVE;
	assert_fails(virq_ioctl(vm, KVM_SET_IRQCHIP, &chip), ENXIO);
	CLOSE_ALL(sys, bare, vm);
}

/* ---- KVM_RUN, MP state -------------------------------------------------------------------------------- */

static void test_run_without_program_is_enoexec(void **state)
{
	(void)state;
	int sys = fx_open_sys();
	int vm = fx_create_vm(sys, FX_IRQCHIP | FX_NO_HALT_POLL);
	int vcpu = fx_create_vcpu(vm, 0);
	assert_fails(virq_ioctl(vcpu, KVM_RUN, 0), ENOEXEC);
	/* KVM: a non-zero argument is refused first. */
	assert_fails(virq_ioctl(vcpu, KVM_RUN, 1), EINVAL);
	CLOSE_ALL(sys, vm, vcpu);
}

static void test_run_with_nonzero_arg_is_einval(void **state)
{
	(void)state;
	int sys = fx_open_sys();
	int vm = fx_create_vm(sys, FX_IRQCHIP | FX_NO_HALT_POLL);
	int vcpu = fx_create_vcpu(vm, 0);
	assert_int_equal(virq_guest_load(vcpu, "main:\n mmio_write 0xd0000000, 4, 7\n shutdown\n"), 0);
	assert_fails(virq_ioctl(vcpu, KVM_RUN, 1), EINVAL);
	/* Refused without running: the first real run still sees the first op. */
	struct kvm_run *run = virq_vcpu_run_struct(vcpu);
	assert_non_null(run);
	assert_int_equal(virq_ioctl(vcpu, KVM_RUN, 0), 0);
	assert_int_equal(run->exit_reason, KVM_EXIT_MMIO);
	assert_int_equal(run->mmio.phys_addr, 0xd0000000u);
	assert_int_equal(run->mmio.data[0], 7);
	assert_int_equal(virq_ioctl(vcpu, KVM_RUN, 0), 0);
	assert_int_equal(run->exit_reason, KVM_EXIT_SHUTDOWN);
	CLOSE_ALL(sys, vm, vcpu);
}

static void test_run_with_immediate_exit_is_eintr_and_exit_intr(void **state)
{
	(void)state;
	int sys = fx_open_sys();
	int vm = fx_create_vm(sys, FX_IRQCHIP | FX_NO_HALT_POLL);
	int vcpu = fx_create_vcpu(vm, 0);
	assert_int_equal(virq_guest_load(vcpu, "main:\n mmio_write 0xd0000000, 4, 9\n shutdown\n"), 0);
	struct kvm_run *run = virq_vcpu_run_struct(vcpu);
	assert_non_null(run);

	run->immediate_exit = 1;
	assert_fails(virq_ioctl(vcpu, KVM_RUN, 0), EINTR);
	assert_int_equal(run->exit_reason, KVM_EXIT_INTR);
	assert_fails(virq_ioctl(vcpu, KVM_RUN, 0), EINTR); /* as often as it is set */
	/* Nothing ran: clearing it, the guest starts at its first op. */
	run->immediate_exit = 0;
	assert_int_equal(virq_ioctl(vcpu, KVM_RUN, 0), 0);
	assert_int_equal(run->exit_reason, KVM_EXIT_MMIO);
	assert_int_equal(run->mmio.data[0], 9);

	/* An application processor waiting for INIT/SIPI also leaves at once. */
	int ap = fx_create_vcpu(vm, 1);
	assert_int_equal(virq_guest_load(ap, "main:\n hlt\n"), 0);
	struct kvm_run *ap_run = virq_vcpu_run_struct(ap);
	assert_non_null(ap_run);
	ap_run->immediate_exit = 1;
	assert_fails(virq_ioctl(ap, KVM_RUN, 0), EINTR);
	assert_int_equal(ap_run->exit_reason, KVM_EXIT_INTR);
	CLOSE_ALL(sys, vm, vcpu, ap);
}

static void test_mp_state_get_set_and_errors(void **state)
{
	(void)state;
	int sys = fx_open_sys();
	int vm = fx_create_vm(sys, FX_IRQCHIP);
	int bsp = fx_create_vcpu(vm, 0);
	int ap = fx_create_vcpu(vm, 1);
	struct kvm_mp_state mp;

	/* With an in-kernel irqchip the BSP is runnable, every other vCPU waits for INIT/SIPI. */
	assert_int_equal(virq_ioctl(bsp, KVM_GET_MP_STATE, &mp), 0);
	assert_int_equal(mp.mp_state, KVM_MP_STATE_RUNNABLE);
	assert_int_equal(virq_ioctl(ap, KVM_GET_MP_STATE, &mp), 0);
	assert_int_equal(mp.mp_state, KVM_MP_STATE_UNINITIALIZED);

	/* An unknown state is refused and changes nothing. */
	mp.mp_state = 0x1000;
	assert_fails(virq_ioctl(ap, KVM_SET_MP_STATE, &mp), EINVAL);
	assert_int_equal(virq_ioctl(ap, KVM_GET_MP_STATE, &mp), 0);
	assert_int_equal(mp.mp_state, KVM_MP_STATE_UNINITIALIZED);

	mp.mp_state = KVM_MP_STATE_RUNNABLE;
	assert_int_equal(virq_ioctl(ap, KVM_SET_MP_STATE, &mp), 0);
	assert_int_equal(virq_ioctl(ap, KVM_GET_MP_STATE, &mp), 0);
	assert_int_equal(mp.mp_state, KVM_MP_STATE_RUNNABLE);
	mp.mp_state = KVM_MP_STATE_INIT_RECEIVED;
	assert_int_equal(virq_ioctl(ap, KVM_SET_MP_STATE, &mp), 0);
	assert_int_equal(virq_ioctl(ap, KVM_GET_MP_STATE, &mp), 0);
	assert_int_equal(mp.mp_state, KVM_MP_STATE_INIT_RECEIVED);

	/* Without an in-kernel LAPIC only RUNNABLE may be set (KVM). */
	int bare = fx_create_vm(sys, 0);
	int cpu = fx_create_vcpu(bare, 1);
	assert_int_equal(virq_ioctl(cpu, KVM_GET_MP_STATE, &mp), 0);
	assert_int_equal(mp.mp_state, KVM_MP_STATE_RUNNABLE);
	static const uint32_t need_lapic[] = { KVM_MP_STATE_UNINITIALIZED, KVM_MP_STATE_INIT_RECEIVED,
					       KVM_MP_STATE_HALTED, KVM_MP_STATE_SIPI_RECEIVED };
	for (size_t i = 0; i < sizeof(need_lapic) / sizeof(need_lapic[0]); i++) {
		mp.mp_state = need_lapic[i];
		assert_fails(virq_ioctl(cpu, KVM_SET_MP_STATE, &mp), EINVAL);
	}
	assert_int_equal(virq_ioctl(cpu, KVM_GET_MP_STATE, &mp), 0);
	assert_int_equal(mp.mp_state, KVM_MP_STATE_RUNNABLE);
	mp.mp_state = KVM_MP_STATE_RUNNABLE;
	assert_int_equal(virq_ioctl(cpu, KVM_SET_MP_STATE, &mp), 0);
	CLOSE_ALL(sys, vm, bsp, ap, bare, cpu);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ioctl_on_fd_virq_did_not_create_is_enotty),
		cmocka_unit_test(test_ioctl_on_closed_fd_is_ebadf),
		cmocka_unit_test(test_ioctl_on_closed_handle_is_ebadf),
		cmocka_unit_test(test_closed_handle_number_reused_by_caller_is_enotty),
		cmocka_unit_test(test_close_of_fd_virq_did_not_create_is_ebadf_and_leaves_it_open),
		cmocka_unit_test(test_close_twice_is_ebadf),
		cmocka_unit_test(test_handles_are_real_descriptors),
		cmocka_unit_test(test_unknown_ioctl_is_einval_on_system_enotty_on_vm_einval_on_vcpu),
		cmocka_unit_test(test_vcpu_run_struct_of_a_non_vcpu_handle_fails),
		cmocka_unit_test(test_guest_load_errors),
		cmocka_unit_test(test_system_handle_answers_as_kvm),
		cmocka_unit_test(test_check_extension_is_truthful_on_system_and_vm),
		cmocka_unit_test(test_create_vm_accepts_type_0_only),
		cmocka_unit_test(test_vm_outlives_system_handle),
		cmocka_unit_test(test_create_irqchip_twice_is_eexist),
		cmocka_unit_test(test_create_irqchip_after_vcpu_is_einval_and_creates_nothing),
		cmocka_unit_test(test_create_vcpu_duplicate_id_is_eexist),
		cmocka_unit_test(test_create_vcpu_id_out_of_range_is_einval),
		cmocka_unit_test(test_enable_cap_errors),
		cmocka_unit_test(test_set_user_memory_region_errors),
		cmocka_unit_test(test_null_pointer_args_are_efault),
		cmocka_unit_test(test_get_set_irqchip_errors),
		cmocka_unit_test(test_run_without_program_is_enoexec),
		cmocka_unit_test(test_run_with_nonzero_arg_is_einval),
		cmocka_unit_test(test_run_with_immediate_exit_is_eintr_and_exit_intr),
		cmocka_unit_test(test_mp_state_get_set_and_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
