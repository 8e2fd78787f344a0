/* SPDX-License-Identifier: MIT */
/*
 * test_its.c - unit tests of the ITS model (src/irqchip/arm/its*.c) and the LPI side of the GICv3:
 * registers and their KVM rules, LPI configuration and pending tables, every command's effect and the
 * rules under which KVM ignores it, the translation cache's hits, misses and each invalidation, MSI
 * result codes, the scenario (64 devices x 32 events over 2 collections, then DISCARD, MOVI and
 * MAPD V=0) and save -> fresh GIC and ITS -> restore. Guest RAM and kicks are faked (fake_guest.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "fake_guest.h"
#include "irqchip/arm/its_internal.h" /* lookups, to check state directly (single thread: no lock needed) */

#define NR_VCPUS 4
#define PROP_BASE 0x10000ull
#define PEND_BASE(v) (0x20000ull + (uint64_t)(v) * 0x10000)
#define DEV_TABLE 0x100000ull
#define COLL_TABLE 0x110000ull
#define CMDQ_BASE 0x120000ull
#define CMDQ_PAGES 16 /* 64 KiB queue */
#define ITT_BASE 0x140000ull
#define ITT(d) (ITT_BASE + (uint64_t)(d) * 0x100)
#define LPI(d, e) (8192u + (d) * 32u + (e))
#define PRIO_ENABLED 0xa1
#define VALID (1ull << 63)

struct fix {
	struct fake f;
	struct virq_its its;
};

enum { MOVI = 1, INT = 3, CLEAR = 4, SYNC = 5, MAPD = 8, MAPC = 9, MAPTI = 10, MAPI = 11, INV = 12,
       INVALL = 13, MOVALL = 14, DISCARD = 15 };

/* The redistributors and distributor as a Linux guest programs them before using the ITS. */
static void program_gic(struct fix *x)
{
	struct virq_gic *gic = &x->f.gic;

	memset(x->f.ram + PROP_BASE, PRIO_ENABLED, 0x10000);
	virq_gic_dist_write(gic, 0x0, 4, 2);
	virq_gic_redist_write(gic, 0, 0x70, 8, PROP_BASE | 15);
	for (unsigned v = 0; v < NR_VCPUS; v++) {
		virq_gic_redist_write(gic, v, 0x78, 8, PEND_BASE(v));
		virq_gic_redist_write(gic, v, 0x0, 4, 1);
		virq_gic_icc_write(gic, v, VIRQ_ICC_PMR, 0xff);
		virq_gic_icc_write(gic, v, VIRQ_ICC_IGRPEN1, 1);
	}
}

static void program_its(struct fix *x, bool enable)
{
	virq_its_mmio_write(&x->its, 0x100, 8, VALID | DEV_TABLE);
	virq_its_mmio_write(&x->its, 0x108, 8, VALID | COLL_TABLE);
	virq_its_mmio_write(&x->its, 0x80, 8, VALID | CMDQ_BASE | (CMDQ_PAGES - 1));
	if (enable)
		virq_its_mmio_write(&x->its, 0x0, 4, 1);
}

static int setup(void **state)
{
	struct fix *x = calloc(1, sizeof(*x));

	assert_non_null(x);
	assert_int_equal(virq_gic_init(&x->f.gic, NR_VCPUS, 64, &fake_ops, &x->f), 0);
	assert_int_equal(virq_its_init(&x->its, &x->f.gic), 0);
	virq_its_set_base(&x->its, 0x8080000);
	*state = x;
	return 0;
}

static int setup_ready(void **state)
{
	struct fix *x;

	setup(state);
	x = *state;
	program_gic(x);
	program_its(x, true);
	return 0;
}

static int teardown(void **state)
{
	struct fix *x = *state;

	virq_its_destroy(&x->its);
	virq_gic_destroy(&x->f.gic);
	free(x);
	return 0;
}

/* Queue one command at CWRITER and advance it (processed synchronously if enabled). */
static void cmd(struct fix *x, uint64_t dw0, uint64_t dw1, uint64_t dw2, uint64_t dw3)
{
	uint64_t cw = virq_its_mmio_read(&x->its, 0x88, 8);
	uint64_t base = virq_its_mmio_read(&x->its, 0x80, 8) & 0x000fffffffff0000ull;
	uint64_t size = ((virq_its_mmio_read(&x->its, 0x80, 8) & 0xff) + 1) << 12;

	put_le64(x->f.ram + base + cw, dw0);
	put_le64(x->f.ram + base + cw + 8, dw1);
	put_le64(x->f.ram + base + cw + 16, dw2);
	put_le64(x->f.ram + base + cw + 24, dw3);
	virq_its_mmio_write(&x->its, 0x88, 8, (cw + 32) % size);
}

static void mapd(struct fix *x, uint32_t dev, unsigned bits, uint64_t itt, bool v)
{
	cmd(x, (uint64_t)dev << 32 | MAPD, bits - 1, (v ? VALID : 0) | itt, 0);
}
static void mapc(struct fix *x, uint32_t icid, uint32_t rd, bool v)
{
	cmd(x, MAPC, 0, (v ? VALID : 0) | (uint64_t)rd << 16 | icid, 0);
}
static void mapti(struct fix *x, uint32_t dev, uint32_t ev, uint32_t intid, uint32_t icid)
{
	cmd(x, (uint64_t)dev << 32 | MAPTI, (uint64_t)intid << 32 | ev, icid, 0);
}
static void devev(struct fix *x, unsigned op, uint32_t dev, uint32_t ev, uint32_t icid)
{
	cmd(x, (uint64_t)dev << 32 | op, ev, icid, 0);
}
static void movall(struct fix *x, uint32_t rd1, uint32_t rd2)
{
	cmd(x, MOVALL, 0, (uint64_t)rd1 << 16, (uint64_t)rd2 << 16);
}

