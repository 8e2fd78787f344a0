/* SPDX-License-Identifier: MIT */
/*
 * ioapic.c - the 24-pin I/O APIC of KVM_CREATE_IRQCHIP, after arch/x86/kvm/ioapic.c (82093AA datasheet;
 * reference kvm-x86.md §2.1-2.4, §1.4 results, §1.8 resample-on-unmask).
 *
 * Models: IOREGSEL/IOWIN and the indirect ID, version, arbitration and redirection registers (read-only
 * remote IRR and delivery status, switch-to-edge clears remote IRR, out-of-range index reads all-ones:
 * CVE-2013-1798); per-pin source bitmaps; the pin state machine with KVM_IRQ_LINE_STATUS results; EOI by
 * vector over all pins with ack notifiers run unlocked; the successive-EOI storm guard (10,000 / HZ/100);
 * resample-on-unmask; KVM_GET/SET_IRQCHIP; the set of vectors whose EOIs the IOAPIC wants.
 *
 * Omits: the RTC (GSI 8) coalescing tracker, which needs per-vCPU delivery maps (GSI 8 behaves as any
 * other pin); mask notifiers (in-kernel PIT only); directed EOI (never enabled by our LAPIC); per-vCPU
 * EOI-exit bitmaps (eoi_vectors is one VM-wide set, which is why a destination change cannot lose an EOI);
 * AVIC lazy EOI.
 *
 * Locking: ioapic->lock protects all state but the stats and eoi_vectors (atomics). It is held across
 * ops->deliver (KVM holds its spinlock there too; remote IRR must be set before an EOI can come in) and
 * ops->has_resampler; it is dropped around ops->ack, which may re-enter virq_ioapic_set_irq, and around
 * ops->arm_timer. After an unlocked ack the pin is re-read, because the guest or a source may have changed
 * it meanwhile, exactly as in KVM.
 */
#include "irqchip/x86/ioapic.h"

#include <errno.h>
#include <time.h>
#include <limits.h>
#include <string.h>

#include "irqchip/x86/ioapic_regs.h"

_Static_assert(sizeof(union virq_ioapic_redirect_entry) == 8, "redirection entry is 64 bits");
_Static_assert(VIRQ_IOAPIC_NUM_PINS == KVM_IOAPIC_NUM_PINS, "24 pins as in kvm_ioapic_state");

#define VIRQ_IOAPIC_DR_BITS (1ull << 12)  /* delivery status */
#define VIRQ_IOAPIC_RIRR_BITS (1ull << 14) /* remote IRR */

static inline void virq_ioapic_stat(_Atomic uint64_t *counter)
{
	atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
}

static inline bool virq_ioapic_pin_level(const struct virq_ioapic *ioapic, unsigned pin)
{
	return ioapic->redirtbl[pin].fields.trig_mode == IOAPIC_LEVEL_TRIG;
}

static void virq_ioapic_reset_locked(struct virq_ioapic *ioapic)
{
	for (unsigned pin = 0; pin < VIRQ_IOAPIC_NUM_PINS; pin++)
		ioapic->redirtbl[pin].fields.mask = 1;
	ioapic->base_address = VIRQ_IOAPIC_BASE;
	ioapic->ioregsel = 0;
	ioapic->irr = 0;
	ioapic->irr_delivered = 0;
	ioapic->id = 0;
	memset(ioapic->successive_eoi, 0, sizeof(ioapic->successive_eoi));
}

int virq_ioapic_init(struct virq_ioapic *ioapic, const struct virq_ioapic_ops *ops, void *opaque)
{
	int err;

	memset(ioapic, 0, sizeof(*ioapic));
	ioapic->ops = ops;
	ioapic->opaque = opaque;
	err = pthread_mutex_init(&ioapic->lock, NULL);
	if (err)
		return -err;
	virq_ioapic_reset_locked(ioapic);
	return 0;
}

