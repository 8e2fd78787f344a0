/* SPDX-License-Identifier: MIT */
/*
 * test_bypass_policy.c - posted or remapped (src/engine/bypass_policy.c), one test per rule and its
 * reason string: single-destination fixed and lowest-priority MSIs (physical, logical, RH) are posted;
 * the lowest-priority pick equals the software path's (virq_apic_deliver); multi-target logical,
 * broadcast, unmatched destinations, NMI/INIT/ExtINT, non-MSI, zero or several routes, no IOMMU are
 * remapped; POST_IRQ / UNPOST_IRQ overrides and the explicit (seed 000) mode.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "engine/bypass_policy.h"

#include <linux/kvm.h>
#include <stdlib.h>

#define NR 4

static void nop_kick(void *o) { (void)o; }
static void nop_eoi(void *o, uint8_t v, bool l) { (void)o, (void)v, (void)l; }
static int nop_ipi(void *o, const struct virq_apic_irq *i) { (void)o, (void)i; return 0; }
static const struct virq_lapic_ops nop_ops = {.kick = nop_kick, .eoi_broadcast = nop_eoi, .send_ipi = nop_ipi};

struct vm {
	struct virq_lapic *apic[NR];
};

/* Four vCPUs, APIC ID = index, software-enabled, flat logical IDs 1 << index. */
static int setup(void **state)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	for (unsigned i = 0; i < NR; i++) {
		vm->apic[i] = calloc(1, sizeof(struct virq_lapic));
		virq_lapic_init(vm->apic[i], i, &nop_ops, NULL);
		atomic_store(&vm->apic[i]->svr, 0x1ff);
		atomic_store(&vm->apic[i]->ldr, (1u << i) << 24);
		atomic_store(&vm->apic[i]->dfr, 0xffffffffu);
	}
	*state = vm;
	return 0;
}

static int teardown(void **state)
{
	struct vm *vm = *state;
	for (unsigned i = 0; i < NR; i++)
		free(vm->apic[i]);
	free(vm);
	return 0;
}

static struct virq_bypass_route msi(uint32_t dest, bool logical, bool rh, unsigned dm, uint8_t vector)
{
	return (struct virq_bypass_route){
		.nr_entries = 1,
		.type = KVM_IRQ_ROUTING_MSI,
		.address_lo = 0xfee00000u | dest << 12 | (rh ? 8u : 0) | (logical ? 4u : 0),
		.data = vector | dm << 8,
	};
}

static enum virq_bypass_mode decide(void **state, const struct virq_bypass_route *rt, enum virq_bypass_override ovr,
				    bool explicit_only, bool no_iommu, struct virq_bypass_decision *d)
{
	struct vm *vm = *state;
	struct virq_bypass_policy_in in = {
		.route = rt, .apics = vm->apic, .nr_apics = NR, .override = ovr,
		.explicit_only = explicit_only, .no_iommu = no_iommu,
	};
	return virq_bypass_decide(&in, d);
}

#define expect(state, rt, ovr, expl, noio, want, text) do { \
	struct virq_bypass_decision d_; \
	struct virq_bypass_route r_ = (rt); \
	assert_int_equal(decide(state, &r_, ovr, expl, noio, &d_), want); \
	assert_int_equal(d_.mode, want); \
	assert_string_equal(d_.reason, text); \
} while (0)

static void test_fixed_physical_posted(void **state)
{
	struct virq_bypass_decision d;
	struct virq_bypass_route rt = msi(1, false, false, 0, 0x41);

	assert_int_equal(decide(state, &rt, VIRQ_BYPASS_AUTO, false, false, &d), VIRQ_BYPASS_POSTED);
	assert_string_equal(d.reason, "posted: fixed delivery to APIC 1 vector 0x41");
	assert_int_equal(d.vcpu, 1);
	assert_int_equal(d.apic_id, 1);
	assert_int_equal(d.vector, 0x41);
}

static void test_lowest_priority_and_rh_posted(void **state)
{
	expect(state, msi(2, false, false, 1, 0x50), VIRQ_BYPASS_AUTO, false, false, VIRQ_BYPASS_POSTED,
	       "posted: lowest-priority delivery to APIC 2 vector 0x50");
	/* RH = 1 makes a fixed message lowest priority (KVM). */
	expect(state, msi(3, false, true, 0, 0x51), VIRQ_BYPASS_AUTO, false, false, VIRQ_BYPASS_POSTED,
	       "posted: lowest-priority delivery to APIC 3 vector 0x51");
}

