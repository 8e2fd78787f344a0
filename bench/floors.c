/* SPDX-License-Identifier: MIT */
/*
 * floors.c - the raw eventfd/epoll floors: the engine's hops done with nothing but eventfds, epoll and
 * memory, on the same threads (perf-floors.md section 4, "Floor symbols").
 *
 * The issue defines the irqfd latency floor as two thread wake-ups, the path through a relay thread: the
 * device's write wakes a poller (epoll_wait, read, inject), whose one eventfd write wakes the vCPU thread
 * asleep in epoll_pwait. The engine now lets a halted vCPU take the signal itself (one wake-up), so its
 * ratio against this floor shows the saving. The floor makes the two wake-ups and nothing else:
 *
 *   device: write(e1)  ->  relay: epoll_wait(e1), read(e1), write(e2)  ->  sink: read(e2) returns
 *
 * so H_ep + H_efd, with the minimum syscalls for it (5; the engine's one-wake-up path makes 3: device
 * write, vCPU epoll_pwait, the vCPU's read of the irqfd).
 * Variants, chosen per block:
 *  - BLOCK:    the sink blocks in read(e2): the halted vCPU (latency, counts, and with `sink_acks` the
 *              resample round trip, whose third hop back to the device is the sink's write(ack)).
 *  - BUSYPOLL: the sink spins on a non-blocking read(e2): the "busy-polling eventfd round trip"
 *              for a halt-polling vCPU. The engine's polling vCPU spins on memory instead, and its
 *              poller skips the wake write, so this floor is a little slower than the ideal: a ratio
 *              under 1 there is expected.
 *  - SPIN:     the relay only publishes its batch count in memory and the sink spins on it: a running
 *              vCPU that notices IRR at its next op boundary (throughput). The spinning sink keeps its
 *              core busy as the running vCPU does, and the relay competes with it for that core as the
 *              poller competes with the vCPU (throughput.c pins both sides the same way).
 * The sink keeps the counters the engine keeps for its vCPU (runs = handler entries, last_ns = last
 * entry, sleeps/halts = about to block/poll), so the device waits on both sides with the same code.
 *
 * What is not identical: the relay is our worker thread, not the VM's poller (the engine owns that
 * thread); each idles in its own blocking call while the other side runs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "bench_int.h"

int virq_bench_floor_init(struct virq_bench_floor *f)
{
	memset(f, 0, sizeof(*f));
	f->e2 = f->e2nb = f->ack = f->epfd = -1;
	f->e1 = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	f->e2 = eventfd(0, EFD_CLOEXEC);
	f->e2nb = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	f->ack = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	f->epfd = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN };
	if (f->e1 < 0 || f->e2 < 0 || f->e2nb < 0 || f->ack < 0 || f->epfd < 0 ||
	    epoll_ctl(f->epfd, EPOLL_CTL_ADD, f->e1, &ev) < 0) {
		int r = -errno;
		fprintf(stderr, "virq bench: setup: floor eventfds: %s\n", strerror(errno));
		virq_bench_floor_destroy(f);
		return r;
	}
	return 0;
}

void virq_bench_floor_destroy(struct virq_bench_floor *f)
{
	int *fds[] = { &f->e1, &f->e2, &f->e2nb, &f->ack, &f->epfd };
	for (unsigned i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

/* The poller's stand-in: wait, drain, pass it on, exactly one wake-up for the next thread. */
static void virq_bench_floor_relay(void *arg)
{
	struct virq_bench_floor *f = arg;
	struct epoll_event ev;
	uint64_t count;
	int out = f->sink_kind == VIRQ_BENCH_SINK_BLOCK ? f->e2 : f->e2nb;

	for (;;) {
		if (epoll_wait(f->epfd, &ev, 1, -1) < 1)
			continue;
		if (read(f->e1, &count, sizeof(count)) != sizeof(count))
			continue; /* already drained */
		atomic_fetch_add_explicit(&f->signals, count, memory_order_relaxed);
		if (f->sink_kind == VIRQ_BENCH_SINK_SPIN)
			atomic_fetch_add_explicit(&f->batches, 1, memory_order_release);
		else
			virq_bench_write1(out);
		if (atomic_load_explicit(&f->stop, memory_order_acquire))
			return;
	}
}

static void virq_bench_floor_entry(struct virq_bench_floor *f)
{
	atomic_store_explicit(&f->last_ns, virq_bench_now_ns(), memory_order_relaxed);
	atomic_fetch_add_explicit(&f->runs, 1, memory_order_release);
	if (f->sink_acks)
		virq_bench_write1(f->ack);
}

