/* SPDX-License-Identifier: MIT */
/*
 * irqfd_bypass.h - the irqfd side of the irq bypass manager: one consumer per irqfd, keyed by the
 * irqfd's eventfd, that steers its paired producer (a VFIO MSI/MSI-X vector) to posted or remapped
 * delivery as the bypass policy decides (KVM's kvm_arch_irq_bypass_add_producer / _del_producer /
 * kvm_arch_update_irqfd_routing and kvm_pi_update_irte, kvm-x86.md 1.11 and 3.4).
 *
 * Why its own module: irqfd.c owns the irqfd's life cycle; this module owns only what bypass adds to it
 * and takes what it needs from the engine through struct virq_irqfd_bypass_ops (the VM's LAPICs, a
 * vCPU's descriptor address, the kvm-vfio override for the GSI). irqfd.c embeds a struct
 * virq_irqfd_bypass per irqfd and calls register/update/unregister at the points docs/posted.md lists.
 *
 * What a producer is told: set_vcpu_affinity({descriptor address, guest vector}) when the decision is
 * posted, set_vcpu_affinity(NULL) when it is remapped and the producer was posted, nothing when nothing
 * changed (Linux skips unchanged MSI payloads; here the comparison is on the programmed result, which
 * also covers a changed override or LAPIC). A re-target from one descriptor (or vector) to another
 * carries the old descriptor's pending bit for the old vector into the new one after the IRTE write
 * (seed 000: pending bits move with the vector; nothing is left for the old vCPU to take). If posting fails the decision falls back to remapped with
 * the failure as its reason (KVM clears the cached target); -EOPNOTSUPP reads "no IOMMU".
 *
 * arm64 (ops->resolve_lpi set): the same consumer, with GICv4-like direct injection instead of posting
 * (docs/forwarding.md, "MSIs straight to the LPI"). Every decision resolves the irqfd's MSI route through
 * the vITS without injecting (resolve_lpi): when it translates to an LPI that can be delivered, the
 * producer is given a struct virq_bypass_lpi (set_lpi) and from then on latches that LPI itself for each
 * message (inject_lpi, through this module's counting wrapper), with no eventfd write and no engine
 * thread; otherwise, or when the producer cannot, it is told to write its eventfd again (set_lpi(NULL))
 * and the decision is "software" with the reason. A translation changed by the guest (DISCARD, MAPD,
 * ...) makes inject_lpi refuse, so the producer falls back to its eventfd for that message, until the
 * engine re-decides (virq_irqfd_bypass_update after the ITS changed). After each successful set_lpi the
 * eventfd is drained through the irqfd (ops->drain): a message the producer wrote before the switch,
 * or a fallback, is delivered then, not left for later.
 *
 * Locks: `lock` serialises decisions of one irqfd (route updates, overrides, add/del_producer).
 * add_producer/del_producer run with virq_bypass_lock held and take `lock` inside it; update never
 * takes virq_bypass_lock, so the order is always virq_bypass_lock -> lock -> the producer's own locks
 * (set_vcpu_affinity, set_lpi). While `lock` is held with `producer` set, the producer cannot be
 * unregistered (that needs del_producer, which needs `lock`), so calling it is safe. arm64: resolve_lpi
 * takes the ITS's and the GIC's locks inside `lock` (lock -> its->lock -> gic->lock), set_lpi the
 * producer's own lock and then waits out the producer's messages in flight, which take gic->lock only
 * (never `lock`), and drain injects as the irqfd's watcher does (its->lock -> gic->lock).
 */
#ifndef VIRQ_ENGINE_IRQFD_BYPASS_H
#define VIRQ_ENGINE_IRQFD_BYPASS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bypass/irqbypass.h"
#include "engine/bypass_policy.h"

struct virq_irqfd_bypass;

