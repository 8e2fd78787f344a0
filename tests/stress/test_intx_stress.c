/* SPDX-License-Identifier: MIT */
/*
 * test_intx_stress.c - a level INTx line through a resampling irqfd, 100,000 assert/EOI/resample rounds,
 * while other threads replace the routing table and assign, signal and deassign other irqfds.
 *
 * The device plays VFIO's INTx: it asserts (trigger eventfd), the guest's handler acks it (an MMIO exit
 * the VMM loop turns into "status = 0") and EOIs, the resampler de-asserts and signals the resamplefd,
 * and only then does the device assert again. Every round must deliver exactly once, in order, and the
 * GSI's counters must balance at the end. Run under ThreadSanitizer by scripts/test.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include <virq/kvm.h>
#include <virq/vcpu.h>
#include <virq/vm.h>

#include "kvm_fixture.h"

#define ROUNDS 100000

static const char guest[] =
	"vector 0x51:                       ; level INTx, IOAPIC pin 5\n"
	"    mmio_write 0xd0000000, 4, 0x51 ; read status and ack the device (the VMM clears it)\n"
	"    eoi\n"
	"    iret\n"
	"vector 0x42:                       ; MSI from the churned irqfds on GSI 41\n"
	"    eoi\n"
	"    iret\n"
	"main:\n"
	"    mmio_write 0xfee000f0, 4, 0x1ff\n"
	"    mmio_write 0xfec00000, 4, 0x1a\n"
	"    mmio_write 0xfec00010, 4, 0x8051\n"
	"    mmio_write 0xfec00000, 4, 0x1b\n"
	"    mmio_write 0xfec00010, 4, 0\n"
	"    mmio_write 0xd0000000, 4, 0x600d\n"
	"    sti\n"
	"loop:\n"
	"    hlt\n"
	"    jmp loop\n";

struct rig {
	struct fx_guest g;
	int trigger, resample;
	_Atomic bool ready, stop;
	_Atomic uint64_t handled;
	_Atomic int device_status;
	_Atomic uint64_t spurious;     /* handler found the device not asserting */
	_Atomic uint64_t churn_errors; /* a churn thread's call failed (cmocka asserts only on the main thread) */
	int vcpu_errno;
};

static void on_signal(int sig)
{
	(void)sig;
}

static void *vcpu_main(void *arg)
{
	struct rig *r = arg;

	while (virq_ioctl(r->g.vcpu, KVM_RUN, 0) == 0) {
		if (r->g.run->exit_reason != KVM_EXIT_MMIO || r->g.run->mmio.phys_addr != FX_REPORT_ADDR)
			break;
		uint32_t v;
		memcpy(&v, r->g.run->mmio.data, sizeof(v));
		if (v == 0x600d) {
			atomic_store(&r->ready, true);
			continue;
		}
		if (atomic_exchange(&r->device_status, 0) == 0)
			atomic_fetch_add(&r->spurious, 1);
		atomic_fetch_add(&r->handled, 1);
	}
	r->vcpu_errno = errno;
	return NULL;
}

/* Default routes (GSI n to IOAPIC pin n) and GSI 41 -> MSI 0x42; an odd @variant adds one more route. */
static int set_routing(int vm, uint32_t variant)
{
	struct kvm_irq_routing_entry e[KVM_IOAPIC_NUM_PINS + 2];
	uint32_t nr = fx_ioapic_entries(e);

	e[nr++] = fx_msi_entry(41, 0, 0x42);
	if (variant & 1) /* an extra route, so consecutive tables differ */
		e[nr++] = fx_msi_entry(100 + variant % 50, 0, 0x42);
	return fx_set_routing(vm, e, nr);
}

static void *routing_churn(void *arg)
{
	struct rig *r = arg;
	for (uint32_t i = 0; !atomic_load(&r->stop); i++)
		if (set_routing(r->g.vm, i) != 0)
			atomic_fetch_add(&r->churn_errors, 1);
	return NULL;
}

