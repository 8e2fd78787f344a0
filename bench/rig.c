/* SPDX-License-Identifier: MIT */
/*
 * rig.c - the engine side of every figure: one VM with an irqchip, one vCPU (APIC ID 0) running a guest
 * program on a worker thread through the native API exactly as a VMM drives KVM_RUN, one irqfd, and the
 * persistent worker threads that the floors reuse (bench_int.h explains the thread roles).
 *
 * The vCPU is stopped the way a VMM stops a KVM vCPU: run->immediate_exit = 1, then a signal with a
 * no-op handler to end a halt. That costs a signal (55 µs here), paid once per block switch, never per
 * sample. A guest handler may report its entry with an MMIO write to an address nothing claims
 * (KVM_EXIT_MMIO); the vCPU thread then writes rig->ack_fd so the device can block, rather than spin or
 * sleep-poll, while the interrupt is in flight: a spinning device would take a core from the path it
 * measures, and a sleep-polling one would wake on timers in the middle of it. The report is taken after
 * the handler's entry has been stamped, so it costs the measured interval nothing.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "bench_int.h"
#include "virq/kvm.h"

/* ---- workers ---- */

static void *virq_bench_worker_main(void *arg)
{
	struct virq_bench_worker *w = arg;
	uint64_t count;

	/* The vCPU role is stopped with SIGUSR1: make sure the caller's mask, which we inherit, lets it in. */
	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	pthread_sigmask(SIG_UNBLOCK, &usr1, NULL);
	w->tid = virq_bench_gettid();
	virq_bench_write1(w->done_fd); /* started: tid is valid */
	for (;;) {
		/* Blocking read; SIGUSR1 (aimed at the vCPU role) restarts it (SA_RESTART). */
		if (read(w->cmd_fd, &count, sizeof(count)) != sizeof(count))
			continue;
		if (atomic_load_explicit(&w->quit, memory_order_acquire))
			break;
		void (*fn)(void *) = atomic_load_explicit(&w->fn, memory_order_acquire);
		fn(atomic_load_explicit(&w->arg, memory_order_acquire));
		virq_bench_write1(w->done_fd);
	}
	return NULL;
}

int virq_bench_worker_start(struct virq_bench_worker *w)
{
	uint64_t count;
	int r;

	memset(w, 0, sizeof(*w));
	w->cmd_fd = eventfd(0, EFD_CLOEXEC);
	w->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->cmd_fd < 0 || w->done_fd < 0) {
		r = -errno;
		goto fail;
	}
	r = -pthread_create(&w->thread, NULL, virq_bench_worker_main, w);
	if (r < 0)
		goto fail;
	w->started = true;
	return virq_bench_wait_read(w->done_fd, VIRQ_BENCH_TIMEOUT_MS, &count);
fail:
	if (w->cmd_fd >= 0)
		close(w->cmd_fd);
	if (w->done_fd >= 0)
		close(w->done_fd);
	w->cmd_fd = w->done_fd = -1;
	return r;
}

void virq_bench_worker_stop(struct virq_bench_worker *w)
{
	if (!w->started)
		return;
	atomic_store_explicit(&w->quit, true, memory_order_release);
	virq_bench_write1(w->cmd_fd);
	/* A worker stuck in a job means the bench itself is broken: say so and stop rather than hang. */
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 5;
	if (pthread_timedjoin_np(w->thread, NULL, &deadline) != 0) {
		fprintf(stderr, "virq bench: worker %d is stuck in a job; aborting\n", (int)w->tid);
		abort();
	}
	close(w->cmd_fd);
	close(w->done_fd);
	w->started = false;
}

void virq_bench_worker_submit(struct virq_bench_worker *w, void (*fn)(void *), void *arg)
{
	atomic_store_explicit(&w->fn, fn, memory_order_release);
	atomic_store_explicit(&w->arg, arg, memory_order_release);
	virq_bench_write1(w->cmd_fd);
}

