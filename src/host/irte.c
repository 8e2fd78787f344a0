/* SPDX-License-Identifier: MIT */
/*
 * irte.c - the IOMMU's interrupt remapping unit (VT-d chapter 5, IRTE formats of 9.10 and 9.11): the
 * table, the translation of remappable MSIs from attached functions, source-id validation, faults, and
 * posting into VT-d posted-interrupt descriptors (src/bypass/posted_desc.h).
 *
 * It also plays the host driver's part (Linux's intel_irq_remapping): reserving entries for a function,
 * programming a vector's entry in remapped format when vfio-pci enables the vector, and switching it to
 * posted format and back (intel_ir_set_vcpu_affinity), keeping a copy of the host's remapped entry to
 * restore, as Linux keeps ir_data->irte_entry.
 *
 * Locking: iommu->lock covers the table, the allocation map, the host copies and the counters. The
 * message path takes it inside the sending function's lock and holds it across the post into the
 * descriptor, so a table write (which takes it) cannot return while a message still uses the old entry:
 * that is the invalidation-and-wait the engine relies on before it frees a descriptor. The notification
 * is sent after both locks are dropped (virq_iommu_note_send), with values, never the descriptor.
 */
#include "host/pci_function.h"

#include "bypass/notify.h"
#include "bypass/posted_desc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* IRTE bits (VT-d 9.10 remapped, 9.11 posted); qword 0 is @lo, qword 1 is @hi. */
#define IRTE_P            (1ull << 0)
#define IRTE_FPD          (1ull << 1)
#define IRTE_DM           (1ull << 2)
#define IRTE_RH           (1ull << 3)
#define IRTE_TM           (1ull << 4)
#define IRTE_DLM_SHIFT    5
#define IRTE_AVL_SHIFT    8
#define IRTE_URG          (1ull << 14)
#define IRTE_IM           (1ull << 15)
#define IRTE_V_SHIFT      16
#define IRTE_DST_SHIFT    32
#define IRTE_PDAL_SHIFT   38 /* descriptor address bits 31:6 */
#define IRTE_SQ_SHIFT     16 /* in @hi */
#define IRTE_SVT_SHIFT    18 /* in @hi */
#define IRTE_PDAH_SHIFT   32 /* in @hi: descriptor address bits 63:32 */
/* Reserved bits of each format, which a present entry must keep clear. */
#define IRTE_REMAP_RSVD_LO  0x00000000ff007000ull /* bits 31:24, 14:12 */
#define IRTE_POST_RSVD_LO   0x0000003fff0030fcull /* bits 37:24, 13:12, 7:2 */
#define IRTE_REMAP_RSVD_HI  0xfffffffffff00000ull /* bits 127:84 */
#define IRTE_POST_RSVD_HI   0x00000000fff00000ull /* bits 95:84 */

/* Remappable-format MSI (VT-d 5.1.5.2). */
#define MSI_ADDR_BASE       0xfee00000u
#define MSI_ADDR_BASE_MASK  0xfff00000u
#define MSI_ADDR_IR_FORMAT  (1u << 4)
#define MSI_ADDR_IR_SHV     (1u << 3)
#define MSI_ADDR_IR_HANDLE15 (1u << 2)
#define HOST_VECTOR_BASE    0x30 /* host vectors of remapped entries: placeholders, as in msix.c */

struct virq_iommu {
	unsigned entries;                           /* [I] */
	pthread_mutex_t lock;
	struct virq_irte *table;                    /* [L:lock] */
	struct virq_irte *host;                     /* [L:lock] the host's remapped entry, to restore */
	bool *used;                                 /* [L:lock] reserved by an attached function */
	unsigned attached;                          /* [L:lock] */
	struct virq_iommu_faults faults;            /* [L:lock] */
	struct virq_iommu_stats stats;              /* [L:lock] */
};

/* ---- encoding ---- */

