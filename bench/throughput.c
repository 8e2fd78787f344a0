/* SPDX-License-Identifier: MIT */
/*
 * throughput.c - MSI irqfd signals per second from one device thread to a running vCPU (perf-floors.md
 * goal G6; ARCHITECTURE.md 5.4), with the guest's handler runs per second beside it.
 *
 * A block: the device writes the irqfd's eventfd `iters` times as fast as it can; it then waits until
 * the poller has consumed every signal and the path is quiet. The block lasts from the first write to
 * the last handler entry, and that entry must begin after the last write was accepted: every signal is
 * then followed by at least one handler start (coalescing allowed: an irqfd is not a counter); a block
 * that breaks this fails the figure. signals/s = iters / duration; handler runs/s = entries / duration.
 *
 * The guest spins (interruptibly) instead of halting, so the vCPU is running and its thread holds a core
 * (placement below). The floor is one producer's raw eventfd rate to one consumer draining with
 * epoll_wait + read (T_ep), measured with the same three threads so the core budget is the same:
 * device -> relay (epoll_wait, read, publish the batch in memory) -> the vCPU thread spinning on that
 * counter, as a running vCPU notices IRR at its next op boundary (floors.c, SINK_SPIN). Its "handler
 * runs" are the relay's wake-ups that the spinner saw.
 *
 * Reading the handler-runs line: a 1,000-signal block lasts about half a millisecond here, shorter than
 * a scheduler slice, and a woken consumer rarely preempts the thread spinning on its core before the
 * block ends, so on this machine most of a block's signals coalesce into one or two handler runs, on
 * both sides alike. The line shows how starved the consumer is, not how fast it could drain.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_int.h"

static const char virq_bench_throughput_guest[] =
	"vector 0x41:\n"
	"    eoi\n"
	"    iret\n"
	"main:\n"
	"    mmio_write 0xfee000f0, 4, 0x1ff\n"
	"    sti\n"
	"loop:\n"
	"    spin 1ms                       ; busy guest: takes interrupts at least every 100 ns\n"
	"    jmp loop\n";

#define VIRQ_BENCH_TPUT_BLOCKS 512  /* at most this many blocks per side, warm-up included */
#define VIRQ_BENCH_TPUT_QUIET_NS 20000ull

struct virq_bench_throughput {
	struct virq_bench_rig rig;
	struct virq_bench_floor floor;
	/* handler runs/s of each block, in block order (the runner keeps the signal rates) */
	double path_runs[VIRQ_BENCH_TPUT_BLOCKS], floor_runs[VIRQ_BENCH_TPUT_BLOCKS];
	int nr_path, nr_floor;
	struct virq_bench_placement placement;
};

/*
 * Placement. With the vCPU spinning, three threads want two cores. Left to the scheduler, a block
 * sometimes puts the consumer (poller or relay) on the device's core, where it preempts the device on
 * every write, and the block's rate drops 5-10x against the next block's: noise, on both sides. So this
 * figure pins, identically for A and B: the device thread alone on the first CPU, so the rate it can
 * signal at is not set by who happens to share its core; the vCPU thread (the running vCPU, or the
 * floor's spinning sink) and the consumer (the VM's poller, or the floor's relay) on the second, where
 * the consumer preempts the spinner to drain, as a host's irqfd work preempts a running vCPU. The
 * poller is found as the thread the VM added (the engine offers no handle to it). Affinities are
 * restored at the end.
 */
static int virq_bench_tput_place(struct virq_bench_throughput *tp, const pid_t *before, int nr_before)
{
	pid_t now[VIRQ_BENCH_MAX_PINNED];
	int cpus[2], ret;
	int nr = virq_bench_list_tids(now, VIRQ_BENCH_MAX_PINNED);

	if (virq_bench_two_cpus(cpus) < 0 || nr < 0 || nr_before < 0) {
		fprintf(stderr, "virq bench: throughput: fewer than 2 CPUs; threads left unpinned\n");
		return 0;
	}
	if ((ret = virq_bench_pin(&tp->placement, virq_bench_gettid(), cpus[0])) < 0 ||
	    (ret = virq_bench_pin(&tp->placement, tp->rig.relay.tid, cpus[1])) < 0 ||
	    (ret = virq_bench_pin(&tp->placement, tp->rig.vcpu_thread.tid, cpus[1])) < 0)
		goto fail;
	for (int i = 0; i < nr; i++) {
		bool old = now[i] == tp->rig.relay.tid || now[i] == tp->rig.vcpu_thread.tid;
		for (int j = 0; j < nr_before && !old; j++)
			old = now[i] == before[j];
		if (!old && (ret = virq_bench_pin(&tp->placement, now[i], cpus[1])) < 0)
			goto fail;
	}
	return 0;
fail:
	fprintf(stderr, "virq bench: throughput: pinning threads: %s\n", strerror(-ret));
	return ret;
}

