/* SPDX-License-Identifier: MIT */
/*
 * irqfd_latency.c - one-way latency of an MSI irqfd to a halted vCPU (perf-floors.md goals G1 and G2),
 * with halt polling off and on.
 *
 * Sample: t0 = CLOCK_MONOTONIC just before the device thread's eventfd write; t1 = the guest handler's
 * entry time as the engine stamps it (virq_vcpu_vector_counts().last_entry_ns, CLOCK_MONOTONIC).
 * Between samples the device blocks on the guest's report (see rig.c), then waits until the vCPU is back
 * in hlt (its halt counter moved) plus VIRQ_BENCH_SETTLE_NS, so every t0 finds the vCPU asleep (polling
 * off) or polling (polling on), and the poller back in epoll_wait.
 *
 * Why these floors:
 *  - polling off: the floor is the two wake-ups over plain eventfds, device -> epoll relay ->
 *    sink blocked in read, on the same device and vCPU threads (floors.c): H_ep + H_efd, what the engine
 *    path cost while a poller thread relayed every signal. The halted vCPU now waits on the irqfd itself
 *    (src/engine/irqfd_watch.c, perf-floors goal G1): one wake-up, so a ratio below 1 is the gain.
 *  - polling on: the engine path is one wake-up (the poller) and a store the polling vCPU sees. The floor
 *    is the busy-polling eventfd round trip: device -> epoll relay -> sink spinning on a
 *    non-blocking read. Same wake-up count; the sink's probes cost a syscall each where the vCPU reads
 *    memory, so this floor is not quite a lower bound and a ratio just under 1 is no surprise.
 * The device waits for the report, the counters and the settle delay identically on both sides.
 *
 * its_msi_latency: the same measurement on an arm64 VM: the irqfd's MSI route carries a DeviceID, the ITS
 * translates it (its translation cache after the first signal) to an LPI the guest's GIC CPU interface
 * acknowledges; same floor as the x86 figure, since the wake-ups are the same.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bench_int.h"

/* Handler: report entry (an MMIO write nothing claims exits to the VMM), EOI, return. */
static const char virq_bench_latency_guest[] =
	"vector 0x41:\n"
	"    mmio_write 0xd0000000, 4, 1   ; report: the device may go on\n"
	"    eoi\n"
	"    iret\n"
	"main:\n"
	"    mmio_write 0xfee000f0, 4, 0x1ff\n"
	"    sti\n"
	"loop:\n"
	"    hlt\n"
	"    jmp loop\n";

/* The Arm guest maps DeviceID 1 / EventID 0 to LPI 8192 on its own vCPU, then halts; the handler
 * reports, ends the LPI and returns (docs/guest.md, "Arm"). */
static const char virq_bench_its_guest[] =
	"intid 8192:\n"
	"    mmio_write 0xd0000000, 4, 1\n"
	"    eoir r15\n"
	"    eret\n"
	"main:\n"
	"    igrpen1 1\n"
	"    pmr 0xff\n"
	"    mmio_write 0x08000000, 4, 0x12\n"
	"    mem_write 0x40000000, 1, 0xa1\n"
	"    mmio_write 0x080a0070, 8, 0x4000000f\n"
	"    mmio_write 0x080a0078, 8, 0x4000000040100000\n"
	"    mmio_write 0x080a0000, 4, 1\n"
	"    mmio_write 0x08080100, 8, 0x8000000040200000\n"
	"    mmio_write 0x08080108, 8, 0x8000000040300000\n"
	"    mmio_write 0x08080080, 8, 0x8000000040400000\n"
	"    mmio_write 0x08080000, 4, 1\n"
	"    mem_write 0x40400000, 8, 0x0000000100000008\n"
	"    mem_write 0x40400008, 8, 4\n"
	"    mem_write 0x40400010, 8, 0x8000000040500000\n"
	"    mem_write 0x40400018, 8, 0\n"
	"    mem_write 0x40400020, 8, 0x09\n"
	"    mem_write 0x40400028, 8, 0\n"
	"    mem_write 0x40400030, 8, 0x8000000000000000\n"
	"    mem_write 0x40400038, 8, 0\n"
	"    mem_write 0x40400040, 8, 0x000000010000000a\n"
	"    mem_write 0x40400048, 8, 0x0000200000000000\n"
	"    mem_write 0x40400050, 8, 0\n"
	"    mem_write 0x40400058, 8, 0\n"
	"    mmio_write 0x08080088, 8, 0x60\n"
	"    sti\n"
	"loop:\n"
	"    hlt\n"
	"    jmp loop\n";

struct virq_bench_latency {
	struct virq_bench_rig rig;
	struct virq_bench_floor floor;
	bool polling;
};

static uint64_t virq_bench_latency_mark(struct virq_bench_latency *lt)
{
	struct virq_halt_counts h = virq_bench_rig_halt(&lt->rig);
	return lt->polling ? h.halts : h.sleeps;
}

