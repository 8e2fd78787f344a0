/* SPDX-License-Identifier: MIT */
/*
 * floor_cacheline.c - the cache-line floors of the posted path: what a delivery to a running vCPU costs
 * when nothing but memory passes between two threads (perf-floors.md A1 (5); bench_int.h has the API).
 *
 * A posted interrupt to a running vCPU crosses no thread boundary the kernel knows about: the IOMMU (here
 * the device thread, inside virq_pci_function_raise) writes the vCPU's descriptor, and the vCPU thread,
 * spinning in its guest, sees ON at its next op boundary. So the floor is a cache line moving from one
 * core to the other, on the same two threads the posted figures use (the device thread, and the worker
 * that runs the spinning vCPU in the path's blocks):
 *
 *  - HANDOFF (posted_latency's floor, the "cache-line hand-off between the two cores"): the device
 *    stamps t0 and stores a sequence number; the sink spins on that word, stamps t1 and stores t1 on a
 *    second line, on which the device spins. Sample: t1 - t0, one way. The sink spins with `pause` and
 *    nothing else; the vCPU's spin loop also reads the clock and two more flags per turn, which is part of
 *    what the engine's ratio measures.
 *  - POSTED (posted_throughput's floor): perf-floors' "posted shape". The device ORs a bit into a 256-bit
 *    PIR and sets ON in the same line (a VT-d descriptor's layout and the two atomics a post makes); the
 *    sink spins on ON, clears it, exchanges the four PIR words out, and stamps each bit it took with one
 *    clock read per fold (the engine's "handler entry"). The device never waits for the sink: requests
 *    coalesce in PIR as they do in a real descriptor.
 * What the engine path adds on top is everything that is not the line transfer: the function's lock and
 * STATUS bit, the IOMMU's table lookup and source check, the notification call, the fold into the LAPIC's
 * IRR, priority evaluation and the guest's handler dispatch (and, in throughput, the driver's ACK).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bench_int.h"

static void virq_bench_cacheline_handoff_sink(struct virq_bench_cacheline *c)
{
	uint64_t seen = atomic_load_explicit(&c->req, memory_order_acquire), r;

	atomic_store_explicit(&c->spinning, true, memory_order_release);
	for (;;) {
		while ((r = atomic_load_explicit(&c->req, memory_order_acquire)) == seen) {
			if (atomic_load_explicit(&c->stop, memory_order_relaxed))
				return;
			__builtin_ia32_pause();
		}
		seen = r;
		atomic_store_explicit(&c->resp, virq_bench_now_ns(), memory_order_release);
	}
}

static void virq_bench_cacheline_posted_sink(struct virq_bench_cacheline *c)
{
	atomic_store_explicit(&c->spinning, true, memory_order_release);
	for (;;) {
		while (!(atomic_load_explicit(&c->control, memory_order_relaxed) & VIRQ_BENCH_CACHELINE_ON)) {
			if (atomic_load_explicit(&c->stop, memory_order_relaxed))
				return;
			__builtin_ia32_pause();
		}
		/* Clear ON first, then take PIR: a post that lands after the take sets ON again. */
		atomic_fetch_and_explicit(&c->control, ~VIRQ_BENCH_CACHELINE_ON, memory_order_acquire);
		uint64_t bits[4], taken = 0;
		for (unsigned w = 0; w < 4; w++)
			bits[w] = atomic_exchange_explicit(&c->pir[w], 0, memory_order_acquire);
		/* Stamped after the take, as the engine stamps a handler's entry after its fold: every post
		 * the stamp covers was made before it. */
		uint64_t now = virq_bench_now_ns();
		for (unsigned w = 0; w < 4; w++) {
			while (bits[w]) {
				unsigned b = (unsigned)__builtin_ctzll(bits[w]);
				bits[w] &= bits[w] - 1;
				atomic_store_explicit(&c->last_ns[w * 64 + b], now, memory_order_relaxed);
				taken++;
			}
		}
		atomic_fetch_add_explicit(&c->runs, taken, memory_order_release);
	}
}

static void virq_bench_cacheline_sink(void *arg)
{
	struct virq_bench_cacheline *c = arg;

	if (c->kind == VIRQ_BENCH_CACHELINE_HANDOFF)
		virq_bench_cacheline_handoff_sink(c);
	else
		virq_bench_cacheline_posted_sink(c);
}

int virq_bench_cacheline_enter(struct virq_bench_cacheline *c, struct virq_bench_worker *w,
			       enum virq_bench_cacheline_kind kind)
{
	uint64_t deadline = virq_bench_now_ns() + VIRQ_BENCH_TIMEOUT_MS * 1000000ull;

	c->kind = kind;
	atomic_store(&c->stop, false);
	atomic_store(&c->spinning, false);
	atomic_store(&c->control, 0);
	for (unsigned i = 0; i < 4; i++)
		atomic_store(&c->pir[i], 0);
	virq_bench_worker_submit(w, virq_bench_cacheline_sink, c);
	while (!atomic_load_explicit(&c->spinning, memory_order_acquire)) {
		if (virq_bench_now_ns() > deadline) {
			fprintf(stderr, "virq bench: the cache-line floor's sink did not start\n");
			return -ETIMEDOUT;
		}
		virq_bench_sleep_ns(5000);
	}
	return 0;
}

int virq_bench_cacheline_leave(struct virq_bench_cacheline *c, struct virq_bench_worker *w)
{
	atomic_store_explicit(&c->stop, true, memory_order_release);
	return virq_bench_worker_wait(w);
}

int64_t virq_bench_cacheline_handoff(struct virq_bench_cacheline *c)
{
	uint64_t prev = atomic_load_explicit(&c->resp, memory_order_relaxed), t1;
	uint64_t seq = atomic_load_explicit(&c->req, memory_order_relaxed) + 1;
	unsigned spins = 0;

	uint64_t t0 = virq_bench_now_ns();
	atomic_store_explicit(&c->req, seq, memory_order_release);
	while ((t1 = atomic_load_explicit(&c->resp, memory_order_acquire)) == prev) {
		__builtin_ia32_pause();
		/* The clock is read only every 64k turns, so waiting costs the sink's line nothing extra. */
		if (++spins % 65536 == 0 && virq_bench_now_ns() - t0 > VIRQ_BENCH_TIMEOUT_MS * 1000000ull) {
			fprintf(stderr, "virq bench: cache-line hand-off: the sink did not answer\n");
			return -ETIMEDOUT;
		}
	}
	return (int64_t)(t1 - t0);
}

void virq_bench_cacheline_post(struct virq_bench_cacheline *c, unsigned bit)
{
	atomic_fetch_or_explicit(&c->pir[(bit >> 6) & 3], 1ull << (bit & 63), memory_order_release);
	/* A real post sends the notification when this sets ON; the sink polls ON, so nothing follows. */
	atomic_fetch_or_explicit(&c->control, VIRQ_BENCH_CACHELINE_ON, memory_order_release);
}
