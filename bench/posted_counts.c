/* SPDX-License-Identifier: MIT */
/*
 * posted_counts.c - syscalls and kicks per posted delivery (issue 6, scope item 9: "syscalls_per_delivery
 * on the posted path (must be 0) and kicks per delivery"), counted, not timed, on the device and VM of
 * posted_rig.c, and beside them the same counts for the remapped path of the same device to the same vCPU
 * in the same state, interleaved block by block (the "the same scenario in remapped mode and in
 * posted mode, in one virq bench run"):
 *
 *   posted_syscalls_per_delivery / posted_kicks_per_delivery
 *       vector 1 (posted) -> vCPU 0, running (its guest spins); reference: vector 2 (remapped by
 *       UNPOST_IRQ) -> vCPU 0.
 *   posted_halted_syscalls_per_delivery / posted_halted_kicks_per_delivery
 *       vectors 1 and 2 re-targeted (KVM_SET_GSI_ROUTING) to vCPU 1, halted with IF=1 (blocked: on its
 *       pCPU's wakeup list, NV = the wakeup vector).
 *
 * The "floor" column of these four is that remapped reference, not a physical floor: the physical floor
 * of a posted delivery is 0 syscalls and, to a running vCPU, 0 kicks, and a ratio against 0 is no number.
 * The ratio says what share of the remapped path's syscalls the posted path keeps (null when the
 * reference is 0).
 *
 * What one delivery is, and what is counted: the device thread's virq_pci_function_raise() of the cause
 * (the device model, the IOMMU's translation, then either the post into the target's descriptor and its
 * notification - including the wakeup handler's kick of a blocked vCPU - or, remapped, the host IRQ
 * handler's write of the trigger eventfd), and everything any other thread of the process does until the
 * guest's handler has run: the vCPU threads (fold, wake-up, epoll_pwait, irqfd read), the VM's poller, the
 * idle workers. Counted with a perf counter on the raw_syscalls:sys_enter tracepoint:
 *  - every thread except the device thread, over the whole block (from after the vCPU entered KVM_RUN and
 *    settled to before it is stopped): nothing else happens on those threads meanwhile;
 *  - the device thread only around each raise: read(counter), raise, read(counter). The second read's own
 *    entry is in that difference, so the device also reads its counter twice with nothing between, and
 *    the sum of those empty brackets is subtracted: what remains is exactly the raises' syscalls.
 * Not counted (bench machinery, on the device thread outside the brackets): waiting for the handler (a
 * sleep-poll of the vCPU's counters), waiting for a halted vCPU to sleep again, and the driver's ACK of
 * the cause, which the device thread writes through the VFIO region on the guest's behalf (a real guest
 * writes its mmap'd BAR with no exit; virq's guests cannot). The ACK's own syscalls are bracketed the same
 * way and printed on stderr, so nothing is hidden. Entering and leaving KVM_RUN (a signal) is outside the
 * window. Kicks: wake-up writes another thread made to the target vCPU (virq_halt_counts.wakeups: the
 * kicks that cost a syscall; a kick of a running vCPU is a flag store), the same measure for both paths;
 * the posted wakeup handler's own kick count (engine/posted.h) is printed on stderr beside it.
 *
 * If the tracepoint cannot be opened, syscalls are derived from the engine's counters instead (each
 * vCPU's wake-up writes and sleeps, plus two per irqfd signal: the host's write and the reader's read;
 * the poller's epoll_wait is missed) and stderr says so.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_int.h"
#include "engine/posted.h"
#include "engine/vcpu.h"

#define VIRQ_BENCH_PC_MAX_TASKS 32
#define VIRQ_BENCH_PC_BLOCKS 64

struct virq_bench_pcounts {
	struct virq_bench_posted_rig pr;
	pid_t device;
	int device_fd;                               /* the device thread's own counter (brackets) */
	pid_t tids[VIRQ_BENCH_PC_MAX_TASKS];
	int perf_fds[VIRQ_BENCH_PC_MAX_TASKS];
	int nr_tids;
	bool derived;
	unsigned target;                             /* 0: running vCPU 0; 1: halted vCPU 1 */
	/* per block, in block order (the runner keeps the syscalls) */
	double kicks[2][VIRQ_BENCH_PC_BLOCKS];       /* [0] posted, [1] remapped */
	double sys_sum[2], sys_max[2];               /* syscalls per delivery: sum and max over blocks */
	double cs_sum[2];                            /* context switches per delivery (not the device's) */
	int nr_kicks[2];
	uint64_t handler_kicks, ack_syscalls, acks;  /* for the stderr note, posted blocks of this state */
};

