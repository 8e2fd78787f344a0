/* SPDX-License-Identifier: MIT */
/*
 * test_apic_bus.c - unit tests of src/irqchip/x86/apic_bus.c and msi.c: destination matching (physical,
 * flat, cluster), KVM's slow-path results, lowest priority by vector hashing, physical broadcast,
 * shorthands, and MSI address/data decoding.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "irqchip/x86/lapic.h"

#define CHECK_EQ(name, got, want)                                                                       \
	do {                                                                                            \
		unsigned long long g_ = (unsigned long long)(got), w_ = (unsigned long long)(want);     \
		if (g_ != w_)                                                                           \
			fail_msg("%s: %s = %#llx, want %#llx", (name), #got, g_, w_);                  \
	} while (0)

#define NR_APICS 4

struct cpu {
	struct virq_lapic apic;
	unsigned kicks;
};

struct bus {
	struct cpu cpu[NR_APICS];
	struct virq_lapic *apics[NR_APICS + 1]; /* last slot stays NULL: skipped */
};

static void fake_kick(void *opaque)
{
	((struct cpu *)opaque)->kicks++;
}

static void fake_eoi_broadcast(void *opaque, uint8_t vector, bool level)
{
}

static const struct virq_lapic_ops fake_ops = {
	.kick = fake_kick,
	.eoi_broadcast = fake_eoi_broadcast,
};

/* APIC i: ID i, software-enabled, flat LDR bit i. */
static int setup(void **state)
{
	struct bus *b = calloc(1, sizeof(*b));

	if (!b)
		return -1;
	for (unsigned i = 0; i < NR_APICS; i++) {
		virq_lapic_init(&b->cpu[i].apic, i, &fake_ops, &b->cpu[i]);
		virq_lapic_mmio_write(&b->cpu[i].apic, 0xF0, 0x1ff);
		virq_lapic_mmio_write(&b->cpu[i].apic, 0xD0, (1u << i) << 24);
		b->apics[i] = &b->cpu[i].apic;
	}
	*state = b;
	return 0;
}

static int teardown(void **state)
{
	free(*state);
	return 0;
}

/* Bitmask of the APICs that have @vector in IRR. */
static unsigned irr_mask(struct bus *b, uint8_t vector)
{
	unsigned mask = 0;

	for (unsigned i = 0; i < NR_APICS; i++) {
		uint32_t chunk = virq_lapic_mmio_read(&b->cpu[i].apic, 0x200 + (vector / 32) * 0x10);

		if (chunk & (1u << (vector % 32)))
			mask |= 1u << i;
	}
	return mask;
}

static void clear_irr(struct bus *b)
{
	for (unsigned i = 0; i < NR_APICS; i++)
		for (unsigned w = 0; w < 4; w++)
			atomic_store(&b->cpu[i].apic.irr[w], 0);
}

static void test_match_dest(void **state)
{
	static const struct {
		const char *name;
		uint32_t id, ldr, dfr, dest;
		bool logical, want;
	} rows[] = {
		{ "physical: same ID", 3, 0, 0xffffffff, 3, false, true },
		{ "physical: other ID", 3, 0, 0xffffffff, 4, false, false },
		{ "physical: broadcast 0xff", 3, 0, 0xffffffff, 0xff, false, true },
		{ "physical: > 0xff never an xAPIC ID", 3, 0, 0xffffffff, 0x103, false, false },
		{ "flat: bit set", 0, 0x01000000, 0xffffffff, 0x01, true, true },
		{ "flat: bit clear", 0, 0x01000000, 0xffffffff, 0x02, true, false },
		{ "flat: one of several", 0, 0x04000000, 0xffffffff, 0x0c, true, true },
		{ "flat: LDR 0 never matches", 0, 0, 0xffffffff, 0x7f, true, false },
		{ "logical broadcast 0xff matches even LDR 0 (KVM)", 0, 0, 0xffffffff, 0xff, true, true },
		{ "cluster: same cluster, bit set", 0, 0x21000000, 0x0fffffff, 0x21, true, true },
		{ "cluster: same cluster, one of two", 0, 0x21000000, 0x0fffffff, 0x23, true, true },
		{ "cluster: other cluster", 0, 0x21000000, 0x0fffffff, 0x11, true, false },
		{ "cluster: no common bit", 0, 0x21000000, 0x0fffffff, 0x22, true, false },
		{ "cluster: broadcast", 0, 0x21000000, 0x0fffffff, 0xff, true, true },
		{ "unknown DFR model matches nothing", 0, 0x01000000, 0x5fffffff, 0x01, true, false },
	};
	struct bus *b = *state;
	struct virq_lapic *a = &b->cpu[0].apic;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		virq_lapic_mmio_write(a, 0x20, rows[i].id << 24);
		virq_lapic_mmio_write(a, 0xD0, rows[i].ldr);
		virq_lapic_mmio_write(a, 0xE0, rows[i].dfr);
		CHECK_EQ(rows[i].name, virq_lapic_match_dest(a, rows[i].dest, rows[i].logical), rows[i].want);
	}
}

