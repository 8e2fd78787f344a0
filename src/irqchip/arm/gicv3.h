/* SPDX-License-Identifier: MIT */
/*
 * gicv3.h - the GICv3 of an arm64 VM as KVM's vGIC models it (arch/arm64/kvm/vgic/; reference
 * kvm-arm.md §1.3-1.4): one distributor (SPIs 32..32+nr_spis-1), one redistributor per vCPU (SGIs, PPIs,
 * LPI enable, PROPBASER, PENDBASER), the CPU interface as the guest sees it (acknowledge, priority drop,
 * deactivate, PMR, BPR, running priority), and the VM-wide LPI objects the ITS (its.h) maps events to.
 *
 * The model knows nothing of the engine: guest memory (LPI property and pending tables) and vCPU wake-ups
 * go through struct virq_gic_ops, filled in by whoever owns the VM (the engine, or a test).
 *
 * Locking. gic->lock protects the distributor, every LPI object, the LPI side of each redistributor
 * (EnableLPIs, PENDBASER, queued LPIs) and the list of ITSes. Each vCPU's cpu->lock protects its SGIs,
 * PPIs and CPU-interface state. Order (outer first): its->lock -> gic->lock -> cpu->lock -> its->cache_lock.
 * ops->read_guest, write_guest and kick_vcpu are called with these locks held and must not call back into
 * the GIC or an ITS; ops->resample and ops->hw_deactivated are called with no lock held and may re-enter
 * (set an SPI's level).
 * Lock tags on fields: [I] immutable after init, [L:x] protected by lock x, [A] atomic.
 */
#ifndef VIRQ_IRQCHIP_ARM_GICV3_H
#define VIRQ_IRQCHIP_ARM_GICV3_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VIRQ_GIC_NR_SGIS 16
#define VIRQ_GIC_NR_PRIVATE 32
#define VIRQ_GIC_MAX_SPIS 992        /* KVM's nr_irqs 64..1024 in steps of 32 */
#define VIRQ_GIC_MAX_SPI_PINS 988    /* KVM_IRQCHIP_NUM_PINS: INTIDs 1020..1023 are special */
#define VIRQ_GIC_MAX_VCPUS 512       /* VGIC_V3_MAX_CPUS */
#define VIRQ_GIC_LPI_BASE 8192u
#define VIRQ_GIC_LPI_ID_BITS 16      /* INTERRUPT_ID_BITS_ITS */
#define VIRQ_GIC_NR_LPIS ((1u << VIRQ_GIC_LPI_ID_BITS) - VIRQ_GIC_LPI_BASE)
#define VIRQ_GIC_SPURIOUS 1023u
#define VIRQ_GIC_MAX_ITS 8
#define VIRQ_GIC_PRI_BITS 5          /* 32 priority levels, step 8, as KVM */
#define VIRQ_GIC_PRI_MASK 0xf8u
#define VIRQ_GIC_DIST_SIZE 0x10000ull
#define VIRQ_GIC_HW_WORDS ((VIRQ_GIC_MAX_SPIS + 63) / 64) /* one bit per SPI */

struct virq_its;

/* What the GIC needs from its owner. Every callback gets the ctx pointer given at init. */
struct virq_gic_ops {
	/* Copy guest memory; 0, or -EFAULT when any byte of [gpa, gpa+len) is outside guest RAM. */
	int (*read_guest)(void *ctx, uint64_t gpa, void *buf, size_t len);
	int (*write_guest)(void *ctx, uint64_t gpa, const void *buf, size_t len);
	/* An interrupt became pending and enabled for @vcpu: make it notice (flag + wake). Locks held. */
	void (*kick_vcpu)(void *ctx, unsigned vcpu);
	/*
	 * Optional. The guest deactivated level-triggered SPI @pin (INTID - 32), KVM's ack notifier: a
	 * resampler de-asserts the line and signals its resamplefd. Called with no GIC lock held. Not
	 * called for a hardware-mapped SPI (hw_deactivated instead).
	 */
	void (*resample)(void *ctx, unsigned pin);
	/*
	 * Optional. Hardware-mapped SPI @pin (virq_gic_set_spi_hw) was deactivated by the guest: EOIR with
	 * EOImode 0, DIR with EOImode 1, a write to GICD_ICACTIVER, or its pending state cleared through
	 * GICD_ICPENDR while inactive (KVM's vgic_hw_irq_cpending): deactivate the physical interrupt.
	 * Called with no GIC lock held, on the guest's vCPU thread.
	 */
	void (*hw_deactivated)(void *ctx, unsigned pin);
};