static int virq_bench_pc_open(struct virq_bench_pcounts *ct)
{
	long id = virq_bench_tracepoint_id("raw_syscalls/sys_enter");
	DIR *dir = opendir("/proc/self/task");
	struct dirent *de;

	ct->device_fd = -1;
	if (!dir)
		return -errno;
	ct->derived = id < 0;
	if (!ct->derived && (ct->device_fd = virq_bench_tracepoint_open(id, ct->device)) < 0) {
		fprintf(stderr, "virq bench: posted counts: perf_event_open(raw_syscalls:sys_enter): %s\n",
			strerror(-ct->device_fd));
		ct->derived = true;
	}
	while (!ct->derived && (de = readdir(dir)) && ct->nr_tids < VIRQ_BENCH_PC_MAX_TASKS) {
		pid_t tid = (pid_t)atoi(de->d_name);
		if (tid <= 0 || tid == ct->device)
			continue;
		int fd = virq_bench_tracepoint_open(id, tid);
		if (fd < 0) {
			fprintf(stderr, "virq bench: posted counts: perf_event_open: %s\n", strerror(-fd));
			ct->derived = true;
			break;
		}
		ct->tids[ct->nr_tids] = tid;
		ct->perf_fds[ct->nr_tids++] = fd;
	}
	closedir(dir);
	if (ct->derived)
		fprintf(stderr, "virq bench: posted counts: no syscall tracepoint; syscalls derived from the engine's "
				"counters\n");
	return 0;
}

static void virq_bench_pc_close(struct virq_bench_pcounts *ct)
{
	for (int i = 0; i < ct->nr_tids; i++)
		close(ct->perf_fds[i]);
	ct->nr_tids = 0;
	if (ct->device_fd >= 0)
		close(ct->device_fd);
	ct->device_fd = -1;
}

/* Context switches so far of every thread but the device. */
static uint64_t virq_bench_pc_switches(struct virq_bench_pcounts *ct)
{
	uint64_t sum = 0;

	for (int i = 0; i < ct->nr_tids; i++)
		sum += virq_bench_task_switches(ct->tids[i]);
	return sum;
}

/* Syscalls entered so far by every thread but the device. */
static uint64_t virq_bench_pc_others(struct virq_bench_pcounts *ct)
{
	uint64_t sum = 0, v;

	for (int i = 0; i < ct->nr_tids; i++)
		if (read(ct->perf_fds[i], &v, sizeof(v)) == sizeof(v))
			sum += v;
	return sum;
}

static uint64_t virq_bench_pc_self(struct virq_bench_pcounts *ct)
{
	uint64_t v = 0;

	if (ct->device_fd >= 0 && read(ct->device_fd, &v, sizeof(v)) != sizeof(v))
		v = 0;
	return v;
}

static uint64_t virq_bench_pc_gsi_signals(struct virq_bench_pcounts *ct, unsigned v)
{
	struct virq_gsi_counts g;

	if (virq_vm_gsi_counts(virq_vm_of_fd(ct->pr.vm), VIRQ_BENCH_PR_GSI0 + v, &g) < 0)
		return 0;
	return g.irqfd_signals;
}

/* Sleep-poll (uncounted: the device thread outside a bracket) until vCPU @i has run @v's handler. */
static int virq_bench_pc_wait(struct virq_bench_pcounts *ct, unsigned i, unsigned v, uint64_t target)
{
	uint64_t deadline = virq_bench_now_ns() + VIRQ_BENCH_TIMEOUT_MS * 1000000ull;

	while (virq_bench_pr_vector(&ct->pr, i, v).handled < target) {
		if (atomic_load(&ct->pr.cpu[i].run_error) || virq_bench_now_ns() > deadline) {
			fprintf(stderr, "virq bench: posted counts: a delivery of vector %u did not arrive\n", v);
			return -ETIMEDOUT;
		}
		virq_bench_sleep_ns(5000);
	}
	return 0;
}

