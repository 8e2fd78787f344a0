/* SPDX-License-Identifier: MIT */
/*
 * runner.c - the registry of `virq bench` figures, their JSON lines, and the A/B interleaving that every
 * timed ratio goes through.
 *
 * Why interleave: absolute times on this machine swing 4-5x between runs (perf-floors.md section 5), and
 * a ratio between two measurements taken tens of seconds apart once came out at 0.24. So each figure's
 * floor is measured in the same run, alternating with the engine path in blocks of at most 1,000
 * iterations (A, B, A, B ...), and the ratio is the median over block pairs of (path / floor): a pair
 * spans a few milliseconds, short enough that the host's slow episodes hit both halves alike.
 *
 * value and floor are each the median over blocks of the per-block statistic, and ratio is the median
 * over pairs of the per-pair ratio, so ratio is close to, but not exactly, value / floor: it is the
 * figure that survives a host slowdown hitting a stretch of blocks.
 *
 * Output: one JSON object per line on stdout, keys in the fixed order metric, value, unit, floor, ratio;
 * notes and failures go to stderr. A figure is a metric name; one family measures several (p50 and p99
 * come from the same samples), and runs when any of its metrics is asked for.
 *
 * Return values of virq_bench_run: 0; 2 for an unknown name (bench.h); 1 when a figure could not be
 * measured (setup failed, or the engine lost an interrupt), after saying why on stderr.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "bench_int.h"

struct virq_bench_family {
	const char *name;
	int (*run)(const struct virq_bench_sel *sel);
};

struct virq_bench_figure {
	const char *metric;
	unsigned family;        /* index into virq_bench_families */
	const char *what;
};

/* The registry: the only global state of the benchmarks, and it is constant. */
static const struct virq_bench_family virq_bench_families[] = {
	{ "irqfd_latency", virq_bench_irqfd_latency },
	{ "irqfd_latency_halt_poll", virq_bench_irqfd_latency_halt_poll },
	{ "resample", virq_bench_resample },
	{ "throughput", virq_bench_throughput },
	{ "counts", virq_bench_counts },
	{ "msix_mask", virq_bench_msix_mask },
	{ "its_latency", virq_bench_its_latency },
	{ "its_translation", virq_bench_its_translation },
	{ "posted_latency", virq_bench_posted_latency },
	{ "posted_throughput", virq_bench_posted_throughput },
	{ "remapped_latency", virq_bench_remapped_latency },
	{ "posted_counts", virq_bench_posted_counts },
	{ "forwarded", virq_bench_forwarded },
};

