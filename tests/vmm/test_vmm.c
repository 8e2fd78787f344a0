/* SPDX-License-Identifier: MIT */
/*
 * test_vmm.c - the reference VMM end to end: simulated devices, VFIO, the engine and the generated guest
 * drivers, checked through the report a user reads (delivered per vector and vCPU, pending, lost).
 *
 * Every behaviour test runs twice: on an x86 VM (LAPIC, IOAPIC) and, through cmocka's prestate, on an arm64
 * VM (vGICv3 + ITS: each vector an LPI through DeviceID = requester ID, INTx a level SPI, retarget a MOVI).
 */
#include <errno.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmm/vmm.h"
#include "vmm_fixture.h"

static enum virq_vmm_arch arm64 = VIRQ_VMM_ARCH_ARM64;

/* The architecture a test runs on: its prestate, or x86_64 without one. */
static enum virq_vmm_arch arch_of(void **state)
{
	return state && *state ? *(enum virq_vmm_arch *)*state : VIRQ_VMM_ARCH_X86_64;
}

/*
 * nic0: 4 MSI-X vectors on vCPUs 0,1,0,1; legacy0: INTx A.
 * Actions: 0 mask v2, 1 unmask v2, 2 v3 -> vCPU 0, 3 v2 -> vCPU 1.
 */
static void config_default(struct virq_vmm_config *cfg, void **state)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->arch = arch_of(state);
	cfg->vcpus = 2;
	cfg->ndevices = 2;
	struct virq_vmm_device_config *nic = &cfg->devices[0], *legacy = &cfg->devices[1];
	vmm_nic_config(nic, "nic0", VIRQ_VMM_DELIVERY_IRQFD);
	strcpy(legacy->name, "legacy0");
	legacy->requester_id = 4 << 3;
	legacy->intx_pin = 1;
	legacy->delivery = VIRQ_VMM_DELIVERY_RESAMPLE;
	legacy->driver = VIRQ_VMM_DRIVER_INTX;
	cfg->nactions = 4;
	cfg->actions[0] = (struct virq_vmm_action){ .kind = VIRQ_VMM_ACTION_MASK, .device = 0, .vector = 2 };
	cfg->actions[1] = (struct virq_vmm_action){ .kind = VIRQ_VMM_ACTION_UNMASK, .device = 0, .vector = 2 };
	cfg->actions[2] = (struct virq_vmm_action){ .kind = VIRQ_VMM_ACTION_RETARGET, .device = 0, .vector = 3,
						    .vcpu = 0 };
	cfg->actions[3] = (struct virq_vmm_action){ .kind = VIRQ_VMM_ACTION_RETARGET, .device = 0, .vector = 2,
						    .vcpu = 1 };
}

/* Trace events seen, by kind (the handler runs on vCPU, device and VFIO threads). */
static _Atomic unsigned events[VIRQ_VMM_EVENT_ROUTE + 1];

static void count_event(void *ctx, const struct virq_vmm_event *event)
{
	(void)ctx;
	events[event->kind]++;
}

static struct virq_vmm *vmm_started(const struct virq_vmm_config *cfg)
{
	for (unsigned i = 0; i <= VIRQ_VMM_EVENT_ROUTE; i++)
		events[i] = 0;
	return vmm_boot(cfg, count_event);
}

