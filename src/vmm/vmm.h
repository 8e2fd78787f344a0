/* SPDX-License-Identifier: MIT */
/*
 * vmm.h - the reference VMM: wires simulated PCI functions to a virq VM the way QEMU wires assigned
 * devices to KVM, runs one thread per vCPU in the KVM_RUN loop, and generates the guest's drivers.
 *
 * It uses only the public API (<virq/kvm.h>, <virq/vm.h>, <virq/vcpu.h>, <virq/host.h>), which proves
 * that API is enough to build a VMM on.
 *
 * Wiring per device, as QEMU does with vfio-pci:
 *   - INTx (delivery RESAMPLE): VFIO's INTx trigger eventfd is a resampling irqfd on the device's GSI; its
 *     resamplefd is VFIO's INTx unmask eventfd, so the guest's EOI unmasks the host line.
 *   - MSI-X (delivery IRQFD): VFIO's trigger eventfd for vector k is an irqfd on an MSI route that follows
 *     the guest's programming of table entry k; a masked entry takes its irqfd away and the VMM watches
 *     the trigger itself, setting the virtual PBA bit, and delivers once at unmask (KVM_SIGNAL_MSI).
 *   - MSI-X (delivery USERSPACE): the VMM watches every trigger and injects with KVM_SIGNAL_MSI.
 *   - INTx (delivery FORWARDED, arm64 only): wired as RESAMPLE, and the VFIO descriptor is added to the VM's
 *     kvm-vfio device, which forwards the INTx line to its SPI (KVM_DEV_VFIO_DEVICE_FORWARD_IRQ, seed 001,
 *     before VFIO_DEVICE_SET_IRQS sets the trigger): the SPI is hardware-mapped, and the guest's
 *     deactivation completes the host line directly, so the resamplefd -> unmask round trip stays idle.
 *   - MSI-X (delivery POSTED or REMAPPED, x86 only): wired as IRQFD, and the function sits behind an
 *     IOMMU the VMM owns (its messages are remappable), and its VFIO descriptor is added to the VM's
 *     kvm-vfio device, as QEMU does for every VFIO device. Each trigger is then both an irqfd and a VFIO
 *     vector, which the engine pairs (irq bypass): POSTED leaves the decision to the engine's policy,
 *     which posts single-destination fixed or lowest-priority routes into the target vCPU's posted-
 *     interrupt descriptor (no eventfd, no engine thread); REMAPPED pins every vector to the IOMMU's
 *     remapped path with KVM_DEV_VFIO_DEVICE_UNPOST_IRQ (host handler -> eventfd -> irqfd).
 *   - Device registers and the MSI-X table are MMIO the VMM handles on KVM_EXIT_MMIO.
 *
 * Guest actions: what a guest OS does on its own initiative (mask a vector, move it to another vCPU) is
 * compiled into the guest program as an action block. The VMM asks the guest to run action N by sending
 * vector VIRQ_VMM_ACTION_VECTOR to vCPU 0, whose handler reads N from a mailbox register and runs block N.
 *
 * Arm (arch ARM64): the VM is an arm64 VM with a vGICv3 and one ITS (QEMU virt's layout). A device's
 * DeviceID is its requester ID; vector k's MSI route carries that DeviceID (KVM_MSI_VALID_DEVID) to the
 * ITS doorbell with EventID k, and the guest's ITS maps (DeviceID, k) to an LPI on the driver's vCPU.
 * Retargeting is MOVI in the guest's command queue; INTx is a level SPI; guest actions are requested with
 * an edge SPI to vCPU 0 instead of an IPI vector. With gic_v4 the VMM turns on direct LPI injection for
 * the VM right after creating it (KVM_ENABLE_CAP KVM_CAP_VIRQ_ARM_DIRECT_LPI, as a GICv4 host booted with
 * kvm-arm.vgic_v4_enable=1 does host-wide): the engine then pairs each irqfd vector with its VFIO vector
 * and, while the vector's route translates through the ITS to a deliverable LPI, the device's message
 * latches that LPI itself (no eventfd, no engine thread).
 *
 * Threads: virq_vmm_* calls come from one controlling thread; the VMM's own threads are the vCPU threads
 * and one watcher for triggers the VMM handles itself.
 */
#ifndef VIRQ_VMM_H
#define VIRQ_VMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <virq/host.h>

#define VIRQ_VMM_MAX_VCPUS 64
#define VIRQ_VMM_MAX_DEVICES 32
#define VIRQ_VMM_MAX_VECTORS 64
#define VIRQ_VMM_NAME_MAX 32

