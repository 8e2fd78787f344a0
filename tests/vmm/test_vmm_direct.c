/* SPDX-License-Identifier: MIT */
/*
 * test_vmm_direct.c - the reference VMM on an arm64 VM whose host GIC is a GICv4 (gic_v4): it enables
 * KVM_CAP_VIRQ_ARM_DIRECT_LPI on the VM, and the engine injects each irqfd vector's MSIs straight into
 * the LPI the guest's ITS maps it to (docs/forwarding.md, "MSIs straight to the LPI"). Checked through
 * what a user reads: the report (deliveries per vector and vCPU, the whole run's direct injections) and
 * `virq explain`'s view (mode direct, the translation and what it means, the LPI's vCPU, the trigger
 * eventfd never signalled), across a MOVI and a mask, with the table in the engine and in the VMM; and
 * against the same VM on a GICv3 host (the default), where explain says software and why.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "vmm/vmm.h"
#include "vmm_fixture.h"

#define DIRECT_WHY "(the device's message latches the LPI itself: no eventfd, no engine thread)"

/*
 * nic0: 4 MSI-X vectors through irqfds on vCPUs 0,1,0,1 (DeviceID 0x18, EventID k -> LPI 8192 + k), on
 * an arm64 VM with 2 vCPUs. Actions: 0 MOVI vector 1 to vCPU 0, 1 mask vector 2, 2 unmask it.
 */
static void config_direct(struct virq_vmm_config *cfg, bool gic_v4)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->arch = VIRQ_VMM_ARCH_ARM64;
	cfg->vcpus = 2;
	cfg->gic_v4 = gic_v4;
	cfg->ndevices = 1;
	struct virq_vmm_device_config *nic = &cfg->devices[0];
	vmm_nic_config(nic, "nic0", VIRQ_VMM_DELIVERY_IRQFD);
	nic->handler_ns = 1000;
	cfg->nactions = 3;
	cfg->actions[0] = (struct virq_vmm_action){ .kind = VIRQ_VMM_ACTION_RETARGET, .device = 0, .vector = 1,
						    .vcpu = 0 };
	cfg->actions[1] = (struct virq_vmm_action){ .kind = VIRQ_VMM_ACTION_MASK, .device = 0, .vector = 2 };
	cfg->actions[2] = (struct virq_vmm_action){ .kind = VIRQ_VMM_ACTION_UNMASK, .device = 0, .vector = 2 };
}

/* The one device's vector @k. */
static const struct virq_vmm_source_report *row(const struct virq_vmm_report *r, unsigned k)
{
	return vmm_row(r, 0, k);
}

/* Raise vector @k and wait until it is delivered (one message at a time: nothing coalesces). */
static void raise_one(struct virq_vmm *vmm, unsigned k)
{
	vmm_raise_settled(vmm, 0, k);
}

static struct virq_vmm_explanation explain(struct virq_vmm *vmm, unsigned k)
{
	return vmm_explanation(vmm, 0, k);
}

/*
 * gic v4: every vector is direct from boot, with the ITS translation the guest programmed; 20 raises of
 * vector 1 reach its handler on vCPU 1, each latched straight into LPI 8193: explain counts 20 direct
 * injections and no eventfd signal, and so does the report's whole-run count.
 */
