/* SPDX-License-Identifier: MIT */
/*
 * test_ioapic.c - unit tests of src/irqchip/x86/ioapic.c: register model (IOREGSEL/IOWIN, indirect
 * registers, read-only bits, out-of-range indexes), the pin state machine and its KVM_IRQ_LINE_STATUS
 * results, EOI broadcast with unlocked ack notifiers, the successive-EOI storm guard, resample-on-unmask,
 * the EOI-vector set and KVM_GET/SET_IRQCHIP. The engine is replaced by fake ops that record every call.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "irqchip/x86/ioapic.h"

#define CHECK_EQ(name, got, want)                                                                       \
	do {                                                                                            \
		long long g_ = (long long)(got), w_ = (long long)(want);                                \
		if (g_ != w_)                                                                           \
			fail_msg("%s: %s = %#llx, want %#llx", (name), #got, g_, w_);                  \
	} while (0)

#define REDTBL_LO(pin) (0x10 + 2 * (pin))
#define REDTBL_HI(pin) (0x11 + 2 * (pin))
#define LEVEL (1u << 15)
#define MASKED (1u << 16)
#define REMOTE_IRR (1u << 14)
#define DELIVERY_STATUS (1u << 12)

enum ack_action { ACK_NOTHING, ACK_RESAMPLE, ACK_REASSERT };

struct fake {
	struct virq_ioapic io;
	int deliver_result;
	unsigned delivers;
	struct virq_apic_irq last;
	unsigned acks;
	unsigned ack_pins[8];
	enum ack_action ack_action;
	bool ack_saw_lock_free;
	bool resampler[VIRQ_IOAPIC_NUM_PINS];
	unsigned resamples, resample_pin;
	unsigned timers;
	uint64_t timer_delay;
};

static int fake_deliver(void *opaque, const struct virq_apic_irq *irq)
{
	struct fake *f = opaque;

	f->delivers++;
	f->last = *irq;
	return f->deliver_result;
}

/* A resampler as the engine has one: de-assert source 1, and (here) let its user re-trigger at once. */
static void fake_ack(void *opaque, unsigned pin)
{
	struct fake *f = opaque;

	if (f->acks < 8)
		f->ack_pins[f->acks] = pin;
	f->acks++;
	f->ack_saw_lock_free = pthread_mutex_trylock(&f->io.lock) == 0;
	if (f->ack_saw_lock_free)
		pthread_mutex_unlock(&f->io.lock);
	else
		fail_msg("ack notifier of pin %u called with the IOAPIC lock held", pin); /* re-entry would hang */
	if (f->ack_action == ACK_NOTHING)
		return;
	virq_ioapic_set_irq(&f->io, pin, VIRQ_IRQ_SOURCE_RESAMPLE, false);
	if (f->ack_action == ACK_REASSERT)
		virq_ioapic_set_irq(&f->io, pin, VIRQ_IRQ_SOURCE_RESAMPLE, true);
}

/* Resample on unmask: only notify (record the pin and that the lock was free). */
static void fake_resample(void *opaque, unsigned pin)
{
	struct fake *f = opaque;

	f->resample_pin = pin;
	f->resamples++;
	f->ack_saw_lock_free = pthread_mutex_trylock(&f->io.lock) == 0;
	if (f->ack_saw_lock_free)
		pthread_mutex_unlock(&f->io.lock);
	else
		fail_msg("resample of pin %u called with the IOAPIC lock held", pin);
}

static bool fake_has_resampler(void *opaque, unsigned pin)
{
	return ((struct fake *)opaque)->resampler[pin];
}

static void fake_arm_timer(void *opaque, uint64_t delay_ns)
{
	struct fake *f = opaque;

	f->timers++;
	f->timer_delay = delay_ns;
}

static const struct virq_ioapic_ops fake_ops = {
	.deliver = fake_deliver,
	.ack = fake_ack,
	.resample = fake_resample,
	.has_resampler = fake_has_resampler,
	.arm_timer = fake_arm_timer,
};

static int setup(void **state)
{
	struct fake *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->deliver_result = 1;
	if (virq_ioapic_init(&f->io, &fake_ops, f)) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fake *f = *state;

	virq_ioapic_destroy(&f->io);
	free(f);
	return 0;
}

