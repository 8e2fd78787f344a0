/* SPDX-License-Identifier: MIT */
/*
 * test_gicv3.c - unit tests of the GICv3 model (src/irqchip/arm/gicv3*.c) without an ITS: distributor
 * and redistributor registers, SPI configuration, priority and IROUTER routing, acknowledge / priority
 * drop / deactivate in EOImode 0 and 1, PMR, groups and binary-point preemption, level SPIs that stay
 * pending after deactivation and the resample hook, SGIs and PPIs. The engine is replaced by the fake
 * guest of fake_guest.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "fake_guest.h"

#define NR_VCPUS 4
#define NR_SPIS 64
#define SGI_BASE 0x10000

static int setup(void **state)
{
	struct fake *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(virq_gic_init(&f->gic, NR_VCPUS, NR_SPIS, &fake_ops, f), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fake *f = *state;

	virq_gic_destroy(&f->gic);
	free(f);
	return 0;
}

/* Distributor on, every vCPU's interface open (PMR 0xff, group 0 and 1 enabled). */
static void open_all(struct fake *f)
{
	virq_gic_dist_write(&f->gic, 0x0, 4, 2);
	for (unsigned v = 0; v < NR_VCPUS; v++) {
		virq_gic_icc_write(&f->gic, v, VIRQ_ICC_PMR, 0xff);
		virq_gic_icc_write(&f->gic, v, VIRQ_ICC_IGRPEN0, 1);
		virq_gic_icc_write(&f->gic, v, VIRQ_ICC_IGRPEN1, 1);
	}
}

/* SPI @intid: enabled, priority @prio, edge (false) or level. */
static void spi_setup(struct fake *f, unsigned intid, uint8_t prio, bool level)
{
	uint64_t cfg = virq_gic_dist_read(&f->gic, 0xc00 + intid / 16 * 4, 4);

	virq_gic_dist_write(&f->gic, 0x400 + intid, 1, prio);
	cfg &= ~(3ull << (intid % 16 * 2));
	if (!level)
		cfg |= 2ull << (intid % 16 * 2);
	virq_gic_dist_write(&f->gic, 0xc00 + intid / 16 * 4, 4, cfg);
	virq_gic_dist_write(&f->gic, 0x100 + intid / 32 * 4, 4, 1ull << (intid % 32));
}

static void test_dist_registers(void **state)
{
	struct fake *f = *state;

	CHECK_EQ("CTLR reset", virq_gic_dist_read(&f->gic, 0x0, 4), 0x50); /* ARE_NS | DS */
	virq_gic_dist_write(&f->gic, 0x0, 4, 0xffffffff);
	CHECK_EQ("CTLR keeps EnableGrp1 only", virq_gic_dist_read(&f->gic, 0x0, 4), 0x52);
	CHECK_EQ("TYPER without ITS", virq_gic_dist_read(&f->gic, 0x4, 4), (96 / 32 - 1) | (9u << 19));
	CHECK_EQ("IIDR", virq_gic_dist_read(&f->gic, 0x8, 4), 0x4b00343b);
	CHECK_EQ("PIDR2", virq_gic_dist_read(&f->gic, 0xffe8, 4), 0x3b);
	/* INTIDs 0..31 live in the redistributors: RAZ/WI here. */
	virq_gic_dist_write(&f->gic, 0x100, 4, 0xffffffff);
	CHECK_EQ("ISENABLER0 RAZ/WI", virq_gic_dist_read(&f->gic, 0x100, 4), 0);
	/* Beyond the SPIs: RAZ/WI. */
	virq_gic_dist_write(&f->gic, 0x10c, 4, 0xffffffff);
	CHECK_EQ("ISENABLER3 beyond SPIs", virq_gic_dist_read(&f->gic, 0x10c, 4), 0);
	CHECK_EQ("IGROUPR1 reset: group 1", virq_gic_dist_read(&f->gic, 0x84, 4), 0xffffffff);
	CHECK_EQ("offset beyond frame", virq_gic_dist_read(&f->gic, 0x10000, 4), 0);
}

