/* SPDX-License-Identifier: MIT */
/*
 * latency.c - log-linear histogram (see latency.h). Values below 2^VIRQ_LAT_SUB_BITS ns are exact; above,
 * each power of two [2^e, 2^(e+1)) is split into 2^VIRQ_LAT_SUB_BITS equal buckets.
 */
#include "guest/latency.h"

static unsigned virq_latency_bucket(uint64_t ns)
{
	if (ns < (1u << VIRQ_LAT_SUB_BITS))
		return (unsigned)ns;
	unsigned e = 63u - (unsigned)__builtin_clzll(ns);
	unsigned sub = (unsigned)(ns >> (e - VIRQ_LAT_SUB_BITS)) & ((1u << VIRQ_LAT_SUB_BITS) - 1);
	return ((e - VIRQ_LAT_SUB_BITS + 1) << VIRQ_LAT_SUB_BITS) + sub;
}

/* The midpoint of a bucket, the value reported for every sample that fell into it. */
static uint64_t virq_latency_bucket_value(unsigned bucket)
{
	if (bucket < (1u << VIRQ_LAT_SUB_BITS))
		return bucket;
	unsigned e = (bucket >> VIRQ_LAT_SUB_BITS) + VIRQ_LAT_SUB_BITS - 1;
	uint64_t sub = bucket & ((1u << VIRQ_LAT_SUB_BITS) - 1);
	uint64_t width = 1ull << (e - VIRQ_LAT_SUB_BITS);
	return (1ull << e) + sub * width + width / 2;
}

void virq_latency_record(struct virq_latency_hist *hist, uint64_t ns)
{
	atomic_fetch_add_explicit(&hist->bucket[virq_latency_bucket(ns)], 1, memory_order_relaxed);
	if (ns > atomic_load_explicit(&hist->max_ns, memory_order_relaxed))
		atomic_store_explicit(&hist->max_ns, ns, memory_order_relaxed);
	atomic_fetch_add_explicit(&hist->count, 1, memory_order_release);
}

uint64_t virq_latency_percentile(const struct virq_latency_hist *hist, unsigned permille)
{
	uint64_t count = atomic_load_explicit(&hist->count, memory_order_acquire);
	if (count == 0)
		return 0;
	uint64_t rank = (count * permille + 999) / 1000, seen = 0;
	for (unsigned b = 0; b < VIRQ_LAT_BUCKETS; b++) {
		seen += atomic_load_explicit(&hist->bucket[b], memory_order_relaxed);
		if (seen >= rank && seen > 0)
			return virq_latency_bucket_value(b);
	}
	return atomic_load_explicit(&hist->max_ns, memory_order_relaxed);
}