/* The vCPU's stand-in (runs on the vCPU worker thread). */
static void virq_bench_floor_sink(void *arg)
{
	struct virq_bench_floor *f = arg;
	uint64_t count, seen;

	switch (f->sink_kind) {
	case VIRQ_BENCH_SINK_BLOCK:
		for (;;) {
			atomic_fetch_add_explicit(&f->sleeps, 1, memory_order_relaxed);
			if (read(f->e2, &count, sizeof(count)) != sizeof(count))
				continue;
			if (atomic_load_explicit(&f->stop, memory_order_acquire))
				return;
			virq_bench_floor_entry(f);
		}
	case VIRQ_BENCH_SINK_BUSYPOLL:
		for (;;) {
			atomic_fetch_add_explicit(&f->halts, 1, memory_order_relaxed);
			while (read(f->e2nb, &count, sizeof(count)) != sizeof(count))
				if (atomic_load_explicit(&f->stop, memory_order_acquire))
					return;
			if (atomic_load_explicit(&f->stop, memory_order_acquire))
				return;
			virq_bench_floor_entry(f);
		}
	case VIRQ_BENCH_SINK_SPIN:
		seen = f->spin_from;
		for (;;) {
			uint64_t b;
			while ((b = atomic_load_explicit(&f->batches, memory_order_acquire)) == seen) {
				if (atomic_load_explicit(&f->stop, memory_order_acquire))
					return;
				__builtin_ia32_pause();
			}
			seen = b;
			virq_bench_floor_entry(f);
		}
	}
}

static void virq_bench_floor_drain(struct virq_bench_floor *f)
{
	int fds[] = { f->e1, f->e2, f->e2nb, f->ack };
	uint64_t count;

	for (unsigned i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		struct pollfd pfd = { .fd = fds[i], .events = POLLIN };
		if (poll(&pfd, 1, 0) == 1 && read(fds[i], &count, sizeof(count)) < 0) {
			/* nothing to drain after all */
		}
	}
}

int virq_bench_floor_enter(struct virq_bench_floor *f, struct virq_bench_rig *rig,
			   enum virq_bench_sink_kind kind, bool sink_acks)
{
	virq_bench_floor_drain(f);
	atomic_store(&f->stop, false);
	f->sink_kind = kind;
	f->sink_acks = sink_acks;
	/* Before either job starts: a batch the relay publishes before the sink looks must still count. */
	f->spin_from = atomic_load(&f->batches);
	uint64_t mark = kind == VIRQ_BENCH_SINK_BUSYPOLL ? atomic_load(&f->halts) : atomic_load(&f->sleeps);
	virq_bench_worker_submit(&rig->relay, virq_bench_floor_relay, f);
	virq_bench_worker_submit(&rig->vcpu_thread, virq_bench_floor_sink, f);
	if (kind == VIRQ_BENCH_SINK_SPIN)
		return 0;
	return virq_bench_floor_settle(f, mark, kind == VIRQ_BENCH_SINK_BUSYPOLL);
}

int virq_bench_floor_leave(struct virq_bench_floor *f, struct virq_bench_rig *rig)
{
	atomic_store_explicit(&f->stop, true, memory_order_release);
	/*
	 * Wake both directly: the relay may see `stop` right after forwarding the last sample, before it
	 * reads this write, and would then never forward a wake-up to the sink. Leftovers are drained.
	 */
	virq_bench_write1(f->e1);
	virq_bench_write1(f->sink_kind == VIRQ_BENCH_SINK_BLOCK ? f->e2 : f->e2nb);
	int r1 = virq_bench_worker_wait(&rig->relay);
	int r2 = virq_bench_worker_wait(&rig->vcpu_thread);
	virq_bench_floor_drain(f);
	return r1 < 0 ? r1 : r2;
}

int virq_bench_floor_settle(struct virq_bench_floor *f, uint64_t mark0, bool polling)
{
	uint64_t deadline = virq_bench_now_ns() + VIRQ_BENCH_TIMEOUT_MS * 1000000ull;

	while ((polling ? atomic_load(&f->halts) : atomic_load(&f->sleeps)) <= mark0) {
		if (virq_bench_now_ns() > deadline) {
			fprintf(stderr, "virq bench: the floor's sink did not block again\n");
			return -ETIMEDOUT;
		}
		virq_bench_sleep_ns(5000);
	}
	virq_bench_sleep_ns(VIRQ_BENCH_SETTLE_NS);
	return 0;
}
