/* SPDX-License-Identifier: MIT */
/*
 * posted.h - per-vCPU posted interrupts: one VT-d posted-interrupt descriptor per vCPU and KVM's vCPU
 * state flow around it (arch/x86/kvm/vmx/posted_intr.c; kvm-x86.md 3.3).
 *
 * Why: in posted mode the host's IOMMU writes a device's MSI straight into the target vCPU's descriptor
 * (bypass/posted_desc.h), so no VMM and no engine thread stands between the device and the guest. The
 * descriptor alone is not enough: somebody has to say, at every moment, what a post should do. KVM's
 * answer, reproduced here:
 *
 *   state               SN  NV                      what a post does
 *   running             0   POSTED_INTR (0xf2)      record + notify 0xf2; the vCPU folds PIR into IRR at
 *                                                   its next op boundary (no syscall, no lock)
 *   not running         1   (unchanged)             record only; folded on the next run
 *   blocked (hlt, IF=1) 0   POSTED_INTR_WAKEUP 0xf1 record + notify 0xf1 to NDST; the wakeup handler
 *                                                   walks NDST's blocked list and kicks every vCPU with ON
 *
 * What a "pCPU" is here: virq has no physical CPUs and no IDT; the notification is a function call
 * (bypass/notify.h) carrying NDST. A pCPU is a bucket: the CPU the vCPU thread was on when it last
 * blocked or ran (sched_getcpu(), which reads the rseq area: no syscall), folded into
 * VIRQ_POSTED_NR_PCPUS lists. NDST is that bucket's index (the x2APIC form: the full 32-bit value).
 * Nothing depends on the thread still being on that CPU: the bucket only spreads the blocked vCPUs over
 * several locks, as KVM's per-CPU wakeup lists do, so a wakeup walks a short list. Correctness needs
 * only that a blocked vCPU's NDST names the list it sits on, which block() sets under that list's lock.
 *
 * Software posting (APICv, KVM's vmx_deliver_posted_interrupt): virq_posted_lapic_intr_ops is the LAPIC
 * ops override (irqchip/x86/lapic.h) that records a software delivery (irqfd injection, KVM_SIGNAL_MSI,
 * IOAPIC, IPI) in the same descriptor, so device and software requests share one path: PIR bit (with a
 * per-vector raise time written before it), ON, and a kick of the vCPU when ON went 0 -> 1. Installed by
 * the engine per vCPU (vcpu.h, virq_vcpu_set_apicv; docs/posted.md "The LAPIC ops override").
 *
 * Threads: the owner thread (the vCPU's KVM_RUN thread) calls running/sched_out/block/unblock/fold; the
 * posting side (any thread) only touches the descriptor and the raise-time stamps; the wakeup handler (the
 * posting thread, inside virq_bypass_notify) takes one list lock and calls ops->kick for each blocked vCPU
 * with ON set.
 */
#ifndef VIRQ_ENGINE_POSTED_H
#define VIRQ_ENGINE_POSTED_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bypass/posted_desc.h"
#include "irqchip/x86/lapic.h"

/* Number of pCPU buckets (blocked lists). A power of two; CPU numbers beyond it wrap. */
#define VIRQ_POSTED_NR_PCPUS 64

struct virq_posted_vcpu;

/* What the posted-interrupt code needs from whoever owns the vCPU (the engine's vcpu.c). */
struct virq_posted_ops {
	/* Make the vCPU re-evaluate (flag + wake if halted): virq_vcpu_kick. Called from the wakeup
	 * handler with a blocked list's lock held: must not block on anything that handler waits for. */
	void (*kick)(void *vcpu_ctx);
};

/* One pCPU bucket: the vCPUs blocked "on" it (KVM's per-CPU wakeup_vcpus_on_cpu + its lock). */
struct virq_posted_pcpu {
	pthread_mutex_t lock;            /* protects head and the blocked_* links of its vCPUs */
	struct virq_posted_vcpu *head;   /* [L:lock] */
} __attribute__((aligned(64)));     /* one lock per cache line: buckets do not false-share */

/* The pCPU model: the blocked lists and the notification handler's context. One per process in
 * practice (the notification slot is process-wide); a test may make its own. */
