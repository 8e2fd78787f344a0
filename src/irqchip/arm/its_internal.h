/* SPDX-License-Identifier: MIT */
/*
 * its_internal.h - what its.c (state, registers, MSIs), its_cmd.c (command queue), its_tables.c (guest
 * tables, save/restore) and its_cache.c (translation cache) share. Functions named *_locked expect
 * its->lock held. Private to src/irqchip/arm.
 */
#ifndef VIRQ_IRQCHIP_ARM_ITS_INTERNAL_H
#define VIRQ_IRQCHIP_ARM_ITS_INTERNAL_H

#include "irqchip/arm/its.h"

/* Live state (its.c). */
struct virq_its_device *virq_its_find_device(struct virq_its *its, uint32_t devid);
struct virq_its_ite *virq_its_find_ite(struct virq_its *its, uint32_t devid, uint32_t eventid);
struct virq_its_coll *virq_its_find_coll(struct virq_its *its, uint32_t icid);
/* The ITE's collection, NULL when orphaned by MAPC V=0. */
struct virq_its_coll *virq_its_ite_coll(struct virq_its *its, const struct virq_its_ite *ite);
static inline bool virq_its_coll_mapped(const struct virq_its_coll *coll)
{
	return coll && coll->target != VIRQ_ITS_COLL_UNMAPPED;
}
struct virq_its_device *virq_its_alloc_device_locked(struct virq_its *its, uint32_t devid, uint64_t itt_addr,
						      uint32_t eid_bits);
/* Frees the device with its ITEs (LPI references dropped) and invalidates the cache. */
void virq_its_free_device_locked(struct virq_its *its, struct virq_its_device *dev);
void virq_its_free_devices_locked(struct virq_its *its);
struct virq_its_coll *virq_its_alloc_coll_locked(struct virq_its *its, uint32_t icid, uint32_t target);
/* MAPC V=0: orphan the ITEs using it, free it. */
void virq_its_free_coll_locked(struct virq_its *its, uint32_t icid);
void virq_its_free_colls_locked(struct virq_its *its);
/*
 * New ITE for (@dev, @eventid) -> @intid in collection @coll, taking the LPI reference (target = the
 * collection's vCPU if mapped). 0, -ENOSPC (our ITE bound), -ENOMEM, or virq_gic_lpi_get's error.
 */
int virq_its_add_ite_locked(struct virq_its *its, struct virq_its_device *dev, uint32_t eventid, uint32_t intid,
			    struct virq_its_coll *coll);
void virq_its_free_ite_locked(struct virq_its *its, struct virq_its_device *dev, struct virq_its_ite *ite);
/* KVM's vgic_its_trigger_msi under its->lock: -EBUSY, 0 (blocked) or 1; fills the cache on success. */
int virq_its_trigger_locked(struct virq_its *its, uint32_t devid, uint32_t eventid, uint64_t raise_ns);
uint64_t virq_its_cmdq_size(uint64_t cbaser);

/* Command queue (its_cmd.c): drain CREADR..CWRITER if enabled. */
void virq_its_process_commands_locked(struct virq_its *its);

/* Guest tables (its_tables.c). */
uint64_t virq_its_baser_addr(uint64_t baser);
/* KVM's vgic_its_check_id over BASER @n (0 devices, 1 collections); *gpa gets the entry's address. */
bool virq_its_check_id_locked(struct virq_its *its, unsigned n, uint32_t id, uint64_t *gpa);
bool virq_its_check_event_id(struct virq_its *its, const struct virq_its_device *dev, uint32_t eventid);
int virq_its_zero_entry(struct virq_its *its, uint64_t gpa);

/* Translation cache (its_cache.c). */
int virq_its_cache_init(struct virq_its_cache *cache);
void virq_its_cache_destroy(struct virq_its_cache *cache);
/* The cached LPI of (devid, eventid), 0 on a miss. */
uint32_t virq_its_cache_lookup(struct virq_its *its, uint32_t devid, uint32_t eventid);
void virq_its_cache_insert(struct virq_its *its, uint32_t devid, uint32_t eventid, uint32_t intid);

#endif /* VIRQ_IRQCHIP_ARM_ITS_INTERNAL_H */
