/* SPDX-License-Identifier: MIT */
/*
 * test_regressions.c - behaviours a review found broken, each pinned by a test:
 *  - a bound eventfd opened blocking, drained by another reader, must not hang the poller (and with it
 *    deassign and VM destruction);
 *  - two VMs binding one eventfd at the same moment: exactly one wins, the other gets EBUSY;
 *  - the EOI of a level MSI is not broadcast to the IOAPIC, so it cannot re-fire an edge pin that shares
 *    its vector (KVM forwards only vectors the IOAPIC handles);
 *  - a logical MSI destination that matches nobody reaches nobody with status 0, as KVM's APIC map says,
 *    not the slow path's -1 (EPERM from KVM_SIGNAL_MSI, a stuck remote IRR on a level pin).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sys/uio.h>

#include "kvm_fixture.h"

/* A non-blocking read of a blocking eventfd, as another consumer of the same file would make. */
static void read_nowait(int efd)
{
	uint64_t count;
	struct iovec iov = { .iov_base = &count, .iov_len = sizeof(count) };
	if (preadv2(efd, &iov, 1, -1, RWF_NOWAIT) < 0) {
		/* EAGAIN: virq drained it first */
	}
}

static void test_blocking_eventfd_drained_by_another_reader_does_not_hang(void **state)
{
	(void)state;
	int sys = fx_open_sys();

	/* Each round ends with a signal that virq's watcher and this thread race for. When this thread
	 * wins, the watcher was woken for an eventfd already empty; a watcher that then slept in read()
	 * would never come back, and the deassign below, which waits for the watchers, would hang. */
	for (int round = 0; round < 300; round++) {
		int vm = fx_create_vm(sys, FX_IRQCHIP);
		int efd = eventfd(0, EFD_CLOEXEC); /* blocking, as eventfd() makes it by default */
		assert_int_equal(fx_irqfd(vm, efd, 5, 0, -1), 0);
		fx_signal_efd(efd);
		read_nowait(efd);
		assert_int_equal(fx_irqfd(vm, efd, 5, KVM_IRQFD_FLAG_DEASSIGN, -1), 0);
		assert_int_equal(virq_close(vm), 0);
		close(efd);
	}
	assert_int_equal(virq_close(sys), 0);
}

struct racer {
	int vm, efd, resamplefd, ret;
	pthread_barrier_t *start;
};

static void *bind_racer(void *arg)
{
	struct racer *r = arg;
	pthread_barrier_wait(r->start);
	r->ret = fx_irqfd(r->vm, r->efd, 5, KVM_IRQFD_FLAG_RESAMPLE, r->resamplefd) == 0 ? 0 : errno;
	return NULL;
}

static void test_two_vms_binding_one_eventfd_at_once_one_gets_ebusy(void **state)
{
	(void)state;
	int sys = fx_open_sys();

	for (int round = 0; round < 30; round++) {
		pthread_barrier_t start;
		struct racer r[2];
		pthread_t t[2];
		int efd = fx_new_eventfd();

		pthread_barrier_init(&start, NULL, 2);
		for (int i = 0; i < 2; i++) {
			r[i] = (struct racer){ .vm = fx_create_vm(sys, FX_IRQCHIP), .efd = efd,
					       .resamplefd = fx_new_eventfd(), .start = &start };
			assert_int_equal(pthread_create(&t[i], NULL, bind_racer, &r[i]), 0);
		}
		for (int i = 0; i < 2; i++)
			pthread_join(t[i], NULL);
		assert_true((r[0].ret == 0 && r[1].ret == EBUSY) || (r[0].ret == EBUSY && r[1].ret == 0));
		for (int i = 0; i < 2; i++) {
			assert_int_equal(virq_close(r[i].vm), 0);
			close(r[i].resamplefd);
		}
		pthread_barrier_destroy(&start);
		close(efd);
	}
	assert_int_equal(virq_close(sys), 0);
}

static void test_level_msi_eoi_does_not_refire_an_edge_pin(void **state)
{
	static const char program[] =
		"vector 0x40:\n"
		"    mmio_write 0xd0000000, 4, 0x40\n"
		"    eoi\n"
		"    mmio_write 0xd0000000, 4, 0x41    ; after the EOI\n"
		"    iret\n"
		"main:\n"
		"    mmio_write 0xfee000f0, 4, 0x1ff\n"
		"    mmio_write 0xfec00000, 4, 0x16\n"
		"    mmio_write 0xfec00010, 4, 0x40    ; pin 3: vector 0x40, edge, unmasked\n"
		"    mmio_write 0xd0000000, 4, 1\n"
		"    sti\n"
		"loop:\n"
		"    spin 1ms\n"
		"    mmio_write 0xd0000000, 4, 0x77    ; idle\n"
		"    jmp loop\n";
	struct fx_guest g;
	(void)state;

	fx_guest_open(&g, 0, true, program);
	assert_int_equal(fx_run_to_report(g.vcpu), 1);
	assert_int_equal(fx_line_status(g.vm, 3, 1), 1); /* the edge pin's line goes high and stays high */
	assert_int_equal(fx_run_to_report(g.vcpu), 0x40);
	assert_int_equal(fx_run_to_report(g.vcpu), 0x41);
	assert_int_equal(fx_run_to_report(g.vcpu), 0x77);
	assert_int_equal(fx_signal_msi(g.vm, 0, 0x40 | 1u << 15), 1); /* level MSI, same vector */
	assert_int_equal(fx_run_to_report(g.vcpu), 0x40);
	assert_int_equal(fx_run_to_report(g.vcpu), 0x41);
	assert_int_equal(fx_run_to_report(g.vcpu), 0x77); /* not a third 0x40 */
	fx_guest_close(&g);
}

static void test_logical_destination_matching_nobody_is_status_0(void **state)
{
	(void)state;
	int sys = fx_open_sys();
	int vm = fx_create_vm(sys, FX_IRQCHIP);
	int vcpu = fx_create_vcpu(vm, 0);
	struct kvm_msi logical = { .address_lo = 0xfee00000u | 1u << 12 | 1u << 2, .data = 0x41 };

	assert_int_equal(virq_ioctl(vm, KVM_SIGNAL_MSI, &logical), 0);
	CLOSE_ALL(sys, vm, vcpu);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_blocking_eventfd_drained_by_another_reader_does_not_hang),
		cmocka_unit_test(test_two_vms_binding_one_eventfd_at_once_one_gets_ebusy),
		cmocka_unit_test(test_level_msi_eoi_does_not_refire_an_edge_pin),
		cmocka_unit_test(test_logical_destination_matching_nobody_is_status_0),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
