/* SPDX-License-Identifier: MIT */
/*
 * virq/host.h - the simulated host: PCI functions with interrupt sources, their traffic, and the VFIO
 * device interface over them (vfio-pci's semantics, <linux/vfio.h>'s structures).
 *
 * A PCI function has up to 64 interrupt *causes* (a NIC's queues, a legacy device's single cause). Cause k
 * owns bit k of the function's STATUS register in BAR 0. Raising a cause sets its bit (a raise that finds
 * the bit set is *coalesced*) and signals the function's interrupt in its current mode:
 *   - MSI-X (enabled through VFIO_DEVICE_SET_IRQS): vector k. A vector the host has not enabled is masked
 *     in the physical table, so the message waits in the physical PBA and is sent when VFIO enables that
 *     vector with a trigger eventfd; an enabled vector's message is the host IRQ whose handler writes the
 *     vector's trigger eventfd (vfio_msihandler).
 *   - MSI: vector k modulo the number of enabled vectors.
 *   - INTx (no MSI/MSI-X enabled, command register INTx-disable clear): the pin is asserted while any
 *     status bit is set. VFIO's host handler masks the line (automask) and writes the INTx trigger eventfd;
 *     the line stays masked until unmasked (VFIO_IRQ_SET_ACTION_UNMASK, by ioctl or by the unmask eventfd),
 *     and a line still asserted at unmask fires again.
 * The guest driver's write of bit k to ACK clears it (the driver has serviced cause k).
 *
 * BAR 0 (4 KiB of device registers, little-endian, 4- or 8-byte accesses):
 *   0x00 STATUS   RO  bit k = cause k needs service; a read stamps the latency of each newly seen bit
 *   0x08 ACK      W1C clear the written status bits
 *   0x10 DOORBELL WO  writing k raises cause k (the guest or a test rings the device)
 *   0x18 CAUSES   RO  number of causes
 * The MSI-X table and PBA sit where the descriptor places them (the same BAR or another), 16 bytes per
 * entry and one bit per vector, as the PCI spec lays them out.
 *
 * Threads: every call may be made from any thread; a function's state sits behind its own lock and the
 * trigger eventfds are written outside it. Errors are -errno, except the descriptor-based VFIO calls,
 * which fail as the system calls they stand for (-1 and errno).
 */
#ifndef VIRQ_HOST_H
#define VIRQ_HOST_H

#include <linux/vfio.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VIRQ_PCI_MAX_CAUSES 64

/* BAR 0 register offsets. */
#define VIRQ_PCI_REG_STATUS   0x00
#define VIRQ_PCI_REG_ACK      0x08
#define VIRQ_PCI_REG_DOORBELL 0x10
#define VIRQ_PCI_REG_CAUSES   0x18
#define VIRQ_PCI_REGS_SIZE    0x1000

struct virq_pci_function;

struct virq_pci_function_desc {
	const char *name;          /* for messages; copied */
	uint16_t requester_id;     /* bus << 8 | device << 3 | function */
	uint16_t vendor_id, device_id;
	unsigned causes;           /* 1..64 */
	unsigned msix_vectors;     /* 0: no MSI-X capability; else the table size, 1..2048 */
	unsigned msix_table_bar;   /* 0..5 */
	uint32_t msix_table_offset; /* 8-byte aligned; must not overlap BAR 0's registers */
	unsigned msix_pba_bar;
	uint32_t msix_pba_offset;   /* 8-byte aligned */
	unsigned msi_vectors;      /* 0: no MSI capability; else 1, 2, 4, 8, 16 or 32 */
	unsigned intx_pin;         /* 0: none; 1..4 = INTA#..INTD# */
};

/* Create a function; -EINVAL for a descriptor that cannot be a device (overlaps, bad sizes, no interrupt). */
int virq_pci_function_create(const struct virq_pci_function_desc *desc, struct virq_pci_function **out);
/* Stops its traffic; every VFIO descriptor open on it must be closed first (-EBUSY otherwise). */
int virq_pci_function_destroy(struct virq_pci_function *fn);

