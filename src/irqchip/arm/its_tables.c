/* SPDX-License-Identifier: MIT */
/*
 * its_tables.c - the ITS tables in guest memory (arch/arm64/kvm/vgic/vgic-its.c vgic_its_check_id,
 * vgic_its_save_tables_v0 / vgic_its_restore_tables_v0; reference kvm-arm.md §1.6.3, §1.8).
 *
 * During normal operation only ID range checks touch the tables: a DeviceID or ICID is in range if its
 * 8-byte entry lies inside the BASER's pages (flat) or, for a two-level device table, behind a valid L1
 * entry, and the entry's page is guest RAM; an EventID if it is below 2^EIDbits and its ITE slot is RAM.
 *
 * SAVE_TABLES writes KVM's ABI rev 0: each device's ITT (ITEs by EventID, "next" = EventID delta capped
 * at 2^16-1, ITEs orphaned by MAPC V=0 as zero), then its DTE (V, next DeviceID delta capped at 2^14-1,
 * ITT_addr >> 8, EIDbits-1), devices no longer addressable skipped; then the CTEs in creation order with
 * a zero terminator unless the table is full. RESTORE_TABLES reads collections, then devices, with every
 * check KVM makes; any failure frees every device and collection.
 */
#include "irqchip/arm/its_internal.h"

#include <errno.h>
#include <stdlib.h>

#include "irqchip/arm/gicv3_internal.h"
#include "irqchip/arm/its_regs.h"

uint64_t virq_its_baser_addr(uint64_t baser)
{
	return (baser & GITS_BASER_ADDR_47_16) | ((baser & GITS_BASER_ADDR_51_48) << 36);
}

static uint64_t baser_bytes(uint64_t baser)
{
	return GITS_BASER_NR_PAGES(baser) * VIRQ_ITS_TABLE_PAGE;
}

static int read_entry(struct virq_its *its, uint64_t gpa, uint64_t *val)
{
	uint8_t b[VIRQ_ITS_ESZ];
	int ret = virq_gic_read_guest(its->gic, gpa, b, sizeof(b));

	*val = 0;
	for (int i = VIRQ_ITS_ESZ - 1; !ret && i >= 0; i--)
		*val = *val << 8 | b[i]; /* tables are little-endian whatever the host */
	return ret;
}

static int write_entry(struct virq_its *its, uint64_t gpa, uint64_t val)
{
	uint8_t b[VIRQ_ITS_ESZ];

	for (int i = 0; i < VIRQ_ITS_ESZ; i++)
		b[i] = (uint8_t)(val >> (8 * i));
	return virq_gic_write_guest(its->gic, gpa, b, sizeof(b));
}

int virq_its_zero_entry(struct virq_its *its, uint64_t gpa)
{
	return write_entry(its, gpa, 0);
}

static bool gpa_is_ram(struct virq_its *its, uint64_t gpa)
{
	uint64_t scratch;

	return read_entry(its, gpa, &scratch) == 0;
}

bool virq_its_check_id_locked(struct virq_its *its, unsigned n, uint32_t id, uint64_t *gpa)
{
	uint64_t baser = its->baser[n], base = virq_its_baser_addr(baser), size = baser_bytes(baser);
	uint64_t entry, l1;

	if (id > 0xffff)
		return false; /* 16 DeviceID bits; CIL = 0: 16-bit ICIDs */
	if (n == 1 || !(baser & GITS_BASER_INDIRECT)) {
		if ((uint64_t)id >= size / VIRQ_ITS_ESZ)
			return false;
		entry = base + (uint64_t)id * VIRQ_ITS_ESZ;
	} else {
		uint64_t index = id / (VIRQ_ITS_TABLE_PAGE / VIRQ_ITS_ESZ);

		if (index >= size / VIRQ_ITS_ESZ || read_entry(its, base + index * VIRQ_ITS_ESZ, &l1) ||
		    !(l1 & KVM_ITS_L1E_VALID))
			return false;
		entry = (l1 & KVM_ITS_L1E_ADDR_MASK) + (id % (VIRQ_ITS_TABLE_PAGE / VIRQ_ITS_ESZ)) * VIRQ_ITS_ESZ;
	}
	if (gpa)
		*gpa = entry;
	return gpa_is_ram(its, entry);
}

bool virq_its_check_event_id(struct virq_its *its, const struct virq_its_device *dev, uint32_t eventid)
{
	if ((uint64_t)eventid >= (1ull << dev->eid_bits))
		return false;
	return gpa_is_ram(its, dev->itt_addr + (uint64_t)eventid * VIRQ_ITS_ESZ);
}

/* ---- Save ---- */

