/* SPDX-License-Identifier: MIT */
/*
 * ioapic.h - the 24-pin I/O APIC that KVM_CREATE_IRQCHIP creates at 0xfec00000 (arch/x86/kvm/ioapic.c).
 *
 * Threads and locking: all state sits under ioapic->lock, taken by any thread that sets a pin (irqfd
 * poller, KVM_IRQ_LINE callers) and by vCPU threads (MMIO, EOI broadcast). The lock is dropped around the
 * ack notifier (ops->ack), so that a resampler which re-asserts the line from inside the notifier cannot
 * deadlock, exactly as in KVM. As in KVM it is held across ops->deliver (so remote IRR is set before an
 * EOI can race in) and across ops->has_resampler: neither may take the IOAPIC lock. ops->arm_timer is
 * called with the lock dropped.
 *
 * Line model: each pin keeps a bitmap of sources (KVM_USERSPACE_IRQ_SOURCE_ID 0, resample irqfds 1); the
 * line is high when any source is.
 */
#ifndef VIRQ_IRQCHIP_X86_IOAPIC_H
#define VIRQ_IRQCHIP_X86_IOAPIC_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "irqchip/x86/lapic.h"

#define VIRQ_IOAPIC_BASE 0xfec00000ull
#define VIRQ_IOAPIC_SIZE 0x100ull
#define VIRQ_IOAPIC_NUM_PINS 24
#define VIRQ_IOAPIC_VERSION 0x00170011u
/* Consecutive EOIs that find the line still high before KVM delays re-injection (storm guard). */
#define VIRQ_IOAPIC_SUCCESSIVE_EOI_LIMIT 10000
#define VIRQ_IOAPIC_STORM_DELAY_NS 10000000ull /* HZ/100 */

enum virq_irq_source {
	VIRQ_IRQ_SOURCE_USERSPACE = 0, /* KVM_IRQ_LINE and non-resampling irqfds */
	VIRQ_IRQ_SOURCE_RESAMPLE = 1,  /* every resampling irqfd */
};

struct virq_ioapic;

/* One redirection-table entry, laid out as KVM's union kvm_ioapic_redirect_entry (kernel-internal). */
union virq_ioapic_redirect_entry {
	uint64_t bits;
	struct {
		uint8_t vector;
		uint8_t delivery_mode : 3;
		uint8_t dest_mode : 1;       /* 1 = logical */
		uint8_t delivery_status : 1; /* read-only, always 0 */
		uint8_t polarity : 1;        /* stored, ignored */
		uint8_t remote_irr : 1;      /* read-only */
		uint8_t trig_mode : 1;       /* 1 = level */
		uint8_t mask : 1;
		uint8_t reserve : 7;
		uint8_t reserved[4];
		uint8_t dest_id;
	} fields;
};

/* What the IOAPIC needs from the engine; each gets the opaque pointer given at init. */
struct virq_ioapic_ops {
	/*
	 * Deliver a message on the APIC bus; returns KVM's slow-path result (-1 none, else sum). Called with
	 * the IOAPIC lock held (as KVM does): must not take it.
	 */
	int (*deliver)(void *opaque, const struct virq_apic_irq *irq);
	/* Ack notifiers of @pin (resamplers): called with the IOAPIC lock dropped. */
	void (*ack)(void *opaque, unsigned pin);
	/*
	 * Resample on unmask: tell @pin's resamplers to re-check the device, without de-asserting the line
	 * (KVM's kvm_notify_irqfd_resampler). Called with the IOAPIC lock dropped.
	 */
	void (*resample)(void *opaque, unsigned pin);
	/*
	 * Does @pin's GSI have a resampler? (resample-on-unmask decides between notify and inject; also puts
	 * the pin's vector in eoi_vectors). Called with the IOAPIC lock held: must not take it.
	 */
	bool (*has_resampler)(void *opaque, unsigned pin);
	/* Arm a one-shot timer: call virq_ioapic_storm_timer() after @delay_ns (any thread). */
	void (*arm_timer)(void *opaque, uint64_t delay_ns);
};

