/* SPDX-License-Identifier: MIT */
/*
 * test_lapic.c - unit tests of src/irqchip/x86/lapic.c: register page, acceptance, priority (TPR/PPR),
 * acknowledge, EOI and EOI broadcast, ICR. The engine is replaced by fake ops that record every call.
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

struct fake {
	struct virq_lapic apic;
	unsigned kicks;
	unsigned broadcasts;
	int bcast_vector;
	bool bcast_level;
	unsigned ipis;
	struct virq_apic_irq ipi;
	unsigned inits, sipis;
	uint8_t sipi_vector;
	bool wanted[256];
};

static void fake_kick(void *opaque)
{
	((struct fake *)opaque)->kicks++;
}

static void fake_eoi_broadcast(void *opaque, uint8_t vector, bool level)
{
	struct fake *f = opaque;

	f->broadcasts++;
	f->bcast_vector = vector;
	f->bcast_level = level;
}

static int fake_send_ipi(void *opaque, const struct virq_apic_irq *irq)
{
	struct fake *f = opaque;

	f->ipis++;
	f->ipi = *irq;
	return 1;
}

static void fake_init_sipi(void *opaque, bool startup, uint8_t sipi_vector)
{
	struct fake *f = opaque;

	if (startup) {
		f->sipis++;
		f->sipi_vector = sipi_vector;
	} else {
		f->inits++;
	}
}

static bool fake_eoi_wanted(void *opaque, uint8_t vector)
{
	return ((struct fake *)opaque)->wanted[vector];
}

static const struct virq_lapic_ops fake_ops = {
	.kick = fake_kick,
	.eoi_broadcast = fake_eoi_broadcast,
	.send_ipi = fake_send_ipi,
	.init_sipi = fake_init_sipi,
	.eoi_wanted = fake_eoi_wanted,
};

static int setup(void **state)
{
	struct fake *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	virq_lapic_init(&f->apic, 3, &fake_ops, f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	free(*state);
	return 0;
}

static void sw_enable(struct fake *f)
{
	virq_lapic_mmio_write(&f->apic, 0xF0, 0x1ff);
}

static struct virq_apic_irq fixed_edge(uint8_t vector)
{
	return (struct virq_apic_irq){ .vector = vector, .delivery_mode = VIRQ_APIC_DM_FIXED, .level = true };
}

/* Put @vector in service: accept, then acknowledge. */
static void in_service(struct fake *f, uint8_t vector, bool level)
{
	struct virq_apic_irq irq = fixed_edge(vector);

	irq.trigger_level = level;
	assert_int_equal(virq_lapic_accept(&f->apic, &irq), 1);
	virq_lapic_ack(&f->apic, vector);
}

static void test_reset_register_values(void **state)
{
	static const struct {
		const char *name;
		uint32_t offset, want;
	} rows[] = {
		{ "ID holds the APIC ID in bits 31:24", 0x20, 0x03000000 },
		{ "version 0x14, 6 LVTs, no directed EOI", 0x30, 0x00050014 },
		{ "TPR", 0x80, 0 },
		{ "APR (KVM never writes it)", 0x90, 0 },
		{ "PPR", 0xA0, 0 },
		{ "EOI is write-only", 0xB0, 0 },
		{ "LDR", 0xD0, 0 },
		{ "DFR flat", 0xE0, 0xffffffff },
		{ "SVR software-disabled, vector 0xff", 0xF0, 0xff },
		{ "ISR0", 0x100, 0 },
		{ "IRR7", 0x270, 0 },
		{ "ESR", 0x280, 0 },
		{ "LVT CMCI not implemented (6 LVTs)", 0x2F0, 0 },
		{ "ICR low", 0x300, 0 },
		{ "ICR high", 0x310, 0 },
		{ "LVT timer masked", 0x320, 0x10000 },
		{ "LVT thermal masked", 0x330, 0x10000 },
		{ "LVT perfmon masked", 0x340, 0x10000 },
		{ "LVT LINT0 masked (not the BSP)", 0x350, 0x10000 },
		{ "LVT LINT1 masked", 0x360, 0x10000 },
		{ "LVT error masked", 0x370, 0x10000 },
		{ "timer initial count (no timer)", 0x380, 0 },
		{ "misaligned offset", 0x24, 0 },
		{ "beyond 0x3f0", 0x400, 0 },
	};
	struct fake *f = *state;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		CHECK_EQ(rows[i].name, virq_lapic_mmio_read(&f->apic, rows[i].offset), rows[i].want);
	assert_false(virq_lapic_sw_enabled(&f->apic));
	assert_int_equal(virq_lapic_id(&f->apic), 3);
}

