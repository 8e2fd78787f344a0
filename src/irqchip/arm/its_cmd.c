/* SPDX-License-Identifier: MIT */
/*
 * its_cmd.c - the ITS command queue (arch/arm64/kvm/vgic/vgic-its.c vgic_its_process_commands and the
 * vgic_its_cmd_handle_* handlers; reference kvm-arm.md §1.5 "Command queue processing", §1.6).
 *
 * While enabled and CREADR != CWRITER: read 32 bytes at CBASER.addr + CREADR, execute, advance, wrap at
 * the end of the queue. As in KVM the queue never stalls: a command that cannot be read, an unknown
 * opcode (GICv4 V* commands included) and a command failing its checks are skipped, their architectural
 * error computed and dropped (counted in stats.ignored). Every command is handled under its->lock.
 *
 * One deliberate difference from KVM, following the GICv3 architecture: MOVALL moves only the LPIs that
 * target RDbase1 (KVM since its 2024 xarray rework moves every LPI of the VM; see docs/arm.md).
 */
#include "irqchip/arm/its_internal.h"

#include "irqchip/arm/gicv3_internal.h"
#include "irqchip/arm/its_regs.h"

/* One decoded command: four little-endian doublewords. */
struct its_cmd {
	uint64_t dw[4];
};

static uint8_t cmd_opcode(const struct its_cmd *c) { return (uint8_t)c->dw[0]; }
static uint32_t cmd_devid(const struct its_cmd *c) { return (uint32_t)(c->dw[0] >> 32); }
static uint32_t cmd_eventid(const struct its_cmd *c) { return (uint32_t)c->dw[1]; }
static uint32_t cmd_pintid(const struct its_cmd *c) { return (uint32_t)(c->dw[1] >> 32); }
static uint32_t cmd_size(const struct its_cmd *c) { return (uint32_t)(c->dw[1] & 0x1f) + 1; }
static uint32_t cmd_icid(const struct its_cmd *c) { return (uint32_t)(c->dw[2] & 0xffff); }
static uint64_t cmd_itt(const struct its_cmd *c) { return c->dw[2] & 0x000fffffffffff00ull; }
static uint32_t cmd_target1(const struct its_cmd *c) { return (uint32_t)(c->dw[2] >> 16); }
static uint32_t cmd_target2(const struct its_cmd *c) { return (uint32_t)(c->dw[3] >> 16); }
static bool cmd_valid(const struct its_cmd *c) { return c->dw[2] >> 63; }

static int cmd_mapd(struct virq_its *its, const struct its_cmd *c)
{
	uint32_t devid = cmd_devid(c), size = cmd_size(c);
	struct virq_its_device *dev;
	uint64_t gpa;

	if (!virq_its_check_id_locked(its, 0, devid, &gpa))
		return E_ITS_MAPD_DEVICE_OOR;
	if (cmd_valid(c) && size > VIRQ_ITS_MAX_EVENTID_BITS)
		return E_ITS_MAPD_ITTSIZE_OOR;
	/* A mapped device is always unmapped first, even when remapped with the same parameters. */
	dev = virq_its_find_device(its, devid);
	if (dev)
		virq_its_free_device_locked(its, dev); /* a new translation epoch */
	virq_gic_lpi_note_change(its->gic);
	if (!cmd_valid(c))
		return virq_its_zero_entry(its, gpa) ? E_ITS_MAPD_DEVICE_OOR : 0; /* clear the DTE */
	return virq_its_alloc_device_locked(its, devid, cmd_itt(c), size) ? 0 : E_ITS_MAPD_DEVICE_OOR;
}

static int cmd_mapc(struct virq_its *its, const struct its_cmd *c)
{
	uint32_t icid = cmd_icid(c), target = cmd_target1(c);
	struct virq_its_coll *coll;

	if (!cmd_valid(c)) {
		virq_its_free_coll_locked(its, icid);
		virq_its_cache_invalidate(its);
		return 0;
	}
	if (!virq_gic_vcpu_exists(its->gic, target))
		return E_ITS_MAPC_PROCNUM_OOR;
	coll = virq_its_find_coll(its, icid);
	virq_gic_lpi_note_change(its->gic); /* ITEs of the collection may translate now, or elsewhere */
	if (!coll) {
		if (!virq_its_check_id_locked(its, 1, icid, NULL) || !virq_its_alloc_coll_locked(its, icid, target))
			return E_ITS_MAPC_COLLECTION_OOR;
		return 0;
	}
	/* Retarget: every LPI mapped through this collection follows, pending state included. */
	coll->target = target;
	for (uint32_t d = 0; d < its->nr_devs; d++)
		for (uint32_t e = 0; e < its->devs[d]->nr_ites; e++) {
			const struct virq_its_ite *ite = &its->devs[d]->ites[e];

			if (!ite->orphan && ite->icid == icid)
				virq_gic_lpi_set_target(its->gic, ite->intid, (int)target);
		}
	return 0;
}