static int msi(struct fix *x, uint32_t dev, uint32_t ev)
{
	return virq_its_translate_and_inject(&x->its, dev, ev);
}

static uint32_t ack(struct fix *x, unsigned vcpu)
{
	uint32_t intid = virq_gic_ack(&x->f.gic, vcpu, 1, NULL);

	if (intid != 1023)
		virq_gic_eoi(&x->f.gic, vcpu, 1, intid);
	return intid;
}

/* One device with 32 events on collection 0 -> vCPU 0 (the usual starting point). */
static void map_simple(struct fix *x, uint32_t dev)
{
	mapc(x, 0, 0, true);
	mapd(x, dev, 5, ITT(dev), true);
	for (uint32_t e = 0; e < 32; e++)
		mapti(x, dev, e, LPI(dev, e), 0);
}

static void test_its_registers(void **state)
{
	struct fix *x = *state;
	struct virq_its *its = &x->its;
	uint64_t v;

	CHECK_EQ("CTLR reset: quiescent", virq_its_mmio_read(its, 0x0, 4), 0x80000000u);
	CHECK_EQ("IIDR", virq_its_mmio_read(its, 0x4, 4), 0x4b00043b);
	CHECK_EQ("TYPER", virq_its_mmio_read(its, 0x8, 8), 0x1ef71);
	CHECK_EQ("BASER0 reset", virq_its_mmio_read(its, 0x100, 8),
		 (3ull << 59) | (1ull << 56) | (7ull << 48) | (1ull << 10) | (2ull << 8));
	CHECK_EQ("BASER1 reset", virq_its_mmio_read(its, 0x108, 8),
		 (3ull << 59) | (4ull << 56) | (7ull << 48) | (1ull << 10) | (2ull << 8));
	virq_its_mmio_write(its, 0x110, 8, ~0ull);
	CHECK_EQ("BASER2 RAZ/WI", virq_its_mmio_read(its, 0x110, 8), 0);
	/* BASER: Type and Entry_Size read-only, page size forced to 64K, BASER1 never indirect. */
	virq_its_mmio_write(its, 0x108, 8, VALID | (1ull << 62) | (7ull << 56) | COLL_TABLE | (0ull << 8) | 1);
	CHECK_EQ("BASER1 sanitised", virq_its_mmio_read(its, 0x108, 8),
		 VALID | (3ull << 59) | (4ull << 56) | (7ull << 48) | COLL_TABLE | (2ull << 8) | 1);
	/* Enable is refused while a table or the queue is invalid. */
	virq_its_mmio_write(its, 0x0, 4, 1);
	CHECK_EQ("enable refused", virq_its_mmio_read(its, 0x0, 4) & 1, 0);
	virq_its_mmio_write(its, 0x100, 8, VALID | DEV_TABLE);
	virq_its_mmio_write(its, 0x80, 8, VALID | CMDQ_BASE | 0xf000 | (2ull << 10) | 1);
	CHECK_EQ("CBASER: 15:12 cleared, outer share -> inner", virq_its_mmio_read(its, 0x80, 8),
		 VALID | (3ull << 59) | CMDQ_BASE | (1ull << 10) | 1); /* and inner nCnB -> RaWb */
	virq_its_mmio_write(its, 0x88, 8, 0x2000);
	CHECK_EQ("CWRITER beyond 8 KiB queue ignored", virq_its_mmio_read(its, 0x88, 8), 0);
	virq_its_mmio_write(its, 0x88, 8, 0x1fff);
	CHECK_EQ("CWRITER offset bits only", virq_its_mmio_read(its, 0x88, 8), 0x1fe0);
	CHECK_EQ("not quiescent", virq_its_mmio_read(its, 0x0, 4), 0);
	virq_its_mmio_write(its, 0x80, 8, VALID | CMDQ_BASE);
	CHECK_EQ("CBASER write resets CWRITER", virq_its_mmio_read(its, 0x88, 8), 0);
	virq_its_mmio_write(its, 0x0, 4, 1);
	CHECK_EQ("enabled", virq_its_mmio_read(its, 0x0, 4), 0x80000001u);
	virq_its_mmio_write(its, 0x80, 8, 0);
	virq_its_mmio_write(its, 0x100, 8, 0);
	CHECK_EQ("CBASER ignored while enabled", virq_its_mmio_read(its, 0x80, 8), VALID | (3ull << 59) | CMDQ_BASE);
	CHECK_EQ("BASER0 ignored while enabled", virq_its_mmio_read(its, 0x100, 8) & VALID, VALID);
	virq_its_mmio_write(its, 0x90, 8, 0x40);
	CHECK_EQ("CREADR read-only", virq_its_mmio_read(its, 0x90, 8), 0);
	virq_its_mmio_write(its, 0x10040, 4, 0x1234);
	CHECK_EQ("TRANSLATER RAZ/WI", virq_its_mmio_read(its, 0x10040, 4), 0);
	CHECK_EQ("PIDR2", virq_its_mmio_read(its, 0xffe8, 4), 0x3b);
	CHECK_EQ("CIDR1", virq_its_mmio_read(its, 0xfff4, 4), 0xf0);
	CHECK_EQ("TYPER high half", virq_its_mmio_read(its, 0xc, 4), 0);
	CHECK_EQ("CTLR 64-bit read ignored", virq_its_mmio_read(its, 0x0, 8), 0);

	/* The GIC now advertises LPIs. */
	CHECK_EQ("GICD_TYPER LPIS", virq_gic_dist_read(&x->f.gic, 0x4, 4), 2 | (15u << 19) | (1u << 17));
	CHECK_EQ("GICR_TYPER PLPIS", virq_gic_redist_read(&x->f.gic, 0, 0x8, 8) & 1, 1);

	/* Userspace (ITS_REGS). */
	assert_int_equal(virq_its_uaccess_write(its, 0x90, 0x40), -EBUSY);
	assert_int_equal(virq_its_uaccess_write(its, 0x4, 1u << 12), -EINVAL);
	assert_int_equal(virq_its_uaccess_read(its, 0x84, &v), -EINVAL);
	assert_int_equal(virq_its_uaccess_read(its, 0x40, &v), -ENXIO);
	assert_int_equal(virq_its_uaccess_read(its, 0x8, &v), 0);
	CHECK_EQ("uaccess TYPER", v, 0x1ef71);
	virq_its_mmio_write(its, 0x0, 4, 0);
	assert_int_equal(virq_its_uaccess_write(its, 0x90, 0x1000), -EINVAL);
	assert_int_equal(virq_its_uaccess_write(its, 0x90, 0x40), 0);
	CHECK_EQ("CREADR set by userspace", virq_its_mmio_read(its, 0x90, 8), 0x40);
	virq_its_set_base(its, VIRQ_ITS_BASE_UNSET);
	assert_int_equal(virq_its_uaccess_read(its, 0x8, &v), -ENXIO);
	assert_false(virq_its_owns_doorbell(its, 0x8090040));
	virq_its_set_base(its, 0x8080000);
	assert_true(virq_its_owns_doorbell(its, 0x8090040));
	assert_true(virq_its_owns_doorbell(its, 0x8080000));
	assert_false(virq_its_owns_doorbell(its, 0x80a0000));
}

