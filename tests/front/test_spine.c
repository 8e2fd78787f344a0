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

static bool readable_within(int fd, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	return poll(&pfd, 1, timeout_ms) == 1;
}

/* Default routes for GSI 0-23 (IOAPIC pin n) plus GSI 40 -> MSI vector 0x41, physical APIC 1. */
static void route_gsi40_to_msi(int vm)
{
	size_t nr = 25;
	struct kvm_irq_routing *routing = calloc(1, sizeof(*routing) + nr * sizeof(routing->entries[0]));

	for (uint32_t gsi = 0; gsi < 24; gsi++) {
		routing->entries[gsi].gsi = gsi;
		routing->entries[gsi].type = KVM_IRQ_ROUTING_IRQCHIP;
		routing->entries[gsi].u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
		routing->entries[gsi].u.irqchip.pin = gsi;
	}
	routing->entries[24].gsi = 40;
	routing->entries[24].type = KVM_IRQ_ROUTING_MSI;
	routing->entries[24].u.msi.address_lo = 0xfee00000u | (1u << 12);
	routing->entries[24].u.msi.data = 0x41;
	routing->nr = (uint32_t)nr;
	assert_int_equal(virq_ioctl(vm, KVM_SET_GSI_ROUTING, routing), 0);
	free(routing);
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
	int sys = virq_open();
	assert_true(sys >= 0);
	assert_int_equal(virq_ioctl(sys, KVM_GET_API_VERSION, 0), 12);
	int vm = virq_ioctl(sys, KVM_CREATE_VM, 0);
	assert_true(vm >= 0);
	assert_int_equal(virq_ioctl(vm, KVM_CREATE_IRQCHIP, 0), 0);
	struct kvm_enable_cap no_poll = { .cap = KVM_CAP_HALT_POLL };
	assert_int_equal(virq_ioctl(vm, KVM_ENABLE_CAP, &no_poll), 0);
	int vcpu0 = virq_ioctl(vm, KVM_CREATE_VCPU, 0);
	int vcpu1 = virq_ioctl(vm, KVM_CREATE_VCPU, 1);
	assert_true(vcpu0 >= 0 && vcpu1 >= 0);
	assert_int_equal(virq_guest_load(vcpu1, guest_program), 0);
	struct kvm_mp_state runnable = { .mp_state = KVM_MP_STATE_RUNNABLE };
	assert_int_equal(virq_ioctl(vcpu1, KVM_SET_MP_STATE, &runnable), 0);
	route_gsi40_to_msi(vm);

	int msi_efd = eventfd(0, EFD_CLOEXEC);
	struct kvm_irqfd msi_irqfd = { .fd = (uint32_t)msi_efd, .gsi = 40 };
	assert_int_equal(virq_ioctl(vm, KVM_IRQFD, &msi_irqfd), 0);
	int trigger = eventfd(0, EFD_CLOEXEC), resample = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct kvm_irqfd level_irqfd = { .fd = (uint32_t)trigger, .gsi = 5, .flags = KVM_IRQFD_FLAG_RESAMPLE,
					 .resamplefd = (uint32_t)resample };
	assert_int_equal(virq_ioctl(vm, KVM_IRQFD, &level_irqfd), 0);

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
	assert_false(readable_within(msi_efd, 0));
	resume_vcpu(&vt);

	/* Level INTx through the resampling irqfd: 0x51 arrives, resample only after EOI. */
	sa.efd = trigger;
	assert_int_equal(pthread_create(&device, NULL, device_signal, &sa), 0);
	pthread_join(device, NULL);
	assert_int_equal(next_report(&vt), 0x51);
	assert_false(readable_within(resample, 100));
	resume_vcpu(&vt);
	assert_true(readable_within(resample, 10000));
	uint64_t count = 0;
	assert_int_equal(read(resample, &count, sizeof(count)), sizeof(count));
	assert_int_equal(count, 1);

	/* Stop the vCPU the way QEMU does: immediate_exit, then a signal. */
	__atomic_store_n(&vt.run->immediate_exit, 1, __ATOMIC_RELAXED);
	pthread_kill(vt.thread, SIGUSR1);
	pthread_join(vt.thread, NULL);
	assert_int_equal(vt.last_errno, EINTR);
	assert_int_equal(vt.run->exit_reason, KVM_EXIT_INTR);

	assert_int_equal(virq_close(vcpu0), 0);
	assert_int_equal(virq_close(vcpu1), 0);
	assert_int_equal(virq_close(vm), 0);
	assert_int_equal(virq_close(sys), 0);
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