static const struct virq_bench_figure virq_bench_figures[] = {
	{ "irqfd_msi_latency_p50", 0,
	  "eventfd write in a device thread -> guest handler entry, vCPU halted (ns, p50); floor: eventfd -> epoll relay -> blocked reader (2 wake-ups)" },
	{ "irqfd_msi_latency_p99", 0, "the same, p99 of each block" },
	{ "irqfd_msi_latency_halt_poll_p50", 1,
	  "the same with KVM_CAP_HALT_POLL 200 us (ns, p50); floor: eventfd -> epoll relay -> busy-polling reader" },
	{ "irqfd_msi_latency_halt_poll_p99", 1, "the same, p99 of each block" },
	{ "resample_roundtrip_p50", 2,
	  "resample irqfd trigger -> level handler, EOI -> resamplefd readable at the device (ns, p50); floor: the same 3 hops over plain eventfds" },
	{ "resample_roundtrip_p99", 2, "the same, p99 of each block" },
	{ "irqfd_msi_throughput", 3,
	  "signals/s accepted from one device thread by an irqfd to a running vCPU; floor: raw eventfd rate to an epoll consumer" },
	{ "irqfd_msi_handler_runs", 3, "guest handler runs/s during the throughput figure; floor: the consumer's wake-ups/s" },
	{ "syscalls_per_delivery", 4, "syscalls, all threads, per irqfd delivery to a halted vCPU; floor: the 2-wake-up eventfd/epoll path" },
	{ "context_switches_per_delivery", 4, "context switches per irqfd delivery to a halted vCPU; floor: the same eventfd/epoll path" },
	{ "msix_mask_cycle_ns", 5,
	  "a handler masks and unmasks its own MSI-X vector: handler entry -> after the unmask, table in the engine (ns, p50); floor: the same with the table in the VMM (two exits)" },
	{ "msix_exits_avoided", 5, "exits per handler run the in-engine table avoids (floor: the exits with the table in the VMM)" },
	{ "its_msi_latency_p50", 6,
	  "arm64: eventfd write -> LPI handler entry through an MSI route with DeviceID and the ITS, vCPU halted (ns, p50); floor: the same as irqfd_msi_latency_p50" },
	{ "its_msi_latency_p99", 6, "the same, p99 of each block" },
	{ "its_translation_hit_ns", 7,
	  "ITS translation + latch of one MSI from the translation cache, 10,000 mapped events (ns); floor: the LPI latch alone" },
	{ "its_translation_miss_ns", 7,
	  "the same after the cache was dropped: the device and ITE lookup, then the cache fill (ns); floor: the LPI latch alone" },
	{ "posted_latency_p50", 8,
	  "16-vector device behind an IOMMU, vector posted: raise -> IOMMU post -> running vCPU's fold -> handler entry (ns, p50); floor: cache-line hand-off between the same 2 threads (goal ratio <= 2)" },
	{ "posted_latency_p99", 8, "the same, p99 of each block" },
	{ "posted_throughput", 9,
	  "posts/s a running vCPU takes from one device thread raising 13 posted vectors round robin; floor: the same threads doing only the descriptor's atomics and the fold" },
	{ "remapped_latency_p50", 10,
	  "the same device, vector remapped by the kvm-vfio device's UNPOST_IRQ: raise -> host IRQ -> eventfd -> irqfd -> halted vCPU -> handler (ns, p50); floor: as irqfd_msi_latency_p50" },
	{ "remapped_latency_p99", 10, "the same, p99 of each block" },
	{ "posted_halted_latency_p50", 10,
	  "the same device and halted vCPU, vector posted: raise -> IOMMU post -> wakeup vector -> kick -> handler (ns, p50); floor: as irqfd_msi_latency_p50" },
	{ "posted_halted_latency_p99", 10, "the same, p99 of each block" },
	{ "posted_syscalls_per_delivery", 11,
	  "syscalls, all threads, per posted delivery (raise -> handler) to a running vCPU, must be 0; reference: the remapped path of the same device to the same vCPU" },
	{ "posted_kicks_per_delivery", 11, "wake-up kicks per posted delivery to a running vCPU (0); reference: the remapped path" },
	{ "posted_halted_syscalls_per_delivery", 11,
	  "syscalls per posted delivery to a halted vCPU (the wakeup vector's kick); reference: the remapped path to it" },
	{ "posted_halted_kicks_per_delivery", 11, "wake-up kicks per posted delivery to a halted vCPU; reference: the remapped path" },
	{ "forwarded_roundtrip_p50", 12,
	  "arm64, INTx line forwarded to its SPI (seed 001): device asserts -> trigger -> irqfd -> halted vCPU's handler acks, eoir completes the host line -> report at the device (ns, p50); floor: as resample_roundtrip" },
	{ "forwarded_roundtrip_p99", 12, "the same, p99 of each block" },
	{ "arm_resample_roundtrip_p50", 12,
	  "the same device and arm64 VM, line not forwarded (reference): ... eoir -> resampler -> VFIO's unmask eventfd -> line unmasked, seen by the device (ns, p50); floor: as resample_roundtrip" },
	{ "arm_resample_roundtrip_p99", 12, "the same, p99 of each block" },
};

#define VIRQ_BENCH_NR_FIGURES (sizeof(virq_bench_figures) / sizeof(virq_bench_figures[0]))
#define VIRQ_BENCH_NR_FAMILIES (sizeof(virq_bench_families) / sizeof(virq_bench_families[0]))

struct virq_bench_sel {
	bool want[VIRQ_BENCH_NR_FIGURES];
};

bool virq_bench_selected(const struct virq_bench_sel *sel, const char *metric)
{
	for (unsigned i = 0; i < VIRQ_BENCH_NR_FIGURES; i++)
		if (strcmp(virq_bench_figures[i].metric, metric) == 0)
			return sel->want[i];
	return false;
}