static int cmd_mapti(struct virq_its *its, const struct its_cmd *c)
{
	uint32_t devid = cmd_devid(c), eventid = cmd_eventid(c), icid = cmd_icid(c);
	uint32_t intid = cmd_opcode(c) == GITS_CMD_MAPTI ? cmd_pintid(c) : eventid;
	struct virq_its_device *dev;
	struct virq_its_coll *coll;
	bool new_coll = false;

	if (intid < VIRQ_GIC_LPI_BASE || intid >= virq_gic_lpi_limit(its->gic))
		return E_ITS_MAPTI_PHYSICALID_OOR; /* PROPBASER never programmed: IDbits 0, every MAPTI fails */
	dev = virq_its_find_device(its, devid);
	if (!dev)
		return E_ITS_MAPTI_UNMAPPED_DEVICE;
	if (!virq_its_check_event_id(its, dev, eventid))
		return E_ITS_MAPTI_ID_OOR;
	if (virq_its_find_ite(its, devid, eventid))
		return 0; /* already mapped: the old mapping stays (KVM) */
	coll = virq_its_find_coll(its, icid);
	if (!coll) {
		/* An unknown ICID is created as an unmapped collection, if it is in range. */
		if (!virq_its_check_id_locked(its, 1, icid, NULL))
			return E_ITS_MAPC_COLLECTION_OOR;
		coll = virq_its_alloc_coll_locked(its, icid, VIRQ_ITS_COLL_UNMAPPED);
		if (!coll)
			return E_ITS_MAPC_COLLECTION_OOR;
		new_coll = true;
	}
	if (virq_its_add_ite_locked(its, dev, eventid, intid, coll)) {
		if (new_coll)
			virq_its_free_coll_locked(its, icid);
		return E_ITS_MAPTI_PHYSICALID_OOR;
	}
	virq_gic_lpi_note_change(its->gic); /* a new translation: nothing resolved earlier changes */
	return 0;
}

static int cmd_movi(struct virq_its *its, const struct its_cmd *c)
{
	struct virq_its_ite *ite = virq_its_find_ite(its, cmd_devid(c), cmd_eventid(c));
	struct virq_its_coll *coll;

	if (!ite)
		return E_ITS_MOVI_UNMAPPED_INTERRUPT;
	if (!virq_its_coll_mapped(virq_its_ite_coll(its, ite)))
		return E_ITS_MOVI_UNMAPPED_COLLECTION;
	coll = virq_its_find_coll(its, cmd_icid(c));
	if (!virq_its_coll_mapped(coll))
		return E_ITS_MOVI_UNMAPPED_COLLECTION;
	ite->icid = coll->icid;
	/* The cache is dropped as KVM does, but the translation (DeviceID, EventID -> LPI) is unchanged:
	 * the target lives in the LPI, so a direct injection lands on the new vCPU with no new epoch. */
	virq_its_cache_invalidate(its);
	virq_gic_lpi_set_target(its->gic, ite->intid, (int)coll->target);
	virq_gic_lpi_note_change(its->gic);
	return 0;
}

static int cmd_discard(struct virq_its *its, const struct its_cmd *c)
{
	uint32_t devid = cmd_devid(c), eventid = cmd_eventid(c);
	struct virq_its_ite *ite = virq_its_find_ite(its, devid, eventid);
	struct virq_its_device *dev;

	if (!ite || !virq_its_coll_mapped(virq_its_ite_coll(its, ite)))
		return E_ITS_DISCARD_UNMAPPED_INTERRUPT;
	dev = virq_its_find_device(its, devid);
	virq_its_invalidate_translations(its);
	/* The LPI goes with its last ITE, pending state included; the ITE slot in guest memory is zeroed. */
	virq_its_free_ite_locked(its, dev, ite);
	return virq_its_zero_entry(its, dev->itt_addr + (uint64_t)eventid * 8) ? E_ITS_DISCARD_UNMAPPED_INTERRUPT : 0;
}

static int cmd_clear(struct virq_its *its, const struct its_cmd *c)
{
	struct virq_its_ite *ite = virq_its_find_ite(its, cmd_devid(c), cmd_eventid(c));

	if (!ite)
		return E_ITS_CLEAR_UNMAPPED_INTERRUPT;
	virq_gic_lpi_clear(its->gic, ite->intid); /* no collection check, as in KVM */
	return 0;
}

