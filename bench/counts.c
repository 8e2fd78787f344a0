/* SPDX-License-Identifier: MIT */
/*
 * counts.c - syscalls and context switches per irqfd delivery to a halted vCPU (perf-floors.md goal G9),
 * counted, not timed: counts are the stable figures on this machine.
 *
 * How they are counted:
 *  - syscalls: a perf counter on the raw_syscalls:sys_enter tracepoint for every thread of the process
 *    except the device thread (this one). The device thread is excluded because between deliveries it
 *    sleep-polls for the vCPU to halt again, which is bench machinery; its share of a delivery is its
 *    one write(2), added by construction. If the tracepoint cannot be opened (no tracefs, no perf), the
 *    engine's count is derived from its own counters instead - device writes, plus one read per
 *    delivery, plus one write per vCPU wake-up, plus one epoll_pwait per vCPU sleep - and the floor's
 *    from its construction (5), and stderr says so.
 *  - context switches: voluntary + involuntary switches of the same threads, from
 *    /proc/self/task/TID/status. A delivery's switches are the woken threads going back to sleep.
 * Threads counted on both sides: the poller, the vCPU/sink worker and the relay worker; the side not
 * running idles in a blocking call and adds nothing.
 *
 * The floor is the two-wake-up eventfd/epoll path of floors.c (device write; relay epoll_wait, read,
 * write; sink read): 5 syscalls and 2 switches, the least a two-wake-up delivery can cost. The engine
 * needs one wake-up: the halted vCPU waits on the irqfd itself (device write, vCPU epoll_pwait and
 * read: 3 syscalls, 1 switch).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench_int.h"

static const char virq_bench_counts_guest[] =
	"vector 0x41:\n"
	"    eoi\n"
	"    iret\n"
	"main:\n"
	"    mmio_write 0xfee000f0, 4, 0x1ff\n"
	"    sti\n"
	"loop:\n"
	"    hlt\n"
	"    jmp loop\n";

#define VIRQ_BENCH_COUNTS_MAX_TASKS 32
#define VIRQ_BENCH_COUNTS_BLOCKS 64

struct virq_bench_counts {
	struct virq_bench_rig rig;
	struct virq_bench_floor floor;
	pid_t device;
	pid_t tids[VIRQ_BENCH_COUNTS_MAX_TASKS];
	int perf_fds[VIRQ_BENCH_COUNTS_MAX_TASKS];   /* -1 everywhere when syscalls are derived */
	int nr_tids;
	bool derived;
	/* context switches per delivery of each block, in block order (the runner keeps the syscalls) */
	double path_cs[VIRQ_BENCH_COUNTS_BLOCKS], floor_cs[VIRQ_BENCH_COUNTS_BLOCKS];
	int nr_path, nr_floor;
};

struct virq_bench_snapshot {
	uint64_t syscalls, switches;
};

long virq_bench_tracepoint_id(const char *event)
{
	static const char *const roots[] = { "/sys/kernel/tracing", "/sys/kernel/debug/tracing" };
	char path[256];

	for (unsigned i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/events/%s/id", roots[i], event);
		FILE *f = fopen(path, "re");
		long id;
		if (!f)
			continue;
		int ok = fscanf(f, "%ld", &id) == 1;
		fclose(f);
		if (ok)
			return id;
	}
	return -1;
}

