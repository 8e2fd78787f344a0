/* SPDX-License-Identifier: MIT */
/*
 * vcpu.h - the engine's vCPU: a LAPIC, a micro-op guest CPU, the kvm_run area and the wake-up protocol.
 *
 * Making a vCPU notice an interrupt (virq_vcpu_kick) never uses a signal (55 µs here): the injector sets
 * IRR, then raises `event`; a running vCPU sees `event` at its next op boundary; a halted one sleeps in
 * epoll_pwait() on wake_fd and is woken by one eventfd write, done only by the injector that moves `mode` from
 * HALTED to WAKING (so one wake-up costs one write, however many injectors race).
 *
 *   injector                              vCPU thread (hlt)
 *   IRR |= bit                            mode = HALTED            (seq_cst)
 *   event = 1                  (seq_cst)  if (event) -> run
 *   if (CAS mode HALTED->WAKING)          epoll_pwait(wake_fd)
 *       write(wake_fd)
 * Both sides store then load with seq_cst, so at least one of them sees the other's store: no lost wake-up.
 */
#ifndef VIRQ_ENGINE_VCPU_H
#define VIRQ_ENGINE_VCPU_H

#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "engine/posted.h"
#include "guest/cpu.h"
#include "guest/program.h"
#include "irqchip/x86/lapic.h"
#include "virq/vcpu.h"

struct virq_vm;

enum virq_vcpu_mode {
	VIRQ_VCPU_OUTSIDE = 0,  /* not in KVM_RUN */
	VIRQ_VCPU_RUNNING,      /* executing ops; checks `event` at op boundaries */
	VIRQ_VCPU_HALTED,       /* about to sleep or sleeping on wake_fd */
	VIRQ_VCPU_WAKING,       /* an injector claimed the wake-up and writes wake_fd */
};

struct virq_vcpu {
	/* First: the descriptor inside must be 64-byte aligned (vCPUs come from aligned_alloc). Used only
	 * when has_lapic (x86 with an in-kernel irqchip; posting is x86-only). Owner: the KVM_RUN thread;
	 * posters touch only the descriptor (engine/posted.h). */
	struct virq_posted_vcpu posted;
	struct virq_vm *vm;                    /* [I] holds a reference */
	unsigned id;                           /* [I] = APIC ID */
	struct virq_lapic lapic;               /* see irqchip/x86/lapic.h for its own tags */
	bool has_lapic;                        /* [I] created after KVM_CREATE_IRQCHIP */

	_Atomic int mode;                      /* [A] enum virq_vcpu_mode */
	_Atomic bool event;                    /* [A] something to evaluate at the next op boundary */
	_Atomic bool in_run;                   /* [A] a thread is inside virq_vcpu_run */
	_Atomic uint32_t mp_state;             /* [A] KVM_MP_STATE_* */
	int wake_fd;                           /* [I] eventfd */
	int halt_epfd;                         /* [I] epoll set: wake_fd (edge-triggered) and the VM's irqfds */

	struct kvm_run *run;                   /* [I] VIRQ_VCPU_RUN_SIZE bytes */
	pthread_mutex_t program_lock;          /* serialises program loads against each other */
	struct virq_guest_program *program;    /* [V] (loads happen only outside run) */
	struct virq_guest_cpu cpu;             /* [V] */
	enum {
		VIRQ_EXIT_PENDING_NONE,
		VIRQ_EXIT_PENDING_WRITE,       /* an MMIO write or port output the VMM has now seen */
		VIRQ_EXIT_PENDING_MMIO_READ,   /* the op at pc waits for run->mmio.data */
		VIRQ_EXIT_PENDING_PIO_IN,      /* the op at pc waits for the port input data */
	} exit_pending;                        /* [V] */
	bool shut_down;                        /* [V] */
	bool reevaluate;                       /* [V] IF, PPR or ISR changed: look at IRR again */
	/* [V] enum virq_vcpu_apicv; written by virq_vcpu_set_apicv holding in_run, read by the run loop. */
	int apicv_mode;