static void test_spi_config(void **state)
{
	struct fake *f = *state;

	virq_gic_dist_write(&f->gic, 0x104, 4, 1u << 8); /* ISENABLER1: INTID 40 */
	CHECK_EQ("ISENABLER1", virq_gic_dist_read(&f->gic, 0x104, 4), 1u << 8);
	CHECK_EQ("ICENABLER1 reads the same", virq_gic_dist_read(&f->gic, 0x184, 4), 1u << 8);
	virq_gic_dist_write(&f->gic, 0x104, 4, 0); /* writing zeros changes nothing */
	CHECK_EQ("ISENABLER1 after 0", virq_gic_dist_read(&f->gic, 0x104, 4), 1u << 8);
	virq_gic_dist_write(&f->gic, 0x184, 4, 1u << 8);
	CHECK_EQ("ICENABLER1", virq_gic_dist_read(&f->gic, 0x104, 4), 0);
	virq_gic_dist_write(&f->gic, 0x104, 2, 1u << 8);
	CHECK_EQ("16-bit write ignored", virq_gic_dist_read(&f->gic, 0x104, 4), 0);

	virq_gic_dist_write(&f->gic, 0x400 + 40, 1, 0xff);
	CHECK_EQ("IPRIORITYR: 5 bits", virq_gic_dist_read(&f->gic, 0x400 + 40, 1), 0xf8);
	virq_gic_dist_write(&f->gic, 0x428, 4, 0x10203040);
	CHECK_EQ("IPRIORITYR word", virq_gic_dist_read(&f->gic, 0x428, 4), 0x10203040);
	CHECK_EQ("IPRIORITYR byte of word", virq_gic_dist_read(&f->gic, 0x42a, 1), 0x20);

	CHECK_EQ("ICFGR2 reset: edge (KVM)", virq_gic_dist_read(&f->gic, 0xc08, 4), 0xaaaaaaaa);
	virq_gic_dist_write(&f->gic, 0xc08, 4, 0x0000000a);
	CHECK_EQ("ICFGR2 level", virq_gic_dist_read(&f->gic, 0xc08, 4), 0x0000000a);
	virq_gic_dist_write(&f->gic, 0x84, 4, 0xfffffffe);
	CHECK_EQ("IGROUPR1", virq_gic_dist_read(&f->gic, 0x84, 4), 0xfffffffe);

	/* Pending and active through the set/clear registers. */
	virq_gic_dist_write(&f->gic, 0x204, 4, 1u << 1);
	CHECK_EQ("ISPENDR", virq_gic_dist_read(&f->gic, 0x204, 4), 1u << 1);
	virq_gic_dist_write(&f->gic, 0x284, 4, 1u << 1);
	CHECK_EQ("ICPENDR", virq_gic_dist_read(&f->gic, 0x204, 4), 0);
	virq_gic_dist_write(&f->gic, 0x304, 4, 1u << 2);
	CHECK_EQ("ISACTIVER", virq_gic_dist_read(&f->gic, 0x384, 4), 1u << 2);
	virq_gic_dist_write(&f->gic, 0x384, 4, 1u << 2);
	CHECK_EQ("ICACTIVER", virq_gic_dist_read(&f->gic, 0x304, 4), 0);

	/* Level: ICPENDR clears the latch, a high line keeps it pending. */
	virq_gic_dist_write(&f->gic, 0xc08, 4, 0);
	assert_int_equal(virq_gic_set_spi_level(&f->gic, 33 - 32, true), 0);
	CHECK_EQ("line high = pending", virq_gic_dist_read(&f->gic, 0x204, 4), 1u << 1);
	virq_gic_dist_write(&f->gic, 0x284, 4, 1u << 1);
	CHECK_EQ("ICPENDR with line high", virq_gic_dist_read(&f->gic, 0x204, 4), 1u << 1);
	assert_int_equal(virq_gic_set_spi_level(&f->gic, NR_SPIS, true), -EINVAL);
}