/* Each vector is delivered once, on the vCPU its entry names; INTx once through the resample path. */
static void test_each_source_once_on_its_vcpu(void **state)
{
	struct virq_vmm_config cfg;
	config_default(&cfg, state);
	struct virq_vmm *vmm = vmm_started(&cfg);

	for (unsigned k = 0; k < 4; k++)
		assert_int_equal(virq_vmm_raise(vmm, 0, k), 0);
	assert_int_equal(virq_vmm_raise(vmm, 1, 0), 0);
	struct virq_vmm_report *r = vmm_settled_report(vmm);
	assert_int_equal(r->nsources, 5);
	for (unsigned k = 0; k < 4; k++) {
		const struct virq_vmm_source_report *s = vmm_row(r, 0, k);
		assert_int_equal(s->raised, 1);
		assert_int_equal(s->delivered, 1);
		assert_int_equal(s->lost, 0);
		assert_int_equal(s->per_vcpu[k % 2], 1);
		assert_int_equal(s->per_vcpu[1 - k % 2], 0);
		assert_true(s->max_ns > 0);
	}
	const struct virq_vmm_source_report *intx = vmm_row(r, 1, 0);
	assert_true(intx->intx);
	assert_int_equal(intx->delivered, 1);
	assert_int_equal(intx->handler_runs, 1);
	assert_int_equal(intx->lost, 0);
	/*
	 * The trace saw every raise, a handler and an ack for each, and a route per programmed field (the
	 * boot writes address, then data). The INTx unmask follows the EOI, after the ack settle waits for.
	 */
	assert_int_equal(events[VIRQ_VMM_EVENT_RAISE], 5);
	assert_int_equal(events[VIRQ_VMM_EVENT_HANDLER], 5);
	assert_int_equal(events[VIRQ_VMM_EVENT_ACK], 5);
	assert_true(events[VIRQ_VMM_EVENT_ROUTE] >= 4);
	for (unsigned ms = 0; ms < 2000 && !events[VIRQ_VMM_EVENT_UNMASK]; ms++)
		usleep(1000);
	assert_int_equal(events[VIRQ_VMM_EVENT_UNMASK], 1);
	free(r);
	virq_vmm_destroy(vmm);
}

/*
 * Masked: the raise waits as pending (the PBA bit: the engine's, or the VMM's with the table in the VMM);
 * a second raise merges into it; the unmask delivers it exactly once.
 */
static void check_masked_vector_pends_then_delivers_once(void **state, bool table_in_vmm)
{
	struct virq_vmm_config cfg;
	config_default(&cfg, state);
	cfg.msix_table_in_vmm = table_in_vmm;
	struct virq_vmm *vmm = vmm_started(&cfg);

	assert_int_equal(virq_vmm_guest_action(vmm, 0), 0);
	assert_int_equal(virq_vmm_raise(vmm, 0, 2), 0);
	assert_int_equal(virq_vmm_raise(vmm, 0, 2), 0);
	struct virq_vmm_report *r = vmm_settled_report(vmm);
	assert_int_equal(vmm_row(r, 0, 2)->raised, 2);
	assert_int_equal(vmm_row(r, 0, 2)->pending, 1);
	assert_int_equal(vmm_row(r, 0, 2)->coalesced, 1);
	assert_int_equal(vmm_row(r, 0, 2)->delivered, 0);
	free(r);
	assert_int_equal(virq_vmm_guest_action(vmm, 1), 0);
	r = vmm_settled_report(vmm);
	assert_int_equal(vmm_row(r, 0, 2)->pending, 0);
	assert_int_equal(vmm_row(r, 0, 2)->delivered, 1);
	assert_int_equal(vmm_row(r, 0, 2)->handler_runs, 1);
	assert_int_equal(vmm_row(r, 0, 2)->lost, 0);
	free(r);
	virq_vmm_destroy(vmm);
}

static void test_masked_vector_pends_then_delivers_once(void **state)
{
	check_masked_vector_pends_then_delivers_once(state, false);
}