static void write_reg(struct fake *f, uint32_t index, uint32_t value)
{
	virq_ioapic_mmio_write(&f->io, 0x00, 4, index);
	virq_ioapic_mmio_write(&f->io, 0x10, 4, value);
}

static uint32_t read_reg(struct fake *f, uint32_t index)
{
	virq_ioapic_mmio_write(&f->io, 0x00, 4, index);
	return (uint32_t)virq_ioapic_mmio_read(&f->io, 0x10, 4);
}

/* Program @pin: @vector, @flags (LEVEL, MASKED), physical destination @dest. */
static void program_pin(struct fake *f, unsigned pin, uint8_t vector, uint32_t flags, uint8_t dest)
{
	write_reg(f, REDTBL_HI(pin), (uint32_t)dest << 24);
	write_reg(f, REDTBL_LO(pin), vector | flags);
}

static bool remote_irr(struct fake *f, unsigned pin)
{
	return read_reg(f, REDTBL_LO(pin)) & REMOTE_IRR;
}

static uint32_t saved_irr(struct fake *f)
{
	struct kvm_ioapic_state st;

	virq_ioapic_get_state(&f->io, &st);
	return st.irr;
}

static void test_indirect_registers_at_reset(void **state)
{
	static const struct {
		const char *name;
		uint32_t index, want;
	} rows[] = {
		{ "ID", 0x00, 0 },
		{ "version: 24 entries, version 0x11", 0x01, 0x00170011 },
		{ "arbitration", 0x02, 0 },
		{ "0x03 is below the table: all-ones", 0x03, 0xffffffff },
		{ "0x0f: all-ones", 0x0f, 0xffffffff },
		{ "pin 0 low: masked", 0x10, 0x00010000 },
		{ "pin 0 high", 0x11, 0 },
		{ "pin 23 low: masked", 0x3e, 0x00010000 },
		{ "pin 23 high", 0x3f, 0 },
		{ "index 24 (CVE-2013-1798): all-ones", 0x40, 0xffffffff },
		{ "index 24 high: all-ones", 0x41, 0xffffffff },
		{ "0xff: all-ones", 0xff, 0xffffffff },
	};
	struct fake *f = *state;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		CHECK_EQ(rows[i].name, read_reg(f, rows[i].index), rows[i].want);
}

static void test_every_ioregsel_is_safe(void **state)
{
	struct fake *f = *state;
	struct kvm_ioapic_state before, after;

	virq_ioapic_get_state(&f->io, &before);
	/* Writes through every out-of-table index must not touch the table. */
	for (uint32_t sel = 0x40; sel < 0x100; sel++) {
		write_reg(f, sel, 0);
		assert_int_equal(read_reg(f, sel), 0xffffffff);
	}
	virq_ioapic_get_state(&f->io, &after);
	for (unsigned pin = 0; pin < VIRQ_IOAPIC_NUM_PINS; pin++)
		assert_int_equal(after.redirtbl[pin].bits, before.redirtbl[pin].bits);
	/* IOREGSEL keeps 8 bits. */
	virq_ioapic_mmio_write(&f->io, 0x00, 4, 0x1234);
	assert_int_equal(virq_ioapic_mmio_read(&f->io, 0x00, 4), 0x34);
}

static void test_direct_registers(void **state)
{
	static const struct {
		const char *name;
		uint64_t offset;
		unsigned len;
		uint64_t want;
	} rows[] = {
		{ "IOREGSEL", 0x00, 4, 0x01 },
		{ "IOWIN 4 bytes", 0x10, 4, 0x00170011 },
		{ "IOWIN 1 byte", 0x10, 1, 0x11 },
		{ "IOWIN 2 bytes", 0x10, 2, 0x0011 },
		{ "IOWIN 8 bytes: zero-extended", 0x10, 8, 0x00170011 },
		{ "no EOI register at 0x40", 0x40, 4, 0 },
		{ "0x20 reads 0", 0x20, 4, 0 },
		{ "unaligned 0x11 reads 0", 0x11, 4, 0 },
		{ "bad length", 0x10, 3, 0 },
	};
	struct fake *f = *state;

	virq_ioapic_mmio_write(&f->io, 0x00, 4, 0x01);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		CHECK_EQ(rows[i].name, virq_ioapic_mmio_read(&f->io, rows[i].offset, rows[i].len), rows[i].want);
	/* Writes elsewhere are ignored: IOREGSEL is unchanged. */
	virq_ioapic_mmio_write(&f->io, 0x40, 4, 0x10);
	virq_ioapic_mmio_write(&f->io, 0x00, 3, 0x10);
	assert_int_equal(virq_ioapic_mmio_read(&f->io, 0x00, 4), 0x01);
	/* An 8-byte write uses the low 32 bits. */
	virq_ioapic_mmio_write(&f->io, 0x00, 8, 0xffffffff00000012ull);
	assert_int_equal(virq_ioapic_mmio_read(&f->io, 0x00, 4), 0x12);
}