static void test_logical_single_target_posted(void **state)
{
	expect(state, msi(0x4, true, false, 0, 0x60), VIRQ_BYPASS_AUTO, false, false, VIRQ_BYPASS_POSTED,
	       "posted: fixed delivery to APIC 2 vector 0x60");
}

static void test_logical_fixed_multi_remapped(void **state)
{
	expect(state, msi(0x6, true, false, 0, 0x61), VIRQ_BYPASS_AUTO, false, false, VIRQ_BYPASS_REMAPPED,
	       "remapped: logical destination with 2 targets");
}

/* Lowest priority to several candidates is resolved to one by vector hashing, the same one the software
 * path delivers to, so a mode switch never moves the interrupt; disabled LAPICs are not candidates. */
static void test_logical_lowest_matches_software_pick(void **state)
{
	struct vm *vm = *state;
	atomic_store(&vm->apic[1]->svr, 0xff); /* software-disabled: not a candidate */
	for (unsigned vec = 0x40; vec < 0x48; vec++) {
		struct virq_bypass_decision d;
		struct virq_bypass_route rt = msi(0xf, true, false, 1, (uint8_t)vec);
		struct virq_apic_irq irq;

		assert_int_equal(decide(state, &rt, VIRQ_BYPASS_AUTO, false, false, &d), VIRQ_BYPASS_POSTED);
		assert_int_not_equal(d.vcpu, 1);
		virq_msi_decode(rt.address_lo, rt.address_hi, rt.data, false, &irq);
		assert_true(virq_apic_deliver(vm->apic, NR, NULL, &irq) > 0);
		for (unsigned i = 0; i < NR; i++) {
			bool got = atomic_load(&vm->apic[i]->irr[vec >> 6]) & (1ull << (vec & 63));
			assert_int_equal(got, i == d.vcpu);
			atomic_store(&vm->apic[i]->irr[vec >> 6], 0);
		}
	}
	atomic_store(&vm->apic[1]->svr, 0x1ff);
}

static void test_broadcast_and_unmatched_remapped(void **state)
{
	expect(state, msi(0xff, false, false, 0, 0x41), VIRQ_BYPASS_AUTO, false, false, VIRQ_BYPASS_REMAPPED,
	       "remapped: broadcast destination");
	expect(state, msi(0xff, false, false, 1, 0x41), VIRQ_BYPASS_AUTO, false, false, VIRQ_BYPASS_REMAPPED,
	       "remapped: broadcast destination");
	expect(state, msi(9, false, false, 0, 0x41), VIRQ_BYPASS_AUTO, false, false, VIRQ_BYPASS_REMAPPED,
	       "remapped: physical destination 0x9 matches no vCPU");
	expect(state, msi(0x30, true, false, 1, 0x41), VIRQ_BYPASS_AUTO, false, false, VIRQ_BYPASS_REMAPPED,
	       "remapped: logical destination 0x30 matches no vCPU");
}

static void test_delivery_modes_remapped(void **state)
{
	expect(state, msi(1, false, false, 4, 0x02), VIRQ_BYPASS_AUTO, false, false, VIRQ_BYPASS_REMAPPED,
	       "remapped: NMI delivery");
	expect(state, msi(1, false, false, 2, 0x00), VIRQ_BYPASS_AUTO, false, false, VIRQ_BYPASS_REMAPPED,
	       "remapped: SMI delivery");
	expect(state, msi(1, false, false, 5, 0x00), VIRQ_BYPASS_AUTO, false, false, VIRQ_BYPASS_REMAPPED,
	       "remapped: INIT delivery");
	expect(state, msi(1, false, false, 7, 0x00), VIRQ_BYPASS_AUTO, false, false, VIRQ_BYPASS_REMAPPED,
	       "remapped: ExtINT delivery");
	/* RH does not make an NMI postable. */
	expect(state, msi(1, false, true, 4, 0x02), VIRQ_BYPASS_AUTO, false, false, VIRQ_BYPASS_REMAPPED,
	       "remapped: NMI delivery");
}

