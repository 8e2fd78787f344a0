/* SPDX-License-Identifier: MIT */
/*
 * virq/kvm.h - the KVM-compatible front of virq.
 *
 * A VMM written against Linux KVM's uAPI runs on virq by renaming three calls:
 *
 *     open("/dev/kvm", O_RDWR)   ->  virq_open()
 *     ioctl(fd, REQUEST, arg)    ->  virq_ioctl(fd, REQUEST, arg)
 *     close(fd)                  ->  virq_close(fd)
 *
 * and by taking a vCPU's struct kvm_run from virq_vcpu_run_struct() instead of mmap() on the vCPU fd.
 * Every handle returned (system, VM, vCPU) is a real file descriptor that virq creates and owns, so it
 * never collides with the caller's descriptors. Each call fails as the system call it stands for: -1 with
 * errno set. The semantics, errno by errno, are those of Linux KVM on x86 for a type-0 VM, and of Linux KVM
 * on arm64 for a VIRQ_VM_TYPE_ARM64 VM (docs/kvm-differences.md lists where virq differs).
 *
 * This header includes only libc and <linux/kvm.h>. Names that Linux merged after the 6.1 headers Debian 12
 * ships, and the extensions virq offers from never-merged patch series, are defined here with their values.
 */
#ifndef VIRQ_KVM_H
#define VIRQ_KVM_H

#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Kernel-internal in Linux: the most routes one KVM_SET_GSI_ROUTING may install (KVM_CAP_IRQ_ROUTING). */
#ifndef KVM_MAX_IRQ_ROUTES
#define KVM_MAX_IRQ_ROUTES 4096
#endif

/*
 * KVM_CREATE_VM type of an arm64 VM (a GICv3 with ITSes, docs/arm.md). virq's own number, in the "VI" range
 * of its extensions: an x86 KVM host has no arm64 VMs, and arm64's own types (IPA size in bits 7:0) would
 * collide with x86's type 0. Type 0 stays an x86 VM.
 */
#define VIRQ_VM_TYPE_ARM64 0x5649u

/*
 * What only arm64's <asm/kvm.h> defines (Debian 12's x86 headers lack it), with Linux's values: the
 * KVM_IRQ_LINE encoding, the vGIC and ITS device attribute groups and attributes, and the address types.
 */
#ifndef KVM_ARM_IRQ_TYPE_SHIFT
#define KVM_ARM_IRQ_VCPU2_SHIFT 28
#define KVM_ARM_IRQ_VCPU2_MASK 0xf
#define KVM_ARM_IRQ_TYPE_SHIFT 24
#define KVM_ARM_IRQ_TYPE_MASK 0xf
#define KVM_ARM_IRQ_VCPU_SHIFT 16
#define KVM_ARM_IRQ_VCPU_MASK 0xff
#define KVM_ARM_IRQ_NUM_SHIFT 0
#define KVM_ARM_IRQ_NUM_MASK 0xffff
#define KVM_ARM_IRQ_TYPE_CPU 0
#define KVM_ARM_IRQ_TYPE_SPI 1
#define KVM_ARM_IRQ_TYPE_PPI 2
#define KVM_ARM_IRQ_CPU_IRQ 0
#define KVM_ARM_IRQ_CPU_FIQ 1
#define KVM_ARM_IRQ_GIC_MAX 127
#endif

#ifndef KVM_VGIC_V3_ADDR_TYPE_DIST
#define KVM_VGIC_V2_ADDR_TYPE_DIST 0
#define KVM_VGIC_V2_ADDR_TYPE_CPU 1
#define KVM_VGIC_V3_ADDR_TYPE_DIST 2
#define KVM_VGIC_V3_ADDR_TYPE_REDIST 3
#define KVM_VGIC_ITS_ADDR_TYPE 4
#define KVM_VGIC_V3_ADDR_TYPE_REDIST_REGION 5
#define KVM_VGIC_V3_DIST_SIZE 0x10000ull
#define KVM_VGIC_V3_REDIST_SIZE 0x20000ull
#define KVM_VGIC_V3_ITS_SIZE 0x20000ull
#endif