static void test_id_version_arbitration(void **state)
{
	struct fake *f = *state;

	write_reg(f, 0x00, 0xff000000 | 0x00abcdef);
	assert_int_equal(read_reg(f, 0x00), 0x0f000000);
	assert_int_equal(read_reg(f, 0x02), 0x0f000000);
	write_reg(f, 0x01, 0);
	write_reg(f, 0x02, 0);
	assert_int_equal(read_reg(f, 0x01), 0x00170011);
	assert_int_equal(read_reg(f, 0x02), 0x0f000000);
}

static void test_redirection_read_only_bits(void **state)
{
	struct fake *f = *state;

	program_pin(f, 5, 0x45, LEVEL, 1);
	assert_int_equal(virq_ioapic_set_irq(&f->io, 5, 0, true), 1);
	assert_true(remote_irr(f, 5));
	/* Remote IRR and delivery status cannot be written; everything else sticks (polarity too). */
	write_reg(f, REDTBL_LO(5), 0x46 | LEVEL | DELIVERY_STATUS | (1u << 13) | (1u << 11) | (3u << 8));
	assert_int_equal(read_reg(f, REDTBL_LO(5)), 0x46 | LEVEL | REMOTE_IRR | (1u << 13) | (1u << 11) | (3u << 8));
	write_reg(f, REDTBL_HI(5), 0xffffffff);
	assert_int_equal(read_reg(f, REDTBL_HI(5)), 0xffffffff);
	/* Switching to edge clears remote IRR (OSes use this as an EOI). */
	write_reg(f, REDTBL_LO(5), 0x46);
	assert_false(remote_irr(f, 5));
}

/* One step of a pin scenario: an action and the result/deliveries it must produce. */
enum step_kind { SET, UNMASK, MASK, EOI, EOI_EDGE };

struct step {
	enum step_kind kind;
	unsigned source;
	bool level;
	int result;         /* SET only */
	unsigned delivers;  /* total deliveries after the step */
	bool remote_irr;    /* after the step */
};

static void run_pin_scenario(struct fake *f, const char *name, uint32_t flags, const struct step *steps,
			     size_t n)
{
	const unsigned pin = 7;

	program_pin(f, pin, 0x57, flags, 2);
	for (size_t i = 0; i < n; i++) {
		const struct step *s = &steps[i];

		switch (s->kind) {
		case SET:
			CHECK_EQ(name, virq_ioapic_set_irq(&f->io, pin, s->source, s->level), s->result);
			break;
		case UNMASK:
			write_reg(f, REDTBL_LO(pin), 0x57 | (flags & ~MASKED));
			break;
		case MASK:
			write_reg(f, REDTBL_LO(pin), 0x57 | flags | MASKED);
			break;
		case EOI:
		case EOI_EDGE:
			virq_ioapic_eoi(&f->io, 0x57, s->kind == EOI);
			break;
		}
		if (f->delivers != s->delivers || remote_irr(f, pin) != s->remote_irr)
			fail_msg("%s, step %zu: delivers %u (want %u), remote IRR %d (want %d)", name, i, f->delivers,
				 s->delivers, remote_irr(f, pin), s->remote_irr);
	}
}

#define RUN(f, name, flags, ...)                                                                        \
	do {                                                                                            \
		const struct step steps_[] = { __VA_ARGS__ };                                          \
		run_pin_scenario((f), (name), (flags), steps_, sizeof(steps_) / sizeof(steps_[0]));    \
	} while (0)

