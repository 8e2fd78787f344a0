/* SPDX-License-Identifier: MIT */
/*
 * posted.c - the bypass path's timing figures (issue 6, scope item 9), all on the device and VM of
 * posted_rig.c (16 MSI-X vectors behind an IOMMU, two vCPUs), so the posted and remapped figures differ
 * only in the path the engine chose:
 *
 *  - posted_latency_p50/p99: device raise -> guest handler entry, the target vCPU running (its guest
 *    spins, so the post is folded at an op boundary and nobody is woken). Vector 1, posted to vCPU 0.
 *    Sample: t0 = CLOCK_MONOTONIC just before virq_pci_function_raise(), which runs the device model,
 *    the IOMMU's translation through the posted IRTE and the post into vCPU 0's descriptor on the device
 *    thread; t1 = the handler's entry as the engine stamps it. The device spins (reading memory only) on
 *    the count the handler writes into guest RAM after its entry, then acknowledges the cause as the
 *    driver would, and waits 2 µs before the next raise, so every raise finds the vCPU back in its
 *    spin loop. Floor: the cache-line hand-off between the same two threads (floor_cacheline.c,
 *    HANDOFF), with the same 2 µs between samples. The goal is a ratio of 2 or less.
 *  - posted_throughput: posts/s a running vCPU takes from one device thread raising vectors 1 and 3-14
 *    round robin (every raise a message: the driver's ACK of all of them follows each round). The block
 *    lasts from the first raise to the last handler entry, which must follow each vector's last raise.
 *    Floor: the "posted shape" (floor_cacheline.c, POSTED): the same two threads doing nothing but the
 *    descriptor's two atomics and the fold. Why that floor and not the eventfd rate of
 *    irqfd_msi_throughput: a floor is what the same hops cost at the least, and a post's hops are a cache
 *    line, not an eventfd; the eventfd rate is what the remapped path is bounded by, so the two throughput
 *    figures of one run already show posting against it (docs/performance.md compares them).
 *  - remapped_latency_p50/p99: the same device and VM, vector 0, which the kvm-vfio device's UNPOST_IRQ
 *    keeps remapped: raise -> IOMMU -> host IRQ handler -> trigger eventfd -> irqfd -> the halted vCPU 1
 *    (it waits on the irqfd itself) -> handler entry. Measured exactly as irqfd_msi_latency_p50 (the
 *    guest reports, the device blocks on the report, the vCPU settles back into hlt), against the same
 *    floor: device -> epoll relay -> blocked reader (floors.c), on the same worker threads.
 *  - posted_halted_latency_p50/p99: the same with vector 15, posted to the same halted vCPU: raise ->
 *    IOMMU post -> wakeup-vector notification -> the wakeup handler's kick (one eventfd write) -> the
 *    vCPU wakes, folds -> handler entry. The same measurement and floor, in the same family and run, so it
 *    reads directly against remapped_latency: both are one thread wake-up.
 *
 * Placement: the two running-vCPU figures pin the device thread to the first CPU and the vCPU 0 thread
 * (which is also the cache-line sink) to the second, identically for A and B blocks: two threads that
 * spin must not share a core, or a sample measures the scheduler's time slice. The remapped figure leaves
 * placement to the scheduler, as the irqfd latency figures do.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_int.h"
#include "virq/host.h"

#define VIRQ_BENCH_POSTED_GAP_NS 2000ull
#define VIRQ_BENCH_POSTED_TPUT_BLOCKS 512
#define VIRQ_BENCH_POSTED_QUIET_NS 20000ull

/* The posted vectors a throughput block raises (all routed to vCPU 0; 0 and 2 are remapped, 15 goes to
 * the halted vCPU). */
static const unsigned virq_bench_tput_vectors[] = { 1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14 };
#define VIRQ_BENCH_TPUT_NR (sizeof(virq_bench_tput_vectors) / sizeof(virq_bench_tput_vectors[0]))

struct virq_bench_posted {
	struct virq_bench_cacheline line;  /* first: the struct is allocated 64-byte aligned */
	struct virq_bench_posted_rig pr;
	struct virq_bench_floor floor;     /* remapped_latency's eventfd floor */
	struct virq_bench_placement placement;
	uint64_t last_raise[VIRQ_BENCH_PR_VECTORS];
};

static struct virq_bench_posted *virq_bench_posted_new(bool eventfd_floor)
{
	struct virq_bench_posted *pb = aligned_alloc(64, sizeof(*pb));