#ifndef KVM_VGIC_V3_RDIST_INDEX_MASK
#define KVM_VGIC_V3_RDIST_INDEX_MASK 0xfffull                 /* bits 11:0 */
#define KVM_VGIC_V3_RDIST_FLAGS_MASK 0xf000ull                /* bits 15:12 */
#define KVM_VGIC_V3_RDIST_FLAGS_SHIFT 12
#define KVM_VGIC_V3_RDIST_BASE_MASK 0x000fffffffff0000ull     /* bits 51:16 */
#define KVM_VGIC_V3_RDIST_COUNT_MASK 0xfff0000000000000ull    /* bits 63:52 */
#define KVM_VGIC_V3_RDIST_COUNT_SHIFT 52
#endif

#ifndef KVM_DEV_ARM_VGIC_GRP_ADDR
#define KVM_DEV_ARM_VGIC_GRP_ADDR 0
#define KVM_DEV_ARM_VGIC_GRP_DIST_REGS 1
#define KVM_DEV_ARM_VGIC_GRP_CPU_REGS 2
#define KVM_DEV_ARM_VGIC_CPUID_SHIFT 32
#define KVM_DEV_ARM_VGIC_CPUID_MASK (0xffull << KVM_DEV_ARM_VGIC_CPUID_SHIFT)
#define KVM_DEV_ARM_VGIC_V3_MPIDR_SHIFT 32
#define KVM_DEV_ARM_VGIC_V3_MPIDR_MASK (0xffffffffull << KVM_DEV_ARM_VGIC_V3_MPIDR_SHIFT)
#define KVM_DEV_ARM_VGIC_OFFSET_SHIFT 0
#define KVM_DEV_ARM_VGIC_OFFSET_MASK (0xffffffffull << KVM_DEV_ARM_VGIC_OFFSET_SHIFT)
#define KVM_DEV_ARM_VGIC_SYSREG_INSTR_MASK 0xffff
#define KVM_DEV_ARM_VGIC_GRP_NR_IRQS 3
#define KVM_DEV_ARM_VGIC_GRP_CTRL 4
#define KVM_DEV_ARM_VGIC_GRP_REDIST_REGS 5
#define KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS 6
#define KVM_DEV_ARM_VGIC_GRP_LEVEL_INFO 7
#define KVM_DEV_ARM_VGIC_GRP_ITS_REGS 8
#define KVM_DEV_ARM_VGIC_LINE_LEVEL_INFO_SHIFT 10
#define KVM_DEV_ARM_VGIC_LINE_LEVEL_INFO_MASK (0x3fffffull << KVM_DEV_ARM_VGIC_LINE_LEVEL_INFO_SHIFT)
#define KVM_DEV_ARM_VGIC_LINE_LEVEL_INTID_MASK 0x3ff
#define VGIC_LEVEL_INFO_LINE_LEVEL 0
#define KVM_DEV_ARM_VGIC_CTRL_INIT 0
#define KVM_DEV_ARM_ITS_SAVE_TABLES 1
#define KVM_DEV_ARM_ITS_RESTORE_TABLES 2
#define KVM_DEV_ARM_VGIC_SAVE_PENDING_TABLES 3
#define KVM_DEV_ARM_ITS_CTRL_RESET 4
#endif

/*
 * Seed 002: MSI-X table emulation in the engine (docs/msix-mmio.md). Never merged into Linux; the names
 * are the patch series', the numbers are virq's:
 *  - the ioctls use KVMIO numbers 0xe8/0xe9. Linux up to 6.18 uses 0x00-0xd5 and the device ioctls
 *    0xe0-0xe3; out-of-tree patches favour 0xf0-0xff, so virq stays below them.
 *  - the capability and exit reason use virq's extension range 0x5649xxxx ("VI", as VIRQ_VM_TYPE_ARM64),
 *    far above Linux's capabilities (246 in 6.18) and exit reasons (< 50).
 */
#define KVM_CAP_MSIX_MMIO 0x56490001
#define KVM_EXIT_MSIX_ROUTING_UPDATE 0x56490001u

