/* SPDX-License-Identifier: MIT */
/*
 * pci_function.h - the inside of a simulated PCI function, shared by the host simulation's files.
 *
 * One struct holds both halves of what the real system keeps in two places: the *device* (config space,
 * BAR registers, MSI-X table and PBA, the STATUS bits of its causes) and the *host's* interrupt state for
 * it (what vfio-pci keeps in its vfio_pci_core_device: irq_type, the per-vector trigger eventfds, INTx
 * masking, the unmask virqfd). Keeping them side by side lets one lock cover the device and its host IRQ
 * handler, as the kernel's irqlock spinlock does, so a raise and a SET_IRQS can never see each other half
 * done.
 *
 * Locks, in the order they nest:
 *   igate         serializes host control: SET_IRQS, config writes with side effects, open/close, reset.
 *                 Mirrors vfio-pci's vdev->igate mutex.
 *   lock          every device and host-IRQ field below. Raises, BAR and config accesses, the virqfd
 *                 watcher's unmask. Eventfd writes happen after it is dropped (see signal begin/end).
 *   iommu->lock   the IOMMU's table and counters (irte.c), taken inside @lock on the message path.
 *   sync_lock     serializes virq_pci_sync_signals() (SET_IRQS under igate, and a consumer's set_lpi,
 *                 which cannot take igate: it runs under the bypass manager's lock); taken with no
 *                 other lock of the function held.
 *   traffic_lock  the traffic thread's start/stop (independent of the others).
 */
#ifndef VIRQ_HOST_PCI_FUNCTION_H
#define VIRQ_HOST_PCI_FUNCTION_H

#include "bypass/forward.h"
#include "bypass/irqbypass.h"
#include "guest/latency.h"
#include "virq/host.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define VIRQ_PCI_CFG_SIZE 256
#define VIRQ_PCI_NUM_BARS 6
#define VIRQ_PCI_MSI_CAP  0x50 /* where the MSI capability sits, when the function has one */
#define VIRQ_PCI_MSIX_CAP 0x70 /* where the MSI-X capability sits, when the function has one */

/* The host's interrupt mode (vfio-pci's irq_type); VIRQ_IRQ_NONE = VFIO_PCI_NUM_IRQS, as vfio-pci uses. */
#define VIRQ_IRQ_NONE VFIO_PCI_NUM_IRQS

struct virq_pci_cause {
	uint64_t raised, coalesced, acked, messages, held, discarded; /* [L:lock] */
	uint64_t raise_ns; /* [L:lock] when the status bit last went 0 -> 1 */
	bool seen;         /* [L:lock] a STATUS read has stamped that raise's latency */
	struct virq_latency_hist lat; /* written under lock, read lock-free by stats */
};

/*
 * The host side of one MSI or MSI-X vector (vfio-pci's vfio_pci_irq_ctx) plus its waiting messages: the
 * device's PBA bit (MSI-X, survives MSI-X disable as device state does) and a message pending in a host
 * MSI IRQ that has no handler yet (freed, so discarded, when MSI is disabled).
 */
struct virq_pci_vector {
	struct virq_pci_function *fn; /* [I] */
	unsigned index;               /* [I] */
	/*
	 * The irq bypass producer of this vector while it has a trigger (vfio's ctx->producer): an irqfd on
	 * the same eventfd pairs with it and may have its interrupt posted straight to a vCPU.
	 */
	struct virq_bypass_producer producer;
	bool producing;               /* [L:igate] @producer is registered */
	/* arm64's direct LPI injection (set_lpi, vfio_irqs.c): while @direct, a message of this vector's
	 * host IRQ calls @lpi.inject once the lock is dropped, and writes @trigger only if it refuses. */
	bool direct;                  /* [L:lock] */
	struct virq_bypass_lpi lpi;   /* [L:lock] */
	int trigger;            /* [L:lock] virq's duplicate of the trigger eventfd, -1 if none */
	bool pba;               /* [L:lock] MSI-X pending bit */
	unsigned pba_cause;     /* [L:lock] the cause whose raise set @pba */
	bool msi_pending;       /* [L:lock] */
	unsigned msi_cause;     /* [L:lock] */
};