void virq_ioapic_destroy(struct virq_ioapic *ioapic)
{
	pthread_mutex_destroy(&ioapic->lock);
}

/* KVM's kvm_ioapic_scan_entry() criterion, VM-wide: level pins and pins with an ack notifier. */
static void virq_ioapic_update_eoi_vectors_locked(struct virq_ioapic *ioapic)
{
	uint64_t v[4] = { 0 };

	for (unsigned pin = 0; pin < VIRQ_IOAPIC_NUM_PINS; pin++) {
		unsigned vec = ioapic->redirtbl[pin].fields.vector;

		if (virq_ioapic_pin_level(ioapic, pin) ||
		    (ioapic->ops->has_resampler && ioapic->ops->has_resampler(ioapic->opaque, pin)))
			v[vec >> 6] |= 1ull << (vec & 63);
	}
	for (unsigned i = 0; i < 4; i++)
		atomic_store_explicit(&ioapic->eoi_vectors[i], v[i], memory_order_release);
}

static uint64_t virq_ioapic_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* KVM's ioapic_service(): -1 when masked or awaiting EOI, else the APIC bus result. */
static int virq_ioapic_service_locked(struct virq_ioapic *ioapic, unsigned pin)
{
	union virq_ioapic_redirect_entry *e = &ioapic->redirtbl[pin];
	struct virq_apic_irq irq = {
		.dest_id = e->fields.dest_id,
		.vector = e->fields.vector,
		.delivery_mode = e->fields.delivery_mode,
		.shorthand = VIRQ_APIC_SH_NONE,
		.dest_logical = e->fields.dest_mode,
		.trigger_level = e->fields.trig_mode == IOAPIC_LEVEL_TRIG,
		.level = true,
		.raise_ns = ioapic->raise_ns[pin],
	};
	int ret;

	if (e->fields.mask || (irq.trigger_level && e->fields.remote_irr)) {
		virq_ioapic_stat(&ioapic->stats[pin].masked);
		return -1;
	}
	if (!irq.trigger_level)
		ioapic->irr_delivered |= 1u << pin;
	ret = ioapic->ops->deliver(ioapic->opaque, &irq);
	/* [Q] -1 ("nobody matched") is non-zero too and sets remote IRR, as in KVM. */
	if (ret && irq.trigger_level)
		e->fields.remote_irr = 1;
	if (ret > 0)
		virq_ioapic_stat(&ioapic->stats[pin].delivered);
	return ret;
}

/* KVM's ioapic_set_irq(): @line is the OR of the pin's sources. */
static int virq_ioapic_set_line_locked(struct virq_ioapic *ioapic, unsigned pin, bool line)
{
	uint32_t mask = 1u << pin, old_irr = ioapic->irr;

	if (!line) {
		ioapic->irr &= ~mask;
		return 1; /* [Q] a de-assert reports "delivered" */
	}
	ioapic->irr |= mask;
	if (!virq_ioapic_pin_level(ioapic, pin)) {
		ioapic->irr_delivered &= ~mask;
		/* An edge while IRR is still set (line never lowered) is coalesced. */
		if (old_irr & mask) {
			virq_ioapic_stat(&ioapic->stats[pin].coalesced);
			return 0;
		}
	}
	return virq_ioapic_service_locked(ioapic, pin);
}

int virq_ioapic_set_irq(struct virq_ioapic *ioapic, unsigned pin, unsigned source, bool level)
{
	unsigned long bit;
	bool was_high, line;
	int ret;

	if (pin >= VIRQ_IOAPIC_NUM_PINS || source >= sizeof(unsigned long) * CHAR_BIT)
		return -EINVAL;
	bit = 1ul << source;
	pthread_mutex_lock(&ioapic->lock);
	was_high = ioapic->sources[pin] != 0;
	if (level && !was_high)
		ioapic->raise_ns[pin] = virq_ioapic_now_ns(); /* carried to the handler for latency */
	if (level)
		ioapic->sources[pin] |= bit;
	else
		ioapic->sources[pin] &= ~bit;
	line = ioapic->sources[pin] != 0;
	if (line && (!was_high || virq_ioapic_pin_level(ioapic, pin)))
		virq_ioapic_stat(&ioapic->stats[pin].asserted);
	ret = virq_ioapic_set_line_locked(ioapic, pin, line);
	pthread_mutex_unlock(&ioapic->lock);
	return ret;
}