static void test_fixed_delivery_results(void **state)
{
	static const struct {
		const char *name;
		uint32_t dest;
		bool logical;
		unsigned disabled; /* mask of software-disabled APICs */
		int result;
		unsigned irr;
	} rows[] = {
		{ "physical unicast", 2, false, 0, 1, 0x4 },
		{ "physical, no such ID: -1", 9, false, 0, -1, 0 },
		{ "physical broadcast", 0xff, false, 0, 4, 0xf },
		{ "physical broadcast, one disabled", 0xff, false, 0x2, 3, 0xd },
		{ "unicast to a disabled APIC: matched, 0", 1, false, 0x2, 0, 0 },
		{ "flat logical to three", 0x0b, true, 0, 3, 0xb },
		{ "flat logical, nobody", 0x30, true, 0, -1, 0 },
	};
	struct bus *b = *state;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct virq_apic_irq irq = { .dest_id = rows[i].dest, .dest_logical = rows[i].logical,
					     .vector = 0x51, .level = true };

		for (unsigned c = 0; c < NR_APICS; c++)
			virq_lapic_mmio_write(&b->cpu[c].apic, 0xF0, (rows[i].disabled >> c) & 1 ? 0xff : 0x1ff);
		clear_irr(b);
		CHECK_EQ(rows[i].name, virq_apic_deliver(b->apics, NR_APICS + 1, NULL, &irq), rows[i].result);
		CHECK_EQ(rows[i].name, irr_mask(b, 0x51), rows[i].irr);
	}
}

static void test_lowest_priority_vector_hashing(void **state)
{
	static const struct {
		const char *name;
		uint8_t vector;
		unsigned disabled;
		int chosen; /* APIC index, -1: none */
	} rows[] = {
		{ "0x20 % 4 = 0", 0x20, 0, 0 },
		{ "0x21 % 4 = 1", 0x21, 0, 1 },
		{ "0x22 % 4 = 2", 0x22, 0, 2 },
		{ "0x23 % 4 = 3", 0x23, 0, 3 },
		{ "APIC 1 disabled: 0x21 % 3 = 0 -> APIC 0", 0x21, 0x2, 0 },
		{ "APIC 1 disabled: 0x22 % 3 = 1 -> APIC 2", 0x22, 0x2, 2 },
		{ "APIC 1 disabled: 0x23 % 3 = 2 -> APIC 3", 0x23, 0x2, 3 },
		{ "all matching disabled: -1", 0x23, 0xf, -1 },
	};
	struct bus *b = *state;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct virq_apic_irq irq = { .dest_id = 0x0f, .dest_logical = true, .vector = rows[i].vector,
					     .delivery_mode = VIRQ_APIC_DM_LOWEST, .level = true };

		for (unsigned c = 0; c < NR_APICS; c++)
			virq_lapic_mmio_write(&b->cpu[c].apic, 0xF0, (rows[i].disabled >> c) & 1 ? 0xff : 0x1ff);
		/* Deterministic: the same message always lands on the same APIC. */
		for (int rep = 0; rep < 3; rep++) {
			clear_irr(b);
			CHECK_EQ(rows[i].name, virq_apic_deliver(b->apics, NR_APICS + 1, NULL, &irq),
				 rows[i].chosen < 0 ? -1 : 1);
			CHECK_EQ(rows[i].name, irr_mask(b, rows[i].vector),
				 rows[i].chosen < 0 ? 0 : 1u << rows[i].chosen);
		}
	}
}