/* explain reads each hop where it lives: a masked entry (in the engine) has no target until unmasked. */
static void test_explain_follows_the_entry(void **state)
{
	struct virq_vmm_config cfg;
	config_default(&cfg, state);
	struct virq_vmm *vmm = vmm_started(&cfg);
	struct virq_vmm_explanation e;

	assert_int_equal(virq_vmm_explain(vmm, 0, 2, &e), 0);
	assert_true(e.table_in_engine && e.irqfd && e.route_valid);
	assert_int_equal(e.target_vcpu, 0);
	if (arch_of(state) == VIRQ_VMM_ARCH_ARM64) {
		/* The ITS doorbell with EventID 2; the guest's ITS maps it to the device's third LPI. */
		assert_int_equal(e.route_addr_lo, 0x08090040u);
		assert_int_equal(e.route_data, 2);
		assert_int_equal(e.intid, 8192 + 2);
	} else {
		assert_int_equal(e.route_addr_lo, 0xfee00000u);
		assert_int_equal(e.guest_vector, e.route_data & 0xff);
	}
	assert_int_equal(virq_vmm_guest_action(vmm, 0), 0); /* mask v2 */
	assert_int_equal(virq_vmm_explain(vmm, 0, 2, &e), 0);
	assert_true(e.entry_masked);
	assert_int_equal(e.target_vcpu, -1);
	assert_non_null(strstr(e.why, "held now: the entry is masked"));
	assert_int_equal(virq_vmm_explain(vmm, 1, 0, &e), 0);
	assert_true(e.intx && e.resample);
	assert_int_equal(e.gsi, 16);
	assert_int_equal(e.intid, arch_of(state) == VIRQ_VMM_ARCH_ARM64 ? 32 + 16 : 0);
	assert_int_equal(virq_vmm_explain(vmm, 0, 4, &e), -EINVAL);
	assert_int_equal(virq_vmm_explain(vmm, 2, 0, &e), -EINVAL);
	virq_vmm_destroy(vmm);
}

static void test_masked_vector_with_the_table_in_the_vmm(void **state)
{
	check_masked_vector_pends_then_delivers_once(state, true);
}

/* Exits a mask + unmask costs: two table writes exit with the table in the VMM, none in the engine. */
static uint64_t exits_for_mask_and_unmask(void **state, bool table_in_vmm)
{
	struct virq_vmm_config cfg;
	config_default(&cfg, state);
	cfg.msix_table_in_vmm = table_in_vmm;
	struct virq_vmm *vmm = vmm_started(&cfg);
	struct virq_vmm_report *before = vmm_settled_report(vmm);

	assert_int_equal(virq_vmm_guest_action(vmm, 0), 0);
	assert_int_equal(virq_vmm_guest_action(vmm, 1), 0);
	struct virq_vmm_report *after = vmm_settled_report(vmm);
	uint64_t exits = after->exits - before->exits;
	free(before);
	free(after);
	virq_vmm_destroy(vmm);
	return exits;
}

static void test_the_engine_table_saves_the_mask_exits(void **state)
{
	uint64_t in_vmm = exits_for_mask_and_unmask(state, true), in_engine = exits_for_mask_and_unmask(state, false);

	/* Both pay the mailbox (action read, done); only the VMM's table pays the two writes. */
	assert_int_equal(in_vmm - in_engine, 2);
}

/* After the guest moves vector 3 to vCPU 0, it is handled there and nothing is stale. */
static void test_retarget_moves_the_handler(void **state)
{
	struct virq_vmm_config cfg;
	config_default(&cfg, state);
	struct virq_vmm *vmm = vmm_started(&cfg);

	assert_int_equal(virq_vmm_raise(vmm, 0, 3), 0);
	free(vmm_settled_report(vmm));
	assert_int_equal(virq_vmm_guest_action(vmm, 2), 0);
	assert_int_equal(virq_vmm_raise(vmm, 0, 3), 0);
	struct virq_vmm_report *r = vmm_settled_report(vmm);
	assert_int_equal(vmm_row(r, 0, 3)->per_vcpu[1], 1);
	assert_int_equal(vmm_row(r, 0, 3)->per_vcpu[0], 1);
	assert_int_equal(vmm_row(r, 0, 3)->stale, 0);
	assert_int_equal(vmm_row(r, 0, 3)->lost, 0);
	free(r);
	virq_vmm_destroy(vmm);
}