/*
 * After the ack notifiers of @pin: KVM's kvm_ioapic_update_eoi_one() tail. Returns true when the storm
 * guard wants the timer armed.
 */
static bool virq_ioapic_eoi_pin_locked(struct virq_ioapic *ioapic, unsigned pin, bool level)
{
	union virq_ioapic_redirect_entry *e = &ioapic->redirtbl[pin];

	if (!level)
		return false;
	e->fields.remote_irr = 0;
	if (e->fields.mask || !(ioapic->irr & (1u << pin))) {
		ioapic->successive_eoi[pin] = 0;
		return false;
	}
	/* A guest that never quiets the device would livelock; real hardware re-injects more slowly. */
	if (++ioapic->successive_eoi[pin] == VIRQ_IOAPIC_SUCCESSIVE_EOI_LIMIT) {
		ioapic->successive_eoi[pin] = 0;
		virq_ioapic_stat(&ioapic->stats[pin].storm_delays);
		if (ioapic->storm_timer_armed)
			return false; /* schedule_delayed_work() on a pending work is a no-op */
		ioapic->storm_timer_armed = true;
		return true;
	}
	virq_ioapic_service_locked(ioapic, pin);
	return false;
}

void virq_ioapic_eoi(struct virq_ioapic *ioapic, uint8_t vector, bool level)
{
	bool arm = false;

	pthread_mutex_lock(&ioapic->lock);
	for (unsigned pin = 0; pin < VIRQ_IOAPIC_NUM_PINS; pin++) {
		if (ioapic->redirtbl[pin].fields.vector != vector)
			continue;
		virq_ioapic_stat(&ioapic->stats[pin].eoi);
		/*
		 * Unlocked: a resampler de-asserts and its user may re-assert from inside the notifier. Remote
		 * IRR is cleared only afterwards, so a re-assert meanwhile stays in IRR and is serviced below.
		 */
		pthread_mutex_unlock(&ioapic->lock);
		if (ioapic->ops->ack)
			ioapic->ops->ack(ioapic->opaque, pin);
		pthread_mutex_lock(&ioapic->lock);
		arm |= virq_ioapic_eoi_pin_locked(ioapic, pin, level);
	}
	pthread_mutex_unlock(&ioapic->lock);
	if (arm)
		ioapic->ops->arm_timer(ioapic->opaque, VIRQ_IOAPIC_STORM_DELAY_NS);
}

bool virq_ioapic_wants_eoi(struct virq_ioapic *ioapic, uint8_t vector)
{
	return atomic_load_explicit(&ioapic->eoi_vectors[vector >> 6], memory_order_acquire) &
	       (1ull << (vector & 63));
}

void virq_ioapic_notifiers_changed(struct virq_ioapic *ioapic)
{
	pthread_mutex_lock(&ioapic->lock);
	virq_ioapic_update_eoi_vectors_locked(ioapic);
	pthread_mutex_unlock(&ioapic->lock);
}

/* KVM's kvm_ioapic_eoi_inject_work(). */
void virq_ioapic_storm_timer(struct virq_ioapic *ioapic)
{
	pthread_mutex_lock(&ioapic->lock);
	ioapic->storm_timer_armed = false;
	for (unsigned pin = 0; pin < VIRQ_IOAPIC_NUM_PINS; pin++) {
		if (!virq_ioapic_pin_level(ioapic, pin))
			continue;
		if ((ioapic->irr & (1u << pin)) && !ioapic->redirtbl[pin].fields.remote_irr)
			virq_ioapic_service_locked(ioapic, pin);
	}
	pthread_mutex_unlock(&ioapic->lock);
}

