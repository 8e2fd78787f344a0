/* SPDX-License-Identifier: MIT */
/*
 * arm_vm.h - what an arm64 VM (KVM_CREATE_VM with VIRQ_VM_TYPE_ARM64) adds to the engine's VM: the vGICv3
 * and its ITSes as KVM devices (KVM_CREATE_DEVICE), their guest-physical frames, and the engine's side of
 * the GIC model (struct virq_gic_ops: guest memory over the memslots, vCPU kicks, resampling).
 *
 * The model itself (src/irqchip/arm/) is created at KVM_DEV_ARM_VGIC_CTRL_INIT, when KVM also freezes the
 * vCPU count; an ITS device created before that gets its model at the same moment. Until then the devices
 * only hold addresses and settings.
 *
 * Locking: vm->lock is the configuration lock (KVM's config_lock): device creation, addresses, NR_IRQS,
 * CTRL_INIT, and every ITS ioctl that needs all vCPUs idle. Readers on the data path (MSIs, irqfds, MMIO,
 * the vCPU loop) use the published pointers tagged [P]: written once under vm->lock with release order,
 * read with acquire, never changed afterwards until the VM is destroyed.
 * Lock tags: [I] immutable after creation, [L:vm->lock], [P] publish-once, [A] atomic.
 */
#ifndef VIRQ_ENGINE_ARM_VM_H
#define VIRQ_ENGINE_ARM_VM_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "irqchip/arm/gicv3.h"
#include "irqchip/arm/its.h"

struct virq_vm;
struct virq_vcpu;
struct kvm_msi;
struct virq_arm_fwd;
struct virq_handle;
struct virq_fwd_line;

#define VIRQ_ARM_ADDR_UNDEF UINT64_MAX   /* KVM's VGIC_ADDR_UNDEF: reads back as all-ones */
#define VIRQ_ARM_IPA_BITS 40             /* KVM's default IPA size for type-0 arm64 VMs */
#define VIRQ_ARM_MAX_RDIST_REGIONS 16
#define VIRQ_ARM_DEFAULT_NR_IRQS 256     /* VGIC_NR_IRQS_LEGACY: nr_spis when NR_IRQS was never set */

/* One redistributor region (legacy REDIST: count 0, as many frames as vCPUs). */
struct virq_arm_rdist_region {
	uint64_t base;
	uint32_t count;                  /* frames of 128 KiB, 0 = legacy (unbounded) */
	uint32_t index;
};

/* One KVM_DEV_TYPE_ARM_VGIC_ITS device. */
struct virq_arm_its {
	_Atomic uint64_t base;           /* [A] frame GPA or VIRQ_ARM_ADDR_UNDEF; set once, under vm->lock */
	_Atomic bool ready;              /* [A] model initialised (with the vGIC's CTRL_INIT) */
	struct virq_its its;             /* valid once ready; its own locks */
};

struct virq_arm_vm {
	bool has_vgic;                   /* [L:vm->lock] KVM_DEV_TYPE_ARM_VGIC_V3 created */
	_Atomic bool vgic_created;       /* [A] the same, for the data path (KVM's irqchip_in_kernel) */
	_Atomic bool ready;              /* [A] CTRL_INIT done: gic is valid (release after its init) */
	_Atomic bool msis_require_devid; /* [A] an ITS was ever created (KVM_CAP_MSI_DEVID) */
	_Atomic bool resources_ok;       /* [A] first-run checks passed (KVM's map_resources) */
	unsigned nr_spis;                /* [L:vm->lock] 0 until NR_IRQS or init */
	uint64_t dist_base;              /* [L:vm->lock] then [I] after init */
	struct virq_arm_rdist_region rdist[VIRQ_ARM_MAX_RDIST_REGIONS]; /* [L:vm->lock], [I] after init */
	unsigned nr_rdist;               /* [L:vm->lock], [I] after init */
	struct virq_gic gic;             /* valid once ready */
	struct virq_arm_its *its[VIRQ_GIC_MAX_ITS]; /* [P] */
	_Atomic unsigned nr_its;         /* [A] release after its[nr_its - 1] is set */