	if (!pb)
		return NULL;
	memset(pb, 0, sizeof(*pb));
	pb->floor.e1 = pb->floor.e2 = pb->floor.e2nb = pb->floor.ack = pb->floor.epfd = -1;
	if (virq_bench_pr_create(&pb->pr) < 0) {
		free(pb);
		return NULL;
	}
	if (eventfd_floor && virq_bench_floor_init(&pb->floor) < 0) {
		virq_bench_pr_destroy(&pb->pr);
		free(pb);
		return NULL;
	}
	return pb;
}

static void virq_bench_posted_free(struct virq_bench_posted *pb)
{
	virq_bench_unpin_all(&pb->placement);
	virq_bench_pr_destroy(&pb->pr);
	virq_bench_floor_destroy(&pb->floor);
	free(pb);
}

/* The device thread on the first CPU, the vCPU 0 thread (spinner and cache-line sink) on the second. */
static int virq_bench_posted_place(struct virq_bench_posted *pb)
{
	int cpus[2], ret;

	if (virq_bench_two_cpus(cpus) < 0) {
		fprintf(stderr, "virq bench: posted: fewer than 2 CPUs; threads left unpinned\n");
		return 0;
	}
	if ((ret = virq_bench_pin(&pb->placement, virq_bench_gettid(), cpus[0])) < 0 ||
	    (ret = virq_bench_pin(&pb->placement, pb->pr.spinner.tid, cpus[1])) < 0)
		fprintf(stderr, "virq bench: posted: pinning threads: %s\n", strerror(-ret));
	return ret;
}

static void virq_bench_posted_gap(void)
{
	uint64_t until = virq_bench_now_ns() + VIRQ_BENCH_POSTED_GAP_NS;
	while (virq_bench_now_ns() < until)
		__builtin_ia32_pause();
}

/* ---- posted_latency ---- */

/* Spin until the handler's count in guest RAM moves past @seen; it must move by exactly one. */
static int virq_bench_posted_wait_entry(struct virq_bench_posted_rig *pr, uint64_t seen, uint64_t t0)
{
	struct virq_bench_pr_vcpu *c = &pr->cpu[0];
	unsigned spins = 0;
	uint64_t now;

	while ((now = atomic_load_explicit(c->entry_word, memory_order_acquire)) == seen) {
		__builtin_ia32_pause();
		if (++spins % 65536 == 0 &&
		    (atomic_load(&c->run_error) || virq_bench_now_ns() - t0 > VIRQ_BENCH_TIMEOUT_MS * 1000000ull)) {
			fprintf(stderr, "virq bench: posted latency: the running vCPU did not take the post\n");
			return -ETIMEDOUT;
		}
	}
	if (now != seen + 1) {
		fprintf(stderr, "virq bench: posted latency: %llu handler entries for one raise\n",
			(unsigned long long)(now - seen));
		return -EIO;
	}
	return 0;
}

static int virq_bench_posted_latency_path(void *ctx, double *samples, int iters)
{
	struct virq_bench_posted *pb = ctx;
	struct virq_bench_posted_rig *pr = &pb->pr;
	int n = 0, ret;

	virq_bench_pr_enter(pr, 0);
	ret = virq_bench_pr_running(pr, 0);
	for (int i = 0; ret == 0 && i < iters + VIRQ_BENCH_LATENCY_WARMUP; i++) {
		uint64_t seen = atomic_load_explicit(pr->cpu[0].entry_word, memory_order_acquire);

		uint64_t t0 = virq_bench_now_ns();
		if ((ret = virq_bench_pr_raise(pr, VIRQ_BENCH_PR_POSTED)) < 0 ||
		    (ret = virq_bench_posted_wait_entry(pr, seen, t0)) < 0)
			break;
		uint64_t t1 = virq_bench_pr_vector(pr, 0, VIRQ_BENCH_PR_POSTED).last_entry_ns;
		if (i >= VIRQ_BENCH_LATENCY_WARMUP)
			samples[n++] = t1 > t0 ? (double)(t1 - t0) : 0;
		if ((ret = virq_bench_pr_ack(pr, 1ull << VIRQ_BENCH_PR_POSTED)) < 0)
			break;
		virq_bench_posted_gap();
	}
	int r = virq_bench_pr_leave(pr, 0);
	if (ret == 0)
		ret = r;
	return ret < 0 ? ret : n;
}