static int virq_bench_latency_path(void *ctx, double *samples, int iters)
{
	struct virq_bench_latency *lt = ctx;
	struct virq_bench_rig *rig = &lt->rig;
	int n = 0, ret;
	uint64_t count;

	uint64_t mark = virq_bench_latency_mark(lt);
	virq_bench_rig_enter(rig);
	ret = virq_bench_rig_settle(rig, mark, lt->polling);
	for (int i = 0; ret == 0 && i < iters + VIRQ_BENCH_LATENCY_WARMUP; i++) {
		mark = virq_bench_latency_mark(lt);
		uint64_t handled = virq_bench_rig_vector(rig).handled;

		uint64_t t0 = virq_bench_now_ns();
		if ((ret = virq_bench_write1(rig->irq_fd)) < 0)
			break;
		if ((ret = virq_bench_wait_read(rig->ack_fd, VIRQ_BENCH_TIMEOUT_MS, &count)) < 0)
			break;
		struct virq_vector_counts v = virq_bench_rig_vector(rig);
		if (v.handled != handled + 1 || atomic_load(&rig->run_error)) {
			fprintf(stderr, "virq bench: irqfd latency: %llu handler entries for one signal\n",
				(unsigned long long)(v.handled - handled));
			ret = -EIO;
			break;
		}
		if (i >= VIRQ_BENCH_LATENCY_WARMUP)
			samples[n++] = (double)(v.last_entry_ns - t0);
		ret = virq_bench_rig_settle(rig, mark, lt->polling);
	}
	return virq_bench_rig_finish(rig, ret, n);
}

int virq_bench_latency_floor_block(struct virq_bench_floor *f, struct virq_bench_rig *rig, bool polling,
				   double *samples, int iters)
{
	int n = 0, ret;
	uint64_t count;

	ret = virq_bench_floor_enter(f, rig, polling ? VIRQ_BENCH_SINK_BUSYPOLL : VIRQ_BENCH_SINK_BLOCK, true);
	for (int i = 0; ret == 0 && i < iters + VIRQ_BENCH_LATENCY_WARMUP; i++) {
		uint64_t mark = polling ? atomic_load(&f->halts) : atomic_load(&f->sleeps);
		uint64_t runs = atomic_load(&f->runs);

		uint64_t t0 = virq_bench_now_ns();
		if ((ret = virq_bench_write1(f->e1)) < 0)
			break;
		if ((ret = virq_bench_wait_read(f->ack, VIRQ_BENCH_TIMEOUT_MS, &count)) < 0)
			break;
		if (atomic_load(&f->runs) != runs + 1) {
			fprintf(stderr, "virq bench: irqfd latency floor: the sink ran %llu times for one signal\n",
				(unsigned long long)(atomic_load(&f->runs) - runs));
			ret = -EIO;
			break;
		}
		if (i >= VIRQ_BENCH_LATENCY_WARMUP)
			samples[n++] = (double)(atomic_load(&f->last_ns) - t0);
		ret = virq_bench_floor_settle(f, mark, polling);
	}
	int r = virq_bench_floor_leave(f, rig);
	if (ret == 0)
		ret = r;
	return ret < 0 ? ret : n;
}

static int virq_bench_latency_floor(void *ctx, double *samples, int iters)
{
	struct virq_bench_latency *lt = ctx;

	return virq_bench_latency_floor_block(&lt->floor, &lt->rig, lt->polling, samples, iters);
}

static int virq_bench_latency_family(const struct virq_bench_sel *sel, enum virq_bench_irq kind, bool polling,
				     const char *p50, const char *p99, double budget_s)
{
	struct virq_bench_latency lt = { .polling = polling };
	struct virq_bench_ab_result res;
	int ret;

	ret = virq_bench_rig_create(&lt.rig, kind, kind == VIRQ_BENCH_IRQ_ITS ? virq_bench_its_guest
									  : virq_bench_latency_guest,
				    polling ? 200000 : 0);
	if (ret < 0)
		return ret;
	ret = virq_bench_floor_init(&lt.floor);
	if (ret < 0) {
		virq_bench_rig_destroy(&lt.rig);
		return ret;
	}
	struct virq_bench_ab ab = {
		.name = p50, .ctx = &lt,
		.path = virq_bench_latency_path, .floor = virq_bench_latency_floor,
		.iters = 200, .max_pairs = 200, .min_pairs = 5, .budget_s = budget_s,
	};
	ret = virq_bench_interleave(&ab, &res);
	if (ret == 0) {
		virq_bench_emit(sel, p50, res.path_p50, "ns", res.floor_p50, res.ratio_p50);
		virq_bench_emit(sel, p99, res.path_p99, "ns", res.floor_p99, res.ratio_p99);
		/* perf-floors.md section 5, step 4: a two-hop floor above 2 x 20 µs means the host is slow. */
		if (!polling && res.floor_p50 > 40000)
			fprintf(stderr, "virq bench: %s: floor %.0f ns: the host is in its slow mode\n", p50,
				res.floor_p50);
		if (polling) {
			struct virq_halt_counts h = virq_bench_rig_halt(&lt.rig);
			fprintf(stderr, "virq bench: halt polling: %llu halts, %llu polled ok, %llu polled then slept\n",
				(unsigned long long)h.halts, (unsigned long long)h.poll_success,
				(unsigned long long)h.poll_fail);
		}
	}
	virq_bench_rig_destroy(&lt.rig);
	virq_bench_floor_destroy(&lt.floor);
	return ret;
}

int virq_bench_irqfd_latency(const struct virq_bench_sel *sel)
{
	return virq_bench_latency_family(sel, VIRQ_BENCH_IRQ_MSI, false, "irqfd_msi_latency_p50",
					 "irqfd_msi_latency_p99", 9.0);
}

int virq_bench_irqfd_latency_halt_poll(const struct virq_bench_sel *sel)
{
	return virq_bench_latency_family(sel, VIRQ_BENCH_IRQ_MSI, true, "irqfd_msi_latency_halt_poll_p50",
					 "irqfd_msi_latency_halt_poll_p99", 6.0);
}

int virq_bench_its_latency(const struct virq_bench_sel *sel)
{
	return virq_bench_latency_family(sel, VIRQ_BENCH_IRQ_ITS, false, "its_msi_latency_p50", "its_msi_latency_p99",
					 6.0);
}