/* Assign, signal and deassign irqfds on other GSIs: an MSI one on 41 and a resampling one on 10. */
static void *irqfd_churn(void *arg)
{
	struct rig *r = arg;
	uint64_t one = 1;

	while (!atomic_load(&r->stop)) {
		int efd = eventfd(0, EFD_CLOEXEC), rfd = eventfd(0, EFD_CLOEXEC), lfd = eventfd(0, EFD_CLOEXEC);
		struct kvm_irqfd msi = { .fd = (uint32_t)efd, .gsi = 41 };
		struct kvm_irqfd level = { .fd = (uint32_t)lfd, .gsi = 10, .flags = KVM_IRQFD_FLAG_RESAMPLE,
					   .resamplefd = (uint32_t)rfd };
		bool ok = virq_ioctl(r->g.vm, KVM_IRQFD, &msi) == 0 && virq_ioctl(r->g.vm, KVM_IRQFD, &level) == 0 &&
			  write(efd, &one, sizeof(one)) == sizeof(one) && write(lfd, &one, sizeof(one)) == sizeof(one);
		msi.flags = KVM_IRQFD_FLAG_DEASSIGN;
		level.flags = KVM_IRQFD_FLAG_DEASSIGN;
		ok = virq_ioctl(r->g.vm, KVM_IRQFD, &msi) == 0 && virq_ioctl(r->g.vm, KVM_IRQFD, &level) == 0 && ok;
		if (!ok)
			atomic_fetch_add(&r->churn_errors, 1);
		close(efd);
		close(rfd);
		close(lfd);
	}
	return NULL;
}

static void setup_rig(struct rig *r)
{
	fx_guest_open(&r->g, 0, false, guest);
	assert_int_equal(set_routing(r->g.vm, 0), 0);
	r->trigger = eventfd(0, EFD_CLOEXEC);
	r->resample = eventfd(0, EFD_CLOEXEC);
	assert_int_equal(fx_irqfd(r->g.vm, r->trigger, 5, KVM_IRQFD_FLAG_RESAMPLE, r->resample), 0);
}

static void test_level_intx_delivers_exactly_once_per_assertion_under_churn(void **state)
{
	(void)state;
	struct rig r = { 0 };
	pthread_t vcpu_thread, churn[2];
	uint64_t one = 1, count;

	signal(SIGUSR1, on_signal);
	setup_rig(&r);
	assert_int_equal(pthread_create(&vcpu_thread, NULL, vcpu_main, &r), 0);
	while (!atomic_load(&r.ready))
		usleep(100);
	assert_int_equal(pthread_create(&churn[0], NULL, routing_churn, &r), 0);
	assert_int_equal(pthread_create(&churn[1], NULL, irqfd_churn, &r), 0);

	for (uint64_t i = 0; i < ROUNDS; i++) {
		atomic_store(&r.device_status, 1);
		assert_int_equal(write(r.trigger, &one, sizeof(one)), sizeof(one));
		/* VFIO's unmask path: the next assert waits for the resample. */
		assert_int_equal(read(r.resample, &count, sizeof(count)), sizeof(count));
		assert_int_equal(count, 1);
		if (atomic_load(&r.handled) != i + 1)
			fail_msg("round %llu: %llu deliveries", (unsigned long long)i,
				 (unsigned long long)atomic_load(&r.handled));
	}

	atomic_store(&r.stop, true);
	pthread_join(churn[0], NULL);
	pthread_join(churn[1], NULL);
	__atomic_store_n(&r.g.run->immediate_exit, 1, __ATOMIC_RELAXED);
	pthread_kill(vcpu_thread, SIGUSR1);
	pthread_join(vcpu_thread, NULL);
	assert_int_equal(r.vcpu_errno, EINTR);

	struct virq_gsi_counts g5, g41;
	struct virq_vector_counts v51;
	assert_int_equal(virq_vm_gsi_counts(virq_vm_of_fd(r.g.vm), 5, &g5), 0);
	assert_int_equal(virq_vm_gsi_counts(virq_vm_of_fd(r.g.vm), 41, &g41), 0);
	assert_int_equal(virq_vcpu_vector_counts(virq_vcpu_of_fd(r.g.vcpu), 0x51, &v51), 0);
	assert_int_equal(atomic_load(&r.churn_errors), 0);
	assert_int_equal(atomic_load(&r.spurious), 0);
	assert_int_equal(v51.handled, ROUNDS);
	assert_int_equal(v51.eoi, ROUNDS);
	assert_int_equal(v51.accepted, ROUNDS);
	assert_int_equal(v51.coalesced, 0);
	assert_int_equal(v51.delivered, ROUNDS);
	/* Every assert is accounted for on the GSI; an assert that raced with the EOI of the previous
	 * round found remote IRR set (counted "ignored" by the pin) and was delivered by the EOI itself. */
	assert_int_equal(g5.raised, ROUNDS);
	assert_int_equal(g5.raised, g5.delivered + g5.coalesced + g5.ignored);
	assert_int_equal(g5.coalesced, 0);
	assert_int_equal(g5.resamples, ROUNDS);
	assert_int_equal(g41.raised, g41.delivered + g41.coalesced + g41.ignored);

	fx_guest_close(&r.g);
	close(r.trigger);
	close(r.resample);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_level_intx_delivers_exactly_once_per_assertion_under_churn),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