static uint32_t virq_ioapic_read_indirect_locked(const struct virq_ioapic *ioapic)
{
	uint32_t index;
	uint64_t entry = ~0ull;

	switch (ioapic->ioregsel) {
	case IOAPIC_REG_VERSION:
		return VIRQ_IOAPIC_VERSION;
	case IOAPIC_REG_APIC_ID:
	case IOAPIC_REG_ARB_ID:
		return (ioapic->id & IOAPIC_ID_MASK) << IOAPIC_ID_SHIFT;
	default:
		/* Unsigned wrap sends IOREGSEL 0x03-0x0f out of range too: they read all-ones (KVM). */
		index = (ioapic->ioregsel - IOAPIC_REG_REDTBL_BASE) >> 1;
		if (index < VIRQ_IOAPIC_NUM_PINS)
			entry = ioapic->redirtbl[index].bits;
		return (ioapic->ioregsel & 1) ? (uint32_t)(entry >> 32) : (uint32_t)entry;
	}
}

/*
 * KVM re-evaluates a level pin after every redirection write, not only on unmask: IRR set, unmasked and
 * remote IRR clear means the line was left pending. Its IRR may be stale (an IRQF_ONESHOT guest acks the
 * device before unmasking), so with a resampler the pending state is cleared and the resampler told to
 * re-check the device, instead of injecting a possibly spurious interrupt (§1.8).
 */
static void virq_ioapic_write_recheck_locked(struct virq_ioapic *ioapic, unsigned pin)
{
	const union virq_ioapic_redirect_entry *e = &ioapic->redirtbl[pin];

	if (!virq_ioapic_pin_level(ioapic, pin) || !(ioapic->irr & (1u << pin)) || e->fields.mask ||
	    e->fields.remote_irr)
		return;
	if (!ioapic->ops->has_resampler || !ioapic->ops->has_resampler(ioapic->opaque, pin)) {
		virq_ioapic_service_locked(ioapic, pin);
		return;
	}
	ioapic->irr &= ~(1u << pin);
	pthread_mutex_unlock(&ioapic->lock);
	if (ioapic->ops->resample)
		ioapic->ops->resample(ioapic->opaque, pin);
	pthread_mutex_lock(&ioapic->lock);
}

static void virq_ioapic_write_redirection_locked(struct virq_ioapic *ioapic, unsigned pin, uint32_t value)
{
	union virq_ioapic_redirect_entry *e = &ioapic->redirtbl[pin];
	uint64_t ro = e->bits & (VIRQ_IOAPIC_DR_BITS | VIRQ_IOAPIC_RIRR_BITS);

	if (ioapic->ioregsel & 1)
		e->bits = (e->bits & 0xffffffffull) | ((uint64_t)value << 32);
	else
		e->bits = (e->bits & ~0xffffffffull) | value;
	e->bits = (e->bits & ~(VIRQ_IOAPIC_DR_BITS | VIRQ_IOAPIC_RIRR_BITS)) | ro;
	/* Linux and Xen switch a pin to edge to emulate an EOI on IOAPICs without an EOI register. */
	if (e->fields.trig_mode == IOAPIC_EDGE_TRIG)
		e->fields.remote_irr = 0;
	virq_ioapic_update_eoi_vectors_locked(ioapic);
	virq_ioapic_write_recheck_locked(ioapic, pin);
}