int virq_bench_worker_wait(struct virq_bench_worker *w)
{
	uint64_t count;
	int r = virq_bench_wait_read(w->done_fd, 5000, &count);
	if (r < 0)
		fprintf(stderr, "virq bench: worker %d did not finish its job: %s\n", (int)w->tid, strerror(-r));
	return r;
}

/* ---- the engine rig ---- */

static void virq_bench_stop_signal(int sig)
{
	(void)sig; /* only there to end a halted vCPU's epoll_pwait */
}

/*
 * SIGUSR1 needs a handler for the stop protocol (an ignored or default signal would not end epoll_pwait, or
 * would kill the process). Install a no-op one unless the embedding program already has its own.
 */
int virq_bench_install_stop_signal(void)
{
	struct sigaction old, sa;

	if (sigaction(SIGUSR1, NULL, &old) < 0)
		return -errno;
	if (!(old.sa_flags & SA_SIGINFO) && (old.sa_handler == SIG_DFL || old.sa_handler == SIG_IGN)) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = virq_bench_stop_signal;
		sa.sa_flags = SA_RESTART;
		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGUSR1, &sa, NULL) < 0)
			return -errno;
	}
	return 0;
}

static int virq_bench_route_msi(struct virq_vm *vm)
{
	/* The default routes (GSI 0-23 -> IOAPIC pins) plus GSI 40 -> MSI to APIC 0, vector 0x41. */
	const unsigned nr = 25;
	struct kvm_irq_routing *routing = calloc(1, sizeof(*routing) + nr * sizeof(routing->entries[0]));
	if (!routing)
		return -ENOMEM;
	for (uint32_t gsi = 0; gsi < 24; gsi++) {
		routing->entries[gsi].gsi = gsi;
		routing->entries[gsi].type = KVM_IRQ_ROUTING_IRQCHIP;
		routing->entries[gsi].u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
		routing->entries[gsi].u.irqchip.pin = gsi;
	}
	routing->entries[24].gsi = VIRQ_BENCH_MSI_GSI;
	routing->entries[24].type = KVM_IRQ_ROUTING_MSI;
	routing->entries[24].u.msi.address_lo = 0xfee00000u | (0u << 12);
	routing->entries[24].u.msi.data = VIRQ_BENCH_MSI_VECTOR;
	routing->nr = nr;
	int r = virq_vm_set_gsi_routing(vm, routing);
	free(routing);
	return r;
}

#define VIRQ_BENCH_CHECK(call, what)                                                                       \
	do {                                                                                               \
		int r_ = (call);                                                                           \
		if (r_ < 0) {                                                                              \
			fprintf(stderr, "virq bench: setup: %s: %s\n", what, strerror(-r_));               \
			virq_bench_rig_destroy(rig);                                                       \
			return r_;                                                                         \
		}                                                                                          \
	} while (0)

/* The arm64 layout the ITS guests assume (QEMU virt's GIC frames, RAM at 1 GiB). */
#define VIRQ_BENCH_ARM_GICD 0x08000000ull
#define VIRQ_BENCH_ARM_ITS 0x08080000ull
#define VIRQ_BENCH_ARM_GICR 0x080a0000ull
#define VIRQ_BENCH_ARM_RAM 0x40000000ull
#define VIRQ_BENCH_ARM_RAM_SIZE (8ull << 20)

static int virq_bench_fail_errno(int r)
{
	return r < 0 ? -errno : r;
}

static int virq_bench_arm_attr(int dev, uint32_t group, uint64_t attr, uint64_t value)
{
	struct kvm_device_attr a = { .group = group, .attr = attr, .addr = (uint64_t)(uintptr_t)&value };
	return virq_bench_fail_errno(virq_ioctl(dev, KVM_SET_DEVICE_ATTR, &a));
}

static int virq_bench_arm_device(int vm, uint32_t type)
{
	struct kvm_create_device cd = { .type = type };
	int r = virq_ioctl(vm, KVM_CREATE_DEVICE, &cd);
	return r < 0 ? -errno : (int)cd.fd;
}

