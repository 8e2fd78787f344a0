/* SPDX-License-Identifier: MIT */
/*
 * test_spine.c - the engine spine end to end through the KVM-compatible front only (<virq/kvm.h>):
 * a VM with an irqchip and two vCPUs; vCPU 1 runs the canonical guest; GSI 40 is routed to an MSI for
 * vector 0x41 on APIC 1 and signalled through an irqfd from another thread; a resampling irqfd on GSI 5
 * delivers vector 0x51 and its resamplefd fires only after the guest's EOI.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include <virq/kvm.h>

#include "kvm_fixture.h" /* includes nothing else from virq */

static const char guest_program[] =
	"vector 0x41:                          ; handler for vector 0x41, runs with interrupts disabled\n"
	"    mmio_write 0xd0000000, 4, 0x41    ; unclaimed address: exits to the VMM as KVM_EXIT_MMIO\n"
	"    eoi                               ; write the local APIC's EOI register\n"
	"    iret                              ; return to the interrupted op, interrupts enabled again\n"
	"vector 0x51:\n"
	"    mmio_write 0xd0000000, 4, 0x51\n"
	"    eoi\n"
	"    iret\n"
	"main:\n"
	"    mmio_write 0xfee000f0, 4, 0x1ff   ; local APIC spurious-vector register: software-enable\n"
	"    mmio_write 0xfec00000, 4, 0x1a    ; IOAPIC IOREGSEL = redirection entry 5, low half\n"
	"    mmio_write 0xfec00010, 4, 0x8051  ; vector 0x51, level, fixed, physical, unmasked\n"
	"    mmio_write 0xfec00000, 4, 0x1b    ; entry 5, high half\n"
	"    mmio_write 0xfec00010, 4, 0x01000000 ; destination APIC 1\n"
	"    mmio_write 0xd0000000, 4, 0x600d  ; report: set up\n"
	"    sti\n"
	"loop:\n"
	"    hlt                               ; block until an interrupt is deliverable\n"
	"    jmp loop\n";

struct vcpu_thread {
	int vcpu_fd;
	struct kvm_run *run;
	pthread_t thread;
	int reports[2];     /* vCPU thread -> test: each MMIO report value */
	int resume[2];      /* test -> vCPU thread: one byte per report, to re-enter KVM_RUN */
	int last_errno;
};

static void on_stop_signal(int sig)
{
	(void)sig;
}

static void *vcpu_main(void *arg)
{
	struct vcpu_thread *vt = arg;

	for (;;) {
		if (virq_ioctl(vt->vcpu_fd, KVM_RUN, 0) < 0) {
			vt->last_errno = errno;
			break;
		}
		if (vt->run->exit_reason != KVM_EXIT_MMIO || !vt->run->mmio.is_write)
			break;
		uint32_t value;
		memcpy(&value, vt->run->mmio.data, sizeof(value));
		if (write(vt->reports[1], &value, sizeof(value)) != sizeof(value))
			break;
		char token;
		if (read(vt->resume[0], &token, 1) != 1)
			break;
	}
	return NULL;
}

static uint32_t next_report(struct vcpu_thread *vt)
{
	struct pollfd pfd = { .fd = vt->reports[0], .events = POLLIN };
	uint32_t value = 0;

	assert_int_equal(poll(&pfd, 1, 10000), 1);
	assert_int_equal(read(vt->reports[0], &value, sizeof(value)), sizeof(value));
	return value;
}

static void resume_vcpu(struct vcpu_thread *vt)
{
	assert_int_equal(write(vt->resume[1], "r", 1), 1);
}

/* Default routes for GSI 0-23 (IOAPIC pin n) plus GSI 40 -> MSI vector 0x41, physical APIC 1. */
static void route_gsi40_to_msi(int vm)
{
	struct kvm_irq_routing_entry e[KVM_IOAPIC_NUM_PINS + 1];
	uint32_t nr = fx_ioapic_entries(e);

	e[nr++] = fx_msi_entry(40, 1, 0x41);
	assert_int_equal(fx_set_routing(vm, e, nr), 0);
}

