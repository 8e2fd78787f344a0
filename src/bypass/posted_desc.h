/* SPDX-License-Identifier: MIT */
/*
 * bypass/posted_desc.h - the VT-d posted-interrupt descriptor (VT-d spec 9.12; the same 64 bytes APICv
 * uses, arch/x86/include/asm/posted_intr.h) and its atomic operations.
 *
 * Owned here because both sides touch it (ARCHITECTURE.md section 1): the engine owns one per vCPU and
 * folds it; the host's IOMMU only holds its address in a posted IRTE and posts into it, as the hardware
 * does. Layout, bit numbers counted from the start of the descriptor:
 *   bits 255:0   PIR   one posted-interrupt request bit per vector
 *   bit  256     ON    outstanding notification
 *   bit  257     SN    suppress notification
 *   bits 271:258 reserved
 *   bits 279:272 NV    notification vector
 *   bits 287:280 reserved
 *   bits 319:288 NDST  notification destination (x2APIC: the 32-bit APIC ID; xAPIC: ID in bits 15:8)
 *   bits 511:320 reserved
 * ON, SN, NV and NDST share one 64-bit control word that is only changed by atomic read-modify-write,
 * because posting (any thread) sets ON while the owner changes SN/NV/NDST.
 *
 * Posting (VT-d 5.2.3, what the IOMMU does atomically per posted MSI): set PIR[vector]; then, if ON is
 * clear and (SN is clear or the IRTE is urgent), set ON and send a notification: a host interrupt with
 * vector NV to NDST. ON set means a notification is already on its way; SN means "the vCPU is not
 * running, just record it".
 *
 * Folding (the CPU side, vmx_sync_pir_to_irr): clear ON first, then take each PIR word with an atomic
 * exchange. This order loses nothing: a post whose PIR bit lands before our exchange is taken by it; a
 * post whose PIR bit lands after it finds ON already clear (we cleared it before), so it sets ON and
 * notifies again and the next fold takes the bit. The other order (exchange, then clear ON) can strand a
 * bit: a post between the two sees ON still set and does not notify, then we clear ON, leaving a PIR bit
 * with ON clear that nobody is told about. All operations are seq_cst: the poster's PIR store and ON
 * load, and the folder's ON clear and PIR exchange, are two store->load pairs on different words (the
 * Dekker pattern), which need a single total order.
 *
 * Header-only: the posting path is the hot path of posted delivery and makes no call and no syscall.
 */
#ifndef VIRQ_BYPASS_POSTED_DESC_H
#define VIRQ_BYPASS_POSTED_DESC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VIRQ_PID_ON          (1ull << 0)  /* bit 256 */
#define VIRQ_PID_SN          (1ull << 1)  /* bit 257 */
#define VIRQ_PID_NV_SHIFT    16           /* bits 279:272 */
#define VIRQ_PID_NV_MASK     (0xffull << VIRQ_PID_NV_SHIFT)
#define VIRQ_PID_NDST_SHIFT  32           /* bits 319:288 */
#define VIRQ_PID_NDST_MASK   (0xffffffffull << VIRQ_PID_NDST_SHIFT)

/* Linux's host vectors for posted interrupts (arch/x86/include/asm/irq_vectors.h). */
#define VIRQ_POSTED_INTR_VECTOR        0xf2 /* the vCPU is running: fold now */
#define VIRQ_POSTED_INTR_WAKEUP_VECTOR 0xf1 /* the vCPU is blocked: wake it */

struct virq_posted_desc {
	_Atomic uint64_t pir[4];  /* [A] bits 255:0 */
	_Atomic uint64_t control; /* [A] bits 319:256: ON, SN, NV, NDST */
	uint64_t reserved[3];     /* bits 511:320 */
} __attribute__((aligned(64)));

_Static_assert(sizeof(struct virq_posted_desc) == 64, "VT-d posted-interrupt descriptor is 64 bytes");
_Static_assert(offsetof(struct virq_posted_desc, control) == 32, "ON is bit 256");

/* What one post did: whether it found its PIR bit set (coalesced), and the notification to send. */
struct virq_posted_result {
	bool coalesced; /* PIR[vector] was already set: this post adds nothing the next fold won't take */
	bool notify;    /* ON went 0 -> 1 here: send vector @nv to @ndst */
	uint8_t nv;
	uint32_t ndst;
};

static inline void virq_posted_desc_init(struct virq_posted_desc *d, uint8_t nv, uint32_t ndst)
{
	for (unsigned i = 0; i < 4; i++)
		atomic_init(&d->pir[i], 0);
	atomic_init(&d->control, (uint64_t)nv << VIRQ_PID_NV_SHIFT | (uint64_t)ndst << VIRQ_PID_NDST_SHIFT);
	for (unsigned i = 0; i < 3; i++)
		d->reserved[i] = 0;
}

