/* SPDX-License-Identifier: MIT */
/*
 * lapic.h - the local APIC of one x86 vCPU, as KVM models it (xAPIC mode, MMIO at 0xfee00000).
 *
 * Threads: the interrupt request side (virq_lapic_accept, virq_apic_deliver) runs on any thread: IRR and
 * TMR are lock-free atomic bitmaps. Everything else (ISR, PPR, register reads and writes, acknowledge, EOI)
 * belongs to the vCPU thread that owns the LAPIC. Fields that other threads read (ID, LDR, DFR, SVR) are
 * atomics written only by the vCPU thread.
 *
 * The LAPIC knows nothing of vCPUs, the IOAPIC or the engine: it reaches them through struct
 * virq_lapic_ops, which the engine fills in. How an accepted fixed request reaches the vCPU can be
 * overridden (struct virq_lapic_intr_ops, bhyve's vlapic_ops): without an override, the default, it is
 * set in IRR here (the software path).
 */
#ifndef VIRQ_IRQCHIP_X86_LAPIC_H
#define VIRQ_IRQCHIP_X86_LAPIC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define VIRQ_LAPIC_BASE 0xfee00000ull
#define VIRQ_LAPIC_SIZE 0x1000ull

/* Delivery modes (MSI data bits 10:8, redirection entry bits 10:8, ICR bits 10:8). */
enum virq_apic_delivery_mode {
	VIRQ_APIC_DM_FIXED = 0,
	VIRQ_APIC_DM_LOWEST = 1,
	VIRQ_APIC_DM_SMI = 2,
	VIRQ_APIC_DM_REMRD = 3,
	VIRQ_APIC_DM_NMI = 4,
	VIRQ_APIC_DM_INIT = 5,
	VIRQ_APIC_DM_STARTUP = 6,
	VIRQ_APIC_DM_EXTINT = 7,
};

enum virq_apic_shorthand {
	VIRQ_APIC_SH_NONE = 0,
	VIRQ_APIC_SH_SELF = 1,
	VIRQ_APIC_SH_ALL_INCLUDING_SELF = 2,
	VIRQ_APIC_SH_ALL_EXCLUDING_SELF = 3,
};

/* One interrupt message on the APIC bus: what an IOAPIC pin, an MSI or an ICR write produces. */
struct virq_apic_irq {
	uint32_t dest_id;        /* physical APIC ID or logical destination */
	uint8_t vector;
	uint8_t delivery_mode;   /* enum virq_apic_delivery_mode */
	uint8_t shorthand;       /* enum virq_apic_shorthand; always NONE for IOAPIC and MSI */
	bool dest_logical;
	bool trigger_level;      /* true: level-triggered (sets TMR) */
	bool level;              /* assert (true) or de-assert; MSIs always assert */
	bool msi_redir_hint;     /* MSI RH bit: KVM treats the message as lowest priority */
	uint64_t raise_ns;       /* CLOCK_MONOTONIC time the source raised it, carried to the handler */
};

struct virq_lapic;

/* What a LAPIC needs from the engine. Every callback gets the opaque pointer given at init. */
struct virq_lapic_ops {
	/* A new request is in IRR (any thread): make the vCPU notice it (flag + wake if halted). */
	void (*kick)(void *opaque);
	/* The guest EOI'd @vector and the IOAPIC wants it (vCPU thread, no LAPIC lock held). */
	void (*eoi_broadcast)(void *opaque, uint8_t vector, bool level);
	/* The guest wrote ICR (vCPU thread): deliver an IPI. Returns the delivery result. */
	int (*send_ipi)(void *opaque, const struct virq_apic_irq *irq);
	/* INIT or STARTUP arrived (any thread); @sipi_vector is valid for STARTUP. */
	void (*init_sipi)(void *opaque, bool startup, uint8_t sipi_vector);
	/*
	 * Optional (NULL = only level EOIs are broadcast): does the IOAPIC watch @vector? Used when the guest
	 * writes the EOI register through virq_lapic_mmio_write (vCPU thread, lock-free).
	 */
	bool (*eoi_wanted)(void *opaque, uint8_t vector);
};