static int save_itt(struct virq_its *its, const struct virq_its_device *dev)
{
	for (uint32_t i = 0; i < dev->nr_ites; i++) {
		const struct virq_its_ite *ite = &dev->ites[i];
		uint64_t next = 0, val = 0;
		int ret;

		if (i + 1 < dev->nr_ites) {
			next = dev->ites[i + 1].eventid - ite->eventid;
			if (next > VITS_ITE_MAX_EVENTID_OFFSET)
				next = VITS_ITE_MAX_EVENTID_OFFSET;
		}
		if (!ite->orphan)
			val = next << KVM_ITS_ITE_NEXT_SHIFT | (uint64_t)ite->intid << KVM_ITS_ITE_PINTID_SHIFT | ite->icid;
		ret = write_entry(its, dev->itt_addr + (uint64_t)ite->eventid * VIRQ_ITS_ESZ, val);
		if (ret)
			return ret;
	}
	return 0;
}

static int save_devices_locked(struct virq_its *its)
{
	uint64_t *gpas;
	uint32_t prev = UINT32_MAX;
	int ret = 0;

	if (!(its->baser[0] & GITS_BASER_VALID) || !its->nr_devs)
		return 0;
	gpas = calloc(its->nr_devs, sizeof(*gpas));
	if (!gpas)
		return -ENOMEM;
	/* First find the addressable devices, so each DTE's "next" skips the others. */
	for (uint32_t i = 0; i < its->nr_devs; i++)
		if (!virq_its_check_id_locked(its, 0, its->devs[i]->devid, &gpas[i]))
			gpas[i] = UINT64_MAX;
	for (uint32_t i = its->nr_devs; i-- > 0 && !ret;) {
		const struct virq_its_device *dev = its->devs[i];
		uint64_t next = 0;

		if (gpas[i] == UINT64_MAX)
			continue;
		if (prev != UINT32_MAX) {
			next = its->devs[prev]->devid - dev->devid;
			if (next > VITS_DTE_MAX_DEVID_OFFSET)
				next = VITS_DTE_MAX_DEVID_OFFSET;
		}
		ret = save_itt(its, dev);
		if (!ret)
			ret = write_entry(its, gpas[i],
					  1ull << KVM_ITS_DTE_VALID_SHIFT | next << KVM_ITS_DTE_NEXT_SHIFT |
						  ((dev->itt_addr >> 8) & KVM_ITS_DTE_ITTADDR_MASK) << KVM_ITS_DTE_ITTADDR_SHIFT |
						  (dev->eid_bits - 1));
		prev = i;
	}
	free(gpas);
	return ret;
}

static int save_collections_locked(struct virq_its *its)
{
	uint64_t gpa = virq_its_baser_addr(its->baser[1]), size = baser_bytes(its->baser[1]), filled = 0;
	int ret;

	if (!(its->baser[1] & GITS_BASER_VALID) || !gpa)
		return 0;
	for (uint32_t i = 0; i < its->nr_colls; i++) {
		const struct virq_its_coll *c = &its->colls[i];

		if (filled + VIRQ_ITS_ESZ > size)
			return -ENOSPC; /* cannot happen: MAPC checks the ICID against the table size */
		ret = write_entry(its, gpa + filled,
				  1ull << KVM_ITS_CTE_VALID_SHIFT | (uint64_t)c->target << KVM_ITS_CTE_RDBASE_SHIFT | c->icid);
		if (ret)
			return ret;
		filled += VIRQ_ITS_ESZ;
	}
	return filled == size ? 0 : write_entry(its, gpa + filled, 0);
}

int virq_its_save_tables(struct virq_its *its)
{
	int ret;

	pthread_mutex_lock(&its->lock);
	ret = save_devices_locked(its);
	if (!ret)
		ret = save_collections_locked(its);
	pthread_mutex_unlock(&its->lock);
	return ret;
}

/* ---- Restore ---- */

/*
 * KVM's scan_its_table: from @gpa, @size bytes of 8-byte entries, call @fn(id, entry) and step by the
 * entry count it returns (> 0), stop on 0 (last entry) or < 0 (error). Returns 1 when it ran off the
 * end, 0 at a last entry, or the error.
 */
typedef int (*scan_fn)(struct virq_its *its, uint64_t id, uint64_t entry, void *opaque);

static int scan_table(struct virq_its *its, uint64_t gpa, uint64_t size, uint64_t start_id, scan_fn fn,
		      void *opaque)
{
	uint64_t left = size, id = start_id;

	while (true) {
		uint64_t entry, step;
		int next, ret = read_entry(its, gpa, &entry);

		if (ret)
			return ret;
		next = fn(its, id, entry, opaque);
		if (next <= 0)
			return next;
		step = (uint64_t)next * VIRQ_ITS_ESZ;
		if (step >= left)
			return 1;
		id += (uint64_t)next;
		gpa += step;
		left -= step;
	}
}