	/* Forwarded SPIs (seed 001, arm_fwd.c, docs/forwarding.md). fwd_lock nests inside a host line's
	 * lock and outside gic->lock, and is never held while calling the host. */
	pthread_mutex_t fwd_lock;
	struct virq_arm_fwd *fwd[VIRQ_GIC_MAX_SPI_PINS]; /* [L:fwd_lock] by SPI pin, NULL: not forwarded */
	_Atomic uint64_t fwd_deactivations; /* [A] guest deactivations handed to a forwarded line */

	/* Direct LPI injection (arm_direct.c): the gic->lpi_changes value the paired irqfds were last
	 * re-resolved against. [A] written under vm->irqfd_lock. */
	_Atomic uint64_t bypass_seen;
	_Atomic bool direct_lpi;          /* [A] KVM_CAP_VIRQ_ARM_DIRECT_LPI: off until the VMM enables it */
};

/* arm_vm.c: life cycle and the native calls the front dispatches to for an arm64 VM. */
int virq_arm_vm_create(struct virq_vm *vm);
void virq_arm_vm_destroy(struct virq_vm *vm);
/* The initialised GIC of @vm, or NULL (x86 VM, no vGIC, or before CTRL_INIT). Any thread. */
struct virq_gic *virq_arm_gic(struct virq_vm *vm);
long virq_arm_check_extension(struct virq_vm *vm, long cap);
int virq_arm_irq_line(struct virq_vm *vm, uint32_t irq, uint32_t level);
/* Under vm->lock: CTRL_INIT (vgic_init); 0 also when already initialised, as KVM. */
int virq_arm_vgic_init_locked(struct virq_vm *vm);
/* The base of vCPU @id's 128 KiB redistributor frame, or VIRQ_ARM_ADDR_UNDEF if no region covers it. */
uint64_t virq_arm_rdist_base(const struct virq_arm_vm *arm, unsigned id);
/* KVM_CREATE_VCPU on an arm64 VM: -EBUSY once the vGIC is initialised. Caller holds vm->lock. */
int virq_arm_vcpu_create_check_locked(struct virq_vm *vm);
/* KVM_RUN's first-run checks (kvm_vgic_map_resources): 0, -EBUSY, -ENXIO, -EINVAL. */
int virq_arm_vcpu_run_check(struct virq_vcpu *vcpu);
/* Try to take every vCPU's run token (KVM's kvm_trylock_all_vcpus); -EBUSY if one runs. vm->lock held. */
int virq_arm_lock_all_vcpus_locked(struct virq_vm *vm);
void virq_arm_unlock_all_vcpus_locked(struct virq_vm *vm);

/* arm_mmio.c: guest MMIO to GICD, GICR and GITS frames. True if claimed (the access is done). */
bool virq_arm_mmio_write(struct virq_vcpu *vcpu, uint64_t addr, unsigned size, uint64_t value);
bool virq_arm_mmio_read(struct virq_vcpu *vcpu, uint64_t addr, unsigned size, uint64_t *value);

/* arm_msi.c: MSIs with DeviceID and SPI routes. */
/* The ITS device whose 128 KiB frame holds @doorbell, or NULL. Any thread (published once). */
struct virq_arm_its *virq_arm_its_at(struct virq_arm_vm *arm, uint64_t doorbell);
int virq_arm_signal_msi(struct virq_vm *vm, const struct kvm_msi *msi);
/* An MSI route's injection (irqfd or msix): cached translation first, then the full one. */
int virq_arm_deliver_msi(struct virq_vm *vm, uint64_t address, uint32_t data, uint32_t flags, uint32_t devid,
			 uint64_t raise_ns);
/* An irqchip route's injection: SPI pin + 32 follows @level. -1 when nothing can take it. */
int virq_arm_set_spi(struct virq_vm *vm, uint32_t pin, bool level);

/*
 * arm_fwd.c: forwarded SPIs, the vGIC side of KVM_DEV_VFIO_DEVICE_FORWARD_IRQ (seed 001). A link ties SPI
 * @pin to a host line (src/bypass/forward.h) and holds a reference on the VFIO device's handle, which
 * keeps the line alive; links are reference-counted so a deactivation can use one after dropping
 * fwd_lock.
 */
/* Can SPI @pin be forwarded now? 0; -ENXIO no vGIC; -EBUSY vGIC not initialised, or @pin already
 * forwards a line; -EINVAL @pin beyond the SPIs. */
