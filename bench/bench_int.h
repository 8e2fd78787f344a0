/* SPDX-License-Identifier: MIT */
/*
 * bench_int.h - what the figure families of `virq bench` share: the runner's result printing and A/B
 * interleaving (runner.c), persistent worker threads and the engine rig (rig.c), the raw
 * eventfd/epoll floors (floors.c), the cache-line floors (floor_cacheline.c) and the bypass figures'
 * device and two-vCPU VM (posted_rig.c, whose threads its header comment describes).
 *
 * Threads of every figure (perf-floors.md section 4: same threads, same cores, same wake-ups):
 *   device  - the thread that called virq_bench_run(); it writes the eventfd and stamps t0.
 *   vcpu    - a worker: inside virq_vcpu_run() during engine blocks (A), the floor's sink during floor
 *             blocks (B). One thread object for both roles, so the scheduler sees the same task.
 *   relay   - a worker that runs the floor's epoll relay during B blocks. It stands for the VM's poller
 *             thread, which the engine owns and we cannot borrow; it sleeps on its command eventfd
 *             during A blocks, as the poller sleeps in epoll_wait during B blocks.
 * Nothing is pinned: the machine has 2 cores and the host moves them under us anyway, so pinning would
 * fix one placement out of the two perf-floors.md asks for while costing nothing to leave to the
 * scheduler. Both sides of each ratio see the same (unpinned) placement policy.
 */
#ifndef VIRQ_BENCH_INT_H
#define VIRQ_BENCH_INT_H

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "virq/vcpu.h"
#include "virq/vm.h"

struct virq_iommu;
struct virq_pci_function;

/* ---- runner.c: output and the A/B machinery ---- */

/* Which metrics the caller asked for (the runner filters what families emit). */
struct virq_bench_sel;

/* Print one figure as a JSON line if it was selected: fixed key order, ratio = value / floor. */
void virq_bench_emit(const struct virq_bench_sel *sel, const char *metric, double value, const char *unit,
		     double floor, double ratio);
bool virq_bench_selected(const struct virq_bench_sel *sel, const char *metric);

/*
 * One block: run @iters iterations of one side and store one sample per iteration in @samples (or fewer:
 * a throughput block stores one rate). Returns the number of samples, or -errno after printing why.
 */
typedef int (*virq_bench_block_fn)(void *ctx, double *samples, int iters);

struct virq_bench_ab {
	const char *name;            /* for messages */
	void *ctx;
	virq_bench_block_fn path;    /* A: the engine path */
	virq_bench_block_fn floor;   /* B: its floor */
	int iters;                   /* per block, at most VIRQ_BENCH_MAX_BLOCK */
	int max_pairs;               /* stop after this many block pairs... */
	int min_pairs;               /* ...or when the time budget is spent, but never before this many */
	double budget_s;
};

/* Per-side statistics, each the median over blocks of the per-block statistic. */
struct virq_bench_ab_result {
	double path_p50, floor_p50, ratio_p50;  /* ratio: median over pairs of path_p50 / floor_p50 */
	double path_p99, floor_p99, ratio_p99;
	int pairs;
};

#define VIRQ_BENCH_MAX_BLOCK 1000

/* Run A, B, A, B ... (one warm-up pair first, discarded). Returns 0 or -errno. */
int virq_bench_interleave(const struct virq_bench_ab *ab, struct virq_bench_ab_result *res);

/* Helpers. */
uint64_t virq_bench_now_ns(void);
void virq_bench_sleep_ns(uint64_t ns);
double virq_bench_median(double *v, int n);   /* sorts @v */
double virq_bench_pct(double *v, int n, int per_mille); /* sorts @v */
/* Wait up to @timeout_ms for @fd to be readable, then read its eventfd count. -ETIMEDOUT or -errno. */
int virq_bench_wait_read(int fd, int timeout_ms, uint64_t *count);
int virq_bench_write1(int fd);
pid_t virq_bench_gettid(void);

/* How long a device waits for anything before it declares the path broken. */
#define VIRQ_BENCH_TIMEOUT_MS 2000

/* ---- rig.c: worker threads ---- */

struct virq_bench_worker {
	pthread_t thread;
	pid_t tid;
	int cmd_fd;                       /* device -> worker: run the job */
	int done_fd;                      /* worker -> device: the job returned */
	void (*_Atomic fn)(void *arg);
	void *_Atomic arg;
	atomic_bool quit;
	bool started;
};

