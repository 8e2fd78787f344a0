/* SPDX-License-Identifier: MIT */
/*
 * bench_int.h - what the figure families of `virq bench` share: the runner's result printing and A/B
 * interleaving (runner.c), persistent worker threads and the engine rig (rig.c), and the raw
 * eventfd/epoll floors (floors.c).
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
};

#define VIRQ_BENCH_MSI_GSI 40
#define VIRQ_BENCH_MSI_VECTOR 0x41
#define VIRQ_BENCH_LEVEL_GSI 5
#define VIRQ_BENCH_LEVEL_VECTOR 0x51
#define VIRQ_BENCH_REPORT_ADDR 0xd0000000u /* the guests' reports: a write here wakes the device */
#define VIRQ_BENCH_ITS_LPI 8192u

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
	/* VIRQ_BENCH_IRQ_ITS: the front's handles (sys, vm, vcpu, vgic, its; -1 if none) and guest RAM; the
	 * vm and vcpu pointers above are then borrowed from them. */
	int fds[5];
	void *ram;
};

int virq_bench_rig_create(struct virq_bench_rig *rig, enum virq_bench_irq kind, const char *guest,
			  uint64_t halt_poll_ns);
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

/* ---- the figure families ---- */

int virq_bench_irqfd_latency(const struct virq_bench_sel *sel);
int virq_bench_irqfd_latency_halt_poll(const struct virq_bench_sel *sel);
int virq_bench_resample(const struct virq_bench_sel *sel);
int virq_bench_throughput(const struct virq_bench_sel *sel);
int virq_bench_counts(const struct virq_bench_sel *sel);
int virq_bench_msix_mask(const struct virq_bench_sel *sel);
int virq_bench_its_latency(const struct virq_bench_sel *sel);
int virq_bench_its_translation(const struct virq_bench_sel *sel);

#endif /* VIRQ_BENCH_INT_H */
