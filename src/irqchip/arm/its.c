/* SPDX-License-Identifier: MIT */
/*
 * its.c - the ITS's live state and registers (arch/arm64/kvm/vgic/vgic-its.c; reference kvm-arm.md
 * §1.5, §1.8): devices with their ITEs, collections, the register frame (GITS_CTLR enable and quiescent,
 * IIDR, TYPER, CBASER, CWRITER, CREADR, BASER0 device table, BASER1 collection table, ID registers,
 * TRANSLATER RAZ/WI for CPU stores), the userspace register interface, reset, and the MSI entry point.
 *
 * Register rules as KVM: CBASER and BASERs are ignored while enabled; a CBASER write zeroes CREADR and
 * CWRITER; a CWRITER beyond the queue is ignored; Enable cannot be set unless CBASER, BASER0 and BASER1
 * are all valid; clearing Enable invalidates the cache; a BASER write whose sanitised value differs from
 * the old one drops every device (BASER0) or collection (BASER1) - newest mainline - while an identical
 * rewrite keeps them. Commands run synchronously inside the CWRITER / CTLR write (its_cmd.c), so CREADR
 * equals CWRITER afterwards and GITS_CTLR always reads Quiescent once the write returns.
 */
#include "irqchip/arm/its_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "irqchip/arm/gicv3_internal.h"
#include "irqchip/arm/gicv3_regs.h"
#include "irqchip/arm/its_regs.h"

static void its_stat(_Atomic uint64_t *counter)
{
	atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
}

/* ---- Devices, ITEs, collections ---- */