enum virq_vmm_delivery {
	VIRQ_VMM_DELIVERY_IRQFD,     /* MSI/MSI-X: an irqfd per vector on its MSI route */
	VIRQ_VMM_DELIVERY_RESAMPLE,  /* level INTx: a resampling irqfd + VFIO unmask eventfd */
	VIRQ_VMM_DELIVERY_USERSPACE, /* MSI-X: the VMM reads the triggers and injects with KVM_SIGNAL_MSI */
	VIRQ_VMM_DELIVERY_POSTED,    /* MSI-X, x86: IRQFD behind an IOMMU; the engine posts what its policy allows */
	VIRQ_VMM_DELIVERY_REMAPPED,  /* MSI-X, x86: IRQFD behind an IOMMU, every vector UNPOST_IRQ (remapped) */
	VIRQ_VMM_DELIVERY_FORWARDED, /* level INTx, arm64: RESAMPLE's wiring + FORWARD_IRQ (hardware-mapped SPI) */
};

/* Whether @delivery carries a device's INTx line (RESAMPLE, FORWARDED) rather than its MSI-X vectors. */
bool virq_vmm_delivery_intx(enum virq_vmm_delivery delivery);

enum virq_vmm_driver {
	VIRQ_VMM_DRIVER_NIC,        /* MSI-X: read status, ack its cause, work, EOI */
	VIRQ_VMM_DRIVER_INTX,       /* INTx: read status, ack, work, EOI */
	VIRQ_VMM_DRIVER_INTX_NO_ACK, /* INTx, misbehaving: every other run EOIs without acking (must re-fire) */
};

struct virq_vmm_device_config {
	char name[VIRQ_VMM_NAME_MAX];
	uint16_t requester_id;           /* PCI bus << 8 | device << 3 | function */
	unsigned msix_vectors;           /* 0 for an INTx-only device; else 1..64 */
	unsigned msix_table_bar, msix_pba_bar;
	uint32_t msix_table_offset, msix_pba_offset;
	unsigned intx_pin;               /* 0 or 1..4 (INTA#..INTD#) */
	enum virq_vmm_delivery delivery;
	/* The guest driver. */
	enum virq_vmm_driver driver;
	unsigned affinity[VIRQ_VMM_MAX_VECTORS]; /* vCPU of each vector (INTx: [0]) */
	uint64_t handler_ns;             /* work per handler run (spin) */
	uint64_t retarget_ns;            /* 0: never; else the guest rotates the vectors' vCPUs this often */
	bool start_masked;               /* the driver leaves every vector masked until told otherwise */
	/* The device's traffic (traffic.rate == 0 and pattern != STORM: no traffic thread). */
	struct virq_traffic traffic;
};

/* A guest action, compiled into the guest program; run with virq_vmm_guest_action(). */
enum virq_vmm_action_kind {
	VIRQ_VMM_ACTION_MASK,     /* set entry @vector's mask bit */
	VIRQ_VMM_ACTION_UNMASK,   /* clear it */
	VIRQ_VMM_ACTION_RETARGET, /* reprogram entry @vector for @vcpu (masked around the change) */
};
struct virq_vmm_action {
	enum virq_vmm_action_kind kind;
	unsigned device, vector, vcpu;
};

#define VIRQ_VMM_MAX_ACTIONS 256

enum virq_vmm_arch {
	VIRQ_VMM_ARCH_X86_64, /* LAPIC + IOAPIC (the default) */
	VIRQ_VMM_ARCH_ARM64,  /* vGICv3 + ITS */
};

struct virq_vmm_config {
	enum virq_vmm_arch arch;
	unsigned vcpus;                  /* 1..VIRQ_VMM_MAX_VCPUS */
	uint64_t halt_poll_ns;           /* KVM_CAP_HALT_POLL (0: off, the default for scenarios) */
	/*
	 * MSI-X tables of irqfd-delivered devices are registered with the engine (KVM_REGISTER_MSIX_MMIO,
	 * seed 002) unless this is set: then every table access exits to the VMM, as with QEMU on KVM.
	 * Userspace-delivered devices always keep their table in the VMM (KVM_SIGNAL_MSI has no GSI to gate).
	 */
	bool msix_table_in_vmm;
	/*
	 * arm64 only: the host's GIC is a GICv4, so VFIO MSIs can be injected straight into the guest's LPIs
	 * (Linux's GICv4 direct injection). The VMM enables KVM_CAP_VIRQ_ARM_DIRECT_LPI on the VM; it applies
	 * to every irqfd-delivered MSI-X vector of the VM. Off (a GICv3 host): every message goes through the
	 * trigger eventfd and the irqfd.
	 */
	bool gic_v4;
	unsigned ndevices;
	struct virq_vmm_device_config devices[VIRQ_VMM_MAX_DEVICES];
	unsigned nactions;
	struct virq_vmm_action actions[VIRQ_VMM_MAX_ACTIONS];
};

struct virq_vmm;

