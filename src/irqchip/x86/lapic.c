/* SPDX-License-Identifier: MIT */
/*
 * lapic.c - the local APIC of one vCPU in xAPIC mode, after arch/x86/kvm/lapic.c (SDM vol. 3 ch. 11;
 * reference kvm-x86.md §2.6).
 *
 * Models: IRR/TMR acceptance of fixed and lowest-priority requests, INIT/STARTUP hand-off, ISR/TPR/PPR
 * priority, EOI with broadcast to the IOAPIC, and the xAPIC register page (ID, LVR, TPR, APR, PPR, EOI,
 * LDR, DFR, SVR, ISR/TMR/IRR, ESR, ICR, LVTs) with KVM's writable-bit masks.
 *
 * Omits: x2APIC mode, the APIC_BASE MSR (the APIC is always hardware-enabled), the LAPIC timer (LVTT is
 * stored; TMICT/TMCCT/TDCR read 0), NMI/SMI/ExtINT/remote-read acceptance (no such events in virq: they
 * return 0), directed EOI, ESR error reporting (KVM never sets ESR either), Hyper-V SynIC auto-EOI. Six
 * LVT entries as KVM without MCG_CMCI_P (LVTCMCI reads 0). APICv is not modelled here: the engine's
 * posted path plugs in through the ops override (struct virq_lapic_intr_ops) and virq_lapic_update_irr.
 *
 * Locking: none. IRR, TMR and raise_ns are lock-free: a requester stores raise_ns[v] and TMR relaxed,
 * then sets the IRR bit with a release fetch_or; the vCPU thread loads IRR with acquire before it reads
 * raise_ns/TMR. With an override the requester's TMR store is followed by the override's own release
 * (the PIR bit), which the fold acquires before it sets IRR. ID, LDR, DFR and SVR are atomics written only
 * by the vCPU thread. ISR, TPR, ICR and the LVTs belong to the vCPU thread alone.
 */
#include "irqchip/x86/lapic.h"

#include <string.h>

#include "irqchip/x86/lapic_regs.h"

#define VIRQ_LAPIC_NR_LVT 6
#define VIRQ_LAPIC_LVT_CMCI 6

static inline unsigned virq_vec_word(unsigned vector)
{
	return (vector >> 6) & 3;
}

static inline uint64_t virq_vec_bit(unsigned vector)
{
	return 1ull << (vector & 63);
}

static int virq_vec_highest(uint64_t word, int index)
{
	return index * 64 + 63 - __builtin_clzll(word);
}

static int virq_lapic_highest_isr(const struct virq_lapic *apic)
{
	for (int i = 3; i >= 0; i--)
		if (apic->isr[i])
			return virq_vec_highest(apic->isr[i], i);
	return -1;
}

static int virq_lapic_highest_irr(const struct virq_lapic *apic)
{
	for (int i = 3; i >= 0; i--) {
		uint64_t w = atomic_load_explicit(&apic->irr[i], memory_order_acquire);

		if (w)
			return virq_vec_highest(w, i);
	}
	return -1;
}

static inline void virq_stat_inc(_Atomic uint64_t *counter)
{
	atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
}

void virq_lapic_init(struct virq_lapic *apic, uint32_t apic_id, const struct virq_lapic_ops *ops, void *opaque)
{
	memset(apic, 0, sizeof(*apic));
	apic->ops = ops;
	apic->opaque = opaque;
	atomic_store_explicit(&apic->id, (apic_id & 0xff) << APIC_DEST_SHIFT, memory_order_relaxed);
	virq_lapic_reset(apic);
}