static int restore_ite(struct virq_its *its, uint64_t eventid, uint64_t val, void *opaque)
{
	struct virq_its_device *dev = opaque;
	uint32_t intid = (uint32_t)(val >> KVM_ITS_ITE_PINTID_SHIFT);
	uint32_t next = (uint32_t)(val >> KVM_ITS_ITE_NEXT_SHIFT);
	struct virq_its_coll *coll;
	int ret;

	if (!intid)
		return 1; /* invalid entry: step to the next one */
	if (intid < VIRQ_GIC_LPI_BASE || eventid + next >= (1ull << dev->eid_bits))
		return -EINVAL;
	coll = virq_its_find_coll(its, (uint32_t)(val & KVM_ITS_ITE_ICID_MASK));
	if (!coll || !virq_its_check_event_id(its, dev, (uint32_t)eventid) ||
	    virq_its_find_ite(its, dev->devid, (uint32_t)eventid))
		return -EINVAL;
	/* LPIs are created exactly as by MAPTI; an INTID beyond our 16-bit LPI space cannot be (-EINVAL). */
	ret = virq_its_add_ite_locked(its, dev, (uint32_t)eventid, intid, coll);
	return ret ? ret : (int)next;
}

static int restore_dte(struct virq_its *its, uint64_t id, uint64_t val, void *opaque)
{
	uint32_t next = (uint32_t)((val >> KVM_ITS_DTE_NEXT_SHIFT) & KVM_ITS_DTE_NEXT_MASK);
	uint32_t eid_bits = (uint32_t)(val & KVM_ITS_DTE_SIZE_MASK) + 1;
	uint64_t itt = ((val >> KVM_ITS_DTE_ITTADDR_SHIFT) & KVM_ITS_DTE_ITTADDR_MASK) << 8;
	struct virq_its_device *dev;
	int ret;

	if (!(val >> KVM_ITS_DTE_VALID_SHIFT))
		return 1;
	if (eid_bits > VIRQ_ITS_MAX_EVENTID_BITS || id > VIRQ_ITS_MAX_DEVID ||
	    !virq_its_check_id_locked(its, 0, (uint32_t)id, NULL))
		return -EINVAL;
	if (virq_its_find_device(its, (uint32_t)id))
		return -EEXIST;
	dev = virq_its_alloc_device_locked(its, (uint32_t)id, itt, eid_bits);
	if (!dev)
		return -ENOMEM;
	ret = scan_table(its, itt, (1ull << eid_bits) * VIRQ_ITS_ESZ, 0, restore_ite, dev);
	if (ret < 0) {
		virq_its_free_device_locked(its, dev);
		return ret;
	}
	return (int)next;
}

static int restore_l1(struct virq_its *its, uint64_t id, uint64_t val, void *opaque)
{
	int ret;

	if (!(val & KVM_ITS_L1E_VALID))
		return 1;
	ret = scan_table(its, val & KVM_ITS_L1E_ADDR_MASK, VIRQ_ITS_TABLE_PAGE,
			 id * (VIRQ_ITS_TABLE_PAGE / VIRQ_ITS_ESZ), restore_dte, NULL);
	return ret <= 0 ? ret : 1;
}

static int restore_collections_locked(struct virq_its *its)
{
	uint64_t gpa = virq_its_baser_addr(its->baser[1]), size = baser_bytes(its->baser[1]);

	if (!(its->baser[1] & GITS_BASER_VALID))
		return 0;
	for (uint64_t off = 0; off < size; off += VIRQ_ITS_ESZ) {
		uint64_t val;
		uint32_t target, icid;
		int ret = read_entry(its, gpa + off, &val);

		if (ret)
			return ret;
		if (!(val >> KVM_ITS_CTE_VALID_SHIFT))
			return 0;
		target = (uint32_t)(val >> KVM_ITS_CTE_RDBASE_SHIFT);
		icid = (uint32_t)(val & KVM_ITS_CTE_ICID_MASK);
		if (target != VIRQ_ITS_COLL_UNMAPPED && !virq_gic_vcpu_exists(its->gic, target))
			return -EINVAL;
		if (virq_its_find_coll(its, icid))
			return -EEXIST;
		if (!virq_its_check_id_locked(its, 1, icid, NULL))
			return -EINVAL;
		if (!virq_its_alloc_coll_locked(its, icid, target))
			return -ENOMEM;
	}
	return 0;
}

static int restore_devices_locked(struct virq_its *its)
{
	uint64_t baser = its->baser[0];
	int ret;

	if (!(baser & GITS_BASER_VALID))
		return 0;
	ret = scan_table(its, virq_its_baser_addr(baser), baser_bytes(baser), 0,
			 (baser & GITS_BASER_INDIRECT) ? restore_l1 : restore_dte, NULL);
	return ret > 0 ? 0 : ret;
}

int virq_its_restore_tables(struct virq_its *its)
{
	int ret;

	pthread_mutex_lock(&its->lock);
	virq_its_invalidate_translations(its); /* before anything is restored (or freed on failure) */
	ret = restore_collections_locked(its);
	if (!ret)
		ret = restore_devices_locked(its);
	if (ret) {
		virq_its_free_devices_locked(its);
		virq_its_free_colls_locked(its);
	}
	virq_its_cache_invalidate(its);
	virq_gic_lpi_note_change(its->gic);
	pthread_mutex_unlock(&its->lock);
	return ret;
}
