/* SPDX-License-Identifier: MIT */
/*
 * test_errno_irqfd.c - KVM_IRQFD through the KVM-compatible front: the validation order of reference
 * kvm-x86.md 1.7 errno by errno, EBUSY across VMs, the (eventfd, gsi)-keyed deassign that succeeds on no
 * match, re-binding after deassign, and that an attached irqfd consumes its eventfd's signals.
 *
 * irqfd injection is asynchronous (the VM's poller thread), so effects are awaited with a timeout: a
 * vCPU whose guest handles the vector reports it through KVM_RUN, and its main loop gives up after a
 * bounded spin instead of hanging. virq differences named below: ARCHITECTURE.md 8.1 (a closed eventfd
 * number is noticed at the next KVM_IRQFD, not by POLLHUP) and 8.2 (the poller drains the eventfd before
 * it injects).
 *
 * Every test opens its own handles and closes all of them.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
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

#include "kvm_fixture.h"

#define GIVE_UP 0xdead

static int assign(int vm, int fd, uint32_t gsi)
{
	return fx_irqfd(vm, fd, gsi, 0, 0);
}

static int deassign(int vm, int fd, uint32_t gsi)
{
	return fx_irqfd(vm, fd, gsi, KVM_IRQFD_FLAG_DEASSIGN, 0);
}

/* Wait (without reading it ourselves) until the eventfd's counter went back to 0; false on timeout. */
static bool drained_within(int efd, int timeout_ms)
{
	for (int waited = 0; waited < timeout_ms; waited++) {
		if (!fx_readable_within(efd, 0))
			return true;
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	}
	return !fx_readable_within(efd, 0);
}

static void sleep_ms(int ms)
{
	nanosleep(&(struct timespec){ .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L }, NULL);
}

/*
 * vCPU 0 with a guest that handles vector 0x41 by reporting it. Its main loop spins at most 5 s per round
 * and then reports GIVE_UP, so a test waiting for a delivery that never comes fails instead of hanging.
 */
static const char irq_guest[] = "vector 0x41:\n"
				"    mmio_write 0xd0000000, 4, 0x41\n"
				"    eoi\n"
				"    iret\n"
				"main:\n"
				"    mmio_write 0xfee000f0, 4, 0x1ff\n"
				"    mmio_write 0xd0000000, 4, 0x600d\n"
				"    sti\n"
				"loop:\n"
				"    spin 5s\n"
				"    mmio_write 0xd0000000, 4, 0xdead\n"
				"    jmp loop\n";

/* A VM whose GSI 30 is an MSI for vector 0x41 on vCPU 0, which runs irq_guest and is set up. */
static int create_msi_vcpu(int vm)
{
	struct kvm_irq_routing_entry msi = fx_msi_entry(30, 0, 0x41);
	assert_int_equal(fx_set_routing(vm, &msi, 1), 0);
	int vcpu = fx_create_guest_vcpu(vm, 0, false, irq_guest);
	assert_int_equal(fx_run_to_report(vcpu), 0x600d);
	return vcpu;
}

/* ---- validation order --------------------------------------------------------------------------------- */

static void test_irqfd_unknown_flags_are_einval_before_anything_else(void **state)
{
	(void)state;
	int sys = fx_open_sys();
	int vm = fx_create_vm(sys, FX_IRQCHIP | FX_NO_HALT_POLL);
	int bare = fx_create_vm(sys, FX_NO_HALT_POLL);
	int efd = fx_new_eventfd();
	int gone = fx_closed_fd();
	static const uint32_t bad_flags[] = { 4, 0x80000000u, KVM_IRQFD_FLAG_DEASSIGN | 4,
					      KVM_IRQFD_FLAG_RESAMPLE | 8, 0xffffffffu };

	for (size_t i = 0; i < sizeof(bad_flags) / sizeof(bad_flags[0]); i++) {
		assert_fails(fx_irqfd(vm, efd, 1, bad_flags[i], efd), EINVAL);
		assert_fails(fx_irqfd(vm, gone, 1, bad_flags[i], gone), EINVAL);   /* not EBADF */
		assert_fails(fx_irqfd(bare, efd, 1, bad_flags[i], efd), EINVAL);
	}
	/* Nothing was bound. */
	assert_int_equal(assign(vm, efd, 1), 0);
	assert_int_equal(deassign(vm, efd, 1), 0);
	close(efd);
	CLOSE_ALL(sys, vm, bare);
}

