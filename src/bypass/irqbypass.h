/* SPDX-License-Identifier: MIT */
/*
 * bypass/irqbypass.h - the irq bypass manager: where host producers (VFIO MSI/MSI-X vectors, later
 * forwarded lines) meet engine consumers (irqfds), as Linux's virt/lib/irqbypass.c.
 *
 * Why a module of its own: the host simulation and the engine may not include each other's headers
 * (ARCHITECTURE.md section 1). Each side embeds one of the structs below in its own object, fills in an
 * ops table, and registers it with the eventfd that both sides hold: VFIO's trigger eventfd for a vector
 * is the irqfd's eventfd. The manager pairs a producer and a consumer whose eventfds are the same open
 * file, in whichever order they register, one to one, and tells both sides through their ops.
 *
 * Identity: an eventfd is its open file, not its number (ARCHITECTURE.md 8.1). Registration keeps its
 * own duplicate of the caller's descriptor (so the file, and with it the identity, lives as long as the
 * registration) and compares files with kcmp(KCMP_FILE), as Linux compares eventfd_ctx pointers.
 *
 * Process-wide state: one registry of producers and consumers behind one mutex, virq_bypass_lock (one
 * of the three process-wide things of ARCHITECTURE.md 5.1). Every op is called with that mutex held,
 * as Linux calls them under its global lock: an op must not register or unregister anything.
 *
 * Connect (Linux's __connect): producer.stop, consumer.stop, producer.add_consumer,
 * consumer.add_producer (if it fails, producer.del_consumer rolls the producer side back),
 * consumer.start, producer.start. Disconnect mirrors it with consumer.del_producer, then
 * producer.del_consumer. If the connect fails, the registration that triggered it fails with that error
 * and registers nothing (the counterpart stays registered, unpaired), as in Linux; callers (VFIO, KVM)
 * only log that and carry on without bypass.
 *
 * Errors: -EINVAL (no ops, a consumer without add_producer/del_producer, an object already registered,
 * a negative descriptor), -EBADF (the descriptor is not open), -EBUSY (a producer, or a consumer,
 * already registered with the same eventfd), -ENOMEM, or whatever kcmp fails with (-ENOSYS, -EPERM: no
 * way to tell files apart, so nothing is registered).
 */
#ifndef VIRQ_BYPASS_IRQBYPASS_H
#define VIRQ_BYPASS_IRQBYPASS_H

#include <stdbool.h>
#include <stdint.h>

struct virq_bypass_producer;
struct virq_bypass_consumer;

/*
 * Where a posted interrupt goes (Linux's struct vcpu_data, passed through irq_set_vcpu_affinity): the
 * address of the target vCPU's posted-interrupt descriptor (struct virq_posted_desc, 64-byte aligned)
 * and the guest vector.
 */
struct virq_bypass_vcpu_info {
	uint64_t pi_desc_addr;
	uint8_t vector;
};

/*
 * Where a message goes when it is injected straight into a guest LPI (GICv4-like direct injection, the
 * arm64 counterpart of posting; docs/forwarding.md "MSIs straight to the LPI"). The consumer fills it in
 * and hands it to the producer's set_lpi; the producer keeps a copy and, for each message, calls
 * @inject(copy, raise time) after dropping its own locks, instead of writing the eventfd. @inject returns
 * 0 when it took the message (latched, or merged into a latch already pending), or non-zero when the
 * target is stale (the translation changed since @gen) or cannot take it now: the producer then writes
 * its eventfd, so the message takes the software path exactly as it would without bypass. @inject never
 * blocks on a lock the consumer holds while it calls set_lpi.
 */
struct virq_bypass_lpi {
	int (*inject)(const struct virq_bypass_lpi *t, uint64_t raise_ns);
	void *ctx;              /* the consumer's */
	void *its;              /* the translation unit @gen belongs to (the consumer's to interpret) */
	uint32_t intid;         /* the LPI */
	uint64_t gen;           /* the translation generation the LPI was resolved under */
};