static int virq_bench_posted_latency_floor(void *ctx, double *samples, int iters)
{
	struct virq_bench_posted *pb = ctx;
	int n = 0;
	int ret = virq_bench_cacheline_enter(&pb->line, &pb->pr.spinner, VIRQ_BENCH_CACHELINE_HANDOFF);

	for (int i = 0; ret == 0 && i < iters + VIRQ_BENCH_LATENCY_WARMUP; i++) {
		int64_t d = virq_bench_cacheline_handoff(&pb->line);
		if (d < 0) {
			ret = (int)d;
			break;
		}
		if (i >= VIRQ_BENCH_LATENCY_WARMUP)
			samples[n++] = (double)d;
		virq_bench_posted_gap();
	}
	int r = virq_bench_cacheline_leave(&pb->line, &pb->pr.spinner);
	if (ret == 0)
		ret = r;
	return ret < 0 ? ret : n;
}

int virq_bench_posted_latency(const struct virq_bench_sel *sel)
{
	struct virq_bench_posted *pb = virq_bench_posted_new(false);
	struct virq_bench_ab_result res;
	int ret;

	if (!pb)
		return -EIO;
	if ((ret = virq_bench_posted_place(pb)) < 0)
		goto out;
	struct virq_bench_ab ab = {
		.name = "posted_latency_p50", .ctx = pb,
		.path = virq_bench_posted_latency_path, .floor = virq_bench_posted_latency_floor,
		.iters = 1000, .max_pairs = 1000, .min_pairs = 5, .budget_s = 1.5,
	};
	ret = virq_bench_interleave(&ab, &res);
	if (ret == 0) {
		virq_bench_emit(sel, "posted_latency_p50", res.path_p50, "ns", res.floor_p50, res.ratio_p50);
		virq_bench_emit(sel, "posted_latency_p99", res.path_p99, "ns", res.floor_p99, res.ratio_p99);
		struct virq_iommu_stats st;
		if (virq_iommu_stats(pb->pr.iommu, &st) == 0)
			fprintf(stderr, "virq bench: posted latency: IOMMU %llu posted, %llu remapped\n",
				(unsigned long long)st.posted, (unsigned long long)st.remapped);
	}
out:
	virq_bench_posted_free(pb);
	return ret;
}

/* ---- posted_throughput ---- */

/* Sleep-poll until @entry(@ctx, v) >= pb->last_raise[v] for every raised vector; then the end time. */
static int virq_bench_posted_tput_end(struct virq_bench_posted *pb, uint64_t (*entry)(void *, unsigned), void *ctx,
				      const char *side, uint64_t *end)
{
	uint64_t deadline = virq_bench_now_ns() + VIRQ_BENCH_TIMEOUT_MS * 1000000ull;

	for (unsigned k = 0; k < VIRQ_BENCH_TPUT_NR; k++) {
		unsigned v = virq_bench_tput_vectors[k];
		while (entry(ctx, v) < pb->last_raise[v]) {
			if (virq_bench_now_ns() > deadline) {
				fprintf(stderr, "virq bench: posted throughput (%s): vector %u: no handler entry after "
					"its last raise (lost edge)\n", side, v);
				return -ETIMEDOUT;
			}
			virq_bench_sleep_ns(5000);
		}
	}
	virq_bench_sleep_ns(VIRQ_BENCH_POSTED_QUIET_NS);
	*end = 0;
	for (unsigned k = 0; k < VIRQ_BENCH_TPUT_NR; k++) {
		uint64_t e = entry(ctx, virq_bench_tput_vectors[k]);
		if (e > *end)
			*end = e;
	}
	return 0;
}

static uint64_t virq_bench_posted_tput_entry(void *ctx, unsigned v)
{
	return virq_bench_pr_vector(ctx, 0, v).last_entry_ns;
}

static uint64_t virq_bench_posted_tput_line_entry(void *ctx, unsigned v)
{
	struct virq_bench_cacheline *c = ctx;
	return atomic_load_explicit(&c->last_ns[VIRQ_BENCH_PR_VEC0 + v], memory_order_relaxed);
}