int virq_bench_tracepoint_open(long id, pid_t tid)
{
	struct perf_event_attr attr = {
		.type = PERF_TYPE_TRACEPOINT,
		.size = sizeof(attr),
		.config = (uint64_t)id,
	};
	int fd = (int)syscall(SYS_perf_event_open, &attr, tid, -1, -1, PERF_FLAG_FD_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* Find every thread but the device and open its syscall counter. */
static int virq_bench_counts_open(struct virq_bench_counts *ct)
{
	DIR *dir = opendir("/proc/self/task");
	struct dirent *de;
	long id = virq_bench_tracepoint_id("raw_syscalls/sys_enter");

	if (!dir) {
		fprintf(stderr, "virq bench: counts: /proc/self/task: %s\n", strerror(errno));
		return -errno;
	}
	ct->derived = id < 0;
	while ((de = readdir(dir))) {
		pid_t tid = (pid_t)atoi(de->d_name);
		if (tid <= 0 || tid == ct->device)
			continue;
		if (ct->nr_tids == VIRQ_BENCH_COUNTS_MAX_TASKS)
			break;
		int fd = -1;
		if (!ct->derived) {
			fd = virq_bench_tracepoint_open(id, tid);
			if (fd < 0) {
				fprintf(stderr, "virq bench: counts: perf_event_open(raw_syscalls:sys_enter): %s\n",
					strerror(-fd));
				ct->derived = true;
			}
		}
		ct->tids[ct->nr_tids] = tid;
		ct->perf_fds[ct->nr_tids++] = fd;
	}
	closedir(dir);
	if (ct->derived) {
		fprintf(stderr, "virq bench: counts: no syscall tracepoint; syscalls derived from the engine's counters\n");
		for (int i = 0; i < ct->nr_tids; i++) {
			if (ct->perf_fds[i] >= 0)
				close(ct->perf_fds[i]);
			ct->perf_fds[i] = -1;
		}
	}
	return 0;
}

static void virq_bench_counts_close(struct virq_bench_counts *ct)
{
	for (int i = 0; i < ct->nr_tids; i++)
		if (ct->perf_fds[i] >= 0)
			close(ct->perf_fds[i]);
	ct->nr_tids = 0;
}

uint64_t virq_bench_task_switches(pid_t tid)
{
	char path[64], line[128];
	uint64_t total = 0, v;

	snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int)tid);
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "voluntary_ctxt_switches: %" SCNu64, &v) == 1 ||
		    sscanf(line, "nonvoluntary_ctxt_switches: %" SCNu64, &v) == 1)
			total += v;
	}
	fclose(f);
	return total;
}

static struct virq_bench_snapshot virq_bench_counts_snap(struct virq_bench_counts *ct)
{
	struct virq_bench_snapshot s = { 0 };

	for (int i = 0; i < ct->nr_tids; i++) {
		uint64_t v;
		if (ct->perf_fds[i] >= 0 && read(ct->perf_fds[i], &v, sizeof(v)) == sizeof(v))
			s.syscalls += v;
		s.switches += virq_bench_task_switches(ct->tids[i]);
	}
	return s;
}

/* Sleep-poll (the device's own calls are not counted) until @cur() passes @target. */
static int virq_bench_counts_wait(uint64_t (*cur)(void *), void *arg, uint64_t target)
{
	uint64_t deadline = virq_bench_now_ns() + VIRQ_BENCH_TIMEOUT_MS * 1000000ull;

	while (cur(arg) < target) {
		if (virq_bench_now_ns() > deadline) {
			fprintf(stderr, "virq bench: counts: a delivery did not arrive\n");
			return -ETIMEDOUT;
		}
		virq_bench_sleep_ns(5000);
	}
	return 0;
}

static uint64_t virq_bench_counts_handled(void *arg)
{
	return virq_bench_rig_vector(arg).handled;
}

static uint64_t virq_bench_counts_runs(void *arg)
{
	struct virq_bench_floor *f = arg;
	return atomic_load(&f->runs);
}

static int virq_bench_counts_path(void *ctx, double *samples, int iters)
{
	struct virq_bench_counts *ct = ctx;
	struct virq_bench_rig *rig = &ct->rig;
	int ret;

	uint64_t mark = virq_bench_rig_halt(rig).sleeps;
	virq_bench_rig_enter(rig);
	if ((ret = virq_bench_rig_settle(rig, mark, false)) < 0)
		goto out;

	struct virq_halt_counts h0 = virq_bench_rig_halt(rig);
	struct virq_bench_snapshot s0 = virq_bench_counts_snap(ct);
	for (int i = 0; i < iters; i++) {
		mark = virq_bench_rig_halt(rig).sleeps;
		uint64_t handled = virq_bench_rig_vector(rig).handled;
		if ((ret = virq_bench_write1(rig->irq_fd)) < 0 ||
		    (ret = virq_bench_counts_wait(virq_bench_counts_handled, rig, handled + 1)) < 0 ||
		    (ret = virq_bench_rig_settle(rig, mark, false)) < 0)
			goto out;
	}
	struct virq_bench_snapshot s1 = virq_bench_counts_snap(ct);
	struct virq_halt_counts h1 = virq_bench_rig_halt(rig);
	double syscalls;
	if (ct->derived) {
		/* The halted vCPU takes each signal itself: one epoll_pwait per sleep, one read per delivery,
		 * plus any wake-up writes other threads made; the poller sleeps through. */
		syscalls = (double)(iters + iters + (h1.wakeups - h0.wakeups) + (h1.sleeps - h0.sleeps));
	} else {
		syscalls = (double)(s1.syscalls - s0.syscalls) + iters; /* + the device's writes */
	}
	samples[0] = syscalls / iters;
	if (ct->nr_path < VIRQ_BENCH_COUNTS_BLOCKS)
		ct->path_cs[ct->nr_path++] = (double)(s1.switches - s0.switches) / iters;
out:;
	return virq_bench_rig_finish(rig, ret, 1);
}

