/* SPDX-License-Identifier: MIT */
/*
 * demo.c - `virq demo`: drive the x86 path end to end through the KVM-compatible front, as a VMM would,
 * and print what happened.
 *
 * One VM with an irqchip and two vCPUs. vCPU 1 runs a guest with two handlers: vector 0x41 for an MSI
 * (GSI 40, routed to APIC 1, raised by a device thread through an irqfd) and vector 0x51 for a level
 * INTx line (IOAPIC pin 5, raised through a resampling irqfd; the device re-asserts only when the
 * resamplefd says the guest has EOI'd). Each handler reports to the VMM by an MMIO write to an address
 * nothing claims, which is how the demo's VMM loop counts what the guest saw.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <virq/kvm.h>
#include <virq/vcpu.h>
#include <virq/vm.h>

#include "virq_cli.h"

#define DEMO_ROUNDS 2000
#define DEMO_REPORT_ADDR 0xd0000000ull

static const char demo_guest[] =
	"vector 0x41:                          ; MSI from the device's irqfd\n"
	"    mmio_write 0xd0000000, 4, 0x41    ; report to the VMM (KVM_EXIT_MMIO)\n"
	"    eoi\n"
	"    iret\n"
	"vector 0x51:                          ; level INTx on IOAPIC pin 5\n"
	"    mmio_write 0xd0000000, 4, 0x51    ; the VMM acks the device here\n"
	"    eoi                               ; -> IOAPIC EOI -> resample\n"
	"    iret\n"
	"main:\n"
	"    mmio_write 0xfee000f0, 4, 0x1ff   ; software-enable the local APIC\n"
	"    mmio_write 0xfec00000, 4, 0x1a    ; IOAPIC entry 5, low half\n"
	"    mmio_write 0xfec00010, 4, 0x8051  ; vector 0x51, level, unmasked\n"
	"    mmio_write 0xfec00000, 4, 0x1b    ; entry 5, high half\n"
	"    mmio_write 0xfec00010, 4, 0x01000000 ; destination APIC 1\n"
	"    mmio_write 0xd0000000, 4, 0x600d  ; report: ready (a disabled APIC ignores interrupts)\n"
	"    sti\n"
	"loop:\n"
	"    hlt\n"
	"    jmp loop\n";

struct demo {
	int sys, vm, vcpu[2];
	struct kvm_run *run;
	int msi_efd, intx_efd, resample_efd;
	_Atomic uint64_t msi_seen, intx_seen;
	_Atomic bool guest_ready;
	_Atomic int intx_pending;       /* the legacy device's interrupt status register */
	pthread_t vcpu_thread;
	int vcpu_errno;
	uint64_t msi_ns[DEMO_ROUNDS], intx_ns[DEMO_ROUNDS]; /* device write -> guest handler entry */
};

static void demo_on_signal(int sig)
{
	(void)sig;
}

static void *demo_vcpu_main(void *arg)
{
	struct demo *d = arg;

	while (virq_ioctl(d->vcpu[1], KVM_RUN, 0) == 0) {
		struct kvm_run *run = d->run;
		if (run->exit_reason != KVM_EXIT_MMIO || run->mmio.phys_addr != DEMO_REPORT_ADDR)
			break;
		uint32_t vector;
		memcpy(&vector, run->mmio.data, sizeof(vector));
		if (vector == 0x600d) {
			atomic_store(&d->guest_ready, true);
		} else if (vector == 0x41) {
			atomic_fetch_add(&d->msi_seen, 1);
		} else {
			/* The driver reads and acks the device before it EOIs: the line is now low. */
			atomic_store(&d->intx_pending, 0);
			atomic_fetch_add(&d->intx_seen, 1);
		}
	}
	d->vcpu_errno = errno;
	return NULL;
}