int virq_irte_encode(const struct virq_irte_fields *f, struct virq_irte *out)
{
	if (!f || !out || f->avail > 0xf || f->sq > 3 || f->svt > 3)
		return -EINVAL;
	uint64_t lo = (f->present ? IRTE_P : 0) | (f->fpd ? IRTE_FPD : 0) | (uint64_t)f->avail << IRTE_AVL_SHIFT |
		      (uint64_t)f->vector << IRTE_V_SHIFT;
	uint64_t hi = f->sid | (uint64_t)f->sq << IRTE_SQ_SHIFT | (uint64_t)f->svt << IRTE_SVT_SHIFT;
	bool remap_fields = f->dest_logical || f->redir_hint || f->level || f->delivery_mode || f->dest_id;

	if (f->posted) {
		if (remap_fields || (f->pda & 63))
			return -EINVAL;
		lo |= IRTE_IM | (f->urgent ? IRTE_URG : 0) | (f->pda & 0xffffffc0ull) << (IRTE_PDAL_SHIFT - 6);
		hi |= (f->pda >> 32) << IRTE_PDAH_SHIFT;
	} else {
		if (f->urgent || f->pda || f->delivery_mode > 7)
			return -EINVAL;
		lo |= (f->dest_logical ? IRTE_DM : 0) | (f->redir_hint ? IRTE_RH : 0) | (f->level ? IRTE_TM : 0) |
		      (uint64_t)f->delivery_mode << IRTE_DLM_SHIFT | (uint64_t)f->dest_id << IRTE_DST_SHIFT;
	}
	*out = (struct virq_irte){.lo = lo, .hi = hi};
	return 0;
}

void virq_irte_decode(const struct virq_irte *e, struct virq_irte_fields *f)
{
	uint64_t lo = e->lo, hi = e->hi;

	*f = (struct virq_irte_fields){
		.present = lo & IRTE_P,
		.fpd = lo & IRTE_FPD,
		.avail = (uint8_t)((lo >> IRTE_AVL_SHIFT) & 0xf),
		.posted = lo & IRTE_IM,
		.vector = (uint8_t)(lo >> IRTE_V_SHIFT),
		.sid = (uint16_t)hi,
		.sq = (uint8_t)((hi >> IRTE_SQ_SHIFT) & 3),
		.svt = (uint8_t)((hi >> IRTE_SVT_SHIFT) & 3),
	};
	if (f->posted) {
		f->urgent = lo & IRTE_URG;
		f->pda = (lo >> IRTE_PDAL_SHIFT) << 6 | (hi >> IRTE_PDAH_SHIFT) << 32;
	} else {
		f->dest_logical = lo & IRTE_DM;
		f->redir_hint = lo & IRTE_RH;
		f->level = lo & IRTE_TM;
		f->delivery_mode = (uint8_t)((lo >> IRTE_DLM_SHIFT) & 7);
		f->dest_id = (uint32_t)(lo >> IRTE_DST_SHIFT);
	}
}

/* ---- translation ---- */

/* Source-id validation (VT-d 9.10, SVT/SQ/SID). SQ masks the function bits of the requester ID. */
static bool sid_ok(uint64_t hi, uint16_t rid)
{
	static const uint16_t sq_mask[4] = {0xffff, 0xfffb, 0xfff9, 0xfff8};
	uint16_t sid = (uint16_t)hi;
	unsigned bus = rid >> 8;

	switch ((hi >> IRTE_SVT_SHIFT) & 3) {
	case 1:
		return ((sid ^ rid) & sq_mask[(hi >> IRTE_SQ_SHIFT) & 3]) == 0;
	case 2:
		return bus >= (unsigned)(sid >> 8) && bus <= (unsigned)(sid & 0xff);
	default: /* 0: no validation; 3 is reserved and faults before this */
		return true;
	}
}

static bool irte_reserved(const struct virq_irte *e)
{
	bool posted = e->lo & IRTE_IM;

	if (((e->hi >> IRTE_SVT_SHIFT) & 3) == 3)
		return true;
	if (posted) /* address 0 is never a descriptor here: treat it as reserved rather than write there */
		return (e->lo & IRTE_POST_RSVD_LO) || (e->hi & IRTE_POST_RSVD_HI) ||
		       ((e->lo >> IRTE_PDAL_SHIFT) == 0 && (e->hi >> IRTE_PDAH_SHIFT) == 0);
	return (e->lo & IRTE_REMAP_RSVD_LO) || (e->hi & IRTE_REMAP_RSVD_HI);
}

/*
 * Count a fault; @e is the entry it came from (NULL before one was read). The VT-d spec calls the faults
 * found after reading an entry "qualified" (not present 22h, reserved fields 24h, source-id check 26h):
 * that entry's FPD suppresses them. Index (21h), request (20h) and format (25h) faults come before any
 * entry and are always recorded.
 */