static void test_msi_results(void **state)
{
	struct fix *x = *state;

	CHECK_EQ("nothing mapped: blocked", msi(x, 1, 0), 0);
	map_simple(x, 1);
	CHECK_EQ("delivered", msi(x, 1, 3), 1);
	CHECK_EQ("re-signal a pending LPI: still 1", msi(x, 1, 3), 1);
	CHECK_EQ("one latch", ack(x, 0), LPI(1, 3));
	CHECK_EQ("coalesced", ack(x, 0), 1023);
	CHECK_EQ("EventID beyond the device", msi(x, 1, 32), 0);
	CHECK_EQ("unknown device", msi(x, 2, 0), 0);
	/* Target EnableLPIs = 0: -EBUSY, nothing latched (and the cache was invalidated). */
	virq_gic_redist_write(&x->f.gic, 0, 0x0, 4, 0);
	CHECK_EQ("LPIs off", msi(x, 1, 3), -EBUSY);
	virq_gic_redist_write(&x->f.gic, 0, 0x78, 8, PEND_BASE(0) | (1ull << 62));
	virq_gic_redist_write(&x->f.gic, 0, 0x0, 4, 1);
	CHECK_EQ("nothing latched", ack(x, 0), 1023);
	virq_its_mmio_write(&x->its, 0x0, 4, 0);
	CHECK_EQ("ITS disabled", msi(x, 1, 3), -EBUSY);
	virq_its_mmio_write(&x->its, 0x0, 4, 1);
	CHECK_EQ("enabled again", msi(x, 1, 3), 1);
	/* Distributor off: latched (1) but not delivered until it is on. */
	virq_gic_dist_write(&x->f.gic, 0x0, 4, 0);
	CHECK_EQ("dist off", msi(x, 1, 4), 1);
	CHECK_EQ("not delivered", ack(x, 0), 1023);
	virq_gic_dist_write(&x->f.gic, 0x0, 4, 2);
	CHECK_EQ("delivered after enable", ack(x, 0), LPI(1, 3));
	CHECK_EQ("and the other", ack(x, 0), LPI(1, 4));
}