/* Sleep-poll until @get(@arg) >= @target; 0, or -ETIMEDOUT after saying what did not happen. */
static int virq_bench_tput_wait(const char *what, uint64_t (*get)(void *), void *arg, uint64_t target)
{
	uint64_t deadline = virq_bench_now_ns() + VIRQ_BENCH_TIMEOUT_MS * 1000000ull;

	while (get(arg) < target) {
		if (virq_bench_now_ns() > deadline) {
			fprintf(stderr, "virq bench: throughput: %s (%llu, wanted %llu)\n", what,
				(unsigned long long)get(arg), (unsigned long long)target);
			return -ETIMEDOUT;
		}
		virq_bench_sleep_ns(5000);
	}
	return 0;
}

static uint64_t virq_bench_tput_gsi_signals(void *arg)
{
	struct virq_bench_rig *rig = arg;
	struct virq_gsi_counts g;
	virq_vm_gsi_counts(rig->vm, rig->gsi, &g);
	return g.irqfd_signals;
}

static uint64_t virq_bench_tput_last_entry(void *arg)
{
	return virq_bench_rig_vector(arg).last_entry_ns;
}

static uint64_t virq_bench_tput_floor_signals(void *arg)
{
	struct virq_bench_floor *f = arg;
	return atomic_load(&f->signals);
}

static uint64_t virq_bench_tput_floor_runs(void *arg)
{
	struct virq_bench_floor *f = arg;
	return atomic_load(&f->runs);
}

static uint64_t virq_bench_tput_floor_last(void *arg)
{
	struct virq_bench_floor *f = arg;
	return atomic_load(&f->last_ns);
}

/*
 * End of a block: every signal consumed, then a handler start after the last write (else an edge was
 * lost: the wait times out). The consumer may still be finishing the final batch when that start is
 * seen, so let it go quiet before taking the last entry as the end of the block.
 */
static int virq_bench_tput_finish(const char *side, uint64_t (*consumed)(void *), uint64_t (*last_entry)(void *),
				  void *arg, uint64_t target, uint64_t last_write, uint64_t *end)
{
	int ret = virq_bench_tput_wait("signals consumed", consumed, arg, target);
	if (ret == 0 && (ret = virq_bench_tput_wait("a handler start after the last signal", last_entry, arg,
						    last_write + 1)) < 0)
		fprintf(stderr, "virq bench: throughput (%s): lost edge\n", side);
	if (ret < 0)
		return ret;
	virq_bench_sleep_ns(VIRQ_BENCH_TPUT_QUIET_NS);
	*end = last_entry(arg);
	return 0;
}

static int virq_bench_tput_path(void *ctx, double *samples, int iters)
{
	struct virq_bench_throughput *tp = ctx;
	struct virq_bench_rig *rig = &tp->rig;
	int ret = 0;

	virq_bench_rig_enter(rig);
	/*
	 * One signal first: when its handler has run, the vCPU is in the guest's spin loop. On the first
	 * entry the guest may not have enabled its LAPIC yet, which drops the MSI as hardware would: signal
	 * again every millisecond until a handler runs.
	 */
	uint64_t h = virq_bench_rig_vector(rig).handled;
	for (int tries = 0;; tries++) {
		if ((ret = virq_bench_write1(rig->irq_fd)) < 0)
			goto out;
		uint64_t until = virq_bench_now_ns() + 1000000;
		while (virq_bench_rig_vector(rig).handled == h && virq_bench_now_ns() < until)
			virq_bench_sleep_ns(5000);
		if (virq_bench_rig_vector(rig).handled != h)
			break;
		if (tries == VIRQ_BENCH_TIMEOUT_MS) {
			fprintf(stderr, "virq bench: throughput: the running guest takes no interrupt\n");
			ret = -ETIMEDOUT;
			goto out;
		}
	}
	virq_bench_sleep_ns(VIRQ_BENCH_TPUT_QUIET_NS);

	struct virq_vector_counts v0 = virq_bench_rig_vector(rig);
	uint64_t s0 = virq_bench_tput_gsi_signals(rig);
	uint64_t first = virq_bench_now_ns(), last = first;
	for (int i = 0; i < iters; i++) {
		last = virq_bench_now_ns();
		if ((ret = virq_bench_write1(rig->irq_fd)) < 0)
			goto out;
	}
	uint64_t end;
	if ((ret = virq_bench_tput_finish("engine", virq_bench_tput_gsi_signals, virq_bench_tput_last_entry, rig,
					  s0 + (uint64_t)iters, last, &end)) < 0)
		goto out;
	struct virq_vector_counts v = virq_bench_rig_vector(rig);
	double dur = (double)(end - first) / 1e9;
	samples[0] = iters / dur;
	if (tp->nr_path < VIRQ_BENCH_TPUT_BLOCKS)
		tp->path_runs[tp->nr_path++] = (double)(v.handled - v0.handled) / dur;
out:;
	return virq_bench_rig_finish(rig, ret, 1);
}

