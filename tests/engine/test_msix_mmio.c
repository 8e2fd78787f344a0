/* SPDX-License-Identifier: MIT */
/*
 * test_msix_mmio.c - the in-engine MSI-X table (seed 002) through the KVM-compatible front and the native
 * calls of <virq/vm.h>: access sizes and alignment, reserved bits, the window's edges, per-vector mask
 * and pending delivery exactly once, the function mask and enable, PBA reads in another BAR, routing-update
 * exits and their payload, the hold until the VMM updates the route (Xen's unmask-after-update lesson),
 * no exit for writes that change nothing, save/restore, and every errno (docs/msix-mmio.md).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <virq/kvm.h>

#include "msix_fixture.h"

#define GSI 40u
#define ADDR0 0xfee00000u /* MSI address: physical APIC 0 */

/* Handlers that report their vector, and a guest that software-enables its LAPIC first. */
#define HANDLERS                                                                                    \
	"vector 0x41:\n    mmio_write 0xd0000000, 4, 0x41\n    eoi\n    iret\n"                     \
	"vector 0x42:\n    mmio_write 0xd0000000, 4, 0x42\n    eoi\n    iret\n"
#define MAIN "main:\n    mmio_write 0xfee000f0, 4, 0x1ff\n"

static void test_access_sizes_alignment_and_reserved_bits(void **state)
{
	static const char program[] =
		MAIN
		"    mmio_write 0xd1000000, 4, 0xfee00003 ; address bits 1:0 are reserved\n"
		"    mmio_read r1, 0xd1000000, 4\n"
		"    mmio_write 0xd0000000, 4, r1\n"
		"    mmio_write 0xd1000010, 8, 0x00000001fee01000 ; entry 1: address low and high at once\n"
		"    mmio_read r2, 0xd1000010, 8\n"
		"    mmio_write 0xd0000000, 8, r2\n"
		"    mmio_read r3, 0xd1000002, 2   ; not a DWORD: all ones\n"
		"    mmio_write 0xd0000000, 2, r3\n"
		"    mmio_read r4, 0xd1000004, 8   ; QWORD not QWORD-aligned: all ones\n"
		"    mmio_write 0xd0000000, 8, r4\n"
		"    mmio_read r5, 0xd1000009, 1\n"
		"    mmio_write 0xd0000000, 1, r5\n"
		"    mmio_write 0xd1000008, 2, 0x55 ; ignored\n"
		"    mmio_write 0xd1000009, 4, 0x55 ; ignored\n"
		"    mmio_write 0xd1000004, 8, 0x55 ; ignored\n"
		"    mmio_write 0xd1000001, 1, 0x55 ; ignored\n"
		"    mmio_read r6, 0xd1000008, 8   ; data and vector control of entry 0\n"
		"    mmio_write 0xd0000000, 8, r6\n"
		"    mmio_write 0xd100000c, 4, 0xffffffff ; only the mask bit sticks\n"
		"    mmio_read r7, 0xd100000c, 4\n"
		"    mmio_write 0xd0000000, 4, r7\n"
		"    mmio_write 0xd1000040, 4, 0x99 ; past the 4-entry table: the device's, not ours\n";
	struct msix_fx f;
	struct virq_msix_counts c;
	(void)state;

	msix_open(&f, 4, program);
	msix_expect_update(&f, 0, 0xfee00000, 0, 0, KVM_MSIX_ROUTING_UPDATE_ADDRESS_DATA);
	assert_int_equal(msix_report(&f), 0xfee00000);
	msix_expect_update(&f, 1, 0xfee01000, 1, 0, KVM_MSIX_ROUTING_UPDATE_ADDRESS_DATA);
	assert_int_equal(msix_report(&f), 0x00000001fee01000ull);
	assert_int_equal(msix_report(&f), 0xffff);
	assert_int_equal(msix_report(&f), UINT64_MAX);
	assert_int_equal(msix_report(&f), 0xff);
	assert_int_equal(msix_report(&f), 1ull << 32); /* data 0, still masked */
	assert_int_equal(msix_report(&f), 1);
	/* Registers beside the table (same page) still reach the VMM. */
	assert_int_equal(virq_ioctl(f.g.vcpu, KVM_RUN, 0), 0);
	assert_int_equal(f.g.run->exit_reason, KVM_EXIT_MMIO);
	assert_int_equal(f.g.run->mmio.phys_addr, TABLE + 0x40);

	assert_int_equal(virq_vm_msix_mmio_counts(f.vm, DEV, &c), 0);
	assert_int_equal(c.reads, 7);
	assert_int_equal(c.writes, 7);
	assert_int_equal(c.ignored, 7); /* 3 reads, 4 writes */
	assert_int_equal(c.routing_exits, 2);
	assert_int_equal(c.mask_changes, 0); /* 1 -> 1 */
	msix_close(&f);
}