struct virq_posted_pcpus {
	struct virq_posted_pcpu cpu[VIRQ_POSTED_NR_PCPUS];
	_Atomic uint64_t notify_running; /* [A] 0xf2 notifications (nothing to do: the vCPU polls ON) */
	_Atomic uint64_t notify_wakeup;  /* [A] 0xf1 notifications handled */
	_Atomic uint64_t notify_stray;   /* [A] other vectors or NDST out of range (stale), ignored */
	_Atomic uint64_t kicks;          /* [A] vCPUs kicked by the wakeup handler */
};

/* Blocked vCPUs one wakeup notification kicks after dropping the list lock (the rest: under it). */
#define VIRQ_POSTED_KICK_BATCH 16

struct virq_posted_vcpu {
	struct virq_posted_desc desc;          /* [A] first, so it is 64-byte aligned; its address goes into
						* posted IRTEs (virq_posted_vcpu_desc_addr) */
	struct virq_posted_pcpus *pcpus;       /* [I] */
	const struct virq_posted_ops *ops;     /* [I] */
	void *ctx;                             /* [I] handed to ops->kick */
	int pcpu;                              /* [V] owner: bucket of the last running() */
	/* The blocked list this vCPU sits on, or -1. Written by the owner with that list's lock held;
	 * read by the owner without it (only the owner changes it). */
	int blocked_pcpu;
	struct virq_posted_vcpu *blocked_prev; /* [L:pcpus->cpu[blocked_pcpu].lock] */
	struct virq_posted_vcpu *blocked_next; /* [L:pcpus->cpu[blocked_pcpu].lock] */
	_Atomic uint64_t folds;                /* [A] folds that took at least one bit */
	_Atomic uint64_t folded;               /* [A] PIR bits moved into IRR */
	_Atomic uint64_t block_pending;        /* [A] block() found ON already set (KVM's self-IPI) */
	_Atomic uint64_t sw_posts;             /* [A] software posts (virq_posted_lapic_intr_ops) */
	_Atomic uint64_t sw_notified;          /* [A] of those, posts that set ON and kicked the vCPU */
	_Atomic unsigned kick_refs;            /* [A] wakeup handlers about to kick us (taken under the list
						* lock, dropped after the kick) */
	/* [A] raise time of a software post, written before its PIR bit, taken (reset to 0) by the fold that
	 * takes the bit; 0: the request carries no time (device posts), the fold stamps its own. */
	_Atomic uint64_t raise_ns[256];
};

/* Set up the pCPU buckets. 0 or -errno (pthread_mutex_init). */
int virq_posted_pcpus_init(struct virq_posted_pcpus *p);
void virq_posted_pcpus_destroy(struct virq_posted_pcpus *p);

/*
 * The notification handler (virq_posted_notify_fn of bypass/notify.h, @ctx = struct virq_posted_pcpus).
 * NV 0xf1: lock NDST's list, kick every vCPU on it whose ON is set. NV 0xf2: counted only; a running
 * vCPU folds at its next op boundary without being told. Tolerates stale notifications (a vCPU that has
 * left the list, NDST out of range): they change nothing but a counter.
 */
void virq_posted_notify_handler(void *ctx, uint32_t ndst, uint8_t nv);
/* Install / remove the handler in the process-wide slot (virq_bypass_notify_install: -EBUSY, ...). */
int virq_posted_pcpus_install(struct virq_posted_pcpus *p);
void virq_posted_pcpus_remove(void);

/* The bucket of the calling thread's current CPU (0 if the kernel cannot say). */
int virq_posted_this_pcpu(void);

/* Initialise @pv not running: SN set, NV 0xf2, NDST 0, PIR empty, on no list. */
void virq_posted_vcpu_init(struct virq_posted_vcpu *pv, struct virq_posted_pcpus *pcpus,
			   const struct virq_posted_ops *ops, void *ctx);
/* Owner, vCPU quiescent: take it off any list. Notifications may still arrive for its NDST afterwards;
 * they find nothing, so @pv may then be freed. */
void virq_posted_vcpu_destroy(struct virq_posted_vcpu *pv);

/* The descriptor's address, as a posted IRTE holds it (64-byte aligned). */
uint64_t virq_posted_vcpu_desc_addr(const struct virq_posted_vcpu *pv);
/* The vCPU whose descriptor is at @desc_addr (the inverse of virq_posted_vcpu_desc_addr). */
struct virq_posted_vcpu *virq_posted_vcpu_of_desc(uint64_t desc_addr);