/* Moving a vector the OS masked leaves it masked (the driver saves and restores vector control). */
static void test_retarget_keeps_a_masked_vector_masked(void **state)
{
	struct virq_vmm_config cfg;
	config_default(&cfg, state);
	struct virq_vmm *vmm = vmm_started(&cfg);

	assert_int_equal(virq_vmm_guest_action(vmm, 0), 0); /* mask v2 */
	assert_int_equal(virq_vmm_guest_action(vmm, 3), 0); /* move v2 to vCPU 1 */
	assert_int_equal(virq_vmm_raise(vmm, 0, 2), 0);
	struct virq_vmm_report *r = vmm_settled_report(vmm);
	assert_int_equal(vmm_row(r, 0, 2)->pending, 1);
	assert_int_equal(vmm_row(r, 0, 2)->delivered, 0);
	free(r);
	assert_int_equal(virq_vmm_guest_action(vmm, 1), 0); /* unmask: delivered once, on the new vCPU */
	r = vmm_settled_report(vmm);
	assert_int_equal(vmm_row(r, 0, 2)->delivered, 1);
	assert_int_equal(vmm_row(r, 0, 2)->per_vcpu[1], 1);
	assert_int_equal(vmm_row(r, 0, 2)->stale, 0);
	free(r);
	virq_vmm_destroy(vmm);
}

/* A driver that EOIs without acking: the line is still high at EOI, so it fires again; nothing hangs. */
static void test_intx_without_ack_refires(void **state)
{
	struct virq_vmm_config cfg;
	config_default(&cfg, state);
	cfg.devices[1].driver = VIRQ_VMM_DRIVER_INTX_NO_ACK;
	struct virq_vmm *vmm = vmm_started(&cfg);

	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(virq_vmm_raise(vmm, 1, 0), 0);
		free(vmm_settled_report(vmm));
	}
	struct virq_vmm_report *r = vmm_settled_report(vmm);
	const struct virq_vmm_source_report *s = vmm_row(r, 1, 0);
	assert_int_equal(s->raised, 3);
	assert_int_equal(s->delivered, 3);
	assert_true(s->handler_runs >= 4); /* at least every other run re-fired */
	assert_int_equal(s->lost, 0);
	free(r);
	virq_vmm_destroy(vmm);
}

/* Userspace delivery: the VMM reads the triggers and injects with KVM_SIGNAL_MSI. */
static void test_userspace_delivery(void **state)
{
	struct virq_vmm_config cfg;
	config_default(&cfg, state);
	cfg.devices[0].delivery = VIRQ_VMM_DELIVERY_USERSPACE;
	struct virq_vmm *vmm = vmm_started(&cfg);

	for (unsigned i = 0; i < 50; i++)
		assert_int_equal(virq_vmm_raise(vmm, 0, i % 4), 0);
	struct virq_vmm_report *r = vmm_settled_report(vmm);
	for (unsigned k = 0; k < 4; k++) {
		const struct virq_vmm_source_report *s = vmm_row(r, 0, k);
		assert_int_equal(s->raised, s->delivered + s->coalesced);
		assert_int_equal(s->lost, 0);
		assert_int_equal(s->stale, 0); /* the entry is the route: its vCPU is the right one */
		assert_true(s->delivered >= 1);
	}
	free(r);
	virq_vmm_destroy(vmm);
}

/*
 * A 64-vector device rotated across 3 vCPUs by the guest; after every rotation each vector lands on its
 * new vCPU, exactly once, and nothing is stale or lost. On arm64 the rotations are MOVIs: boot maps 3
 * collections, the device and 64 events (more than half the 128-slot command queue) and each rotation is
 * 64 commands, so the queue's wrap and its return to slot 0 between blocks are exercised.
 */
