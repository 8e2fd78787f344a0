/* SPDX-License-Identifier: MIT */
/*
 * bypass/notify.h - the notification of posted interrupts: the host interrupt with vector NV that the
 * IOMMU sends to NDST when a post sets ON (VT-d 5.2.3).
 *
 * In a real machine that is a physical interrupt whose IDT entry KVM installed
 * (POSTED_INTR_VECTOR: the running vCPU folds on VM entry; POSTED_INTR_WAKEUP_VECTOR: the wakeup handler
 * walks the per-CPU list of blocked vCPUs). Here it is one function pointer, installed by whoever plays
 * the CPU side (the engine), and called by the host's IOMMU with the NDST and NV of the descriptor's
 * control word as the post read them. The host never includes engine headers, and the engine never
 * includes host headers: both meet at this header.
 *
 * Process-wide, part of the bypass manager's state (ARCHITECTURE.md 5.1): one handler slot. Installing
 * and removing are serialized by a mutex; sending is lock-free and makes no syscall (an atomic load and
 * two counter updates around the call), so the posted path stays at zero syscalls per delivery.
 */
#ifndef VIRQ_BYPASS_NOTIFY_H
#define VIRQ_BYPASS_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

/* Called on the thread that posted (a device thread), with no virq lock held. May run concurrently with
 * itself. A notification can arrive late, for a descriptor whose NDST/NV has since changed or that is no
 * longer posted to: the handler must tolerate it, as KVM's wakeup handler tolerates a spurious 0xf1. */
typedef void virq_posted_notify_fn(void *ctx, uint32_t ndst, uint8_t nv);

/* Install the handler; -EBUSY if one is installed, -EINVAL for NULL, -ENOMEM. */
int virq_bypass_notify_install(virq_posted_notify_fn *fn, void *ctx);
/* Remove it (no-op if none). When this returns, no call of the old handler is running or will start, so
 * its @ctx may be freed. Must not be called from the handler. */
void virq_bypass_notify_remove(void);

/* Send a notification: call the handler if one is installed. Returns whether one was; a notification
 * with no handler is counted as dropped (the PIR bit stays, so nothing is lost, only not signalled). */
bool virq_bypass_notify(uint32_t ndst, uint8_t nv);

struct virq_bypass_notify_stats {
	uint64_t sent;    /* notifications handed to a handler */
	uint64_t dropped; /* notifications sent while no handler was installed */
};
void virq_bypass_notify_stats(struct virq_bypass_notify_stats *out);

#endif /* VIRQ_BYPASS_NOTIFY_H */