/*
 * Program entry 0 (address, then data: one exit each, the VMM follows with the route), bind it to GSI, and
 * come back masked with interrupts enabled. The guest's next op follows the report.
 */
#define PROGRAM_ENTRY0                                                                              \
	"    mmio_write 0xd1000000, 4, 0xfee00000\n"                                                \
	"    mmio_write 0xd1000008, 4, 0x41\n"                                                      \
	"    sti\n"                                                                                 \
	"    mmio_write 0xd0000000, 4, 1\n"

static void program_entry0(struct msix_fx *f)
{
	assert_int_equal(virq_vm_msix_mmio_bind(f->vm, DEV, 0, GSI), 0);
	msix_expect_update(f, 0, ADDR0, 0, 0, KVM_MSIX_ROUTING_UPDATE_ADDRESS_DATA);
	msix_route(f, GSI, ADDR0, 0);
	msix_expect_update(f, 0, ADDR0, 0, 0x41, KVM_MSIX_ROUTING_UPDATE_ADDRESS_DATA);
	msix_route(f, GSI, ADDR0, 0x41);
	assert_int_equal(msix_report(f), 1);
}

static void test_masked_vector_pends_and_unmask_delivers_once(void **state)
{
	static const char program[] =
		HANDLERS MAIN PROGRAM_ENTRY0
		"    mmio_read r1, 0xd2000000, 8\n"
		"    mmio_write 0xd0000000, 8, r1\n"
		"    mmio_write 0xd100000c, 4, 0   ; unmask: the pending vector arrives, once\n"
		"    mmio_read r2, 0xd2000000, 4\n"
		"    mmio_write 0xd0000000, 4, r2\n"
		"    mmio_write 0xd100000c, 4, 0   ; unmasked again: nothing more\n"
		"    mmio_write 0xd0000000, 4, 2\n";
	struct msix_fx f;
	(void)state;

	msix_open(&f, 4, program);
	program_entry0(&f);
	/* Masked: held in the pending bit, reported as 0 (not delivered yet, not lost), then coalesced. */
	assert_int_equal(fx_line_status(f.g.vm, GSI, 1), 0);
	assert_int_equal(fx_line_status(f.g.vm, GSI, 1), 0);
	int efd = fx_new_eventfd();
	assert_int_equal(fx_irqfd(f.g.vm, efd, GSI, 0, -1), 0);
	fx_signal_efd(efd);
	for (int i = 0; i < 2000 && msix_gsi_counts(&f, GSI).raised < 3; i++)
		usleep(1000);
	struct virq_gsi_counts g = msix_gsi_counts(&f, GSI);
	assert_int_equal(g.raised, 3);
	assert_int_equal(g.pended, 1);
	assert_int_equal(g.coalesced, 2);
	assert_int_equal(g.delivered, 0);
	assert_int_equal(msix_report(&f), 1); /* the guest's PBA read */
	assert_int_equal(msix_report(&f), 0x41);
	assert_int_equal(msix_report(&f), 0);
	assert_int_equal(msix_report(&f), 2);
	g = msix_gsi_counts(&f, GSI);
	assert_int_equal(g.delivered, 1);
	assert_int_equal(g.raised, g.delivered + g.coalesced + g.ignored);
	assert_int_equal(msix_vector_counts(&f, 0x41).handled, 1);
	/* Unmasked and in sync: delivered straight away. */
	assert_int_equal(fx_line_status(f.g.vm, GSI, 1), 1);
	assert_int_equal(fx_irqfd(f.g.vm, efd, GSI, KVM_IRQFD_FLAG_DEASSIGN, -1), 0);
	close(efd);
	msix_close(&f);
}