static void test_rotations_move_every_vector(void **state)
{
	struct virq_vmm_config cfg;
	config_default(&cfg, state);
	cfg.vcpus = 3;
	cfg.ndevices = 1;
	cfg.nactions = 0;
	cfg.devices[0].msix_vectors = 64;
	cfg.devices[0].msix_pba_offset = 0x400;
	cfg.devices[0].retarget_ns = 3600ull * 1000000000ull; /* rotations are generated; we run them by hand */
	for (unsigned k = 0; k < 64; k++)
		cfg.devices[0].affinity[k] = k % 3;
	struct virq_vmm *vmm = vmm_started(&cfg);

	for (unsigned r = 0; r < 4; r++) {
		if (r)
			assert_int_equal(virq_vmm_guest_action(vmm, r % 3), 0); /* rotation r: vector k -> k + r */
		for (unsigned k = 0; k < 64; k++)
			assert_int_equal(virq_vmm_raise(vmm, 0, k), 0);
		struct virq_vmm_report *rep = vmm_settled_report(vmm);
		for (unsigned k = 0; k < 64; k++) {
			const struct virq_vmm_source_report *s = vmm_row(rep, 0, k);
			assert_int_equal(s->delivered, r + 1);
			assert_int_equal(s->per_vcpu[(k + r) % 3], r < 3 ? 1 : 2);
			assert_int_equal(s->stale, 0);
			assert_int_equal(s->lost, 0);
		}
		free(rep);
	}
	virq_vmm_destroy(vmm);
}

/* What cannot be wired is refused before anything is built, with a message naming the device. */
static void test_impossible_wiring(void **state)
{
	static const char *const messages[] = {
		"device legacy0: delivery irqfd needs MSI-X",
		"device nic0: vector 1 targets vCPU 1 (the VM has 1)",
		"devices nic0 and legacy0 have the same PCI address",
		"action 2: vCPU 7 does not exist (the VM has 2)",
		("device nic0 has both MSI-X and an INTx pin; its driver uses one: keep msix for MSI-X delivery, "
		 "intx for resample"),
	};
	for (unsigned i = 0; i < sizeof(messages) / sizeof(messages[0]); i++) {
		struct virq_vmm_config cfg;
		struct virq_vmm *vmm = (void *)1;
		char err[256] = "";
		config_default(&cfg, state);
		switch (i) {
		case 0:
			cfg.devices[1].delivery = VIRQ_VMM_DELIVERY_IRQFD;
			break;
		case 1:
			cfg.vcpus = 1;
			break;
		case 2:
			cfg.devices[1].requester_id = cfg.devices[0].requester_id;
			break;
		case 3:
			cfg.actions[2].vcpu = 7;
			break;
		case 4:
			cfg.devices[0].intx_pin = 2;
			break;
		}
		assert_int_equal(virq_vmm_create(&cfg, &vmm, err, sizeof(err)), -EINVAL);
		assert_string_equal(err, messages[i]);
	}
}

/* The same test on an arm64 VM, named so that the two runs can be told apart. */
#define ARM64_TEST(f) { .name = "arm64_" #f, .test_func = f, .initial_state = &arm64 }

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_each_source_once_on_its_vcpu),
		cmocka_unit_test(test_masked_vector_pends_then_delivers_once),
		cmocka_unit_test(test_masked_vector_with_the_table_in_the_vmm),
		cmocka_unit_test(test_explain_follows_the_entry),
		cmocka_unit_test(test_the_engine_table_saves_the_mask_exits),
		cmocka_unit_test(test_retarget_moves_the_handler),
		cmocka_unit_test(test_retarget_keeps_a_masked_vector_masked),
		cmocka_unit_test(test_intx_without_ack_refires),
		cmocka_unit_test(test_userspace_delivery),
		cmocka_unit_test(test_rotations_move_every_vector),
		cmocka_unit_test(test_impossible_wiring),
		ARM64_TEST(test_each_source_once_on_its_vcpu),
		ARM64_TEST(test_masked_vector_pends_then_delivers_once),
		ARM64_TEST(test_masked_vector_with_the_table_in_the_vmm),
		ARM64_TEST(test_explain_follows_the_entry),
		ARM64_TEST(test_the_engine_table_saves_the_mask_exits),
		ARM64_TEST(test_retarget_moves_the_handler),
		ARM64_TEST(test_retarget_keeps_a_masked_vector_masked),
		ARM64_TEST(test_intx_without_ack_refires),
		ARM64_TEST(test_userspace_delivery),
		ARM64_TEST(test_rotations_move_every_vector),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