/* Raise cause @cause now (scripted raises, tests). -EINVAL if out of range. */
int virq_pci_function_raise(struct virq_pci_function *fn, unsigned cause);

/*
 * Observe the function (for tracing and accounting): a raise of @cause that set its status bit (called
 * before the interrupt it causes is signalled, so an observer sees it before any handler can), a raise
 * that found the bit set, or an INTx unmask request VFIO processed (by ioctl or by the unmask eventfd;
 * @cause 0). Called on the thread where it happens, outside the function's lock. A raise's call comes
 * while its message is still on its way (before the trigger eventfd is written, or before an arm64
 * vector's direct LPI injection): the observer must not block on a lock held by a thread that waits for
 * the function's messages in flight (VFIO_DEVICE_SET_IRQS, and the engine re-programming the vector:
 * KVM_SET_GSI_ROUTING, KVM_IRQFD, ITS and GIC writes of an arm64 VM).
 */
enum virq_pci_event {
	VIRQ_PCI_EVENT_RAISE,
	VIRQ_PCI_EVENT_RAISE_COALESCED,
	VIRQ_PCI_EVENT_INTX_UNMASK,
};
typedef void virq_pci_observer(void *ctx, enum virq_pci_event event, unsigned cause, uint64_t ns);
void virq_pci_function_observe(struct virq_pci_function *fn, virq_pci_observer *observer, void *ctx);

/* Traffic: a device thread raising causes round-robin over @causes_mask. */
enum virq_traffic_pattern {
	VIRQ_TRAFFIC_FIXED,   /* evenly spaced at @rate per second */
	VIRQ_TRAFFIC_POISSON, /* exponential gaps with mean 1/@rate, from @seed */
	VIRQ_TRAFFIC_BURST,   /* @burst raises back to back, bursts spaced so the mean is @rate */
	VIRQ_TRAFFIC_STORM,   /* as fast as the thread can, yielding the CPU between raises */
};
struct virq_traffic {
	enum virq_traffic_pattern pattern;
	uint64_t rate;        /* raises per second (all causes together); ignored by STORM */
	unsigned burst;       /* raises per burst (BURST) */
	uint64_t causes_mask; /* which causes it raises; 0 = all */
	uint64_t seed;        /* POISSON */
};
/* -EBUSY if traffic already runs, -EINVAL for a bad description. */
int virq_pci_function_traffic_start(struct virq_pci_function *fn, const struct virq_traffic *traffic);
/* Stop and join the traffic thread (no-op if none runs). */
void virq_pci_function_traffic_stop(struct virq_pci_function *fn);

/* Per-cause counters (a consistent snapshot taken under the function's lock). */
struct virq_pci_cause_stats {
	uint64_t raised;       /* raises of any origin */
	uint64_t coalesced;    /* raises that found the status bit already set (or, MSI/MSI-X, their
				* vector's message already waiting: the message covers both) */
	uint64_t acked;        /* set status bits the driver cleared through ACK */
	uint64_t messages;     /* MSI/MSI-X messages sent, or INTx trigger signals */
	uint64_t held;         /* messages now waiting in the physical PBA (vector not enabled by the host) */
	uint64_t discarded;    /* messages thrown away: waiting ones at VFIO_DEVICE_RESET or at MSI disable
				* (pending in the host IRQ), and raises of a function without an INTx pin
				* while neither MSI nor MSI-X is enabled. Every raise made while MSI or MSI-X
				* is enabled, and every raise of a function without a pin, is exactly one of:
				* raised = coalesced + messages + held + discarded. In INTx mode one trigger
				* signal serves every pending cause: messages counts it on each of them. */
	bool status;           /* the status bit now */
	uint64_t latency_p50_ns; /* raise (bit 0 -> 1) -> first STATUS read that saw it */
	uint64_t latency_p99_ns;
	uint64_t latency_max_ns;
};
int virq_pci_function_cause_stats(struct virq_pci_function *fn, unsigned cause,
				  struct virq_pci_cause_stats *out);