void virq_lapic_reset(struct virq_lapic *apic)
{
	/* INIT keeps the xAPIC ID (kvm_lapic_reset with init_event); everything else returns to reset. */
	for (unsigned i = 0; i < 7; i++)
		apic->lvt[i] = APIC_LVT_MASKED;
	/* KVM_X86_QUIRK_LINT0_REENABLED: the BSP (vCPU 0) comes out of reset with LINT0 = ExtINT. */
	if (virq_lapic_id(apic) == 0)
		apic->lvt[3] = APIC_MODE_EXTINT;
	atomic_store_explicit(&apic->dfr, APIC_DFR_FLAT, memory_order_relaxed);
	atomic_store_explicit(&apic->svr, APIC_SPIV_RESET, memory_order_relaxed);
	atomic_store_explicit(&apic->ldr, 0, memory_order_relaxed);
	atomic_store_explicit(&apic->arb_prio, 0, memory_order_relaxed);
	apic->tpr = 0;
	apic->esr = 0;
	apic->icr_low = 0;
	apic->icr_high = 0;
	for (unsigned i = 0; i < 4; i++) {
		atomic_store_explicit(&apic->irr[i], 0, memory_order_relaxed);
		atomic_store_explicit(&apic->tmr[i], 0, memory_order_relaxed);
		apic->isr[i] = 0;
	}
}

void virq_lapic_set_intr_ops(struct virq_lapic *apic, const struct virq_lapic_intr_ops *ops, void *ctx)
{
	if (ops)
		atomic_store_explicit(&apic->intr_ctx, ctx, memory_order_relaxed);
	/* Release: a requester that sees @ops sees its ctx. */
	atomic_store_explicit(&apic->intr_ops, ops, memory_order_release);
}

const struct virq_lapic_intr_ops *virq_lapic_intr_ops(const struct virq_lapic *apic)
{
	return atomic_load_explicit(&apic->intr_ops, memory_order_acquire);
}

uint32_t virq_lapic_id(const struct virq_lapic *apic)
{
	return atomic_load_explicit(&apic->id, memory_order_relaxed) >> APIC_DEST_SHIFT;
}

bool virq_lapic_sw_enabled(const struct virq_lapic *apic)
{
	return atomic_load_explicit(&apic->svr, memory_order_acquire) & APIC_SPIV_APIC_ENABLED;
}

/*
 * The override records the request (TMR is already set: KVM sets it before posting). One that merged into
 * a request still recorded is counted coalesced now; any other is counted when it reaches IRR
 * (virq_lapic_update_irr), where it may still coalesce with a vector pending there.
 */
static int virq_lapic_accept_override(struct virq_lapic *apic, const struct virq_lapic_intr_ops *io,
				      const struct virq_apic_irq *irq)
{
	void *ctx = atomic_load_explicit(&apic->intr_ctx, memory_order_relaxed);
	unsigned r = io->set_intr_ready(ctx, irq->vector, irq->raise_ns);

	if (r & VIRQ_LAPIC_INTR_COALESCED)
		virq_stat_inc(&apic->stats[irq->vector].coalesced);
	if (r & VIRQ_LAPIC_INTR_NOTIFY)
		apic->ops->kick(apic->opaque);
	return 1;
}

static int virq_lapic_accept_fixed(struct virq_lapic *apic, const struct virq_apic_irq *irq)
{
	unsigned v = irq->vector, w = virq_vec_word(v);
	uint64_t bit = virq_vec_bit(v), old;

	/* §2.6: a level de-assert and a software-disabled APIC are ignored (result 0). */
	if ((irq->trigger_level && !irq->level) || !virq_lapic_sw_enabled(apic))
		return 0;
	if (irq->trigger_level)
		atomic_fetch_or_explicit(&apic->tmr[w], bit, memory_order_relaxed);
	else
		atomic_fetch_and_explicit(&apic->tmr[w], ~bit, memory_order_relaxed);
	const struct virq_lapic_intr_ops *io = virq_lapic_intr_ops(apic);
	if (io)
		return virq_lapic_accept_override(apic, io, irq);
	atomic_store_explicit(&apic->raise_ns[v], irq->raise_ns, memory_order_relaxed);
	/* Release: the vCPU that sees the IRR bit also sees raise_ns[v] and the TMR bit. */
	old = atomic_fetch_or_explicit(&apic->irr[w], bit, memory_order_release);
	virq_stat_inc((old & bit) ? &apic->stats[v].coalesced : &apic->stats[v].accepted);
	apic->ops->kick(apic->opaque);
	/* KVM no longer reports LAPIC coalescing: an already-pending vector still counts as delivered. */
	return 1;
}