void virq_bench_emit(const struct virq_bench_sel *sel, const char *metric, double value, const char *unit,
		     double floor, double ratio)
{
	if (!virq_bench_selected(sel, metric))
		return;
	/* JSON has no NaN or infinity: a figure that cannot be computed is printed as null. */
	char v[32], f[32], r[32];
	int prec = strcmp(unit, "ns") == 0 || strcmp(unit, "irq/s") == 0 ? 0 : 2;
	snprintf(v, sizeof(v), isfinite(value) ? "%.*f" : "null", prec, value);
	snprintf(f, sizeof(f), isfinite(floor) ? "%.*f" : "null", prec, floor);
	snprintf(r, sizeof(r), isfinite(ratio) ? "%.3f" : "null", ratio);
	printf("{\"metric\": \"%s\", \"value\": %s, \"unit\": \"%s\", \"floor\": %s, \"ratio\": %s}\n", metric, v,
	       unit, f, r);
	fflush(stdout);
}

void virq_bench_list(void)
{
	for (unsigned i = 0; i < VIRQ_BENCH_NR_FIGURES; i++)
		printf("%-36s %s\n", virq_bench_figures[i].metric, virq_bench_figures[i].what);
}

int virq_bench_run(const char *const *names, int nr)
{
	struct virq_bench_sel sel = { 0 };
	bool family_wanted[VIRQ_BENCH_NR_FAMILIES] = { 0 };

	for (int n = 0; n < nr; n++) {
		bool found = false;
		for (unsigned i = 0; i < VIRQ_BENCH_NR_FIGURES; i++) {
			if (strcmp(names[n], virq_bench_figures[i].metric) == 0) {
				sel.want[i] = found = true;
			}
		}
		if (!found) {
			fprintf(stderr, "virq bench: unknown figure '%s'; known figures:\n", names[n]);
			for (unsigned i = 0; i < VIRQ_BENCH_NR_FIGURES; i++)
				fprintf(stderr, "  %s\n", virq_bench_figures[i].metric);
			return 2;
		}
	}
	for (unsigned i = 0; i < VIRQ_BENCH_NR_FIGURES; i++) {
		if (nr == 0)
			sel.want[i] = true;
		if (sel.want[i])
			family_wanted[virq_bench_figures[i].family] = true;
	}

	/*
	 * The device thread (this one) sleeps for ~10 µs between samples while the vCPU settles; with the
	 * default 50 µs timer slack each of those sleeps would take 60 µs and eat the time budget. Restored
	 * on return: the thread belongs to the caller.
	 */
	int old_slack = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
	prctl(PR_SET_TIMERSLACK, 1ul, 0, 0, 0);

	int ret = 0;
	uint64_t start = virq_bench_now_ns();
	for (unsigned f = 0; f < VIRQ_BENCH_NR_FAMILIES; f++) {
		if (!family_wanted[f])
			continue;
		uint64_t t = virq_bench_now_ns();
		int r = virq_bench_families[f].run(&sel);
		fprintf(stderr, "virq bench: %s %s in %.1f s\n", virq_bench_families[f].name, r < 0 ? "FAILED" : "done",
			(double)(virq_bench_now_ns() - t) / 1e9);
		if (r < 0)
			ret = 1;
	}
	fprintf(stderr, "virq bench: total %.1f s\n", (double)(virq_bench_now_ns() - start) / 1e9);
	if (old_slack > 0)
		prctl(PR_SET_TIMERSLACK, (unsigned long)old_slack, 0, 0, 0);
	return ret;
}

/* ---- helpers ---- */

uint64_t virq_bench_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void virq_bench_sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000ull), .tv_nsec = (long)(ns % 1000000000ull) };
	while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR) {
	}
}

pid_t virq_bench_gettid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

int virq_bench_write1(int fd)
{
	uint64_t one = 1;
	return write(fd, &one, sizeof(one)) == sizeof(one) ? 0 : -errno;
}

int virq_bench_wait_read(int fd, int timeout_ms, uint64_t *count)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int r;

	do
		r = poll(&pfd, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (r == 0)
		return -ETIMEDOUT;
	return read(fd, count, sizeof(*count)) == sizeof(*count) ? 0 : -errno;
}

static int virq_bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