static int virq_bench_pc_block(struct virq_bench_pcounts *ct, bool posted, double *samples, int iters)
{
	struct virq_bench_posted_rig *pr = &ct->pr;
	struct virq_posted_pcpus *pcpus = virq_posted_engine_pcpus();
	unsigned i = ct->target, v = posted ? VIRQ_BENCH_PR_POSTED : VIRQ_BENCH_PR_REMAP;
	bool halted = i == 1;
	int ret;

	uint64_t mark = virq_bench_pr_halt(pr, i).sleeps;
	virq_bench_pr_enter(pr, i);
	ret = halted ? virq_bench_pr_settle(pr, i, mark) : virq_bench_pr_running(pr, i);
	if (ret < 0)
		goto out;

	struct virq_halt_counts h0[2] = { virq_bench_pr_halt(pr, 0), virq_bench_pr_halt(pr, 1) };
	uint64_t k0 = pcpus ? atomic_load(&pcpus->kicks) : 0, sig0 = virq_bench_pc_gsi_signals(ct, v);
	uint64_t others0 = virq_bench_pc_others(ct), cs0 = virq_bench_pc_switches(ct);
	uint64_t raise_sys = 0, ack_sys = 0, empty_sys = 0, a, b;
	for (int it = 0; it < iters; it++) {
		mark = virq_bench_pr_halt(pr, i).sleeps;
		uint64_t handled = virq_bench_pr_vector(pr, i, v).handled;
		a = virq_bench_pc_self(ct);
		b = virq_bench_pc_self(ct);
		empty_sys += b - a;
		a = virq_bench_pc_self(ct);
		ret = virq_bench_pr_raise(pr, v);
		b = virq_bench_pc_self(ct);
		raise_sys += b - a;
		if (ret < 0 || (ret = virq_bench_pc_wait(ct, i, v, handled + 1)) < 0)
			goto out;
		a = virq_bench_pc_self(ct);
		ret = virq_bench_pr_ack(pr, 1ull << v);
		b = virq_bench_pc_self(ct);
		ack_sys += b - a;
		if (ret < 0 || (halted && (ret = virq_bench_pr_settle(pr, i, mark)) < 0))
			goto out;
	}
	uint64_t others1 = virq_bench_pc_others(ct), cs1 = virq_bench_pc_switches(ct);
	struct virq_halt_counts h1[2] = { virq_bench_pr_halt(pr, 0), virq_bench_pr_halt(pr, 1) };
	uint64_t k1 = pcpus ? atomic_load(&pcpus->kicks) : 0, sig1 = virq_bench_pc_gsi_signals(ct, v);

	double syscalls;
	if (ct->derived) {
		syscalls = 2.0 * (double)(sig1 - sig0);
		for (unsigned c = 0; c < 2; c++)
			syscalls += (double)(h1[c].wakeups - h0[c].wakeups) + (double)(h1[c].sleeps - h0[c].sleeps);
	} else {
		/* Each bracket holds one read's own entry; the empty brackets measure exactly that. */
		syscalls = (double)(others1 - others0) + (double)raise_sys - (double)empty_sys;
	}
	samples[0] = syscalls / iters;
	int side = posted ? 0 : 1;
	if (ct->nr_kicks[side] < VIRQ_BENCH_PC_BLOCKS)
		ct->kicks[side][ct->nr_kicks[side]++] = (double)(h1[i].wakeups - h0[i].wakeups) / iters;
	ct->sys_sum[side] += samples[0];
	ct->cs_sum[side] += (double)(cs1 - cs0) / iters;
	if (samples[0] > ct->sys_max[side])
		ct->sys_max[side] = samples[0];
	if (posted) {
		ct->handler_kicks += k1 - k0;
		ct->ack_syscalls += ack_sys - empty_sys;
		ct->acks += (uint64_t)iters;
	}
out:;
	int r = virq_bench_pr_leave(pr, i);
	if (ret == 0)
		ret = r;
	return ret < 0 ? ret : 1;
}

static int virq_bench_pc_posted(void *ctx, double *samples, int iters)
{
	return virq_bench_pc_block(ctx, true, samples, iters);
}

static int virq_bench_pc_remapped(void *ctx, double *samples, int iters)
{
	return virq_bench_pc_block(ctx, false, samples, iters);
}

