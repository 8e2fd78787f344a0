/* SPDX-License-Identifier: MIT */
/*
 * its_translation.c - what the ITS costs per MSI with 10,000 mapped events (issue 4, item 6): one
 * (DeviceID, EventID) -> LPI translation and latch, from the translation cache (its_translation_hit_ns,
 * the irqfd fast path, virq_its_inject_cached) and from the ITS's own tables after the cache was dropped
 * (its_translation_miss_ns, virq_its_translate_and_inject: device and ITE lookup, collection, EnableLPIs
 * check, cache fill).
 *
 * The model is driven directly (no vCPU, no front, no eventfd), over 4 MiB of process memory standing in
 * for guest RAM, so the figure is the translation itself: 10 devices x 1000 events, mapped through the
 * command queue as a guest does. Floor: latching the same LPIs with no translation at all
 * (virq_gic_lpi_inject), so the ratio is what translation adds to the unavoidable latch. Each sample is the
 * mean over one pass of all 10,000 events; miss passes start with an untimed cache invalidation.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_int.h"
#include "irqchip/arm/its.h"

#define ITS_BENCH_RAM (4u << 20)
#define ITS_BENCH_DEVS 10u
#define ITS_BENCH_EVENTS 1000u        /* per device: 10 EventID bits */
#define ITS_BENCH_PROPTAB 0x000000ull
#define ITS_BENCH_PENDTAB 0x010000ull
#define ITS_BENCH_DEVTAB 0x020000ull
#define ITS_BENCH_COLLTAB 0x030000ull
#define ITS_BENCH_CMDQ 0x100000ull    /* 1 MiB: 32768 commands */
#define ITS_BENCH_ITT(d) (0x200000ull + (uint64_t)(d) * 0x2000)

struct its_bench {
	uint8_t *ram;
	struct virq_gic gic;
	struct virq_its its;
	bool miss;                        /* the path side measures misses, not hits */
};

static int its_bench_read(void *ctx, uint64_t gpa, void *buf, size_t len)
{
	struct its_bench *b = ctx;
	if (gpa >= ITS_BENCH_RAM || len > ITS_BENCH_RAM - gpa)
		return -EFAULT;
	memcpy(buf, b->ram + gpa, len);
	return 0;
}

static int its_bench_write(void *ctx, uint64_t gpa, const void *buf, size_t len)
{
	struct its_bench *b = ctx;
	if (gpa >= ITS_BENCH_RAM || len > ITS_BENCH_RAM - gpa)
		return -EFAULT;
	memcpy(b->ram + gpa, buf, len);
	return 0;
}

static void its_bench_kick(void *ctx, unsigned vcpu)
{
}

static const struct virq_gic_ops its_bench_ops = {
	.read_guest = its_bench_read, .write_guest = its_bench_write, .kick_vcpu = its_bench_kick,
};

static uint32_t its_bench_lpi(unsigned d, unsigned e)
{
	return VIRQ_GIC_LPI_BASE + d * ITS_BENCH_EVENTS + e;
}

static void its_bench_cmd(struct its_bench *b, unsigned *n, uint64_t dw0, uint64_t dw1, uint64_t dw2)
{
	uint64_t cmd[4] = { dw0, dw1, dw2, 0 };
	memcpy(b->ram + ITS_BENCH_CMDQ + (uint64_t)(*n)++ * 32, cmd, sizeof(cmd));
}