/* Index of the first device with DeviceID >= @devid (binary search). */
static uint32_t dev_index(const struct virq_its *its, uint32_t devid)
{
	uint32_t lo = 0, hi = its->nr_devs;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (its->devs[mid]->devid < devid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct virq_its_device *virq_its_find_device(struct virq_its *its, uint32_t devid)
{
	uint32_t i = dev_index(its, devid);

	return i < its->nr_devs && its->devs[i]->devid == devid ? its->devs[i] : NULL;
}

static uint32_t ite_index(const struct virq_its_device *dev, uint32_t eventid)
{
	uint32_t lo = 0, hi = dev->nr_ites;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (dev->ites[mid].eventid < eventid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct virq_its_ite *virq_its_find_ite(struct virq_its *its, uint32_t devid, uint32_t eventid)
{
	struct virq_its_device *dev = virq_its_find_device(its, devid);
	uint32_t i;

	if (!dev)
		return NULL;
	i = ite_index(dev, eventid);
	return i < dev->nr_ites && dev->ites[i].eventid == eventid ? &dev->ites[i] : NULL;
}

struct virq_its_coll *virq_its_find_coll(struct virq_its *its, uint32_t icid)
{
	for (uint32_t i = 0; i < its->nr_colls; i++)
		if (its->colls[i].icid == icid)
			return &its->colls[i];
	return NULL;
}

struct virq_its_coll *virq_its_ite_coll(struct virq_its *its, const struct virq_its_ite *ite)
{
	return ite->orphan ? NULL : virq_its_find_coll(its, ite->icid);
}

/* Make room for one more element of @size in *@arr (capacity *@cap). */
static int grow(void **arr, uint32_t nr, uint32_t *cap, size_t size)
{
	uint32_t ncap;
	void *n;

	if (nr < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 8;
	n = realloc(*arr, (size_t)ncap * size);
	if (!n)
		return -ENOMEM;
	*arr = n;
	*cap = ncap;
	return 0;
}

struct virq_its_device *virq_its_alloc_device_locked(struct virq_its *its, uint32_t devid, uint64_t itt_addr,
						      uint32_t eid_bits)
{
	struct virq_its_device *dev;
	uint32_t i = dev_index(its, devid);

	if (i < its->nr_devs && its->devs[i]->devid == devid)
		return NULL;
	if (grow((void **)&its->devs, its->nr_devs, &its->cap_devs, sizeof(*its->devs)))
		return NULL;
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return NULL;
	dev->devid = devid;
	dev->itt_addr = itt_addr;
	dev->eid_bits = eid_bits;
	memmove(&its->devs[i + 1], &its->devs[i], (its->nr_devs - i) * sizeof(*its->devs));
	its->devs[i] = dev;
	its->nr_devs++;
	return dev;
}

void virq_its_free_ite_locked(struct virq_its *its, struct virq_its_device *dev, struct virq_its_ite *ite)
{
	uint32_t i = (uint32_t)(ite - dev->ites);

	virq_gic_lpi_put(its->gic, ite->intid);
	memmove(&dev->ites[i], &dev->ites[i + 1], (dev->nr_ites - i - 1) * sizeof(*ite));
	dev->nr_ites--;
	its->nr_ites--;
}

void virq_its_free_device_locked(struct virq_its *its, struct virq_its_device *dev)
{
	uint32_t i = dev_index(its, dev->devid);

	/* Before the LPIs go: a direct injection that sees the old epoch latches before they are freed. */
	virq_its_invalidate_translations(its);
	for (uint32_t e = 0; e < dev->nr_ites; e++)
		virq_gic_lpi_put(its->gic, dev->ites[e].intid);
	its->nr_ites -= dev->nr_ites;
	memmove(&its->devs[i], &its->devs[i + 1], (its->nr_devs - i - 1) * sizeof(*its->devs));
	its->nr_devs--;
	free(dev->ites);
	free(dev);
}

void virq_its_free_devices_locked(struct virq_its *its)
{
	while (its->nr_devs)
		virq_its_free_device_locked(its, its->devs[its->nr_devs - 1]);
}

struct virq_its_coll *virq_its_alloc_coll_locked(struct virq_its *its, uint32_t icid, uint32_t target)
{
	struct virq_its_coll *c;

	if (icid > 0xffff || virq_its_find_coll(its, icid) ||
	    grow((void **)&its->colls, its->nr_colls, &its->cap_colls, sizeof(*its->colls)))
		return NULL;
	c = &its->colls[its->nr_colls++];
	c->icid = (uint16_t)icid;
	c->target = target;
	return c;
}

void virq_its_free_coll_locked(struct virq_its *its, uint32_t icid)
{
	struct virq_its_coll *c = virq_its_find_coll(its, icid);
	uint32_t i;

	if (!c)
		return;
	virq_its_invalidate_translations(its); /* its ITEs stop translating (orphaned or freed with it) */
	/* KVM sets ite->collection = NULL: re-mapping the same ICID later does not revive these ITEs. */
	for (uint32_t d = 0; d < its->nr_devs; d++)
		for (uint32_t e = 0; e < its->devs[d]->nr_ites; e++)
			if (its->devs[d]->ites[e].icid == icid)
				its->devs[d]->ites[e].orphan = true;
	i = (uint32_t)(c - its->colls);
	memmove(&its->colls[i], &its->colls[i + 1], (its->nr_colls - i - 1) * sizeof(*c));
	its->nr_colls--;
}

void virq_its_free_colls_locked(struct virq_its *its)
{
	while (its->nr_colls)
		virq_its_free_coll_locked(its, its->colls[its->nr_colls - 1].icid);
}

int virq_its_add_ite_locked(struct virq_its *its, struct virq_its_device *dev, uint32_t eventid, uint32_t intid,
			    struct virq_its_coll *coll)
{
	struct virq_its_ite *ite;
	uint32_t i;
	int ret;

	if (its->nr_ites >= VIRQ_ITS_MAX_ITES)
		return -ENOSPC;
	if (grow((void **)&dev->ites, dev->nr_ites, &dev->cap_ites, sizeof(*dev->ites)))
		return -ENOMEM;
	ret = virq_gic_lpi_get(its->gic, intid, virq_its_coll_mapped(coll) ? (int)coll->target : -1);
	if (ret)
		return ret;
	i = ite_index(dev, eventid);
	memmove(&dev->ites[i + 1], &dev->ites[i], (dev->nr_ites - i) * sizeof(*dev->ites));
	ite = &dev->ites[i];
	*ite = (struct virq_its_ite){ .eventid = eventid, .intid = intid, .icid = coll->icid };
	dev->nr_ites++;
	its->nr_ites++;
	return 0;
}

/* ---- MSI translation ---- */

int virq_its_trigger_locked(struct virq_its *its, uint32_t devid, uint32_t eventid, uint64_t raise_ns)
{
	struct virq_its_ite *ite;
	struct virq_its_coll *coll;
	int ret;

	if (!its->enabled)
		return -EBUSY;
	ite = virq_its_find_ite(its, devid, eventid);
	coll = ite ? virq_its_ite_coll(its, ite) : NULL;
	if (!virq_its_coll_mapped(coll) || !virq_gic_vcpu_exists(its->gic, coll->target)) {
		its_stat(&its->stats.msi_blocked);
		return 0; /* E_ITS_INT_UNMAPPED_INTERRUPT: the guest blocked it */
	}
	/* The collection's vCPU must have LPIs on; the LPI itself goes to its own target (shared INTIDs). */
	ret = virq_gic_lpi_inject(its->gic, ite->intid, (int)coll->target, raise_ns);
	if (ret == -ENOENT)
		return 0;
	if (ret == 1)
		virq_its_cache_insert(its, devid, eventid, ite->intid);
	return ret;
}

int virq_its_inject_cached(struct virq_its *its, uint32_t devid, uint32_t eventid, uint64_t raise_ns)
{
	uint32_t intid = virq_its_cache_lookup(its, devid, eventid);

	if (intid && virq_gic_lpi_inject(its->gic, intid, -1, raise_ns) == 1) {
		its_stat(&its->stats.cache_hits);
		return 1;
	}
	its_stat(&its->stats.cache_misses);
	return -EWOULDBLOCK;
}

int virq_its_translate_and_inject_at(struct virq_its *its, uint32_t devid, uint32_t eventid, uint64_t raise_ns)
{
	int ret;

	if (virq_its_inject_cached(its, devid, eventid, raise_ns) == 1)
		return 1;
	pthread_mutex_lock(&its->lock);
	ret = virq_its_trigger_locked(its, devid, eventid, raise_ns);
	pthread_mutex_unlock(&its->lock);
	return ret;
}

int virq_its_translate_and_inject(struct virq_its *its, uint32_t devid, uint32_t eventid)
{
	return virq_its_translate_and_inject_at(its, devid, eventid, virq_gic_now_ns());
}

/* ---- Direct injection (its.h) ---- */

void virq_its_invalidate_translations(struct virq_its *its)
{
	atomic_fetch_add(&its->epoch, 1); /* seq_cst, before the change (virq_gic_lpi_inject_if) */
	virq_its_cache_invalidate(its);
	virq_gic_lpi_note_change(its->gic);
}

enum virq_its_xlate_result virq_its_translate(struct virq_its *its, uint32_t devid, uint32_t eventid,
					      struct virq_its_xlate *out)
{
	struct virq_gic *gic = its->gic;
	enum virq_its_xlate_result r;
	struct virq_its_ite *ite = NULL;
	struct virq_its_coll *coll;

	*out = (struct virq_its_xlate){ .vcpu = -1 };
	pthread_mutex_lock(&its->lock);
	if (!its->enabled)
		r = VIRQ_ITS_XLATE_DISABLED;
	else if (!virq_its_find_device(its, devid))
		r = VIRQ_ITS_XLATE_NO_DEVICE;
	else if (!(ite = virq_its_find_ite(its, devid, eventid)))
		r = VIRQ_ITS_XLATE_NO_EVENT;
	else
		r = VIRQ_ITS_XLATE_NO_COLLECTION;
	if (ite) {
		out->intid = ite->intid;
		out->icid = ite->icid;
		coll = virq_its_ite_coll(its, ite);
		if (virq_its_coll_mapped(coll) && virq_gic_vcpu_exists(gic, coll->target)) {
			pthread_mutex_lock(&gic->lock);
			/* The slow path checks the collection's vCPU, a cache hit (what a direct injection is)
			 * the LPI's own target; they differ only for an INTID shared between ITEs or after
			 * MOVALL. Both must have LPIs on. */
			int target = virq_gic_lpi_target_locked(gic, ite->intid);
			if (!gic->cpus[coll->target].enable_lpis) {
				r = VIRQ_ITS_XLATE_LPIS_OFF;
				out->vcpu = (int)coll->target;
			} else if (target < 0) {
				r = VIRQ_ITS_XLATE_NO_COLLECTION; /* cannot be: the collection is mapped */
			} else if (!gic->cpus[target].enable_lpis) {
				r = VIRQ_ITS_XLATE_LPIS_OFF;
				out->vcpu = target;
			} else {
				r = VIRQ_ITS_XLATE_OK;
				out->vcpu = target;
				out->epoch = atomic_load(&its->epoch);
			}
			pthread_mutex_unlock(&gic->lock);
		}
	}
	pthread_mutex_unlock(&its->lock);
	return r;
}

int virq_its_inject_direct(struct virq_its *its, uint32_t intid, uint64_t epoch, uint64_t raise_ns)
{
	int ret = virq_gic_lpi_inject_if(its->gic, intid, &its->epoch, epoch, raise_ns);

	its_stat(ret == 1 ? &its->stats.direct_injects : &its->stats.direct_stale);
	return ret;
}

/* ---- Registers ---- */

uint64_t virq_its_cmdq_size(uint64_t cbaser)
{
	return ((cbaser & GITS_CBASER_SIZE_MASK) + 1) << 12;
}

static uint64_t baser_reset(unsigned n)
{
	uint64_t type = n == 0 ? GITS_BASER_TYPE_DEVICE : GITS_BASER_TYPE_COLLECTION;

	return (GIC_BASER_CACHE_RaWb << GITS_BASER_INNER_SHIFT) |
	       (GIC_BASER_CACHE_SameAsInner << GITS_BASER_OUTER_SHIFT) |
	       (GIC_BASER_InnerShareable << GITS_BASER_SHARE_SHIFT) | GITS_BASER_PAGE_SIZE_64K |
	       (type << GITS_BASER_TYPE_SHIFT) | ((uint64_t)(VIRQ_ITS_ESZ - 1) << GITS_BASER_ENTRY_SIZE_SHIFT);
}

int virq_its_init(struct virq_its *its, struct virq_gic *gic)
{
	int err;

	memset(its, 0, sizeof(*its));
	its->gic = gic;
	its->base = VIRQ_ITS_BASE_UNSET;
	its->baser[0] = baser_reset(0);
	its->baser[1] = baser_reset(1);
	err = pthread_mutex_init(&its->lock, NULL);
	if (err)
		return -err;
	err = virq_its_cache_init(&its->cache);
	if (err) {
		pthread_mutex_destroy(&its->lock);
		return err;
	}
	err = virq_gic_attach_its(gic, its);
	if (err) {
		virq_its_cache_destroy(&its->cache);
		pthread_mutex_destroy(&its->lock);
	}
	return err;
}

void virq_its_destroy(struct virq_its *its)
{
	virq_gic_detach_its(its->gic, its);
	pthread_mutex_lock(&its->lock);
	virq_its_free_devices_locked(its);
	virq_its_free_colls_locked(its);
	pthread_mutex_unlock(&its->lock);
	free(its->devs);
	free(its->colls);
	virq_its_cache_destroy(&its->cache);
	pthread_mutex_destroy(&its->lock);
}

void virq_its_reset(struct virq_its *its)
{
	pthread_mutex_lock(&its->lock);
	virq_its_invalidate_translations(its);
	its->enabled = false;
	its->baser[0] &= ~GITS_BASER_VALID;
	its->baser[1] &= ~GITS_BASER_VALID;
	its->cbaser = its->creadr = its->cwriter = 0;
	virq_its_free_devices_locked(its);
	virq_its_free_colls_locked(its);
	virq_its_cache_invalidate(its);
	pthread_mutex_unlock(&its->lock);
}

void virq_its_set_base(struct virq_its *its, uint64_t base)
{
	pthread_mutex_lock(&its->lock);
	its->base = base;
	pthread_mutex_unlock(&its->lock);
}

uint64_t virq_its_get_base(struct virq_its *its)
{
	uint64_t base;

	pthread_mutex_lock(&its->lock);
	base = its->base;
	pthread_mutex_unlock(&its->lock);
	return base;
}

bool virq_its_owns_doorbell(struct virq_its *its, uint64_t gpa)
{
	uint64_t base = virq_its_get_base(its);

	return base != VIRQ_ITS_BASE_UNSET && gpa >= base && gpa - base < VIRQ_ITS_FRAME_SIZE;
}

static uint32_t idreg(uint64_t offset)
{
	switch (offset) {
	case GITS_PIDR4: return 0x40;
	case GITS_PIDR0: return 0x92;
	case GITS_PIDR1: return 0xb4;
	case GITS_PIDR2: return GIC_PIDR2_GICV3;
	case GITS_CIDR0: return 0x0d;
	case GITS_CIDR0 + 4: return 0xf0;
	case GITS_CIDR0 + 8: return 0x05;
	case GITS_CIDR0 + 12: return 0xb1;
	default: return 0;
	}
}

/* A register's full 64-bit value (32-bit registers zero-extended), its->lock held. */
static uint64_t reg_value_locked(struct virq_its *its, uint64_t reg)
{
	switch (reg) {
	case GITS_CTLR:
		return (its->enabled ? GITS_CTLR_ENABLE : 0) | (its->creadr == its->cwriter ? GITS_CTLR_QUIESCENT : 0);
	case GITS_IIDR: return GITS_IIDR_VALUE(its->abi_rev);
	case GITS_TYPER: return GITS_TYPER_VALUE;
	case GITS_CBASER: return its->cbaser;
	case GITS_CWRITER: return its->cwriter;
	case GITS_CREADR: return its->creadr;
	case GITS_BASER: return its->baser[0];
	case GITS_BASER + 8: return its->baser[1];
	default: return reg >= GITS_IDREGS_BASE && reg < 0x10000 ? idreg(reg) : 0;
	}
}

static bool is_reg64(uint64_t reg)
{
	return reg == GITS_TYPER || reg == GITS_CBASER || reg == GITS_CWRITER || reg == GITS_CREADR ||
	       (reg >= GITS_BASER && reg < GITS_BASER + 0x40);
}

uint64_t virq_its_mmio_read(struct virq_its *its, uint64_t offset, unsigned len)
{
	uint64_t v;

	if (offset >= VIRQ_ITS_FRAME_SIZE || (len != 4 && len != 8) || (offset & (len - 1)))
		return 0;
	if (!is_reg64(offset & ~7ull) && len != 4)
		return 0; /* wrong width: ignored */
	pthread_mutex_lock(&its->lock);
	v = reg_value_locked(its, is_reg64(offset & ~7ull) ? offset & ~7ull : offset);
	pthread_mutex_unlock(&its->lock);
	if (len == 4 && is_reg64(offset & ~7ull))
		v = (offset & 4) ? v >> 32 : v & 0xffffffffull;
	return v;
}

static void write_ctlr_locked(struct virq_its *its, uint64_t value)
{
	bool enable = value & GITS_CTLR_ENABLE;

	/* Enabling with an invalid CBASER or BASER is UNPREDICTABLE: KVM refuses the whole write. */
	if (!its->enabled && enable &&
	    (!(its->baser[0] & GITS_BASER_VALID) || !(its->baser[1] & GITS_BASER_VALID) ||
	     !(its->cbaser & GITS_CBASER_VALID)))
		return;
	if (its->enabled && !enable)
		virq_its_invalidate_translations(its); /* before translations start failing */
	else if (!enable)
		virq_its_cache_invalidate(its);
	else if (!its->enabled)
		virq_gic_lpi_note_change(its->gic); /* translations may resolve now */
	its->enabled = enable;
	virq_its_process_commands_locked(its);
}

static void write_cbaser_locked(struct virq_its *its, uint64_t offset, unsigned len, uint64_t value)
{
	uint64_t reg;

	if (its->enabled)
		return;
	reg = virq_gic_update_reg64(its->cbaser, offset, len, value);
	reg = virq_gic_sanitise_baser(reg, GITS_BASER_INNER_SHIFT, GITS_BASER_OUTER_SHIFT, GITS_BASER_SHARE_SHIFT);
	its->cbaser = reg & ~0xf000ull; /* 64 KiB aligned queue */
	its->creadr = its->cwriter = 0;
}

static void write_cwriter_locked(struct virq_its *its, uint64_t offset, unsigned len, uint64_t value)
{
	uint64_t reg = virq_gic_update_reg64(its->cwriter, offset, len, value) & GITS_CMD_OFFSET_MASK;

	if (reg >= virq_its_cmdq_size(its->cbaser))
		return;
	its->cwriter = reg;
	virq_its_process_commands_locked(its);
}

static void write_baser_locked(struct virq_its *its, unsigned n, uint64_t offset, unsigned len, uint64_t value)
{
	uint64_t reg;

	if (its->enabled || n > 1)
		return;
	reg = virq_gic_update_reg64(its->baser[n], offset, len, value);
	reg &= ~GITS_BASER_RO_MASK;
	reg |= baser_reset(n) & GITS_BASER_RO_MASK;
	if (n == 1)
		reg &= ~GITS_BASER_INDIRECT; /* the collection table is flat */
	reg = virq_gic_sanitise_baser(reg, GITS_BASER_INNER_SHIFT, GITS_BASER_OUTER_SHIFT, GITS_BASER_SHARE_SHIFT);
	reg = (reg & ~GITS_BASER_PAGE_SIZE_MASK) | GITS_BASER_PAGE_SIZE_64K;
	if (reg == its->baser[n])
		return; /* an identical rewrite (Linux on resume) keeps the state */
	virq_its_invalidate_translations(its);
	its->baser[n] = reg;
	if (n == 0)
		virq_its_free_devices_locked(its);
	else
		virq_its_free_colls_locked(its);
}

/* The guest-visible write of @value at @offset (@len 4 or 8), its->lock held. */
static void mmio_write_locked(struct virq_its *its, uint64_t offset, unsigned len, uint64_t value)
{
	uint64_t reg = offset & ~7ull;

	if (is_reg64(reg)) {
		if (reg == GITS_CBASER)
			write_cbaser_locked(its, offset, len, value);
		else if (reg == GITS_CWRITER)
			write_cwriter_locked(its, offset, len, value);
		else if (reg >= GITS_BASER)
			write_baser_locked(its, (unsigned)(reg - GITS_BASER) / 8, offset, len, value);
		return; /* TYPER, CREADR: read-only */
	}
	if (len == 4 && offset == GITS_CTLR)
		write_ctlr_locked(its, value);
	/* IIDR, ID registers, TRANSLATER (CPU stores carry no DeviceID), the rest: WI */
}

void virq_its_mmio_write(struct virq_its *its, uint64_t offset, unsigned len, uint64_t value)
{
	if (offset >= VIRQ_ITS_FRAME_SIZE || (len != 4 && len != 8) || (offset & (len - 1)))
		return;
	if (!is_reg64(offset & ~7ull) && len != 4)
		return;
	pthread_mutex_lock(&its->lock);
	mmio_write_locked(its, offset, len, value);
	pthread_mutex_unlock(&its->lock);
}

/* KVM's ITS_REGS offset rules: 4-byte registers below 0x8 and from 0xffd0, 8-byte ones elsewhere. */
static int uaccess_check_locked(struct virq_its *its, uint64_t offset)
{
	bool small = offset < 0x8 || offset >= GITS_IDREGS_BASE;

	if (offset & (small ? 3 : 7))
		return -EINVAL;
	if (its->base == VIRQ_ITS_BASE_UNSET)
		return -ENXIO;
	if (offset == GITS_CTLR || offset == GITS_IIDR || offset == GITS_TYPER || offset == GITS_CBASER ||
	    offset == GITS_CWRITER || offset == GITS_CREADR || (offset >= GITS_BASER && offset < GITS_BASER + 0x40) ||
	    (offset >= GITS_IDREGS_BASE && offset < 0x10000) || offset == GITS_TRANSLATER)
		return 0;
	return -ENXIO;
}

int virq_its_uaccess_read(struct virq_its *its, uint64_t offset, uint64_t *value)
{
	int ret;

	pthread_mutex_lock(&its->lock);
	ret = uaccess_check_locked(its, offset);
	if (!ret)
		*value = reg_value_locked(its, offset);
	pthread_mutex_unlock(&its->lock);
	return ret;
}

int virq_its_uaccess_write(struct virq_its *its, uint64_t offset, uint64_t value)
{
	int ret;

	pthread_mutex_lock(&its->lock);
	ret = uaccess_check_locked(its, offset);
	if (ret)
		goto out;
	if (offset == GITS_IIDR) {
		/* Only ABI revision 0 exists; the other fields are ignored. */
		if (((value >> 12) & 0xf) > VIRQ_ITS_ABI_REV)
			ret = -EINVAL;
	} else if (offset == GITS_CREADR) {
		uint64_t off = value & GITS_CMD_OFFSET_MASK;

		if (its->enabled)
			ret = -EBUSY;
		else if (off >= virq_its_cmdq_size(its->cbaser))
			ret = -EINVAL;
		else
			its->creadr = off;
	} else {
		mmio_write_locked(its, offset, is_reg64(offset) ? 8 : 4, value);
	}
out:
	pthread_mutex_unlock(&its->lock);
	return ret;
}