static void test_irouter_routing(void **state)
{
	struct fake *f = *state;
	uint32_t mpidr1 = virq_gic_vcpu_mpidr(1);

	open_all(f);
	spi_setup(f, 40, 0x80, false);
	CHECK_EQ("IROUTER reset", virq_gic_dist_read(&f->gic, 0x6000 + 40 * 8, 8), 0);
	virq_gic_dist_write(&f->gic, 0x6000 + 40 * 8, 8, (1ull << 31) | 0xff00000000ull | mpidr1);
	CHECK_EQ("IROUTER: IRM and Aff3 dropped", virq_gic_dist_read(&f->gic, 0x6000 + 40 * 8, 8), mpidr1);
	virq_gic_dist_write(&f->gic, 0x6000 + 40 * 8 + 4, 4, 0xff);
	CHECK_EQ("IROUTER upper word WI", virq_gic_dist_read(&f->gic, 0x6000 + 40 * 8 + 4, 4), 0);
	CHECK_EQ("IROUTER < 32 RAZ", virq_gic_dist_read(&f->gic, 0x6000 + 8, 8), 0);

	f->kicks[1] = 0;
	virq_gic_set_spi_level(&f->gic, 8, true);
	CHECK_EQ("kick vCPU 1", f->kicks[1], 1);
	CHECK_EQ("vCPU 0 sees nothing", virq_gic_ack(&f->gic, 0, 1, NULL), 1023);
	CHECK_EQ("vCPU 1 takes it", virq_gic_ack(&f->gic, 1, 1, NULL), 40);
	virq_gic_eoi(&f->gic, 1, 1, 40);

	/* An affinity no vCPU has: nobody gets it, it stays pending, and re-routing delivers it. */
	virq_gic_dist_write(&f->gic, 0x6000 + 40 * 8, 8, 0x0f0f0f);
	virq_gic_set_spi_level(&f->gic, 8, true);
	for (unsigned v = 0; v < NR_VCPUS; v++)
		CHECK_EQ("unrouted", virq_gic_ack(&f->gic, v, 1, NULL), 1023);
	virq_gic_dist_write(&f->gic, 0x6000 + 40 * 8, 8, virq_gic_vcpu_mpidr(3));
	CHECK_EQ("re-routed to vCPU 3", virq_gic_ack(&f->gic, 3, 1, NULL), 40);
}

static void test_redist_registers(void **state)
{
	struct fake *f = *state;

	CHECK_EQ("TYPER vCPU 1", virq_gic_redist_read(&f->gic, 1, 0x8, 8), (1ull << 32) | (1u << 8));
	CHECK_EQ("TYPER last vCPU", virq_gic_redist_read(&f->gic, 3, 0x8, 8), (3ull << 32) | (3u << 8) | (1u << 4));
	CHECK_EQ("TYPER high word", virq_gic_redist_read(&f->gic, 3, 0xc, 4), 3);
	CHECK_EQ("CTLR: CES|IR", virq_gic_redist_read(&f->gic, 0, 0x0, 4), 0x6);
	virq_gic_redist_write(&f->gic, 0, 0x0, 4, 1);
	CHECK_EQ("EnableLPIs ignored without ITS", virq_gic_redist_read(&f->gic, 0, 0x0, 4), 0x6);
	CHECK_EQ("IIDR", virq_gic_redist_read(&f->gic, 0, 0x4, 4), 0x4b00043b);
	virq_gic_redist_write(&f->gic, 0, 0x14, 4, 2);
	CHECK_EQ("WAKER RAZ/WI", virq_gic_redist_read(&f->gic, 0, 0x14, 4), 0);
	CHECK_EQ("PENDBASER reset", virq_gic_redist_read(&f->gic, 0, 0x78, 8), (3ull << 7) | (1ull << 10));
	virq_gic_redist_write(&f->gic, 2, 0x78, 8, (1ull << 62) | 0x123450000ull | (2ull << 10));
	CHECK_EQ("PENDBASER: PTZ reads 0, outer share -> inner", virq_gic_redist_read(&f->gic, 2, 0x78, 8),
		 0x123450000ull | (1ull << 10) | (3ull << 7)); /* and inner nCnB -> RaWb */
	virq_gic_redist_write(&f->gic, 1, SGI_BASE + 0x100, 4, 0x80000001);
	CHECK_EQ("SGI frame ISENABLER0", virq_gic_redist_read(&f->gic, 1, SGI_BASE + 0x100, 4), 0x80000001);
	CHECK_EQ("other vCPU untouched", virq_gic_redist_read(&f->gic, 0, SGI_BASE + 0x100, 4), 0);
	CHECK_EQ("ICFGR0 SGIs edge", virq_gic_redist_read(&f->gic, 1, SGI_BASE + 0xc00, 4), 0xaaaaaaaa);
	virq_gic_redist_write(&f->gic, 1, SGI_BASE + 0xc04, 4, 0xaaaaaaaa);
	CHECK_EQ("ICFGR1 PPIs level, read-only", virq_gic_redist_read(&f->gic, 1, SGI_BASE + 0xc04, 4), 0);
	CHECK_EQ("bad vCPU", virq_gic_redist_read(&f->gic, NR_VCPUS, 0x8, 8), 0);
}