static void test_function_mask_and_enable_hold_every_vector(void **state)
{
	static const char program[] =
		HANDLERS MAIN PROGRAM_ENTRY0
		"    mmio_write 0xd100000c, 4, 0\n"
		"    mmio_write 0xd0000000, 4, 2\n"
		"again:\n"
		"    mmio_write 0xd0000000, 4, 3\n"
		"    jmp again\n";
	struct msix_fx f;
	(void)state;

	msix_open(&f, 4, program);
	program_entry0(&f);
	assert_int_equal(msix_report(&f), 2); /* entry 0 unmasked */
	assert_int_equal(virq_vm_msix_mmio_set_control(f.vm, DEV, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL), 0);
	assert_int_equal(fx_line_status(f.g.vm, GSI, 1), 0);
	assert_int_equal(msix_saved_pba(&f, 0), 1);
	/* Disabled holds too; the function mask's removal alone does not deliver. */
	assert_int_equal(virq_vm_msix_mmio_set_control(f.vm, DEV, PCI_MSIX_FLAGS_QSIZE), 0);
	assert_int_equal(msix_gsi_counts(&f, GSI).delivered, 0);
	assert_int_equal(virq_vm_msix_mmio_set_control(f.vm, DEV, PCI_MSIX_FLAGS_ENABLE), 0);
	assert_int_equal(msix_gsi_counts(&f, GSI).delivered, 1);
	assert_int_equal(msix_saved_pba(&f, 0), 0);
	assert_int_equal(msix_report(&f), 0x41);
	assert_int_equal(msix_report(&f), 3);
	assert_int_equal(msix_vector_counts(&f, 0x41).handled, 1);
	msix_close(&f);
}

static void test_pba_reads_in_another_bar(void **state)
{
	static const char program[] =
		MAIN
		"    mmio_read r1, 0xd2000000, 8\n"
		"    mmio_write 0xd0000000, 8, r1\n"
		"    mmio_read r2, 0xd2000004, 4\n"
		"    mmio_write 0xd0000000, 4, r2\n"
		"    mmio_read r3, 0xd2000008, 4\n"
		"    mmio_write 0xd0000000, 4, r3\n"
		"    mmio_read r4, 0xd200000c, 4\n"
		"    mmio_write 0xd0000000, 4, r4\n"
		"    mmio_write 0xd2000000, 8, 0    ; the PBA is read-only\n"
		"    mmio_read r5, 0xd2000000, 4\n"
		"    mmio_write 0xd0000000, 4, r5\n"
		"    mmio_read r6, 0xd2000002, 2    ; all ones\n"
		"    mmio_write 0xd0000000, 2, r6\n";
	static const uint32_t entries[] = { 0, 5, 64, 69, 79 };
	struct msix_fx f;
	(void)state;

	msix_open(&f, 80, program);
	for (unsigned i = 0; i < 5; i++) {
		assert_int_equal(virq_vm_msix_mmio_bind(f.vm, DEV, entries[i], GSI + i), 0);
		assert_int_equal(fx_line_status(f.g.vm, GSI + i, 1), 0);
	}
	assert_int_equal(msix_report(&f), 0x21);
	assert_int_equal(msix_report(&f), 0);
	assert_int_equal(msix_report(&f), 0x8021);
	assert_int_equal(msix_report(&f), 0);
	assert_int_equal(msix_report(&f), 0x21);
	assert_int_equal(msix_report(&f), 0xffff);
	assert_int_equal(msix_saved_pba(&f, 0), 0x21);
	assert_int_equal(msix_saved_pba(&f, 1), 0x8021);
	msix_close(&f);
}