/*
 * virq's switch for GICv4-like direct injection of VFIO MSIs into LPIs on an arm64 VM
 * (docs/forwarding.md, "MSIs straight to the LPI"). Linux does this only on a GICv4 host booted with
 * kvm-arm.vgic_v4_enable=1, host-wide; virq has no host GIC, so a VMM turns it on per VM, and it is off
 * by default as there. KVM_CHECK_EXTENSION: 1 on arm64 VMs, 0 on x86. KVM_ENABLE_CAP: args[0] 1 on,
 * 0 off, at any time (paired irqfds re-decide at once); other values, or an x86 VM, EINVAL.
 */
#define KVM_CAP_VIRQ_ARM_DIRECT_LPI 0x56490002

/* KVM_REGISTER_MSIX_MMIO / KVM_UNREGISTER_MSIX_MMIO argument, exactly as the seed has it. */
struct kvm_msix_mmio_user {
	__u32 dev_id;
	__u16 type;            /* one device type bit | one MMIO type bit */
	__u16 max_entries_nr;  /* entries of the table, 1..2048; the PBA covers as many bits */
	__u64 base_addr;       /* guest-physical address of the table (16-byte aligned) or PBA (8-byte) */
	__u64 base_va;         /* the VMM's copy: max_entries_nr * 16 bytes (table) or the PBA's qwords */
	__u64 flags;           /* must be 0 */
	__u64 reserved[4];     /* must be 0 */
};

/* Device type (low byte of type). */
#define KVM_MSIX_MMIO_TYPE_ASSIGNED_DEV (1 << 0)
/* MMIO type (high byte of type). The PBA type is virq's addition: the PBA may sit in another BAR. */
#define KVM_MSIX_MMIO_TYPE_BASE_TABLE (1 << 8)
#define KVM_MSIX_MMIO_TYPE_BASE_PBA (1 << 9)

#define KVM_REGISTER_MSIX_MMIO _IOW(KVMIO, 0xe8, struct kvm_msix_mmio_user)
#define KVM_UNREGISTER_MSIX_MMIO _IOW(KVMIO, 0xe9, struct kvm_msix_mmio_user)

/*
 * KVM_EXIT_MSIX_ROUTING_UPDATE payload, in kvm_run's exit union (reach it with
 * kvm_run_msix_routing_update()). The op that caused it completes on the next KVM_RUN, as an MMIO write
 * does; the VMM updates the GSI route of the entry (KVM_SET_GSI_ROUTING) before that.
 */
struct kvm_msix_routing_update {
	__u32 dev_id;
	__u32 entry;           /* index in the table */
	__u32 address_lo;      /* the entry as the guest has now programmed it */
	__u32 address_hi;
	__u32 data;
	__u32 flags;           /* KVM_MSIX_ROUTING_UPDATE_* */
};
/* The guest changed the entry's address or data: its interrupts are held until the route follows. */
#define KVM_MSIX_ROUTING_UPDATE_ADDRESS_DATA (1u << 0)
/* The guest unmasked an entry no GSI is bound to (virq_vm_msix_mmio_bind): bind one to deliver it. */
#define KVM_MSIX_ROUTING_UPDATE_UNBOUND_UNMASK (1u << 1)

static inline struct kvm_msix_routing_update *kvm_run_msix_routing_update(struct kvm_run *run)
{
	return (struct kvm_msix_routing_update *)(void *)run->padding;
}

/**
 * virq_open() - open the virq "system" handle, the counterpart of open("/dev/kvm").
 *
 * Returns a new descriptor, or -1 with errno (EMFILE, ENFILE, ENOMEM).
 */
int virq_open(void);

/**
 * virq_ioctl() - issue a KVM (or VFIO) ioctl on a virq handle.
 * @fd:      a handle from virq_open() or from an ioctl that creates one.
 * @request: the ioctl number, as in <linux/kvm.h>.
 * @...:     optional third argument, an integer or a pointer, read as unsigned long.
 *
 * Returns what KVM's ioctl returns (0, a new descriptor, a count, a status) or -1 with errno.
 * EBADF: @fd is not open. ENOTTY: @fd is open but virq did not create it, or @request is unknown to the
 * handle's kind. Other errno values are documented per request in docs/kvm-differences.md and follow KVM.
 * Context: any thread. KVM_RUN runs the guest on the calling thread.
 */
int virq_ioctl(int fd, unsigned long request, ...);