static void test_irqfd_without_irqchip_is_einval(void **state)
{
	(void)state;
	int sys = fx_open_sys();
	int vm = fx_create_vm(sys, FX_NO_HALT_POLL);
	int efd = fx_new_eventfd(), rfd = fx_new_eventfd();
	assert_fails(assign(vm, efd, 1), EINVAL);
	assert_fails(fx_irqfd(vm, efd, 1, KVM_IRQFD_FLAG_RESAMPLE, rfd), EINVAL);
	/* Checked before the descriptor. */
	assert_fails(assign(vm, fx_closed_fd(), 1), EINVAL);
	/* Deassign does not need an irqchip: nothing matches, 0 (KVM). */
	assert_int_equal(deassign(vm, efd, 1), 0);
	close(efd);
	close(rfd);
	CLOSE_ALL(sys, vm);
}

static void test_irqfd_fd_not_open_is_ebadf(void **state)
{
	(void)state;
	int sys = fx_open_sys();
	int vm = fx_create_vm(sys, FX_IRQCHIP | FX_NO_HALT_POLL);
	assert_fails(assign(vm, fx_closed_fd(), 1), EBADF);
	assert_fails(assign(vm, -1, 1), EBADF);
	assert_fails(assign(vm, 1 << 30, 1), EBADF);
	assert_fails(deassign(vm, fx_closed_fd(), 1), EBADF);
	CLOSE_ALL(sys, vm);
}

static void test_irqfd_fd_not_an_eventfd_is_einval(void **state)
{
	(void)state;
	int sys = fx_open_sys();
	int vm = fx_create_vm(sys, FX_IRQCHIP | FX_NO_HALT_POLL);
	int p[2];
	assert_int_equal(pipe(p), 0);
	assert_fails(assign(vm, p[0], 1), EINVAL);
	assert_fails(assign(vm, p[1], 1), EINVAL);
	assert_fails(assign(vm, vm, 1), EINVAL);  /* a virq handle is no eventfd either */
	assert_fails(assign(vm, sys, 1), EINVAL);
	assert_fails(deassign(vm, p[0], 1), EINVAL);
	close(p[0]);
	close(p[1]);
	CLOSE_ALL(sys, vm);
}

static void test_irqfd_bad_resamplefd_is_ebadf_or_einval(void **state)
{
	(void)state;
	int sys = fx_open_sys();
	int vm = fx_create_vm(sys, FX_IRQCHIP | FX_NO_HALT_POLL);
	int efd = fx_new_eventfd();
	int p[2];
	assert_int_equal(pipe(p), 0);

	assert_fails(fx_irqfd(vm, efd, 5, KVM_IRQFD_FLAG_RESAMPLE, fx_closed_fd()), EBADF);
	assert_fails(fx_irqfd(vm, efd, 5, KVM_IRQFD_FLAG_RESAMPLE, -1), EBADF);
	assert_fails(fx_irqfd(vm, efd, 5, KVM_IRQFD_FLAG_RESAMPLE, p[0]), EINVAL);
	/* The trigger fd is checked first. */
	assert_fails(fx_irqfd(vm, p[0], 5, KVM_IRQFD_FLAG_RESAMPLE, fx_closed_fd()), EINVAL);
	assert_fails(fx_irqfd(vm, fx_closed_fd(), 5, KVM_IRQFD_FLAG_RESAMPLE, p[0]), EBADF);
	/* Without the RESAMPLE flag resamplefd is not looked at. */
	assert_int_equal(fx_irqfd(vm, efd, 5, 0, fx_closed_fd()), 0);
	/* The resamplefd is checked before "already bound". */
	assert_fails(fx_irqfd(vm, efd, 5, KVM_IRQFD_FLAG_RESAMPLE, fx_closed_fd()), EBADF);
	assert_fails(fx_irqfd(vm, efd, 5, KVM_IRQFD_FLAG_RESAMPLE, p[1]), EINVAL);
	/* On deassign RESAMPLE is ignored, resamplefd too. */
	assert_int_equal(fx_irqfd(vm, efd, 5, KVM_IRQFD_FLAG_DEASSIGN | KVM_IRQFD_FLAG_RESAMPLE, fx_closed_fd()), 0);
	assert_int_equal(assign(vm, efd, 5), 0); /* it was removed */
	close(efd);
	close(p[0]);
	close(p[1]);
	CLOSE_ALL(sys, vm);
}