static void virq_ioapic_write_indirect_locked(struct virq_ioapic *ioapic, uint32_t value)
{
	uint32_t index;

	switch (ioapic->ioregsel) {
	case IOAPIC_REG_VERSION:
	case IOAPIC_REG_ARB_ID:
		break; /* read-only */
	case IOAPIC_REG_APIC_ID:
		ioapic->id = (value >> IOAPIC_ID_SHIFT) & IOAPIC_ID_MASK;
		break;
	default:
		/* Guest-controlled index: bounds-check before touching the table (CVE-2013-1798). */
		index = (ioapic->ioregsel - IOAPIC_REG_REDTBL_BASE) >> 1;
		if (index < VIRQ_IOAPIC_NUM_PINS)
			virq_ioapic_write_redirection_locked(ioapic, index, value);
		break;
	}
}

uint64_t virq_ioapic_mmio_read(struct virq_ioapic *ioapic, uint64_t offset, unsigned len)
{
	uint32_t result = 0;

	pthread_mutex_lock(&ioapic->lock);
	switch (offset & 0xff) {
	case IOAPIC_REG_SELECT:
		result = ioapic->ioregsel;
		break;
	case IOAPIC_REG_WINDOW:
		result = virq_ioapic_read_indirect_locked(ioapic);
		break;
	default:
		break;
	}
	pthread_mutex_unlock(&ioapic->lock);
	switch (len) {
	case 1:
		return result & 0xff;
	case 2:
		return result & 0xffff;
	case 4:
	case 8:
		return result;
	default:
		return 0;
	}
}

void virq_ioapic_mmio_write(struct virq_ioapic *ioapic, uint64_t offset, unsigned len, uint64_t value)
{
	uint32_t data;

	switch (len) {
	case 1:
		data = (uint8_t)value;
		break;
	case 2:
		data = (uint16_t)value;
		break;
	case 4:
	case 8:
		data = (uint32_t)value; /* an 8-byte write uses the low 32 bits */
		break;
	default:
		return;
	}
	pthread_mutex_lock(&ioapic->lock);
	switch (offset & 0xff) {
	case IOAPIC_REG_SELECT:
		ioapic->ioregsel = data & 0xff;
		break;
	case IOAPIC_REG_WINDOW:
		virq_ioapic_write_indirect_locked(ioapic, data);
		break;
	default:
		break;
	}
	pthread_mutex_unlock(&ioapic->lock);
}

void virq_ioapic_get_state(struct virq_ioapic *ioapic, struct kvm_ioapic_state *state)
{
	memset(state, 0, sizeof(*state));
	pthread_mutex_lock(&ioapic->lock);
	state->base_address = ioapic->base_address;
	state->ioregsel = ioapic->ioregsel;
	state->id = ioapic->id;
	/* Edge pins already delivered are not "pending" for the saved state. */
	state->irr = ioapic->irr & ~ioapic->irr_delivered;
	for (unsigned pin = 0; pin < VIRQ_IOAPIC_NUM_PINS; pin++)
		state->redirtbl[pin].bits = ioapic->redirtbl[pin].bits;
	pthread_mutex_unlock(&ioapic->lock);
}

void virq_ioapic_set_state(struct virq_ioapic *ioapic, const struct kvm_ioapic_state *state)
{
	pthread_mutex_lock(&ioapic->lock);
	ioapic->base_address = state->base_address;
	ioapic->ioregsel = state->ioregsel;
	ioapic->id = state->id;
	for (unsigned pin = 0; pin < VIRQ_IOAPIC_NUM_PINS; pin++)
		ioapic->redirtbl[pin].bits = state->redirtbl[pin].bits;
	ioapic->irr = 0;
	ioapic->irr_delivered = 0;
	virq_ioapic_update_eoi_vectors_locked(ioapic);
	/* KVM replays the saved IRR as asserts, so pending level lines are serviced again. */
	for (unsigned pin = 0; pin < VIRQ_IOAPIC_NUM_PINS; pin++)
		if (state->irr & (1u << pin))
			virq_ioapic_set_line_locked(ioapic, pin, true);
	pthread_mutex_unlock(&ioapic->lock);
}
