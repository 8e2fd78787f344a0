/* SPDX-License-Identifier: MIT */
/*
 * test_msix_stress.c - an in-engine MSI-X entry under fire: a device thread signals the entry's irqfd as
 * fast as it can and toggles the function mask now and then, while the guest masks, re-targets (0x41 <->
 * 0x42, masked and unmasked) and unmasks the entry, and the VMM follows every routing-update exit with
 * KVM_SET_GSI_ROUTING. At the end every assert is accounted for: raised = delivered + coalesced +
 * ignored + pending, nothing was ignored (lost), nothing is left pending, every delivery reached the
 * LAPIC and every vector the LAPIC accepted reached its handler. In the stress suite, which runs under ThreadSanitizer.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
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
#define DRAIN_REPORT (FX_REPORT_ADDR + 4)

static const char program[] =
	"vector 0x41:\n    add r10, 1\n    eoi\n    iret\n"
	"vector 0x42:\n    add r11, 1\n    eoi\n    iret\n"
	"main:\n"
	"    mmio_write 0xfee000f0, 4, 0x1ff\n"
	"    mmio_write 0xd1000000, 4, 0xfee00000\n"
	"    sti\n"
	"    set r1, 200\n"
	"again:\n"
	"    mmio_write 0xd100000c, 4, 1      ; mask, re-target, unmask\n"
	"    mmio_write 0xd1000008, 4, 0x42\n"
	"    mmio_write 0xd100000c, 4, 0\n"
	"    spin 20us\n"
	"    mmio_write 0xd1000008, 4, 0x41   ; re-target while unmasked\n"
	"    spin 20us\n"
	"    loop r1, again\n"
	"    mmio_write 0xd0000000, 4, 1\n"
	"drain:\n"
	"    spin 1ms\n"
	"    mmio_write 0xd0000004, 4, 2\n"
	"    jmp drain\n";

struct device {
	int efd;
	struct virq_vm *vm;
	_Atomic bool stop;
	uint64_t writes;
};

static void *device_thread(void *arg)
{
	struct device *d = arg;
	uint64_t one = 1;

	while (!atomic_load(&d->stop)) {
		if (write(d->efd, &one, sizeof(one)) == sizeof(one))
			d->writes++;
		if (d->writes % 32 == 0) {
			virq_vm_msix_mmio_set_control(d->vm, DEV, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
			virq_vm_msix_mmio_set_control(d->vm, DEV, PCI_MSIX_FLAGS_ENABLE);
		}
		if (d->writes % 8 == 0)
			usleep(20); /* 2 cores: leave the vCPU and the poller room */
	}
	return NULL;
}

static bool balanced(struct msix_fx *f)
{
	struct virq_gsi_counts c = msix_gsi_counts(f, GSI);
	return c.raised == c.delivered + c.coalesced + c.ignored + (msix_saved_pba(f, 0) & 1);
}

static void test_signals_while_guest_masks_and_retargets(void **state)
{
	struct msix_fx f;
	struct device d = { 0 };
	pthread_t t;
	unsigned exits = 0;
	(void)state;

	msix_open(&f, 4, program);
	assert_int_equal(virq_vm_msix_mmio_bind(f.vm, DEV, 0, GSI), 0);
	d.efd = fx_new_eventfd();
	d.vm = f.vm;
	assert_int_equal(fx_irqfd(f.g.vm, d.efd, GSI, 0, -1), 0);
	assert_int_equal(pthread_create(&t, NULL, device_thread, &d), 0);

	for (;;) {
		assert_int_equal(virq_ioctl(f.g.vcpu, KVM_RUN, 0), 0);
		if (f.g.run->exit_reason != KVM_EXIT_MSIX_ROUTING_UPDATE)
			break;
		const struct kvm_msix_routing_update *u = kvm_run_msix_routing_update(f.g.run);
		assert_int_equal(u->entry, 0);
		assert_int_equal(u->flags, KVM_MSIX_ROUTING_UPDATE_ADDRESS_DATA);
		struct kvm_irq_routing_entry e = { .gsi = GSI, .type = KVM_IRQ_ROUTING_MSI };
		e.u.msi.address_lo = u->address_lo;
		e.u.msi.address_hi = u->address_hi;
		e.u.msi.data = u->data;
		assert_int_equal(fx_set_routing(f.g.vm, &e, 1), 0);
		exits++;
	}
	assert_int_equal(f.g.run->exit_reason, KVM_EXIT_MMIO);
	assert_int_equal(f.g.run->mmio.phys_addr, FX_REPORT_ADDR);
	assert_int_equal(exits, 1 + 2 * 200);

	atomic_store(&d.stop, true);
	pthread_join(t, NULL);
	/* Every signal consumed and its assert finished (the watcher counts the signal before it raises). */
	for (int i = 0; i < 5000 && (msix_gsi_counts(&f, GSI).irqfd_signals != d.writes || !balanced(&f)); i++)
		usleep(1000);
	assert_int_equal(msix_gsi_counts(&f, GSI).irqfd_signals, d.writes);
	assert_true(balanced(&f));
	/* The guest takes what its LAPIC still holds. */
	assert_int_equal(virq_ioctl(f.g.vcpu, KVM_RUN, 0), 0);
	assert_int_equal(f.g.run->mmio.phys_addr, DRAIN_REPORT);

	struct virq_gsi_counts c = msix_gsi_counts(&f, GSI);
	struct virq_msix_counts m;
	assert_int_equal(virq_vm_msix_mmio_counts(f.vm, DEV, &m), 0);
	print_message("msix stress: %llu signals, raised %llu, delivered %llu, coalesced %llu, pended %llu, "
		      "replayed %llu, exits %u\n",
		      (unsigned long long)d.writes, (unsigned long long)c.raised, (unsigned long long)c.delivered,
		      (unsigned long long)c.coalesced, (unsigned long long)c.pended, (unsigned long long)m.replayed,
		      exits);
	struct virq_vector_counts v41 = msix_vector_counts(&f, 0x41), v42 = msix_vector_counts(&f, 0x42);
	assert_true(c.raised > 0);
	assert_int_equal(c.ignored, 0);
	assert_int_equal(msix_saved_pba(&f, 0), 0);
	assert_int_equal(c.raised, c.delivered + c.coalesced);
	/* "Delivered" is KVM's: reached the LAPIC, which counts an IRR bit already set as coalesced there. */
	assert_int_equal(v41.accepted + v41.coalesced + v42.accepted + v42.coalesced, c.delivered);
	assert_int_equal(v41.handled, v41.accepted);
	assert_int_equal(v42.handled, v42.accepted);
	assert_int_equal(fx_irqfd(f.g.vm, d.efd, GSI, KVM_IRQFD_FLAG_DEASSIGN, -1), 0);
	close(d.efd);
	msix_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signals_while_guest_masks_and_retargets),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
