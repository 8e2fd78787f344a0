/* SPDX-License-Identifier: MIT */
/*
 * its.h - a GICv3 Interrupt Translation Service as KVM's vITS models it (arch/arm64/kvm/vgic/vgic-its.c;
 * reference kvm-arm.md §1.5-1.9): registers, the command queue in guest memory, device / ITT / collection
 * tables saved and restored in KVM's ABI revision 0, a translation cache, and the MSI entry point that
 * turns (DeviceID, EventID) into an LPI on a redistributor of its GICv3 (gicv3.h).
 *
 * Live state (devices, ITEs, collections) is kept here, as in KVM: guest memory is only consulted for
 * "is this entry's page in RAM", two-level device-table L1 entries, zeroing a DTE/ITE on MAPD V=0 and
 * DISCARD, the command queue, and save/restore. All of it goes through the GIC's ops (gicv3.h).
 *
 * Locking: its->lock protects everything but the translation cache, which has its own leaf lock so that
 * an MSI hit never waits for a command-queue drain and an EnableLPIs clear (under gic->lock) can
 * invalidate it. Order: its->lock -> gic->lock -> cpu->lock -> its->cache.lock.
 */
#ifndef VIRQ_IRQCHIP_ARM_ITS_H
#define VIRQ_IRQCHIP_ARM_ITS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "irqchip/arm/gicv3.h"

#define VIRQ_ITS_FRAME_SIZE 0x20000ull  /* control frame + translation frame */
#define VIRQ_ITS_TRANSLATER_OFFSET 0x10040ull
#define VIRQ_ITS_BASE_UNSET UINT64_MAX
#define VIRQ_ITS_MAX_DEVID 0xffffu
#define VIRQ_ITS_MAX_EVENTID_BITS 16
/* Our bound on ITEs per ITS (KVM relies on kernel memory accounting): MAPTI beyond it is ignored. */
#define VIRQ_ITS_MAX_ITES (1u << 20)
#define VIRQ_ITS_COLL_UNMAPPED UINT32_MAX

/* One interrupt translation entry: EventID -> LPI, collection. */
struct virq_its_ite {
	uint32_t eventid;
	uint32_t intid;
	uint16_t icid;
	bool orphan;            /* its collection was unmapped (MAPC V=0): KVM's ite->collection == NULL */
};

struct virq_its_device {
	uint32_t devid;
	uint32_t eid_bits;      /* 1..16 */
	uint64_t itt_addr;
	struct virq_its_ite *ites;  /* sorted by EventID */
	uint32_t nr_ites, cap_ites;
};

struct virq_its_coll {
	uint16_t icid;
	uint32_t target;        /* vCPU id, or VIRQ_ITS_COLL_UNMAPPED (created by MAPTI, not yet MAPC'd) */
};

/* Translation cache: (DeviceID << 16 | EventID) -> LPI INTID, open addressing. */
struct virq_its_cache {
	pthread_mutex_t lock;   /* leaf lock: protects the fields below */
	uint32_t *keys;
	uint32_t *intids;       /* 0 = empty slot (LPI INTIDs are >= 8192) */
	uint32_t cap, count;
};

/* Counters (relaxed atomics; any thread may read). */
struct virq_its_stats {
	_Atomic uint64_t commands;     /* commands read from the queue */
	_Atomic uint64_t ignored;      /* commands KVM would drop: unknown opcode, failed check, unreadable */
	_Atomic uint64_t cache_hits;
	_Atomic uint64_t cache_misses;
	_Atomic uint64_t invalidations;
	_Atomic uint64_t msi_blocked;  /* translation found nothing (result 0) */
	_Atomic uint64_t direct_injects; /* direct injections latched (virq_its_inject_direct) */
	_Atomic uint64_t direct_stale;   /* direct injections refused (the epoch moved: -ESTALE) */
};