int virq_bench_worker_start(struct virq_bench_worker *w);
void virq_bench_worker_stop(struct virq_bench_worker *w);
/* Hand @fn(@arg) to the worker (returns at once) / wait for it to return (-ETIMEDOUT after 5 s). */
void virq_bench_worker_submit(struct virq_bench_worker *w, void (*fn)(void *), void *arg);
int virq_bench_worker_wait(struct virq_bench_worker *w);

/* ---- rig.c: one VM, one vCPU (APIC ID 0), one irqfd, and the two workers ---- */

enum virq_bench_irq {
	VIRQ_BENCH_IRQ_MSI,        /* irqfd on GSI 40, MSI route to APIC 0, vector 0x41 */
	VIRQ_BENCH_IRQ_RESAMPLE,   /* resampling irqfd on GSI 5 (IOAPIC pin 5, level, vector 0x51) */
	VIRQ_BENCH_IRQ_ITS,        /* arm64 VM: irqfd on GSI 40, MSI route with DeviceID 1, event 0, through
				    * the ITS to LPI 8192 (the guest maps it); made through the KVM front */
	VIRQ_BENCH_IRQ_SPI,        /* arm64 VM without an ITS: resampling irqfd on GSI 40, its default route
				    * (irqchip 0 pin 40 = SPI INTID 72, the guest makes it level); the KVM front */
};

#define VIRQ_BENCH_MSI_GSI 40
#define VIRQ_BENCH_MSI_VECTOR 0x41
#define VIRQ_BENCH_LEVEL_GSI 5
#define VIRQ_BENCH_LEVEL_VECTOR 0x51
#define VIRQ_BENCH_REPORT_ADDR 0xd0000000u /* the guests' reports: a write here wakes the device */
#define VIRQ_BENCH_ITS_LPI 8192u
#define VIRQ_BENCH_SPI_INTID (32u + VIRQ_BENCH_MSI_GSI) /* VIRQ_BENCH_IRQ_SPI: GSI 40 = SPI number 40 */

struct virq_bench_rig {
	struct virq_vm *vm;
	struct virq_vcpu *vcpu;
	struct kvm_run *run;
	uint8_t vector;
	uint32_t gsi;
	int irq_fd;            /* the device's trigger eventfd, bound as irqfd */
	int resample_fd;       /* resamplefd (RESAMPLE only), else -1 */
	int ack_fd;            /* written by the vCPU thread on each KVM_EXIT_MMIO write (guest report) */
	struct virq_bench_worker vcpu_thread;
	struct virq_bench_worker relay;
	atomic_int run_error;  /* first unexpected virq_vcpu_run() result, 0 if none */
	_Atomic uint64_t exits;     /* KVM_EXIT_MMIO exits the vCPU worker completed */
	_Atomic uint64_t report_ns; /* when the vCPU worker saw the last report */
	bool in_run;
	/* VIRQ_BENCH_IRQ_ITS and _SPI: the front's handles (sys, vm, vcpu, vgic, its; -1 if none) and guest
	 * RAM; the vm and vcpu pointers above are then borrowed from them. */
	int fds[5];
	void *ram;
	uint32_t intid;        /* arm64: the INTID whose counters virq_bench_rig_vector() reads */
	/*
	 * Guest MMIO writes other than reports, handled on the vCPU thread before it re-enters (what a VMM
	 * does with a device register write; set before the first enter, NULL: they just complete).
	 */
	int (*mmio_write)(void *ctx, uint64_t addr, uint64_t value);
	void *mmio_ctx;
};

int virq_bench_rig_create(struct virq_bench_rig *rig, enum virq_bench_irq kind, const char *guest,
			  uint64_t halt_poll_ns);
/* A no-op SIGUSR1 handler for the stop protocol, unless the program has its own (posted_rig.c uses it too). */
int virq_bench_install_stop_signal(void);
void virq_bench_rig_destroy(struct virq_bench_rig *rig);
/* Enter KVM_RUN on the vcpu worker (returns at once) / stop it (immediate_exit + SIGUSR1, as a VMM). */
void virq_bench_rig_enter(struct virq_bench_rig *rig);
int virq_bench_rig_leave(struct virq_bench_rig *rig);
/* End an engine block: leave KVM_RUN; returns @ret if it failed, else the leave's error, else @samples. */
int virq_bench_rig_finish(struct virq_bench_rig *rig, int ret, int samples);
struct virq_vector_counts virq_bench_rig_vector(struct virq_bench_rig *rig);
struct virq_halt_counts virq_bench_rig_halt(struct virq_bench_rig *rig);
/*
 * Wait until the vCPU has gone back to sleep in hlt after @sleeps0 (halt counter `sleeps`, or `halts`
 * when @polling: a polling vCPU may never sleep), then let it settle a little more. Returns 0 or
 * -ETIMEDOUT.
 */
