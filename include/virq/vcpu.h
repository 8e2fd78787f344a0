/* SPDX-License-Identifier: MIT */
/*
 * virq/vcpu.h - the native API of a vCPU.
 *
 * A vCPU runs its micro-op guest program (docs/guest.md) on the thread that calls virq_vcpu_run(), as
 * KVM_RUN does; exits come back through the vCPU's struct kvm_run. Other threads may inject interrupts
 * at any time; a running vCPU notices them at its next op boundary, a halted one is woken.
 */
#ifndef VIRQ_VCPU_H
#define VIRQ_VCPU_H

#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct virq_vm;
struct virq_vcpu;

/* Drop the vCPU (and its VM reference). It must not be inside virq_vcpu_run(). */
void virq_vcpu_put(struct virq_vcpu *vcpu);

unsigned virq_vcpu_id(const struct virq_vcpu *vcpu);

/* The shared kvm_run area (VIRQ_VCPU_RUN_SIZE bytes, valid until the vCPU is put). */
#define VIRQ_VCPU_RUN_SIZE 12288
#define VIRQ_VCPU_PIO_OFFSET 4096
struct kvm_run *virq_vcpu_kvm_run(struct virq_vcpu *vcpu);

/**
 * virq_vcpu_run() - KVM_RUN: run the guest until it needs the VMM.
 * Returns 0 with run->exit_reason KVM_EXIT_MMIO, KVM_EXIT_IO or KVM_EXIT_SHUTDOWN; -EINTR with
 * KVM_EXIT_INTR when run->immediate_exit is set (at entry or at any op boundary) or a signal interrupted
 * a halt; -ENOEXEC when no program is loaded; -EBUSY if another thread is already running this vCPU.
 * Context: the calling thread becomes the vCPU thread until it returns. Signals are blocked while the
 * guest runs and unblocked while it is halted, so a signal always ends a halt (KVM_EXIT_INTR).
 */
int virq_vcpu_run(struct virq_vcpu *vcpu);

/**
 * virq_vcpu_load_guest() - parse and load a program; the vCPU restarts at "main:".
 * Returns 0, -EINVAL (parse error: the message with its line is copied to @err, if not NULL),
 * -EBUSY (inside virq_vcpu_run), -ENOMEM.
 */
int virq_vcpu_load_guest(struct virq_vcpu *vcpu, const char *text, char *err, size_t err_len);

/* The message of the last failed virq_guest_load() on this thread ("" if none). */
const char *virq_guest_last_error(void);

/* KVM_GET_MP_STATE / KVM_SET_MP_STATE (x86 states; -EINVAL for an unknown state). */
int virq_vcpu_get_mp_state(struct virq_vcpu *vcpu, struct kvm_mp_state *state);
int virq_vcpu_set_mp_state(struct virq_vcpu *vcpu, const struct kvm_mp_state *state);

/* What the guest saw of one vector on this vCPU. */
struct virq_vector_counts {
	uint64_t accepted;     /* requests that set IRR */
	uint64_t coalesced;    /* requests that found IRR already set */
	uint64_t delivered;    /* taken by the guest (IRR -> ISR) */
	uint64_t handled;      /* handler entries */
	uint64_t unhandled;    /* taken without a handler (the vCPU shut down) */
	uint64_t eoi;          /* EOIs that retired the vector */
	uint64_t last_entry_ns; /* CLOCK_MONOTONIC time of the last handler entry */
	uint64_t latency_max_ns;
	uint64_t latency_p50_ns; /* raise -> handler entry, from a log-linear histogram (±6%) */
	uint64_t latency_p99_ns;
};
int virq_vcpu_vector_counts(struct virq_vcpu *vcpu, uint8_t vector, struct virq_vector_counts *out);

/*
 * What an Arm guest saw of one GIC INTID (0..1019, 8192..65535) on this vCPU. Counts come from the guest
 * (handled, unhandled, last entry); acked/eoi/deactivated/spurious are the vCPU's GIC CPU interface totals
 * over all INTIDs, and the latency (raise -> handler entry) is over all INTIDs of the vCPU too.
 * Returns 0, -EINVAL (INTID out of range), -ENODEV (not a vCPU of an arm64 VM).
 */
struct virq_intid_counts {
	uint64_t handled;
	uint64_t unhandled;
	uint64_t last_entry_ns;
	uint64_t cpu_acked, cpu_eoi, cpu_deactivated, cpu_spurious; /* the vCPU's CPU interface, all INTIDs */
	uint64_t latency_max_ns, latency_p50_ns, latency_p99_ns;   /* all INTIDs of this vCPU */
};
int virq_vcpu_intid_counts(struct virq_vcpu *vcpu, uint32_t intid, struct virq_intid_counts *out);

/* EOIs the guest wrote with nothing in service: ignored, as KVM does, and counted here. */
uint64_t virq_vcpu_spurious_eoi(struct virq_vcpu *vcpu);

/* Halt accounting (KVM's halt-polling statistics). */
struct virq_halt_counts {
	uint64_t halts;            /* hlt ops that found nothing deliverable */
	uint64_t poll_success;     /* ended by an interrupt while polling */
	uint64_t poll_fail;        /* polled the whole budget, then slept */
	uint64_t sleeps;           /* waits in the kernel */
	uint64_t wakeups;          /* wake-up writes other threads made */
	uint64_t poll_ns;          /* current adaptive budget */
};
int virq_vcpu_halt_counts(struct virq_vcpu *vcpu, struct virq_halt_counts *out);

/* The vCPU behind a vCPU handle (borrowed, valid while the handle is open); NULL with errno otherwise. */
struct virq_vcpu *virq_vcpu_of_fd(int vcpu_fd);

#ifdef __cplusplus
}
#endif

#endif /* VIRQ_VCPU_H */
