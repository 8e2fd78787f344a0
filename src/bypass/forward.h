/* SPDX-License-Identifier: MIT */
/*
 * bypass/forward.h - a forwarded line (seed 001, KVM_DEV_VFIO_DEVICE_FORWARD_IRQ): the interface between
 * a host interrupt line that VFIO owns and the engine that forwards it to a guest interrupt, so the
 * guest's deactivation of the virtual interrupt completes the physical one with no VMM in between.
 * Header-only; docs/forwarding.md has the whole story.
 *
 * Why not the producer/consumer pairing of irqbypass.h: FORWARD_IRQ names the line by VFIO device,
 * index and subindex, not by an eventfd, and completion goes from the engine to the host (a call), not
 * from a producer to a consumer at pairing time. So the line is found through the handle table (the VFIO
 * device descriptor answers VIRQ_FWD_LINE_GET) and used through the ops below. The host never includes
 * engine headers and the engine never includes host headers: both include this one.
 *
 * The host line keeps its own state under its own lock: whether VFIO signalling (a trigger eventfd) is
 * set, whether the line is *active* (its handler fired and masked it, and nobody has completed it yet),
 * and whether it is forwarded, with a generation number bumped by every forward and unforward.
 *
 * Locks: lock() takes the line's lock and unlock() drops it; between the two the caller may take its own
 * locks (the engine's forwarding table and the GIC), never the other way round: complete() and the
 * line's firing path (an eventfd write after the line's lock is dropped) are called with no engine lock
 * held. So the order is line lock -> engine forwarding lock -> GIC locks, and a deactivation drops the
 * GIC and forwarding locks before it calls complete().
 */
#ifndef VIRQ_BYPASS_FORWARD_H
#define VIRQ_BYPASS_FORWARD_H

#include <linux/ioctl.h>
#include <stdbool.h>
#include <stdint.h>

struct virq_fwd_line;

/* What lock() reports, at one consistent moment. */
struct virq_fwd_line_state {
	bool signalling; /* VFIO_DEVICE_SET_IRQS has a trigger eventfd set for the line */
	bool active;     /* the line fired (masked by its handler) and has not been completed */
	bool forwarded;  /* forwarded now */
	uint64_t gen;    /* the forwarding generation now: unlock(+1 or -1) makes it gen + 1 */
};

struct virq_fwd_line_ops {
	/* Take the line's lock and report its state. */
	void (*lock)(struct virq_fwd_line *line, struct virq_fwd_line_state *st);
	/*
	 * Apply @change and drop the lock: +1 forward, -1 unforward (an active line is completed as part
	 * of it: unmasked, or signalled again if still asserted), 0 nothing. Returns the forwarding
	 * generation after the change; each forward and unforward bumps it.
	 */
	uint64_t (*unlock)(struct virq_fwd_line *line, int change);
	/*
	 * The guest deactivated the virtual interrupt that forwarding generation @gen maps to this line:
	 * complete the physical line (deactivate it: unmask; a line still asserted fires again, which
	 * makes the virtual interrupt pending again). Does nothing when @gen is no longer current (an
	 * unforward or a new forward came in between: unforward completes the line itself) or the line is
	 * not active. Any thread, with no engine lock held.
	 */
	void (*complete)(struct virq_fwd_line *line, uint64_t gen);
};

/* Embedded in the host's line object; valid while the caller holds a reference on the VFIO device's
 * handle (src/handle/handle.h), which keeps the device, and so the line, alive. */
struct virq_fwd_line {
	const struct virq_fwd_line_ops *ops;
};

/*
 * Finding a line: an ioctl on the VFIO device descriptor through the handle table (virq_handle_ioctl or
 * the handle's ops), as Linux's kvm-vfio reaches VFIO through the file. In: VFIO IRQ @index and
 * @subindex. Out: @line. -EINVAL when the device has no such line that can be forwarded (only a level
 * INTx line with automask can). virq-internal: the number is outside VFIO's range (';', 100 + n).
 */
struct virq_fwd_line_get {
	uint32_t index;
	uint32_t subindex;
	struct virq_fwd_line *line;
};
#define VIRQ_FWD_LINE_GET _IOWR(';', 0xf0, struct virq_fwd_line_get)

#endif /* VIRQ_BYPASS_FORWARD_H */