int virq_bench_rig_settle(struct virq_bench_rig *rig, uint64_t mark0, bool polling);

/* The settle margin after the vCPU (or the floor's sink) is seen asleep again. */
#define VIRQ_BENCH_SETTLE_NS 10000u

/* ---- rig.c: thread placement (only the throughput figure pins; see throughput.c) ---- */

#define VIRQ_BENCH_MAX_PINNED 16

struct virq_bench_placement {
	int nr;
	pid_t tids[VIRQ_BENCH_MAX_PINNED];
	cpu_set_t old[VIRQ_BENCH_MAX_PINNED];
};

/* The first two CPUs this process may use; -ENODEV when it has fewer. */
int virq_bench_two_cpus(int cpus[2]);
/* The process's thread ids (up to @max). */
int virq_bench_list_tids(pid_t *tids, int max);
/* Pin @tid to @cpu, remembering its affinity in @pl; virq_bench_unpin_all() restores them all. */
int virq_bench_pin(struct virq_bench_placement *pl, pid_t tid, int cpu);
void virq_bench_unpin_all(struct virq_bench_placement *pl);

/* ---- floors.c: the plain eventfd/epoll stand-ins for the engine's hops ---- */

enum virq_bench_sink_kind {
	VIRQ_BENCH_SINK_BLOCK,     /* blocking read on e2: a halted vCPU asleep in epoll_pwait */
	VIRQ_BENCH_SINK_BUSYPOLL,  /* non-blocking read on e2 in a loop: a halt-polling vCPU */
	VIRQ_BENCH_SINK_SPIN,      /* spins on the relay's batch counter in memory: a running vCPU */
};

struct virq_bench_floor {
	int e1;          /* device -> relay (non-blocking, in the relay's epoll set) */
	int epfd;
	int e2;          /* relay -> sink, blocking */
	int e2nb;        /* relay -> sink, non-blocking (busy-poll sink) */
	int ack;         /* sink -> device */
	/* configuration of the current block (set before the jobs are submitted) */
	enum virq_bench_sink_kind sink_kind;
	bool sink_acks;  /* the sink writes ack after stamping (latency acks, resample's third hop) */
	uint64_t spin_from; /* SPIN: the batch count when the block started */
	/* state, read by the device as it reads the engine's counters */
	atomic_bool stop;
	_Atomic uint64_t signals;    /* eventfd counts the relay consumed (gsi irqfd_signals) */
	_Atomic uint64_t batches;    /* relay reads that returned a count (published to the spin sink) */
	_Atomic uint64_t runs;       /* sink "handler" entries (handled) */
	_Atomic uint64_t last_ns;    /* CLOCK_MONOTONIC of the last sink entry (last_entry_ns) */
	_Atomic uint64_t sleeps;     /* sink about to block (halt sleeps) */
	_Atomic uint64_t halts;      /* sink about to poll (halts) */
};

int virq_bench_floor_init(struct virq_bench_floor *f);
void virq_bench_floor_destroy(struct virq_bench_floor *f);
/* Start the relay and sink jobs on the rig's workers for one B block / stop them. */
int virq_bench_floor_enter(struct virq_bench_floor *f, struct virq_bench_rig *rig,
			   enum virq_bench_sink_kind kind, bool sink_acks);
int virq_bench_floor_leave(struct virq_bench_floor *f, struct virq_bench_rig *rig);
/* The floor's counterpart of virq_bench_rig_settle(). */
int virq_bench_floor_settle(struct virq_bench_floor *f, uint64_t mark0, bool polling);

/* irqfd_latency.c: one B block of the irqfd latency floor (device -> relay -> sink, the sink blocking,
 * or busy-polling when @polling), on @rig's workers: the floor of every halted-vCPU latency figure. */
#define VIRQ_BENCH_LATENCY_WARMUP 2  /* samples dropped at the start of every latency block */
int virq_bench_latency_floor_block(struct virq_bench_floor *f, struct virq_bench_rig *rig, bool polling,
				   double *samples, int iters);

/* ---- counts.c: what the syscall counters need (posted_counts.c counts the same way) ---- */