static void test_edge_pin(void **state)
{
	struct fake *f = *state;

	RUN(f, "edge: assert delivers, repeat coalesces, de-assert returns 1", 0,
	    { .kind = SET, .level = true, .result = 1, .delivers = 1 },
	    { .kind = SET, .level = true, .result = 0, .delivers = 1 },
	    { .kind = SET, .level = false, .result = 1, .delivers = 1 },
	    { .kind = SET, .level = true, .result = 1, .delivers = 2 },
	    { .kind = SET, .level = false, .result = 1, .delivers = 2 });
	assert_int_equal(atomic_load(&f->io.stats[7].coalesced), 1);
	assert_int_equal(atomic_load(&f->io.stats[7].delivered), 2);
	assert_int_equal(atomic_load(&f->io.stats[7].asserted), 2);
	assert_int_equal(f->last.vector, 0x57);
	assert_int_equal(f->last.dest_id, 2);
	assert_false(f->last.trigger_level);
	assert_true(f->last.level);
}

static void test_masked_edge_is_lost(void **state)
{
	struct fake *f = *state;

	RUN(f, "masked edge", MASKED,
	    { .kind = SET, .level = true, .result = -1, .delivers = 0 },
	    { .kind = SET, .level = false, .result = 1, .delivers = 0 },
	    { .kind = UNMASK, .delivers = 0 });
	assert_int_equal(atomic_load(&f->io.stats[7].masked), 1);
}

static void test_level_pending_while_masked(void **state)
{
	struct fake *f = *state;

	RUN(f, "level masked then unmasked", LEVEL | MASKED,
	    { .kind = SET, .level = true, .result = -1, .delivers = 0 },
	    { .kind = UNMASK, .delivers = 1, .remote_irr = true });
	assert_int_equal(f->acks, 0);
	assert_true(f->last.trigger_level);
}

static void test_remote_irr_blocks_until_eoi(void **state)
{
	struct fake *f = *state;

	RUN(f, "level with remote IRR", LEVEL,
	    { .kind = SET, .level = true, .result = 1, .delivers = 1, .remote_irr = true },
	    { .kind = SET, .level = true, .result = -1, .delivers = 1, .remote_irr = true },
	    { .kind = SET, .level = false, .result = 1, .delivers = 1, .remote_irr = true },
	    { .kind = SET, .level = true, .result = -1, .delivers = 1, .remote_irr = true },
	    /* EOI while the line is still high: re-delivered at once. */
	    { .kind = EOI, .delivers = 2, .remote_irr = true },
	    { .kind = SET, .level = false, .result = 1, .delivers = 2, .remote_irr = true },
	    /* EOI with the line low: remote IRR clears, nothing more. */
	    { .kind = EOI, .delivers = 2, .remote_irr = false },
	    { .kind = SET, .level = true, .result = 1, .delivers = 3, .remote_irr = true });
	assert_int_equal(atomic_load(&f->io.stats[7].eoi), 2);
	assert_int_equal(f->acks, 2);
	assert_int_equal(f->ack_pins[0], 7);
}

static void test_edge_eoi_leaves_remote_irr(void **state)
{
	struct fake *f = *state;

	RUN(f, "edge-mode EOI of a level pin", LEVEL,
	    { .kind = SET, .level = true, .result = 1, .delivers = 1, .remote_irr = true },
	    { .kind = EOI_EDGE, .delivers = 1, .remote_irr = true });
	assert_int_equal(f->acks, 1);
}

static void test_sources_are_ored(void **state)
{
	struct fake *f = *state;

	RUN(f, "two sources on a level pin", LEVEL,
	    { .kind = SET, .source = 0, .level = true, .result = 1, .delivers = 1, .remote_irr = true },
	    { .kind = SET, .source = 1, .level = true, .result = -1, .delivers = 1, .remote_irr = true },
	    /* Source 1 drops but source 0 keeps the line high: the pin sees another assert. */
	    { .kind = SET, .source = 1, .level = false, .result = -1, .delivers = 1, .remote_irr = true },
	    { .kind = SET, .source = 0, .level = false, .result = 1, .delivers = 1, .remote_irr = true },
	    { .kind = EOI, .delivers = 1, .remote_irr = false });
}