static void test_ack_eoi_mode0(void **state)
{
	struct fake *f = *state;
	uint64_t raised = 0;

	open_all(f);
	spi_setup(f, 40, 0x80, false);
	f->kicks[0] = 0;
	virq_gic_set_spi_level(&f->gic, 8, true);
	CHECK_EQ("kicked", f->kicks[0], 1);
	assert_true(virq_gic_pending(&f->gic, 0));
	CHECK_EQ("HPPIR1", virq_gic_icc_read(&f->gic, 0, VIRQ_ICC_HPPIR1), 40);
	CHECK_EQ("IAR1", virq_gic_ack(&f->gic, 0, 1, &raised), 40);
	assert_true(raised != 0);
	CHECK_EQ("RPR", virq_gic_icc_read(&f->gic, 0, VIRQ_ICC_RPR), 0x80);
	CHECK_EQ("AP1R0", virq_gic_icc_read(&f->gic, 0, VIRQ_ICC_AP1R0), 1u << (0x80 >> 3));
	CHECK_EQ("active", virq_gic_dist_read(&f->gic, 0x304, 4), 1u << 8);
	CHECK_EQ("not pending", virq_gic_dist_read(&f->gic, 0x204, 4), 0);
	CHECK_EQ("nothing more", virq_gic_ack(&f->gic, 0, 1, NULL), 1023);
	virq_gic_icc_write(&f->gic, 0, VIRQ_ICC_EOIR1, 40);
	CHECK_EQ("EOImode 0 deactivates", virq_gic_dist_read(&f->gic, 0x304, 4), 0);
	CHECK_EQ("RPR idle", virq_gic_icc_read(&f->gic, 0, VIRQ_ICC_RPR), 0xff);
	CHECK_EQ("edge SPI: no resample", f->resamples, 0);
	/* An EOI with nothing active is ignored and counted. */
	virq_gic_icc_write(&f->gic, 0, VIRQ_ICC_EOIR1, 40);
	CHECK_EQ("bad EOI", f->gic.cpus[0].stats.bad_eoi, 1);
	CHECK_EQ("special INTID EOI", (virq_gic_eoi(&f->gic, 0, 1, 1023), f->gic.cpus[0].stats.bad_eoi), 1);
	CHECK_EQ("ICC_CTLR", virq_gic_icc_read(&f->gic, 0, VIRQ_ICC_CTLR), (4u << 8) | (1u << 15));
}