/* The producer's side. Every op is optional. */
struct virq_bypass_producer_ops {
	int (*add_consumer)(struct virq_bypass_producer *prod, struct virq_bypass_consumer *cons);
	void (*del_consumer)(struct virq_bypass_producer *prod, struct virq_bypass_consumer *cons);
	void (*stop)(struct virq_bypass_producer *prod);
	void (*start)(struct virq_bypass_producer *prod);
	/*
	 * What a consumer calls (from its add_producer/del_producer or a routing change) to steer the
	 * producer's interrupt: posted to @info, or back to the host's remapped delivery when @info is
	 * NULL (Linux: irq_set_vcpu_affinity on producer->irq, reaching intel_ir_set_vcpu_affinity).
	 * -EOPNOTSUPP when the producer cannot post (no interrupt remapping behind it).
	 */
	int (*set_vcpu_affinity)(struct virq_bypass_producer *prod, const struct virq_bypass_vcpu_info *info);
	/*
	 * What an arm64 consumer calls to have the producer inject its messages straight into a guest LPI
	 * through @t (copied), or to go back to writing the eventfd (@t NULL). When it returns, no message
	 * the producer sent earlier is still being injected or written through the old setting (a producer
	 * waits out its messages in flight, as an IRTE write waits out posts), so the consumer may free
	 * what the old @t pointed at. -EOPNOTSUPP when the producer cannot (not an MSI/MSI-X vector).
	 * Called from the consumer's ops or its re-decisions, never with a lock that @inject takes.
	 */
	int (*set_lpi)(struct virq_bypass_producer *prod, const struct virq_bypass_lpi *t);
};

/* The consumer's side: add_producer and del_producer are required, stop and start optional. */
struct virq_bypass_consumer_ops {
	int (*add_producer)(struct virq_bypass_consumer *cons, struct virq_bypass_producer *prod);
	void (*del_producer)(struct virq_bypass_consumer *cons, struct virq_bypass_producer *prod);
	void (*stop)(struct virq_bypass_consumer *cons);
	void (*start)(struct virq_bypass_consumer *cons);
};

/* The manager's part of a producer or a consumer. */
struct virq_bypass_link {
	int token;                     /* [L:virq_bypass_lock] our dup of the eventfd (while registered) */
	bool registered;               /* [L:virq_bypass_lock] */
	struct virq_bypass_link *next; /* [L:virq_bypass_lock] */
};

/*
 * Embed in the producer's own object (container_of to get back) and zero-initialize. The caller sets
 * @ops (and @host_irq, a number for messages and `virq explain`); the rest belongs to the manager.
 */
struct virq_bypass_producer {
	const struct virq_bypass_producer_ops *ops; /* [I] set before registering */
	unsigned host_irq;                          /* [I] */
	struct virq_bypass_consumer *consumer;      /* [L:virq_bypass_lock] the paired consumer or NULL */
	struct virq_bypass_link link;
};

struct virq_bypass_consumer {
	const struct virq_bypass_consumer_ops *ops; /* [I] set before registering */
	struct virq_bypass_producer *producer;      /* [L:virq_bypass_lock] the paired producer or NULL */
	struct virq_bypass_link link;
};

/* Register with the eventfd @eventfd (the caller keeps its descriptor; the manager keeps a dup). */
int virq_bypass_register_producer(struct virq_bypass_producer *prod, int eventfd);
int virq_bypass_register_consumer(struct virq_bypass_consumer *cons, int eventfd);
/*
 * Unregister; if paired, the pair is disconnected (consumer.del_producer runs) before this returns.
 * A no-op for an object that is not registered (safe after a failed registration).
 */
void virq_bypass_unregister_producer(struct virq_bypass_producer *prod);
void virq_bypass_unregister_consumer(struct virq_bypass_consumer *cons);

/* Whether @prod / @cons is paired now (a snapshot, for tests and `virq explain`). */
bool virq_bypass_producer_paired(struct virq_bypass_producer *prod);
bool virq_bypass_consumer_paired(struct virq_bypass_consumer *cons);

/*
 * 0 when descriptors @a and @b are the same open file, > 0 when they differ, -EBADF when either is
 * closed, another -errno when kcmp cannot answer. The manager's identity test, exported so the other
 * parts compare eventfds the same way.
 */
int virq_bypass_same_file(int a, int b);

#endif /* VIRQ_BYPASS_IRQBYPASS_H */