static void test_direct_delivery(void **state)
{
	(void)state;
	struct virq_vmm_config cfg;
	config_direct(&cfg, true);
	struct virq_vmm *vmm = vmm_boot(&cfg, NULL);
	const unsigned n = 20;

	for (unsigned k = 0; k < 4; k++) {
		struct virq_vmm_explanation e = explain(vmm, k);
		char why[160];
		assert_string_equal(e.mode, "direct");
		snprintf(why, sizeof(why), "DeviceID 0x18 EventID %u -> LPI %u on vCPU %u " DIRECT_WHY, k, 8192 + k,
			 k % 2);
		assert_string_equal(e.why, why);
		assert_true(e.irqfd && e.paired && e.table_in_engine);
		assert_int_equal(e.devid, 0x18);
		assert_int_equal(e.eventid, k);
		assert_int_equal(e.intid, 8192 + k);
		assert_int_equal(e.target_vcpu, (int)(k % 2));
		assert_int_equal(e.gsi, 24 + k);
		assert_int_equal(e.irte_index, -1);
		assert_true(e.bypass_posts >= 1);
		assert_int_equal(e.direct_injected, 0);
	}
	for (unsigned i = 0; i < n; i++)
		raise_one(vmm, 1);

	struct virq_vmm_report *r = vmm_settled_report(vmm);
	const struct virq_vmm_source_report *s = row(r, 1);
	assert_int_equal(s->raised, n);
	assert_int_equal(s->delivered, n);
	assert_int_equal(s->lost, 0);
	assert_int_equal(s->handler_runs, n);
	assert_int_equal(s->per_vcpu[1], n);
	assert_int_equal(s->stale, 0);
	assert_true(r->direct_lpi);
	assert_int_equal(r->direct_injected, n);
	assert_int_equal(r->direct_fallbacks, 0);
	assert_false(r->iommu);
	assert_false(r->forwarding);
	free(r);

	struct virq_vmm_explanation e = explain(vmm, 1);
	assert_string_equal(e.mode, "direct");
	assert_int_equal(e.direct_injected, n);
	assert_int_equal(e.direct_fallbacks, 0);
	assert_int_equal(e.irqfd_signals, 0); /* the GSI's irqfds never read the trigger eventfd */
	virq_vmm_destroy(vmm);
}

/*
 * A MOVI (the guest's retarget) moves the LPI, not the translation: the vector stays direct without being
 * re-programmed and lands on its new vCPU. A masked entry (the table in the engine) sends it through
 * the eventfd into the pending bit, which explain says; after the unmask the held message is delivered
 * and the vector is direct again.
 */
static void test_movi_and_mask(void **state)
{
	(void)state;
	struct virq_vmm_config cfg;
	config_direct(&cfg, true);
	struct virq_vmm *vmm = vmm_boot(&cfg, NULL);

	raise_one(vmm, 1);
	uint64_t posts = explain(vmm, 1).bypass_posts;
	assert_int_equal(virq_vmm_guest_action(vmm, 0), 0);
	struct virq_vmm_explanation e = explain(vmm, 1);
	assert_string_equal(e.mode, "direct");
	assert_contains(e.why, "DeviceID 0x18 EventID 1 -> LPI 8193 on vCPU 0 ");
	assert_int_equal(e.target_vcpu, 0);
	assert_int_equal(e.bypass_posts, posts); /* the target lives in the LPI: nothing to re-program */
	raise_one(vmm, 1);
	raise_one(vmm, 1);
	struct virq_vmm_report *r = vmm_settled_report(vmm);
	assert_int_equal(row(r, 1)->per_vcpu[1], 1);
	assert_int_equal(row(r, 1)->per_vcpu[0], 2);
	assert_int_equal(row(r, 1)->stale, 0);
	assert_int_equal(r->direct_injected, 3);
	free(r);

	assert_int_equal(virq_vmm_guest_action(vmm, 1), 0);
	e = explain(vmm, 2);
	assert_string_equal(e.mode, "software");
	assert_contains(e.why, "MSI-X entry masked");
	assert_contains(e.why, "the host signals the trigger eventfd and the engine's irqfd injects through the ITS");
	assert_contains(e.why, "; held now: the entry is masked");
	assert_int_equal(e.target_vcpu, -1);
	assert_int_equal(virq_vmm_raise(vmm, 0, 2), 0);
	r = vmm_settled_report(vmm);
	assert_int_equal(row(r, 2)->pending, 1);
	assert_int_equal(row(r, 2)->delivered, 0);
	assert_int_equal(r->direct_injected, 3);
	free(r);
	assert_int_equal(virq_vmm_guest_action(vmm, 2), 0);
	r = vmm_settled_report(vmm);
	assert_int_equal(row(r, 2)->delivered, 1);
	assert_int_equal(row(r, 2)->pending, 0);
	free(r);
	e = explain(vmm, 2);
	assert_string_equal(e.mode, "direct");
	assert_int_equal(e.irqfd_signals, 1); /* the one held message went through the eventfd */
	raise_one(vmm, 2);
	e = explain(vmm, 2);
	assert_int_equal(e.direct_injected, 1);
	assert_int_equal(e.irqfd_signals, 1);
	r = vmm_settled_report(vmm);
	assert_int_equal(r->direct_injected, 4);
	assert_int_equal(row(r, 2)->delivered, 2);
	assert_true(row(r, 2)->lost == 0 && row(r, 1)->lost == 0);
	free(r);
	virq_vmm_destroy(vmm);
}