static void test_eoimode1_dir(void **state)
{
	struct fake *f = *state;

	open_all(f);
	spi_setup(f, 40, 0x80, false);
	virq_gic_icc_write(&f->gic, 0, VIRQ_ICC_CTLR, 2);
	virq_gic_set_spi_level(&f->gic, 8, true);
	CHECK_EQ("IAR1", virq_gic_icc_read(&f->gic, 0, VIRQ_ICC_IAR1), 40);
	virq_gic_icc_write(&f->gic, 0, VIRQ_ICC_EOIR1, 40);
	CHECK_EQ("priority dropped", virq_gic_icc_read(&f->gic, 0, VIRQ_ICC_RPR), 0xff);
	CHECK_EQ("still active", virq_gic_dist_read(&f->gic, 0x304, 4), 1u << 8);
	/* Still active: a new edge is pending but not taken until deactivation. */
	virq_gic_set_spi_level(&f->gic, 8, true);
	CHECK_EQ("active+pending not taken", virq_gic_ack(&f->gic, 0, 1, NULL), 1023);
	virq_gic_icc_write(&f->gic, 0, VIRQ_ICC_DIR, 40);
	CHECK_EQ("DIR deactivates", virq_gic_dist_read(&f->gic, 0x304, 4), 0);
	CHECK_EQ("taken again", virq_gic_ack(&f->gic, 0, 1, NULL), 40);
	/* DIR with EOImode 0 is ignored. */
	virq_gic_icc_write(&f->gic, 0, VIRQ_ICC_CTLR, 0);
	virq_gic_icc_write(&f->gic, 0, VIRQ_ICC_DIR, 40);
	CHECK_EQ("DIR ignored in EOImode 0", virq_gic_dist_read(&f->gic, 0x304, 4), 1u << 8);
	CHECK_EQ("counted", f->gic.cpus[0].stats.bad_eoi, 1);
}

static void test_pmr_groups_enable(void **state)
{
	struct fake *f = *state;

	open_all(f);
	spi_setup(f, 40, 0x80, false);
	virq_gic_set_spi_level(&f->gic, 8, true);
	virq_gic_icc_write(&f->gic, 0, VIRQ_ICC_PMR, 0x80);
	CHECK_EQ("PMR == priority masks", virq_gic_ack(&f->gic, 0, 1, NULL), 1023);
	virq_gic_icc_write(&f->gic, 0, VIRQ_ICC_PMR, 0x87);
	CHECK_EQ("PMR 5 bits", virq_gic_icc_read(&f->gic, 0, VIRQ_ICC_PMR), 0x80);
	virq_gic_icc_write(&f->gic, 0, VIRQ_ICC_PMR, 0x88);
	virq_gic_icc_write(&f->gic, 0, VIRQ_ICC_IGRPEN1, 0);
	CHECK_EQ("group 1 disabled", virq_gic_ack(&f->gic, 0, 1, NULL), 1023);
	virq_gic_icc_write(&f->gic, 0, VIRQ_ICC_IGRPEN1, 1);
	virq_gic_dist_write(&f->gic, 0x0, 4, 0);
	CHECK_EQ("distributor disabled", virq_gic_ack(&f->gic, 0, 1, NULL), 1023);
	virq_gic_dist_write(&f->gic, 0x0, 4, 2);
	/* A group 0 interrupt of higher priority hides the group 1 one from IAR1. */
	spi_setup(f, 41, 0x40, false);
	virq_gic_dist_write(&f->gic, 0x84, 4, ~(1u << 9));
	virq_gic_set_spi_level(&f->gic, 9, true);
	CHECK_EQ("HPPIR1 sees group 0 first", virq_gic_icc_read(&f->gic, 0, VIRQ_ICC_HPPIR1), 1023);
	CHECK_EQ("IAR1", virq_gic_ack(&f->gic, 0, 1, NULL), 1023);
	CHECK_EQ("IAR0", virq_gic_icc_read(&f->gic, 0, VIRQ_ICC_IAR0), 41);
	CHECK_EQ("AP0R0", virq_gic_icc_read(&f->gic, 0, VIRQ_ICC_AP0R0), 1u << (0x40 >> 3));
	virq_gic_icc_write(&f->gic, 0, VIRQ_ICC_EOIR0, 41);
	CHECK_EQ("then IAR1", virq_gic_ack(&f->gic, 0, 1, NULL), 40);
}