static void test_bsp_lint0_extint_quirk(void **state)
{
	struct fake *f = *state;

	virq_lapic_init(&f->apic, 0, &fake_ops, f);
	assert_int_equal(virq_lapic_mmio_read(&f->apic, 0x350), 0x700);
}

static void test_register_writes(void **state)
{
	static const struct {
		const char *name;
		uint32_t offset, value, want;
	} rows[] = {
		{ "ID keeps bits 31:24", 0x20, 0x12345678, 0x12000000 },
		{ "version is read-only", 0x30, 0xffffffff, 0x00050014 },
		{ "TPR keeps bits 7:0", 0x80, 0x1ff, 0xff },
		{ "APR is read-only", 0x90, 0xff, 0 },
		{ "PPR is read-only", 0xA0, 0xff, 0 },
		{ "LDR keeps bits 31:24", 0xD0, 0x12345678, 0x12000000 },
		{ "DFR cluster, low bits read 1", 0xE0, 0, 0x0fffffff },
		{ "SVR drops directed EOI and bits above 9", 0xF0, 0xffff11ff, 0x1ff },
		{ "ISR is read-only", 0x100, 0xffffffff, 0 },
		{ "TMR is read-only", 0x180, 0xffffffff, 0 },
		{ "IRR is read-only", 0x200, 0xffffffff, 0 },
		{ "ESR writes are ignored", 0x280, 0xff, 0 },
		{ "ICR high keeps bits 31:24", 0x310, 0x12345678, 0x12000000 },
		{ "LVT timer: vector, mask, mode", 0x320, 0xffffffff, 0x000710ff },
		{ "LVT thermal: + delivery mode", 0x330, 0xffffffff, 0x000117ff },
		{ "LVT LINT0: + polarity, remote IRR, trigger", 0x350, 0xffffffff, 0x0001f7ff },
		{ "LVT LINT0 unmasked", 0x350, 0x00000700, 0x00000700 },
		{ "LVT error", 0x370, 0xffffffff, 0x000110ff },
		{ "LVT CMCI not implemented", 0x2F0, 0xffffffff, 0 },
		{ "misaligned write ignored", 0x84, 0xff, 0 },
	};
	struct fake *f = *state;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		virq_lapic_init(&f->apic, 3, &fake_ops, f);
		sw_enable(f);
		virq_lapic_mmio_write(&f->apic, rows[i].offset, rows[i].value);
		CHECK_EQ(rows[i].name, virq_lapic_mmio_read(&f->apic, rows[i].offset & ~0xfu), rows[i].want);
	}
}

static void test_software_disable_masks_lvts(void **state)
{
	struct fake *f = *state;

	sw_enable(f);
	virq_lapic_mmio_write(&f->apic, 0x350, 0x700);
	virq_lapic_mmio_write(&f->apic, 0x320, 0x20);
	assert_int_equal(virq_lapic_mmio_read(&f->apic, 0x350), 0x700);
	virq_lapic_mmio_write(&f->apic, 0xF0, 0xff);
	assert_false(virq_lapic_sw_enabled(&f->apic));
	assert_int_equal(virq_lapic_mmio_read(&f->apic, 0x350), 0x10700);
	assert_int_equal(virq_lapic_mmio_read(&f->apic, 0x320), 0x10020);
	/* While disabled an LVT cannot be unmasked. */
	virq_lapic_mmio_write(&f->apic, 0x360, 0x400);
	assert_int_equal(virq_lapic_mmio_read(&f->apic, 0x360), 0x10400);
}