static int demo_route(struct demo *d)
{
	struct kvm_irq_routing *rt = calloc(1, sizeof(*rt) + 25 * sizeof(rt->entries[0]));
	if (!rt)
		return -1;
	for (uint32_t gsi = 0; gsi < 24; gsi++) {
		rt->entries[gsi].gsi = gsi;
		rt->entries[gsi].type = KVM_IRQ_ROUTING_IRQCHIP;
		rt->entries[gsi].u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
		rt->entries[gsi].u.irqchip.pin = gsi;
	}
	rt->entries[24].gsi = 40;
	rt->entries[24].type = KVM_IRQ_ROUTING_MSI;
	rt->entries[24].u.msi.address_lo = 0xfee00000u | (1u << 12); /* physical, APIC 1 */
	rt->entries[24].u.msi.data = 0x41;                          /* fixed, edge, vector 0x41 */
	rt->nr = 25;
	int r = virq_ioctl(d->vm, KVM_SET_GSI_ROUTING, rt);
	free(rt);
	return r;
}

static int demo_setup(struct demo *d)
{
	struct kvm_enable_cap poll_off = { .cap = KVM_CAP_HALT_POLL };
	struct kvm_mp_state runnable = { .mp_state = KVM_MP_STATE_RUNNABLE };

	d->sys = virq_open();
	d->vm = virq_ioctl(d->sys, KVM_CREATE_VM, 0);
	if (d->vm < 0 || virq_ioctl(d->vm, KVM_CREATE_IRQCHIP, 0) < 0 ||
	    virq_ioctl(d->vm, KVM_ENABLE_CAP, &poll_off) < 0)
		return -1;
	d->vcpu[0] = virq_ioctl(d->vm, KVM_CREATE_VCPU, 0);
	d->vcpu[1] = virq_ioctl(d->vm, KVM_CREATE_VCPU, 1);
	if (d->vcpu[0] < 0 || d->vcpu[1] < 0 || virq_guest_load(d->vcpu[1], demo_guest) < 0 ||
	    virq_ioctl(d->vcpu[1], KVM_SET_MP_STATE, &runnable) < 0 || demo_route(d) < 0)
		return -1;
	d->run = virq_vcpu_run_struct(d->vcpu[1]);
	d->msi_efd = eventfd(0, EFD_CLOEXEC);
	d->intx_efd = eventfd(0, EFD_CLOEXEC);
	d->resample_efd = eventfd(0, EFD_CLOEXEC);
	struct kvm_irqfd msi = { .fd = (uint32_t)d->msi_efd, .gsi = 40 };
	struct kvm_irqfd intx = { .fd = (uint32_t)d->intx_efd, .gsi = 5, .flags = KVM_IRQFD_FLAG_RESAMPLE,
				  .resamplefd = (uint32_t)d->resample_efd };
	if (virq_ioctl(d->vm, KVM_IRQFD, &msi) < 0 || virq_ioctl(d->vm, KVM_IRQFD, &intx) < 0)
		return -1;
	return 0;
}

static uint64_t demo_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Time from the device's write to the handler entry the guest CPU stamped for @vector. */
static uint64_t demo_latency(struct demo *d, uint8_t vector, uint64_t t0)
{
	struct virq_vector_counts c;
	virq_vcpu_vector_counts(virq_vcpu_of_fd(d->vcpu[1]), vector, &c);
	return c.last_entry_ns > t0 ? c.last_entry_ns - t0 : 0;
}

/* The device: alternately raises its MSI and asserts its INTx line, waiting for each to be serviced. */
static int demo_traffic(struct demo *d)
{
	uint64_t one = 1, count, t0;

	while (!atomic_load(&d->guest_ready))
		usleep(100);
	for (unsigned i = 0; i < DEMO_ROUNDS; i++) {
		t0 = demo_now_ns();
		if (write(d->msi_efd, &one, sizeof(one)) != sizeof(one))
			return -1;
		while (atomic_load(&d->msi_seen) <= i)
			usleep(20);
		d->msi_ns[i] = demo_latency(d, 0x41, t0);
		atomic_store(&d->intx_pending, 1);
		t0 = demo_now_ns();
		if (write(d->intx_efd, &one, sizeof(one)) != sizeof(one))
			return -1;
		/* VFIO's INTx unmask path: wait for the resample, re-assert if still pending. */
		if (read(d->resample_efd, &count, sizeof(count)) != sizeof(count))
			return -1;
		d->intx_ns[i] = demo_latency(d, 0x51, t0);
		if (atomic_load(&d->intx_pending))
			return -1; /* resampled before the driver acked: would be a spurious EOI */
	}
	return 0;
}

