/* SPDX-License-Identifier: MIT */
/*
 * vmm_internal.h - the reference VMM's state, shared by its files (vmm.h is the interface).
 *
 * Guest-physical layout the VMM gives the guest (x86):
 *   0xb0000000  PCI ECAM: 4 KiB of configuration space per requester ID
 *   0xc0000000  device BARs: device d's BAR i at VMM_BAR_BASE + d * 1 MiB + i * 64 KiB
 *   0xd0000000  the VMM's own mailbox (ready, guest-action request and completion)
 * The local APIC (0xfee00000) and IOAPIC (0xfec00000) are the engine's; everything else exits to us.
 *
 * GSIs: 0-23 are the IOAPIC pins (INTx device i gets pin VMM_INTX_GSI_BASE + i, level, its own line);
 * MSI routes start at VMM_MSI_GSI_BASE, one per MSI-X vector.
 */
#ifndef VIRQ_VMM_INTERNAL_H
#define VIRQ_VMM_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <virq/host.h>
#include <virq/kvm.h>

#include "vmm/vmm.h"

#define VMM_ECAM_BASE 0xb0000000ull
#define VMM_ECAM_SIZE (1ull << 28) /* 64 Ki requester IDs x 4 KiB */
#define VMM_BAR_BASE 0xc0000000ull
#define VMM_BAR_WINDOW (64ull << 10)
#define VMM_DEVICE_WINDOW (1ull << 20)
#define VMM_MAILBOX_BASE 0xd0000000ull
#define VMM_MAILBOX_READY (VMM_MAILBOX_BASE + 0x0)   /* W: the vCPU has booted (value = vCPU id) */
#define VMM_MAILBOX_ACTION (VMM_MAILBOX_BASE + 0x8)  /* R: the action the guest should run (1-based) */
#define VMM_MAILBOX_DONE (VMM_MAILBOX_BASE + 0x10)   /* W: the action has been run */
#define VMM_MAILBOX_SIZE 0x1000

#define VMM_INTX_GSI_BASE 16
#define VMM_INTX_MAX 8 /* IOAPIC pins 16-23 */
#define VMM_MSI_GSI_BASE 24
#define VMM_FIRST_VECTOR 0x30   /* guest vectors for device interrupts: 0x30 .. 0xef */
#define VMM_LAST_VECTOR 0xef
#define VMM_ACTION_VECTOR 0xf0  /* "run the action in the mailbox", sent to vCPU 0 */

#define VMM_MSIX_ENTRY_SIZE 16
#define VMM_MSIX_CTRL_MASKBIT 1u
#define VMM_MSIX_FLAGS_ENABLE 0x8000u
#define VMM_MSIX_FLAGS_MASKALL 0x4000u

/* One MSI-X vector as the guest sees it (QEMU's emulated table). */
struct vmm_msix_vector {
	uint32_t addr_lo, addr_hi, data, ctrl; /* [L:dev->lock] the guest's table entry */
	bool pending;                         /* [L:dev->lock] the virtual PBA bit */
	bool irqfd_bound;                     /* [L:dev->lock] its trigger is an irqfd (else we watch it) */
	bool route_valid;                     /* [L:dev->lock] a route was installed for this GSI */
	uint32_t route_addr_lo, route_data;   /* [L:dev->lock] what the route says */
	int trigger;                          /* [I] VFIO's trigger eventfd for this vector */
	unsigned gsi;                         /* [I] */
	uint8_t guest_vector;                 /* [I] the IDT vector the driver programs */
	_Atomic int target_vcpu;              /* [A] vCPU of the installed route (-1: none) */
	_Atomic uint64_t route_changed_ns;    /* [A] when the route last moved */
	_Atomic unsigned route_seq;           /* [A] odd while a route change is being committed */
	_Atomic uint64_t waiting_since_ns;    /* [A] first raise not yet acked (0: none) */
	_Atomic uint64_t handler_runs;        /* [A] */
	_Atomic uint64_t stale;               /* [A] */
	_Atomic uint64_t per_vcpu[VIRQ_VMM_MAX_VCPUS]; /* [A] handler runs per vCPU */
};

struct vmm_device {
	struct virq_vmm *vmm;                  /* [I] */
	unsigned index;                        /* [I] */
	struct virq_vmm_device_config cfg;     /* [I] */
	struct virq_pci_function *fn;          /* [I] */
	int vfio;                              /* [I] VFIO device descriptor */
	uint64_t bar_gpa[6];                   /* [I] guest-physical base of each BAR */
	uint64_t bar_size[6];                  /* [I] */
	uint64_t table_gpa, pba_gpa;           /* [I] */
	unsigned msix_cap;                     /* [I] config offset of the MSI-X capability (0: none) */
	bool table_in_engine;                  /* [I] table and PBA registered with KVM_REGISTER_MSIX_MMIO */
	void *table_copy, *pba_copy;           /* [I] their base_va: the engine's state after a save */
	pthread_mutex_t lock;                  /* guards the emulated MSI-X state below */
	uint16_t msix_flags;                   /* [L:lock] the guest's Message Control */
	struct vmm_msix_vector vec[VIRQ_VMM_MAX_VECTORS];
	/* INTx */
	unsigned intx_gsi;                     /* [I] */
	uint8_t intx_vector;                   /* [I] */
	int intx_trigger, intx_unmask;         /* [I] eventfds: VFIO trigger = irqfd, resamplefd = VFIO unmask */
	_Atomic uint64_t intx_waiting_since_ns; /* [A] */
	_Atomic uint64_t intx_handler_runs;    /* [A] */
	_Atomic uint64_t intx_per_vcpu[VIRQ_VMM_MAX_VCPUS]; /* [A] */
};