/* The id of tracepoint @event ("raw_syscalls/sys_enter") from tracefs, or -1. */
long virq_bench_tracepoint_id(const char *event);
/* A perf counter of tracepoint @id on thread @tid (read(2) gives a u64), or -errno. */
int virq_bench_tracepoint_open(long id, pid_t tid);
/* Voluntary + involuntary context switches of thread @tid so far (0 if it cannot be read). */
uint64_t virq_bench_task_switches(pid_t tid);

/* ---- floor_cacheline.c: the cache-line floors of the posted path (a running vCPU, no thread wakes) ---- */

/*
 * Two memory protocols between the device thread and a spinning sink on another worker, the least a
 * posted delivery to a running vCPU can cost (perf-floors.md A1 (5)):
 *  - HANDOFF: the device stamps t0 and writes a word; the sink spins on it, stamps t1 and writes t1 back
 *    on a second line. One-way latency = t1 - t0 (posted_latency's floor).
 *  - POSTED:  the "posted shape": the device ORs a bit into a 256-bit PIR and sets ON (one line, as a
 *    VT-d descriptor); the sink spins on ON, clears it, exchanges the PIR words out and stamps each bit
 *    it took (posted_throughput's floor).
 * Every field the two sides share sits on its own cache line; allocate the struct 64-byte aligned.
 */
enum virq_bench_cacheline_kind {
	VIRQ_BENCH_CACHELINE_HANDOFF,
	VIRQ_BENCH_CACHELINE_POSTED,
};

#define VIRQ_BENCH_CACHELINE_ON 1ull

struct virq_bench_cacheline {
	_Alignas(64) _Atomic uint64_t req;       /* HANDOFF: device -> sink, a sequence number */
	_Alignas(64) _Atomic uint64_t resp;      /* HANDOFF: sink -> device, CLOCK_MONOTONIC of the notice */
	_Alignas(64) _Atomic uint64_t pir[4];    /* POSTED: one descriptor line: PIR, then control (ON) */
	_Atomic uint64_t control;
	_Alignas(64) _Atomic uint64_t last_ns[256]; /* POSTED: per bit, the sink's last "handler entry" */
	_Alignas(64) _Atomic uint64_t runs;      /* POSTED: bits the sink took ("handler entries") */
	_Atomic bool stop;
	_Atomic bool spinning;                   /* the sink is in its loop */
	enum virq_bench_cacheline_kind kind;
};

/* Start the sink on @w (it spins until leave) / stop it. 0 or -errno. */
int virq_bench_cacheline_enter(struct virq_bench_cacheline *c, struct virq_bench_worker *w,
			       enum virq_bench_cacheline_kind kind);
int virq_bench_cacheline_leave(struct virq_bench_cacheline *c, struct virq_bench_worker *w);
/* HANDOFF, device side: one hand-off; the one-way time t1 - t0 in ns, or -ETIMEDOUT. */
int64_t virq_bench_cacheline_handoff(struct virq_bench_cacheline *c);
/* POSTED, device side: post bit @bit (0..255). */
void virq_bench_cacheline_post(struct virq_bench_cacheline *c, unsigned bit);

/* ---- posted_rig.c: the bypass rig (issue 6): a 16-vector function behind an IOMMU, two vCPUs ---- */

#define VIRQ_BENCH_PR_VECTORS 16            /* MSI-X vectors (and causes) of the function */
#define VIRQ_BENCH_PR_GSI0 40               /* MSI-X vector i is an irqfd on GSI 40 + i ... */
#define VIRQ_BENCH_PR_VEC0 0x40             /* ... routed as an MSI with guest vector 0x40 + i */
#define VIRQ_BENCH_PR_RAM 0x100000ull       /* guest RAM (one page): the handlers' entry words */

/* The roles of the vectors (the same device and VM for every figure of posted.c and posted_counts.c). */
enum {
	VIRQ_BENCH_PR_REMAP_REPORT = 0, /* UNPOST_IRQ: remapped; handler reports (MMIO exit) -> vCPU 1 */
	VIRQ_BENCH_PR_POSTED = 1,       /* automatic: posted; handler writes its entry word -> the target */
	VIRQ_BENCH_PR_REMAP = 2,        /* UNPOST_IRQ: remapped; handler silent -> the target */
	VIRQ_BENCH_PR_POSTED_REPORT = 15, /* automatic: posted; handler reports -> vCPU 1 */
};