/*
 * The guest re-targets an unmasked vector from 0x41 to 0x42 (as old Linux did). Until the VMM's route
 * follows, an interrupt goes to neither vector: not the old one the guest no longer programmed, not lost.
 */
static void test_routing_update_holds_until_the_route_follows(void **state)
{
	static const char program[] =
		HANDLERS MAIN PROGRAM_ENTRY0
		"    mmio_write 0xd100000c, 4, 0\n"
		"    mmio_write 0xd0000000, 4, 2\n"
		"    mmio_write 0xd1000008, 4, 0x42\n"
		"    mmio_write 0xd0000000, 4, 3\n";
	struct msix_fx f;
	(void)state;

	msix_open(&f, 4, program);
	program_entry0(&f);
	assert_int_equal(msix_report(&f), 2);
	msix_expect_update(&f, 0, ADDR0, 0, 0x42, KVM_MSIX_ROUTING_UPDATE_ADDRESS_DATA);
	assert_int_equal(fx_line_status(f.g.vm, GSI, 1), 0);
	assert_int_equal(msix_saved_pba(&f, 0), 1);
	/* An unrelated routing change (another GSI's route) does not release it. */
	struct kvm_irq_routing_entry both[2] = { fx_msi_entry(GSI, 0, 0x41), fx_msi_entry(GSI + 1, 0, 0x50) };
	assert_int_equal(fx_set_routing(f.g.vm, both, 2), 0);
	assert_int_equal(msix_gsi_counts(&f, GSI).delivered, 0);
	msix_route(&f, GSI, ADDR0, 0x42);
	assert_int_equal(msix_gsi_counts(&f, GSI).delivered, 1);
	assert_int_equal(msix_report(&f), 0x42);
	assert_int_equal(msix_report(&f), 3);
	assert_int_equal(msix_vector_counts(&f, 0x41).handled, 0);
	assert_int_equal(msix_vector_counts(&f, 0x42).handled, 1);
	msix_close(&f);
}

/* Xen before 4.6: mask, re-target, unmask before the route is updated: the unmask takes effect once,
 * after the update, however many times the route is set afterwards. */
static void test_unmask_after_update_takes_effect_once(void **state)
{
	static const char program[] =
		HANDLERS MAIN PROGRAM_ENTRY0
		"    mmio_write 0xd1000008, 4, 0x42\n"
		"    mmio_write 0xd100000c, 4, 0\n"
		"    mmio_write 0xd0000000, 4, 2\n"
		"    mmio_write 0xd0000000, 4, 3\n";
	struct msix_fx f;
	(void)state;

	msix_open(&f, 4, program);
	program_entry0(&f);
	assert_int_equal(fx_line_status(f.g.vm, GSI, 1), 0); /* masked */
	msix_expect_update(&f, 0, ADDR0, 0, 0x42, KVM_MSIX_ROUTING_UPDATE_ADDRESS_DATA);
	/* The VMM re-enters without updating the route; the guest unmasks. */
	assert_int_equal(msix_report(&f), 2);
	assert_int_equal(msix_gsi_counts(&f, GSI).delivered, 0);
	msix_route(&f, GSI, ADDR0, 0x42);
	msix_route(&f, GSI, ADDR0, 0x42);
	assert_int_equal(msix_gsi_counts(&f, GSI).delivered, 1);
	assert_int_equal(msix_report(&f), 0x42);
	assert_int_equal(msix_report(&f), 3);
	assert_int_equal(msix_vector_counts(&f, 0x42).handled, 1);
	assert_int_equal(msix_vector_counts(&f, 0x41).handled, 0);
	msix_close(&f);
}