static void test_lpi_property_pending(void **state)
{
	struct fix *x = *state;
	struct virq_gic *gic = &x->f.gic;

	mapc(x, 0, 0, true);
	mapd(x, 1, 5, ITT(1), true);
	/* LPI(1,0) disabled in the property table at map time; LPI(1,1) pending in the pending table. */
	x->f.ram[PROP_BASE + LPI(1, 0) - 8192] = 0x40;
	x->f.ram[PEND_BASE(0) + LPI(1, 1) / 8] |= 1u << (LPI(1, 1) % 8);
	mapti(x, 1, 0, LPI(1, 0), 0);
	mapti(x, 1, 1, LPI(1, 1), 0);
	mapti(x, 1, 2, LPI(1, 2), 0);
	mapti(x, 1, 5, LPI(1, 5), 0);
	CHECK_EQ("pending bit consumed", x->f.ram[PEND_BASE(0) + LPI(1, 1) / 8] & (1u << (LPI(1, 1) % 8)), 0);
	CHECK_EQ("pending from the table", ack(x, 0), LPI(1, 1));
	CHECK_EQ("disabled LPI latched", msi(x, 1, 0), 1);
	CHECK_EQ("but not delivered", ack(x, 0), 1023);
	x->f.ram[PROP_BASE + LPI(1, 0) - 8192] = 0x41;
	CHECK_EQ("a table store alone changes nothing", ack(x, 0), 1023);
	devev(x, INV, 1, 0, 0);
	CHECK_EQ("INV: delivered", ack(x, 0), LPI(1, 0));
	/* Priority from the property byte (bits 7:2). */
	x->f.ram[PROP_BASE + LPI(1, 1) - 8192] = 0x21;
	virq_gic_redist_write(gic, 0, 0xa0, 8, LPI(1, 1)); /* GICR_INVLPIR */
	msi(x, 1, 0);
	msi(x, 1, 1);
	CHECK_EQ("higher priority first", virq_gic_ack(gic, 0, 1, NULL), LPI(1, 1));
	CHECK_EQ("RPR from property", virq_gic_icc_read(gic, 0, VIRQ_ICC_RPR), 0x20);
	virq_gic_eoi(gic, 0, 1, LPI(1, 1));
	CHECK_EQ("then", ack(x, 0), LPI(1, 0));
	/* GICR_INVALLR re-reads every LPI targeting the vCPU. */
	x->f.ram[PROP_BASE + LPI(1, 0) - 8192] = 0x40;
	x->f.ram[PROP_BASE + LPI(1, 1) - 8192] = 0x40;
	virq_gic_redist_write(gic, 0, 0xb0, 8, 0);
	msi(x, 1, 0);
	msi(x, 1, 1);
	CHECK_EQ("both disabled", ack(x, 0), 1023);
	memset(x->f.ram + PROP_BASE, PRIO_ENABLED, 0x10000);
	cmd(x, INVALL, 0, 0, 0);
	CHECK_EQ("INVALL enables", ack(x, 0), LPI(1, 0));
	CHECK_EQ("INVALL enables both", ack(x, 0), LPI(1, 1));

	/* EnableLPIs 1 -> 0 flushes queued LPIs (latches kept); PTZ=1 re-enable leaves them unqueued... */
	msi(x, 1, 2);
	virq_gic_redist_write(gic, 0, 0x0, 4, 0);
	CHECK_EQ("GICR_CTLR", virq_gic_redist_read(gic, 0, 0x0, 4), 6);
	assert_true(virq_gic_lpi_pending(gic, LPI(1, 2)));
	virq_gic_redist_write(gic, 0, 0x78, 8, PEND_BASE(0) | (1ull << 62));
	virq_gic_redist_write(gic, 0, 0x0, 4, 1);
	CHECK_EQ("flushed LPI not queued", ack(x, 0), 1023);
	devev(x, INV, 1, 2, 0);
	CHECK_EQ("...until an INV", ack(x, 0), LPI(1, 2));
	/* ...while PTZ=0 reloads the latches from the pending table. */
	virq_gic_redist_write(gic, 0, 0x0, 4, 0);
	virq_gic_redist_write(gic, 0, 0x78, 8, PEND_BASE(0));
	x->f.ram[PEND_BASE(0) + LPI(1, 5) / 8] |= 1u << (LPI(1, 5) % 8);
	virq_gic_redist_write(gic, 0, 0x0, 4, 1);
	CHECK_EQ("reloaded", ack(x, 0), LPI(1, 5));
	/* PROPBASER and PENDBASER are frozen while LPIs are on. */
	virq_gic_redist_write(gic, 0, 0x70, 8, 0x123000);
	CHECK_EQ("PROPBASER kept", virq_gic_redist_read(gic, 0, 0x70, 8) & 0xfffff000ull, PROP_BASE);
	/* SAVE_PENDING_TABLES writes the latches back. */
	virq_gic_redist_write(gic, 0, 0x0, 4, 0);
	assert_int_equal(virq_gic_save_pending_tables(gic), 0);
}

static void test_cmd_mapd(void **state)
{
	struct fix *x = *state;

	map_simple(x, 3);
	CHECK_EQ("mapped", msi(x, 3, 7), 1);
	ack(x, 0);
	/* DeviceID beyond the flat table (1 page = 8192 entries): ignored. */
	mapd(x, 9000, 5, ITT(4), true);
	assert_null(virq_its_find_device(&x->its, 9000));
	/* Size > 16 bits: ignored. */
	mapd(x, 4, 17, ITT(4), true);
	assert_null(virq_its_find_device(&x->its, 4));
	/* Remap with the same parameters drops the ITEs. */
	put_le64(x->f.ram + DEV_TABLE + 3 * 8, 0xdeadbeef);
	mapd(x, 3, 5, ITT(3), true);
	CHECK_EQ("remapped device has no ITEs", msi(x, 3, 7), 0);
	CHECK_EQ("LPI gone", virq_gic_lpi_target(&x->f.gic, LPI(3, 7)), -2);
	mapti(x, 3, 7, LPI(3, 7), 0);
	CHECK_EQ("mapped again", msi(x, 3, 7), 1);
	mapd(x, 3, 5, 0, false);
	CHECK_EQ("V=0 unmaps", msi(x, 3, 7), 0);
	CHECK_EQ("DTE zeroed", get_le64(x->f.ram + DEV_TABLE + 3 * 8), 0);
	mapd(x, 3, 5, 0, false); /* unmapping an unmapped device is fine */
	CHECK_EQ("pending LPI freed with it", ack(x, 0), 1023);
}

static void test_cmd_mapc_orphans(void **state)
{
	struct fix *x = *state;

	map_simple(x, 1);
	mapc(x, 1, 7, true);
	assert_null(virq_its_find_coll(&x->its, 1));
	/* Retarget: pending state moves along. */
	msi(x, 1, 0);
	mapc(x, 0, 2, true);
	CHECK_EQ("old target", ack(x, 0), 1023);
	CHECK_EQ("pending moved to vCPU 2", ack(x, 2), LPI(1, 0));
	CHECK_EQ("new deliveries", msi(x, 1, 1), 1);
	CHECK_EQ("on vCPU 2", ack(x, 2), LPI(1, 1));
	/* V=0: ITEs orphaned; re-mapping the ICID does not revive them. */
	mapc(x, 0, 0, false);
	CHECK_EQ("orphaned: blocked", msi(x, 1, 1), 0);
	mapc(x, 0, 0, true);
	CHECK_EQ("still orphaned", msi(x, 1, 1), 0);
	devev(x, DISCARD, 1, 1, 0);
	assert_non_null(virq_its_find_ite(&x->its, 1, 1)); /* DISCARD needs a mapped collection */
	mapti(x, 1, 1, LPI(1, 1), 0);
	CHECK_EQ("MAPTI on an existing ITE ignored", msi(x, 1, 1), 0);
	mapd(x, 1, 5, ITT(1), true);
	mapti(x, 1, 1, LPI(1, 1), 0);
	CHECK_EQ("MAPD clears orphans", msi(x, 1, 1), 1);
}