/*
 * VFIO device interface: a descriptor in virq's handle table that takes these <linux/vfio.h> ioctls
 * through virq_ioctl(): VFIO_DEVICE_GET_INFO, VFIO_DEVICE_GET_REGION_INFO, VFIO_DEVICE_GET_IRQ_INFO,
 * VFIO_DEVICE_SET_IRQS, VFIO_DEVICE_RESET; anything else is ENOTTY. Regions are vfio-pci's (BAR0-5, ROM,
 * CONFIG, VGA), each at offset index << 40; BARs and ROM the function lacks have size 0, and VGA's
 * info is EINVAL (not a VGA device), as vfio-pci answers. Closing the
 * descriptor (virq_close) disables every IRQ, as vfio-pci's release does.
 */
int virq_vfio_device_open(struct virq_pci_function *fn); /* a descriptor, or -errno */

/* Region access, as pread(2)/pwrite(2) on a vfio-pci device fd: bytes done, or -1 with errno. */
ssize_t virq_vfio_region_read(int device_fd, void *buf, size_t count, uint64_t offset);
ssize_t virq_vfio_region_write(int device_fd, const void *buf, size_t count, uint64_t offset);

#define VIRQ_VFIO_REGION_OFFSET(index) ((uint64_t)(index) << 40)

/*
 * The host side of the function's INTx line (vfio-pci's INTx context), for tests and tools. The line is
 * *active* from the moment its host handler fires (it masks the line and signals the trigger eventfd)
 * until it is completed: unmasked by the VFIO user (VFIO_IRQ_SET_ACTION_UNMASK by ioctl or through the
 * unmask eventfd, QEMU's resamplefd wiring), or, while the line is forwarded to a guest interrupt
 * (KVM_DEV_VFIO_DEVICE_FORWARD_IRQ on an arm64 VM, docs/forwarding.md), by the guest's deactivation of
 * the virtual interrupt, which reaches the host directly, or by UNFORWARD_IRQ. A completion that finds
 * the line still asserted leaves it masked and active and signals the trigger again.
 */
struct virq_vfio_intx_stats {
	uint64_t signals;          /* trigger eventfd writes: the handler firing, or a completion or unmask
				    * that found the line still asserted (loopback TRIGGER not counted) */
	uint64_t unmasks;          /* unmask requests of the VFIO user in INTx mode: ioctl, unmask eventfd,
				    * clearing the command register's INTx disable */
	uint64_t fwd_completions;  /* completions by the forwarded guest interrupt's deactivation */
	uint64_t fwd_refires;      /* of those, the line was still asserted: signalled again */
	uint64_t fwd_stale;        /* deactivations that found nothing to complete (the line was not active,
				    * or forwarding changed in between) */
	uint64_t unforward_completions; /* active lines completed by UNFORWARD_IRQ */
	bool forwarded;            /* now */
	bool active;               /* now */
	bool masked;               /* now: masked by the handler, the user's MASK or command register */
};
/* A consistent snapshot (under the function's lock). -EINVAL if @fn or @out is NULL. */
int virq_vfio_intx_stats(struct virq_pci_function *fn, struct virq_vfio_intx_stats *out);

