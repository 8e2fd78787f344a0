/* SPDX-License-Identifier: MIT */
/*
 * test_irqfd.c - irqfd and resampler behaviour a VMM relies on (reference: kvm-x86.md 1.7, 1.8, 1.13):
 * a routing change retargets a live irqfd; nothing is injected after deassign returns; resampling irqfds
 * sharing a GSI get one de-assert and one notification each per EOI; removing the last one de-asserts the
 * line; unmasking a pending level pin resamples instead of injecting.
 *
 * The vCPU runs on the test's own thread; injections come from another thread (the VM's poller, while the
 * vCPU is not halted), so the test waits for their effect on the counters before it runs the guest on.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <virq/kvm.h>
#include <virq/vcpu.h>
#include <virq/vm.h>

#include "kvm_fixture.h"

static const char guest[] =
	"vector 0x41:\n"
	"    mmio_write 0xd0000000, 4, 0x41\n"
	"    eoi\n"
	"    iret\n"
	"vector 0x42:\n"
	"    mmio_write 0xd0000000, 4, 0x42\n"
	"    eoi\n"
	"    iret\n"
	"vector 0x51:\n"
	"    mmio_write 0xd0000000, 4, 0x51    ; before EOI\n"
	"    eoi\n"
	"    mmio_write 0xd0000000, 4, 0x1051  ; after EOI\n"
	"    iret\n"
	"main:\n"
	"    mmio_write 0xfee000f0, 4, 0x1ff\n"
	"    mmio_write 0xfec00000, 4, 0x1a\n"
	"    mmio_write 0xfec00010, 4, 0x18051 ; pin 5: vector 0x51, level, masked\n"
	"    mmio_write 0xd0000000, 4, 1\n"
	"    mmio_write 0xfec00010, 4, 0x8051  ; unmask\n"
	"    mmio_write 0xd0000000, 4, 2\n"
	"    sti\n"
	"loop:\n"
	"    hlt\n"
	"    jmp loop\n";

struct rig {
	struct fx_guest g;
	struct virq_vm *native;
};

static void rig_open(struct rig *r)
{
	fx_guest_open(&r->g, 0, false, guest);
	r->native = virq_vm_of_fd(r->g.vm);
}

static void rig_close(struct rig *r)
{
	fx_guest_close(&r->g);
}

static void irqfd(struct rig *r, int fd, uint32_t gsi, uint32_t flags, int resamplefd)
{
	assert_int_equal(fx_irqfd(r->g.vm, fd, gsi, flags, resamplefd), 0);
}

/* Wait (bounded) until the poller has consumed @n eventfd signals on @gsi. */
static void wait_signals(struct rig *r, uint32_t gsi, uint64_t n)
{
	struct virq_gsi_counts c;
	for (int i = 0; i < 10000; i++) {
		virq_vm_gsi_counts(r->native, gsi, &c);
		if (c.irqfd_signals >= n)
			return;
		usleep(100);
	}
	fail_msg("GSI %u: %llu signals consumed, expected %llu", gsi, (unsigned long long)c.irqfd_signals,
		 (unsigned long long)n);
}

static void route_gsi40(struct rig *r, uint32_t vector)
{
	const struct kvm_irq_routing_entry rt[] = { fx_irqchip_entry(5, KVM_IRQCHIP_IOAPIC, 5),
						    fx_msi_entry(40, 0, vector) };
	assert_int_equal(fx_set_routing(r->g.vm, rt, 2), 0);
}

static void test_routing_change_retargets_a_live_irqfd(void **state)
{
	struct rig r;
	(void)state;

	rig_open(&r);
	route_gsi40(&r, 0x41);
	int efd = fx_new_eventfd();
	irqfd(&r, efd, 40, 0, 0);
	assert_int_equal(fx_run_to_report(r.g.vcpu), 1);
	assert_int_equal(fx_run_to_report(r.g.vcpu), 2);
	fx_signal_efd(efd);
	assert_int_equal(fx_run_to_report(r.g.vcpu), 0x41);
	route_gsi40(&r, 0x42);
	fx_signal_efd(efd);
	assert_int_equal(fx_run_to_report(r.g.vcpu), 0x42);
	rig_close(&r);
	close(efd);
}

struct hammer {
	int efd;
	_Atomic bool stop;
};

static void *hammer_main(void *arg)
{
	struct hammer *h = arg;
	uint64_t one = 1;
	while (!atomic_load(&h->stop))
		if (write(h->efd, &one, sizeof(one)) < 0)
			usleep(10);
	return NULL;
}

static void test_nothing_is_injected_after_deassign_returns(void **state)
{
	struct rig r;
	struct virq_gsi_counts before, after;
	(void)state;

	rig_open(&r);
	route_gsi40(&r, 0x41);
	for (int round = 0; round < 50; round++) {
		struct hammer h = { .efd = fx_new_eventfd() };
		pthread_t t;
		irqfd(&r, h.efd, 40, 0, 0);
		assert_int_equal(pthread_create(&t, NULL, hammer_main, &h), 0);
		wait_signals(&r, 40, 1);
		irqfd(&r, h.efd, 40, KVM_IRQFD_FLAG_DEASSIGN, 0);
		virq_vm_gsi_counts(r.native, 40, &before);
		usleep(2000); /* the device keeps signalling */
		virq_vm_gsi_counts(r.native, 40, &after);
		assert_int_equal(after.raised, before.raised);
		assert_int_equal(after.irqfd_signals, before.irqfd_signals);
		atomic_store(&h.stop, true);
		pthread_join(t, NULL);
		close(h.efd);
		/* The routes' counters are cumulative; the next round adds to them. */
	}
	rig_close(&r);
}