static int virq_bench_posted_tput_path(void *ctx, double *samples, int iters)
{
	struct virq_bench_posted *pb = ctx;
	struct virq_bench_posted_rig *pr = &pb->pr;
	uint64_t mask = 0, end;
	struct virq_iommu_stats s0, s1;
	int ret;

	for (unsigned k = 0; k < VIRQ_BENCH_TPUT_NR; k++)
		mask |= 1ull << virq_bench_tput_vectors[k];
	virq_bench_pr_enter(pr, 0);
	if ((ret = virq_bench_pr_running(pr, 0)) < 0 || (ret = virq_iommu_stats(pr->iommu, &s0)) < 0)
		goto out;
	uint64_t first = virq_bench_now_ns();
	for (int i = 0; i < iters; i++) {
		unsigned k = (unsigned)i % VIRQ_BENCH_TPUT_NR, v = virq_bench_tput_vectors[k];
		pb->last_raise[v] = virq_bench_now_ns();
		if ((ret = virq_bench_pr_raise(pr, v)) < 0)
			goto out;
		/* The driver services the round: one ACK of every cause, so each raise is a message. */
		if (k == VIRQ_BENCH_TPUT_NR - 1 && (ret = virq_bench_pr_ack(pr, mask)) < 0)
			goto out;
	}
	if ((ret = virq_bench_pr_ack(pr, mask)) < 0 ||
	    (ret = virq_bench_posted_tput_end(pb, virq_bench_posted_tput_entry, pr, "engine", &end)) < 0 ||
	    (ret = virq_iommu_stats(pr->iommu, &s1)) < 0)
		goto out;
	if (s1.posted - s0.posted != (uint64_t)iters || s1.remapped != s0.remapped) {
		fprintf(stderr, "virq bench: posted throughput: %llu raises, %llu posted, %llu remapped\n",
			(unsigned long long)iters, (unsigned long long)(s1.posted - s0.posted),
			(unsigned long long)(s1.remapped - s0.remapped));
		ret = -EIO;
		goto out;
	}
	samples[0] = iters / ((double)(end - first) / 1e9);
out:;
	int r = virq_bench_pr_leave(pr, 0);
	if (ret == 0)
		ret = r;
	return ret < 0 ? ret : 1;
}

static int virq_bench_posted_tput_floor(void *ctx, double *samples, int iters)
{
	struct virq_bench_posted *pb = ctx;
	struct virq_bench_cacheline *c = &pb->line;
	uint64_t end;
	int ret = virq_bench_cacheline_enter(c, &pb->pr.spinner, VIRQ_BENCH_CACHELINE_POSTED);

	if (ret < 0)
		goto out;
	uint64_t first = virq_bench_now_ns();
	for (int i = 0; i < iters; i++) {
		unsigned v = virq_bench_tput_vectors[(unsigned)i % VIRQ_BENCH_TPUT_NR];
		pb->last_raise[v] = virq_bench_now_ns();
		virq_bench_cacheline_post(c, VIRQ_BENCH_PR_VEC0 + v);
	}
	if ((ret = virq_bench_posted_tput_end(pb, virq_bench_posted_tput_line_entry, c, "floor", &end)) < 0)
		goto out;
	samples[0] = iters / ((double)(end - first) / 1e9);
out:;
	int r = virq_bench_cacheline_leave(c, &pb->pr.spinner);
	if (ret == 0)
		ret = r;
	return ret < 0 ? ret : 1;
}

int virq_bench_posted_throughput(const struct virq_bench_sel *sel)
{
	struct virq_bench_posted *pb = virq_bench_posted_new(false);
	struct virq_bench_ab_result res;
	int ret;

	if (!pb)
		return -EIO;
	if ((ret = virq_bench_posted_place(pb)) < 0)
		goto out;
	struct virq_bench_ab ab = {
		.name = "posted_throughput", .ctx = pb,
		.path = virq_bench_posted_tput_path, .floor = virq_bench_posted_tput_floor,
		.iters = 1000, .max_pairs = VIRQ_BENCH_POSTED_TPUT_BLOCKS, .min_pairs = 5, .budget_s = 1.5,
	};
	ret = virq_bench_interleave(&ab, &res);
	if (ret == 0)
		virq_bench_emit(sel, "posted_throughput", res.path_p50, "irq/s", res.floor_p50, res.ratio_p50);
out:
	virq_bench_posted_free(pb);
	return ret;
}

/* ---- remapped_latency and posted_halted_latency ---- */

struct virq_bench_halted {
	struct virq_bench_posted *pb;
	unsigned vector;  /* VIRQ_BENCH_PR_REMAP_REPORT or VIRQ_BENCH_PR_POSTED_REPORT */
	const char *name;
};