double virq_bench_pct(double *v, int n, int per_mille)
{
	if (n <= 0)
		return NAN;
	qsort(v, (size_t)n, sizeof(*v), virq_bench_cmp_double);
	/* Nearest rank: the smallest sample with at least per_mille/1000 of the samples at or below it. */
	int rank = (int)(((long)n * per_mille + 999) / 1000);
	if (rank < 1)
		rank = 1;
	return v[rank - 1];
}

double virq_bench_median(double *v, int n)
{
	if (n <= 0)
		return NAN;
	qsort(v, (size_t)n, sizeof(*v), virq_bench_cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---- A/B interleaving ---- */

struct virq_bench_block_stats {
	double p50, p99;
};

static int virq_bench_one_block(const struct virq_bench_ab *ab, virq_bench_block_fn fn, double *samples,
				struct virq_bench_block_stats *st)
{
	int n = fn(ab->ctx, samples, ab->iters);
	if (n < 0)
		return n;
	if (n == 0) {
		fprintf(stderr, "virq bench: %s: a block produced no samples\n", ab->name);
		return -EIO;
	}
	st->p50 = virq_bench_pct(samples, n, 500);
	st->p99 = virq_bench_pct(samples, n, 990);
	return 0;
}

int virq_bench_interleave(const struct virq_bench_ab *ab, struct virq_bench_ab_result *res)
{
	int max = ab->max_pairs;
	double *samples = calloc(VIRQ_BENCH_MAX_BLOCK, sizeof(*samples));
	double *cols[6];
	int ret = 0, pairs = 0;

	if (ab->iters <= 0 || ab->iters > VIRQ_BENCH_MAX_BLOCK) {
		fprintf(stderr, "virq bench: %s: block of %d iterations (1..%d)\n", ab->name, ab->iters,
			VIRQ_BENCH_MAX_BLOCK);
		free(samples);
		return -EINVAL;
	}
	for (int c = 0; c < 6; c++)
		cols[c] = calloc((size_t)max, sizeof(double));
	if (!samples || !cols[0] || !cols[1] || !cols[2] || !cols[3] || !cols[4] || !cols[5]) {
		ret = -ENOMEM;
		goto out;
	}

	uint64_t start = 0;
	/* VIRQ_BENCH_VERBOSE=1 prints every block pair on stderr. */
	const char *env = getenv("VIRQ_BENCH_VERBOSE");
	bool verbose = env && *env && strcmp(env, "0") != 0;
	/* Pair -1 warms both sides up (first KVM_RUN, page faults, halt-poll budget) and is discarded. */
	for (int p = -1; p < max; p++) {
		struct virq_bench_block_stats a, b;
		if ((ret = virq_bench_one_block(ab, ab->path, samples, &a)) < 0 ||
		    (ret = virq_bench_one_block(ab, ab->floor, samples, &b)) < 0)
			goto out;
		if (verbose)
			fprintf(stderr, "virq bench: %s: pair %d: path p50 %.1f p99 %.1f, floor p50 %.1f p99 %.1f\n",
				ab->name, p, a.p50, a.p99, b.p50, b.p99);
		if (p < 0) {
			start = virq_bench_now_ns();
			continue;
		}
		cols[0][pairs] = a.p50;
		cols[1][pairs] = b.p50;
		cols[2][pairs] = a.p50 / b.p50;
		cols[3][pairs] = a.p99;
		cols[4][pairs] = b.p99;
		cols[5][pairs] = a.p99 / b.p99;
		pairs++;
		if (pairs >= ab->min_pairs && (double)(virq_bench_now_ns() - start) / 1e9 > ab->budget_s)
			break;
	}
	res->pairs = pairs;
	res->path_p50 = virq_bench_median(cols[0], pairs);
	res->floor_p50 = virq_bench_median(cols[1], pairs);
	res->ratio_p50 = virq_bench_median(cols[2], pairs);
	res->path_p99 = virq_bench_median(cols[3], pairs);
	res->floor_p99 = virq_bench_median(cols[4], pairs);
	res->ratio_p99 = virq_bench_median(cols[5], pairs);
	fprintf(stderr, "virq bench: %s: %d block pairs of %d\n", ab->name, pairs, ab->iters);
out:
	if (ret < 0)
		fprintf(stderr, "virq bench: %s: %s\n", ab->name, strerror(-ret));
	for (int c = 0; c < 6; c++)
		free(cols[c]);
	free(samples);
	return ret;
}