/* A VMM whose route legitimately differs from the entry (interrupt remapping) confirms by re-binding. */
static void test_rebind_confirms_the_route(void **state)
{
	static const char program[] =
		HANDLERS MAIN PROGRAM_ENTRY0
		"    mmio_write 0xd100000c, 4, 0\n"
		"    mmio_write 0xd1000004, 4, 0x1 ; address high changes, the VMM's route does not\n"
		"    mmio_write 0xd0000000, 4, 3\n";
	struct msix_fx f;
	(void)state;

	msix_open(&f, 4, program);
	program_entry0(&f);
	msix_expect_update(&f, 0, ADDR0, 1, 0x41, KVM_MSIX_ROUTING_UPDATE_ADDRESS_DATA);
	assert_int_equal(fx_line_status(f.g.vm, GSI, 1), 0);
	assert_int_equal(virq_vm_msix_mmio_bind(f.vm, DEV, 0, GSI), 0);
	assert_int_equal(msix_gsi_counts(&f, GSI).delivered, 1);
	assert_int_equal(msix_report(&f), 0x41);
	assert_int_equal(msix_report(&f), 3);
	msix_close(&f);
}

static void test_writes_that_change_nothing_do_not_exit(void **state)
{
	static const char program[] =
		HANDLERS MAIN PROGRAM_ENTRY0
		"    set r1, 50\n"
		"again:\n"
		"    mmio_write 0xd1000000, 8, 0xfee00000 ; same address\n"
		"    mmio_write 0xd1000008, 4, 0x41       ; same data\n"
		"    mmio_write 0xd100000c, 4, 0          ; unmask\n"
		"    mmio_write 0xd100000c, 4, 1          ; mask\n"
		"    mmio_write 0xd1000008, 8, 0x100000041 ; data and mask at once, data unchanged\n"
		"    loop r1, again\n"
		"    mmio_write 0xd0000000, 4, 2\n";
	struct msix_fx f;
	struct virq_msix_counts c;
	(void)state;

	msix_open(&f, 4, program);
	program_entry0(&f);
	assert_int_equal(msix_report(&f), 2);
	assert_int_equal(virq_vm_msix_mmio_counts(f.vm, DEV, &c), 0);
	assert_int_equal(c.routing_exits, 2);
	assert_int_equal(c.mask_changes, 100);
	assert_int_equal(c.writes, 2 + 250);
	msix_close(&f);
}

static void test_unmask_of_an_unbound_entry_exits(void **state)
{
	static const char program[] =
		HANDLERS MAIN
		"    mmio_write 0xd1000018, 8, 0x41  ; entry 1: data 0x41, unmasked\n"
		"    mmio_write 0xd0000000, 4, 2\n";
	struct msix_fx f;
	(void)state;

	msix_open(&f, 4, program);
	msix_expect_update(&f, 1, 0, 0, 0x41,
			   KVM_MSIX_ROUTING_UPDATE_ADDRESS_DATA | KVM_MSIX_ROUTING_UPDATE_UNBOUND_UNMASK);
	msix_route(&f, GSI, 0, 0x41);
	assert_int_equal(virq_vm_msix_mmio_bind(f.vm, DEV, 1, GSI), 0);
	assert_int_equal(msix_report(&f), 2);
	msix_close(&f);
}