struct vmm_vcpu {
	struct virq_vmm *vmm;   /* [I] */
	unsigned id;            /* [I] */
	int fd;                 /* [I] */
	struct kvm_run *run;    /* [I] */
	pthread_t thread;       /* [I] once started */
	bool started;           /* [I] once started */
	int reading_device;     /* vCPU thread only: device whose STATUS it last read (-1 none) */
	uint64_t read_ns;       /* vCPU thread only: when */
};

struct virq_vmm {
	struct virq_vmm_config cfg;     /* [I] */
	int sys, vm;                    /* [I] */
	struct virq_vm *engine;         /* [I] the VM behind vm, for the native calls (seed 002's bind etc.) */
	_Atomic uint64_t exits;         /* [A] exits the vCPU threads handled (MMIO, routing updates) */
	unsigned ndevices;              /* [I] */
	struct vmm_device *dev;         /* [I] array */
	struct vmm_vcpu vcpu[VIRQ_VMM_MAX_VCPUS];
	char *program;                  /* [I] the guest program every vCPU runs */
	unsigned nactions;              /* [I] config actions + generated retarget rotations */
	struct virq_vmm_action actions[VIRQ_VMM_MAX_ACTIONS * 2]; /* [I] */
	unsigned rotation_base[VIRQ_VMM_MAX_DEVICES]; /* [I] first rotation action of a retargeting device */

	pthread_mutex_t routes_lock;    /* serialises KVM_SET_GSI_ROUTING: the table is replaced whole */

	pthread_mutex_t action_lock;    /* one guest action at a time (scripted steps, retargeting) */
	pthread_mutex_t mailbox_lock;   /* guards the mailbox and the boot/failure state below */
	pthread_cond_t mailbox_cond;
	unsigned mailbox_action;        /* [L:mailbox_lock] 1-based action the guest should run, 0 none */
	bool mailbox_done;              /* [L:mailbox_lock] */
	unsigned ready_vcpus;           /* [L:mailbox_lock] */
	char failure[192];              /* [L:mailbox_lock] the first failure; immutable once failed is set */
	_Atomic bool failed;            /* [A] a vCPU or VMM thread stopped on an error (release after failure) */

	int watch_epfd;                 /* [I] triggers the VMM handles itself (masked, userspace) */
	int watch_stop;                 /* [I] eventfd that ends the watcher */
	pthread_t watcher;
	bool watcher_started;

	pthread_t retarget_thread;      /* rotates retargeting devices' vectors */
	bool retarget_started;
	_Atomic bool retarget_stop;

	uint64_t start_ns;
	virq_vmm_event_fn *event_fn;    /* [I] after start */
	void *event_ctx;
};

uint64_t vmm_now_ns(void);
/* Record that the run failed (the first reason wins) and wake whoever waits on the guest. */
void vmm_fail_run(struct virq_vmm *vmm, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void vmm_emit(struct virq_vmm *vmm, enum virq_vmm_event_kind kind, uint64_t ns, unsigned device, unsigned source,
	      int vcpu);

/* guest_program.c */
char *vmm_guest_program(const struct virq_vmm *vmm);

/* msix.c: the emulated MSI-X capability, table and PBA, and the routes and irqfds behind them. */
int vmm_msix_init(struct vmm_device *dev, char *err, size_t err_len);
int vmm_msix_table_access(struct vmm_device *dev, uint64_t gpa, uint8_t *data, unsigned len, bool write);
int vmm_msix_write_flags(struct vmm_device *dev, uint16_t flags);
void vmm_msix_trigger_fired(struct vmm_device *dev, unsigned vector);
int vmm_msix_routing_update(struct vmm_device *dev, const struct kvm_msix_routing_update *update);
struct vmm_device *vmm_device_by_rid(struct virq_vmm *vmm, unsigned rid);
bool vmm_msix_masked(struct vmm_device *dev, unsigned vector);
bool vmm_msix_pending(struct vmm_device *dev, unsigned vector);
void vmm_msix_teardown(struct vmm_device *dev);
int vmm_routes_commit(struct virq_vmm *vmm);

/* intx.c */
int vmm_intx_init(struct vmm_device *dev, char *err, size_t err_len);
void vmm_intx_teardown(struct vmm_device *dev);

/* watcher.c: the thread that reads triggers the VMM handles itself. */
int vmm_watcher_start(struct virq_vmm *vmm);
void vmm_watcher_stop(struct virq_vmm *vmm);
int vmm_watch(struct virq_vmm *vmm, int fd, uint64_t cookie);
int vmm_unwatch(struct virq_vmm *vmm, int fd);
#define VMM_COOKIE(device, vector) (((uint64_t)(device) << 32) | (vector))

/* vcpu_loop.c */
int vmm_vcpus_start(struct virq_vmm *vmm);
void vmm_vcpus_stop(struct virq_vmm *vmm);

/* device_mmio.c: what the vCPU threads do with an MMIO exit. */
int vmm_handle_mmio(struct vmm_vcpu *vcpu, struct kvm_run *run);

#endif /* VIRQ_VMM_INTERNAL_H */