/* SGI, PPI or SPI state (KVM's struct vgic_irq, minus what LPIs need). */
struct virq_gic_irq {
	uint64_t raise_ns;     /* CLOCK_MONOTONIC time the interrupt last became pending */
	uint32_t mpidr;        /* SPI: GICD_IROUTER affinity (Aff2.Aff1.Aff0) */
	int32_t target;        /* SPI: vCPU the affinity names, -1 if none; private: the owning vCPU */
	uint8_t priority;      /* top 5 bits significant */
	bool group1;
	bool enabled;
	bool pending_latch;    /* edge pending, or a level interrupt made pending by ISPENDR */
	bool active;
	bool level;            /* configured level-sensitive (ICFGR bit 1 clear) */
	bool line;             /* level input as last set (KVM's line_level) */
	bool hw;               /* SPI: hardware-mapped (forwarded, seed 001): see virq_gic_set_spi_hw */
};

/* One LPI (INTID 8192..65535): created by the first ITE that maps it, freed with the last one. */
struct virq_gic_lpi {
	uint64_t raise_ns;
	uint32_t refs;         /* ITEs (of any ITS) mapping this INTID; 0 = the LPI does not exist */
	int32_t target;        /* target vCPU, -1 while its collection is unmapped */
	int32_t queued_on;     /* vCPU whose queue holds it (KVM's ap_list), -1 if none */
	int32_t next, prev;    /* queue links (LPI indexes), -1 at the ends */
	uint8_t priority;      /* property byte & 0xfc, as cached at map / INV time */
	bool enabled;          /* property byte bit 0, cached likewise */
	bool pending;          /* the single pending latch */
};

/* Per-vCPU counters (relaxed atomics; any thread may read). */
struct virq_gic_cpu_stats {
	_Atomic uint64_t acked;     /* IAR returned an INTID */
	_Atomic uint64_t spurious;  /* IAR returned 1023 */
	_Atomic uint64_t eoi;       /* priority drops */
	_Atomic uint64_t deactivated;
	_Atomic uint64_t bad_eoi;   /* EOIR/DIR with nothing to drop or an INTID out of range (ignored) */
};

/* One vCPU's redistributor and CPU interface. */
struct virq_gic_cpu {
	pthread_mutex_t lock;               /* protects the fields tagged [L:lock] */
	struct virq_gic_irq priv[VIRQ_GIC_NR_PRIVATE]; /* [L:lock] SGIs 0..15, PPIs 16..31 */
	uint32_t icc_ctlr;                  /* [L:lock] CBPR, EOImode */
	uint8_t pmr;                        /* [L:lock] */
	uint8_t bpr0, bpr1;                 /* [L:lock] */
	bool igrpen0, igrpen1;              /* [L:lock] */
	uint32_t ap[2];                     /* [L:lock] active priorities per group, bit = group priority >> 3 */

	bool enable_lpis;                   /* [L:gic->lock] GICR_CTLR.EnableLPIs */
	uint64_t pendbaser;                 /* [L:gic->lock] PTZ kept as written, read as 0 */
	int32_t lpi_head;                   /* [L:gic->lock] queued LPIs (pending, enabled, targeting us) */
	struct virq_gic_cpu_stats stats;
};

struct virq_gic {
	const struct virq_gic_ops *ops;     /* [I] */
	void *ctx;                          /* [I] */
	unsigned nr_vcpus;                  /* [I] */
	unsigned nr_spis;                   /* [I] multiple of 32 */
	struct virq_gic_cpu *cpus;          /* [I] array of nr_vcpus, each with its own lock */