static void fault_locked(struct virq_iommu *iommu, enum virq_iommu_fault_reason reason, uint16_t rid,
			 uint32_t index, const struct virq_irte *e)
{
	bool qualified = reason == VIRQ_IOMMU_FAULT_NOT_PRESENT || reason == VIRQ_IOMMU_FAULT_IRTE_RESERVED ||
			 reason == VIRQ_IOMMU_FAULT_SID;
	struct virq_iommu_faults *f = &iommu->faults;

	iommu->stats.dropped++;
	if (qualified && e && (e->lo & IRTE_FPD)) {
		f->suppressed++;
		return;
	}
	f->count[reason - VIRQ_IOMMU_FAULT_FIRST]++;
	f->recorded++;
	f->last_reason = (uint8_t)reason;
	f->last_sid = rid;
	f->last_index = index;
}

static void post_locked(struct virq_iommu *iommu, const struct virq_irte *e, struct virq_iommu_note *note)
{
	uint64_t pda = (e->lo >> IRTE_PDAL_SHIFT) << 6 | (e->hi >> IRTE_PDAH_SHIFT) << 32;
	struct virq_posted_desc *desc = (struct virq_posted_desc *)(uintptr_t)pda;
	struct virq_posted_result r = virq_posted_desc_post(desc, (uint8_t)(e->lo >> IRTE_V_SHIFT), e->lo & IRTE_URG);

	iommu->stats.posted++;
	iommu->stats.posted_coalesced += r.coalesced;
	if (r.notify) {
		iommu->stats.notifications++;
		*note = (struct virq_iommu_note){.send = true, .nv = r.nv, .ndst = r.ndst};
	}
}

int virq_iommu_translate_locked(struct virq_pci_function *fn, uint32_t addr, uint32_t data,
				struct virq_iommu_note *note)
{
	struct virq_iommu *iommu = fn->iommu;
	uint16_t rid = fn->desc.requester_id;
	int ret = -1;

	pthread_mutex_lock(&iommu->lock);
	uint32_t handle = ((addr >> 5) & 0x7fff) | (addr & MSI_ADDR_IR_HANDLE15 ? 0x8000 : 0);
	uint32_t index = handle + (addr & MSI_ADDR_IR_SHV ? (data & 0xffff) : 0);
	if ((addr & MSI_ADDR_BASE_MASK) != MSI_ADDR_BASE || !(addr & MSI_ADDR_IR_FORMAT)) {
		fault_locked(iommu, VIRQ_IOMMU_FAULT_COMPAT, rid, 0, NULL);
	} else if (data >> 16) {
		fault_locked(iommu, VIRQ_IOMMU_FAULT_REQ_RESERVED, rid, index, NULL);
	} else if (index >= iommu->entries) {
		fault_locked(iommu, VIRQ_IOMMU_FAULT_INDEX, rid, index, NULL);
	} else {
		const struct virq_irte *e = &iommu->table[index];
		if (!(e->lo & IRTE_P))
			fault_locked(iommu, VIRQ_IOMMU_FAULT_NOT_PRESENT, rid, index, e);
		else if (irte_reserved(e))
			fault_locked(iommu, VIRQ_IOMMU_FAULT_IRTE_RESERVED, rid, index, e);
		else if (!sid_ok(e->hi, rid))
			fault_locked(iommu, VIRQ_IOMMU_FAULT_SID, rid, index, e);
		else if (e->lo & IRTE_IM)
			post_locked(iommu, e, note);
		else if (index < fn->irte_base || index - fn->irte_base >= fn->desc.msix_vectors)
			iommu->stats.unclaimed++; /* another function's host IRQ: not ours to handle */
		else {
			iommu->stats.remapped++;
			ret = (int)index;
		}
	}
	pthread_mutex_unlock(&iommu->lock);
	return ret;
}

void virq_iommu_note_send(const struct virq_iommu_note *note)
{
	if (note->send)
		virq_bypass_notify(note->ndst, note->nv);
}

/* ---- the host driver's side ---- */

