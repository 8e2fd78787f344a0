/* SPDX-License-Identifier: MIT */
/*
 * resample.c - the level-triggered INTx cycle through a resampling irqfd (perf-floors.md goal G5, "via
 * the engine thread"), as VFIO drives it: the device writes the trigger eventfd at t0 and blocks on the
 * resamplefd; t1 is when that wait returns.
 *
 *   device write(trigger) -> halted vCPU: epoll_pwait returns, read, assert GSI 5 (IOAPIC pin, remote
 *   IRR), set its own IRR, handler, EOI -> IOAPIC clears remote IRR -> resampler de-asserts and
 *   write(resamplefd) -> device: its wait returns.
 *
 * Two wake-ups (vCPU, device) since a halted vCPU takes its irqfds itself; through the poller it was
 * three (poller, vCPU, device). The floor keeps those three over plain eventfds, on the same
 * device and vCPU threads: device write(e1) -> relay epoll_wait, read, write(e2) -> sink read(e2),
 * write(ack) -> device wait returns, i.e. H_ep + H_efd + H_efd. The device waits with poll() + read()
 * on both sides (a VMM waits for resamplefd in its event loop, and a blocking read could hang the bench
 * if an EOI were lost), and between samples waits for the vCPU (or the sink) to be asleep again.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>

#include "bench_int.h"

/* The canonical level-triggered guest (docs/guest.md): IOAPIC pin 5 -> vector 0x51, level, APIC 0. */
static const char virq_bench_resample_guest[] =
	"vector 0x51:\n"
	"    eoi\n"
	"    iret\n"
	"main:\n"
	"    mmio_write 0xfee000f0, 4, 0x1ff   ; software-enable the local APIC\n"
	"    mmio_write 0xfec00000, 4, 0x1a    ; IOREGSEL = redirection entry 5, low half\n"
	"    mmio_write 0xfec00010, 4, 0x8051  ; vector 0x51, level, fixed, physical, unmasked\n"
	"    mmio_write 0xfec00000, 4, 0x1b    ; entry 5, high half\n"
	"    mmio_write 0xfec00010, 4, 0       ; destination APIC 0\n"
	"    sti\n"
	"loop:\n"
	"    hlt\n"
	"    jmp loop\n";

#define VIRQ_BENCH_RESAMPLE_WARMUP 2

struct virq_bench_resample {
	struct virq_bench_rig rig;
	struct virq_bench_floor floor;
};

static int virq_bench_resample_path(void *ctx, double *samples, int iters)
{
	struct virq_bench_resample *rs = ctx;
	struct virq_bench_rig *rig = &rs->rig;
	int n = 0, ret;
	uint64_t count;

	uint64_t mark = virq_bench_rig_halt(rig).sleeps;
	virq_bench_rig_enter(rig);
	ret = virq_bench_rig_settle(rig, mark, false);
	for (int i = 0; ret == 0 && i < iters + VIRQ_BENCH_RESAMPLE_WARMUP; i++) {
		mark = virq_bench_rig_halt(rig).sleeps;
		uint64_t handled = virq_bench_rig_vector(rig).handled;

		uint64_t t0 = virq_bench_now_ns();
		if ((ret = virq_bench_write1(rig->irq_fd)) < 0)
			break;
		if ((ret = virq_bench_wait_read(rig->resample_fd, VIRQ_BENCH_TIMEOUT_MS, &count)) < 0) {
			fprintf(stderr, "virq bench: resample: no resamplefd signal\n");
			break;
		}
		uint64_t t1 = virq_bench_now_ns();
		if (virq_bench_rig_vector(rig).handled != handled + 1) {
			fprintf(stderr, "virq bench: resample: the handler did not run exactly once\n");
			ret = -EIO;
			break;
		}
		if (i >= VIRQ_BENCH_RESAMPLE_WARMUP)
			samples[n++] = (double)(t1 - t0);
		ret = virq_bench_rig_settle(rig, mark, false);
	}
	return virq_bench_rig_finish(rig, ret, n);
}

int virq_bench_resample_floor_block(struct virq_bench_floor *f, struct virq_bench_rig *rig, double *samples,
				    int iters)
{
	int n = 0, ret;
	uint64_t count;

	ret = virq_bench_floor_enter(f, rig, VIRQ_BENCH_SINK_BLOCK, true);
	for (int i = 0; ret == 0 && i < iters + VIRQ_BENCH_RESAMPLE_WARMUP; i++) {
		uint64_t mark = atomic_load(&f->sleeps);
		uint64_t runs = atomic_load(&f->runs);

		uint64_t t0 = virq_bench_now_ns();
		if ((ret = virq_bench_write1(f->e1)) < 0)
			break;
		if ((ret = virq_bench_wait_read(f->ack, VIRQ_BENCH_TIMEOUT_MS, &count)) < 0)
			break;
		uint64_t t1 = virq_bench_now_ns();
		if (atomic_load(&f->runs) != runs + 1) {
			fprintf(stderr, "virq bench: resample floor: the sink ran %llu times for one signal\n",
				(unsigned long long)(atomic_load(&f->runs) - runs));
			ret = -EIO;
			break;
		}
		if (i >= VIRQ_BENCH_RESAMPLE_WARMUP)
			samples[n++] = (double)(t1 - t0);
		ret = virq_bench_floor_settle(f, mark, false);
	}
	int r = virq_bench_floor_leave(f, rig);
	if (ret == 0)
		ret = r;
	return ret < 0 ? ret : n;
}

static int virq_bench_resample_floor(void *ctx, double *samples, int iters)
{
	struct virq_bench_resample *rs = ctx;

	return virq_bench_resample_floor_block(&rs->floor, &rs->rig, samples, iters);
}

int virq_bench_resample(const struct virq_bench_sel *sel)
{
	struct virq_bench_resample rs;
	struct virq_bench_ab_result res;
	int ret;

	ret = virq_bench_rig_create(&rs.rig, VIRQ_BENCH_IRQ_RESAMPLE, virq_bench_resample_guest, 0);
	if (ret < 0)
		return ret;
	ret = virq_bench_floor_init(&rs.floor);
	if (ret < 0) {
		virq_bench_rig_destroy(&rs.rig);
		return ret;
	}
	struct virq_bench_ab ab = {
		.name = "resample_roundtrip", .ctx = &rs,
		.path = virq_bench_resample_path, .floor = virq_bench_resample_floor,
		.iters = 200, .max_pairs = 200, .min_pairs = 5, .budget_s = 9.0,
	};
	ret = virq_bench_interleave(&ab, &res);
	if (ret == 0) {
		virq_bench_emit(sel, "resample_roundtrip_p50", res.path_p50, "ns", res.floor_p50, res.ratio_p50);
		virq_bench_emit(sel, "resample_roundtrip_p99", res.path_p99, "ns", res.floor_p99, res.ratio_p99);
	}
	virq_bench_rig_destroy(&rs.rig);
	virq_bench_floor_destroy(&rs.floor);
	return ret;
}
