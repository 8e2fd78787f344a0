/* SPDX-License-Identifier: MIT */
/*
 * test_vmm_forwarded.c - the reference VMM's delivery FORWARDED (issue 6, seed 001) end to end on an arm64
 * VM: each INTx line wired as RESAMPLE (trigger = a resampling irqfd on the SPI, resamplefd = VFIO's unmask
 * eventfd), its VFIO descriptor added to the VM's one kvm-vfio device and the line forwarded to its SPI
 * before VFIO's trigger is set. Checked through what a user reads: the report (deliveries, handler runs,
 * the forwarded lines' counts) and `virq explain`'s view (mode forwarded and why, the host's counts of
 * the line: completed by the guest, never unmasked by VFIO), against a RESAMPLE line in the same VM.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmm/vmm.h"
#include "vmm_fixture.h"

/*
 * An arm64 VM with 2 vCPUs: fwd0 (INTx A, forwarded, on vCPU 0), fwd1 (INTx B, forwarded, on vCPU 1) and
 * res0 (INTx C, resample, on vCPU 0), each with the intx driver. Two forwarded devices share one kvm-vfio
 * device (a second KVM_CREATE_DEVICE of that type fails with EBUSY).
 */
static void config_forwarded(struct virq_vmm_config *cfg)
{
	static const char *const names[] = { "fwd0", "fwd1", "res0" };

	memset(cfg, 0, sizeof(*cfg));
	cfg->arch = VIRQ_VMM_ARCH_ARM64;
	cfg->vcpus = 2;
	cfg->ndevices = 3;
	for (unsigned d = 0; d < 3; d++) {
		struct virq_vmm_device_config *dev = &cfg->devices[d];
		snprintf(dev->name, sizeof(dev->name), "%s", names[d]);
		dev->requester_id = (uint16_t)((4 + d) << 3);
		dev->intx_pin = d + 1;
		dev->delivery = d < 2 ? VIRQ_VMM_DELIVERY_FORWARDED : VIRQ_VMM_DELIVERY_RESAMPLE;
		dev->driver = VIRQ_VMM_DRIVER_INTX;
		dev->affinity[0] = d == 1 ? 1 : 0;
		dev->handler_ns = 1000;
	}
}

/* Trace events by kind and device (VIRQ_VMM_EVENT_UNMASK: VFIO unmasked the line). */
static _Atomic unsigned events[VIRQ_VMM_EVENT_ROUTE + 1][3];

static void count_event(void *ctx, const struct virq_vmm_event *event)
{
	(void)ctx;
	if (event->device < 3)
		events[event->kind][event->device]++;
}

static struct virq_vmm *vmm_started(const struct virq_vmm_config *cfg)
{
	memset(events, 0, sizeof(events));
	return vmm_boot(cfg, count_event);
}

/* Each device here has one source, its INTx line. */
static const struct virq_vmm_source_report *row(const struct virq_vmm_report *r, unsigned device)
{
	return vmm_row(r, device, 0);
}

/* Raise @device's line and wait until it is serviced (one raise at a time: nothing coalesces). */
static void raise_one(struct virq_vmm *vmm, unsigned device)
{
	vmm_raise_settled(vmm, device, 0);
}

static struct virq_vmm_explanation explain(struct virq_vmm *vmm, unsigned device)
{
	return vmm_explanation(vmm, device, 0);
}

/*
 * Wait until the guest has completed @device's forwarded line @n times: settling only says the driver
 * acked, and its deactivation (after the handler's work) is what lets the next raise find the line idle.
 */
static void wait_completions(struct virq_vmm *vmm, unsigned device, uint64_t n)
{
	for (unsigned ms = 0; ms < 2000 && explain(vmm, device).line_completions < n; ms++)
		usleep(1000);
	assert_int_equal(explain(vmm, device).line_completions, n);
}

/*
 * Forwarded lines are delivered once per raise on their vCPU, and the host says the guest completed each
 * one and VFIO unmasked none; explain says forwarded, hardware-mapped SPI. The resample line beside them
 * is unmasked by VFIO once per raise (the resamplefd round trip), and its counts stay out of the
 * forwarding sums.
 */