/*
 * With the table in the VMM a masked entry loses its irqfd, and with it the irqfd's counts: the report's
 * whole-run count keeps them (the VMM adds them up when it removes the irqfd).
 */
static void test_table_in_vmm_keeps_counts(void **state)
{
	(void)state;
	struct virq_vmm_config cfg;
	config_direct(&cfg, true);
	cfg.msix_table_in_vmm = true;
	struct virq_vmm *vmm = vmm_boot(&cfg, NULL);

	assert_string_equal(explain(vmm, 2).mode, "direct");
	assert_false(explain(vmm, 2).table_in_engine);
	for (unsigned i = 0; i < 5; i++)
		raise_one(vmm, 2);
	assert_int_equal(virq_vmm_guest_action(vmm, 1), 0);
	struct virq_vmm_explanation e = explain(vmm, 2);
	assert_false(e.irqfd);
	assert_string_equal(e.mode, "software");
	assert_contains(e.why, "no irqfd while the entry is masked");
	struct virq_vmm_report *r = vmm_settled_report(vmm);
	assert_int_equal(r->direct_injected, 5);
	free(r);
	assert_int_equal(virq_vmm_raise(vmm, 0, 2), 0); /* into the virtual PBA */
	assert_int_equal(virq_vmm_guest_action(vmm, 2), 0);
	assert_int_equal(virq_vmm_settle(vmm, SETTLE_NS), 0); /* the held message delivered and acked */
	assert_string_equal(explain(vmm, 2).mode, "direct");
	for (unsigned i = 0; i < 5; i++)
		raise_one(vmm, 2);
	r = vmm_settled_report(vmm);
	assert_int_equal(row(r, 2)->raised, 11);
	assert_int_equal(row(r, 2)->delivered, 11);
	assert_int_equal(row(r, 2)->lost, 0);
	assert_int_equal(r->direct_injected, 10); /* the held one was injected by the VMM (KVM_SIGNAL_MSI) */
	free(r);
	virq_vmm_destroy(vmm);
}

/*
 * Under traffic while the guest rotates every vector between the vCPUs with MOVIs every 10 ms: nothing
 * lost, nothing stale, and every message the device sent was latched directly (no translation changed
 * under them, so nothing fell back).
 */