static void test_cmd_mapti_rules(void **state)
{
	struct fix *x = *state;
	struct virq_gic *gic = &x->f.gic;

	mapc(x, 0, 0, true);
	mapd(x, 1, 2, ITT(1), true); /* 4 events */
	mapti(x, 2, 0, LPI(2, 0), 0);
	CHECK_EQ("unmapped device", msi(x, 2, 0), 0);
	mapti(x, 1, 4, LPI(1, 4), 0);
	CHECK_EQ("EventID beyond Size", virq_gic_lpi_target(gic, LPI(1, 4)), -2);
	mapti(x, 1, 0, 8191, 0);
	CHECK_EQ("pINTID below 8192", msi(x, 1, 0), 0);
	mapti(x, 1, 0, 8192 + 0x10000, 0);
	CHECK_EQ("pINTID beyond 16 bits", msi(x, 1, 0), 0);
	mapti(x, 1, 0, LPI(1, 0), 0);
	mapti(x, 1, 0, LPI(1, 9), 0);
	CHECK_EQ("second MAPTI ignored", virq_gic_lpi_target(gic, LPI(1, 9)), -2);
	msi(x, 1, 0);
	CHECK_EQ("old mapping kept", ack(x, 0), LPI(1, 0));
	/* MAPI: the EventID is the INTID. */
	mapd(x, 2, 16, ITT(2), true);
	cmd(x, (2ull << 32) | MAPI, 9000, 0, 0);
	msi(x, 2, 9000);
	CHECK_EQ("MAPI", ack(x, 0), 9000);
	/* Unknown ICID: created unmapped; the ITE works once MAPC maps it (unlike an orphan). */
	mapti(x, 1, 1, LPI(1, 1), 5);
	CHECK_EQ("unmapped collection: blocked", msi(x, 1, 1), 0);
	CHECK_EQ("no target", virq_gic_lpi_target(gic, LPI(1, 1)), -1);
	mapc(x, 5, 3, true);
	CHECK_EQ("now mapped", msi(x, 1, 1), 1);
	CHECK_EQ("on vCPU 3", ack(x, 3), LPI(1, 1));
	/* A shared INTID keeps its first target and configuration. */
	mapc(x, 6, 1, true);
	mapti(x, 1, 2, LPI(1, 1), 6);
	CHECK_EQ("shared LPI keeps target", virq_gic_lpi_target(gic, LPI(1, 1)), 3);
	/* With PROPBASER IDbits 0, every MAPTI fails. */
	virq_gic_redist_write(gic, 0, 0x0, 4, 0);
	virq_gic_redist_write(gic, 0, 0x70, 8, PROP_BASE);
	mapti(x, 1, 3, LPI(1, 3), 0);
	CHECK_EQ("IDbits 0", virq_gic_lpi_target(gic, LPI(1, 3)), -2);
	/* A property table outside guest RAM: MAPTI undone, the collection it created too. */
	virq_gic_redist_write(gic, 0, 0x70, 8, 0x7ff0000ull | 15);
	mapti(x, 1, 3, LPI(1, 3), 9);
	assert_null(virq_its_find_ite(&x->its, 1, 3));
	assert_null(virq_its_find_coll(&x->its, 9));
}

static void test_cmd_movi_discard_clear_int(void **state)
{
	struct fix *x = *state;

	map_simple(x, 1);
	mapc(x, 1, 1, true);
	/* MOVI. */
	devev(x, MOVI, 1, 2, 1);
	CHECK_EQ("MOVI retargets", virq_gic_lpi_target(&x->f.gic, LPI(1, 2)), 1);
	msi(x, 1, 2);
	CHECK_EQ("lands on vCPU 1", ack(x, 1), LPI(1, 2));
	devev(x, MOVI, 1, 2, 4);
	CHECK_EQ("MOVI to unknown collection ignored", virq_gic_lpi_target(&x->f.gic, LPI(1, 2)), 1);
	devev(x, MOVI, 1, 40, 0);
	CHECK_EQ("MOVI of unmapped event ignored", x->its.stats.ignored, 2);
	/* Pending state moves with MOVI. */
	msi(x, 1, 2);
	devev(x, MOVI, 1, 2, 0);
	CHECK_EQ("pending moved", ack(x, 0), LPI(1, 2));
	/* DISCARD: ITE freed, its ITT slot zeroed, pending state lost. */
	put_le64(x->f.ram + ITT(1) + 3 * 8, 0x1234);
	msi(x, 1, 3);
	devev(x, DISCARD, 1, 3, 0);
	CHECK_EQ("ITE zeroed", get_le64(x->f.ram + ITT(1) + 3 * 8), 0);
	CHECK_EQ("discarded", msi(x, 1, 3), 0);
	CHECK_EQ("pending lost", ack(x, 0), 1023);
	devev(x, DISCARD, 1, 3, 0);
	CHECK_EQ("second DISCARD ignored", x->its.stats.ignored, 3);
	/* CLEAR. */
	msi(x, 1, 4);
	devev(x, CLEAR, 1, 4, 0);
	CHECK_EQ("CLEAR", ack(x, 0), 1023);
	/* INT behaves as the MSI. */
	devev(x, INT, 1, 5, 0);
	CHECK_EQ("INT", ack(x, 0), LPI(1, 5));
	virq_gic_redist_write(&x->f.gic, 0, 0x0, 4, 0);
	devev(x, INT, 1, 5, 0);
	virq_gic_redist_write(&x->f.gic, 0, 0x78, 8, PEND_BASE(0) | (1ull << 62));
	virq_gic_redist_write(&x->f.gic, 0, 0x0, 4, 1);
	CHECK_EQ("INT with LPIs off not latched", ack(x, 0), 1023);
	/* SYNC, unknown opcodes and unreadable commands: skipped, the queue goes on. */
	cmd(x, SYNC, 0, 0, 0);
	cmd(x, 0x20, 0, 0, 0);
	devev(x, INT, 1, 6, 0);
	CHECK_EQ("queue continues", ack(x, 0), LPI(1, 6));
	CHECK_EQ("CREADR == CWRITER", virq_its_mmio_read(&x->its, 0x90, 8), virq_its_mmio_read(&x->its, 0x88, 8));
}