/*
 * The ops override (bhyve's struct vlapic_ops; KVM's APICv deliver_interrupt): replaces the one step of
 * accepting a fixed or lowest-priority request that records it. Everything around that step stays in the
 * LAPIC: the checks (software-disabled, level de-assert: ignored), TMR set for level and cleared for edge
 * *before* the request is recorded (as KVM's __apic_accept_irq does before posting), the counting of a
 * request that coalesced, and the kick when the override asks for one. A request the override records
 * without coalescing is counted when it reaches IRR (virq_lapic_update_irr), accepted or coalesced there.
 *
 * Of bhyve's other vlapic_ops, virq needs none: pending_intr is the engine's fold of the posted
 * descriptor into IRR, which every x86 vCPU does at each op boundary and before sleeping anyway (device
 * posts need it with or without an override); intr_accepted is the ordinary IRR -> ISR step once folded
 * (no virtual-APIC page); post_intr is VIRQ_LAPIC_INTR_NOTIFY -> ops->kick; set_tmr is done here; x2APIC is
 * not modelled.
 */
enum {
	VIRQ_LAPIC_INTR_COALESCED = 1u << 0, /* merged into a request still recorded (counted coalesced here) */
	VIRQ_LAPIC_INTR_NOTIFY = 1u << 1,    /* the vCPU must be told: ops->kick is called */
};

struct virq_lapic_intr_ops {
	/*
	 * Record fixed request @vector raised at @raise_ns (CLOCK_MONOTONIC, 0 if unknown). Any thread,
	 * concurrently with itself and with the vCPU thread. Returns VIRQ_LAPIC_INTR_* flags. @ctx is the one
	 * given to virq_lapic_set_intr_ops.
	 */
	unsigned (*set_intr_ready)(void *ctx, uint8_t vector, uint64_t raise_ns);
};

/* Per-vector counters of one LAPIC (relaxed atomics; any thread may read). */
struct virq_lapic_vector_stats {
	_Atomic uint64_t accepted;   /* request set the IRR bit (0 -> 1) */
	_Atomic uint64_t coalesced;  /* request found the IRR bit already set */
	_Atomic uint64_t delivered;  /* acknowledged by the vCPU: IRR -> ISR */
	_Atomic uint64_t eoi;        /* EOIs that retired this vector from ISR */
};

struct virq_lapic {
	const struct virq_lapic_ops *ops;  /* [I] */
	void *opaque;                      /* [I] */
	/* The override, NULL = the software path. [A] published with release after intr_ctx; see
	 * virq_lapic_set_intr_ops. */
	const struct virq_lapic_intr_ops *_Atomic intr_ops;
	void *_Atomic intr_ctx;            /* [A] */

	/* [A] set by any thread with release order after raise_ns; consumed by the vCPU thread. */
	_Atomic uint64_t irr[4];
	_Atomic uint64_t tmr[4];
	_Atomic uint64_t raise_ns[256];    /* [A] raise time of the request that set IRR[v] */

	/* [A] written by the vCPU thread only, read by delivering threads. */
	_Atomic uint32_t id;               /* APIC ID register (ID in bits 31:24) */
	_Atomic uint32_t ldr;
	_Atomic uint32_t dfr;
	_Atomic uint32_t svr;              /* spurious-vector register; bit 8 = software enable */
	_Atomic uint32_t arb_prio;         /* lowest-priority win counter */

	/* [V] vCPU thread only. */
	uint64_t isr[4];
	uint32_t tpr;
	uint32_t esr;
	uint32_t icr_low, icr_high;
	uint32_t lvt[7];                   /* timer, thermal, perfmon, LINT0, LINT1, error, CMCI: stored only */
	_Atomic uint64_t spurious_eoi;     /* [A] EOIs written with an empty ISR (ignored, counted) */

	struct virq_lapic_vector_stats stats[256];
};

/* Initialise at reset state: ID = @apic_id, SVR 0xff (software-disabled), LDR 0, DFR flat. */
void virq_lapic_init(struct virq_lapic *apic, uint32_t apic_id, const struct virq_lapic_ops *ops, void *opaque);

/*
 * Install (@ops non-NULL) or remove (NULL) the ops override. Any thread, at any time: a request accepted
 * concurrently takes either path, and both end in IRR (the caller keeps folding what the override
 * recorded after removing it). @ctx must stay the same for as long as any override may be installed
 * (in practice: the vCPU's posted descriptor). Keeps across virq_lapic_reset.
 */
void virq_lapic_set_intr_ops(struct virq_lapic *apic, const struct virq_lapic_intr_ops *ops, void *ctx);
/* The installed override, or NULL (the software path). Any thread. */
const struct virq_lapic_intr_ops *virq_lapic_intr_ops(const struct virq_lapic *apic);

/* Return to reset state (keeps ops and APIC ID), as INIT does. vCPU thread. */
void virq_lapic_reset(struct virq_lapic *apic);

uint32_t virq_lapic_id(const struct virq_lapic *apic);
bool virq_lapic_sw_enabled(const struct virq_lapic *apic);