struct virq_pci_function {
	char *name;                               /* [I] */
	struct virq_pci_function_desc desc;       /* [I] (name points at @name) */
	uint32_t bar_size[VIRQ_PCI_NUM_BARS];     /* [I] 0 = no BAR */
	uint8_t wmask[VIRQ_PCI_CFG_SIZE];         /* [I] writable bits of the physical config space */
	uint8_t vmask[VIRQ_PCI_CFG_SIZE];         /* [I] bits the VFIO view virtualizes (vconfig) */
	unsigned nvec;                            /* [I] max(msix_vectors, msi_vectors) */

	pthread_mutex_t igate;
	pthread_mutex_t lock;

	/* The device. */
	uint8_t cfg[VIRQ_PCI_CFG_SIZE];           /* [L:lock] physical config space */
	uint64_t status;                          /* [L:lock] STATUS: bit k = cause k needs service */
	struct virq_pci_cause *cause;             /* [L:lock] desc.causes entries */
	uint8_t *msix_table;                      /* [L:lock] 16 bytes per entry, physical */
	struct virq_pci_vector *vec;              /* [L:lock] nvec entries */
	virq_pci_observer *observer;              /* [L:lock] */
	void *observer_ctx;                       /* [L:lock] */

	/* The host (vfio-pci) state; changed with igate and lock held, read with either. */
	uint8_t vcfg[VIRQ_PCI_CFG_SIZE];          /* [L:lock] the user's view of the vmask bits */
	unsigned irq_type;                        /* [L:lock] VFIO_PCI_*_IRQ_INDEX or VIRQ_IRQ_NONE */
	unsigned num_ctx;                         /* [L:lock] MSI/MSI-X vectors enabled (vfio's num_ctx) */
	bool intx_masked;                         /* [L:lock] vfio's ctx[0].masked */
	bool virq_disabled;                       /* [L:lock] the user's command-register INTx disable */
	int intx_trigger;                         /* [L:lock] -1 if none */
	int err_trigger, req_trigger;             /* [L:lock] ERR/REQ eventfds, -1 if none */
	int unmask_efd;                           /* [L:lock] the INTx unmask virqfd, -1 if none */
	uint64_t unmask_gen;                      /* [L:lock] bumped whenever @unmask_efd changes */
	unsigned open_count;                      /* [L:igate] open VFIO descriptors */

	/* INTx as a forwarded line (seed 001, src/bypass/forward.h, vfio_irqs.c). */
	struct virq_fwd_line intx_line;           /* [I] its ops */
	bool intx_active;                         /* [L:lock] the handler fired (automask) and the line has
						   * not been completed (unmasked) since */
	bool intx_fwd;                            /* [L:lock] forwarded to a guest interrupt */
	uint64_t intx_fwd_gen;                    /* [L:lock] bumped by every forward and unforward */
	struct virq_vfio_intx_stats intx_stats;   /* [L:lock] counters; forwarded/active/masked filled on read */

	/* Interrupt remapping (irte.c): set by attach/detach with igate and lock held, read with either. */
	struct virq_iommu *iommu;                 /* [L:lock] NULL: messages in compatibility format */
	unsigned irte_base;                       /* [L:lock] IRTE of MSI-X vector v: irte_base + v */

	/* The virqfd watcher thread (vfio_virqfd.c): started with the first unmask eventfd. */
	pthread_t watcher;                        /* [L:igate] */
	bool watcher_running;                     /* [L:igate] */
	int watch_epfd, watch_stop;               /* [L:igate] created with the thread */

	/* Eventfd writes and direct injections in flight outside the lock: two slots flipped by
	 * virq_pci_sync_signals(), whose callers take sync_lock so that two syncs never overlap. */
	pthread_mutex_t sync_lock;
	uint64_t signal_epoch;                    /* [L:lock] */
	_Atomic unsigned inflight[2];             /* [A] */

	/* Traffic (traffic.c). */
	pthread_mutex_t traffic_lock;
	pthread_t traffic_thread;                 /* [L:traffic_lock] */
	bool traffic_running;                     /* [L:traffic_lock] */
	struct virq_traffic traffic;              /* [L:traffic_lock] fixed while the thread runs */
	atomic_bool traffic_stop;                 /* [A] */
};

