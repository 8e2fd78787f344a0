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
 *
 * arm64 adds, at QEMU virt's addresses: the GIC distributor (0x08000000), the ITS (0x08080000) and the
 * redistributors (0x080a0000, 128 KiB per vCPU), all the engine's; and guest RAM at 0x40000000 holding the
 * tables the guest gives the GIC and the ITS (layout below). GSI n routes to irqchip 0 pin n, SPI 32 + n,
 * so INTx device i is SPI 48 + i; SPI 40 (edge, to vCPU 0) asks for a guest action. MSI-X vector k of a
 * device is EventID k of DeviceID = its requester ID, mapped by the guest to an LPI from 8192 up.
 */
#ifndef VIRQ_VMM_INTERNAL_H
#define VIRQ_VMM_INTERNAL_H

#include <pthread.h>
#include <stdio.h>
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

/* arm64 (guest_program_arm.c, arm.c) */
#define VMM_ARM_GICD 0x08000000ull
#define VMM_ARM_ITS 0x08080000ull
#define VMM_ARM_GICR 0x080a0000ull
#define VMM_ARM_GICR_STRIDE 0x20000ull
#define VMM_ARM_DOORBELL (VMM_ARM_ITS + 0x10040) /* GITS_TRANSLATER */
#define VMM_ARM_RAM 0x40000000ull
#define VMM_ARM_RAM_SIZE (8ull << 20)
#define VMM_ARM_PROPTAB (VMM_ARM_RAM + 0x000000)  /* LPI properties: 64 KiB, INTIDs below 2^16 */
#define VMM_ARM_COLLTAB (VMM_ARM_RAM + 0x010000)  /* GITS_BASER1: one 64 KiB page */
#define VMM_ARM_CMDQ (VMM_ARM_RAM + 0x020000)     /* GITS_CBASER: 4 KiB, 128 commands */
#define VMM_ARM_CMDQ_SLOTS 128u
#define VMM_ARM_ITT(d) (VMM_ARM_RAM + 0x030000 + (uint64_t)(d) * 0x1000) /* 64 events x 8 bytes */
#define VMM_ARM_DEVTAB (VMM_ARM_RAM + 0x080000)   /* GITS_BASER0: 8 pages of 64 KiB, DeviceIDs < 2^16 */
#define VMM_ARM_DEVTAB_PAGES 8u
#define VMM_ARM_PENDTAB(v) (VMM_ARM_RAM + 0x100000 + (uint64_t)(v) * 0x10000) /* 64 KiB per vCPU */
#define VMM_ARM_LPI_BASE 8192u
#define VMM_ARM_SPI_BASE 32u                      /* GSI n = SPI INTID 32 + n */
#define VMM_ARM_ACTION_INTID 40u                  /* edge SPI to vCPU 0: "run the action in the mailbox" */
#define VMM_ARM_PRIO 0xa0u

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
	uint32_t route_addr_lo, route_addr_hi, route_data; /* [L:dev->lock] what the route says */
	int trigger;                          /* [I] VFIO's trigger eventfd for this vector */
	unsigned gsi;                         /* [I] */
	uint8_t guest_vector;                 /* [I] x86: the IDT vector the driver programs */
	uint32_t lpi;                         /* [I] arm64: the LPI the guest's ITS maps EventID k to */
	_Atomic int its_vcpu;                 /* [A] arm64: the vCPU (collection) the guest's ITS maps it to */
	uint64_t direct_retired[2];           /* [L:dev->lock] arm64: direct injections and fallbacks counted
					       * by irqfds of this vector the VMM has since removed */
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
	bool behind_iommu;                     /* [I] attached to vmm->iommu (delivery POSTED or REMAPPED) */
	bool kvm_vfio_added;                   /* [I] its VFIO descriptor is a file of vmm->kvm_vfio */
	bool intx_forwarded;                   /* [I] FORWARDED: its INTx line is forwarded to its SPI now
						* (set at create, cleared at teardown) */
	void *table_copy, *pba_copy;           /* [I] their base_va: the engine's state after a save */
	pthread_mutex_t lock;                  /* guards the emulated MSI-X state below */
	uint16_t msix_flags;                   /* [L:lock] the guest's Message Control */
	struct vmm_msix_vector vec[VIRQ_VMM_MAX_VECTORS];
	/* INTx */
	unsigned intx_gsi;                     /* [I] */
	uint8_t intx_vector;                   /* [I] x86 */
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
	bool arm;                       /* [I] cfg.arch == VIRQ_VMM_ARCH_ARM64 */
	int sys, vm;                    /* [I] */
	int gic, its;                   /* [I] arm64: the vGICv3 and ITS device fds (-1: none) */
	void *ram;                      /* [I] arm64: guest RAM for the GIC's and ITS's tables */
	struct virq_vm *engine;         /* [I] the VM behind vm, for the native calls (seed 002's bind etc.) */
	struct virq_iommu *iommu;       /* [I] x86: the IOMMU of POSTED and REMAPPED devices (NULL: none) */
	int kvm_vfio;                   /* [I] the VM's kvm-vfio device (-1: none): POSTED, REMAPPED, FORWARDED */
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