/* ---- EBUSY, deassign, re-bind --------------------------------------------------------------------------- */

static void test_irqfd_same_eventfd_twice_is_ebusy(void **state)
{
	(void)state;
	int sys = fx_open_sys();
	int vm = fx_create_vm(sys, FX_IRQCHIP | FX_NO_HALT_POLL);
	int efd = fx_new_eventfd(), rfd = fx_new_eventfd();
	assert_int_equal(assign(vm, efd, 1), 0);
	assert_fails(assign(vm, efd, 1), EBUSY);
	assert_fails(assign(vm, efd, 2), EBUSY);
	assert_fails(fx_irqfd(vm, efd, 5, KVM_IRQFD_FLAG_RESAMPLE, rfd), EBUSY);
	/* The eventfd is its open file, not its number: a dup is the same eventfd. */
	int copy = dup(efd);
	assert_fails(assign(vm, copy, 3), EBUSY);
	/* Deassign through the dup works too, then the number is free again. */
	assert_int_equal(deassign(vm, copy, 1), 0);
	assert_int_equal(assign(vm, copy, 3), 0);
	assert_fails(assign(vm, efd, 3), EBUSY);
	close(copy);
	close(efd);
	close(rfd);
	CLOSE_ALL(sys, vm);
}

static void test_irqfd_same_eventfd_in_two_vms_is_ebusy(void **state)
{
	(void)state;
	int sys = fx_open_sys();
	int vm1 = fx_create_vm(sys, FX_IRQCHIP | FX_NO_HALT_POLL);
	int vm2 = fx_create_vm(sys, FX_IRQCHIP | FX_NO_HALT_POLL);
	int efd = fx_new_eventfd();
	assert_int_equal(assign(vm1, efd, 1), 0);
	assert_fails(assign(vm2, efd, 1), EBUSY); /* as Linux since the 2025 priority-waiter change */
	/* The failed assign left nothing in vm2; deassign there is a no-op and vm1 keeps it. */
	assert_int_equal(deassign(vm2, efd, 1), 0);
	assert_fails(assign(vm2, efd, 1), EBUSY);
	/* Deassign in vm1 frees it for vm2. */
	assert_int_equal(deassign(vm1, efd, 1), 0);
	assert_int_equal(assign(vm2, efd, 1), 0);
	assert_fails(assign(vm1, efd, 1), EBUSY);
	/* Closing a VM releases its irqfds. */
	assert_int_equal(virq_close(vm2), 0);
	assert_int_equal(assign(vm1, efd, 1), 0);
	close(efd);
	CLOSE_ALL(sys, vm1);
}

static void test_irqfd_deassign_of_nothing_returns_0(void **state)
{
	(void)state;
	int sys = fx_open_sys();
	int vm = fx_create_vm(sys, FX_IRQCHIP | FX_NO_HALT_POLL);
	int efd = fx_new_eventfd();
	assert_int_equal(deassign(vm, efd, 1), 0);
	assert_int_equal(deassign(vm, efd, 0xffffffffu), 0);
	/* ... and binds nothing. */
	assert_int_equal(assign(vm, efd, 1), 0);
	assert_int_equal(deassign(vm, efd, 1), 0);
	assert_int_equal(deassign(vm, efd, 1), 0);
	close(efd);
	CLOSE_ALL(sys, vm);
}