/*
 * A posted vector was re-targeted away from @pv (irqfd.c): take its request for @vector, still waiting
 * in the PIR, so it can follow the vector. Returns false, leaving the PIR as it was, when nothing is
 * pending or the bit also carries a software request (the LAPIC override stamped it: virq_posted_lapic_
 * intr_ops), which belongs to this vCPU and must not move with the device's vector.
 */
bool virq_posted_vcpu_take_device_request(struct virq_posted_vcpu *pv, uint8_t vector);

/*
 * Owner: the vCPU runs (KVM's vmx_vcpu_pi_load; call at KVM_RUN entry and after a block ends). Takes it
 * off a blocked list if it is on one, sets NDST = @pcpu and NV = 0xf2, clears SN, then sets ON if PIR
 * holds requests recorded meanwhile, so the next fold takes them. Fast path (same pCPU, not blocked):
 * clear SN only.
 */
void virq_posted_vcpu_running(struct virq_posted_vcpu *pv, int pcpu);
/* Owner: the vCPU stops running for any reason other than blocking (KVM_RUN returns, preemption):
 * set SN, so posts are only recorded. */
void virq_posted_vcpu_sched_out(struct virq_posted_vcpu *pv);
/*
 * Owner: the vCPU is about to sleep in hlt with interrupts enabled (KVM's pi_enable_wakeup_handler).
 * Puts it on @pcpu's list and switches NV to 0xf1 with NDST = @pcpu, under that list's lock; then
 * re-checks ON: a post that read the old NV (0xf2) before the switch notified nobody who would wake
 * us. Returns true in that case (KVM sends itself 0xf1): the caller must not sleep, or must fold first.
 * Requires SN clear (running() before). Calling it again while blocked moves it to @pcpu.
 */
bool virq_posted_vcpu_block(struct virq_posted_vcpu *pv, int pcpu);
/* Owner: the sleep ended. Take it off its list and put NV back to 0xf2 (running() does both too). */
void virq_posted_vcpu_unblock(struct virq_posted_vcpu *pv);

/*
 * Owner, at every op boundary: if ON is set, take PIR (clear ON, then exchange each word) and OR it into
 * @irr, a 256-bit IRR kept as atomics. Returns the number of bits taken. With ON clear it is one relaxed
 * load: no syscall, no lock, no store. (The engine uses virq_posted_vcpu_fold_lapic; this one is for a
 * bare IRR.)
 */
unsigned virq_posted_vcpu_fold(struct virq_posted_vcpu *pv, _Atomic uint64_t irr[4]);
/*
 * The same into a LAPIC (KVM's vmx_sync_pir_to_irr): for every vector taken, raise_ns[v] is the software
 * post's stamp, or the fold time when it has none (a device post carries no time, as on hardware), stored
 * before the IRR bit appears; then virq_lapic_update_irr, which counts each bit accepted or coalesced.
 */
unsigned virq_posted_vcpu_fold_lapic(struct virq_posted_vcpu *pv, struct virq_lapic *apic);

/*
 * The posted LAPIC ops override (ctx: the struct virq_posted_vcpu of the LAPIC's vCPU). set_intr_ready
 * stores the raise time, then posts urgently (software posting ignores SN, as KVM's does: it wakes the
 * vCPU itself rather than through the notification vector); it reports COALESCED when the PIR bit was
 * already set and NOTIFY when ON went 0 -> 1 (the LAPIC then kicks the vCPU: a running one folds at its
 * next op boundary, a halted one is woken). A post that finds ON set needs no kick: whoever set ON
 * kicked, notified, or is the vCPU itself about to fold.
 */
extern const struct virq_lapic_intr_ops virq_posted_lapic_intr_ops;
/* Whether a fold would take something now (ON set): for spin loops and halt's "ready" check. */
static inline bool virq_posted_vcpu_pending(struct virq_posted_vcpu *pv)
{
	return atomic_load_explicit(&pv->desc.control, memory_order_relaxed) & VIRQ_PID_ON;
}
/* Whether @pv sits on a blocked list (owner, or tests). */
bool virq_posted_vcpu_blocked(const struct virq_posted_vcpu *pv);

#endif /* VIRQ_ENGINE_POSTED_H */
