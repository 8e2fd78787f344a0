/* SPDX-License-Identifier: MIT */
/*
 * bypass_policy.h - the decision "posted or remapped" for one bypassed interrupt (an irqfd paired with a
 * VFIO vector), as Linux makes it (arch/x86/kvm/irq.c, kvm-x86.md 3.4), plus the seed-000 overrides.
 *
 * Why a pure function: the decision is re-made on producer attach, on every routing change of a
 * bypassed irqfd and on every POST_IRQ/UNPOST_IRQ; keeping it free of locks and side effects makes it
 * testable rule by rule, and its reason string is what `virq explain` prints, so every refusal can be
 * read by a user.
 *
 * Linux's rules, in order of evaluation here:
 *   - the GSI must have exactly one route and it must be an MSI (irqfd's cached irq_entry);
 *   - the delivery mode must be fixed or lowest priority (kvm_irq_is_postable);
 *   - the destination must resolve to exactly one vCPU (kvm_intr_is_single_vcpu): physical to one APIC
 *     ID; logical to one matching LAPIC; lowest priority (or RH) is resolved by the same vector hashing
 *     the software path uses (virq_apic_deliver), so switching modes never changes the target; physical
 *     broadcast is never single.
 * virq adds: no IOMMU behind the producer (it cannot post) -> remapped; an explicit per-vector override
 * (kvm-vfio POST_IRQ forces posted where the rules allow it, UNPOST_IRQ forces remapped); and a VM-wide
 * "explicit" mode (seed 000's model: nothing is posted without POST_IRQ).
 *
 * Threads: any; reads the LAPICs' ID/LDR/DFR/SVR atomics (a snapshot, as KVM reads its APIC map).
 */
#ifndef VIRQ_ENGINE_BYPASS_POLICY_H
#define VIRQ_ENGINE_BYPASS_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "irqchip/x86/lapic.h"

enum virq_bypass_mode {
	VIRQ_BYPASS_REMAPPED = 0, /* host IRQ -> VFIO eventfd -> irqfd -> software injection */
	VIRQ_BYPASS_POSTED,       /* IRTE posted: the IOMMU writes the target vCPU's descriptor */
	/* arm64 (never from virq_bypass_decide; engine/arm_direct.c decides): */
	VIRQ_BYPASS_SOFTWARE,     /* host IRQ -> VFIO eventfd -> irqfd -> ITS translation */
	VIRQ_BYPASS_DIRECT_LPI,   /* the producer latches the resolved LPI itself (GICv4-like) */
};

/* Per-vector override set through kvm-vfio KVM_DEV_VFIO_DEVICE POST_IRQ / UNPOST_IRQ. */
enum virq_bypass_override {
	VIRQ_BYPASS_AUTO = 0,     /* Linux's automatic decision */
	VIRQ_BYPASS_FORCE_POST,   /* POST_IRQ: post whenever the rules allow it, also in explicit mode */
	VIRQ_BYPASS_FORCE_REMAP,  /* UNPOST_IRQ: never post */
};

/* The irqfd's GSI routing as it stands (kvm-x86.md 1.11: the cached route of the irqfd). */
struct virq_bypass_route {
	unsigned nr_entries;      /* routes the GSI has: only 1 can be posted */
	uint32_t type;            /* KVM_IRQ_ROUTING_* of the route when nr_entries == 1 */
	uint32_t address_lo, address_hi, data; /* its MSI payload (type MSI) */
	uint32_t flags, devid;    /* arm64: the entry's KVM_MSI_VALID_DEVID and DeviceID (type MSI) */
};

struct virq_bypass_policy_in {
	const struct virq_bypass_route *route;
	struct virq_lapic *const *apics; /* the VM's LAPICs indexed by vCPU id, NULL slots skipped */
	unsigned nr_apics;
	enum virq_bypass_override override;
	bool explicit_only;       /* seed-000 model: post only with FORCE_POST */
	bool no_iommu;            /* the producer cannot post (no interrupt remapping behind it) */
	/* Non-NULL: the engine's MSI-X table holds this GSI's interrupts now (entry or function masked,
	 * MSI-X off, or an entry reprogrammed ahead of its route), and says why. Held interrupts must reach
	 * the entry's pending bit, which only the irqfd path sets: such a GSI is remapped until released. */
	const char *held;
};

#define VIRQ_BYPASS_REASON_MAX 96

struct virq_bypass_decision {
	enum virq_bypass_mode mode;
	unsigned vcpu;            /* posted: index into apics[] (the vCPU id) */
	uint32_t apic_id;         /* posted: its APIC ID */
	uint8_t vector;           /* posted: the guest vector */
	uint32_t devid, eventid;  /* arm64, DIRECT_LPI: the translated message ... */
	uint32_t intid;           /* ... its LPI (on vCPU @vcpu) */
	char reason[VIRQ_BYPASS_REASON_MAX]; /* "posted: fixed delivery to APIC 1 vector 0x41", ... */
};

/* Decide; fills @out completely and returns out->mode. */
enum virq_bypass_mode virq_bypass_decide(const struct virq_bypass_policy_in *in, struct virq_bypass_decision *out);

#endif /* VIRQ_ENGINE_BYPASS_POLICY_H */