	pthread_mutex_t lock;               /* distributor, LPIs, LPI side of redistributors, ITS list */
	uint32_t ctlr;                      /* [L:lock] GICD_CTLR.EnableGrp1 */
	uint64_t propbaser;                 /* [L:lock] GICR_PROPBASER, one value per VM */
	struct virq_gic_irq *spis;          /* [L:lock] nr_spis entries, SPI n = INTID n + 32 */
	struct virq_gic_lpi *lpis;          /* [L:lock] VIRQ_GIC_NR_LPIS entries, index = INTID - 8192; an
					     * entry's fields mean something only while refs != 0 */
	uint32_t lpi_hi;                    /* [L:lock] 1 + highest LPI index ever created: bounds scans */
	struct virq_its *its[VIRQ_GIC_MAX_ITS]; /* [L:lock] ITSes whose caches EnableLPIs=0 invalidates */
	unsigned nr_its;                    /* [L:lock] */
	_Atomic uint64_t lpi_read_faults;   /* [A] property/pending table reads that missed guest RAM */
	uint64_t hw_done[VIRQ_GIC_HW_WORDS]; /* [L:lock] hardware-mapped SPIs a distributor write
					     * deactivated, for ops->hw_deactivated once the lock is dropped */
	bool uaccess;                       /* [L:lock] a userspace register write is running */
	/* [A] bumped by everything that may change what an ITS translation resolves to or whether it can
	 * be delivered (ITS mapping commands, GITS_CTLR/BASER, reset, restore, EnableLPIs either way):
	 * owners of direct-injection targets re-resolve when it moved (virq_gic_lpi_changes). */
	_Atomic uint64_t lpi_changes;
};

/* ICC_* system registers the guest reaches through virq_gic_icc_read/write. */
enum virq_icc_reg {
	VIRQ_ICC_IAR0, VIRQ_ICC_IAR1, VIRQ_ICC_EOIR0, VIRQ_ICC_EOIR1, VIRQ_ICC_DIR,
	VIRQ_ICC_HPPIR0, VIRQ_ICC_HPPIR1, VIRQ_ICC_RPR, VIRQ_ICC_PMR, VIRQ_ICC_BPR0, VIRQ_ICC_BPR1,
	VIRQ_ICC_CTLR, VIRQ_ICC_IGRPEN0, VIRQ_ICC_IGRPEN1, VIRQ_ICC_AP0R0, VIRQ_ICC_AP1R0,
	VIRQ_ICC_SGI0R, VIRQ_ICC_SGI1R,
};

/*
 * Reset state, as KVM after CTRL_INIT: distributor disabled, every interrupt group 1, disabled, priority
 * 0, SPIs edge and routed to vCPU 0, PPIs level, SGIs edge; PMR 0 and both IGRPENs 0 (the guest opens
 * them); no ITS. @nr_spis: a multiple of 32 in 32..992. Returns 0, -EINVAL or -ENOMEM.
 */
int virq_gic_init(struct virq_gic *gic, unsigned nr_vcpus, unsigned nr_spis, const struct virq_gic_ops *ops,
		  void *ctx);
void virq_gic_destroy(struct virq_gic *gic);

/* MPIDR affinity (Aff2.Aff1.Aff0) KVM gives vCPU @vcpu, and back (-1 if no vCPU has it). */
uint32_t virq_gic_vcpu_mpidr(unsigned vcpu);
int virq_gic_mpidr_to_vcpu(const struct virq_gic *gic, uint64_t mpidr);

/* Guest MMIO. @offset within the 64 KiB distributor / the vCPU's 128 KiB redistributor; @len 1, 2, 4, 8
 * (a width a register does not take reads 0 / is ignored). Any thread. */
uint64_t virq_gic_dist_read(struct virq_gic *gic, uint64_t offset, unsigned len);
void virq_gic_dist_write(struct virq_gic *gic, uint64_t offset, unsigned len, uint64_t value);
/* The same write from userspace (KVM_DEV_ARM_VGIC_GRP_DIST_REGS): it changes the virtual state only, a
 * hardware-mapped SPI's physical interrupt is left alone (KVM's is_uaccess). */