static void test_save_restore_and_unregister_hand_back(void **state)
{
	static const char program[] =
		MAIN
		"    mmio_write 0xd1000008, 4, 0x77\n"
		"    mmio_write 0xd0000000, 4, 1\n"
		"    mmio_read r1, 0xd1000018, 8\n"
		"    mmio_write 0xd0000000, 8, r1\n"
		"    mmio_read r2, 0xd1000018, 8   ; unregistered now: the VMM's\n";
	struct msix_fx f;
	(void)state;

	msix_open(&f, 4, program);
	msix_expect_update(&f, 0, 0, 0, 0x77, KVM_MSIX_ROUTING_UPDATE_ADDRESS_DATA);
	assert_int_equal(msix_report(&f), 1);
	/* Plain stores to base_va are not seen; save writes the engine's state over them. */
	f.table[4 * 1 + 2] = 0x1234;
	assert_int_equal(virq_vm_msix_mmio_save(f.vm, DEV), 0);
	assert_int_equal(f.table[2], 0x77);
	assert_int_equal(f.table[4 * 1 + 2], 0);
	/* Restore while no vCPU runs: the guest reads what the VMM wrote. */
	f.table[4 * 1 + 2] = 0x1234;
	f.table[4 * 1 + 3] = 0xfffffffe;
	assert_int_equal(virq_vm_msix_mmio_restore(f.vm, DEV), 0);
	assert_int_equal(msix_report(&f), 0x1234);
	f.table[2] = 0;
	assert_int_equal(msix_unregister(f.g.vm, DEV, TYPE_TABLE), 0);
	assert_int_equal(f.table[2], 0x77);
	assert_int_equal(virq_ioctl(f.g.vcpu, KVM_RUN, 0), 0);
	assert_int_equal(f.g.run->exit_reason, KVM_EXIT_MMIO);
	assert_int_equal(f.g.run->mmio.phys_addr, TABLE + 0x18);
	assert_int_equal(msix_unregister(f.g.vm, DEV, TYPE_PBA), 0);
	msix_close(&f);
}

struct runner {
	int vcpu;
	int ret;
};

static void *run_vcpu(void *arg)
{
	struct runner *r = arg;
	r->ret = virq_ioctl(r->vcpu, KVM_RUN, 0);
	return NULL;
}

static void test_restore_is_refused_while_a_vcpu_runs(void **state)
{
	static const char program[] = MAIN "    spin 300ms\n    mmio_write 0xd0000000, 4, 1\n";
	struct msix_fx f;
	pthread_t t;
	int ret = 0;
	(void)state;

	msix_open(&f, 4, program);
	struct runner r = { .vcpu = f.g.vcpu };
	assert_int_equal(pthread_create(&t, NULL, run_vcpu, &r), 0);
	for (int i = 0; i < 250 && ret == 0; i++) {
		ret = virq_vm_msix_mmio_restore(f.vm, DEV);
		if (ret == 0)
			usleep(1000);
	}
	assert_int_equal(ret, -EBUSY);
	pthread_join(t, NULL);
	assert_int_equal(r.ret, 0);
	assert_int_equal(virq_vm_msix_mmio_restore(f.vm, DEV), 0);
	msix_close(&f);
}

/* ---- errno ------------------------------------------------------------------------------------------ */