/* A posted interrupt's notification to send once the function's lock is dropped (irte.c). */
struct virq_iommu_note {
	bool send;
	uint8_t nv;
	uint32_t ndst;
};

/* A direct LPI injection to try once the lock is dropped, before (instead of) the eventfd write. */
struct virq_pci_direct {
	bool on;
	struct virq_bypass_lpi lpi;   /* the vector's target, copied under the lock */
	uint64_t raise_ns;
};

/* An eventfd write to do once the lock is dropped: see virq_pci_signal_begin_locked(). */
struct virq_pci_signal {
	int fd;        /* -1: nothing to write */
	unsigned slot;
	struct virq_pci_direct direct; /* on: inject first, write @fd only if the injection refuses */
};

/* pci_function.c: signalling outside the lock, and the interrupt paths. */
struct virq_pci_signal virq_pci_signal_begin_locked(struct virq_pci_function *fn, int fd);
/* The same for a vector's message, which may be injected directly (@direct, from the send path). */
struct virq_pci_signal virq_pci_signal_begin_direct_locked(struct virq_pci_function *fn, int fd,
							   const struct virq_pci_direct *direct);
void virq_pci_signal_end(struct virq_pci_function *fn, struct virq_pci_signal sig);
void virq_pci_sync_signals(struct virq_pci_function *fn);
uint64_t virq_pci_now_ns(void);
/* Tell the observer (if any) about @event; call without fn->lock. */
void virq_pci_notify(struct virq_pci_function *fn, enum virq_pci_event event, unsigned cause);
/* INTx: the host handler (vfio_intx_handler) if the line is asserted and unmasked; returns the trigger
 * to signal or -1. Counts the message on every pending cause. */
int virq_pci_intx_handler_locked(struct virq_pci_function *fn);
void virq_pci_intx_count_signal_locked(struct virq_pci_function *fn);
/* MSI/MSI-X vector @v got a trigger or was unmasked: release its pending message (fd to signal or -1;
 * through an IOMMU the message may be posted instead, and @note says whether to notify once unlocked;
 * @direct: whether to inject it straight into an LPI first, see struct virq_pci_signal). */
int virq_pci_vector_release_locked(struct virq_pci_function *fn, unsigned v, struct virq_iommu_note *note,
				   struct virq_pci_direct *direct);
/* Drop waiting messages, counted as discarded: MSI's always, the PBA's too with @pba (reset). */
void virq_pci_discard_pending_locked(struct virq_pci_function *fn, bool pba);
/* BAR access, one naturally aligned chunk of 1, 2, 4 or 8 bytes: 0 or -errno. */
int virq_pci_bar_read(struct virq_pci_function *fn, unsigned bar, uint64_t off, unsigned size, uint64_t *val);
int virq_pci_bar_write(struct virq_pci_function *fn, unsigned bar, uint64_t off, unsigned size, uint64_t val);
void virq_pci_function_reset_locked(struct virq_pci_function *fn);

/* pci_config.c: config space. @virt selects the VFIO user's view (vconfig) instead of the physical one. */
void virq_pci_config_init(struct virq_pci_function *fn);
uint32_t virq_pci_config_read_locked(struct virq_pci_function *fn, unsigned off, unsigned size, bool virt);
/* Returns true if the write changed the user's INTx-disable bit (the caller runs mask/unmask). */
bool virq_pci_config_write_locked(struct virq_pci_function *fn, unsigned off, unsigned size, uint32_t val,
				  bool virt);
void virq_pci_config_vreset_locked(struct virq_pci_function *fn);
bool virq_pci_intx_disabled_locked(const struct virq_pci_function *fn);
void virq_pci_set_intx_disable_locked(struct virq_pci_function *fn, bool disable);
bool virq_pci_intx_status_locked(const struct virq_pci_function *fn);
bool virq_pci_msi_enabled_locked(const struct virq_pci_function *fn);
bool virq_pci_msix_enabled_locked(const struct virq_pci_function *fn);
void virq_pci_msi_set_enable_locked(struct virq_pci_function *fn, bool enable, unsigned nvec);
void virq_pci_msix_set_enable_locked(struct virq_pci_function *fn, bool enable);