static void test_accept_by_delivery_mode(void **state)
{
	static const struct {
		const char *name;
		bool enabled;
		struct virq_apic_irq irq;
		int result;
		bool irr, tmr;
		unsigned inits, sipis, arb;
	} rows[] = {
#define IRQ(v, dm, lvl, trig) { .vector = (v), .delivery_mode = (dm), .level = (lvl), .trigger_level = (trig) }
		{ .name = "fixed edge", .enabled = true, .irq = IRQ(0x41, 0, true, false), .result = 1, .irr = true },
		{ .name = "fixed level assert sets TMR", .enabled = true, .irq = IRQ(0x41, 0, true, true), .result = 1,
		  .irr = true, .tmr = true },
		{ .name = "fixed level de-assert ignored", .enabled = true, .irq = IRQ(0x41, 0, false, true) },
		{ .name = "fixed edge with assert bit clear still accepted", .enabled = true,
		  .irq = IRQ(0x41, 0, false, false), .result = 1, .irr = true },
		{ .name = "software-disabled APIC ignores", .irq = IRQ(0x41, 0, true, false) },
		{ .name = "lowest priority counts arbitration", .enabled = true, .irq = IRQ(0x41, 1, true, false),
		  .result = 1, .irr = true, .arb = 1 },
		{ .name = "lowest priority on a disabled APIC still counts", .irq = IRQ(0x41, 1, true, false), .arb = 1 },
		{ .name = "SMI ignored", .enabled = true, .irq = IRQ(0x41, 2, true, false) },
		{ .name = "remote read ignored", .enabled = true, .irq = IRQ(0x41, 3, true, false) },
		{ .name = "NMI ignored", .enabled = true, .irq = IRQ(0x41, 4, true, false) },
		{ .name = "INIT, even software-disabled", .irq = IRQ(0, 5, true, false), .result = 1, .inits = 1 },
		{ .name = "INIT level de-assert ignored", .enabled = true, .irq = IRQ(0, 5, false, true) },
		{ .name = "STARTUP", .irq = IRQ(0x9a, 6, true, false), .result = 1, .sipis = 1 },
		{ .name = "ExtINT ignored", .enabled = true, .irq = IRQ(0x41, 7, true, false) },
#undef IRQ
	};
	struct fake *f = *state;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const char *n = rows[i].name;

		*f = (struct fake){ 0 };
		virq_lapic_init(&f->apic, 3, &fake_ops, f);
		if (rows[i].enabled)
			sw_enable(f);
		CHECK_EQ(n, virq_lapic_accept(&f->apic, &rows[i].irq), rows[i].result);
		CHECK_EQ(n, (virq_lapic_mmio_read(&f->apic, 0x220) >> 1) & 1, rows[i].irr);
		CHECK_EQ(n, (virq_lapic_mmio_read(&f->apic, 0x1A0) >> 1) & 1, rows[i].tmr);
		CHECK_EQ(n, f->kicks, rows[i].irr ? 1 : 0);
		CHECK_EQ(n, f->inits, rows[i].inits);
		CHECK_EQ(n, f->sipis, rows[i].sipis);
		CHECK_EQ(n, atomic_load(&f->apic.arb_prio), rows[i].arb);
		if (rows[i].sipis)
			CHECK_EQ(n, f->sipi_vector, 0x9a);
	}
}

static void test_accept_pending_vector_is_coalesced_but_returns_1(void **state)
{
	struct fake *f = *state;
	struct virq_apic_irq irq = fixed_edge(0x55);

	sw_enable(f);
	irq.raise_ns = 100;
	assert_int_equal(virq_lapic_accept(&f->apic, &irq), 1);
	irq.raise_ns = 200;
	assert_int_equal(virq_lapic_accept(&f->apic, &irq), 1);
	assert_int_equal(atomic_load(&f->apic.stats[0x55].accepted), 1);
	assert_int_equal(atomic_load(&f->apic.stats[0x55].coalesced), 1);
	assert_int_equal(f->kicks, 2);
	assert_int_equal(virq_lapic_ack(&f->apic, 0x55), 200);
	assert_int_equal(atomic_load(&f->apic.stats[0x55].delivered), 1);
	assert_false(virq_lapic_has_irr(&f->apic));
}

static void test_edge_accept_clears_tmr(void **state)
{
	struct fake *f = *state;
	struct virq_apic_irq irq = fixed_edge(0x61);

	sw_enable(f);
	irq.trigger_level = true;
	virq_lapic_accept(&f->apic, &irq);
	assert_int_equal(virq_lapic_mmio_read(&f->apic, 0x1B0), 1u << 1);
	irq.trigger_level = false;
	virq_lapic_accept(&f->apic, &irq);
	assert_int_equal(virq_lapic_mmio_read(&f->apic, 0x1B0), 0);
}

static void test_ppr(void **state)
{
	static const struct {
		const char *name;
		uint32_t tpr;
		int isr;
		uint32_t ppr;
	} rows[] = {
		{ "idle", 0, -1, 0 },
		{ "TPR only, low nibble kept", 0x35, -1, 0x35 },
		{ "ISR class above TPR", 0x20, 0x51, 0x50 },
		{ "TPR class above ISR", 0x60, 0x51, 0x60 },
		{ "equal classes: TPR wins", 0x55, 0x5f, 0x55 },
	};
	struct fake *f = *state;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		virq_lapic_init(&f->apic, 3, &fake_ops, f);
		sw_enable(f);
		if (rows[i].isr >= 0)
			in_service(f, (uint8_t)rows[i].isr, false);
		virq_lapic_mmio_write(&f->apic, 0x80, rows[i].tpr);
		CHECK_EQ(rows[i].name, virq_lapic_ppr(&f->apic), rows[i].ppr);
		CHECK_EQ(rows[i].name, virq_lapic_mmio_read(&f->apic, 0xA0), rows[i].ppr);
	}
}