static void test_register_errno(void **state)
{
	uint32_t table[16 * 4];
	(void)state;
	int sys = fx_open_sys();
	int vm = fx_create_vm(sys, FX_IRQCHIP | FX_NO_HALT_POLL);
	struct kvm_msix_mmio_user u;

	assert_int_equal(virq_ioctl(sys, KVM_CHECK_EXTENSION, KVM_CAP_MSIX_MMIO), 1);
	assert_int_equal(virq_ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_MSIX_MMIO), 1);
	assert_fails(virq_ioctl(vm, KVM_REGISTER_MSIX_MMIO, NULL), EFAULT);
	assert_fails(virq_ioctl(vm, KVM_UNREGISTER_MSIX_MMIO, NULL), EFAULT);

	u = msix_user(1, TYPE_TABLE, 4, TABLE, table);
	u.flags = 1;
	assert_fails(virq_ioctl(vm, KVM_REGISTER_MSIX_MMIO, &u), EINVAL);
	for (unsigned i = 0; i < 4; i++) {
		u = msix_user(1, TYPE_TABLE, 4, TABLE, table);
		u.reserved[i] = 1;
		assert_fails(virq_ioctl(vm, KVM_REGISTER_MSIX_MMIO, &u), EINVAL);
	}
	static const uint16_t bad_types[] = {
		0, KVM_MSIX_MMIO_TYPE_ASSIGNED_DEV, KVM_MSIX_MMIO_TYPE_BASE_TABLE, TYPE_TABLE | TYPE_PBA,
		TYPE_TABLE | (1 << 1), TYPE_TABLE | (1 << 10), (1 << 1) | KVM_MSIX_MMIO_TYPE_BASE_TABLE,
	};
	for (unsigned i = 0; i < sizeof(bad_types) / sizeof(bad_types[0]); i++)
		assert_fails(msix_register(vm, 1, bad_types[i], 4, TABLE, table), EINVAL);
	assert_fails(msix_register(vm, 1, TYPE_TABLE, 0, TABLE, table), EINVAL);
	assert_fails(msix_register(vm, 1, TYPE_TABLE, 2049, TABLE, table), EINVAL);
	assert_fails(msix_register(vm, 1, TYPE_TABLE, 4, TABLE + 8, table), EINVAL);
	assert_fails(msix_register(vm, 1, TYPE_PBA, 4, PBA + 4, table), EINVAL);
	assert_fails(msix_register(vm, 1, TYPE_TABLE, 2, 0xfffffffffffffff0ull, table), EINVAL);
	assert_fails(msix_register(vm, 1, TYPE_TABLE, 4, TABLE, NULL), EFAULT);
	assert_fails(msix_register(vm, 1, TYPE_TABLE, 4, 0xfee00ff0ull, table), EEXIST);
	assert_fails(msix_register(vm, 1, TYPE_TABLE, 16, 0xfebffff0ull, table), EEXIST);

	assert_int_equal(msix_register(vm, 1, TYPE_TABLE, 4, TABLE, table), 0);
	assert_fails(msix_register(vm, 1, TYPE_TABLE, 4, TABLE + 0x1000, table), EEXIST);
	assert_fails(msix_register(vm, 2, TYPE_TABLE, 4, TABLE + 0x30, table), EEXIST);
	assert_fails(msix_register(vm, 2, TYPE_PBA, 4, TABLE - 8 + 0x10, table), EEXIST);
	assert_fails(msix_register(vm, 1, TYPE_PBA, 5, PBA, table), EINVAL);
	assert_int_equal(msix_register(vm, 1, TYPE_PBA, 4, PBA + 8, table), 0);
	assert_int_equal(msix_register(vm, 2, TYPE_PBA, 4, PBA, table), 0); /* PBA first, in either order */
	assert_int_equal(msix_register(vm, 2, TYPE_TABLE, 4, TABLE + 0x40, table), 0);

	u = msix_user(1, TYPE_TABLE, 0, 0, NULL);
	u.reserved[3] = 1;
	assert_fails(virq_ioctl(vm, KVM_UNREGISTER_MSIX_MMIO, &u), EINVAL);
	assert_fails(msix_unregister(vm, 1, KVM_MSIX_MMIO_TYPE_BASE_TABLE), EINVAL);
	assert_fails(msix_unregister(vm, 3, TYPE_TABLE), ENXIO);
	assert_int_equal(msix_unregister(vm, 1, TYPE_TABLE), 0);
	assert_fails(msix_unregister(vm, 1, TYPE_TABLE), ENXIO);
	assert_int_equal(msix_unregister(vm, 1, TYPE_PBA), 0);
	assert_fails(msix_unregister(vm, 1, TYPE_PBA), ENXIO);
	uint32_t *big = calloc(VIRQ_MSIX_MAX_ENTRIES, PCI_MSIX_ENTRY_SIZE);
	assert_non_null(big);
	assert_int_equal(msix_register(vm, 1, TYPE_TABLE, VIRQ_MSIX_MAX_ENTRIES, 0x100000000ull, big), 0);
	CLOSE_ALL(sys, vm);
	free(big);
}