/*
 * Interrupt remapping: an IOMMU with an interrupt remapping table (VT-d chapters 5 and 9.10), in x2APIC
 * mode (IRTA.EIME = 1: 32-bit destination IDs), with posted-interrupt support.
 *
 * A function attached to an IOMMU sends its MSI-X messages in remappable format (address bits 31:20 =
 * 0xFEE, bit 4 = 1, handle[14:0] in bits 19:5, handle[15] in bit 2, bit 3 SHV; with SHV the data's low
 * 16 bits are a sub-handle added to the handle; data bits 31:16 reserved). Attaching reserves one IRTE
 * per MSI-X vector, contiguous from a base index; when vfio-pci enables vector v, the host driver (as
 * intel_irq_remapping) programs IRTE[base + v] in remapped format (present, fixed, physical, edge, a host
 * vector, SVT = 1 / SQ = 0 / SID = the function's requester ID) and writes the message handle = base + v,
 * SHV = 1, sub-handle 0 into the physical MSI-X entry. Each message is then translated through the table:
 *   - remapped entry: the host IRQ, whose handler (vfio_msihandler) signals the vector's trigger eventfd,
 *     exactly as without an IOMMU;
 *   - posted entry (IM = 1): the IOMMU posts the entry's virtual vector into the posted-interrupt
 *     descriptor at the entry's address (struct virq_posted_desc of src/bypass/posted_desc.h, an
 *     address in this process), and when that post sets ON (ON was clear and SN clear, or URG set) it
 *     sends the notification: the handler installed through src/bypass/notify.h, with the descriptor's
 *     NDST and NV. No eventfd is written.
 *   - a fault: the message is dropped and the fault counted per reason (and recorded as the last fault,
 *     unless the entry's FPD suppresses it: FPD covers not-present and reserved-field faults only).
 * MSI (not MSI-X) and INTx are not remapped by this model. A function not attached behaves as before.
 *
 * Locks: the IOMMU has one lock, taken inside a function's lock on the message path; a table write
 * returns only once no message is still being translated through the old entry (the interrupt entry
 * cache invalidation and its wait descriptor), so a descriptor that no entry points at any more may be
 * freed.
 */
struct virq_iommu;

#define VIRQ_IOMMU_MAX_ENTRIES 65536

/* One 128-bit IRTE as it sits in the table: bits 63:0 in @lo, bits 127:64 in @hi. */
struct virq_irte {
	uint64_t lo, hi;
};

/* The fields of both formats; virq_irte_encode() packs them, virq_irte_decode() unpacks. */
struct virq_irte_fields {
	bool present;          /* P, bit 0 */
	bool fpd;              /* FPD, bit 1: do not record faults this entry causes */
	uint8_t avail;         /* AVL, bits 11:8: software's */
	bool posted;           /* IM, bit 15: 0 remapped format, 1 posted format */
	uint8_t vector;        /* bits 23:16: the host vector (remapped) or the virtual vector (posted) */
	/* remapped format only */
	bool dest_logical;     /* DM, bit 2 */
	bool redir_hint;       /* RH, bit 3 */
	bool level;            /* TM, bit 4 */
	uint8_t delivery_mode; /* DLM, bits 7:5 (0 fixed, 1 lowest priority, 2 SMI, 4 NMI, 5 INIT, 7 ExtINT) */
	uint32_t dest_id;      /* DST, bits 63:32 */
	/* posted format only */
	bool urgent;           /* URG, bit 14 */
	uint64_t pda;          /* descriptor address, 64-byte aligned: bits 31:6 in IRTE bits 63:38,
				* bits 63:32 in IRTE bits 127:96 */
	/* source validation, both formats */
	uint16_t sid;          /* bits 79:64: requester ID (SVT 1) or start bus << 8 | end bus (SVT 2) */
	uint8_t sq;            /* bits 81:80: with SVT 1, ignore function bits: 0 none, 1 bit 2, 2 bits 2:1,
				* 3 bits 2:0 */
	uint8_t svt;           /* bits 83:82: 0 no check, 1 SID and SQ, 2 bus range, 3 reserved */
};

/* -EINVAL when a field does not fit its bits, @pda is not 64-byte aligned, or a field of the other
 * format is set. */
int virq_irte_encode(const struct virq_irte_fields *fields, struct virq_irte *out);
void virq_irte_decode(const struct virq_irte *irte, struct virq_irte_fields *out);

/* @entries: the table size, a power of two from 2 to VIRQ_IOMMU_MAX_ENTRIES (IRTA.S + 1). -EINVAL. */
int virq_iommu_create(unsigned entries, struct virq_iommu **out);
/* -EBUSY while a function is attached. */
int virq_iommu_destroy(struct virq_iommu *iommu);

/*
 * Put @fn behind @iommu: reserve its IRTEs (one per MSI-X vector) and make its MSI-X messages
 * remappable. -EBUSY if @fn is attached already or a VFIO descriptor is open on it; -ENOSPC if the
 * table has no room for the block. Destroying the function detaches it.
 */