/* What the consumer needs from the engine (the VM). Each may be called with `lock` held. */
struct virq_irqfd_bypass_ops {
	/* The VM's LAPICs indexed by vCPU id (NULL slots allowed) and their count, for the policy. Valid
	 * while the VM lives (vCPUs live as long as their VM). */
	struct virq_lapic *const *(*apics)(void *ctx, unsigned *nr);
	/* Optional: the array apics() returned is no longer used (the VM's ends an RCU read section). */
	void (*apics_done)(void *ctx);
	/* The posted-descriptor address of vCPU @vcpu (virq_posted_vcpu_desc_addr), 0 if it has none. */
	uint64_t (*desc_addr)(void *ctx, unsigned vcpu);
	/* Optional: the producer was re-programmed from one posted target to another (the IRTE write has
	 * returned); the VM carries a request still pending in @from over to @to. */
	void (*retargeted)(void *ctx, const struct virq_bypass_vcpu_info *from,
			   const struct virq_bypass_vcpu_info *to);
	/* Optional: the kvm-vfio override for @gsi (virq_kvm_vfio_override); NULL = always AUTO. */
	enum virq_bypass_override (*override)(void *ctx, uint32_t gsi);
	/* Optional: why the engine's MSI-X table holds @gsi's interrupts now, NULL when it does not
	 * (virq_msix_gsi_held). Whoever changes that answer re-decides afterwards. */
	const char *(*held)(void *ctx, uint32_t gsi);
	/* Optional: a producer was paired (true, before the first decision with it) or unpaired (false,
	 * after the last). Lets the VM skip re-deciding when nothing is paired. */
	void (*paired)(void *ctx, bool on);
	/*
	 * arm64: set on an arm64 VM's consumers, which then need neither apics nor desc_addr. Resolve
	 * @route of @gsi into an LPI without injecting: mode VIRQ_BYPASS_DIRECT_LPI with @d's devid,
	 * eventid, intid and vcpu and @t's its, intid and gen filled in, or VIRQ_BYPASS_SOFTWARE with the
	 * reason ("software: ITS disabled", ...). Called with `lock` held.
	 */
	void (*resolve_lpi)(void *ctx, uint32_t gsi, const struct virq_bypass_route *route,
			    struct virq_bypass_decision *d, struct virq_bypass_lpi *t);
	/* arm64: one message of @gsi into @t's LPI, on the producer's thread with no consumer lock held:
	 * 0 when taken (and counted on the GSI), non-zero to make the producer write its eventfd. */
	int (*inject_lpi)(void *ctx, uint32_t gsi, const struct virq_bypass_lpi *t, uint64_t raise_ns);
	/* arm64, optional: deliver what the irqfd's eventfd holds now, as its watcher would. */
	void (*drain)(struct virq_irqfd_bypass *b);
};

struct virq_irqfd_bypass {
	struct virq_bypass_consumer consumer;    /* the manager's part; token = the irqfd's eventfd */
	const struct virq_irqfd_bypass_ops *ops; /* [I] */
	void *ctx;                               /* [I] the VM */
	uint32_t gsi;                            /* [I] */
	bool explicit_only;                      /* [I] the VM's seed-000 mode: post only with POST_IRQ */
	pthread_mutex_t lock;
	struct virq_bypass_producer *producer;   /* [L:lock] paired producer, NULL when unpaired */
	struct virq_bypass_route route;          /* [L:lock] the irqfd's cached route */
	struct virq_bypass_decision decision;    /* [L:lock] the last decision (what `virq explain` shows) */
	bool posted;                             /* [L:lock] the producer is programmed posted to ... */
	struct virq_bypass_vcpu_info info;       /* [L:lock] ... this descriptor and vector */
	bool direct;                             /* [L:lock] arm64: the producer injects into ... */
	struct virq_bypass_lpi lpi;              /* [L:lock] ... this LPI (as last given to set_lpi) */
	/* [A] set_vcpu_affinity / set_lpi calls: to posted or direct, back to remapped or software, failed */
	_Atomic uint64_t posts, remaps, failures;
	_Atomic uint64_t injected, fallbacks;    /* [A] arm64: messages latched directly / handed back to
						  * the producer's eventfd (stale translation, held GSI) */
};

/* Initialise (not registered). @route: the GSI's route at assign time (copied). 0 or -errno. */
int virq_irqfd_bypass_init(struct virq_irqfd_bypass *b, const struct virq_irqfd_bypass_ops *ops, void *ctx,
			   uint32_t gsi, bool explicit_only, const struct virq_bypass_route *route);
void virq_irqfd_bypass_destroy(struct virq_irqfd_bypass *b);

/* Register with the irqfd's eventfd (virq_bypass_register_consumer's errors). Pairs at once if a
 * producer with the same eventfd is registered. */
int virq_irqfd_bypass_register(struct virq_irqfd_bypass *b, int eventfd);
/* Unregister; a paired producer is returned to remapped first. No-op when not registered. */
void virq_irqfd_bypass_unregister(struct virq_irqfd_bypass *b);

/*
 * The irqfd's route changed (@route non-NULL, copied) or something the policy reads did (NULL: an
 * override, a LAPIC's destination): re-decide and re-program the producer if paired and the result
 * differs. Returns 0, or the producer's error (the decision is then remapped with that reason).
 */
int virq_irqfd_bypass_update(struct virq_irqfd_bypass *b, const struct virq_bypass_route *route);

/* The current decision (a copy), and whether a producer is paired. */
bool virq_irqfd_bypass_explain(struct virq_irqfd_bypass *b, struct virq_bypass_decision *out);

#endif /* VIRQ_ENGINE_IRQFD_BYPASS_H */
