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
 * The guest spins (interruptibly) instead of halting, so the vCPU is running and its thread holds a core;
 * the poller and the device share the other one. The floor is one producer's raw eventfd rate to one
 * consumer draining with epoll_wait + read (T_ep), measured with the same three threads so the core
 * budget is the same: device -> relay (epoll_wait, read, publish the batch in memory) -> the vCPU
 * thread spinning on that counter, as a running vCPU notices IRR at its next op boundary (floors.c,
 * SINK_SPIN). Its "handler runs" are the relay's wake-ups that the spinner saw.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

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
#define VIRQ_BENCH_TPUT_QUIET_NS 100000ull

struct virq_bench_throughput {
	struct virq_bench_rig rig;
	struct virq_bench_floor floor;
	/* handler runs/s of each block, in block order (the runner keeps the signal rates) */
	double path_runs[VIRQ_BENCH_TPUT_BLOCKS], floor_runs[VIRQ_BENCH_TPUT_BLOCKS];
	int nr_path, nr_floor;
};

/* Wait until @consumed() reaches @target, the consumer has had time to finish, return 0 or -ETIMEDOUT. */
static int virq_bench_tput_drain(uint64_t (*consumed)(void *), void *arg, uint64_t target)
{
	uint64_t deadline = virq_bench_now_ns() + VIRQ_BENCH_TIMEOUT_MS * 1000000ull;

	while (consumed(arg) < target) {
		if (virq_bench_now_ns() > deadline)
			return -ETIMEDOUT;
		virq_bench_sleep_ns(5000);
	}
	/* The last injection and its handler follow the last read within microseconds on a running vCPU. */
	virq_bench_sleep_ns(VIRQ_BENCH_TPUT_QUIET_NS);
	return 0;
}

static uint64_t virq_bench_tput_gsi_signals(void *arg)
{
	struct virq_bench_rig *rig = arg;
	struct virq_gsi_counts g;
	virq_vm_gsi_counts(rig->vm, rig->gsi, &g);
	return g.irqfd_signals;
}

static uint64_t virq_bench_tput_floor_signals(void *arg)
{
	struct virq_bench_floor *f = arg;
	return atomic_load(&f->signals);
}

static int virq_bench_tput_fail(const char *side, uint64_t last_entry, uint64_t last_write)
{
	fprintf(stderr,
		"virq bench: throughput (%s): the last handler start (%llu) does not follow the last signal (%llu): lost edge\n",
		side, (unsigned long long)last_entry, (unsigned long long)last_write);
	return -EIO;
}

static int virq_bench_tput_path(void *ctx, double *samples, int iters)
{
	struct virq_bench_throughput *tp = ctx;
	struct virq_bench_rig *rig = &tp->rig;
	int ret = 0;

	virq_bench_rig_enter(rig);
	/* One signal first: when its handler has run, the vCPU is in the guest's spin loop. */
	uint64_t h = virq_bench_rig_vector(rig).handled;
	uint64_t s0 = virq_bench_tput_gsi_signals(rig);
	if ((ret = virq_bench_write1(rig->irq_fd)) < 0 || (ret = virq_bench_tput_drain(virq_bench_tput_gsi_signals, rig, s0 + 1)) < 0)
		goto out;
	if (virq_bench_rig_vector(rig).handled <= h) {
		ret = -ETIMEDOUT;
		goto out;
	}

	struct virq_vector_counts v0 = virq_bench_rig_vector(rig);
	s0 = virq_bench_tput_gsi_signals(rig);
	uint64_t first = virq_bench_now_ns(), last = first;
	for (int i = 0; i < iters; i++) {
		last = virq_bench_now_ns();
		if ((ret = virq_bench_write1(rig->irq_fd)) < 0)
			goto out;
	}
	if ((ret = virq_bench_tput_drain(virq_bench_tput_gsi_signals, rig, s0 + (uint64_t)iters)) < 0)
		goto out;
	struct virq_vector_counts v = virq_bench_rig_vector(rig);
	if (v.last_entry_ns <= last) {
		ret = virq_bench_tput_fail("engine", v.last_entry_ns, last);
		goto out;
	}
	double dur = (double)(v.last_entry_ns - first) / 1e9;
	samples[0] = iters / dur;
	if (tp->nr_path < VIRQ_BENCH_TPUT_BLOCKS)
		tp->path_runs[tp->nr_path++] = (double)(v.handled - v0.handled) / dur;
out:;
	int r = virq_bench_rig_leave(rig);
	if (ret == 0)
		ret = r;
	return ret < 0 ? ret : 1;
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
	uint64_t s0 = atomic_load(&f->signals);
	if ((ret = virq_bench_write1(f->e1)) < 0 || (ret = virq_bench_tput_drain(virq_bench_tput_floor_signals, f, s0 + 1)) < 0)
		goto out;
	if (atomic_load(&f->runs) <= runs) {
		ret = -ETIMEDOUT;
		goto out;
	}

	runs = atomic_load(&f->runs);
	s0 = atomic_load(&f->signals);
	uint64_t first = virq_bench_now_ns(), last = first;
	for (int i = 0; i < iters; i++) {
		last = virq_bench_now_ns();
		if ((ret = virq_bench_write1(f->e1)) < 0)
			goto out;
	}
	if ((ret = virq_bench_tput_drain(virq_bench_tput_floor_signals, f, s0 + (uint64_t)iters)) < 0)
		goto out;
	uint64_t last_entry = atomic_load(&f->last_ns);
	if (last_entry <= last) {
		ret = virq_bench_tput_fail("floor", last_entry, last);
		goto out;
	}
	double dur = (double)(last_entry - first) / 1e9;
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
	ret = virq_bench_rig_create(&tp->rig, VIRQ_BENCH_IRQ_MSI, virq_bench_throughput_guest, 0);
	if (ret < 0)
		goto out_free;
	ret = virq_bench_floor_init(&tp->floor);
	if (ret < 0)
		goto out_rig;
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
			goto out_floor;
		}
		for (int p = 0; p < pairs; p++)
			ratio[p] = tp->path_runs[p + 1] / tp->floor_runs[p + 1];
		double r = virq_bench_median(ratio, pairs);
		double pv = virq_bench_median(tp->path_runs + 1, pairs);
		double fv = virq_bench_median(tp->floor_runs + 1, pairs);
		virq_bench_emit(sel, "irqfd_msi_handler_runs", pv, "irq/s", fv, r);
		free(ratio);
	}
out_floor:
	virq_bench_floor_destroy(&tp->floor);
out_rig:
	virq_bench_rig_destroy(&tp->rig);
out_free:
	free(tp);
	return ret;
}