static void test_irqfd_deassign_with_wrong_gsi_leaves_it_alive(void **state)
{
	(void)state;
	int sys = fx_open_sys();
	int vm = fx_create_vm(sys, FX_IRQCHIP | FX_NO_HALT_POLL);
	int vcpu = create_msi_vcpu(vm);
	int efd = fx_new_eventfd();

	assert_int_equal(assign(vm, efd, 30), 0);
	assert_int_equal(deassign(vm, efd, 31), 0);  /* (eventfd, gsi) does not match: 0, nothing removed */
	assert_fails(assign(vm, efd, 31), EBUSY);
	/* Still delivering. */
	fx_signal_efd(efd);
	assert_int_equal(fx_run_to_report(vcpu), 0x41);
	/* It consumed the signal: the poller drained the eventfd before it injected (ARCHITECTURE 8.2). */
	assert_int_equal(fx_drain_efd(efd), 0);

	/* The right key removes it: afterwards nothing consumes the eventfd's signals. */
	assert_int_equal(deassign(vm, efd, 30), 0);
	fx_signal_efd(efd);
	sleep_ms(100);
	assert_int_equal(fx_drain_efd(efd), 1);
	close(efd);
	CLOSE_ALL(sys, vm, vcpu);
}

static void test_irqfd_eventfd_can_be_bound_again_after_deassign(void **state)
{
	(void)state;
	int sys = fx_open_sys();
	int vm = fx_create_vm(sys, FX_IRQCHIP | FX_NO_HALT_POLL);
	int vcpu = create_msi_vcpu(vm);
	int efd = fx_new_eventfd(), rfd = fx_new_eventfd();

	for (int round = 0; round < 3; round++) {
		assert_int_equal(assign(vm, efd, 30), 0);
		fx_signal_efd(efd);
		assert_int_equal(fx_run_to_report(vcpu), 0x41);
		assert_int_equal(deassign(vm, efd, 30), 0);
	}
	/* As a resampling irqfd, and back. */
	assert_int_equal(fx_irqfd(vm, efd, 5, KVM_IRQFD_FLAG_RESAMPLE, rfd), 0);
	assert_int_equal(deassign(vm, efd, 5), 0);
	assert_int_equal(assign(vm, efd, 30), 0);
	close(efd);
	close(rfd);
	CLOSE_ALL(sys, vm, vcpu);
}

/* An attached irqfd eats the eventfd's signals, even when its GSI delivers nothing (masked pin). */
static void test_irqfd_consumes_eventfd_signals(void **state)
{
	(void)state;
	int sys = fx_open_sys();
	int vm = fx_create_vm(sys, FX_IRQCHIP | FX_NO_HALT_POLL);
	int efd = fx_new_eventfd(), rfd = fx_new_eventfd();

	assert_int_equal(assign(vm, efd, 20), 0);
	for (int i = 0; i < 3; i++) {
		fx_signal_efd(efd);
		assert_true(drained_within(efd, 5000));
		assert_int_equal(fx_drain_efd(efd), 0);
	}
	assert_int_equal(deassign(vm, efd, 20), 0);
	/* A resampling irqfd consumes its trigger too. */
	assert_int_equal(fx_irqfd(vm, efd, 20, KVM_IRQFD_FLAG_RESAMPLE, rfd), 0);
	fx_signal_efd(efd);
	assert_true(drained_within(efd, 5000));
	assert_int_equal(fx_drain_efd(efd), 0);
	close(efd);
	close(rfd);
	CLOSE_ALL(sys, vm);
}