struct virq_its {
	struct virq_gic *gic;          /* [I] */
	pthread_mutex_t lock;          /* protects every field tagged [L:lock] */
	uint64_t base;                 /* [L:lock] GPA of the 128 KiB frame, VIRQ_ITS_BASE_UNSET until set */
	bool enabled;                  /* [L:lock] GITS_CTLR.Enable */
	uint32_t abi_rev;              /* [L:lock] GITS_IIDR.Revision (only 0 exists) */
	uint64_t cbaser, cwriter, creadr; /* [L:lock] */
	uint64_t baser[2];             /* [L:lock] BASER0 devices, BASER1 collections; 2..7 RAZ/WI */
	struct virq_its_device **devs; /* [L:lock] sorted by DeviceID */
	uint32_t nr_devs, cap_devs;    /* [L:lock] */
	struct virq_its_coll *colls;   /* [L:lock] in creation order (the order SAVE_TABLES writes) */
	uint32_t nr_colls, cap_colls;  /* [L:lock] */
	uint32_t nr_ites;              /* [L:lock] over all devices */
	struct virq_its_cache cache;   /* own lock */
	/*
	 * [A] The translation epoch: bumped (seq_cst) *before* any change that can make a (DeviceID,
	 * EventID) -> LPI translation resolved earlier wrong or undeliverable, under the lock that change
	 * takes (its->lock, or gic->lock for EnableLPIs 1 -> 0): DISCARD, MAPD of a mapped device, MAPC V=0
	 * (orphaned ITEs), GITS_CTLR.Enable 1 -> 0, a changed BASER, reset, restore, destroy. Not by MOVI,
	 * MOVALL, a MAPC retarget, INV or INVALL: target and configuration live in the LPI object, which a
	 * direct injection latches as a cache hit does. See virq_its_invalidate_translations.
	 */
	_Atomic uint64_t epoch;
	struct virq_its_stats stats;
};

/*
 * KVM_CREATE_DEVICE(ITS): reset registers, attach to @gic (its PROPBASER goes back to attributes only, and
 * GICD_TYPER / GICR_TYPER start advertising LPIs). 0, -ENOMEM, -ENOSPC (too many ITSes).
 */
int virq_its_init(struct virq_its *its, struct virq_gic *gic);
void virq_its_destroy(struct virq_its *its);

/* The frame address (KVM_VGIC_ITS_ADDR_TYPE); the engine validates alignment and uniqueness. */
void virq_its_set_base(struct virq_its *its, uint64_t base);
uint64_t virq_its_get_base(struct virq_its *its);
/* Does doorbell @gpa fall anywhere inside this ITS's 128 KiB frame? (KVM's MSI address match) */
bool virq_its_owns_doorbell(struct virq_its *its, uint64_t gpa);

/* Guest MMIO at @offset in the frame; @len 4 or 8 (others ignored). GITS_TRANSLATER is RAZ/WI for CPU
 * stores, as in KVM: MSIs enter through virq_its_translate_and_inject only. Any thread. */
uint64_t virq_its_mmio_read(struct virq_its *its, uint64_t offset, unsigned len);
void virq_its_mmio_write(struct virq_its *its, uint64_t offset, unsigned len, uint64_t value);

/*
 * KVM_DEV_ARM_VGIC_GRP_ITS_REGS (the caller checks that no vCPU runs: EBUSY). 0; -EINVAL misaligned
 * offset, CREADR beyond the queue, IIDR revision >= 1; -ENXIO unknown offset or base unset; -EBUSY
 * CREADR while enabled.
 */
int virq_its_uaccess_read(struct virq_its *its, uint64_t offset, uint64_t *value);
int virq_its_uaccess_write(struct virq_its *its, uint64_t offset, uint64_t value);

/*
 * An MSI (DeviceID, EventID = the data). KVM's vgic_its_inject_msi past the doorbell and flag checks
 * (the caller's: -EINVAL without KVM_MSI_VALID_DEVID or outside every ITS frame, -ENODEV with no ITS):
 * a cache hit latches at once and returns 1; otherwise -EBUSY when the ITS is disabled or the target
 * redistributor has EnableLPIs = 0 (nothing latched), 0 when no mapping / collection unmapped (blocked),
 * 1 when the LPI was latched (also when it already was: one latch). Any thread.
 */