void virq_gic_dist_uaccess_write(struct virq_gic *gic, uint64_t offset, unsigned len, uint64_t value);
uint64_t virq_gic_redist_read(struct virq_gic *gic, unsigned vcpu, uint64_t offset, unsigned len);
void virq_gic_redist_write(struct virq_gic *gic, unsigned vcpu, uint64_t offset, unsigned len, uint64_t value);

/*
 * Input lines (KVM_IRQ_LINE, irqfds). SPI @pin = INTID - 32. Level-configured: the line follows @level;
 * edge-configured: level 1 latches pending, 0 does nothing. Returns 0, or -EINVAL for a pin beyond the
 * SPIs (< 988 but beyond nr_spis: KVM's "silently nothing" is the caller's decision). Any thread.
 */
int virq_gic_set_spi_level(struct virq_gic *gic, unsigned pin, bool level);
int virq_gic_set_ppi_level(struct virq_gic *gic, unsigned vcpu, unsigned intid, bool level);

/*
 * Hardware-mapped SPIs (KVM's kvm_vgic_map_phys_irq, used here for forwarded lines, seed 001): SPI @pin
 * is linked to a physical interrupt that stays active until the guest deactivates the virtual one, and
 * then ops->hw_deactivated completes it instead of ops->resample. While mapped, the input only sees
 * rising edges: level 1 latches the SPI pending (edge or level configured), level 0 is ignored, because
 * a physical line still high at deactivation fires again through the host and asserts afresh (KVM
 * drops line_level when it lists a HW interrupt, and never lists one pending and active). Mapping turns
 * a high line into the pending latch; unmapping leaves pending and active as they are, as an ordinary
 * interrupt (KVM's kvm_vgic_unmap_phys_irq). 0, or -EINVAL for a pin beyond the SPIs. Any thread.
 */
int virq_gic_set_spi_hw(struct virq_gic *gic, unsigned pin, bool hw);

/*
 * KVM_DEV_ARM_VGIC_GRP_LEVEL_INFO (vgic_read/write_irq_line_level_info): the input lines of the 32 INTIDs
 * from @intid (a multiple of 32; 0 = @vcpu's SGIs and PPIs), bit i for INTID @intid + i. Reading reports
 * the lines of level-configured interrupts only; writing sets every line as given (an edge interrupt's
 * line is stored, nothing is latched) and makes a level interrupt pending or not. INTIDs beyond the
 * SPIs read 0 and ignore writes. Any thread.
 */
uint32_t virq_gic_line_levels(struct virq_gic *gic, unsigned vcpu, unsigned intid);
void virq_gic_set_line_levels(struct virq_gic *gic, unsigned vcpu, unsigned intid, uint32_t levels);

/*
 * CPU interface of @vcpu (its thread). Acknowledge: the highest-priority pending, enabled, inactive
 * interrupt of an enabled group if it is of @group, beats PMR and the running priority; it becomes
 * active (LPIs: just not pending) and its INTID is returned, else 1023. *raise_ns (if not NULL) gets the
 * interrupt's raise time.
 */
uint32_t virq_gic_ack(struct virq_gic *gic, unsigned vcpu, unsigned group, uint64_t *raise_ns);
/* EOIR0/1: drop the running priority of @group; with EOImode 0 also deactivate @intid. */
void virq_gic_eoi(struct virq_gic *gic, unsigned vcpu, unsigned group, uint32_t intid);
/* DIR: deactivate @intid (meaningful with EOImode 1). */
void virq_gic_dir(struct virq_gic *gic, unsigned vcpu, uint32_t intid);
/* Would an acknowledge of an enabled group return an interrupt now? (halt / wake decisions) */
bool virq_gic_pending(struct virq_gic *gic, unsigned vcpu);
uint64_t virq_gic_icc_read(struct virq_gic *gic, unsigned vcpu, enum virq_icc_reg reg);
void virq_gic_icc_write(struct virq_gic *gic, unsigned vcpu, enum virq_icc_reg reg, uint64_t value);

/*
 * KVM_DEV_ARM_VGIC_SAVE_PENDING_TABLES: write each mapped LPI's pending latch into its target vCPU's
 * pending table (only bytes that change). 0 or -EFAULT.
 */
