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
 * @cause 0). Called on the thread where it happens, outside the function's lock.
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

#ifdef __cplusplus
}
#endif

#endif /* VIRQ_HOST_H */