static void test_forwarded_delivery(void **state)
{
	(void)state;
	struct virq_vmm_config cfg;
	config_forwarded(&cfg);
	struct virq_vmm *vmm = vmm_started(&cfg);
	const unsigned n = 20;

	struct virq_vmm_explanation e = explain(vmm, 0);
	assert_true(e.intx && e.resample && e.line_stats && e.forwarded);
	assert_string_equal(e.mode, "forwarded");
	assert_int_equal(e.gsi, 16);
	assert_int_equal(e.intid, 48);
	assert_int_equal(e.target_vcpu, 0);
	assert_contains(e.why, "hardware-mapped SPI 48: the guest's deactivation completes the host line directly, "
			       "no resamplefd round trip");
	assert_int_equal(e.line_completions, 0);
	e = explain(vmm, 1);
	assert_true(e.forwarded);
	assert_int_equal(e.intid, 49);
	assert_int_equal(e.target_vcpu, 1);

	for (unsigned i = 0; i < n; i++) {
		raise_one(vmm, 0);
		raise_one(vmm, 1);
		raise_one(vmm, 2);
		wait_completions(vmm, 0, i + 1);
		wait_completions(vmm, 1, i + 1);
	}
	struct virq_vmm_report *r = vmm_settled_report(vmm);
	for (unsigned d = 0; d < 3; d++) {
		const struct virq_vmm_source_report *s = row(r, d);
		assert_true(s->intx);
		assert_int_equal(s->raised, n);
		assert_int_equal(s->delivered, n);
		assert_int_equal(s->handler_runs, n);
		assert_int_equal(s->per_vcpu[d == 1 ? 1 : 0], n);
		assert_int_equal(s->lost, 0);
	}
	assert_true(r->forwarding);
	assert_false(r->iommu);
	assert_int_equal(r->fwd_completions, 2 * n);
	assert_int_equal(r->fwd_refires, 0);
	assert_int_equal(r->fwd_unmasks, 0);
	free(r);

	for (unsigned d = 0; d < 2; d++) {
		e = explain(vmm, d);
		assert_string_equal(e.mode, "forwarded");
		assert_int_equal(e.line_completions, n);
		assert_int_equal(e.line_unmasks, 0);
		assert_int_equal(e.line_signals, n); /* the trigger still fires each interrupt */
	}
	e = explain(vmm, 2);
	assert_string_equal(e.mode, "software");
	assert_false(e.forwarded);
	assert_contains(e.why, "VFIO unmasks the line");
	assert_int_equal(e.line_completions, 0);
	/* The resample line is unmasked at each EOI; the unmask runs on VFIO's thread after the ack, and the
	 * trace event just after the unmask's lock is dropped. */
	for (unsigned ms = 0; ms < 2000 && (explain(vmm, 2).line_unmasks < n || events[VIRQ_VMM_EVENT_UNMASK][2] < n);
	     ms++)
		usleep(1000);
	assert_int_equal(explain(vmm, 2).line_unmasks, n);
	assert_int_equal(events[VIRQ_VMM_EVENT_UNMASK][0], 0);
	assert_int_equal(events[VIRQ_VMM_EVENT_UNMASK][1], 0);
	assert_int_equal(events[VIRQ_VMM_EVENT_UNMASK][2], n);
	virq_vmm_destroy(vmm);
}

/* A driver that EOIs without acking: the deactivation finds the line still asserted and the host fires it
 * again at once (a re-fire, still no VFIO unmask); the next run acks. */
static void test_forwarded_line_refires(void **state)
{
	(void)state;
	struct virq_vmm_config cfg;
	config_forwarded(&cfg);
	cfg.devices[0].driver = VIRQ_VMM_DRIVER_INTX_NO_ACK;
	struct virq_vmm *vmm = vmm_started(&cfg);

	for (unsigned i = 0; i < 3; i++) {
		raise_one(vmm, 0);
		wait_completions(vmm, 0, 2 * (i + 1)); /* the skipped ack's completion, then the acked one's */
	}
	struct virq_vmm_report *r = vmm_settled_report(vmm);
	const struct virq_vmm_source_report *s = row(r, 0);
	assert_int_equal(s->raised, 3);
	assert_int_equal(s->delivered, 3);
	assert_int_equal(s->handler_runs, 6); /* every other run skips the ack */
	assert_int_equal(s->lost, 0);
	assert_int_equal(r->fwd_completions, 6);
	assert_int_equal(r->fwd_refires, 3);
	assert_int_equal(r->fwd_unmasks, 0);
	free(r);
	struct virq_vmm_explanation e = explain(vmm, 0);
	assert_int_equal(e.line_refires, 3);
	assert_int_equal(e.line_unmasks, 0);
	virq_vmm_destroy(vmm);
}

/* Traffic on both forwarded lines and the resample one: nothing lost, every row balanced, the forwarded
 * lines completed only by the guest. */