/*
 * Check and build: devices, VFIO descriptors, VM, vCPUs, guest program. Nothing runs yet. On failure
 * returns -errno and writes a message naming the device and what cannot be wired into @err.
 */
int virq_vmm_create(const struct virq_vmm_config *config, struct virq_vmm **out, char *err, size_t err_len);
/* Start the vCPU threads and wait until the guest's drivers have programmed every device. */
int virq_vmm_start(struct virq_vmm *vmm);
/* Start / stop every device's traffic thread. */
int virq_vmm_traffic_start(struct virq_vmm *vmm);
void virq_vmm_traffic_stop(struct virq_vmm *vmm);
/* Raise a device's cause (scripted steps). */
int virq_vmm_raise(struct virq_vmm *vmm, unsigned device, unsigned cause);
/* Run action @index of the config in the guest; returns when the guest has finished it. */
int virq_vmm_guest_action(struct virq_vmm *vmm, unsigned index);
/*
 * Wait until nothing is in flight: every raised cause delivered, or held because the guest masked it.
 * Returns 0, or -ETIMEDOUT after @timeout_ns (what is still in flight is then reported as lost).
 */
int virq_vmm_settle(struct virq_vmm *vmm, uint64_t timeout_ns);
/* Why a vCPU stopped on its own ("guest shut down ..."), or NULL while all run. */
const char *virq_vmm_failure(const struct virq_vmm *vmm);
/* Stop the vCPUs (immediate_exit + signal, as QEMU does) and join their threads. */
void virq_vmm_stop(struct virq_vmm *vmm);
void virq_vmm_destroy(struct virq_vmm *vmm);

/* Trace events, for timelines: called from the thread where the event happens. */
enum virq_vmm_event_kind {
	VIRQ_VMM_EVENT_RAISE,    /* device raised cause @source */
	VIRQ_VMM_EVENT_HANDLER,  /* the guest handler of @source began (its status read) on @vcpu */
	VIRQ_VMM_EVENT_ACK,      /* the guest acked @source on @vcpu */
	VIRQ_VMM_EVENT_UNMASK,   /* VFIO unmasked the device's INTx line (resample) */
	VIRQ_VMM_EVENT_ROUTE,    /* the VMM changed @source's MSI route (guest reprogrammed its entry) */
};
struct virq_vmm_event {
	enum virq_vmm_event_kind kind;
	uint64_t ns;          /* CLOCK_MONOTONIC */
	unsigned device;
	unsigned source;      /* vector index, 0 for INTx */
	int vcpu;             /* -1 when no vCPU is involved */
};
typedef void virq_vmm_event_fn(void *ctx, const struct virq_vmm_event *event);
/* Set before virq_vmm_start(). */
void virq_vmm_set_event_handler(struct virq_vmm *vmm, virq_vmm_event_fn *fn, void *ctx);

/* The report: one row per device source (MSI-X vector, or the INTx line). */
struct virq_vmm_source_report {
	unsigned device;
	unsigned source;          /* vector index; 0 for INTx */
	bool intx;
	uint64_t raised;          /* device raises */
	uint64_t delivered;       /* raises the guest driver serviced (acked) */
	uint64_t coalesced;       /* raises merged into one still waiting for service */
	uint64_t pending;         /* waiting because the guest masked the vector */
	uint64_t lost;            /* raised - delivered - coalesced - pending: must be 0 */
	uint64_t handler_runs;    /* handler entries (more than delivered when an interrupt re-fires) */
	uint64_t per_vcpu[VIRQ_VMM_MAX_VCPUS]; /* handler runs per vCPU */
	uint64_t stale;           /* handler runs on a vCPU the vector was no longer programmed for */
	uint64_t p50_ns, p99_ns, max_ns; /* raise -> the handler's status read */
};
struct virq_vmm_report {
	unsigned vcpus;
	uint64_t elapsed_ns;                    /* since virq_vmm_start() */
	uint64_t exits;                         /* exits to the VMM (MMIO, MSI-X routing updates), all vCPUs */
	uint64_t spurious_eoi[VIRQ_VMM_MAX_VCPUS]; /* EOIs with nothing in service, per vCPU */
	/*
	 * The VMM's IOMMU (there is one when a device has delivery POSTED or REMAPPED): messages it posted
	 * into a vCPU's descriptor, remapped to a host IRQ (which signals the trigger eventfd), and dropped
	 * (a fault, or a message through another function's entry). Whole-VM counts: the IOMMU does not
	 * count per vector.
	 */
	bool iommu;
	uint64_t iommu_posted, iommu_remapped, iommu_dropped;
	/*
	 * The host INTx lines of devices with delivery FORWARDED (there is one when such a device exists),
	 * summed over them: completions by the guest's deactivation of the hardware-mapped SPI (direct EOI),
	 * of which re-fires (the line was still asserted, so the host fired it again), and the VFIO user's
	 * unmask requests for those lines (the resamplefd round trip a forwarded line does not use).
	 */
	bool forwarding;
	uint64_t fwd_completions, fwd_refires, fwd_unmasks;
	/*
	 * arm64 with gic_v4 (@direct_lpi): messages of irqfd-delivered MSI-X vectors the device latched
	 * straight into their LPI, and messages the direct path handed back to the trigger eventfd (the
	 * translation changed under them), summed over the vectors' irqfds for the whole run.
	 */
	bool direct_lpi;
	uint64_t direct_injected, direct_fallbacks;
	unsigned nsources;
	struct virq_vmm_source_report sources[]; /* devices in config order, vectors ascending */
};
/* A snapshot (any time; exact after virq_vmm_settle()), to free(); NULL if out of memory. */
struct virq_vmm_report *virq_vmm_report(struct virq_vmm *vmm);