static void test_shared_resampler_deasserts_once_and_notifies_each(void **state)
{
	struct rig r;
	struct virq_vector_counts v;
	(void)state;

	rig_open(&r);
	int t1 = fx_new_eventfd(), s1 = fx_new_eventfd(), t2 = fx_new_eventfd(), s2 = fx_new_eventfd();
	irqfd(&r, t1, 5, KVM_IRQFD_FLAG_RESAMPLE, s1);
	irqfd(&r, t2, 5, KVM_IRQFD_FLAG_RESAMPLE, s2);
	assert_int_equal(fx_run_to_report(r.g.vcpu), 1);
	assert_int_equal(fx_run_to_report(r.g.vcpu), 2);

	fx_signal_efd(t1);
	fx_signal_efd(t2);
	wait_signals(&r, 5, 2);
	assert_int_equal(fx_run_to_report(r.g.vcpu), 0x51);
	assert_int_equal(fx_drain_efd(s1) + fx_drain_efd(s2), 0); /* nothing before the EOI */
	assert_int_equal(fx_run_to_report(r.g.vcpu), 0x1051);
	assert_int_equal(fx_drain_efd(s1), 1);
	assert_int_equal(fx_drain_efd(s2), 1);
	virq_vcpu_vector_counts(virq_vcpu_of_fd(r.g.vcpu), 0x51, &v);
	assert_int_equal(v.handled, 1); /* one shared line, one delivery */

	/* One user leaves; the other keeps working alone. */
	irqfd(&r, t1, 5, KVM_IRQFD_FLAG_DEASSIGN, 0);
	fx_signal_efd(t2);
	assert_int_equal(fx_run_to_report(r.g.vcpu), 0x51);
	assert_int_equal(fx_run_to_report(r.g.vcpu), 0x1051);
	assert_int_equal(fx_drain_efd(s1), 0);
	assert_int_equal(fx_drain_efd(s2), 1);

	/* The last user leaves with its line asserted: the line goes low (IOAPIC IRR clears). */
	struct kvm_irqchip chip = { .chip_id = KVM_IRQCHIP_IOAPIC };
	fx_signal_efd(t2);
	wait_signals(&r, 5, 4);
	assert_int_equal(virq_ioctl(r.g.vm, KVM_GET_IRQCHIP, &chip), 0);
	assert_true(chip.chip.ioapic.irr & (1u << 5));
	irqfd(&r, t2, 5, KVM_IRQFD_FLAG_DEASSIGN, 0);
	assert_int_equal(virq_ioctl(r.g.vm, KVM_GET_IRQCHIP, &chip), 0);
	assert_false(chip.chip.ioapic.irr & (1u << 5));
	rig_close(&r);
	close(t1);
	close(s1);
	close(t2);
	close(s2);
}

static void test_unmasking_a_pending_level_pin_resamples_instead_of_injecting(void **state)
{
	struct rig r;
	struct virq_gsi_counts g;
	struct virq_vector_counts v;
	(void)state;

	rig_open(&r);
	int trigger = fx_new_eventfd(), resample = fx_new_eventfd();
	irqfd(&r, trigger, 5, KVM_IRQFD_FLAG_RESAMPLE, resample);
	assert_int_equal(fx_run_to_report(r.g.vcpu), 1); /* pin 5 is masked */
	fx_signal_efd(trigger);
	wait_signals(&r, 5, 1);
	assert_int_equal(fx_run_to_report(r.g.vcpu), 2); /* the guest unmasked it */
	assert_int_equal(fx_drain_efd(resample), 1);
	virq_vcpu_vector_counts(virq_vcpu_of_fd(r.g.vcpu), 0x51, &v);
	assert_int_equal(v.accepted, 0);
	virq_vm_gsi_counts(r.native, 5, &g);
	assert_int_equal(g.resamples, 1);

	/* The device still needs service and asserts afresh: now it is delivered. */
	fx_signal_efd(trigger);
	assert_int_equal(fx_run_to_report(r.g.vcpu), 0x51);
	assert_int_equal(fx_run_to_report(r.g.vcpu), 0x1051);
	assert_int_equal(fx_drain_efd(resample), 1);
	rig_close(&r);
	close(trigger);
	close(resample);
}

static void test_closed_eventfd_is_torn_down_at_the_next_irqfd_call(void **state)
{
	struct rig r;
	(void)state;

	rig_open(&r);
	route_gsi40(&r, 0x41);
	int efd = fx_new_eventfd();
	irqfd(&r, efd, 40, 0, 0);
	int keep = dup(efd); /* the same file under another number: still bound */
	close(efd);
	/* The next KVM_IRQFD finds the bound number closed and tears that irqfd down, so the file the
	 * caller still holds is free to bind again (virq's stand-in for KVM's POLLHUP). */
	irqfd(&r, keep, 40, 0, 0);
	irqfd(&r, keep, 40, KVM_IRQFD_FLAG_DEASSIGN, 0);
	rig_close(&r);
	close(keep);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_routing_change_retargets_a_live_irqfd),
		cmocka_unit_test(test_nothing_is_injected_after_deassign_returns),
		cmocka_unit_test(test_shared_resampler_deasserts_once_and_notifies_each),
		cmocka_unit_test(test_unmasking_a_pending_level_pin_resamples_instead_of_injecting),
		cmocka_unit_test(test_closed_eventfd_is_torn_down_at_the_next_irqfd_call),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