/*
 * Does this LAPIC match a destination? Physical: ID equal or broadcast 0xff. Logical: flat
 * (DFR[31:28] = 0xf): LDR[31:24] & dest != 0; cluster (DFR[31:28] = 0): high nibbles equal and low nibbles
 * intersect. Any thread.
 */
bool virq_lapic_match_dest(const struct virq_lapic *apic, uint32_t dest_id, bool logical);

/*
 * Accept a fixed or lowest-priority request into IRR (any thread). Returns 1 when accepted (also when the
 * vector was already pending: KVM no longer reports LAPIC coalescing), 0 when ignored (APIC software-
 * disabled, or a level-triggered de-assert). Sets TMR for level, clears it for edge, records raise_ns and
 * counts accepted/coalesced, then calls ops->kick. With an ops override installed, the override records
 * the request after the TMR update instead (see struct virq_lapic_intr_ops). NMI/SMI/ExtINT are ignored
 * (0); INIT and STARTUP go to ops->init_sipi and return 1.
 */
int virq_lapic_accept(struct virq_lapic *apic, const struct virq_apic_irq *irq);

/*
 * vCPU thread: requests recorded outside IRR (a posted descriptor's PIR, taken) become pending, as KVM's
 * kvm_apic_update_irr does for vmx_sync_pir_to_irr. The caller has stored raise_ns[v] for every vector of
 * @pir first. Each word is ORed into IRR with release order; each bit is counted accepted (it set the IRR
 * bit) or coalesced (the vector was still pending). Returns the number of bits in @pir.
 */
unsigned virq_lapic_update_irr(struct virq_lapic *apic, const uint64_t pir[4]);

/*
 * vCPU thread: the highest vector in IRR whose priority class beats PPR, or -1 if none is deliverable.
 */
int virq_lapic_pending_vector(const struct virq_lapic *apic);

/* vCPU thread: has IRR any bit at all (used to decide whether a halted vCPU may keep sleeping). */
bool virq_lapic_has_irr(const struct virq_lapic *apic);

/*
 * vCPU thread: acknowledge @vector (as the CPU does when it takes the interrupt): clear IRR, set ISR,
 * recompute PPR, count it delivered. Returns the request's raise time.
 */
uint64_t virq_lapic_ack(struct virq_lapic *apic, int vector);

/*
 * vCPU thread: the EOI register was written. Retires the highest ISR vector; if @eoi_wanted (called with
 * apic->opaque) says the IOAPIC watches the vector, calls ops->eoi_broadcast(vector, level from TMR). With
 * @eoi_wanted NULL, every level (TMR) vector is broadcast. An EOI with an empty ISR is ignored and counted
 * in spurious_eoi.
 * Returns the retired vector or -1. A guest write to the EOI register does this with ops->eoi_wanted.
 */
int virq_lapic_eoi(struct virq_lapic *apic, bool (*eoi_wanted)(void *opaque, uint8_t vector));

/* vCPU thread: MMIO at @offset (0..0xfff) of the LAPIC page. Sizes other than 4 read 0 / are ignored. */
uint32_t virq_lapic_mmio_read(struct virq_lapic *apic, uint32_t offset);
void virq_lapic_mmio_write(struct virq_lapic *apic, uint32_t offset, uint32_t value);

/* Task priority and processor priority as KVM computes them. vCPU thread. */
uint32_t virq_lapic_ppr(const struct virq_lapic *apic);

/*
 * The APIC bus: deliver @irq to the matching LAPICs among @apics[0..@nr) (NULL slots are skipped).
 * Fixed: every match accepts. Lowest priority (or RH=1): KVM's vector hashing, the (vector mod N)-th of
 * the N matching LAPICs that are software-enabled; physical broadcast + lowest priority is demoted to
 * fixed. @self is the sender for ICR shorthands (NULL otherwise). Returns -1 if no LAPIC matched, else the
 * sum of the per-LAPIC results (KVM's slow-path convention). Any thread.
 */
int virq_apic_deliver(struct virq_lapic *const *apics, unsigned nr, const struct virq_lapic *self,
		      const struct virq_apic_irq *irq);

/*
 * Decode an MSI address/data pair as KVM does (ignores address bits 31:20 and data bit 14; RH => lowest
 * priority; address_hi ignored unless @x2apic_ids, in which case it supplies destination bits 31:8).
 */
void virq_msi_decode(uint32_t address_lo, uint32_t address_hi, uint32_t data, bool x2apic_ids,
		     struct virq_apic_irq *out);

#endif /* VIRQ_IRQCHIP_X86_LAPIC_H */
