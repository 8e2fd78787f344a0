/* SPDX-License-Identifier: MIT */
/*
 * its_cache.c - the ITS translation cache (KVM v6.10+: per ITS, unbounded, key DeviceID << 16 | EventID;
 * reference kvm-arm.md §1.7). It lets an MSI hit be latched without the ITS lock (the irqfd fast path).
 *
 * It maps to an LPI INTID only: target and configuration live in the LPI object, so INV, INVALL and MAPC
 * retargeting need no invalidation, while everything that can make a translation wrong drops the whole
 * cache: DISCARD, MAPD of a mapped device (remap or V=0), MOVI, MOVALL, MAPC V=0, GITS_CTLR Enable 1 -> 0,
 * a changed BASER, reset, restore and destroy (its*.c), and an EnableLPIs clear on any redistributor
 * (gicv3_redist.c). Lookups of an ID above 16 bits always miss. A hit that races with an invalidation
 * can still find its INTID; virq_gic_lpi_inject then refuses an LPI that was freed or whose target turned
 * EnableLPIs off, so a stale hit never latches what the slow path would refuse.
 *
 * Open addressing with linear probing, grown to keep the load under one half; entries are only ever
 * dropped all at once. Bounded by the number of ITEs (VIRQ_ITS_MAX_ITES).
 */
#include "irqchip/arm/its_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_MIN_CAP 64u

int virq_its_cache_init(struct virq_its_cache *cache)
{
	int err;

	memset(cache, 0, sizeof(*cache));
	err = pthread_mutex_init(&cache->lock, NULL);
	return -err;
}

void virq_its_cache_destroy(struct virq_its_cache *cache)
{
	free(cache->keys);
	free(cache->intids);
	pthread_mutex_destroy(&cache->lock);
}

static uint32_t slot_of(uint32_t key, uint32_t cap)
{
	return (key * 2654435761u) & (cap - 1); /* Fibonacci hashing; cap is a power of two */
}

static bool valid_key(uint32_t devid, uint32_t eventid)
{
	return devid <= 0xffff && eventid <= 0xffff;
}

uint32_t virq_its_cache_lookup(struct virq_its *its, uint32_t devid, uint32_t eventid)
{
	struct virq_its_cache *c = &its->cache;
	uint32_t key = devid << 16 | eventid, intid = 0;

	if (!valid_key(devid, eventid))
		return 0;
	pthread_mutex_lock(&c->lock);
	for (uint32_t i = c->cap ? slot_of(key, c->cap) : 0, n = 0; n < c->cap; i = (i + 1) & (c->cap - 1), n++) {
		if (!c->intids[i])
			break;
		if (c->keys[i] == key) {
			intid = c->intids[i];
			break;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return intid;
}

static void cache_put(struct virq_its_cache *c, uint32_t key, uint32_t intid)
{
	uint32_t i = slot_of(key, c->cap);

	while (c->intids[i] && c->keys[i] != key)
		i = (i + 1) & (c->cap - 1);
	if (!c->intids[i])
		c->count++;
	c->keys[i] = key;
	c->intids[i] = intid;
}

static int cache_grow(struct virq_its_cache *c)
{
	uint32_t cap = c->cap ? c->cap * 2 : CACHE_MIN_CAP, *keys, *intids, old_cap = c->cap;
	uint32_t *old_keys = c->keys, *old_intids = c->intids;

	keys = calloc(cap, sizeof(*keys));
	intids = calloc(cap, sizeof(*intids));
	if (!keys || !intids) {
		free(keys);
		free(intids);
		return -ENOMEM;
	}
	c->keys = keys;
	c->intids = intids;
	c->cap = cap;
	c->count = 0;
	for (uint32_t i = 0; i < old_cap; i++)
		if (old_intids[i])
			cache_put(c, old_keys[i], old_intids[i]);
	free(old_keys);
	free(old_intids);
	return 0;
}

void virq_its_cache_insert(struct virq_its *its, uint32_t devid, uint32_t eventid, uint32_t intid)
{
	struct virq_its_cache *c = &its->cache;

	if (!valid_key(devid, eventid) || !intid)
		return;
	pthread_mutex_lock(&c->lock);
	/* Failing to grow only costs the next MSI a slow-path lookup. */
	if ((c->count + 1) * 2 <= c->cap || cache_grow(c) == 0)
		cache_put(c, devid << 16 | eventid, intid);
	pthread_mutex_unlock(&c->lock);
}

void virq_its_cache_invalidate(struct virq_its *its)
{
	struct virq_its_cache *c = &its->cache;

	pthread_mutex_lock(&c->lock);
	if (c->count)
		memset(c->intids, 0, c->cap * sizeof(*c->intids));
	c->count = 0;
	pthread_mutex_unlock(&c->lock);
	atomic_fetch_add_explicit(&its->stats.invalidations, 1, memory_order_relaxed);
}