static void test_delivery_results_and_remote_irr(void **state)
{
	static const struct {
		const char *name;
		int deliver_result;
		bool remote_irr;
	} rows[] = {
		{ "accepted by one", 1, true },
		{ "accepted by three", 3, true },
		{ "matched but ignored: 0, no remote IRR", 0, false },
		{ "[Q] nobody matched: -1 still sets remote IRR", -1, true },
	};
	struct fake *f = *state;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		virq_ioapic_set_irq(&f->io, 9, 0, false);
		program_pin(f, 9, 0x69, 0, 0); /* edge first: clears remote IRR */
		program_pin(f, 9, 0x69, LEVEL, 0);
		f->deliver_result = rows[i].deliver_result;
		CHECK_EQ(rows[i].name, virq_ioapic_set_irq(&f->io, 9, 0, true), rows[i].deliver_result);
		CHECK_EQ(rows[i].name, remote_irr(f, 9), rows[i].remote_irr);
	}
}

static void test_any_redirection_write_reservices_pending_level(void **state)
{
	struct fake *f = *state;

	/* Nobody accepted the first delivery, so IRR is set and remote IRR clear. */
	program_pin(f, 4, 0x44, LEVEL, 1);
	f->deliver_result = 0;
	assert_int_equal(virq_ioapic_set_irq(&f->io, 4, 0, true), 0);
	f->deliver_result = 1;
	/* KVM re-evaluates on every redirection write, e.g. a new destination. */
	write_reg(f, REDTBL_HI(4), 2u << 24);
	assert_int_equal(f->delivers, 2);
	assert_int_equal(f->last.dest_id, 2);
	assert_true(remote_irr(f, 4));
}

static void test_bad_arguments(void **state)
{
	struct fake *f = *state;

	assert_int_equal(virq_ioapic_set_irq(&f->io, VIRQ_IOAPIC_NUM_PINS, 0, true), -EINVAL);
	assert_int_equal(virq_ioapic_set_irq(&f->io, 0, sizeof(unsigned long) * 8, true), -EINVAL);
	assert_int_equal(f->delivers, 0);
}

static void test_eoi_by_vector_across_pins(void **state)
{
	struct fake *f = *state;

	program_pin(f, 3, 0x50, LEVEL, 0);
	program_pin(f, 11, 0x50, 0, 0);
	program_pin(f, 12, 0x51, LEVEL, 0);
	virq_ioapic_set_irq(&f->io, 3, 0, true);
	virq_ioapic_set_irq(&f->io, 3, 0, false);
	virq_ioapic_eoi(&f->io, 0x50, true);
	assert_int_equal(f->acks, 2);
	assert_int_equal(f->ack_pins[0], 3);
	assert_int_equal(f->ack_pins[1], 11);
	assert_false(remote_irr(f, 3));
	assert_int_equal(atomic_load(&f->io.stats[12].eoi), 0);
}

static void test_ack_runs_unlocked_and_may_reassert(void **state)
{
	struct fake *f = *state;

	/* A resampling irqfd whose device is still pending re-triggers from inside the notifier. */
	f->resampler[6] = true;
	virq_ioapic_notifiers_changed(&f->io);
	program_pin(f, 6, 0x66, LEVEL, 0);
	f->ack_action = ACK_REASSERT;
	assert_int_equal(virq_ioapic_set_irq(&f->io, 6, VIRQ_IRQ_SOURCE_RESAMPLE, true), 1);
	virq_ioapic_eoi(&f->io, 0x66, true);
	assert_true(f->ack_saw_lock_free);
	/* The re-assert met remote IRR (-1); the EOI tail then cleared it and re-serviced. */
	assert_int_equal(f->delivers, 2);
	assert_true(remote_irr(f, 6));
	/* Device quiet now: the resampler only de-asserts. */
	f->ack_action = ACK_RESAMPLE;
	virq_ioapic_eoi(&f->io, 0x66, true);
	assert_int_equal(f->delivers, 2);
	assert_false(remote_irr(f, 6));
	assert_int_equal(saved_irr(f) & (1u << 6), 0);
}