/* One vCPU state: interleave posted and remapped blocks, emit the two figures. */
static int virq_bench_pc_state(struct virq_bench_pcounts *ct, const struct virq_bench_sel *sel, unsigned target,
			       const char *syscalls, const char *kicks, double budget_s)
{
	struct virq_bench_ab_result res;
	int ret;

	if ((ret = virq_bench_pr_route(&ct->pr, target)) < 0) {
		fprintf(stderr, "virq bench: posted counts: re-targeting to vCPU %u: %s\n", target, strerror(-ret));
		return ret;
	}
	ct->target = target;
	ct->nr_kicks[0] = ct->nr_kicks[1] = 0;
	ct->sys_sum[0] = ct->sys_sum[1] = ct->sys_max[0] = ct->sys_max[1] = ct->cs_sum[0] = ct->cs_sum[1] = 0;
	ct->handler_kicks = ct->ack_syscalls = ct->acks = 0;
	struct virq_bench_ab ab = {
		.name = syscalls, .ctx = ct,
		.path = virq_bench_pc_posted, .floor = virq_bench_pc_remapped,
		.iters = 100, .max_pairs = VIRQ_BENCH_PC_BLOCKS - 1, .min_pairs = 3, .budget_s = budget_s,
	};
	if ((ret = virq_bench_interleave(&ab, &res)) < 0)
		return ret;
	virq_bench_emit(sel, syscalls, res.path_p50, "syscalls", res.floor_p50, res.ratio_p50);
	/* Kicks: medians over the blocks after the warm-up pair (block 0 of each side). */
	int pairs = res.pairs;
	double pk = virq_bench_median(ct->kicks[0] + 1, pairs), fk = virq_bench_median(ct->kicks[1] + 1, pairs);
	virq_bench_emit(sel, kicks, pk, "kicks", fk, fk > 0 ? pk / fk : NAN);
	/* The figure is the median block; a block above it means something on the path sometimes costs
	 * more (lock contention turning into futex calls, say): say so rather than let the median hide it. */
	fprintf(stderr, "virq bench: %s: per delivery, mean over blocks %.2f (max %.2f) posted, %.2f (max %.2f) "
			"remapped; context switches (all threads but the device) %.2f posted, %.2f remapped\n",
		syscalls, ct->sys_sum[0] / ct->nr_kicks[0], ct->sys_max[0], ct->sys_sum[1] / ct->nr_kicks[1],
		ct->sys_max[1], ct->cs_sum[0] / ct->nr_kicks[0], ct->cs_sum[1] / ct->nr_kicks[1]);
	if (ct->acks)
		fprintf(stderr, "virq bench: %s: wakeup-handler kicks %.2f per delivery; the driver's ACK (not "
				"counted) %.2f syscalls\n",
			kicks, (double)ct->handler_kicks / (double)ct->acks,
			(double)ct->ack_syscalls / (double)ct->acks);
	return 0;
}

int virq_bench_posted_counts(const struct virq_bench_sel *sel)
{
	struct virq_bench_pcounts *ct = calloc(1, sizeof(*ct));
	int ret;

	if (!ct)
		return -ENOMEM;
	ct->device = virq_bench_gettid();
	ct->device_fd = -1;
	if ((ret = virq_bench_pr_create(&ct->pr)) < 0) {
		free(ct);
		return ret;
	}
	/* Every thread exists now: the VM's poller and the three workers. */
	if ((ret = virq_bench_pc_open(ct)) < 0)
		goto out;
	if (virq_bench_selected(sel, "posted_syscalls_per_delivery") ||
	    virq_bench_selected(sel, "posted_kicks_per_delivery"))
		ret = virq_bench_pc_state(ct, sel, 0, "posted_syscalls_per_delivery", "posted_kicks_per_delivery", 1.0);
	if (ret == 0 && (virq_bench_selected(sel, "posted_halted_syscalls_per_delivery") ||
			 virq_bench_selected(sel, "posted_halted_kicks_per_delivery")))
		ret = virq_bench_pc_state(ct, sel, 1, "posted_halted_syscalls_per_delivery",
					  "posted_halted_kicks_per_delivery", 1.2);
	virq_bench_pc_close(ct);
out:
	virq_bench_pr_destroy(&ct->pr);
	free(ct);
	return ret;
}