void virq_iommu_host_program_locked(struct virq_pci_function *fn, unsigned v, uint32_t *addr, uint32_t *data)
{
	struct virq_iommu *iommu = fn->iommu;
	unsigned index = fn->irte_base + v;
	struct virq_irte_fields f = {
		.present = true,
		.vector = (uint8_t)(HOST_VECTOR_BASE + v % (0xf0 - HOST_VECTOR_BASE)),
		.sid = fn->desc.requester_id,
		.svt = 1, /* verify the full requester ID, as Linux's set_msi_sid() does */
	};

	pthread_mutex_lock(&iommu->lock);
	virq_irte_encode(&f, &iommu->host[index]);
	iommu->table[index] = iommu->host[index];
	pthread_mutex_unlock(&iommu->lock);
	/* Linux's fill_msi_msg: handle = index, SHV set, sub-handle 0 for an MSI-X vector. */
	*addr = MSI_ADDR_BASE | MSI_ADDR_IR_FORMAT | MSI_ADDR_IR_SHV | (index & 0x7fff) << 5 |
		(index & 0x8000 ? MSI_ADDR_IR_HANDLE15 : 0);
	*data = 0;
}

int virq_iommu_create(unsigned entries, struct virq_iommu **out)
{
	if (!out || entries < 2 || entries > VIRQ_IOMMU_MAX_ENTRIES || (entries & (entries - 1)))
		return -EINVAL;
	struct virq_iommu *iommu = calloc(1, sizeof(*iommu));
	if (!iommu)
		return -ENOMEM;
	iommu->entries = entries;
	iommu->table = calloc(entries, sizeof(*iommu->table));
	iommu->host = calloc(entries, sizeof(*iommu->host));
	iommu->used = calloc(entries, sizeof(*iommu->used));
	if (!iommu->table || !iommu->host || !iommu->used) {
		free(iommu->table);
		free(iommu->host);
		free(iommu->used);
		free(iommu);
		return -ENOMEM;
	}
	pthread_mutex_init(&iommu->lock, NULL);
	*out = iommu;
	return 0;
}

int virq_iommu_destroy(struct virq_iommu *iommu)
{
	if (!iommu)
		return -EINVAL;
	pthread_mutex_lock(&iommu->lock);
	bool busy = iommu->attached > 0;
	pthread_mutex_unlock(&iommu->lock);
	if (busy)
		return -EBUSY;
	pthread_mutex_destroy(&iommu->lock);
	free(iommu->table);
	free(iommu->host);
	free(iommu->used);
	free(iommu);
	return 0;
}

/* First fit of @n free entries; the base, or -ENOSPC. */
static int alloc_block_locked(struct virq_iommu *iommu, unsigned n)
{
	unsigned run = 0;

	if (n == 0)
		return 0;
	for (unsigned i = 0; i < iommu->entries; i++) {
		run = iommu->used[i] ? 0 : run + 1;
		if (run == n) {
			unsigned base = i + 1 - n;
			memset(&iommu->used[base], 1, n * sizeof(*iommu->used));
			return (int)base;
		}
	}
	return -ENOSPC;
}

int virq_iommu_attach(struct virq_iommu *iommu, struct virq_pci_function *fn)
{
	int ret;

	if (!iommu || !fn)
		return -EINVAL;
	pthread_mutex_lock(&fn->igate);
	if (fn->iommu || fn->open_count) {
		ret = -EBUSY;
		goto out;
	}
	pthread_mutex_lock(&iommu->lock);
	ret = alloc_block_locked(iommu, fn->desc.msix_vectors);
	if (ret >= 0)
		iommu->attached++;
	pthread_mutex_unlock(&iommu->lock);
	if (ret < 0)
		goto out;
	pthread_mutex_lock(&fn->lock);
	fn->iommu = iommu;
	fn->irte_base = (unsigned)ret;
	pthread_mutex_unlock(&fn->lock);
	ret = 0;
out:
	pthread_mutex_unlock(&fn->igate);
	return ret;
}

/* igate held, no VFIO descriptor open. */
static void detach_locked(struct virq_pci_function *fn)
{
	pthread_mutex_lock(&fn->lock);
	struct virq_iommu *iommu = fn->iommu;
	unsigned base = fn->irte_base, n = fn->desc.msix_vectors;
	fn->iommu = NULL;
	fn->irte_base = 0;
	pthread_mutex_lock(&iommu->lock);
	memset(&iommu->table[base], 0, n * sizeof(*iommu->table));
	memset(&iommu->host[base], 0, n * sizeof(*iommu->host));
	memset(&iommu->used[base], 0, n * sizeof(*iommu->used));
	iommu->attached--;
	pthread_mutex_unlock(&iommu->lock);
	pthread_mutex_unlock(&fn->lock);
}