static int virq_bench_halted_latency_path(void *ctx, double *samples, int iters)
{
	struct virq_bench_halted *hl = ctx;
	struct virq_bench_posted_rig *pr = &hl->pb->pr;
	unsigned v = hl->vector;
	int n = 0, ret;
	uint64_t count;

	uint64_t mark = virq_bench_pr_halt(pr, 1).sleeps;
	virq_bench_pr_enter(pr, 1);
	ret = virq_bench_pr_settle(pr, 1, mark);
	for (int i = 0; ret == 0 && i < iters + VIRQ_BENCH_LATENCY_WARMUP; i++) {
		mark = virq_bench_pr_halt(pr, 1).sleeps;
		uint64_t handled = virq_bench_pr_vector(pr, 1, v).handled;

		uint64_t t0 = virq_bench_now_ns();
		if ((ret = virq_bench_pr_raise(pr, v)) < 0 ||
		    (ret = virq_bench_wait_read(pr->cpu[1].ack_fd, VIRQ_BENCH_TIMEOUT_MS, &count)) < 0)
			break;
		struct virq_vector_counts c = virq_bench_pr_vector(pr, 1, v);
		if (c.handled != handled + 1 || atomic_load(&pr->cpu[1].run_error)) {
			fprintf(stderr, "virq bench: %s: %llu handler entries for one raise\n", hl->name,
				(unsigned long long)(c.handled - handled));
			ret = -EIO;
			break;
		}
		if (i >= VIRQ_BENCH_LATENCY_WARMUP)
			samples[n++] = (double)(c.last_entry_ns - t0);
		if ((ret = virq_bench_pr_ack(pr, 1ull << v)) < 0)
			break;
		ret = virq_bench_pr_settle(pr, 1, mark);
	}
	int r = virq_bench_pr_leave(pr, 1);
	if (ret == 0)
		ret = r;
	return ret < 0 ? ret : n;
}

static int virq_bench_halted_latency_floor(void *ctx, double *samples, int iters)
{
	struct virq_bench_halted *hl = ctx;

	return virq_bench_latency_floor_block(&hl->pb->floor, &hl->pb->pr.base, false, samples, iters);
}

static int virq_bench_halted_latency(struct virq_bench_posted *pb, const struct virq_bench_sel *sel,
				     unsigned vector, const char *p50, const char *p99, double budget_s)
{
	struct virq_bench_halted hl = { .pb = pb, .vector = vector, .name = p50 };
	struct virq_bench_ab_result res;
	struct virq_iommu_stats s0, s1;

	if (!virq_bench_selected(sel, p50) && !virq_bench_selected(sel, p99))
		return 0;
	struct virq_bench_ab ab = {
		.name = p50, .ctx = &hl,
		.path = virq_bench_halted_latency_path, .floor = virq_bench_halted_latency_floor,
		.iters = 200, .max_pairs = 200, .min_pairs = 5, .budget_s = budget_s,
	};
	int ret = virq_iommu_stats(pb->pr.iommu, &s0);
	if (ret == 0)
		ret = virq_bench_interleave(&ab, &res);
	if (ret == 0)
		ret = virq_iommu_stats(pb->pr.iommu, &s1);
	if (ret < 0)
		return ret;
	virq_bench_emit(sel, p50, res.path_p50, "ns", res.floor_p50, res.ratio_p50);
	virq_bench_emit(sel, p99, res.path_p99, "ns", res.floor_p99, res.ratio_p99);
	fprintf(stderr, "virq bench: %s: IOMMU %llu remapped, %llu posted\n", p50,
		(unsigned long long)(s1.remapped - s0.remapped), (unsigned long long)(s1.posted - s0.posted));
	return 0;
}

int virq_bench_remapped_latency(const struct virq_bench_sel *sel)
{
	struct virq_bench_posted *pb = virq_bench_posted_new(true);
	int ret;

	if (!pb)
		return -EIO;
	ret = virq_bench_halted_latency(pb, sel, VIRQ_BENCH_PR_REMAP_REPORT, "remapped_latency_p50",
					"remapped_latency_p99", 2.0);
	if (ret == 0)
		ret = virq_bench_halted_latency(pb, sel, VIRQ_BENCH_PR_POSTED_REPORT, "posted_halted_latency_p50",
						"posted_halted_latency_p99", 2.0);
	virq_bench_posted_free(pb);
	return ret;
}