static void test_preemption(void **state)
{
	struct fake *f = *state;

	open_all(f);
	spi_setup(f, 40, 0x90, false);
	spi_setup(f, 41, 0x88, false);
	spi_setup(f, 42, 0x40, false);
	spi_setup(f, 43, 0xa0, false);
	virq_gic_set_spi_level(&f->gic, 8, true);
	CHECK_EQ("first", virq_gic_ack(&f->gic, 0, 1, NULL), 40);
	CHECK_EQ("RPR", virq_gic_icc_read(&f->gic, 0, VIRQ_ICC_RPR), 0x90);
	virq_gic_set_spi_level(&f->gic, 11, true);
	CHECK_EQ("lower priority waits", virq_gic_ack(&f->gic, 0, 1, NULL), 1023);
	virq_gic_set_spi_level(&f->gic, 9, true);
	CHECK_EQ("0x88 preempts 0x90", virq_gic_ack(&f->gic, 0, 1, NULL), 41);
	virq_gic_set_spi_level(&f->gic, 10, true);
	CHECK_EQ("0x40 preempts 0x88", virq_gic_ack(&f->gic, 0, 1, NULL), 42);
	CHECK_EQ("RPR nested", virq_gic_icc_read(&f->gic, 0, VIRQ_ICC_RPR), 0x40);
	virq_gic_eoi(&f->gic, 0, 1, 42);
	CHECK_EQ("RPR after one drop", virq_gic_icc_read(&f->gic, 0, VIRQ_ICC_RPR), 0x88);
	virq_gic_eoi(&f->gic, 0, 1, 41);
	virq_gic_eoi(&f->gic, 0, 1, 40);
	CHECK_EQ("then the low one", virq_gic_ack(&f->gic, 0, 1, NULL), 43);
	virq_gic_eoi(&f->gic, 0, 1, 43);

	/* BPR1 = 6: group priority is bits 7:6, so 0x88 and 0x90 are one group: no preemption. */
	virq_gic_icc_write(&f->gic, 0, VIRQ_ICC_BPR1, 6);
	virq_gic_set_spi_level(&f->gic, 8, true);
	CHECK_EQ("first again", virq_gic_ack(&f->gic, 0, 1, NULL), 40);
	CHECK_EQ("RPR is the group priority", virq_gic_icc_read(&f->gic, 0, VIRQ_ICC_RPR), 0x80);
	virq_gic_set_spi_level(&f->gic, 9, true);
	CHECK_EQ("same group priority", virq_gic_ack(&f->gic, 0, 1, NULL), 1023);
	virq_gic_set_spi_level(&f->gic, 10, true);
	CHECK_EQ("0x40 still preempts", virq_gic_ack(&f->gic, 0, 1, NULL), 42);
	virq_gic_eoi(&f->gic, 0, 1, 42);
	virq_gic_eoi(&f->gic, 0, 1, 40);
	CHECK_EQ("0x88 after both", virq_gic_ack(&f->gic, 0, 1, NULL), 41);
	virq_gic_eoi(&f->gic, 0, 1, 41);
	virq_gic_icc_write(&f->gic, 0, VIRQ_ICC_BPR1, 0);
	CHECK_EQ("BPR1 minimum 3", virq_gic_icc_read(&f->gic, 0, VIRQ_ICC_BPR1), 3);

	/* Equal priority: lowest INTID first. */
	virq_gic_dist_write(&f->gic, 0x428, 4, 0x80808080);
	virq_gic_set_spi_level(&f->gic, 11, true);
	virq_gic_set_spi_level(&f->gic, 9, true);
	CHECK_EQ("tie: lowest INTID", virq_gic_ack(&f->gic, 0, 1, NULL), 41);
}

static void test_level_spi_resample(void **state)
{
	struct fake *f = *state;

	open_all(f);
	spi_setup(f, 41, 0x80, true);
	virq_gic_set_spi_level(&f->gic, 9, true);
	CHECK_EQ("IAR", virq_gic_ack(&f->gic, 0, 1, NULL), 41);
	CHECK_EQ("active and pending", virq_gic_dist_read(&f->gic, 0x204, 4) & virq_gic_dist_read(&f->gic, 0x304, 4),
		 1u << 9);
	virq_gic_eoi(&f->gic, 0, 1, 41);
	CHECK_EQ("resample called", f->resamples, 1);
	CHECK_EQ("resample pin", f->resample_pin, 9);
	assert_false(f->resample_locked);
	CHECK_EQ("line still high: pending again", virq_gic_ack(&f->gic, 0, 1, NULL), 41);

	/* A resampler that lowers the line: no second delivery. */
	f->resample_lowers = true;
	virq_gic_eoi(&f->gic, 0, 1, 41);
	CHECK_EQ("resampled", f->resamples, 2);
	CHECK_EQ("line low", virq_gic_ack(&f->gic, 0, 1, NULL), 1023);

	/* EOImode 1: the resample happens at DIR, not at EOIR. */
	virq_gic_icc_write(&f->gic, 0, VIRQ_ICC_CTLR, 2);
	virq_gic_set_spi_level(&f->gic, 9, true);
	CHECK_EQ("IAR", virq_gic_ack(&f->gic, 0, 1, NULL), 41);
	virq_gic_eoi(&f->gic, 0, 1, 41);
	CHECK_EQ("no resample at EOIR", f->resamples, 2);
	virq_gic_dir(&f->gic, 0, 41);
	CHECK_EQ("resample at DIR", f->resamples, 3);
	virq_gic_dir(&f->gic, 0, 41);
	CHECK_EQ("not active: no second resample", f->resamples, 3);
}