int virq_arm_fwd_check(struct virq_vm *vm, uint32_t pin);
/* A new link (one reference) for @line, taking over the handle reference @h. NULL: out of memory. */
struct virq_arm_fwd *virq_arm_fwd_new(struct virq_handle *h, struct virq_fwd_line *line);
struct virq_fwd_line *virq_arm_fwd_line(const struct virq_arm_fwd *fwd);
void virq_arm_fwd_put(struct virq_arm_fwd *fwd);
/* @pin's link with a reference taken, or NULL. */
struct virq_arm_fwd *virq_arm_fwd_get(struct virq_vm *vm, uint32_t pin);
/* Link @pin to @fwd (forwarding generation @gen; the caller's reference goes to the table) and map the
 * SPI to hardware. */
void virq_arm_fwd_attach(struct virq_vm *vm, uint32_t pin, struct virq_arm_fwd *fwd, uint64_t gen);
/* Unlink @pin: the SPI is an ordinary interrupt again (pending and active kept). Drops the table's
 * reference. Called with the line's lock held, before the line is completed. */
void virq_arm_fwd_detach(struct virq_vm *vm, uint32_t pin);
/* The GIC's ops->hw_deactivated: the guest deactivated forwarded SPI @pin; complete its line. */
void virq_arm_fwd_deactivated(void *ctx, unsigned pin);

/*
 * arm_direct.c: MSIs straight to the LPI (GICv4-like direct injection, docs/forwarding.md), the arm64 ops
 * of an irqfd's bypass consumer (engine/irqfd_bypass.h): resolve_lpi and inject_lpi.
 */
struct virq_bypass_route;
struct virq_bypass_decision;
struct virq_bypass_lpi;
void virq_arm_bypass_resolve(void *ctx, uint32_t gsi, const struct virq_bypass_route *route,
			     struct virq_bypass_decision *d, struct virq_bypass_lpi *t);
int virq_arm_bypass_inject(void *ctx, uint32_t gsi, const struct virq_bypass_lpi *t, uint64_t raise_ns);
/*
 * Something that may change what an ITS translation resolves to has happened (a guest or userspace write
 * to an ITS frame or a redistributor, an ITS reset or restore; @force: something the GIC's change counter
 * does not see, such as an ITS's address): re-resolve every paired irqfd, so that decisions are current
 * when the caller's call returns. Cheap when nothing is paired or nothing changed. Call with no model
 * lock held (vm->lock may be held) and outside RCU read-side sections.
 */
void virq_arm_bypass_refresh(struct virq_vm *vm, bool force);

/* vgic_device.c / its_device.c: KVM_CREATE_DEVICE and the device attribute ioctls. */
struct virq_arm_device;
/* KVM_CREATE_DEVICE: 0 with *out (NULL for KVM_CREATE_DEVICE_TEST), or -ENODEV, -EEXIST, -EBUSY, ... */
int virq_arm_create_device(struct virq_vm *vm, struct kvm_create_device *cd, struct virq_arm_device **out);
long virq_arm_device_ioctl(struct virq_arm_device *dev, unsigned long request, unsigned long arg);
void virq_arm_device_release(struct virq_arm_device *dev);
int virq_arm_its_create_locked(struct virq_vm *vm, struct virq_arm_its **out);
int virq_its_device_set_attr(struct virq_vm *vm, struct virq_arm_its *its, const struct kvm_device_attr *attr);
int virq_its_device_get_attr(struct virq_vm *vm, struct virq_arm_its *its, const struct kvm_device_attr *attr);
int virq_its_device_has_attr(struct virq_vm *vm, struct virq_arm_its *its, const struct kvm_device_attr *attr);
/* vgic_regs.c: KVM_DEV_ARM_VGIC_GRP_DIST_REGS / REDIST_REGS (u32 at attr->addr), CPU_SYSREGS (u64). */
int virq_vgic_regs_access(struct virq_vm *vm, const struct kvm_device_attr *attr, bool write);
int virq_vgic_regs_has_attr(const struct kvm_device_attr *attr);
/* vgic_device.c: KVM's vgic_check_iorange(): 0, -EEXIST, -EINVAL, -E2BIG; user-pointer copies. */
int virq_arm_check_iorange(uint64_t current, uint64_t addr, uint64_t align, uint64_t size);
int virq_arm_get_user_u64(uint64_t uaddr, uint64_t *v);
int virq_arm_put_user_u64(uint64_t uaddr, uint64_t v);

#endif /* VIRQ_ENGINE_ARM_VM_H */