/*
 * An arm64 VM through the KVM front, as a VMM makes one: RAM, vCPU 0, a vGICv3 and (@its) an ITS at QEMU
 * virt's addresses, CTRL_INIT, and with the ITS GSI 40 routed to DeviceID 1 / EventID 0 at the ITS
 * doorbell (the guest maps the device itself); without, GSI 40 keeps its default route to SPI INTID 72.
 * rig->vm and rig->vcpu are borrowed from the handles.
 */
static int virq_bench_rig_create_arm(struct virq_bench_rig *rig, uint64_t halt_poll_ns, bool its)
{
	int *fd = rig->fds;
	int r;

	fd[0] = virq_open();
	if (fd[0] < 0)
		return -errno;
	fd[1] = virq_ioctl(fd[0], KVM_CREATE_VM, VIRQ_VM_TYPE_ARM64);
	if (fd[1] < 0)
		return -errno;
	struct kvm_enable_cap cap = { .cap = KVM_CAP_HALT_POLL, .args = { halt_poll_ns } };
	if ((r = virq_bench_fail_errno(virq_ioctl(fd[1], KVM_ENABLE_CAP, &cap))) < 0)
		return r;
	rig->ram = mmap(NULL, VIRQ_BENCH_ARM_RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (rig->ram == MAP_FAILED) {
		rig->ram = NULL;
		return -ENOMEM;
	}
	struct kvm_userspace_memory_region mem = { .guest_phys_addr = VIRQ_BENCH_ARM_RAM,
						   .memory_size = VIRQ_BENCH_ARM_RAM_SIZE,
						   .userspace_addr = (uint64_t)(uintptr_t)rig->ram };
	if ((r = virq_bench_fail_errno(virq_ioctl(fd[1], KVM_SET_USER_MEMORY_REGION, &mem))) < 0)
		return r;
	if ((fd[2] = virq_bench_fail_errno(virq_ioctl(fd[1], KVM_CREATE_VCPU, 0))) < 0)
		return fd[2];
	if ((fd[3] = virq_bench_arm_device(fd[1], KVM_DEV_TYPE_ARM_VGIC_V3)) < 0)
		return fd[3];
	if (its && (fd[4] = virq_bench_arm_device(fd[1], KVM_DEV_TYPE_ARM_VGIC_ITS)) < 0)
		return fd[4];
	if ((r = virq_bench_arm_attr(fd[3], KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_DIST,
				     VIRQ_BENCH_ARM_GICD)) < 0 ||
	    (r = virq_bench_arm_attr(fd[3], KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_REDIST,
				     VIRQ_BENCH_ARM_GICR)) < 0 ||
	    (its && (r = virq_bench_arm_attr(fd[4], KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_ITS_ADDR_TYPE,
					     VIRQ_BENCH_ARM_ITS)) < 0) ||
	    (r = virq_bench_arm_attr(fd[3], KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, 0)) < 0)
		return r;
	rig->vm = virq_vm_of_fd(fd[1]);
	rig->vcpu = virq_vcpu_of_fd(fd[2]);
	if (!its)
		return rig->vm && rig->vcpu ? 0 : -EBADF;
	struct kvm_irq_routing *routing = calloc(1, sizeof(*routing) + sizeof(routing->entries[0]));
	if (!routing)
		return -ENOMEM;
	routing->nr = 1;
	routing->entries[0].gsi = VIRQ_BENCH_MSI_GSI;
	routing->entries[0].type = KVM_IRQ_ROUTING_MSI;
	routing->entries[0].flags = KVM_MSI_VALID_DEVID;
	routing->entries[0].u.msi.address_lo = (uint32_t)(VIRQ_BENCH_ARM_ITS + 0x10040);
	routing->entries[0].u.msi.devid = 1;
	r = virq_bench_fail_errno(virq_ioctl(fd[1], KVM_SET_GSI_ROUTING, routing));
	free(routing);
	if (r < 0)
		return r;
	return rig->vm && rig->vcpu ? 0 : -EBADF;
}

int virq_bench_rig_create(struct virq_bench_rig *rig, enum virq_bench_irq kind, const char *guest,
			  uint64_t halt_poll_ns)
{
	struct kvm_enable_cap cap = { .cap = KVM_CAP_HALT_POLL, .args = { halt_poll_ns } };
	char err[200] = "";

	memset(rig, 0, sizeof(*rig));
	rig->irq_fd = rig->resample_fd = rig->ack_fd = -1;
	rig->vcpu_thread.cmd_fd = rig->relay.cmd_fd = -1;
	for (unsigned i = 0; i < 5; i++)
		rig->fds[i] = -1;
	VIRQ_BENCH_CHECK(virq_bench_install_stop_signal(), "SIGUSR1 handler");
	if (kind == VIRQ_BENCH_IRQ_ITS || kind == VIRQ_BENCH_IRQ_SPI) {
		VIRQ_BENCH_CHECK(virq_bench_rig_create_arm(rig, halt_poll_ns, kind == VIRQ_BENCH_IRQ_ITS),
				 "arm64 VM through the KVM front");
		rig->intid = kind == VIRQ_BENCH_IRQ_ITS ? VIRQ_BENCH_ITS_LPI : VIRQ_BENCH_SPI_INTID;
	} else {
		VIRQ_BENCH_CHECK(virq_vm_create(0, &rig->vm), "virq_vm_create");
		VIRQ_BENCH_CHECK(virq_vm_create_irqchip(rig->vm), "virq_vm_create_irqchip");
		VIRQ_BENCH_CHECK(virq_vm_enable_cap(rig->vm, &cap), "KVM_CAP_HALT_POLL");
		VIRQ_BENCH_CHECK(virq_vm_vcpu_create(rig->vm, 0, &rig->vcpu), "virq_vm_vcpu_create");
	}
	rig->run = virq_vcpu_kvm_run(rig->vcpu);
	int r = virq_vcpu_load_guest(rig->vcpu, guest, err, sizeof(err));
	if (r < 0)
		fprintf(stderr, "virq bench: setup: guest program: %s\n", err);
	VIRQ_BENCH_CHECK(r, "virq_vcpu_load_guest");

	rig->irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	rig->ack_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	VIRQ_BENCH_CHECK(rig->irq_fd < 0 || rig->ack_fd < 0 ? -errno : 0, "eventfd");
	struct kvm_irqfd irqfd = { .fd = (uint32_t)rig->irq_fd };
	if (kind == VIRQ_BENCH_IRQ_ITS) {
		rig->gsi = VIRQ_BENCH_MSI_GSI; /* routed by virq_bench_rig_create_arm() */
	} else if (kind == VIRQ_BENCH_IRQ_MSI) {
		VIRQ_BENCH_CHECK(virq_bench_route_msi(rig->vm), "virq_vm_set_gsi_routing");
		rig->gsi = VIRQ_BENCH_MSI_GSI;
		rig->vector = VIRQ_BENCH_MSI_VECTOR;
	} else {
		/* GSI 5 keeps its default route to IOAPIC pin 5 (arm64: GSI 40 to SPI 72); the guest programs it. */
		rig->resample_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		VIRQ_BENCH_CHECK(rig->resample_fd < 0 ? -errno : 0, "eventfd");
		rig->gsi = kind == VIRQ_BENCH_IRQ_SPI ? VIRQ_BENCH_MSI_GSI : VIRQ_BENCH_LEVEL_GSI;
		rig->vector = VIRQ_BENCH_LEVEL_VECTOR;
		irqfd.flags = KVM_IRQFD_FLAG_RESAMPLE;
		irqfd.resamplefd = (uint32_t)rig->resample_fd;
	}
	irqfd.gsi = rig->gsi;
	VIRQ_BENCH_CHECK(virq_vm_irqfd(rig->vm, &irqfd), "virq_vm_irqfd");
	VIRQ_BENCH_CHECK(virq_bench_worker_start(&rig->vcpu_thread), "vCPU thread");
	VIRQ_BENCH_CHECK(virq_bench_worker_start(&rig->relay), "relay thread");
	return 0;
}

void virq_bench_rig_destroy(struct virq_bench_rig *rig)
{
	if (rig->in_run)
		virq_bench_rig_leave(rig);
	virq_bench_worker_stop(&rig->vcpu_thread);
	virq_bench_worker_stop(&rig->relay);
	if (rig->fds[0] >= 0) {
		/* An arm64 rig: closing the handles (last first) destroys the VM. */
		for (unsigned i = 5; i-- > 0;)
			if (rig->fds[i] >= 0)
				virq_close(rig->fds[i]);
		if (rig->ram)
			munmap(rig->ram, VIRQ_BENCH_ARM_RAM_SIZE);
		rig->ram = NULL;
		rig->fds[0] = -1;
	} else {
		if (rig->vcpu)
			virq_vcpu_put(rig->vcpu);
		if (rig->vm)
			virq_vm_put(rig->vm); /* tears the irqfd down */
	}
	int *fds[] = { &rig->irq_fd, &rig->resample_fd, &rig->ack_fd };
	for (unsigned i = 0; i < 3; i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
	rig->vcpu = NULL;
	rig->vm = NULL;
}

/* The vCPU role: KVM_RUN until the device stops it, acknowledging the guest's reports. */
static void virq_bench_rig_run_job(void *arg)
{
	struct virq_bench_rig *rig = arg;
	struct kvm_run *run = rig->run;

	for (;;) {
		int r = virq_vcpu_run(rig->vcpu);
		if (r == -EINTR) {
			if (__atomic_load_n(&run->immediate_exit, __ATOMIC_RELAXED))
				return;
			continue; /* a stray signal: re-enter, as a VMM would */
		}
		if (r == 0 && run->exit_reason == KVM_EXIT_MMIO) {
			atomic_fetch_add_explicit(&rig->exits, 1, memory_order_relaxed);
			/* Writes to the report address are the guest's reports; others go to the rig's
			 * handler if it has one (a device register); other exits just complete. */
			if (run->mmio.is_write && run->mmio.phys_addr == VIRQ_BENCH_REPORT_ADDR) {
				atomic_store_explicit(&rig->report_ns, virq_bench_now_ns(), memory_order_relaxed);
				virq_bench_write1(rig->ack_fd);
			} else if (run->mmio.is_write && rig->mmio_write) {
				uint64_t value = 0;
				memcpy(&value, run->mmio.data, run->mmio.len < 8 ? run->mmio.len : 8);
				r = rig->mmio_write(rig->mmio_ctx, run->mmio.phys_addr, value);
				if (r < 0)
					goto fail;
			}
			continue;
		}
fail:;
		int expected = 0;
		atomic_compare_exchange_strong(&rig->run_error, &expected,
					       r < 0 ? r : -(int)(1000 + run->exit_reason));
		virq_bench_write1(rig->ack_fd); /* let a waiting device see the error at once */
		return;
	}
}

void virq_bench_rig_enter(struct virq_bench_rig *rig)
{
	__atomic_store_n(&rig->run->immediate_exit, 0, __ATOMIC_RELAXED);
	rig->in_run = true;
	virq_bench_worker_submit(&rig->vcpu_thread, virq_bench_rig_run_job, rig);
}

int virq_bench_rig_leave(struct virq_bench_rig *rig)
{
	__atomic_store_n(&rig->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	pthread_kill(rig->vcpu_thread.thread, SIGUSR1);
	int r = virq_bench_worker_wait(&rig->vcpu_thread);
	__atomic_store_n(&rig->run->immediate_exit, 0, __ATOMIC_RELAXED);
	rig->in_run = false;
	int err = atomic_load(&rig->run_error);
	if (err) {
		if (err <= -1000)
			fprintf(stderr, "virq bench: the vCPU exited unexpectedly (exit_reason %d)\n", -err - 1000);
		else
			fprintf(stderr, "virq bench: virq_vcpu_run: %s\n", strerror(-err));
		return -EIO;
	}
	return r;
}

int virq_bench_rig_finish(struct virq_bench_rig *rig, int ret, int samples)
{
	int r = virq_bench_rig_leave(rig);

	if (ret == 0)
		ret = r;
	return ret < 0 ? ret : samples;
}

struct virq_vector_counts virq_bench_rig_vector(struct virq_bench_rig *rig)
{
	struct virq_vector_counts c;

	if (rig->fds[0] >= 0) {
		/* arm64: the LPI's or SPI's counters, in the x86 shape the figures read. */
		struct virq_intid_counts ic = { 0 };
		virq_vcpu_intid_counts(rig->vcpu, rig->intid, &ic);
		memset(&c, 0, sizeof(c));
		c.handled = ic.handled;
		c.unhandled = ic.unhandled;
		c.last_entry_ns = ic.last_entry_ns;
		return c;
	}
	virq_vcpu_vector_counts(rig->vcpu, rig->vector, &c);
	return c;
}

struct virq_halt_counts virq_bench_rig_halt(struct virq_bench_rig *rig)
{
	struct virq_halt_counts c;
	virq_vcpu_halt_counts(rig->vcpu, &c);
	return c;
}

int virq_bench_rig_settle(struct virq_bench_rig *rig, uint64_t mark0, bool polling)
{
	uint64_t deadline = virq_bench_now_ns() + VIRQ_BENCH_TIMEOUT_MS * 1000000ull;

	for (;;) {
		struct virq_halt_counts h = virq_bench_rig_halt(rig);
		if ((polling ? h.halts : h.sleeps) > mark0)
			break;
		if (atomic_load(&rig->run_error) || virq_bench_now_ns() > deadline) {
			fprintf(stderr, "virq bench: the vCPU did not go back to hlt\n");
			return -ETIMEDOUT;
		}
		virq_bench_sleep_ns(5000);
	}
	/* Seen as halted: the sleeps counter moves just before epoll_pwait, so give it time to get there. */
	virq_bench_sleep_ns(VIRQ_BENCH_SETTLE_NS);
	return 0;
}

/* ---- placement ---- */

int virq_bench_two_cpus(int cpus[2])
{
	cpu_set_t set;
	int n = 0;

	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return -errno;
	for (int c = 0; c < CPU_SETSIZE && n < 2; c++)
		if (CPU_ISSET(c, &set))
			cpus[n++] = c;
	return n == 2 ? 0 : -ENODEV;
}

int virq_bench_list_tids(pid_t *tids, int max)
{
	DIR *dir = opendir("/proc/self/task");
	struct dirent *de;
	int n = 0;

	if (!dir)
		return -errno;
	while ((de = readdir(dir)) && n < max) {
		int tid = atoi(de->d_name);
		if (tid > 0)
			tids[n++] = (pid_t)tid;
	}
	closedir(dir);
	return n;
}

int virq_bench_pin(struct virq_bench_placement *pl, pid_t tid, int cpu)
{
	cpu_set_t set;

	if (pl->nr == VIRQ_BENCH_MAX_PINNED)
		return -ENOSPC;
	if (sched_getaffinity(tid, sizeof(pl->old[pl->nr]), &pl->old[pl->nr]) < 0)
		return -errno;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(tid, sizeof(set), &set) < 0)
		return -errno;
	pl->tids[pl->nr++] = tid;
	return 0;
}

void virq_bench_unpin_all(struct virq_bench_placement *pl)
{
	while (pl->nr > 0) {
		pl->nr--;
		sched_setaffinity(pl->tids[pl->nr], sizeof(pl->old[pl->nr]), &pl->old[pl->nr]);
	}
}