static void test_too_many_windows_is_enospc(void **state)
{
	uint32_t table[4];
	(void)state;
	int sys = fx_open_sys();
	int vm = fx_create_vm(sys, FX_IRQCHIP | FX_NO_HALT_POLL);

	for (uint32_t i = 0; i < VIRQ_MSIX_MAX_REGIONS; i++)
		assert_int_equal(msix_register(vm, i, TYPE_TABLE, 1, TABLE + 16 * i, table), 0);
	assert_fails(msix_register(vm, 1000, TYPE_TABLE, 1, PBA, table), ENOSPC);
	assert_int_equal(msix_unregister(vm, 3, TYPE_TABLE), 0);
	assert_int_equal(msix_register(vm, 1000, TYPE_TABLE, 1, PBA, table), 0);
	CLOSE_ALL(sys, vm);
}

static void test_native_call_errno(void **state)
{
	uint32_t table[8 * 4], other[4];
	(void)state;
	int sys = fx_open_sys();
	int vm = fx_create_vm(sys, FX_IRQCHIP | FX_NO_HALT_POLL);
	struct virq_vm *v = virq_vm_of_fd(vm);
	struct virq_msix_counts c;

	assert_int_equal(virq_vm_msix_mmio_bind(v, 1, 0, 40), -ENXIO);
	assert_int_equal(virq_vm_msix_mmio_set_control(v, 1, PCI_MSIX_FLAGS_ENABLE), -ENXIO);
	assert_int_equal(virq_vm_msix_mmio_save(v, 1), -ENXIO);
	assert_int_equal(virq_vm_msix_mmio_restore(v, 1), -ENXIO);
	assert_int_equal(virq_vm_msix_mmio_counts(v, 1, &c), -ENXIO);
	assert_int_equal(msix_register(vm, 1, TYPE_TABLE, 8, TABLE, table), 0);
	assert_int_equal(msix_register(vm, 2, TYPE_TABLE, 1, PBA, other), 0);
	assert_int_equal(virq_vm_msix_mmio_bind(v, 1, 8, 40), -EINVAL);
	assert_int_equal(virq_vm_msix_mmio_bind(v, 1, 0, KVM_MAX_IRQ_ROUTES), -EINVAL);
	assert_int_equal(virq_vm_msix_mmio_bind(v, 1, 0, 40), 0);
	assert_int_equal(virq_vm_msix_mmio_bind(v, 1, 0, 40), 0);   /* again: a confirmation */
	assert_int_equal(virq_vm_msix_mmio_bind(v, 1, 1, 40), -EBUSY);
	assert_int_equal(virq_vm_msix_mmio_bind(v, 2, 0, 40), -EBUSY);
	assert_int_equal(virq_vm_msix_mmio_bind(v, 1, 0, 41), 0);   /* moves: 40 is free again */
	assert_int_equal(virq_vm_msix_mmio_bind(v, 1, 1, 40), 0);
	assert_int_equal(virq_vm_msix_mmio_bind(v, 1, 1, VIRQ_MSIX_NO_GSI), 0);
	assert_int_equal(virq_vm_msix_mmio_bind(v, 2, 0, 40), 0);
	assert_int_equal(virq_vm_msix_mmio_counts(v, 1, &c), 0);
	CLOSE_ALL(sys, vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_access_sizes_alignment_and_reserved_bits),
		cmocka_unit_test(test_masked_vector_pends_and_unmask_delivers_once),
		cmocka_unit_test(test_function_mask_and_enable_hold_every_vector),
		cmocka_unit_test(test_pba_reads_in_another_bar),
		cmocka_unit_test(test_routing_update_holds_until_the_route_follows),
		cmocka_unit_test(test_unmask_after_update_takes_effect_once),
		cmocka_unit_test(test_rebind_confirms_the_route),
		cmocka_unit_test(test_writes_that_change_nothing_do_not_exit),
		cmocka_unit_test(test_unmask_of_an_unbound_entry_exits),
		cmocka_unit_test(test_save_restore_and_unregister_hand_back),
		cmocka_unit_test(test_restore_is_refused_while_a_vcpu_runs),
		cmocka_unit_test(test_register_errno),
		cmocka_unit_test(test_too_many_windows_is_enospc),
		cmocka_unit_test(test_native_call_errno),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