static int virq_bench_tput_floor(void *ctx, double *samples, int iters)
{
	struct virq_bench_throughput *tp = ctx;
	struct virq_bench_floor *f = &tp->floor;
	int ret;

	ret = virq_bench_floor_enter(f, &tp->rig, VIRQ_BENCH_SINK_SPIN, false);
	if (ret < 0)
		goto out;
	/* One signal first, as on the engine side: the sink is spinning once it has seen it. */
	uint64_t runs = atomic_load(&f->runs);
	if ((ret = virq_bench_write1(f->e1)) < 0 ||
	    (ret = virq_bench_tput_wait("first signal handled", virq_bench_tput_floor_runs, f, runs + 1)) < 0)
		goto out;

	runs = atomic_load(&f->runs);
	uint64_t s0 = atomic_load(&f->signals);
	uint64_t first = virq_bench_now_ns(), last = first;
	for (int i = 0; i < iters; i++) {
		last = virq_bench_now_ns();
		if ((ret = virq_bench_write1(f->e1)) < 0)
			goto out;
	}
	uint64_t end;
	if ((ret = virq_bench_tput_finish("floor", virq_bench_tput_floor_signals, virq_bench_tput_floor_last, f,
					  s0 + (uint64_t)iters, last, &end)) < 0)
		goto out;
	double dur = (double)(end - first) / 1e9;
	samples[0] = iters / dur;
	if (tp->nr_floor < VIRQ_BENCH_TPUT_BLOCKS)
		tp->floor_runs[tp->nr_floor++] = (double)(atomic_load(&f->runs) - runs) / dur;
out:;
	int r = virq_bench_floor_leave(f, &tp->rig);
	if (ret == 0)
		ret = r;
	return ret < 0 ? ret : 1;
}

int virq_bench_throughput(const struct virq_bench_sel *sel)
{
	struct virq_bench_throughput *tp = calloc(1, sizeof(*tp));
	struct virq_bench_ab_result res;
	int ret;

	if (!tp)
		return -ENOMEM;
	pid_t before[VIRQ_BENCH_MAX_PINNED];
	int nr_before = virq_bench_list_tids(before, VIRQ_BENCH_MAX_PINNED);
	ret = virq_bench_rig_create(&tp->rig, VIRQ_BENCH_IRQ_MSI, virq_bench_throughput_guest, 0);
	if (ret < 0)
		goto out_free;
	ret = virq_bench_floor_init(&tp->floor);
	if (ret < 0)
		goto out_rig;
	if ((ret = virq_bench_tput_place(tp, before, nr_before)) < 0)
		goto out_unpin;
	struct virq_bench_ab ab = {
		.name = "irqfd_msi_throughput", .ctx = tp,
		.path = virq_bench_tput_path, .floor = virq_bench_tput_floor,
		.iters = 1000, .max_pairs = VIRQ_BENCH_TPUT_BLOCKS - 1, .min_pairs = 5, .budget_s = 6.0,
	};
	ret = virq_bench_interleave(&ab, &res);
	if (ret == 0) {
		virq_bench_emit(sel, "irqfd_msi_throughput", res.path_p50, "irq/s", res.floor_p50, res.ratio_p50);
		/* Handler runs: the same per-pair medians, skipping the warm-up pair (block 0 of each side). */
		int pairs = res.pairs;
		double *ratio = calloc((size_t)pairs + 1, sizeof(double));
		if (!ratio) {
			ret = -ENOMEM;
			goto out_unpin;
		}
		for (int p = 0; p < pairs; p++)
			ratio[p] = tp->path_runs[p + 1] / tp->floor_runs[p + 1];
		double r = virq_bench_median(ratio, pairs);
		double pv = virq_bench_median(tp->path_runs + 1, pairs);
		double fv = virq_bench_median(tp->floor_runs + 1, pairs);
		virq_bench_emit(sel, "irqfd_msi_handler_runs", pv, "irq/s", fv, r);
		free(ratio);
	}
out_unpin:
	virq_bench_unpin_all(&tp->placement);
	virq_bench_floor_destroy(&tp->floor);
out_rig:
	virq_bench_rig_destroy(&tp->rig);
out_free:
	free(tp);
	return ret;
}