/*
 * How one source reaches the guest, hop by hop (what `virq explain` prints): the device's table entry
 * as the guest programmed it, the GSI and route the VMM gave it, the irqfd on it, the delivery mode and
 * why, and where it lands. Exact when nothing is reprogramming the source at the same moment.
 */
struct virq_vmm_explanation {
	unsigned device, source;
	bool intx;
	uint16_t requester_id;
	/* MSI-X: the entry as the guest programmed it (from the engine when the table lives there). */
	bool table_in_engine;
	uint32_t entry_addr_lo, entry_addr_hi, entry_data;
	bool entry_masked, function_masked, msix_enabled;
	/* INTx: the pin and the IOAPIC input it is wired to. */
	unsigned intx_pin;
	unsigned gsi;
	bool route_valid;                 /* MSI-X: a route is installed for the GSI */
	uint32_t route_addr_lo, route_data; /* MSI-X: what it says */
	bool irqfd;                       /* the VFIO trigger is an irqfd on @gsi right now */
	bool resample;                    /* ... a resampling one whose resamplefd is VFIO's INTx unmask */
	/*
	 * INTx: what the host says about the line (virq_vfio_intx_stats), when @line_stats. @forwarded: the
	 * kvm-vfio device forwards it to the SPI now; completions by the guest's deactivation (direct EOI), of
	 * which re-fires, and unmask requests by the VFIO user (ioctl, unmask eventfd, command register).
	 */
	bool line_stats, forwarded;
	uint64_t line_signals, line_completions, line_refires, line_unmasks;
	uint64_t irqfd_signals;           /* MSI-X with an irqfd: trigger signals the irqfds on @gsi consumed
					   * so far (a posted message never signals the eventfd) */
	/* MSI-X behind the VMM's IOMMU (delivery POSTED or REMAPPED): the vector's IRTE, -1 otherwise. */
	int irte_index;
	uint64_t bypass_posts, bypass_remaps; /* times the engine programmed the IRTE posted / back to remapped
					       * (arm64: the VFIO vector direct to an LPI / back to the eventfd) */
	/*
	 * MSI-X with an irqfd on arm64: the engine paired the irqfd with the VFIO vector (@paired); the
	 * messages latched straight into the LPI and those handed back to the eventfd, by this irqfd so far;
	 * in mode "direct", the ITS translation the device's messages use.
	 */
	bool paired;
	uint64_t direct_injected, direct_fallbacks;
	uint32_t devid, eventid;
	/*
	 * "posted" (the IOMMU writes the target vCPU's posted-interrupt descriptor), "remapped" (the IOMMU's
	 * host IRQ signals the trigger eventfd), "direct" (MSI-X on arm64 with gic_v4: the device's message
	 * latches the LPI itself), "forwarded" (INTx on arm64: a hardware-mapped SPI whose deactivation
	 * completes the host line), "software" (no IOMMU: the eventfd, then the irqfd or the VMM),
	 * "userspace" (KVM_SIGNAL_MSI from the VMM).
	 */
	const char *mode;
	char why[288];                    /* the reason for @mode, in words (the engine's policy for irqfds) */
	int target_vcpu;                  /* -1 if the source cannot be delivered now (masked, no route) */
	uint8_t guest_vector;             /* x86: the IDT vector */
	uint32_t intid;                   /* arm64: the LPI (MSI-X) or SPI (INTx) the guest's GIC raises; else 0 */
};
/* Returns 0, or -EINVAL for a device or source that does not exist. */
int virq_vmm_explain(struct virq_vmm *vmm, unsigned device, unsigned source, struct virq_vmm_explanation *out);

/* The names a report prints. */
const char *virq_vmm_device_name(const struct virq_vmm *vmm, unsigned device);
const char *virq_vmm_delivery_name(enum virq_vmm_delivery delivery);

#endif /* VIRQ_VMM_H */