int virq_lapic_accept(struct virq_lapic *apic, const struct virq_apic_irq *irq)
{
	switch (irq->delivery_mode) {
	case VIRQ_APIC_DM_LOWEST:
		/* KVM bumps the arbitration counter before the enable checks. */
		atomic_fetch_add_explicit(&apic->arb_prio, 1, memory_order_relaxed);
		/* fallthrough */
	case VIRQ_APIC_DM_FIXED:
		return virq_lapic_accept_fixed(apic, irq);
	case VIRQ_APIC_DM_INIT:
		if ((irq->trigger_level && !irq->level) || !apic->ops->init_sipi)
			return 0;
		apic->ops->init_sipi(apic->opaque, false, 0);
		return 1;
	case VIRQ_APIC_DM_STARTUP:
		if (!apic->ops->init_sipi)
			return 0;
		apic->ops->init_sipi(apic->opaque, true, irq->vector);
		return 1;
	default:
		return 0;
	}
}

uint32_t virq_lapic_ppr(const struct virq_lapic *apic)
{
	int isr = virq_lapic_highest_isr(apic);
	uint32_t isrv = isr < 0 ? 0 : (uint32_t)isr;

	if ((apic->tpr & 0xf0) >= (isrv & 0xf0))
		return apic->tpr & 0xff;
	return isrv & 0xf0;
}

unsigned virq_lapic_update_irr(struct virq_lapic *apic, const uint64_t pir[4])
{
	unsigned n = 0;

	for (unsigned i = 0; i < 4; i++) {
		if (!pir[i])
			continue;
		/* Release, as accept sets IRR: the IRR reader acquires, then reads raise_ns and TMR. */
		uint64_t old = atomic_fetch_or_explicit(&apic->irr[i], pir[i], memory_order_release);
		for (uint64_t b = pir[i]; b; b &= b - 1) {
			unsigned bitno = (unsigned)__builtin_ctzll(b);
			virq_stat_inc((old >> bitno) & 1 ? &apic->stats[i * 64 + bitno].coalesced
							 : &apic->stats[i * 64 + bitno].accepted);
		}
		n += (unsigned)__builtin_popcountll(pir[i]);
	}
	return n;
}

int virq_lapic_pending_vector(const struct virq_lapic *apic)
{
	int v = virq_lapic_highest_irr(apic);

	if (v < 0 || ((uint32_t)v & 0xf0) <= (virq_lapic_ppr(apic) & 0xf0))
		return -1;
	return v;
}

bool virq_lapic_has_irr(const struct virq_lapic *apic)
{
	return virq_lapic_highest_irr(apic) >= 0;
}

uint64_t virq_lapic_ack(struct virq_lapic *apic, int vector)
{
	unsigned v = (unsigned)vector & 0xff, w = virq_vec_word(v);
	uint64_t bit = virq_vec_bit(v), ns;

	/*
	 * Read raise_ns before clearing IRR: a request that lands in between finds the bit still set, counts
	 * as coalesced into this one, and the time reported is this request's own.
	 */
	atomic_load_explicit(&apic->irr[w], memory_order_acquire);
	ns = atomic_load_explicit(&apic->raise_ns[v], memory_order_relaxed);
	atomic_fetch_and_explicit(&apic->irr[w], ~bit, memory_order_acq_rel);
	apic->isr[w] |= bit;
	virq_stat_inc(&apic->stats[v].delivered);
	return ns;
}