int virq_iommu_detach(struct virq_pci_function *fn)
{
	if (!fn)
		return -EINVAL;
	pthread_mutex_lock(&fn->igate);
	int ret = !fn->iommu ? -EINVAL : fn->open_count ? -EBUSY : 0;
	if (!ret)
		detach_locked(fn);
	pthread_mutex_unlock(&fn->igate);
	return ret;
}

void virq_iommu_function_gone(struct virq_pci_function *fn)
{
	pthread_mutex_lock(&fn->igate);
	if (fn->iommu)
		detach_locked(fn);
	pthread_mutex_unlock(&fn->igate);
}

int virq_iommu_vector_index(struct virq_pci_function *fn, unsigned v)
{
	if (!fn)
		return -EINVAL;
	pthread_mutex_lock(&fn->lock);
	int ret = !fn->iommu || v >= fn->desc.msix_vectors ? -EINVAL : (int)(fn->irte_base + v);
	pthread_mutex_unlock(&fn->lock);
	return ret;
}

int virq_iommu_irte_read(struct virq_iommu *iommu, unsigned index, struct virq_irte *out)
{
	if (!iommu || !out || index >= iommu->entries)
		return -EINVAL;
	pthread_mutex_lock(&iommu->lock);
	*out = iommu->table[index];
	pthread_mutex_unlock(&iommu->lock);
	return 0;
}

int virq_iommu_irte_write(struct virq_iommu *iommu, unsigned index, const struct virq_irte *irte)
{
	if (!iommu || !irte || index >= iommu->entries)
		return -EINVAL;
	pthread_mutex_lock(&iommu->lock);
	iommu->table[index] = *irte;
	pthread_mutex_unlock(&iommu->lock);
	return 0;
}

/*
 * intel_ir_set_vcpu_affinity: rewrite vector @v's entry in posted format from the host's remapped copy
 * (@post: the virtual vector and descriptor), or restore that copy (@post NULL). Under fn->lock, so it
 * cannot race attach or detach.
 */
static int vector_set_affinity(struct virq_pci_function *fn, unsigned v, const struct virq_irte_fields *post)
{
	struct virq_irte_fields f;
	int ret = -EINVAL;

	pthread_mutex_lock(&fn->lock);
	struct virq_iommu *iommu = fn->iommu;
	if (iommu && v < fn->desc.msix_vectors) {
		unsigned index = fn->irte_base + v;
		pthread_mutex_lock(&iommu->lock);
		if (post) {
			virq_irte_decode(&iommu->host[index], &f);
			struct virq_irte_fields p = {
				.present = f.present, .fpd = f.fpd, .avail = f.avail, .posted = true,
				.vector = post->vector, .pda = post->pda, .sid = f.sid, .sq = f.sq, .svt = f.svt,
			};
			ret = virq_irte_encode(&p, &iommu->table[index]);
		} else {
			iommu->table[index] = iommu->host[index];
			ret = 0;
		}
		pthread_mutex_unlock(&iommu->lock);
	}
	pthread_mutex_unlock(&fn->lock);
	return ret;
}

int virq_iommu_vector_post(struct virq_pci_function *fn, unsigned v, uint64_t pda, uint8_t vector)
{
	struct virq_irte_fields post = {.vector = vector, .pda = pda};

	if (!fn || !pda || (pda & 63))
		return -EINVAL;
	return vector_set_affinity(fn, v, &post);
}

int virq_iommu_vector_remap(struct virq_pci_function *fn, unsigned v)
{
	return fn ? vector_set_affinity(fn, v, NULL) : -EINVAL;
}

int virq_iommu_faults(struct virq_iommu *iommu, struct virq_iommu_faults *out)
{
	if (!iommu || !out)
		return -EINVAL;
	pthread_mutex_lock(&iommu->lock);
	*out = iommu->faults;
	pthread_mutex_unlock(&iommu->lock);
	return 0;
}

int virq_iommu_stats(struct virq_iommu *iommu, struct virq_iommu_stats *out)
{
	if (!iommu || !out)
		return -EINVAL;
	pthread_mutex_lock(&iommu->lock);
	*out = iommu->stats;
	pthread_mutex_unlock(&iommu->lock);
	return 0;
}