static void test_cmd_unreadable_queue(void **state)
{
	struct fix *x = *state;

	program_gic(x);
	virq_its_mmio_write(&x->its, 0x100, 8, VALID | DEV_TABLE);
	virq_its_mmio_write(&x->its, 0x108, 8, VALID | COLL_TABLE);
	virq_its_mmio_write(&x->its, 0x80, 8, VALID | 0x7ff0000ull); /* beyond guest RAM */
	virq_its_mmio_write(&x->its, 0x0, 4, 1);
	virq_its_mmio_write(&x->its, 0x88, 8, 0x60);
	CHECK_EQ("skipped, CREADR advanced", virq_its_mmio_read(&x->its, 0x90, 8), 0x60);
	CHECK_EQ("three ignored", x->its.stats.ignored, 3);
	CHECK_EQ("quiescent", virq_its_mmio_read(&x->its, 0x0, 4), 0x80000001u);
}

static void test_cmd_movall(void **state)
{
	struct fix *x = *state;

	map_simple(x, 1);
	mapc(x, 1, 1, true);
	mapc(x, 3, 3, true);
	devev(x, MOVI, 1, 1, 1);
	devev(x, MOVI, 1, 2, 3);
	msi(x, 1, 0);
	movall(x, 0, 2);
	/* Architecture: only LPIs targeting RDbase 0 move (KVM would move LPI(1,1) and LPI(1,2) too). */
	CHECK_EQ("moved", virq_gic_lpi_target(&x->f.gic, LPI(1, 0)), 2);
	CHECK_EQ("vCPU 1's LPI stays", virq_gic_lpi_target(&x->f.gic, LPI(1, 1)), 1);
	CHECK_EQ("vCPU 3's LPI stays", virq_gic_lpi_target(&x->f.gic, LPI(1, 2)), 3);
	CHECK_EQ("pending moved", ack(x, 2), LPI(1, 0));
	movall(x, 0, 9);
	CHECK_EQ("unknown RDbase ignored", virq_gic_lpi_target(&x->f.gic, LPI(1, 3)), 2);
	movall(x, 2, 2);
	CHECK_EQ("same RDbase: no-op", virq_gic_lpi_target(&x->f.gic, LPI(1, 3)), 2);
}

