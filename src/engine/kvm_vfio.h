/* SPDX-License-Identifier: MIT */
/*
 * kvm_vfio.h - the kvm-vfio device's logic (KVM_CREATE_DEVICE with KVM_DEV_TYPE_VFIO; Linux's
 * virt/kvm/vfio.c, kvm-x86.md 1.9) and the seeds' KVM_DEV_VFIO_DEVICE group (000 POST/UNPOST, 001
 * FORWARD/UNFORWARD). Only the attribute semantics live here; the device fd (KVM_SET/GET/HAS_DEVICE_ATTR
 * dispatch, one device per VM -> EBUSY, release on close) is front.c's and vm_kvm_vfio.c's.
 *
 * Why callbacks (struct virq_kvm_vfio_ops): "is this fd a VFIO device?" and "is this VFIO IRQ active?"
 * are questions about the host simulation, whose headers the engine must not include (ARCHITECTURE.md
 * section 1). Whoever wires the VM to the host answers them: vm_kvm_vfio.c, which asks the handle table
 * (VFIO descriptors are virq handles), offers no forwarding on x86 and forwards INTx lines to SPIs on
 * arm64 through src/bypass/forward.h (docs/forwarding.md). The split: this module owns the rules
 * and the errno (what Linux and the seeds specify) and the device's state (tracked files, forwarded
 * IRQs, overrides); the callbacks only report host facts and apply host changes.
 *
 * Errno, as Linux (group 1) and as virq defines the seeds (group 2):
 *   any: unknown group or attribute, or a group-2 attribute whose callback is not wired -> -ENXIO
 *        (KVM_HAS_DEVICE_ATTR answers 0 exactly for what SET accepts); GET -> -EPERM (no getter)
 *   FILE_ADD: -EFAULT no argument; -EBADF fd not open; -EINVAL not a VFIO file; -EEXIST already tracked
 *   FILE_DEL: -EFAULT; -EBADF; -ENOENT not tracked (a non-VFIO fd is simply not tracked)
 *   FORWARD_IRQ: -EFAULT; -EBADF; -EINVAL not VFIO, gsi >= KVM_MAX_IRQ_ROUTES, or no such IRQ;
 *        -EEXIST already forwarded; what irq_lock adds (arm64: -EINVAL gsi beyond the SPIs, -ENXIO no
 *        vGIC, -EBUSY vGIC not initialised or the SPI or the line forwarded elsewhere);
 *        -EAGAIN VFIO signalling is set for it and it is active right now
 *        (seed 000's later text, which supersedes 001 v3's -EBUSY; ARCHITECTURE.md 2, row 001)
 *   UNFORWARD_IRQ: -EFAULT; -EBADF; -EINVAL; -ENOENT not forwarded; otherwise works at any time
 *   POST_IRQ / UNPOST_IRQ: -EFAULT; -EINVAL argsz too small for count, count 0 or above
 *        VIRQ_KVM_VFIO_MAX_IRQS, start + count overflowing, a gsi >= KVM_MAX_IRQ_ROUTES, not VFIO;
 *        -EBADF; -ENOMEM
 *
 * Locks: `lock` protects the device's lists. Callbacks file_check/set_kvm/irq_lock/irq_unlock run with
 * it held (order: dev->lock -> the host's locks); override_changed runs after it is dropped, because it
 * re-decides irqfds (irqfd_bypass lock), whose deciding path reads the override (dev->lock).
 */
#ifndef VIRQ_ENGINE_KVM_VFIO_H
#define VIRQ_ENGINE_KVM_VFIO_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "engine/bypass_policy.h"
#include "virq/kvm.h"

/* The uAPI names (KVM_DEV_VFIO_FILE*, KVM_DEV_VFIO_DEVICE*, struct kvm_arch_forwarded_irq, struct
 * kvm_vfio_dev_irq) are in <virq/kvm.h>. */

#define VIRQ_KVM_VFIO_MAX_IRQS 2048 /* vectors per POST_IRQ call: PCI's MSI-X maximum */

/* Host facts about one VFIO IRQ, reported by irq_lock. */
struct virq_kvm_vfio_irq_state {
	bool signalling; /* VFIO_DEVICE_SET_IRQS has an eventfd trigger set for it */
	bool active;     /* the physical interrupt is active now (raised, not yet completed) */
	void *cookie;    /* the callbacks' own, from irq_lock to irq_unlock */
	uint64_t gen;    /* the callbacks' own too (arm64: the line's forwarding generation at irq_lock) */
};