int virq_gic_save_pending_tables(struct virq_gic *gic);

/* ---- The LPI interface the ITS uses (gicv3_lpi.c). All take gic->lock themselves. ---- */

/* Number of LPI INTIDs PROPBASER allows: 2^min(IDbits+1, 16). */
uint32_t virq_gic_lpi_limit(struct virq_gic *gic);
bool virq_gic_vcpu_exists(const struct virq_gic *gic, uint64_t vcpu);
bool virq_gic_lpis_enabled(struct virq_gic *gic, unsigned vcpu);
/*
 * Take a reference on LPI @intid for a new ITE. A new LPI gets @target (-1: none), its property byte
 * and its pending bit (consumed from the target's pending table); an existing one is shared unchanged.
 * -EINVAL: INTID outside 8192..65535; -EFAULT: a table read or write missed guest RAM (nothing created).
 */
int virq_gic_lpi_get(struct virq_gic *gic, uint32_t intid, int target);
void virq_gic_lpi_put(struct virq_gic *gic, uint32_t intid);
void virq_gic_lpi_set_target(struct virq_gic *gic, uint32_t intid, int target);
/*
 * Latch LPI @intid pending and queue it. @check_vcpu >= 0: refuse with -EBUSY when that vCPU has
 * EnableLPIs=0 (the ITS checks its collection's vCPU); -1: check the LPI's own target (cache hits).
 * -ENOENT if the LPI no longer exists. 1 when latched.
 */
int virq_gic_lpi_inject(struct virq_gic *gic, uint32_t intid, int check_vcpu, uint64_t raise_ns);
/*
 * Direct injection (GICv4-like, its.h virq_its_inject_direct): as a translation-cache hit (check the LPI's
 * own target), but only while *@epoch still equals @expect, compared under gic->lock so that the check
 * and the latch are one step against anything that bumps the epoch before changing a translation.
 * -ESTALE (nothing latched) when it moved; otherwise as virq_gic_lpi_inject(..., -1, ...).
 */
int virq_gic_lpi_inject_if(struct virq_gic *gic, uint32_t intid, const _Atomic uint64_t *epoch, uint64_t expect,
			   uint64_t raise_ns);
/* The LPI's target now, gic->lock held: the vCPU, -1 none, -2 no such LPI. */
int virq_gic_lpi_target_locked(const struct virq_gic *gic, uint32_t intid);
/* gic->lpi_changes: read it, and bump it (any thread, no lock needed). */
uint64_t virq_gic_lpi_changes(struct virq_gic *gic);
void virq_gic_lpi_note_change(struct virq_gic *gic);
void virq_gic_lpi_clear(struct virq_gic *gic, uint32_t intid);
/* INV / GICR_INVLPIR: re-read the property byte (queue if now enabled and pending). */
void virq_gic_lpi_inv(struct virq_gic *gic, uint32_t intid);
/* INVALL / GICR_INVALLR: the same for every LPI targeting @vcpu. */
void virq_gic_lpi_invall(struct virq_gic *gic, unsigned vcpu);
/* MOVALL: every LPI targeting @from now targets @to (the architecture's rule, not KVM's). */
void virq_gic_lpi_move_all(struct virq_gic *gic, unsigned from, unsigned to);
/* For tests and the engine's stats: the LPI's target, -1 none, -2 not mapped; its pending latch. */
int virq_gic_lpi_target(struct virq_gic *gic, uint32_t intid);
bool virq_gic_lpi_pending(struct virq_gic *gic, uint32_t intid);
/* ITS registration (its.c): the first one turns LPIs on in GICD_TYPER / GICR_TYPER. -ENOSPC when full. */
int virq_gic_attach_its(struct virq_gic *gic, struct virq_its *its);
void virq_gic_detach_its(struct virq_gic *gic, struct virq_its *its);

/* CLOCK_MONOTONIC in ns: the raise time stamped on interrupts. */
uint64_t virq_gic_now_ns(void);

#endif /* VIRQ_IRQCHIP_ARM_GICV3_H */