static void test_route_shape_remapped(void **state)
{
	struct virq_bypass_route rt = msi(1, false, false, 0, 0x41);

	rt.nr_entries = 0;
	expect(state, rt, VIRQ_BYPASS_AUTO, false, false, VIRQ_BYPASS_REMAPPED, "remapped: GSI has no route");
	rt.nr_entries = 2;
	expect(state, rt, VIRQ_BYPASS_AUTO, false, false, VIRQ_BYPASS_REMAPPED, "remapped: GSI has 2 routes");
	rt = (struct virq_bypass_route){.nr_entries = 1, .type = KVM_IRQ_ROUTING_IRQCHIP};
	expect(state, rt, VIRQ_BYPASS_AUTO, false, false, VIRQ_BYPASS_REMAPPED,
	       "remapped: route is not an MSI (type 1)");

	struct virq_bypass_decision d;
	struct virq_bypass_policy_in in = {.route = NULL};
	assert_int_equal(virq_bypass_decide(&in, &d), VIRQ_BYPASS_REMAPPED);
	assert_string_equal(d.reason, "remapped: GSI has no route");
}

static void test_no_iommu(void **state)
{
	expect(state, msi(1, false, false, 0, 0x41), VIRQ_BYPASS_FORCE_POST, false, true, VIRQ_BYPASS_REMAPPED,
	       "remapped: POST_IRQ refused: no IOMMU (the producer cannot post)");
	expect(state, msi(1, false, false, 0, 0x41), VIRQ_BYPASS_AUTO, false, true, VIRQ_BYPASS_REMAPPED,
	       "remapped: no IOMMU (the producer cannot post)");
}

static void test_overrides(void **state)
{
	expect(state, msi(1, false, false, 0, 0x41), VIRQ_BYPASS_FORCE_REMAP, false, false, VIRQ_BYPASS_REMAPPED,
	       "remapped: UNPOST_IRQ override");
	expect(state, msi(1, false, false, 0, 0x41), VIRQ_BYPASS_FORCE_POST, false, false, VIRQ_BYPASS_POSTED,
	       "posted: POST_IRQ, fixed delivery to APIC 1 vector 0x41");
	expect(state, msi(0x6, true, false, 0, 0x41), VIRQ_BYPASS_FORCE_POST, false, false, VIRQ_BYPASS_REMAPPED,
	       "remapped: POST_IRQ refused: logical destination with 2 targets");
}

static void test_explicit_mode(void **state)
{
	expect(state, msi(1, false, false, 0, 0x41), VIRQ_BYPASS_AUTO, true, false, VIRQ_BYPASS_REMAPPED,
	       "remapped: automatic bypass off and no POST_IRQ");
	expect(state, msi(1, false, false, 0, 0x41), VIRQ_BYPASS_FORCE_POST, true, false, VIRQ_BYPASS_POSTED,
	       "posted: POST_IRQ, fixed delivery to APIC 1 vector 0x41");
	expect(state, msi(1, false, false, 0, 0x41), VIRQ_BYPASS_FORCE_REMAP, true, false, VIRQ_BYPASS_REMAPPED,
	       "remapped: UNPOST_IRQ override");
}

/* An MSI-X entry the engine's table holds (masked, ...) is remapped, even under POST_IRQ, so its
 * messages reach the pending bit; the rule comes after the overrides and before the route's shape. */
static void test_held_by_the_msix_table(void **state)
{
	struct vm *vm = *state;
	struct virq_bypass_route rt = msi(1, false, false, 0, 0x41);
	struct virq_bypass_policy_in in = { .route = &rt, .apics = vm->apic, .nr_apics = NR,
					    .held = "MSI-X entry masked" };
	struct virq_bypass_decision d;

	assert_int_equal(virq_bypass_decide(&in, &d), VIRQ_BYPASS_REMAPPED);
	assert_string_equal(d.reason, "remapped: MSI-X entry masked (held in the pending bit)");
	in.override = VIRQ_BYPASS_FORCE_POST;
	assert_int_equal(virq_bypass_decide(&in, &d), VIRQ_BYPASS_REMAPPED);
	assert_string_equal(d.reason, "remapped: POST_IRQ refused: MSI-X entry masked (held in the pending bit)");
	in.override = VIRQ_BYPASS_FORCE_REMAP;
	virq_bypass_decide(&in, &d);
	assert_string_equal(d.reason, "remapped: UNPOST_IRQ override");
	in.override = VIRQ_BYPASS_AUTO;
	in.held = NULL;
	assert_int_equal(virq_bypass_decide(&in, &d), VIRQ_BYPASS_POSTED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fixed_physical_posted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lowest_priority_and_rh_posted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_logical_single_target_posted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_logical_fixed_multi_remapped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_logical_lowest_matches_software_pick, setup, teardown),
		cmocka_unit_test_setup_teardown(test_broadcast_and_unmatched_remapped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delivery_modes_remapped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_route_shape_remapped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_iommu, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overrides, setup, teardown),
		cmocka_unit_test_setup_teardown(test_explicit_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_held_by_the_msix_table, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