/* The GSI is not validated: any u32, routed or not (KVM quirk). */
static void test_irqfd_gsi_is_not_validated(void **state)
{
	(void)state;
	static const uint32_t gsis[] = { 4095, 4096, 100000, 0xffffffffu };
	int sys = fx_open_sys();
	int vm = fx_create_vm(sys, FX_IRQCHIP | FX_NO_HALT_POLL);
	for (size_t i = 0; i < sizeof(gsis) / sizeof(gsis[0]); i++) {
		int efd = fx_new_eventfd(), rfd = fx_new_eventfd();
		assert_int_equal(assign(vm, efd, gsis[i]), 0);
		fx_signal_efd(efd);
		assert_true(drained_within(efd, 5000));
		assert_int_equal(deassign(vm, efd, gsis[i]), 0);
		assert_int_equal(fx_irqfd(vm, efd, gsis[i], KVM_IRQFD_FLAG_RESAMPLE, rfd), 0);
		fx_signal_efd(efd);
		assert_true(drained_within(efd, 5000));
		assert_int_equal(deassign(vm, efd, gsis[i]), 0);
		/* Bound once more and left for the VM's release to tear down. */
		assert_int_equal(fx_irqfd(vm, efd, gsis[i], KVM_IRQFD_FLAG_RESAMPLE, rfd), 0);
		close(efd);
		close(rfd);
	}
	CLOSE_ALL(sys, vm);
}

/*
 * virq difference (ARCHITECTURE.md 8.1): an eventfd whose number the caller closed is noticed at the next
 * KVM_IRQFD on the VM (KVM tears the irqfd down at once on POLLHUP). Either way, a new eventfd that reuses
 * the number is a different eventfd and binds without EBUSY.
 */
static void test_irqfd_new_eventfd_reusing_a_closed_number_binds(void **state)
{
	(void)state;
	int sys = fx_open_sys();
	int vm = fx_create_vm(sys, FX_IRQCHIP | FX_NO_HALT_POLL);
	int vm2 = fx_create_vm(sys, FX_IRQCHIP | FX_NO_HALT_POLL);
	int efd = fx_new_eventfd();
	assert_int_equal(assign(vm, efd, 1), 0);
	close(efd);
	int fresh = fx_new_eventfd(); /* usually takes the freed number already; make sure of it */
	if (fresh != efd) {
		assert_int_equal(dup2(fresh, efd), efd);
		close(fresh);
	}
	assert_int_equal(assign(vm2, efd, 1), 0);   /* another VM: a different file, no EBUSY */
	assert_int_equal(deassign(vm2, efd, 1), 0);
	assert_int_equal(assign(vm, efd, 1), 0);    /* the same VM: the stale irqfd is gone */
	assert_fails(assign(vm2, efd, 1), EBUSY);
	assert_int_equal(deassign(vm, efd, 1), 0);
	assert_int_equal(deassign(vm, efd, 1), 0);
	close(efd);
	CLOSE_ALL(sys, vm, vm2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_irqfd_unknown_flags_are_einval_before_anything_else),
		cmocka_unit_test(test_irqfd_without_irqchip_is_einval),
		cmocka_unit_test(test_irqfd_fd_not_open_is_ebadf),
		cmocka_unit_test(test_irqfd_fd_not_an_eventfd_is_einval),
		cmocka_unit_test(test_irqfd_bad_resamplefd_is_ebadf_or_einval),
		cmocka_unit_test(test_irqfd_same_eventfd_twice_is_ebusy),
		cmocka_unit_test(test_irqfd_same_eventfd_in_two_vms_is_ebusy),
		cmocka_unit_test(test_irqfd_deassign_of_nothing_returns_0),
		cmocka_unit_test(test_irqfd_deassign_with_wrong_gsi_leaves_it_alive),
		cmocka_unit_test(test_irqfd_eventfd_can_be_bound_again_after_deassign),
		cmocka_unit_test(test_irqfd_consumes_eventfd_signals),
		cmocka_unit_test(test_irqfd_gsi_is_not_validated),
		cmocka_unit_test(test_irqfd_new_eventfd_reusing_a_closed_number_binds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