int virq_lapic_eoi(struct virq_lapic *apic, bool (*eoi_wanted)(void *opaque, uint8_t vector))
{
	int v = virq_lapic_highest_isr(apic);
	bool level;

	/* "Not every write EOI will has corresponding ISR" (KVM apic_set_eoi): ignored. */
	if (v < 0) {
		atomic_fetch_add_explicit(&apic->spurious_eoi, 1, memory_order_relaxed);
		return -1;
	}
	apic->isr[virq_vec_word(v)] &= ~virq_vec_bit(v);
	virq_stat_inc(&apic->stats[v].eoi);
	level = atomic_load_explicit(&apic->tmr[virq_vec_word(v)], memory_order_relaxed) & virq_vec_bit(v);
	/* KVM forwards an EOI only for vectors in the IOAPIC-handled set (level pins and pins with ack
	 * notifiers), not for every level vector: a level MSI must not re-fire an edge pin of that vector. */
	if (eoi_wanted ? eoi_wanted(apic->opaque, (uint8_t)v) : level)
		apic->ops->eoi_broadcast(apic->opaque, (uint8_t)v, level);
	return v;
}

/* One 32-bit chunk (index 0..7) of a 256-bit vector register. */
static uint32_t virq_vec_chunk(uint64_t word, unsigned chunk)
{
	return (uint32_t)(word >> ((chunk & 1) * 32));
}

static uint32_t virq_lapic_read_vector_reg(struct virq_lapic *apic, uint32_t offset)
{
	unsigned base = offset & ~(APIC_VECTOR_REG_SPAN - 1), chunk = (offset - base) >> 4;
	uint64_t w;

	if (base == APIC_ISR)
		w = apic->isr[chunk / 2];
	else if (base == APIC_TMR)
		w = atomic_load_explicit(&apic->tmr[chunk / 2], memory_order_relaxed);
	else
		w = atomic_load_explicit(&apic->irr[chunk / 2], memory_order_acquire);
	return virq_vec_chunk(w, chunk);
}

static uint32_t virq_lapic_read_lvt(const struct virq_lapic *apic, uint32_t offset)
{
	if (offset == APIC_LVTCMCI)
		return VIRQ_LAPIC_NR_LVT > VIRQ_LAPIC_LVT_CMCI ? apic->lvt[VIRQ_LAPIC_LVT_CMCI] : 0;
	return apic->lvt[(offset - APIC_LVTT) >> 4];
}

uint32_t virq_lapic_mmio_read(struct virq_lapic *apic, uint32_t offset)
{
	/* KVM: only aligned 4-byte reads of readable registers return data. */
	if ((offset & 0xf) || offset > 0x3f0)
		return 0;
	if (offset >= APIC_ISR && offset < APIC_ESR)
		return virq_lapic_read_vector_reg(apic, offset);
	if (offset == APIC_LVTCMCI || (offset >= APIC_LVTT && offset <= APIC_LVTERR))
		return virq_lapic_read_lvt(apic, offset);
	switch (offset) {
	case APIC_ID:
		return atomic_load_explicit(&apic->id, memory_order_relaxed);
	case APIC_LVR:
		return APIC_LVR_VERSION | ((VIRQ_LAPIC_NR_LVT - 1) << APIC_LVR_MAXLVT_SHIFT);
	case APIC_TASKPRI:
		return apic->tpr;
	case APIC_PROCPRI:
		return virq_lapic_ppr(apic);
	case APIC_LDR:
		return atomic_load_explicit(&apic->ldr, memory_order_relaxed);
	case APIC_DFR:
		return atomic_load_explicit(&apic->dfr, memory_order_relaxed);
	case APIC_SPIV:
		return atomic_load_explicit(&apic->svr, memory_order_relaxed);
	case APIC_ESR:
		return apic->esr;
	case APIC_ICR:
		return apic->icr_low; /* delivery status (bit 12) is never set: KVM delivers at once */
	case APIC_ICR2:
		return apic->icr_high;
	default:
		/* ARBPRI (KVM never writes it), EOI, RRR, the timer registers and holes read 0. */
		return 0;
	}
}