	uint64_t halt_poll_ns;                 /* [V] adaptive budget */
	struct {
		_Atomic uint64_t halts, poll_success, poll_fail, sleeps, wakeups;
	} halt_stats;
};

/* The epoll cookie of wake_fd in halt_epfd (the irqfds there carry irqfd_watch.c cookies). */
#define VIRQ_VCPU_WAKE_COOKIE UINT32_MAX

/* The vCPU whose KVM_RUN the calling thread is inside, or NULL. */
extern _Thread_local struct virq_vcpu *virq_vcpu_current;

/* Make the vCPU notice new work (see the protocol above). Any thread. */
void virq_vcpu_kick(struct virq_vcpu *vcpu);

/* vcpu_halt.c: block in hlt until an interrupt is deliverable or the VMM stops the vCPU.
 * Returns 0 when woken, -EINTR when run->immediate_exit or a signal ended the wait. */
int virq_vcpu_halt(struct virq_vcpu *vcpu, const sigset_t *wait_mask);
/* Block while the vCPU waits for INIT/SIPI or KVM_SET_MP_STATE(RUNNABLE); same returns. */
int virq_vcpu_wait_runnable(struct virq_vcpu *vcpu, const sigset_t *wait_mask);

/* vcpu.c */
/* vCPU thread: consume `event` and say whether an interrupt can be taken now (IF set, vector above PPR). */
bool virq_vcpu_has_deliverable(struct virq_vcpu *vcpu);
/* The LAPIC's question "does the IOAPIC want this vector's EOI?" (opaque = the vCPU). */
bool virq_vcpu_eoi_wanted(void *opaque, uint8_t vector);
/* Free a vCPU; only the VM's destruction does this (vCPU handles only hold VM references). */
void virq_vcpu_destroy(struct virq_vcpu *vcpu);

uint64_t virq_now_ns(void);

/*
 * Posted interrupts (engine/posted.h), x86 vCPUs with a LAPIC only. The process-wide pCPU buckets and
 * their notification handler; virq_posted_engine_install() puts the handler in the bypass notification
 * slot (once; retried while another handler holds the slot, e.g. a test's own): 0 or -errno.
 */
struct virq_posted_pcpus *virq_posted_engine_pcpus(void);
int virq_posted_engine_install(void);
/* vCPU thread at an op boundary: fold posted requests into IRR (one relaxed load when ON is clear).
 * Returns whether anything was taken (then the caller must re-evaluate). In APICv mode AUTO, the first
 * fold that takes something turns software posting on (below). */
bool virq_vcpu_fold_posted(struct virq_vcpu *vcpu);

/*
 * APICv mode: whether software deliveries to this vCPU (irqfd injection, KVM_SIGNAL_MSI, IOAPIC, IPIs) go
 * through its posted descriptor (the LAPIC ops override virq_posted_lapic_intr_ops) instead of straight
 * into IRR. docs/posted.md, "The LAPIC ops override".
 *   AUTO (the default): off until posting is in use for this vCPU, i.e. the first time its run loop folds
 *        a request a device posted (an IOMMU post, or a re-target moving one); on from then on.
 *   ON / OFF: forced.
 */
enum virq_vcpu_apicv {
	VIRQ_APICV_AUTO = 0,
	VIRQ_APICV_ON,
	VIRQ_APICV_OFF,
};
/* Set the mode (installs or removes the override at once, for AUTO: removes it until the next fold that
 * takes something). 0; -ENODEV not an x86 vCPU with an in-kernel LAPIC; -EINVAL bad mode; -EBUSY a thread
 * is inside KVM_RUN (set it between runs, as a program is loaded). */
int virq_vcpu_set_apicv(struct virq_vcpu *vcpu, enum virq_vcpu_apicv mode);
/* Whether software deliveries post now (the override is installed). Any thread. */
bool virq_vcpu_apicv_active(const struct virq_vcpu *vcpu);

#endif /* VIRQ_ENGINE_VCPU_H */