int virq_iommu_attach(struct virq_iommu *iommu, struct virq_pci_function *fn);
/* Release the function's IRTEs (cleared: not present). -EINVAL if not attached, -EBUSY if VFIO is open. */
int virq_iommu_detach(struct virq_pci_function *fn);
/* The IRTE index of MSI-X vector @v of @fn, or -EINVAL (not attached, @v out of range). */
int virq_iommu_vector_index(struct virq_pci_function *fn, unsigned v);

/* Raw table access (software writing the entry, then invalidating the interrupt entry cache). -EINVAL
 * for an index beyond the table. A write may set any bits, reserved ones included. */
int virq_iommu_irte_read(struct virq_iommu *iommu, unsigned index, struct virq_irte *out);
int virq_iommu_irte_write(struct virq_iommu *iommu, unsigned index, const struct virq_irte *irte);

/*
 * What intel_irq_remapping's vcpu-affinity hook does for vector @v of an attached @fn: post it to the
 * descriptor at @pda with virtual vector @vector (P, FPD, AVL, SID, SQ, SVT copied from the host's
 * remapped entry, URG 0, as Linux), or put the host's remapped entry back. -EINVAL: not attached, @v out
 * of range, @pda 0 or not 64-byte aligned.
 */
int virq_iommu_vector_post(struct virq_pci_function *fn, unsigned v, uint64_t pda, uint8_t vector);
int virq_iommu_vector_remap(struct virq_pci_function *fn, unsigned v);

/* Fault reasons, numbered as the VT-d fault recording registers report them. */
enum virq_iommu_fault_reason {
	VIRQ_IOMMU_FAULT_REQ_RESERVED = 0x20,  /* reserved field set in the request (data bits 31:16) */
	VIRQ_IOMMU_FAULT_INDEX = 0x21,         /* handle (+ sub-handle) beyond the table */
	VIRQ_IOMMU_FAULT_NOT_PRESENT = 0x22,   /* P clear */
	VIRQ_IOMMU_FAULT_IRTE_RESERVED = 0x24, /* reserved field set in a present entry (here also a posted
						* entry with descriptor address 0) */
	VIRQ_IOMMU_FAULT_COMPAT = 0x25,        /* compatibility-format request blocked */
	VIRQ_IOMMU_FAULT_SID = 0x26,           /* source-id verification failed */
};
#define VIRQ_IOMMU_FAULT_FIRST 0x20
#define VIRQ_IOMMU_FAULT_COUNT 8 /* reasons 0x20..0x27 */

struct virq_iommu_faults {
	uint64_t count[VIRQ_IOMMU_FAULT_COUNT]; /* [reason - VIRQ_IOMMU_FAULT_FIRST]: recorded faults */
	uint64_t recorded;                      /* sum of @count */
	uint64_t suppressed;                    /* faults not recorded because the entry's FPD was set */
	/* The last recorded fault, as the fault recording register holds it (valid when @recorded > 0). */
	uint8_t last_reason;
	uint16_t last_sid;                      /* the requester ID of the faulting message */
	uint32_t last_index;                    /* the interrupt index it used */
};
/* A consistent snapshot. */
int virq_iommu_faults(struct virq_iommu *iommu, struct virq_iommu_faults *out);

struct virq_iommu_stats {
	uint64_t remapped;         /* messages delivered as host IRQs */
	uint64_t posted;           /* messages posted into a descriptor */
	uint64_t posted_coalesced; /* of those, posts that found their PIR bit already set */
	uint64_t notifications;    /* posts that set ON and sent a notification */
	uint64_t unclaimed;        /* remapped through an entry of no vector of the sending function (with
				    * SVT 0): a host IRQ nobody here handles, dropped */
	uint64_t dropped;          /* messages dropped by a fault (recorded or suppressed) */
};
int virq_iommu_stats(struct virq_iommu *iommu, struct virq_iommu_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* VIRQ_HOST_H */