static void test_sgi_ppi(void **state)
{
	struct fake *f = *state;

	open_all(f);
	for (unsigned v = 0; v < NR_VCPUS; v++) {
		virq_gic_redist_write(&f->gic, v, SGI_BASE + 0x100, 4, 0xffffffff);
		virq_gic_redist_write(&f->gic, v, SGI_BASE + 0x400, 4, 0x10101010);
	}
	/* SGI 3 to vCPU 1 (Aff0 = 1 in the target list). */
	virq_gic_icc_write(&f->gic, 0, VIRQ_ICC_SGI1R, (3ull << 24) | (1u << 1));
	CHECK_EQ("vCPU 0 nothing", virq_gic_ack(&f->gic, 0, 1, NULL), 1023);
	CHECK_EQ("vCPU 1 SGI 3", virq_gic_ack(&f->gic, 1, 1, NULL), 3);
	/* IRM: everyone but the sender. */
	virq_gic_icc_write(&f->gic, 2, VIRQ_ICC_SGI1R, (5ull << 24) | (1ull << 40));
	CHECK_EQ("sender excluded", virq_gic_ack(&f->gic, 2, 1, NULL), 1023);
	CHECK_EQ("vCPU 0 SGI 5", virq_gic_ack(&f->gic, 0, 1, NULL), 5);
	CHECK_EQ("vCPU 3 SGI 5", virq_gic_ack(&f->gic, 3, 1, NULL), 5);
	/* SGI0R only reaches SGIs configured in group 0. */
	virq_gic_icc_write(&f->gic, 0, VIRQ_ICC_SGI0R, (6ull << 24) | (1u << 3));
	CHECK_EQ("group mismatch", virq_gic_ack(&f->gic, 3, 0, NULL), 1023);
	/* PPI 27, level. */
	assert_int_equal(virq_gic_set_ppi_level(&f->gic, 2, 27, true), 0);
	CHECK_EQ("PPI 27", virq_gic_ack(&f->gic, 2, 1, NULL), 27);
	assert_int_equal(virq_gic_set_ppi_level(&f->gic, 2, 12, true), -EINVAL);
	assert_int_equal(virq_gic_set_ppi_level(&f->gic, NR_VCPUS, 27, true), -EINVAL);
}

static void test_init_errors(void **state)
{
	struct virq_gic gic;

	assert_int_equal(virq_gic_init(&gic, 0, 32, &fake_ops, NULL), -EINVAL);
	assert_int_equal(virq_gic_init(&gic, 1, 48, &fake_ops, NULL), -EINVAL);
	assert_int_equal(virq_gic_init(&gic, 1, 1024, &fake_ops, NULL), -EINVAL);
	assert_int_equal(virq_gic_init(&gic, VIRQ_GIC_MAX_VCPUS + 1, 32, &fake_ops, NULL), -EINVAL);
	CHECK_EQ("MPIDR of vCPU 0x123", virq_gic_vcpu_mpidr(0x123), 0x1203);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_dist_registers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spi_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_irouter_routing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redist_registers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ack_eoi_mode0, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eoimode1_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pmr_groups_enable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_preemption, setup, teardown),
		cmocka_unit_test_setup_teardown(test_level_spi_resample, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sgi_ppi, setup, teardown),
		cmocka_unit_test(test_init_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