/* Per-pin counters (relaxed atomics, any thread may read). */
struct virq_ioapic_pin_stats {
	_Atomic uint64_t asserted;   /* line raised (any source, 0 -> 1 of the line or level re-assert) */
	_Atomic uint64_t delivered;  /* serviced: a message reached at least one LAPIC */
	_Atomic uint64_t coalesced;  /* edge assert while IRR already set */
	_Atomic uint64_t masked;     /* assert refused: pin masked or remote IRR set (stays pending if level) */
	_Atomic uint64_t eoi;        /* EOI broadcasts that matched the pin */
	_Atomic uint64_t storm_delays; /* times the 10,000-EOI storm guard delayed re-injection */
};

struct virq_ioapic {
	const struct virq_ioapic_ops *ops; /* [I] */
	void *opaque;                      /* [I] */
	pthread_mutex_t lock;              /* protects every field below not tagged otherwise */

	uint64_t base_address;
	uint32_t ioregsel;
	uint32_t id;
	uint32_t irr;                      /* pin requests (one bit per pin) */
	uint32_t irr_delivered;            /* edge pins whose IRR bit was already delivered */
	unsigned long sources[VIRQ_IOAPIC_NUM_PINS]; /* per pin: bitmap of asserted sources */
	union virq_ioapic_redirect_entry redirtbl[VIRQ_IOAPIC_NUM_PINS];
	uint32_t successive_eoi[VIRQ_IOAPIC_NUM_PINS];
	uint64_t raise_ns[VIRQ_IOAPIC_NUM_PINS];      /* when each line last went high (CLOCK_MONOTONIC) */
	bool storm_timer_armed;

	/* [A] vectors the IOAPIC wants EOIs for (level pins and pins with ack notifiers), any destination. */
	_Atomic uint64_t eoi_vectors[4];

	struct virq_ioapic_pin_stats stats[VIRQ_IOAPIC_NUM_PINS];
};

/* Reset state: all pins masked, id 0, irr 0, IOREGSEL 0. Returns 0 or -errno. */
int virq_ioapic_init(struct virq_ioapic *ioapic, const struct virq_ioapic_ops *ops, void *opaque);
void virq_ioapic_destroy(struct virq_ioapic *ioapic);

/*
 * Set @source's level on @pin. Returns KVM_IRQ_LINE_STATUS's per-chip result: 1 de-assert or delivered,
 * 0 coalesced (edge assert with IRR set), -1 masked / remote IRR set / nobody accepted; -EINVAL for a bad
 * pin. Any thread; takes the lock.
 */
int virq_ioapic_set_irq(struct virq_ioapic *ioapic, unsigned pin, unsigned source, bool level);

/*
 * EOI broadcast of @vector from a LAPIC (vCPU thread): for every pin with this vector run the ack
 * notifiers (lock dropped), then for level EOIs clear remote IRR and re-service a pin whose line is still
 * high, subject to the storm guard.
 */
void virq_ioapic_eoi(struct virq_ioapic *ioapic, uint8_t vector, bool level);

/* Lock-free: does the IOAPIC want EOIs of @vector? */
bool virq_ioapic_wants_eoi(struct virq_ioapic *ioapic, uint8_t vector);

/* Recompute eoi_vectors after an ack notifier was added or removed on @pin (any thread). */
void virq_ioapic_notifiers_changed(struct virq_ioapic *ioapic);

/* The storm-guard timer fired: re-service pins with IRR set. Any thread. */
void virq_ioapic_storm_timer(struct virq_ioapic *ioapic);

/* MMIO within the 0x100-byte window; @len is 1, 2, 4 or 8. Any thread. */
uint64_t virq_ioapic_mmio_read(struct virq_ioapic *ioapic, uint64_t offset, unsigned len);
void virq_ioapic_mmio_write(struct virq_ioapic *ioapic, uint64_t offset, unsigned len, uint64_t value);

/* KVM_GET_IRQCHIP / KVM_SET_IRQCHIP for KVM_IRQCHIP_IOAPIC. */
void virq_ioapic_get_state(struct virq_ioapic *ioapic, struct kvm_ioapic_state *state);
void virq_ioapic_set_state(struct virq_ioapic *ioapic, const struct kvm_ioapic_state *state);

#endif /* VIRQ_IRQCHIP_X86_IOAPIC_H */