static void test_storm_guard(void **state)
{
	struct fake *f = *state;

	program_pin(f, 2, 0x22, LEVEL, 0);
	assert_int_equal(virq_ioapic_set_irq(&f->io, 2, 0, true), 1);
	/* The line never drops: 9,999 EOIs re-deliver at once... */
	for (unsigned i = 1; i < VIRQ_IOAPIC_SUCCESSIVE_EOI_LIMIT; i++)
		virq_ioapic_eoi(&f->io, 0x22, true);
	assert_int_equal(f->delivers, VIRQ_IOAPIC_SUCCESSIVE_EOI_LIMIT);
	assert_int_equal(f->timers, 0);
	/* ...the 10,000th is delayed by HZ/100 instead. */
	virq_ioapic_eoi(&f->io, 0x22, true);
	assert_int_equal(f->delivers, VIRQ_IOAPIC_SUCCESSIVE_EOI_LIMIT);
	assert_int_equal(f->timers, 1);
	assert_int_equal(f->timer_delay, VIRQ_IOAPIC_STORM_DELAY_NS);
	assert_int_equal(atomic_load(&f->io.stats[2].storm_delays), 1);
	assert_false(remote_irr(f, 2));
	/* The timer re-services the still-pending pin. */
	virq_ioapic_storm_timer(&f->io);
	assert_int_equal(f->delivers, VIRQ_IOAPIC_SUCCESSIVE_EOI_LIMIT + 1);
	assert_true(remote_irr(f, 2));
	/* The counter restarted: the next EOI re-delivers immediately. */
	virq_ioapic_eoi(&f->io, 0x22, true);
	assert_int_equal(f->delivers, VIRQ_IOAPIC_SUCCESSIVE_EOI_LIMIT + 2);
	assert_int_equal(f->timers, 1);
}

static void test_storm_counter_resets_when_line_low(void **state)
{
	struct fake *f = *state;

	program_pin(f, 2, 0x22, LEVEL, 0);
	virq_ioapic_set_irq(&f->io, 2, 0, true);
	for (unsigned i = 0; i < VIRQ_IOAPIC_SUCCESSIVE_EOI_LIMIT / 2; i++)
		virq_ioapic_eoi(&f->io, 0x22, true);
	virq_ioapic_set_irq(&f->io, 2, 0, false);
	virq_ioapic_eoi(&f->io, 0x22, true); /* finds the line low: counter back to 0 */
	virq_ioapic_set_irq(&f->io, 2, 0, true);
	for (unsigned i = 1; i < VIRQ_IOAPIC_SUCCESSIVE_EOI_LIMIT; i++)
		virq_ioapic_eoi(&f->io, 0x22, true);
	assert_int_equal(f->timers, 0);
	assert_true(remote_irr(f, 2));
}

static void test_storm_timer_skips_masked_and_edge(void **state)
{
	struct fake *f = *state;

	program_pin(f, 1, 0x21, LEVEL | MASKED, 0);
	program_pin(f, 2, 0x22, 0, 0);
	virq_ioapic_set_irq(&f->io, 1, 0, true);
	virq_ioapic_set_irq(&f->io, 2, 0, true);
	assert_int_equal(f->delivers, 1);
	virq_ioapic_storm_timer(&f->io);
	assert_int_equal(f->delivers, 1);
}

static void test_unmask_resamples_instead_of_injecting(void **state)
{
	static const struct {
		const char *name;
		bool resampler;
		unsigned delivers, resamples;
		bool irr_after;
	} rows[] = {
		{ "with a resampler: notify, clear IRR, no injection", true, 0, 1, false },
		{ "without: inject the pending interrupt", false, 1, 0, true },
	};
	struct fake *f = *state;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const char *n = rows[i].name;

		virq_ioapic_destroy(&f->io);
		*f = (struct fake){ .deliver_result = 1 };
		assert_int_equal(virq_ioapic_init(&f->io, &fake_ops, f), 0);
		f->resampler[8] = rows[i].resampler;
		f->ack_action = ACK_NOTHING;
		program_pin(f, 8, 0x88, LEVEL | MASKED, 0);
		CHECK_EQ(n, virq_ioapic_set_irq(&f->io, 8, VIRQ_IRQ_SOURCE_RESAMPLE, true), -1);
		write_reg(f, REDTBL_LO(8), 0x88 | LEVEL);
		CHECK_EQ(n, f->delivers, rows[i].delivers);
		CHECK_EQ(n, f->resamples, rows[i].resamples);
		CHECK_EQ(n, f->acks, 0); /* no de-assert: the ack notifier proper is for EOIs */
		CHECK_EQ(n, (saved_irr(f) >> 8) & 1, rows[i].irr_after);
		if (rows[i].resamples) {
			CHECK_EQ(n, f->resample_pin, 8);
			CHECK_EQ(n, f->ack_saw_lock_free, true);
			/* The source bits are left alone: a re-trigger is a fresh assert that delivers. */
			CHECK_EQ(n, virq_ioapic_set_irq(&f->io, 8, VIRQ_IRQ_SOURCE_RESAMPLE, true), 1);
		}
	}
}