static int cmd_inv(struct virq_its *its, const struct its_cmd *c)
{
	struct virq_its_ite *ite = virq_its_find_ite(its, cmd_devid(c), cmd_eventid(c));

	if (!ite)
		return E_ITS_INV_UNMAPPED_INTERRUPT;
	virq_gic_lpi_inv(its->gic, ite->intid);
	return 0;
}

static int cmd_invall(struct virq_its *its, const struct its_cmd *c)
{
	struct virq_its_coll *coll = virq_its_find_coll(its, cmd_icid(c));

	if (!virq_its_coll_mapped(coll) || !virq_gic_vcpu_exists(its->gic, coll->target))
		return E_ITS_INVALL_UNMAPPED_COLLECTION;
	/* Every LPI of the VM targeting that vCPU, other ITSes' included. */
	virq_gic_lpi_invall(its->gic, coll->target);
	return 0;
}

static int cmd_int(struct virq_its *its, const struct its_cmd *c)
{
	/* The MSI path: mapped ITE, mapped collection, target with LPIs on; fills the cache. */
	return virq_its_trigger_locked(its, cmd_devid(c), cmd_eventid(c), virq_gic_now_ns()) == 1
		       ? 0 : E_ITS_INT_UNMAPPED_INTERRUPT;
}

static int cmd_movall(struct virq_its *its, const struct its_cmd *c)
{
	uint32_t from = cmd_target1(c), to = cmd_target2(c);

	if (from == to)
		return 0;
	if (!virq_gic_vcpu_exists(its->gic, from) || !virq_gic_vcpu_exists(its->gic, to))
		return E_ITS_MOVALL_PROCNUM_OOR;
	/* Architecture: the LPIs targeting RDbase1 (KVM moves all of them). Collections are untouched. */
	virq_gic_lpi_move_all(its->gic, from, to);
	virq_its_cache_invalidate(its); /* translations unchanged: targets live in the LPIs (see MOVI) */
	virq_gic_lpi_note_change(its->gic);
	return 0;
}

/* Execute one command; nonzero = an error that KVM drops. */
static int handle_command(struct virq_its *its, const struct its_cmd *c)
{
	switch (cmd_opcode(c)) {
	case GITS_CMD_MAPD: return cmd_mapd(its, c);
	case GITS_CMD_MAPC: return cmd_mapc(its, c);
	case GITS_CMD_MAPTI:
	case GITS_CMD_MAPI: return cmd_mapti(its, c);
	case GITS_CMD_MOVI: return cmd_movi(its, c);
	case GITS_CMD_DISCARD: return cmd_discard(its, c);
	case GITS_CMD_CLEAR: return cmd_clear(its, c);
	case GITS_CMD_INV: return cmd_inv(its, c);
	case GITS_CMD_INVALL: return cmd_invall(its, c);
	case GITS_CMD_INT: return cmd_int(its, c);
	case GITS_CMD_MOVALL: return cmd_movall(its, c);
	case GITS_CMD_SYNC: return 0; /* always in sync: commands complete synchronously */
	default: return -1;
	}
}

void virq_its_process_commands_locked(struct virq_its *its)
{
	uint64_t base = its->cbaser & GITS_CBASER_ADDR_MASK, size = virq_its_cmdq_size(its->cbaser);

	if (!its->enabled)
		return;
	if (its->creadr >= size || its->cwriter >= size)
		return; /* cannot happen: CBASER writes reset both, CWRITER/CREADR writes are range-checked */
	while (its->creadr != its->cwriter) {
		uint8_t buf[VIRQ_ITS_CMD_SIZE];
		struct its_cmd c;
		int err = virq_gic_read_guest(its->gic, base + its->creadr, buf, sizeof(buf));

		atomic_fetch_add_explicit(&its->stats.commands, 1, memory_order_relaxed);
		if (!err) {
			for (unsigned w = 0; w < 4; w++) {
				c.dw[w] = 0;
				for (int b = 7; b >= 0; b--)
					c.dw[w] = c.dw[w] << 8 | buf[8 * w + (unsigned)b];
			}
			err = handle_command(its, &c);
		}
		if (err)
			atomic_fetch_add_explicit(&its->stats.ignored, 1, memory_order_relaxed);
		its->creadr += VIRQ_ITS_CMD_SIZE;
		if (its->creadr >= size)
			its->creadr = 0;
	}
}