static void test_forwarded_under_traffic(void **state)
{
	(void)state;
	struct virq_vmm_config cfg;
	config_forwarded(&cfg);
	cfg.devices[0].traffic = (struct virq_traffic){ .pattern = VIRQ_TRAFFIC_POISSON, .rate = 4000, .seed = 9 };
	cfg.devices[1].traffic = (struct virq_traffic){ .pattern = VIRQ_TRAFFIC_FIXED, .rate = 2000, .seed = 1 };
	cfg.devices[1].driver = VIRQ_VMM_DRIVER_INTX_NO_ACK;
	cfg.devices[2].traffic = (struct virq_traffic){ .pattern = VIRQ_TRAFFIC_FIXED, .rate = 2000, .seed = 1 };
	struct virq_vmm *vmm = vmm_started(&cfg);

	assert_int_equal(virq_vmm_traffic_start(vmm), 0);
	usleep(400000);
	virq_vmm_traffic_stop(vmm);
	struct virq_vmm_report *r = vmm_settled_report(vmm);
	uint64_t delivered = 0;
	for (unsigned d = 0; d < 3; d++) {
		const struct virq_vmm_source_report *s = row(r, d);
		assert_int_equal(s->raised, s->delivered + s->coalesced);
		assert_int_equal(s->lost, 0);
		assert_true(s->delivered > 0);
		if (d < 2)
			delivered += s->delivered;
	}
	assert_true(row(r, 1)->handler_runs > row(r, 1)->delivered);
	assert_true(r->fwd_completions >= delivered);
	assert_int_equal(r->fwd_unmasks, 0);
	free(r);
	virq_vmm_destroy(vmm);
}

/*
 * Teardown with a line the guest never completed: the vCPUs are stopped, the device raises, the host
 * line goes active and stays so. Destroying the VMM unforwards it (completing it) before the irqfd goes
 * and releases the kvm-vfio device's hold on the VFIO device before the function is destroyed (a leak
 * otherwise, which the sanitizer builds would report).
 */
static void test_teardown_with_an_active_line(void **state)
{
	(void)state;
	struct virq_vmm_config cfg;
	config_forwarded(&cfg);
	struct virq_vmm *vmm = vmm_started(&cfg);

	raise_one(vmm, 0);
	virq_vmm_stop(vmm);
	assert_int_equal(virq_vmm_raise(vmm, 0, 0), 0);
	assert_int_equal(virq_vmm_raise(vmm, 1, 0), 0);
	struct virq_vmm_explanation e = explain(vmm, 0);
	assert_true(e.forwarded);
	assert_int_equal(e.line_completions, 1);
	virq_vmm_destroy(vmm);
}

/* Forwarding needs the GIC's hardware-mapped SPIs, and an INTx line: refused before anything is built. */
static void test_forwarded_refused(void **state)
{
	(void)state;
	static const char *const messages[] = {
		("device fwd0: delivery forwarded needs an Arm GIC (hardware-mapped SPIs): arm64 only (use resample on "
		 "x86_64)"),
		"device fwd1: delivery forwarded needs an INTx pin",
		"device fwd0: the MSI-X driver does not drive forwarded delivery",
	};
	for (unsigned i = 0; i < sizeof(messages) / sizeof(messages[0]); i++) {
		struct virq_vmm_config cfg;
		struct virq_vmm *vmm = (void *)1;
		char err[256] = "";
		config_forwarded(&cfg);
		switch (i) {
		case 0:
			cfg.arch = VIRQ_VMM_ARCH_X86_64;
			break;
		case 1:
			cfg.devices[1].intx_pin = 0;
			cfg.devices[1].msix_vectors = 2;
			break;
		case 2:
			cfg.devices[0].driver = VIRQ_VMM_DRIVER_NIC;
			break;
		}
		assert_int_equal(virq_vmm_create(&cfg, &vmm, err, sizeof(err)), -EINVAL);
		assert_string_equal(err, messages[i]);
	}
	assert_true(virq_vmm_delivery_intx(VIRQ_VMM_DELIVERY_FORWARDED));
	assert_true(virq_vmm_delivery_intx(VIRQ_VMM_DELIVERY_RESAMPLE));
	assert_false(virq_vmm_delivery_intx(VIRQ_VMM_DELIVERY_IRQFD));
	assert_string_equal(virq_vmm_delivery_name(VIRQ_VMM_DELIVERY_FORWARDED), "forwarded");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forwarded_delivery),
		cmocka_unit_test(test_forwarded_line_refires),
		cmocka_unit_test(test_forwarded_under_traffic),
		cmocka_unit_test(test_teardown_with_an_active_line),
		cmocka_unit_test(test_forwarded_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