static void test_eoi_vectors(void **state)
{
	struct fake *f = *state;

	program_pin(f, 0, 0x40, LEVEL, 0);
	program_pin(f, 1, 0x41, 0, 0);
	program_pin(f, 2, 0x42, 0, 0);
	program_pin(f, 3, 0x43, LEVEL | MASKED, 0);
	assert_true(virq_ioapic_wants_eoi(&f->io, 0x40));
	assert_false(virq_ioapic_wants_eoi(&f->io, 0x41));
	assert_false(virq_ioapic_wants_eoi(&f->io, 0x42));
	assert_true(virq_ioapic_wants_eoi(&f->io, 0x43));
	/* An ack notifier on an edge pin makes its EOIs wanted. */
	f->resampler[2] = true;
	virq_ioapic_notifiers_changed(&f->io);
	assert_true(virq_ioapic_wants_eoi(&f->io, 0x42));
	/* Re-programming recomputes: pin 0 goes edge, pin 3 changes vector. */
	program_pin(f, 0, 0x40, 0, 0);
	program_pin(f, 3, 0xe3, LEVEL, 0);
	assert_false(virq_ioapic_wants_eoi(&f->io, 0x40));
	assert_false(virq_ioapic_wants_eoi(&f->io, 0x43));
	assert_true(virq_ioapic_wants_eoi(&f->io, 0xe3));
	f->resampler[2] = false;
	virq_ioapic_notifiers_changed(&f->io);
	assert_false(virq_ioapic_wants_eoi(&f->io, 0x42));
}

static void test_get_set_state(void **state)
{
	struct fake *f = *state;
	struct kvm_ioapic_state st;

	write_reg(f, 0x00, 0x05000000);
	program_pin(f, 1, 0x31, 0, 0);     /* edge, delivered: not reported pending */
	program_pin(f, 2, 0x32, LEVEL, 0); /* level, delivered: pending with remote IRR */
	program_pin(f, 3, 0x33, LEVEL | MASKED, 0);
	virq_ioapic_set_irq(&f->io, 1, 0, true);
	virq_ioapic_set_irq(&f->io, 2, 0, true);
	virq_ioapic_set_irq(&f->io, 3, 0, true);
	virq_ioapic_get_state(&f->io, &st);
	assert_int_equal(st.irr, (1u << 2) | (1u << 3));
	assert_int_equal(st.id, 5);
	assert_int_equal(st.base_address, VIRQ_IOAPIC_BASE);
	assert_int_equal(st.redirtbl[2].fields.remote_irr, 1);

	/* Restore with pin 3 unmasked and remote IRR clear on pin 2: both pending lines are replayed. */
	st.redirtbl[2].fields.remote_irr = 0;
	st.redirtbl[3].fields.mask = 0;
	f->delivers = 0;
	virq_ioapic_set_state(&f->io, &st);
	assert_int_equal(f->delivers, 2);
	assert_true(remote_irr(f, 2));
	assert_true(remote_irr(f, 3));
	assert_true(virq_ioapic_wants_eoi(&f->io, 0x33));
	assert_int_equal(read_reg(f, 0x00), 0x05000000);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_indirect_registers_at_reset),
		T(test_every_ioregsel_is_safe),
		T(test_direct_registers),
		T(test_id_version_arbitration),
		T(test_redirection_read_only_bits),
		T(test_edge_pin),
		T(test_masked_edge_is_lost),
		T(test_level_pending_while_masked),
		T(test_remote_irr_blocks_until_eoi),
		T(test_edge_eoi_leaves_remote_irr),
		T(test_sources_are_ored),
		T(test_delivery_results_and_remote_irr),
		T(test_any_redirection_write_reservices_pending_level),
		T(test_bad_arguments),
		T(test_eoi_by_vector_across_pins),
		T(test_ack_runs_unlocked_and_may_reassert),
		T(test_storm_guard),
		T(test_storm_counter_resets_when_line_low),
		T(test_storm_timer_skips_masked_and_edge),
		T(test_unmask_resamples_instead_of_injecting),
		T(test_eoi_vectors),
		T(test_get_set_state),
	};
#undef T

	return cmocka_run_group_tests_name("ioapic", tests, NULL, NULL);
}