static int virq_bench_counts_floor(void *ctx, double *samples, int iters)
{
	struct virq_bench_counts *ct = ctx;
	struct virq_bench_floor *f = &ct->floor;
	int ret;

	if ((ret = virq_bench_floor_enter(f, &ct->rig, VIRQ_BENCH_SINK_BLOCK, false)) < 0)
		goto out;
	struct virq_bench_snapshot s0 = virq_bench_counts_snap(ct);
	for (int i = 0; i < iters; i++) {
		uint64_t mark = atomic_load(&f->sleeps);
		uint64_t runs = atomic_load(&f->runs);
		if ((ret = virq_bench_write1(f->e1)) < 0 ||
		    (ret = virq_bench_counts_wait(virq_bench_counts_runs, f, runs + 1)) < 0 ||
		    (ret = virq_bench_floor_settle(f, mark, false)) < 0)
			goto out;
	}
	struct virq_bench_snapshot s1 = virq_bench_counts_snap(ct);
	double syscalls = ct->derived ? 5.0 * iters : (double)(s1.syscalls - s0.syscalls) + iters;
	samples[0] = syscalls / iters;
	if (ct->nr_floor < VIRQ_BENCH_COUNTS_BLOCKS)
		ct->floor_cs[ct->nr_floor++] = (double)(s1.switches - s0.switches) / iters;
out:;
	int r = virq_bench_floor_leave(f, &ct->rig);
	if (ret == 0)
		ret = r;
	return ret < 0 ? ret : 1;
}

int virq_bench_counts(const struct virq_bench_sel *sel)
{
	struct virq_bench_counts *ct = calloc(1, sizeof(*ct));
	struct virq_bench_ab_result res;
	int ret;

	if (!ct)
		return -ENOMEM;
	ct->device = virq_bench_gettid();
	ret = virq_bench_rig_create(&ct->rig, VIRQ_BENCH_IRQ_MSI, virq_bench_counts_guest, 0);
	if (ret < 0)
		goto out_free;
	ret = virq_bench_floor_init(&ct->floor);
	if (ret < 0)
		goto out_rig;
	/* Every thread exists now: the poller (irqchip) and both workers. */
	ret = virq_bench_counts_open(ct);
	if (ret < 0)
		goto out_floor;
	struct virq_bench_ab ab = {
		.name = "syscalls_per_delivery", .ctx = ct,
		.path = virq_bench_counts_path, .floor = virq_bench_counts_floor,
		.iters = 100, .max_pairs = VIRQ_BENCH_COUNTS_BLOCKS - 1, .min_pairs = 3, .budget_s = 3.0,
	};
	ret = virq_bench_interleave(&ab, &res);
	if (ret == 0) {
		virq_bench_emit(sel, "syscalls_per_delivery", res.path_p50, "syscalls", res.floor_p50, res.ratio_p50);
		int pairs = res.pairs;
		double ratio[VIRQ_BENCH_COUNTS_BLOCKS];
		for (int p = 0; p < pairs; p++)
			ratio[p] = ct->path_cs[p + 1] / ct->floor_cs[p + 1];
		double r = virq_bench_median(ratio, pairs);
		double pv = virq_bench_median(ct->path_cs + 1, pairs);
		double fv = virq_bench_median(ct->floor_cs + 1, pairs);
		virq_bench_emit(sel, "context_switches_per_delivery", pv, "switches", fv, r);
	}
	virq_bench_counts_close(ct);
out_floor:
	virq_bench_floor_destroy(&ct->floor);
out_rig:
	virq_bench_rig_destroy(&ct->rig);
out_free:
	free(ct);
	return ret;
}