/* Hits, misses, and the invalidations each event must (or must not) cause. */
static void test_translation_cache(void **state)
{
	struct fix *x = *state;
	struct virq_its *its = &x->its;
	uint64_t inv;

	map_simple(x, 1);
	mapc(x, 1, 1, true);
	CHECK_EQ("cold miss", virq_its_inject_cached(its, 1, 0, 1), -EWOULDBLOCK);
	CHECK_EQ("slow path", msi(x, 1, 0), 1);
	CHECK_EQ("now cached", virq_its_inject_cached(its, 1, 0, 1), 1);
	CHECK_EQ("hits", its->stats.cache_hits, 1);
	CHECK_EQ("cache key width", virq_its_inject_cached(its, 0x10001, 0, 1), -EWOULDBLOCK);
	ack(x, 0);

#define EXPECT_INVALIDATES(what, yes)                                                                   \
	do {                                                                                            \
		msi(x, 1, 0);                                                                           \
		inv = its->stats.invalidations;                                                         \
		what;                                                                                   \
		if (yes)                                                                                \
			CHECK_EQ(#what " invalidates", virq_its_inject_cached(its, 1, 0, 1), -EWOULDBLOCK); \
		else                                                                                    \
			CHECK_EQ(#what " keeps the cache", its->stats.invalidations, inv);              \
		ack(x, 0);                                                                              \
		ack(x, 1);                                                                              \
	} while (0)

	EXPECT_INVALIDATES(devev(x, INV, 1, 0, 0), false);
	EXPECT_INVALIDATES(cmd(x, INVALL, 0, 0, 0), false);
	EXPECT_INVALIDATES(mapc(x, 0, 0, true), false);
	EXPECT_INVALIDATES(cmd(x, SYNC, 0, 0, 0), false);
	EXPECT_INVALIDATES(devev(x, DISCARD, 1, 31, 0), true);
	EXPECT_INVALIDATES(devev(x, MOVI, 1, 0, 1), true);
	EXPECT_INVALIDATES(devev(x, MOVI, 1, 0, 0), true);
	EXPECT_INVALIDATES(movall(x, 3, 2), true);
	EXPECT_INVALIDATES(mapd(x, 2, 5, ITT(2), true), false); /* a new device: nothing to drop */
	EXPECT_INVALIDATES(mapd(x, 2, 5, ITT(2), true), true);  /* remap of a mapped device */
	EXPECT_INVALIDATES(mapc(x, 7, 0, false), true);
	EXPECT_INVALIDATES((virq_its_mmio_write(its, 0x0, 4, 0), virq_its_mmio_write(its, 0x0, 4, 1)), true);
	EXPECT_INVALIDATES(virq_its_mmio_write(its, 0x0, 4, 1), false);
	EXPECT_INVALIDATES((virq_gic_redist_write(&x->f.gic, 3, 0x0, 4, 0), virq_gic_redist_write(&x->f.gic, 3, 0x0, 4, 1)),
			   true);
	/* A changed BASER drops the devices; an identical rewrite keeps them (and the cache). */
	virq_its_mmio_write(its, 0x0, 4, 0);
	msi(x, 1, 0); /* ITS disabled: -EBUSY */
	virq_its_mmio_write(its, 0x100, 8, VALID | DEV_TABLE);
	virq_its_mmio_write(its, 0x0, 4, 1);
	CHECK_EQ("identical BASER keeps devices", msi(x, 1, 0), 1);
	ack(x, 0);
	virq_its_mmio_write(its, 0x0, 4, 0);
	virq_its_mmio_write(its, 0x100, 8, VALID | DEV_TABLE | 1);
	virq_its_mmio_write(its, 0x0, 4, 1);
	CHECK_EQ("changed BASER0 drops devices", msi(x, 1, 0), 0);
#undef EXPECT_INVALIDATES
}

/* The scenario: 64 devices x 32 events over 2 collections, then DISCARD, MOVI, MAPD V=0. */
static void test_scenario_64x32(void **state)
{
	struct fix *x = *state;

	mapc(x, 0, 0, true);
	mapc(x, 1, 1, true);
	for (uint32_t d = 0; d < 64; d++) {
		mapd(x, d, 5, ITT(d), true);
		for (uint32_t e = 0; e < 32; e++)
			mapti(x, d, e, LPI(d, e), (d + e) % 2);
	}
	CHECK_EQ("nothing ignored", x->its.stats.ignored, 0);
	for (uint32_t d = 0; d < 64; d++)
		for (uint32_t e = 0; e < 32; e++) {
			unsigned vcpu = (d + e) % 2;

			CHECK_EQ("MSI", msi(x, d, e), 1);
			CHECK_EQ("other vCPU sees nothing", ack(x, !vcpu), 1023);
			CHECK_EQ("right vCPU, right LPI", ack(x, vcpu), LPI(d, e));
		}
	/* A second round comes from the cache. */
	for (uint32_t d = 0; d < 64; d++)
		for (uint32_t e = 0; e < 32; e++)
			CHECK_EQ("cached", virq_its_inject_cached(&x->its, d, e, 1), 1);
	for (unsigned n = 0; n < 2048; n++)
		if (ack(x, 0) == 1023 && ack(x, 1) == 1023)
			break;

	devev(x, DISCARD, 5, 3, 0);
	CHECK_EQ("after DISCARD", msi(x, 5, 3), 0);
	CHECK_EQ("neighbour unaffected", msi(x, 5, 4), 1);
	CHECK_EQ("neighbour", ack(x, 1), LPI(5, 4));

	devev(x, MOVI, 6, 4, 1); /* was collection 0 */
	CHECK_EQ("after MOVI", msi(x, 6, 4), 1);
	CHECK_EQ("old vCPU", ack(x, 0), 1023);
	CHECK_EQ("new vCPU", ack(x, 1), LPI(6, 4));

	mapd(x, 7, 5, 0, false);
	for (uint32_t e = 0; e < 32; e++)
		CHECK_EQ("after MAPD V=0", msi(x, 7, e), 0);
	CHECK_EQ("device 8 unaffected", msi(x, 8, 0), 1);
	CHECK_EQ("device 8", ack(x, 0), LPI(8, 0));
}

/* Save tables, build a fresh GIC + ITS over the same RAM, restore: the same MSI reaches the same place. */
static void test_save_restore(void **state)
{
	struct fix *x = *state;
	uint64_t dte;

	mapc(x, 0, 0, true);
	mapc(x, 1, 3, true);
	for (uint32_t d = 0; d < 8; d++) {
		mapd(x, d * 100, 5, ITT(d), true);
		for (uint32_t e = 0; e < 32; e += 3)
			mapti(x, d * 100, e, LPI(d, e), (d + e) % 2);
	}
	mapti(x, 0, 1, LPI(0, 1), 7); /* an unmapped collection, saved with RDbase 0xffffffff */
	devev(x, DISCARD, 100, 3, 0);
	assert_int_equal(virq_its_save_tables(&x->its), 0);

	dte = get_le64(x->f.ram + DEV_TABLE + 100 * 8);
	CHECK_EQ("DTE V", dte >> 63, 1);
	CHECK_EQ("DTE next", (dte >> 49) & 0x3fff, 100);
	CHECK_EQ("DTE ITT", ((dte >> 5) & 0xfffffffffffull) << 8, ITT(1));
	CHECK_EQ("DTE size", dte & 0x1f, 4);
	CHECK_EQ("last DTE next 0", (get_le64(x->f.ram + DEV_TABLE + 700 * 8) >> 49) & 0x3fff, 0);
	CHECK_EQ("ITE", get_le64(x->f.ram + ITT(1)), (6ull << 48) | ((uint64_t)LPI(1, 0) << 16) | 1);
	CHECK_EQ("CTE 0", get_le64(x->f.ram + COLL_TABLE), VALID | 0);
	CHECK_EQ("CTE 1", get_le64(x->f.ram + COLL_TABLE + 8), VALID | (3ull << 16) | 1);
	CHECK_EQ("CTE 2 unmapped", get_le64(x->f.ram + COLL_TABLE + 16), VALID | (0xffffffffull << 16) | 7);
	CHECK_EQ("terminator", get_le64(x->f.ram + COLL_TABLE + 24), 0);

	/* Destroy, then a fresh VM in the documented order: redistributors, ITS registers, RESTORE, CTLR. */
	virq_its_destroy(&x->its);
	virq_gic_destroy(&x->f.gic);
	memset(x->f.kicks, 0, sizeof(x->f.kicks));
	assert_int_equal(virq_gic_init(&x->f.gic, NR_VCPUS, 64, &fake_ops, &x->f), 0);
	assert_int_equal(virq_its_init(&x->its, &x->f.gic), 0);
	virq_its_set_base(&x->its, 0x8080000);
	program_gic(x);
	program_its(x, false);
	assert_int_equal(virq_its_restore_tables(&x->its), 0);
	virq_its_mmio_write(&x->its, 0x0, 4, 1);

	for (uint32_t d = 0; d < 8; d++)
		for (uint32_t e = 0; e < 32; e++) {
			bool mapped = e % 3 == 0 && !(d == 1 && e == 3);
			unsigned vcpu = (d + e) % 2 ? 3 : 0;

			CHECK_EQ("restored MSI", msi(x, d * 100, e), mapped ? 1 : 0);
			if (mapped)
				CHECK_EQ("same LPI, same vCPU", ack(x, vcpu), LPI(d, e));
		}
	CHECK_EQ("unmapped collection restored unmapped", msi(x, 0, 1), 0);
	mapc(x, 7, 2, true);
	CHECK_EQ("and maps later", msi(x, 0, 1), 1);
	CHECK_EQ("on vCPU 2", ack(x, 2), LPI(0, 1));
}

static void test_restore_errors(void **state)
{
	struct fix *x = *state;

	program_gic(x);
	program_its(x, false);
	/* A CTE naming a vCPU that does not exist. */
	put_le64(x->f.ram + COLL_TABLE, VALID | 0);
	put_le64(x->f.ram + COLL_TABLE + 8, VALID | (9ull << 16) | 1);
	assert_int_equal(virq_its_restore_tables(&x->its), -EINVAL);
	CHECK_EQ("no collections left", x->its.nr_colls, 0);
	/* Duplicate ICID. */
	put_le64(x->f.ram + COLL_TABLE + 8, VALID | 0);
	assert_int_equal(virq_its_restore_tables(&x->its), -EEXIST);
	put_le64(x->f.ram + COLL_TABLE + 8, 0);
	/* DTE with EventID bits > 16, then an ITE with a bad pINTID, then one referencing no collection. */
	put_le64(x->f.ram + DEV_TABLE + 2 * 8, VALID | ((ITT(2) >> 8) << 5) | 16);
	assert_int_equal(virq_its_restore_tables(&x->its), -EINVAL);
	put_le64(x->f.ram + DEV_TABLE + 2 * 8, VALID | ((ITT(2) >> 8) << 5) | 4);
	put_le64(x->f.ram + ITT(2), (100ull << 16) | 0);
	assert_int_equal(virq_its_restore_tables(&x->its), -EINVAL);
	put_le64(x->f.ram + ITT(2), ((uint64_t)LPI(2, 0) << 16) | 5);
	assert_int_equal(virq_its_restore_tables(&x->its), -EINVAL);
	put_le64(x->f.ram + ITT(2), (40ull << 48) | ((uint64_t)LPI(2, 0) << 16) | 0);
	assert_int_equal(virq_its_restore_tables(&x->its), -EINVAL); /* EventID + next beyond 2^5 */
	CHECK_EQ("no devices left", x->its.nr_devs, 0);
	put_le64(x->f.ram + ITT(2), ((uint64_t)LPI(2, 0) << 16) | 0);
	assert_int_equal(virq_its_restore_tables(&x->its), 0);
	CHECK_EQ("restored", x->its.nr_devs, 1);
	/* Two-level device table: an L1 entry pointing at a 64 KiB L2 page. */
	virq_its_reset(&x->its);
	CHECK_EQ("reset frees", x->its.nr_devs, 0);
	put_le64(x->f.ram + DEV_TABLE, 0);
	put_le64(x->f.ram + DEV_TABLE + 8, VALID | 0x180000);
	put_le64(x->f.ram + 0x180000 + 5 * 8, VALID | ((ITT(2) >> 8) << 5) | 4);
	virq_its_mmio_write(&x->its, 0x100, 8, VALID | (1ull << 62) | DEV_TABLE);
	virq_its_mmio_write(&x->its, 0x108, 8, VALID | COLL_TABLE);
	assert_int_equal(virq_its_restore_tables(&x->its), 0);
	assert_non_null(virq_its_find_device(&x->its, 8192 + 5));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_its_registers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msi_results, setup_ready, teardown),
		cmocka_unit_test_setup_teardown(test_lpi_property_pending, setup_ready, teardown),
		cmocka_unit_test_setup_teardown(test_cmd_mapd, setup_ready, teardown),
		cmocka_unit_test_setup_teardown(test_cmd_mapc_orphans, setup_ready, teardown),
		cmocka_unit_test_setup_teardown(test_cmd_mapti_rules, setup_ready, teardown),
		cmocka_unit_test_setup_teardown(test_cmd_movi_discard_clear_int, setup_ready, teardown),
		cmocka_unit_test_setup_teardown(test_cmd_unreadable_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cmd_movall, setup_ready, teardown),
		cmocka_unit_test_setup_teardown(test_translation_cache, setup_ready, teardown),
		cmocka_unit_test_setup_teardown(test_scenario_64x32, setup_ready, teardown),
		cmocka_unit_test_setup_teardown(test_save_restore, setup_ready, teardown),
		cmocka_unit_test_setup_teardown(test_restore_errors, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