static void test_lowest_priority_winner_counts_arbitration(void **state)
{
	struct bus *b = *state;
	struct virq_apic_irq irq = { .dest_id = 0x0f, .dest_logical = true, .vector = 0x22,
				     .delivery_mode = VIRQ_APIC_DM_LOWEST, .level = true };

	virq_apic_deliver(b->apics, NR_APICS, NULL, &irq);
	for (unsigned c = 0; c < NR_APICS; c++)
		assert_int_equal(atomic_load(&b->cpu[c].apic.arb_prio), c == 2);
}

static void test_physical_broadcast_lowest_is_fixed(void **state)
{
	struct bus *b = *state;
	struct virq_apic_irq irq = { .dest_id = 0xff, .vector = 0x33, .delivery_mode = VIRQ_APIC_DM_LOWEST,
				     .level = true };

	assert_int_equal(virq_apic_deliver(b->apics, NR_APICS, NULL, &irq), 4);
	assert_int_equal(irr_mask(b, 0x33), 0xf);
	/* Demoted to fixed: nobody "won" an arbitration. */
	for (unsigned c = 0; c < NR_APICS; c++)
		assert_int_equal(atomic_load(&b->cpu[c].apic.arb_prio), 0);
}

static void test_redirection_hint_means_lowest(void **state)
{
	struct bus *b = *state;
	struct virq_apic_irq irq = { .dest_id = 0x0f, .dest_logical = true, .vector = 0x21, .level = true,
				     .msi_redir_hint = true };

	assert_int_equal(virq_apic_deliver(b->apics, NR_APICS, NULL, &irq), 1);
	assert_int_equal(irr_mask(b, 0x21), 0x2);
	/* [Q] RH keeps lowest priority even for a physical broadcast (only the mode is demoted). */
	clear_irr(b);
	irq.dest_logical = false;
	irq.dest_id = 0xff;
	assert_int_equal(virq_apic_deliver(b->apics, NR_APICS, NULL, &irq), 1);
	assert_int_equal(irr_mask(b, 0x21), 0x2);
}

static void test_shorthands(void **state)
{
	static const struct {
		const char *name;
		uint8_t shorthand;
		int result;
		unsigned irr;
	} rows[] = {
		{ "self", VIRQ_APIC_SH_SELF, 1, 0x4 },
		{ "all including self", VIRQ_APIC_SH_ALL_INCLUDING_SELF, 4, 0xf },
		{ "all excluding self", VIRQ_APIC_SH_ALL_EXCLUDING_SELF, 3, 0xb },
	};
	struct bus *b = *state;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		/* The destination field is ignored with a shorthand. */
		struct virq_apic_irq irq = { .dest_id = 0, .vector = 0x44, .shorthand = rows[i].shorthand,
					     .level = true };

		clear_irr(b);
		CHECK_EQ(rows[i].name, virq_apic_deliver(b->apics, NR_APICS + 1, &b->cpu[2].apic, &irq),
			 rows[i].result);
		CHECK_EQ(rows[i].name, irr_mask(b, 0x44), rows[i].irr);
	}
}

static void test_kick_per_accepted_request(void **state)
{
	struct bus *b = *state;
	struct virq_apic_irq irq = { .dest_id = 0x05, .dest_logical = true, .vector = 0x60, .level = true };

	assert_int_equal(virq_apic_deliver(b->apics, NR_APICS, NULL, &irq), 2);
	assert_int_equal(b->cpu[0].kicks, 1);
	assert_int_equal(b->cpu[1].kicks, 0);
	assert_int_equal(b->cpu[2].kicks, 1);
}