static void virq_lapic_write_spiv(struct virq_lapic *apic, uint32_t value)
{
	/* Bits 9:0 only: bit 12 (directed EOI) stays 0 because LVR does not advertise it. */
	atomic_store_explicit(&apic->svr, value & 0x3ff, memory_order_release);
	/* SDM 11.4.7.2: software disable sets the mask bit of every LVT entry. */
	if (!(value & APIC_SPIV_APIC_ENABLED))
		for (unsigned i = 0; i < VIRQ_LAPIC_NR_LVT; i++)
			apic->lvt[i] |= APIC_LVT_MASKED;
}

static void virq_lapic_write_lvt(struct virq_lapic *apic, uint32_t offset, uint32_t value)
{
	/* KVM's apic_lvt_mask[], in register order: timer, thermal, perfmon, LINT0, LINT1, error, CMCI. */
	static const uint32_t writable[7] = {
		APIC_LVT_MASK | APIC_LVT_TIMER_MODE_MASK, APIC_LVT_MASK | APIC_MODE_MASK,
		APIC_LVT_MASK | APIC_MODE_MASK, APIC_LINT_MASK, APIC_LINT_MASK, APIC_LVT_MASK,
		APIC_LVT_MASK | APIC_MODE_MASK,
	};
	unsigned index = offset == APIC_LVTCMCI ? VIRQ_LAPIC_LVT_CMCI : (offset - APIC_LVTT) >> 4;

	if (index >= VIRQ_LAPIC_NR_LVT)
		return;
	/* While software-disabled, LVT entries cannot be unmasked (SDM 11.4.7.2). */
	if (!virq_lapic_sw_enabled(apic))
		value |= APIC_LVT_MASKED;
	apic->lvt[index] = value & writable[index];
}

static void virq_lapic_write_icr(struct virq_lapic *apic, uint32_t value)
{
	struct virq_apic_irq irq = {
		.dest_id = apic->icr_high >> APIC_DEST_SHIFT,
		.vector = (uint8_t)(value & APIC_VECTOR_MASK),
		.delivery_mode = (uint8_t)((value & APIC_MODE_MASK) >> APIC_MODE_SHIFT),
		.shorthand = (uint8_t)((value & APIC_SHORT_MASK) >> APIC_SHORT_SHIFT),
		.dest_logical = value & APIC_DEST_LOGICAL,
		.trigger_level = value & APIC_INT_LEVELTRIG,
		.level = value & APIC_INT_ASSERT,
	};

	/* No delay here, so the busy/pending bit is always clear (KVM). */
	apic->icr_low = value & ~APIC_ICR_BUSY;
	if (apic->ops->send_ipi)
		apic->ops->send_ipi(apic->opaque, &irq);
}

void virq_lapic_mmio_write(struct virq_lapic *apic, uint32_t offset, uint32_t value)
{
	/* SDM 11.4.1: registers are 128-bit aligned and accessed 32 bits at a time; KVM ignores the rest. */
	if ((offset & 0xf) || offset > 0x3f0)
		return;
	if (offset == APIC_LVTCMCI || (offset >= APIC_LVTT && offset <= APIC_LVTERR)) {
		virq_lapic_write_lvt(apic, offset, value);
		return;
	}
	switch (offset) {
	case APIC_ID:
		atomic_store_explicit(&apic->id, value & APIC_LDR_MASK, memory_order_release);
		break;
	case APIC_TASKPRI:
		apic->tpr = value & 0xff;
		break;
	case APIC_EOI:
		virq_lapic_eoi(apic, apic->ops->eoi_wanted);
		break;
	case APIC_LDR:
		atomic_store_explicit(&apic->ldr, value & APIC_LDR_MASK, memory_order_release);
		break;
	case APIC_DFR:
		atomic_store_explicit(&apic->dfr, value | APIC_DFR_RESERVED, memory_order_release);
		break;
	case APIC_SPIV:
		virq_lapic_write_spiv(apic, value);
		break;
	case APIC_ICR:
		virq_lapic_write_icr(apic, value);
		break;
	case APIC_ICR2:
		apic->icr_high = value & APIC_ICR2_DEST_MASK;
		break;
	default:
		/* ESR (KVM ignores xAPIC ESR writes), read-only registers, the timer, holes. */
		break;
	}
}
