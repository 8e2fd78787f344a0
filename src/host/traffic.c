/* SPDX-License-Identifier: MIT */
/*
 * traffic.c - a device thread per function that raises its causes in a pattern: FIXED (evenly spaced),
 * POISSON (exponential gaps from a seeded splitmix64, reproducible and independent of rand()), BURST
 * (back-to-back raises, bursts spaced so the mean rate holds) and STORM (as fast as possible).
 *
 * The thread runs against absolute deadlines on CLOCK_MONOTONIC, so a late wake-up is made up rather
 * than lost (at most a small batch at once, so a long stall does not turn into a storm). It never sleeps
 * longer than a millisecond at a time and checks its stop flag between raises, so stop joins promptly;
 * STORM yields the CPU after every raise so that, on two cores, it cannot starve the threads that
 * consume its interrupts.
 */
#define _GNU_SOURCE
#include "host/pci_function.h"

#include <errno.h>
#include <sched.h>
#include <time.h>

#define MAX_SLEEP_NS 1000000ull /* wake at least every millisecond to look at the stop flag */
#define MAX_CATCH_UP 64         /* raises made up at once after a late wake-up */

struct traffic_run {
	struct virq_pci_function *fn;
	struct virq_traffic t;
	uint64_t rng;       /* splitmix64 state */
	unsigned next_cause;
	unsigned in_burst;
};

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Natural log without libm: x = m * 2^e with m in [1, 2), ln m = 2 atanh((m - 1) / (m + 1)). */
static double ln(double x)
{
	int e = 0;
	while (x >= 2.0) {
		x /= 2.0;
		e++;
	}
	while (x < 1.0) {
		x *= 2.0;
		e--;
	}
	double z = (x - 1.0) / (x + 1.0), z2 = z * z, term = z, sum = 0.0;
	for (unsigned k = 1; k < 40; k += 2) {
		sum += term / k;
		term *= z2;
	}
	return 2.0 * sum + e * 0.6931471805599453;
}

/* The gap before the next raise, in ns. */
static uint64_t next_gap(struct traffic_run *r)
{
	const struct virq_traffic *t = &r->t;

	switch (t->pattern) {
	case VIRQ_TRAFFIC_POISSON: {
		double u = ((double)(splitmix64(&r->rng) >> 11) + 1.0) / 9007199254740993.0; /* (0, 1] */
		return (uint64_t)(-ln(u) * 1e9 / (double)t->rate);
	}
	case VIRQ_TRAFFIC_BURST:
		if (++r->in_burst < t->burst)
			return 0;
		r->in_burst = 0;
		return 1000000000ull * t->burst / t->rate;
	default:
		return 1000000000ull / t->rate;
	}
}

static void raise_next(struct traffic_run *r)
{
	uint64_t mask = r->t.causes_mask;

	while (!(mask & (1ull << r->next_cause)))
		r->next_cause = (r->next_cause + 1) % r->fn->desc.causes;
	virq_pci_function_raise(r->fn, r->next_cause);
	r->next_cause = (r->next_cause + 1) % r->fn->desc.causes;
}

static bool stopping(const struct virq_pci_function *fn)
{
	return atomic_load_explicit(&fn->traffic_stop, memory_order_acquire);
}

static void *traffic_main(void *arg)
{
	struct traffic_run r = {.fn = arg};

	r.t = r.fn->traffic; /* written before the thread was created, not while it runs */
	r.rng = r.t.seed;

	if (r.t.pattern == VIRQ_TRAFFIC_STORM) {
		while (!stopping(r.fn)) {
			raise_next(&r);
			sched_yield();
		}
		return NULL;
	}
	/* The first raise is due at once; next_gap() is asked only after a raise, so a burst is exactly
	 * @burst raises. */
	uint64_t deadline = virq_pci_now_ns();
	while (!stopping(r.fn)) {
		uint64_t now = virq_pci_now_ns();
		if (now < deadline) {
			uint64_t ns = deadline - now < MAX_SLEEP_NS ? deadline - now : MAX_SLEEP_NS;
			struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)ns};
			clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL);
			continue;
		}
		for (unsigned i = 0; i < MAX_CATCH_UP && deadline <= now && !stopping(r.fn); i++) {
			raise_next(&r);
			deadline += next_gap(&r);
		}
		/*
		 * Too far behind: drop the backlog rather than storm. Not inside a burst, whose raises are due
		 * back to back: the loop goes on raising them (checking for stop every MAX_CATCH_UP).
		 */
		if (deadline <= now && r.in_burst == 0)
			deadline = r.t.pattern == VIRQ_TRAFFIC_BURST ? now : now + next_gap(&r);
	}
	return NULL;
}

int virq_pci_function_traffic_start(struct virq_pci_function *fn, const struct virq_traffic *traffic)
{
	uint64_t all = fn->desc.causes == 64 ? ~0ull : (1ull << fn->desc.causes) - 1;
	int ret = 0;

	if (!traffic || traffic->pattern > VIRQ_TRAFFIC_STORM || (traffic->causes_mask & ~all) ||
	    (traffic->pattern != VIRQ_TRAFFIC_STORM && (traffic->rate == 0 || traffic->rate > 1000000000ull)) ||
	    (traffic->pattern == VIRQ_TRAFFIC_BURST && traffic->burst == 0))
		return -EINVAL;
	pthread_mutex_lock(&fn->traffic_lock);
	if (fn->traffic_running) {
		ret = -EBUSY;
		goto out;
	}
	fn->traffic = *traffic;
	if (!fn->traffic.causes_mask)
		fn->traffic.causes_mask = all;
	atomic_store_explicit(&fn->traffic_stop, false, memory_order_relaxed);
	ret = -pthread_create(&fn->traffic_thread, NULL, traffic_main, fn);
	if (ret)
		goto out;
	pthread_setname_np(fn->traffic_thread, "virq-device");
	fn->traffic_running = true;
out:
	pthread_mutex_unlock(&fn->traffic_lock);
	return ret;
}

void virq_pci_function_traffic_stop(struct virq_pci_function *fn)
{
	pthread_mutex_lock(&fn->traffic_lock);
	if (fn->traffic_running) {
		atomic_store_explicit(&fn->traffic_stop, true, memory_order_release);
		pthread_join(fn->traffic_thread, NULL);
		fn->traffic_running = false;
	}
	pthread_mutex_unlock(&fn->traffic_lock);
}