struct virq_bench_pr_vcpu {
	int fd;
	struct virq_vcpu *vcpu;
	struct kvm_run *run;
	struct virq_bench_worker *worker;   /* the thread that runs it (and its floor role) */
	int ack_fd;                         /* written on each guest report (MMIO exit) */
	_Atomic uint64_t *entry_word;       /* guest RAM its vector-1 handler writes (a count) */
	atomic_int run_error;
	bool in_run;
};

struct virq_bench_posted_rig {
	/* Only the workers of `base` are used: base.vcpu_thread runs vCPU 1 (the halted one) and the
	 * eventfd floors' sink, base.relay the eventfd floors' relay (floors.c takes a rig for them). */
	struct virq_bench_rig base;
	struct virq_bench_worker spinner;   /* runs vCPU 0 (the running one) and the cache-line sink */
	struct virq_bench_pr_vcpu cpu[2];   /* vCPU 0 spins in its guest; vCPU 1 halts */
	int sys, vm, kvm_vfio, dev;
	void *ram;
	struct virq_iommu *iommu;
	struct virq_pci_function *fn;
	int efd[VIRQ_BENCH_PR_VECTORS];     /* the MSI-X trigger eventfds, also the irqfds */
	unsigned target;                    /* the vCPU vectors 1 and 2 are routed to */
};

/* Build the rig (docs in posted_rig.c). 0 or -errno, after saying why on stderr. */
int virq_bench_pr_create(struct virq_bench_posted_rig *pr);
void virq_bench_pr_destroy(struct virq_bench_posted_rig *pr);
/* Route vectors 1 and 2 to vCPU @target (KVM_SET_GSI_ROUTING, with the others unchanged). */
int virq_bench_pr_route(struct virq_bench_posted_rig *pr, unsigned target);
/* KVM_RUN vCPU @i on its worker / stop it (immediate_exit + SIGUSR1). */
void virq_bench_pr_enter(struct virq_bench_posted_rig *pr, unsigned i);
int virq_bench_pr_leave(struct virq_bench_posted_rig *pr, unsigned i);
/* The device: raise cause (= MSI-X vector) @v; the driver's ACK of @mask (done by the device thread on
 * the guest's behalf: a real guest writes the BAR directly, virq's guests cannot). 0 or -errno. */
int virq_bench_pr_raise(struct virq_bench_posted_rig *pr, unsigned v);
int virq_bench_pr_ack(struct virq_bench_posted_rig *pr, uint64_t mask);
struct virq_vector_counts virq_bench_pr_vector(struct virq_bench_posted_rig *pr, unsigned i, unsigned v);
struct virq_halt_counts virq_bench_pr_halt(struct virq_bench_posted_rig *pr, unsigned i);
/* Wait until vCPU @i (running: a spinning guest) has taken one interrupt of vector 1 since it entered:
 * it is then in its guest loop. 0 or -ETIMEDOUT. */
int virq_bench_pr_running(struct virq_bench_posted_rig *pr, unsigned i);
/* Wait until halted vCPU @i went back to sleep after @mark (halt `sleeps`), then settle. */
int virq_bench_pr_settle(struct virq_bench_posted_rig *pr, unsigned i, uint64_t mark);

/* ---- the figure families ---- */

int virq_bench_irqfd_latency(const struct virq_bench_sel *sel);
int virq_bench_irqfd_latency_halt_poll(const struct virq_bench_sel *sel);
int virq_bench_resample(const struct virq_bench_sel *sel);
int virq_bench_throughput(const struct virq_bench_sel *sel);
int virq_bench_counts(const struct virq_bench_sel *sel);
int virq_bench_msix_mask(const struct virq_bench_sel *sel);
int virq_bench_its_latency(const struct virq_bench_sel *sel);
int virq_bench_its_translation(const struct virq_bench_sel *sel);
int virq_bench_posted_latency(const struct virq_bench_sel *sel);
int virq_bench_posted_throughput(const struct virq_bench_sel *sel);
int virq_bench_remapped_latency(const struct virq_bench_sel *sel);
int virq_bench_posted_counts(const struct virq_bench_sel *sel);
int virq_bench_forwarded(const struct virq_bench_sel *sel);

/* resample.c: one B block of the resample floor (device -> relay -> sink -> device over plain eventfds,
 * the sink blocking), on @rig's workers: the floor of every level round trip. */
int virq_bench_resample_floor_block(struct virq_bench_floor *f, struct virq_bench_rig *rig, double *samples,
				    int iters);

#endif /* VIRQ_BENCH_INT_H */