/* Bring up the GIC and the ITS as a guest would, and map every event to collection 0 (vCPU 0). */
static int its_bench_setup(struct its_bench *b)
{
	unsigned n = 0;
	int ret;

	b->ram = calloc(1, ITS_BENCH_RAM);
	if (!b->ram)
		return -ENOMEM;
	ret = virq_gic_init(&b->gic, 1, 32, &its_bench_ops, b);
	if (ret == 0 && (ret = virq_its_init(&b->its, &b->gic)) < 0)
		virq_gic_destroy(&b->gic);
	if (ret < 0) {
		free(b->ram);
		return ret;
	}
	virq_its_set_base(&b->its, 0x08080000);
	memset(b->ram + ITS_BENCH_PROPTAB, 0xa1, ITS_BENCH_DEVS * ITS_BENCH_EVENTS); /* prio 0xa0, enabled */
	virq_gic_dist_write(&b->gic, 0, 4, 0x12);
	virq_gic_redist_write(&b->gic, 0, 0x70, 8, ITS_BENCH_PROPTAB | 15);
	virq_gic_redist_write(&b->gic, 0, 0x78, 8, ITS_BENCH_PENDTAB | 1ull << 62);
	virq_gic_redist_write(&b->gic, 0, 0x00, 4, 1);
	virq_its_mmio_write(&b->its, 0x100, 8, 1ull << 63 | ITS_BENCH_DEVTAB);
	virq_its_mmio_write(&b->its, 0x108, 8, 1ull << 63 | ITS_BENCH_COLLTAB);
	virq_its_mmio_write(&b->its, 0x80, 8, 1ull << 63 | ITS_BENCH_CMDQ | 255); /* 256 pages */
	virq_its_mmio_write(&b->its, 0x00, 4, 1);
	for (unsigned d = 0; d < ITS_BENCH_DEVS; d++)
		its_bench_cmd(b, &n, 0x08 | (uint64_t)d << 32, 9, 1ull << 63 | ITS_BENCH_ITT(d)); /* MAPD */
	its_bench_cmd(b, &n, 0x09, 0, 1ull << 63);                                             /* MAPC */
	for (unsigned d = 0; d < ITS_BENCH_DEVS; d++)
		for (unsigned e = 0; e < ITS_BENCH_EVENTS; e++)                              /* MAPTI */
			its_bench_cmd(b, &n, 0x0a | (uint64_t)d << 32, e | (uint64_t)its_bench_lpi(d, e) << 32, 0);
	virq_its_mmio_write(&b->its, 0x88, 8, (uint64_t)n * 32);
	/* Every event must translate, or the figure measures the refusal path. */
	for (unsigned d = 0; d < ITS_BENCH_DEVS; d++)
		for (unsigned e = 0; e < ITS_BENCH_EVENTS; e++)
			if (virq_its_translate_and_inject(&b->its, d, e) != 1) {
				fprintf(stderr, "virq bench: its translation: event %u/%u did not map\n", d, e);
				return -EIO;
			}
	return 0;
}

static void its_bench_teardown(struct its_bench *b)
{
	virq_its_destroy(&b->its);
	virq_gic_destroy(&b->gic);
	free(b->ram);
}

/* One pass over all events: mean ns per call. */
static double its_bench_pass(struct its_bench *b, int which)
{
	uint64_t now = virq_gic_now_ns(), t0, t1;
	unsigned bad = 0;

	if (which == 1)
		virq_its_cache_invalidate(&b->its); /* untimed: the pass then misses once per event */
	t0 = virq_bench_now_ns();
	for (unsigned d = 0; d < ITS_BENCH_DEVS; d++) {
		for (unsigned e = 0; e < ITS_BENCH_EVENTS; e++) {
			int r;
			if (which == 0)
				r = virq_its_inject_cached(&b->its, d, e, now);
			else if (which == 1)
				r = virq_its_translate_and_inject_at(&b->its, d, e, now);
			else
				r = virq_gic_lpi_inject(&b->gic, its_bench_lpi(d, e), -1, now);
			bad += r != 1;
		}
	}
	t1 = virq_bench_now_ns();
	if (bad)
		return -1.0;
	return (double)(t1 - t0) / (ITS_BENCH_DEVS * ITS_BENCH_EVENTS);
}

static int its_bench_block(struct its_bench *b, int which, double *samples, int iters)
{
	for (int i = 0; i < iters; i++) {
		samples[i] = its_bench_pass(b, which);
		if (samples[i] < 0) {
			fprintf(stderr, "virq bench: its translation: an injection was refused\n");
			return -EIO;
		}
	}
	return iters;
}

static int its_bench_path(void *ctx, double *samples, int iters)
{
	struct its_bench *b = ctx;
	return its_bench_block(b, b->miss ? 1 : 0, samples, iters);
}

static int its_bench_floor(void *ctx, double *samples, int iters)
{
	return its_bench_block(ctx, 2, samples, iters);
}

int virq_bench_its_translation(const struct virq_bench_sel *sel)
{
	struct its_bench b = { 0 };
	struct virq_bench_ab_result res;
	int ret = its_bench_setup(&b);

	if (ret < 0)
		return ret;
	static const char *const metrics[2] = { "its_translation_hit_ns", "its_translation_miss_ns" };
	for (int miss = 0; miss < 2 && ret == 0; miss++) {
		if (!virq_bench_selected(sel, metrics[miss]))
			continue;
		b.miss = miss;
		struct virq_bench_ab ab = {
			.name = metrics[miss], .ctx = &b, .path = its_bench_path, .floor = its_bench_floor,
			.iters = 5, .min_pairs = 3, .max_pairs = 20, .budget_s = 2.0,
		};
		ret = virq_bench_interleave(&ab, &res);
		if (ret == 0)
			virq_bench_emit(sel, metrics[miss], res.path_p50, "ns", res.floor_p50, res.ratio_p50);
	}
	its_bench_teardown(&b);
	return ret;
}