static void test_msi_decode(void **state)
{
	static const struct {
		const char *name;
		uint32_t lo, hi, data;
		bool x2apic;
		struct virq_apic_irq want;
	} rows[] = {
		{ "fixed physical edge", 0xfee01000, 0, 0x0041, false, { .dest_id = 1, .vector = 0x41, .level = true } },
		{ "RH + logical, fixed -> lowest", 0xfee0200c, 0, 0x0031, false,
		  { .dest_id = 2, .vector = 0x31, .delivery_mode = 1, .dest_logical = true, .level = true,
		    .msi_redir_hint = true } },
		{ "lowest priority mode", 0xfee0f004, 0, 0x0131, false,
		  { .dest_id = 0x0f, .vector = 0x31, .delivery_mode = 1, .dest_logical = true, .level = true } },
		{ "0xFEE prefix not checked", 0x00003000, 0, 0x0022, false,
		  { .dest_id = 3, .vector = 0x22, .level = true } },
		{ "address bits 11:4 ignored", 0xfee04ff0, 0, 0x0022, false,
		  { .dest_id = 4, .vector = 0x22, .level = true } },
		{ "level trigger, data bit 14 set", 0xfee00000, 0, 0xc051, false,
		  { .vector = 0x51, .trigger_level = true, .level = true } },
		{ "level trigger, data bit 14 clear: still asserted", 0xfee00000, 0, 0x8051, false,
		  { .vector = 0x51, .trigger_level = true, .level = true } },
		{ "NMI with RH keeps NMI", 0xfee00008, 0, 0x0400, false,
		  { .delivery_mode = 4, .level = true, .msi_redir_hint = true } },
		{ "reserved mode 3 kept", 0xfee00000, 0, 0x0300, false, { .delivery_mode = 3, .level = true } },
		{ "ExtINT", 0xfee00000, 0, 0x0700, false, { .delivery_mode = 7, .level = true } },
		{ "address_hi ignored without x2APIC IDs", 0xfee05000, 0x00000100, 0x0040, false,
		  { .dest_id = 5, .vector = 0x40, .level = true } },
		{ "address_hi supplies bits 31:8 with x2APIC IDs", 0xfee05000, 0x12345600, 0x0040, true,
		  { .dest_id = 0x12345605, .vector = 0x40, .level = true } },
		{ "address_hi bits 7:0 dropped", 0xfee05000, 0x000001ff, 0x0040, true,
		  { .dest_id = 0x105, .vector = 0x40, .level = true } },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const char *n = rows[i].name;
		struct virq_apic_irq got;

		virq_msi_decode(rows[i].lo, rows[i].hi, rows[i].data, rows[i].x2apic, &got);
		CHECK_EQ(n, got.dest_id, rows[i].want.dest_id);
		CHECK_EQ(n, got.vector, rows[i].want.vector);
		CHECK_EQ(n, got.delivery_mode, rows[i].want.delivery_mode);
		CHECK_EQ(n, got.shorthand, VIRQ_APIC_SH_NONE);
		CHECK_EQ(n, got.dest_logical, rows[i].want.dest_logical);
		CHECK_EQ(n, got.trigger_level, rows[i].want.trigger_level);
		CHECK_EQ(n, got.level, true);
		CHECK_EQ(n, got.msi_redir_hint, rows[i].want.msi_redir_hint);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_match_dest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fixed_delivery_results, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lowest_priority_vector_hashing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lowest_priority_winner_counts_arbitration, setup, teardown),
		cmocka_unit_test_setup_teardown(test_physical_broadcast_lowest_is_fixed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redirection_hint_means_lowest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shorthands, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kick_per_accepted_request, setup, teardown),
		cmocka_unit_test(test_msi_decode),
	};

	return cmocka_run_group_tests_name("apic_bus", tests, NULL, NULL);
}