/**
 * virq_close() - close a virq handle. Closing a VM handle destroys the VM once its vCPU handles are
 * closed too (as with KVM, where vCPU files hold a reference on the VM).
 *
 * Returns 0, or -1 with errno EBADF.
 */
int virq_close(int fd);

/**
 * virq_vcpu_run_struct() - the vCPU's shared struct kvm_run area.
 *
 * The area is KVM_GET_VCPU_MMAP_SIZE bytes, so KVM_EXIT_IO's data_offset points inside it. It stays valid
 * until the vCPU handle is closed. Returns NULL with errno EBADF or ENOTTY (not a vCPU handle).
 */
struct kvm_run *virq_vcpu_run_struct(int vcpu_fd);

/**
 * virq_guest_load() - load a micro-op guest program (docs/guest.md) into a vCPU.
 *
 * Replaces any program loaded before; the vCPU starts at the program's "main:" label. Returns 0, or -1 with
 * errno: EBADF/ENOTTY (not a vCPU handle), EINVAL (the text does not parse: the message, with its line, is
 * available from virq_guest_last_error() in <virq/vcpu.h>), EBUSY (the vCPU is inside KVM_RUN).
 */
int virq_guest_load(int vcpu_fd, const char *text);

/*
 * The kvm-vfio device (KVM_CREATE_DEVICE with KVM_DEV_TYPE_VFIO; docs/posted.md): names newer than
 * Linux 6.1's <linux/kvm.h> (FILE), and the seeds' never-merged KVM_DEV_VFIO_DEVICE group (001:
 * FORWARD/UNFORWARD_IRQ, 000: POST/UNPOST_IRQ) with virq's numbers. Guarded, so a newer <linux/kvm.h>
 * defining the FILE names wins; the structs are guarded by KVM_DEV_VFIO_DEVICE, which Linux never had.
 */
#ifndef KVM_DEV_VFIO_FILE
#define KVM_DEV_VFIO_FILE         1 /* Linux 6.6; alias of KVM_DEV_VFIO_GROUP */
#define KVM_DEV_VFIO_FILE_ADD     1
#define KVM_DEV_VFIO_FILE_DEL     2
#endif

#ifndef KVM_DEV_VFIO_DEVICE
/* The seeds' group (never merged): 001 (Auger, IRQ forwarding) and 000 (Wu, VT-d posting). */
#define KVM_DEV_VFIO_DEVICE                2
#define KVM_DEV_VFIO_DEVICE_FORWARD_IRQ    1
#define KVM_DEV_VFIO_DEVICE_UNFORWARD_IRQ  2
#define KVM_DEV_VFIO_DEVICE_POST_IRQ       3
#define KVM_DEV_VFIO_DEVICE_UNPOST_IRQ     4

/* FORWARD_IRQ / UNFORWARD_IRQ argument (seed 001, 16 bytes). On arm64 @gsi is the SPI number (INTID - 32,
 * the pin of KVM's irqchip routes); only a VFIO INTx line (index 0, subindex 0) can be forwarded
 * (docs/forwarding.md). */
struct kvm_arch_forwarded_irq {
	__u32 fd;       /* file descriptor of the VFIO device */
	__u32 index;    /* VFIO device IRQ index */
	__u32 subindex; /* VFIO device IRQ subindex */
	__u32 gsi;      /* gsi, ie. virtual IRQ number */
};

/*
 * POST_IRQ / UNPOST_IRQ argument (seed 000 names it; its companion series' layout): vectors
 * start .. start + count - 1 of VFIO IRQ index @index of device @fd, vector start + i routed to gsi[i].
 * @argsz is the whole size, header plus count * 4 bytes.
 */
struct kvm_vfio_dev_irq {
	__u32 argsz;
	__u32 fd;
	__u32 index;
	__u32 start;
	__u32 count;
	__u32 gsi[];
};
#endif

#ifndef __cplusplus
_Static_assert(sizeof(struct kvm_arch_forwarded_irq) == 16, "seed 001 layout");
_Static_assert(sizeof(struct kvm_vfio_dev_irq) == 20, "seed 000 companion layout");
#endif

#ifdef __cplusplus
}
#endif

#endif /* VIRQ_KVM_H */