int virq_its_translate_and_inject(struct virq_its *its, uint32_t devid, uint32_t eventid);
int virq_its_translate_and_inject_at(struct virq_its *its, uint32_t devid, uint32_t eventid, uint64_t raise_ns);
/* The irqfd fast path alone: 1 on a cache hit (latched), -EWOULDBLOCK on a miss. */
int virq_its_inject_cached(struct virq_its *its, uint32_t devid, uint32_t eventid, uint64_t raise_ns);

/*
 * KVM_DEV_ARM_ITS_SAVE_TABLES / RESTORE_TABLES / CTRL_RESET (the caller checks no vCPU runs).
 * Save: 0, -EFAULT (guest write failed). Restore: 0, or -EINVAL / -EEXIST / -EFAULT / -ENOMEM with every
 * device and collection freed (no partial state).
 */
int virq_its_save_tables(struct virq_its *its);
int virq_its_restore_tables(struct virq_its *its);
void virq_its_reset(struct virq_its *its);

/* Drop every cached translation (its_cache.c). Any thread; takes only the cache lock. */
void virq_its_cache_invalidate(struct virq_its *its);

/*
 * ---- Direct injection (GICv4-like; docs/forwarding.md "MSIs straight to the LPI") ----
 *
 * A host producer paired with an irqfd on an MSI route latches the LPI itself. The engine resolves the
 * route once with virq_its_translate (no injection) and gives the producer the INTID and the epoch it
 * read; each message then goes through virq_its_inject_direct, which latches only while the epoch is
 * unchanged, so a translation that changed since is never used: the producer falls back to its eventfd
 * and the message takes the ordinary path (which does whatever the new state says).
 */
enum virq_its_xlate_result {
	VIRQ_ITS_XLATE_OK = 0,
	VIRQ_ITS_XLATE_DISABLED,      /* GITS_CTLR.Enable is clear */
	VIRQ_ITS_XLATE_NO_DEVICE,     /* no MAPD for the DeviceID */
	VIRQ_ITS_XLATE_NO_EVENT,      /* no MAPTI/MAPI for the EventID */
	VIRQ_ITS_XLATE_NO_COLLECTION, /* the ITE's collection is unmapped, or gone (MAPC V=0 orphaned it) */
	VIRQ_ITS_XLATE_LPIS_OFF,      /* the target redistributor has EnableLPIs = 0 */
};
struct virq_its_xlate {
	uint32_t intid;  /* the LPI (from NO_COLLECTION on) */
	uint16_t icid;   /* its collection (from NO_COLLECTION on) */
	int vcpu;        /* OK: the LPI's target; LPIS_OFF: the vCPU with LPIs off; else -1 */
	uint64_t epoch;  /* OK: the epoch the translation holds under */
};
/* KVM's checks for set_forwarding (and the MSI slow path's), without latching anything. Any thread;
 * takes its->lock, then gic->lock. */
enum virq_its_xlate_result virq_its_translate(struct virq_its *its, uint32_t devid, uint32_t eventid,
					      struct virq_its_xlate *out);
/* Latch LPI @intid as a cache hit would, if the epoch is still @epoch: 1, or -ESTALE (nothing latched;
 * also -ENOENT / -EBUSY as virq_gic_lpi_inject, which a current epoch rules out). Any thread; takes
 * gic->lock only. */
int virq_its_inject_direct(struct virq_its *its, uint32_t intid, uint64_t epoch, uint64_t raise_ns);
/* Bump the epoch, drop the cache, note the change in the GIC (gic->lpi_changes). Call with its->lock or
 * gic->lock held, before the change it announces. */
void virq_its_invalidate_translations(struct virq_its *its);

#endif /* VIRQ_IRQCHIP_ARM_ITS_H */