/*
 * Post @vector (the IOMMU's posted delivery, or software posting). The notification decision and the
 * NV/NDST it goes to come from one atomic snapshot of the control word, as the hardware reads them.
 * A coalesced post still runs the ON check, as the hardware does: a PIR bit left by a post made under SN
 * is notified by the first post after SN clears.
 */
static inline struct virq_posted_result virq_posted_desc_post(struct virq_posted_desc *d, uint8_t vector,
							      bool urgent)
{
	struct virq_posted_result r = {0};
	uint64_t bit = 1ull << (vector & 63);

	r.coalesced = atomic_fetch_or(&d->pir[vector >> 6], bit) & bit;
	uint64_t c = atomic_load(&d->control);
	do {
		if ((c & VIRQ_PID_ON) || ((c & VIRQ_PID_SN) && !urgent))
			return r; /* a notification is pending already, or suppressed */
	} while (!atomic_compare_exchange_weak(&d->control, &c, c | VIRQ_PID_ON));
	r.notify = true;
	r.nv = (uint8_t)((c & VIRQ_PID_NV_MASK) >> VIRQ_PID_NV_SHIFT);
	r.ndst = (uint32_t)(c >> VIRQ_PID_NDST_SHIFT);
	return r;
}

/* Take every posted request: clear ON, then exchange each PIR word with 0 (the order is explained at
 * the top). @pir receives the taken bits; returns whether any were set. */
static inline bool virq_posted_desc_take(struct virq_posted_desc *d, uint64_t pir[4])
{
	bool any = false;

	atomic_fetch_and(&d->control, ~VIRQ_PID_ON);
	for (unsigned i = 0; i < 4; i++) {
		/* Exchange only non-zero words, as KVM does: a load is cheaper than a locked exchange. */
		pir[i] = atomic_load(&d->pir[i]) ? atomic_exchange(&d->pir[i], 0) : 0;
		any |= pir[i] != 0;
	}
	return any;
}

/* Fold the posted requests into a 256-bit IRR the caller owns; returns how many bits were taken. */
static inline unsigned virq_posted_desc_fold(struct virq_posted_desc *d, uint64_t irr[4])
{
	uint64_t pir[4];
	unsigned n = 0;

	if (!virq_posted_desc_take(d, pir))
		return 0;
	for (unsigned i = 0; i < 4; i++) {
		irr[i] |= pir[i];
		n += (unsigned)__builtin_popcountll(pir[i]);
	}
	return n;
}

static inline uint64_t virq_posted_desc_control(struct virq_posted_desc *d)
{
	return atomic_load(&d->control);
}

static inline bool virq_posted_desc_on(struct virq_posted_desc *d)
{
	return atomic_load(&d->control) & VIRQ_PID_ON;
}

/* Any request waiting in PIR (KVM's pi_is_pir_empty, negated). */
static inline bool virq_posted_desc_pir_pending(struct virq_posted_desc *d)
{
	for (unsigned i = 0; i < 4; i++)
		if (atomic_load(&d->pir[i]))
			return true;
	return false;
}

static inline void virq_posted_desc_set_sn(struct virq_posted_desc *d)
{
	atomic_fetch_or(&d->control, VIRQ_PID_SN);
}

static inline void virq_posted_desc_clear_sn(struct virq_posted_desc *d)
{
	atomic_fetch_and(&d->control, ~VIRQ_PID_SN);
}

/* Set ON without posting (vcpu_load: PIR is non-empty, make the pending requests get processed). */
static inline bool virq_posted_desc_test_and_set_on(struct virq_posted_desc *d)
{
	return atomic_fetch_or(&d->control, VIRQ_PID_ON) & VIRQ_PID_ON;
}

/* Change NV and NDST together, keeping ON and SN as posting leaves them (a CAS loop, as KVM's
 * vmx_vcpu_pi_load does). */
static inline void virq_posted_desc_set_nv_ndst(struct virq_posted_desc *d, uint8_t nv, uint32_t ndst)
{
	uint64_t c = atomic_load(&d->control), n;
	do {
		n = (c & ~(VIRQ_PID_NV_MASK | VIRQ_PID_NDST_MASK)) | (uint64_t)nv << VIRQ_PID_NV_SHIFT |
		    (uint64_t)ndst << VIRQ_PID_NDST_SHIFT;
	} while (!atomic_compare_exchange_weak(&d->control, &c, n));
}

#endif /* VIRQ_BYPASS_POSTED_DESC_H */