struct virq_kvm_vfio_ops {
	/* Required. 0 when @fd is a VFIO device (or group) file, -EINVAL when it is open but not VFIO,
	 * -EBADF when it is not open. */
	int (*file_check)(void *ctx, int fd);
	/* Optional: @fd was added (@attached) or deleted / released (Linux: kvm_vfio_file_set_kvm). */
	void (*set_kvm)(void *ctx, int fd, bool attached);
	/*
	 * FORWARD/UNFORWARD (both NULL: not offered, -ENXIO, as on a VM without a GIC). irq_lock finds IRQ
	 * (@index, @subindex) of device @fd, to be forwarded to @gsi (@forward) or unforwarded from @gsi,
	 * holds it still and reports its state; -EINVAL: no such IRQ or no such @gsi, or another -errno
	 * when the VM cannot forward to @gsi now. For an unforward @fd may be the device's duplicate
	 * descriptor (device release), so the callback should find the IRQ by @gsi. irq_unlock releases
	 * it, first applying @change: +1 forward to @gsi, -1 unforward, 0 nothing; @st is what irq_lock
	 * filled. The rule (EAGAIN) is decided between the two, so it sees one consistent moment.
	 */
	int (*irq_lock)(void *ctx, int fd, uint32_t index, uint32_t subindex, uint32_t gsi, bool forward,
			struct virq_kvm_vfio_irq_state *st);
	void (*irq_unlock)(void *ctx, int fd, uint32_t index, uint32_t subindex, int change, uint32_t gsi,
			   struct virq_kvm_vfio_irq_state *st);
	/* POST/UNPOST (NULL: not offered, -ENXIO): the override of @gsi changed; re-decide the irqfd(s) on
	 * it (virq_irqfd_bypass_update(b, NULL)), which read it back with virq_kvm_vfio_override(). */
	void (*override_changed)(void *ctx, uint32_t gsi);
};

struct virq_kvm_vfio_file;
struct virq_kvm_vfio_fwd;
struct virq_kvm_vfio_ovr;

struct virq_kvm_vfio {
	const struct virq_kvm_vfio_ops *ops; /* [I] */
	void *ctx;                           /* [I] */
	pthread_mutex_t lock;
	struct virq_kvm_vfio_file *files;    /* [L:lock] tracked VFIO files (dups: Linux's file references) */
	struct virq_kvm_vfio_fwd *fwds;      /* [L:lock] forwarded IRQs */
	struct virq_kvm_vfio_ovr *ovrs;      /* [L:lock] per-GSI overrides */
};

int virq_kvm_vfio_init(struct virq_kvm_vfio *dev, const struct virq_kvm_vfio_ops *ops, void *ctx);
/* Device release: unforward what is forwarded, drop every file (set_kvm(false)) and override. */
void virq_kvm_vfio_destroy(struct virq_kvm_vfio *dev);

/* KVM_SET_DEVICE_ATTR: @addr is kvm_device_attr.addr as a pointer (NULL -> -EFAULT). 0 or -errno. */
int virq_kvm_vfio_set_attr(struct virq_kvm_vfio *dev, uint32_t group, uint64_t attr, const void *addr);
/* KVM_HAS_DEVICE_ATTR: 0 or -ENXIO. */
int virq_kvm_vfio_has_attr(const struct virq_kvm_vfio *dev, uint32_t group, uint64_t attr);
/* KVM_GET_DEVICE_ATTR: the device has no getter (-EPERM, Linux's kvm_device_ioctl_attr). */
int virq_kvm_vfio_get_attr(const struct virq_kvm_vfio *dev, uint32_t group, uint64_t attr, void *addr);

/* The override POST_IRQ/UNPOST_IRQ set for @gsi (AUTO when none). Any thread. */
enum virq_bypass_override virq_kvm_vfio_override(struct virq_kvm_vfio *dev, uint32_t gsi);
/* Whether IRQ (@fd's file, @index, @subindex) is forwarded, and to which GSI (tests, `virq explain`). */
bool virq_kvm_vfio_forwarded(struct virq_kvm_vfio *dev, int fd, uint32_t index, uint32_t subindex, uint32_t *gsi);

#endif /* VIRQ_ENGINE_KVM_VFIO_H */