struct signal_args {
	int efd;
};

static void *device_signal(void *arg)
{
	struct signal_args *sa = arg;
	uint64_t one = 1;
	if (write(sa->efd, &one, sizeof(one)) != sizeof(one))
		abort();
	return NULL;
}

static void test_irqfd_msi_and_resample_through_the_front(void **state)
{
	(void)state;
	struct vcpu_thread vt = { 0 };
	int sys = fx_open_sys();
	assert_int_equal(virq_ioctl(sys, KVM_GET_API_VERSION, 0), 12);
	int vm = fx_create_vm(sys, FX_IRQCHIP | FX_NO_HALT_POLL);
	int vcpu0 = fx_create_vcpu(vm, 0);
	int vcpu1 = fx_create_vcpu(vm, 1);
	assert_int_equal(virq_guest_load(vcpu1, guest_program), 0);
	fx_set_runnable(vcpu1);
	route_gsi40_to_msi(vm);

	int msi_efd = eventfd(0, EFD_CLOEXEC);
	assert_int_equal(fx_irqfd(vm, msi_efd, 40, 0, 0), 0);
	int trigger = eventfd(0, EFD_CLOEXEC), resample = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_int_equal(fx_irqfd(vm, trigger, 5, KVM_IRQFD_FLAG_RESAMPLE, resample), 0);

	signal(SIGUSR1, on_stop_signal);
	vt.vcpu_fd = vcpu1;
	vt.run = virq_vcpu_run_struct(vcpu1);
	assert_non_null(vt.run);
	assert_int_equal(pipe(vt.reports), 0);
	assert_int_equal(pipe(vt.resume), 0);
	assert_int_equal(pthread_create(&vt.thread, NULL, vcpu_main, &vt), 0);
	assert_int_equal(next_report(&vt), 0x600d);
	resume_vcpu(&vt);

	/* MSI through an irqfd signalled by another thread. */
	struct signal_args sa = { .efd = msi_efd };
	pthread_t device;
	assert_int_equal(pthread_create(&device, NULL, device_signal, &sa), 0);
	pthread_join(device, NULL);
	assert_int_equal(next_report(&vt), 0x41);
	/* The irqfd consumed the signal: the eventfd reads empty. */
	assert_false(fx_readable_within(msi_efd, 0));
	resume_vcpu(&vt);

	/* Level INTx through the resampling irqfd: 0x51 arrives, resample only after EOI. */
	sa.efd = trigger;
	assert_int_equal(pthread_create(&device, NULL, device_signal, &sa), 0);
	pthread_join(device, NULL);
	assert_int_equal(next_report(&vt), 0x51);
	assert_false(fx_readable_within(resample, 100));
	resume_vcpu(&vt);
	assert_true(fx_readable_within(resample, 10000));
	uint64_t count = 0;
	assert_int_equal(read(resample, &count, sizeof(count)), sizeof(count));
	assert_int_equal(count, 1);

	/* Stop the vCPU the way QEMU does: immediate_exit, then a signal. */
	__atomic_store_n(&vt.run->immediate_exit, 1, __ATOMIC_RELAXED);
	pthread_kill(vt.thread, SIGUSR1);
	pthread_join(vt.thread, NULL);
	assert_int_equal(vt.last_errno, EINTR);
	assert_int_equal(vt.run->exit_reason, KVM_EXIT_INTR);

	CLOSE_ALL(sys, vm, vcpu1, vcpu0); /* last first: vcpu0, vcpu1, vm, sys */
	close(msi_efd);
	close(trigger);
	close(resample);
	for (int i = 0; i < 2; i++) {
		close(vt.reports[i]);
		close(vt.resume[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_irqfd_msi_and_resample_through_the_front),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