static int demo_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* p50, p99 and max of @n samples, in µs (sorts them). */
static void demo_percentiles(uint64_t *ns, size_t n, double out[3])
{
	qsort(ns, n, sizeof(ns[0]), demo_cmp_u64);
	out[0] = ns[n / 2] / 1e3;
	out[1] = ns[n * 99 / 100] / 1e3;
	out[2] = ns[n - 1] / 1e3;
}

static void demo_print(struct demo *d, double seconds)
{
	struct virq_gsi_counts g40, g5;
	struct virq_vector_counts v41, v51;
	struct virq_vm *vm = virq_vm_of_fd(d->vm);
	struct virq_vcpu *vcpu = virq_vcpu_of_fd(d->vcpu[1]);

	virq_vm_gsi_counts(vm, 40, &g40);
	virq_vm_gsi_counts(vm, 5, &g5);
	virq_vcpu_vector_counts(vcpu, 0x41, &v41);
	virq_vcpu_vector_counts(vcpu, 0x51, &v51);

	printf("virq demo: x86 VM, 2 vCPUs, %u rounds in %.2f s\n\n", DEMO_ROUNDS, seconds);
	printf("%-26s %6s %7s %9s %9s %6s %9s %9s %9s\n", "source", "vector", "raised", "delivered",
	       "coalesced", "lost", "p50", "p99", "max");
	const struct {
		const char *name;
		const char *vector;
		const struct virq_gsi_counts *g;
		const struct virq_vector_counts *v;
		uint64_t *ns;
	} rows[] = {
		{ "MSI  GSI 40 irqfd", "0x41", &g40, &v41, d->msi_ns },
		{ "INTx GSI 5 resample irqfd", "0x51", &g5, &v51, d->intx_ns },
	};
	for (unsigned i = 0; i < 2; i++) {
		/* The device raised once per round and waited: whatever the guest did not handle is lost. */
		uint64_t lost = DEMO_ROUNDS > rows[i].v->handled ? DEMO_ROUNDS - rows[i].v->handled : 0;
		double lat[3];
		demo_percentiles(rows[i].ns, DEMO_ROUNDS, lat);
		printf("%-26s %6s %7u %9" PRIu64 " %9" PRIu64 " %6" PRIu64 " %7.1fus %7.1fus %7.1fus\n",
		       rows[i].name, rows[i].vector, DEMO_ROUNDS, rows[i].v->handled, rows[i].g->coalesced, lost,
		       lat[0], lat[1], lat[2]);
	}
	printf("\nirqfd signals consumed: GSI 40 %" PRIu64 ", GSI 5 %" PRIu64 "; resamples on GSI 5: %" PRIu64 "\n",
	       g40.irqfd_signals, g5.irqfd_signals, g5.resamples);
	printf("latency: the device's eventfd write -> guest handler entry on vCPU 1\n");
}

int virq_cli_demo(int argc, char **argv)
{
	static struct demo d = { .sys = -1 };
	struct timespec t0, t1;
	int status = 0;

	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		printf("usage: virq demo\n\nDrives the x86 path end to end: an MSI through an irqfd and a level\n"
		       "INTx line through a resampling irqfd, %u rounds each, then prints per-source counts.\n",
		       DEMO_ROUNDS);
		return 0;
	}
	signal(SIGUSR1, demo_on_signal);
	if (demo_setup(&d) < 0) {
		fprintf(stderr, "virq demo: setting up the VM failed: %s\n", strerror(errno));
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pthread_create(&d.vcpu_thread, NULL, demo_vcpu_main, &d);
	if (demo_traffic(&d) < 0) {
		fprintf(stderr, "virq demo: the device saw an interrupt lost or resampled early\n");
		status = 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	__atomic_store_n(&d.run->immediate_exit, 1, __ATOMIC_RELAXED);
	pthread_kill(d.vcpu_thread, SIGUSR1);
	pthread_join(d.vcpu_thread, NULL);
	if (d.vcpu_errno != EINTR) {
		fprintf(stderr, "virq demo: the vCPU stopped unexpectedly (exit reason %u)\n", d.run->exit_reason);
		status = 1;
	}
	demo_print(&d, (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	virq_close(d.vcpu[0]);
	virq_close(d.vcpu[1]);
	virq_close(d.vm);
	virq_close(d.sys);
	close(d.msi_efd);
	close(d.intx_efd);
	close(d.resample_efd);
	return status;
}