static void test_direct_under_traffic(void **state)
{
	(void)state;
	struct virq_vmm_config cfg;
	config_direct(&cfg, true);
	cfg.nactions = 0;
	cfg.devices[0].retarget_ns = 10000000;
	cfg.devices[0].traffic = (struct virq_traffic){ .pattern = VIRQ_TRAFFIC_POISSON, .rate = 20000, .seed = 5 };
	struct virq_vmm *vmm = vmm_boot(&cfg, NULL);

	assert_int_equal(virq_vmm_traffic_start(vmm), 0);
	nanosleep(&(struct timespec){ .tv_nsec = 300000000 }, NULL);
	virq_vmm_traffic_stop(vmm);
	struct virq_vmm_report *r = vmm_settled_report(vmm);
	uint64_t delivered = 0, runs[2] = { 0, 0 };
	for (unsigned k = 0; k < 4; k++) {
		const struct virq_vmm_source_report *s = row(r, k);
		assert_int_equal(s->lost, 0);
		assert_int_equal(s->stale, 0);
		assert_int_equal(s->raised, s->delivered + s->coalesced + s->pending);
		delivered += s->delivered;
		runs[0] += s->per_vcpu[0];
		runs[1] += s->per_vcpu[1];
	}
	assert_true(delivered > 100);
	assert_true(runs[0] > 0 && runs[1] > 0);
	assert_int_equal(r->direct_fallbacks, 0);
	assert_int_equal(r->direct_injected, delivered);
	free(r);
	for (unsigned k = 0; k < 4; k++) {
		struct virq_vmm_explanation e = explain(vmm, k);
		assert_string_equal(e.mode, "direct");
		assert_int_equal(e.irqfd_signals, 0);
	}
	virq_vmm_destroy(vmm);
}

/*
 * gic v3 (the default): the same VM takes the eventfd for every message; the irqfd is still paired with
 * the VFIO vector, and explain says software and why: direct injection is off.
 */
static void test_gic_v3_is_software(void **state)
{
	(void)state;
	struct virq_vmm_config cfg;
	config_direct(&cfg, false);
	struct virq_vmm *vmm = vmm_boot(&cfg, NULL);
	const unsigned n = 5;

	for (unsigned i = 0; i < n; i++)
		raise_one(vmm, 3);
	struct virq_vmm_explanation e = explain(vmm, 3);
	assert_string_equal(e.mode, "software");
	assert_string_equal(e.why, "direct LPI injection off (KVM_CAP_VIRQ_ARM_DIRECT_LPI): a GICv3 host, so the host "
				   "signals the trigger eventfd and the engine's irqfd injects through the ITS");
	assert_true(e.irqfd && e.paired);
	assert_int_equal(e.intid, 8195);
	assert_int_equal(e.target_vcpu, 1);
	assert_int_equal(e.direct_injected, 0);
	assert_int_equal(e.irqfd_signals, n);
	struct virq_vmm_report *r = vmm_settled_report(vmm);
	assert_int_equal(row(r, 3)->delivered, n);
	assert_int_equal(row(r, 3)->per_vcpu[1], n);
	assert_false(r->direct_lpi);
	assert_int_equal(r->direct_injected, 0);
	free(r);
	virq_vmm_destroy(vmm);
}

/* A GICv4 is an arm64 thing: an x86_64 VM with gic_v4 is refused, and says what to use instead. */
static void test_gic_v4_needs_arm64(void **state)
{
	(void)state;
	struct virq_vmm_config cfg;
	config_direct(&cfg, true);
	cfg.arch = VIRQ_VMM_ARCH_X86_64;
	cfg.nactions = 2; /* x86 has no MOVI action to check, but the mask ones are fine */
	cfg.actions[0] = cfg.actions[1];
	cfg.actions[1] = cfg.actions[2];
	struct virq_vmm *vmm = NULL;
	char err[256] = "";
	assert_int_equal(virq_vmm_create(&cfg, &vmm, err, sizeof(err)), -EINVAL);
	assert_null(vmm);
	assert_string_equal(err, "a GICv4 (direct LPI injection) needs an arm64 VM (x86_64: use delivery posted)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_direct_delivery),
		cmocka_unit_test(test_movi_and_mask),
		cmocka_unit_test(test_table_in_vmm_keeps_counts),
		cmocka_unit_test(test_direct_under_traffic),
		cmocka_unit_test(test_gic_v3_is_software),
		cmocka_unit_test(test_gic_v4_needs_arm64),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