static void test_pending_vector_respects_priority(void **state)
{
	static const struct {
		const char *name;
		uint32_t tpr;
		int isr;
		uint8_t irr;
		int want;
	} rows[] = {
		{ "nothing blocks", 0, -1, 0x30, 0x30 },
		{ "TPR blocks its own class", 0x30, -1, 0x30, -1 },
		{ "TPR blocks the whole class", 0x30, -1, 0x3f, -1 },
		{ "higher class passes TPR", 0x30, -1, 0x40, 0x40 },
		{ "in-service class blocks", 0, 0x50, 0x55, -1 },
		{ "higher class than in-service", 0, 0x50, 0x61, 0x61 },
		{ "class 0 never deliverable", 0, -1, 0x0f, -1 },
	};
	struct fake *f = *state;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct virq_apic_irq irq = fixed_edge(rows[i].irr);

		virq_lapic_init(&f->apic, 3, &fake_ops, f);
		sw_enable(f);
		if (rows[i].isr >= 0)
			in_service(f, (uint8_t)rows[i].isr, false);
		virq_lapic_mmio_write(&f->apic, 0x80, rows[i].tpr);
		virq_lapic_accept(&f->apic, &irq);
		CHECK_EQ(rows[i].name, virq_lapic_pending_vector(&f->apic), rows[i].want);
		CHECK_EQ(rows[i].name, virq_lapic_has_irr(&f->apic), true);
	}
}

static void test_pending_vector_picks_highest(void **state)
{
	struct fake *f = *state;
	struct virq_apic_irq a = fixed_edge(0x41), b = fixed_edge(0xe0), c = fixed_edge(0x80);

	sw_enable(f);
	virq_lapic_accept(&f->apic, &a);
	virq_lapic_accept(&f->apic, &b);
	virq_lapic_accept(&f->apic, &c);
	assert_int_equal(virq_lapic_pending_vector(&f->apic), 0xe0);
	virq_lapic_ack(&f->apic, 0xe0);
	assert_int_equal(virq_lapic_mmio_read(&f->apic, 0x170), 1u << 0);
	/* 0x80 is below the in-service 0xe0. */
	assert_int_equal(virq_lapic_pending_vector(&f->apic), -1);
}

static void test_eoi_retires_highest_isr(void **state)
{
	struct fake *f = *state;

	sw_enable(f);
	in_service(f, 0x40, false);
	in_service(f, 0x80, false);
	assert_int_equal(virq_lapic_ppr(&f->apic), 0x80);
	assert_int_equal(virq_lapic_eoi(&f->apic, NULL), 0x80);
	assert_int_equal(virq_lapic_ppr(&f->apic), 0x40);
	assert_int_equal(virq_lapic_eoi(&f->apic, NULL), 0x40);
	assert_int_equal(virq_lapic_eoi(&f->apic, NULL), -1);
	assert_int_equal(f->apic.spurious_eoi, 1);
	/* The guest's EOI register write goes the same way. */
	virq_lapic_mmio_write(&f->apic, 0xB0, 0);
	assert_int_equal(f->apic.spurious_eoi, 2);
	assert_int_equal(atomic_load(&f->apic.stats[0x80].eoi), 1);
	assert_int_equal(f->broadcasts, 0);
}

/* KVM forwards EOIs only for vectors the IOAPIC handles; a level vector it does not watch (a level MSI)
 * is retired locally, so it cannot re-fire an edge pin that shares the vector. */
static void test_eoi_broadcast_only_for_wanted_vectors(void **state)
{
	static const struct {
		const char *name;
		bool level, wanted, mmio;
		unsigned broadcasts;
	} rows[] = {
		{ "edge, not watched", false, false, false, 0 },
		{ "edge, watched by the IOAPIC", false, true, false, 1 },
		{ "level, not watched (a level MSI)", true, false, false, 0 },
		{ "level and watched", true, true, false, 1 },
		{ "EOI register, edge watched (ops->eoi_wanted)", false, true, true, 1 },
		{ "EOI register, edge not watched", false, false, true, 0 },
		{ "EOI register, level not watched", true, false, true, 0 },
		{ "EOI register, level watched", true, true, true, 1 },
	};
	struct fake *f = *state;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const char *n = rows[i].name;

		*f = (struct fake){ 0 };
		virq_lapic_init(&f->apic, 3, &fake_ops, f);
		sw_enable(f);
		f->wanted[0x71] = rows[i].wanted;
		in_service(f, 0x71, rows[i].level);
		if (rows[i].mmio)
			virq_lapic_mmio_write(&f->apic, 0xB0, 0);
		else
			CHECK_EQ(n, virq_lapic_eoi(&f->apic, fake_eoi_wanted), 0x71);
		CHECK_EQ(n, f->broadcasts, rows[i].broadcasts);
		if (rows[i].broadcasts) {
			CHECK_EQ(n, f->bcast_vector, 0x71);
			CHECK_EQ(n, f->bcast_level, rows[i].level);
		}
	}
}