/* guest_program.c: the generated guest; guest_program_arm.c: its Arm-only parts. */
struct vmm_program {
	FILE *out;
	unsigned cmds;                  /* arm64: ITS commands queued in the current block */
};
void vmm_program_emit(struct vmm_program *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *vmm_guest_program(const struct virq_vmm *vmm);
void vmm_arm_emit_boot(struct vmm_program *p, const struct virq_vmm *vmm);
void vmm_arm_emit_movi(struct vmm_program *p, const struct vmm_device *dev, unsigned k, unsigned vcpu);
void vmm_arm_emit_queue_flush(struct vmm_program *p);

/* arm.c: the arm64 VM's GIC and ITS, and what differs on arm64 in delivery. */
int vmm_arm_vm_create(struct virq_vmm *vmm, char *err, size_t err_len);
void vmm_arm_vm_destroy(struct virq_vmm *vmm);
int vmm_arm_request_action(struct virq_vmm *vmm);
void vmm_arm_action_targets(struct virq_vmm *vmm, const struct virq_vmm_action *a, bool done);
/* Vector @k's irqfd's direct injections and fallbacks so far ({0, 0} without one); caller holds dev->lock. */
void vmm_arm_irqfd_direct_counts(struct vmm_device *dev, unsigned k, uint64_t counts[2]);
/* The report's whole-run direct-injection counts (gic_v4). */
void vmm_arm_report(struct virq_vmm *vmm, struct virq_vmm_report *r);

/* msix.c: the emulated MSI-X capability, table and PBA, and the routes and irqfds behind them. */
int vmm_msix_init(struct vmm_device *dev, char *err, size_t err_len);
int vmm_msix_table_access(struct vmm_device *dev, uint64_t gpa, uint8_t *data, unsigned len, bool write);
int vmm_msix_write_flags(struct vmm_device *dev, uint16_t flags);
void vmm_msix_trigger_fired(struct vmm_device *dev, unsigned vector);
int vmm_msix_routing_update(struct vmm_device *dev, const struct kvm_msix_routing_update *update);
struct vmm_device *vmm_device_by_rid(struct virq_vmm *vmm, unsigned rid);
bool vmm_msix_masked(struct vmm_device *dev, unsigned vector);
bool vmm_msix_held(struct vmm_device *dev, unsigned vector);
void vmm_msix_teardown(struct vmm_device *dev);
int vmm_routes_commit(struct virq_vmm *vmm);

/* Delivery through an irqfd per vector (the engine injects, or the IOMMU posts): IRQFD, POSTED, REMAPPED. */
static inline bool vmm_delivery_irqfd(enum virq_vmm_delivery d)
{
	return d == VIRQ_VMM_DELIVERY_IRQFD || d == VIRQ_VMM_DELIVERY_POSTED || d == VIRQ_VMM_DELIVERY_REMAPPED;
}

/* Delivery behind the VMM's IOMMU, with the irq bypass between VFIO and the irqfds: POSTED, REMAPPED. */
static inline bool vmm_delivery_bypass(enum virq_vmm_delivery d)
{
	return d == VIRQ_VMM_DELIVERY_POSTED || d == VIRQ_VMM_DELIVERY_REMAPPED;
}

/*
 * iommu.c: the IOMMU of POSTED and REMAPPED devices. Attach before the function's VFIO descriptor opens
 * (the IOMMU refuses it after); release after the functions are destroyed.
 */
int vmm_iommu_attach(struct vmm_device *dev, char *err, size_t err_len);
void vmm_iommu_release(struct virq_vmm *vmm);
void vmm_iommu_report(struct virq_vmm *vmm, struct virq_vmm_report *r);

/*
 * kvm_vfio.c: the VM's one kvm-vfio device, shared by POSTED and REMAPPED (x86) and FORWARDED (arm64)
 * devices. Add each such device once GSIs are assigned and before any irqfd or VFIO trigger exists (so
 * REMAPPED never posts, and FORWARDED forwards while signalling is off); unforward a FORWARDED line
 * before its irqfd goes; release after every irqfd and before the VFIO descriptors close.
 */
int vmm_kvm_vfio_add(struct vmm_device *dev, char *err, size_t err_len);
int vmm_kvm_vfio_unforward(struct vmm_device *dev);
void vmm_kvm_vfio_release(struct virq_vmm *vmm);

/* intx.c: RESAMPLE and FORWARDED (the same wiring; FORWARDED's forward is kvm_vfio.c's). */
int vmm_intx_init(struct vmm_device *dev, char *err, size_t err_len);
void vmm_intx_teardown(struct vmm_device *dev);
void vmm_intx_report(struct virq_vmm *vmm, struct virq_vmm_report *r);

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