/* msix.c: the physical MSI-X table and PBA. */
int virq_msix_init(struct virq_pci_function *fn);
bool virq_msix_entry_masked_locked(const struct virq_pci_function *fn, unsigned v);
void virq_msix_host_program_locked(struct virq_pci_function *fn, unsigned v, bool unmask);
void virq_msix_mask_all_locked(struct virq_pci_function *fn);
/* The MSI-X structure (table or PBA) that covers BAR @bar offset @off: 1 table, 2 PBA, 0 none. */
int virq_msix_region(const struct virq_pci_function *fn, unsigned bar, uint64_t off);
uint64_t virq_msix_pba_read_locked(const struct virq_pci_function *fn, uint64_t pba_off, unsigned size);
uint32_t virq_msix_pba_bytes(const struct virq_pci_function *fn);
/* For tests and tools: the four dwords of physical entry @v. -EINVAL if out of range. */
int virq_msix_entry_read(struct virq_pci_function *fn, unsigned v, uint32_t out[4]);
/* For tests: write physical entry @v's four dwords, as a device (or a guest with direct access to the
 * table) could, behind the host's back. -EINVAL if out of range. */
int virq_msix_entry_write(struct virq_pci_function *fn, unsigned v, const uint32_t in[4]);
/* The message vector @v sends now: the entry's address (low dword) and data. */
void virq_msix_entry_message_locked(const struct virq_pci_function *fn, unsigned v, uint32_t *addr, uint32_t *data);

/* irte.c: the function's side of interrupt remapping. */
/*
 * A remappable-format message (@addr, @data) from @fn is translated through its IOMMU: returns the IRTE
 * index when the entry is remapped (a host IRQ: the caller runs that vector's handler), or -1 when the
 * message was posted (@note filled) or dropped by a fault. fn->lock held.
 */
int virq_iommu_translate_locked(struct virq_pci_function *fn, uint32_t addr, uint32_t data,
				struct virq_iommu_note *note);
/* The host driver enables MSI-X vector @v of an attached @fn: program its IRTE in remapped format and
 * return the remappable message for the MSI-X entry. fn->lock held. */
void virq_iommu_host_program_locked(struct virq_pci_function *fn, unsigned v, uint32_t *addr, uint32_t *data);
/* Send the notification @note carries, if any. Call with no lock held. */
void virq_iommu_note_send(const struct virq_iommu_note *note);
/* virq_pci_function_destroy: detach if attached (no VFIO descriptor is open by then). */
void virq_iommu_function_gone(struct virq_pci_function *fn);

/* vfio_irqs.c */
long virq_vfio_set_irqs(struct virq_pci_function *fn, unsigned long arg);
/* VIRQ_FWD_LINE_GET (src/bypass/forward.h): the line of IRQ @req->index/@req->subindex, or -EINVAL. */
int virq_vfio_fwd_line_get(struct virq_pci_function *fn, struct virq_fwd_line_get *req);
void virq_vfio_irqs_release(struct virq_pci_function *fn); /* igate held: disable everything */
void virq_vfio_intx_virq_disable(struct virq_pci_function *fn, bool disabled); /* igate held */
/* The unmask handler (vfio_pci_intx_unmask_handler): returns the trigger to signal (line still asserted)
 * or -1. From the ioctl and from the virqfd watcher. */
int virq_vfio_intx_unmask_locked(struct virq_pci_function *fn);
/* What GET_IRQ_INFO reports as count for @index (vfio_pci_get_irq_count). */
unsigned virq_vfio_irq_count(const struct virq_pci_function *fn, unsigned index);

/* vfio_virqfd.c: the unmask eventfd watcher. igate held for enable/disable/stop. */
int virq_virqfd_enable(struct virq_pci_function *fn, int user_fd);
void virq_virqfd_disable(struct virq_pci_function *fn);
void virq_virqfd_stop(struct virq_pci_function *fn);

/* eventfd helpers (vfio_irqs.c): duplicate a user's eventfd as eventfd_ctx_fdget would take it. */
int virq_eventfd_dup(int user_fd); /* our fd, -EBADF or -EINVAL */
void virq_eventfd_signal(int fd);

#endif /* VIRQ_HOST_PCI_FUNCTION_H */