static void test_icr_write_sends_ipi(void **state)
{
	static const struct {
		const char *name;
		uint32_t high, low;
		struct virq_apic_irq want;
	} rows[] = {
		{ "fixed physical", 0x03000000, 0x000040f1,
		  { .dest_id = 3, .vector = 0xf1, .delivery_mode = 0, .level = true } },
		{ "INIT all-excluding-self", 0, 0x000c4500,
		  { .vector = 0, .delivery_mode = 5, .shorthand = 3, .level = true } },
		{ "INIT level de-assert", 0, 0x00088500,
		  { .delivery_mode = 5, .shorthand = 2, .trigger_level = true } },
		{ "STARTUP to logical 0x0f", 0x0f000000, 0x00004e9a,
		  { .dest_id = 0x0f, .vector = 0x9a, .delivery_mode = 6, .dest_logical = true, .level = true } },
		{ "lowest priority, self", 0, 0x00041130,
		  { .vector = 0x30, .delivery_mode = 1, .shorthand = 1 } },
		{ "busy bit ignored", 0x01000000, 0x00001020, { .dest_id = 1, .vector = 0x20 } },
	};
	struct fake *f = *state;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const char *n = rows[i].name;

		f->ipis = 0;
		virq_lapic_mmio_write(&f->apic, 0x310, rows[i].high);
		virq_lapic_mmio_write(&f->apic, 0x300, rows[i].low);
		CHECK_EQ(n, f->ipis, 1);
		CHECK_EQ(n, f->ipi.dest_id, rows[i].want.dest_id);
		CHECK_EQ(n, f->ipi.vector, rows[i].want.vector);
		CHECK_EQ(n, f->ipi.delivery_mode, rows[i].want.delivery_mode);
		CHECK_EQ(n, f->ipi.shorthand, rows[i].want.shorthand);
		CHECK_EQ(n, f->ipi.dest_logical, rows[i].want.dest_logical);
		CHECK_EQ(n, f->ipi.trigger_level, rows[i].want.trigger_level);
		CHECK_EQ(n, f->ipi.level, rows[i].want.level);
		CHECK_EQ(n, f->ipi.msi_redir_hint, false);
		/* Delivery status (bit 12) always reads 0. */
		CHECK_EQ(n, virq_lapic_mmio_read(&f->apic, 0x300), rows[i].low & ~0x1000u);
	}
}

static void test_reset_keeps_id_and_clears_state(void **state)
{
	struct fake *f = *state;
	struct virq_apic_irq irq = fixed_edge(0x90);

	sw_enable(f);
	virq_lapic_mmio_write(&f->apic, 0x20, 0x07000000);
	virq_lapic_mmio_write(&f->apic, 0xD0, 0x01000000);
	in_service(f, 0x50, true);
	virq_lapic_accept(&f->apic, &irq);
	virq_lapic_reset(&f->apic);
	assert_int_equal(virq_lapic_id(&f->apic), 7);
	assert_false(virq_lapic_sw_enabled(&f->apic));
	assert_false(virq_lapic_has_irr(&f->apic));
	assert_int_equal(virq_lapic_mmio_read(&f->apic, 0x120), 0);
	assert_int_equal(virq_lapic_mmio_read(&f->apic, 0x1A0), 0);
	assert_int_equal(virq_lapic_mmio_read(&f->apic, 0xD0), 0);
	assert_int_equal(virq_lapic_mmio_read(&f->apic, 0xE0), 0xffffffff);
	assert_int_equal(virq_lapic_eoi(&f->apic, NULL), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reset_register_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bsp_lint0_extint_quirk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_register_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_software_disable_masks_lvts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_accept_by_delivery_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_accept_pending_vector_is_coalesced_but_returns_1, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_edge_accept_clears_tmr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ppr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pending_vector_respects_priority, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pending_vector_picks_highest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eoi_retires_highest_isr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eoi_broadcast_only_for_wanted_vectors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_icr_write_sends_ipi, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_keeps_id_and_clears_state, setup, teardown),
	};

	return cmocka_run_group_tests_name("lapic", tests, NULL, NULL);
}
