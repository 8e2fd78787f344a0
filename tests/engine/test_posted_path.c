/* SPDX-License-Identifier: MIT */
/*
 * test_posted_path.c - VT-d posted interrupts end to end, through the public API only: an x86 VM with two
 * vCPUs (vCPU 0 halts in a hlt loop, vCPU 1 spins), a host PCI function behind an IOMMU, its VFIO
 * descriptor with MSI-X trigger eventfds that are also irqfds on MSI routes. The engine pairs each irqfd
 * (a bypass consumer) with its vector (the host's producer) and posts single-destination routes:
 *   - a raise reaches the guest handler with the trigger eventfd never signalled, the IOMMU counting a
 *     post and the halted vCPU woken through the wakeup vector (0xf1);
 *   - a running (spinning) vCPU takes posts at its op boundaries (0xf2 notifications, no wakeup);
 *   - KVM_SET_GSI_ROUTING re-targets the vector between the vCPUs while the device raises: none lost,
 *     none reaching the old vCPU once the route change has returned (seed 000);
 *   - a logical route with two destinations is remapped: delivered through the eventfd and the irqfd;
 *   - the kvm-vfio device (KVM_CREATE_DEVICE): FILE_ADD, POST_IRQ / UNPOST_IRQ overriding the automatic
 *     decision, and its release returning to automatic.
 *   - software posting (the LAPIC ops override, docs/posted.md): a vCPU that runs and halts, stopped
 *     and re-entered by its VMM thread, takes device posts, KVM_SIGNAL_MSIs and irqfd injections through
 *     one descriptor, next to a vCPU on the software path: every request is handled or counted coalesced.
 * The re-target race and the software + device posting race are also in the stress suite (1 s; 5 s with
 * VIRQ_STRESS_LONG).
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include <virq/host.h>
#include <virq/vcpu.h>
#include <virq/vm.h>

#include "kvm_fixture.h"

#include "engine/posted.h"
#include "engine/vcpu.h"

#define GSI_POSTED 10u
#define GSI_MULTI 11u
#define VEC_POSTED 0x41
#define VEC_MULTI 0x42
#define VEC_SOFT 0x43
#define MSI_LOGICAL(dest) (0xfee00000u | ((uint32_t)(dest) << 12) | (1u << 2))

/* Interrupt handlers need no exit: the test reads the per-vector counters. LDR gives each vCPU one bit
 * of a flat logical destination (DFR stays flat after reset). */
#define GUEST_HEAD(ldr)                                                                            \
	"vector 0x41:\n    eoi\n    iret\n"                                                        \
	"vector 0x42:\n    eoi\n    iret\n"                                                        \
	"vector 0x43:\n    eoi\n    iret\n"                                                        \
	"main:\n"                                                                                  \
	"    mmio_write 0xfee000f0, 4, 0x1ff\n"                                                    \
	"    mmio_write 0xfee000d0, 4, " ldr "\n"                                                  \
	"    sti\n"                                                                                \
	"    mmio_write 0xd0000000, 4, 1\n"                                                        \
	"loop:\n"

static const char guest_halt[] = GUEST_HEAD("0x01000000") "    hlt\n    jmp loop\n";
static const char guest_spin[] = GUEST_HEAD("0x02000000") "    spin 50us\n    jmp loop\n";
/* Runs a little, then halts until an interrupt: both posted states (running, blocked) in turn. */
static const char guest_run_halt[] = GUEST_HEAD("0x01000000") "    spin 20us\n    hlt\n    jmp loop\n";

struct rig {
	int sys, vm, vcpu[2];
	struct kvm_run *run[2];
	pthread_t thread[2];
	_Atomic int vcpu_err[2];
	struct virq_iommu *iommu;
	struct virq_pci_function *fn;
	int dev;
	int efd[2];
	bool reenter;       /* vCPU threads re-enter KVM_RUN after each stop until done */
	_Atomic bool done;
	_Atomic bool exited[2];
	_Atomic uint64_t reentries;
};

static void on_sigusr1(int sig)
{
	(void)sig;
}

struct vcpu_arg {
	struct rig *r;
	unsigned i;
};
static struct vcpu_arg vcpu_args[2];

static void *vcpu_loop(void *arg)
{
	struct vcpu_arg *a = arg;
	struct rig *r = a->r;
	int ret;

	/* The guests never exit on their own: only a stop (EINTR) ends a run. With reenter, the VMM thread
	 * goes straight back in (KVM_RUN returning and re-entering: SN set, then running() again). */
	while ((ret = virq_ioctl(r->vcpu[a->i], KVM_RUN, 0)) < 0 && errno == EINTR && r->reenter &&
	       !atomic_load(&r->done)) {
		__atomic_store_n(&r->run[a->i]->immediate_exit, 0, __ATOMIC_RELAXED);
		atomic_fetch_add(&r->reentries, 1);
	}
	atomic_store(&r->vcpu_err[a->i], ret < 0 ? errno : -(int)r->run[a->i]->exit_reason);
	atomic_store(&r->exited[a->i], true);
	return NULL;
}

static int set_irqs(int dev, uint32_t flags, uint32_t start, uint32_t count, const int32_t *fds)
{
	size_t sz = sizeof(struct vfio_irq_set) + count * sizeof(int32_t);
	struct vfio_irq_set *s = calloc(1, sz);
	assert_non_null(s);
	*s = (struct vfio_irq_set){ .argsz = (uint32_t)sz, .flags = flags, .index = VFIO_PCI_MSIX_IRQ_INDEX,
				    .start = start, .count = count };
	memcpy(s->data, fds, count * sizeof(int32_t));
	int ret = virq_ioctl(dev, VFIO_DEVICE_SET_IRQS, s);
	free(s);
	return ret;
}

static void route(struct rig *r, uint32_t posted_dest)
{
	struct kvm_irq_routing_entry e[2] = { fx_msi_entry(GSI_POSTED, posted_dest, VEC_POSTED),
					      { .gsi = GSI_MULTI, .type = KVM_IRQ_ROUTING_MSI } };
	e[1].u.msi.address_lo = MSI_LOGICAL(0x03); /* both vCPUs */
	e[1].u.msi.data = VEC_MULTI;
	assert_int_equal(fx_set_routing(r->vm, e, 2), 0);
}

static void rig_up_with(struct rig *r, const char *guest0, bool reenter, enum virq_vcpu_apicv apicv0)
{
	struct virq_pci_function_desc d = {
		.name = "nic0", .requester_id = 0x0100, .vendor_id = 0x1af4, .device_id = 0x1041, .causes = 8,
		.msix_vectors = 8, .msix_table_bar = 0, .msix_table_offset = 0x2000, .msix_pba_bar = 0,
		.msix_pba_offset = 0x3000,
	};
	struct sigaction sa = { .sa_handler = on_sigusr1 };

	memset(r, 0, sizeof(*r));
	assert_int_equal(sigaction(SIGUSR1, &sa, NULL), 0);
	r->sys = fx_open_sys();
	r->vm = fx_create_vm(r->sys, FX_IRQCHIP | FX_NO_HALT_POLL);
	r->reenter = reenter;
	r->vcpu[0] = fx_create_guest_vcpu(r->vm, 0, true, guest0);
	r->vcpu[1] = fx_create_guest_vcpu(r->vm, 1, true, guest_spin);
	for (unsigned i = 0; i < 2; i++) {
		r->run[i] = virq_vcpu_run_struct(r->vcpu[i]);
		assert_int_equal(fx_run_to_report(r->vcpu[i]), 1); /* APIC enabled, LDR set, IF=1 */
	}
	route(r, 0);

	assert_int_equal(virq_iommu_create(16, &r->iommu), 0);
	assert_int_equal(virq_pci_function_create(&d, &r->fn), 0);
	assert_int_equal(virq_iommu_attach(r->iommu, r->fn), 0);
	r->dev = virq_vfio_device_open(r->fn);
	assert_true(r->dev >= 0);
	/* Consumer first for vector 0, producer first for vector 1: pairing does not depend on the order. */
	for (unsigned i = 0; i < 2; i++)
		r->efd[i] = fx_new_eventfd();
	assert_int_equal(fx_irqfd(r->vm, r->efd[0], GSI_POSTED, 0, -1), 0);
	assert_int_equal(set_irqs(r->dev, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER, 0, 2, r->efd), 0);
	assert_int_equal(fx_irqfd(r->vm, r->efd[1], GSI_MULTI, 0, -1), 0);
	assert_int_equal(virq_vcpu_set_apicv(virq_vcpu_of_fd(r->vcpu[0]), apicv0), 0);

	for (unsigned i = 0; i < 2; i++) {
		vcpu_args[i] = (struct vcpu_arg){ r, i };
		assert_int_equal(pthread_create(&r->thread[i], NULL, vcpu_loop, &vcpu_args[i]), 0);
	}
}

static void rig_up(struct rig *r)
{
	rig_up_with(r, guest_halt, false, VIRQ_APICV_AUTO);
}

static void rig_down(struct rig *r)
{
	atomic_store(&r->done, true);
	for (unsigned i = 0; i < 2; i++) {
		/* Until it is out: a re-entering thread may clear a stop it has not seen yet. */
		for (int n = 0; !atomic_load(&r->exited[i]); n++) {
			assert_true(n < 10000);
			__atomic_store_n(&r->run[i]->immediate_exit, 1, __ATOMIC_RELAXED);
			pthread_kill(r->thread[i], SIGUSR1);
			usleep(1000);
		}
		pthread_join(r->thread[i], NULL);
		assert_int_equal(atomic_load(&r->vcpu_err[i]), EINTR);
	}
	assert_int_equal(virq_close(r->dev), 0);
	assert_int_equal(virq_pci_function_destroy(r->fn), 0);
	assert_int_equal(virq_iommu_destroy(r->iommu), 0);
	CLOSE_ALL(r->sys, r->vm, r->vcpu[0], r->vcpu[1]);
	for (unsigned i = 0; i < 2; i++)
		close(r->efd[i]);
}

/* Raise cause @k (MSI-X vector k) and let the driver ack it at once: exactly one message. */
static void raise_ack(struct rig *r, unsigned k)
{
	uint64_t ack = 1ull << k;
	assert_int_equal(virq_pci_function_raise(r->fn, k), 0);
	assert_int_equal(virq_vfio_region_write(r->dev, &ack, 8, VIRQ_VFIO_REGION_OFFSET(0) + VIRQ_PCI_REG_ACK), 8);
}

static uint64_t handled(struct rig *r, unsigned i, uint8_t vector)
{
	struct virq_vector_counts c;
	assert_int_equal(virq_vcpu_vector_counts(virq_vcpu_of_fd(r->vcpu[i]), vector, &c), 0);
	return c.handled;
}

static struct virq_iommu_stats istats(struct rig *r)
{
	struct virq_iommu_stats s;
	assert_int_equal(virq_iommu_stats(r->iommu, &s), 0);
	return s;
}

static struct virq_gsi_counts gsi_counts(struct rig *r, uint32_t gsi)
{
	struct virq_gsi_counts c;
	assert_int_equal(virq_vm_gsi_counts(virq_vm_of_fd(r->vm), gsi, &c), 0);
	return c;
}

/* Wait up to 5 s for handled(@i, @vector) to reach @want; returns whether it did. Any thread. */
static bool wait_handled(struct rig *r, unsigned i, uint8_t vector, uint64_t want)
{
	struct virq_vcpu *vcpu = virq_vcpu_of_fd(r->vcpu[i]);
	struct virq_vector_counts c;

	for (int n = 0; n < 5000000; n++) {
		virq_vcpu_vector_counts(vcpu, vector, &c);
		if (c.handled >= want)
			return c.handled == want;
		if (n > 1000)
			usleep(1);
	}
	return false;
}

/* The trigger eventfd was never written: it reads EAGAIN. */
static void assert_efd_silent(int efd)
{
	uint64_t v;
	errno = 0;
	assert_int_equal(read(efd, &v, sizeof(v)), -1);
	assert_int_equal(errno, EAGAIN);
}

static void test_posted_reaches_halted_and_running_vcpus(void **state)
{
	(void)state;
	struct rig r;
	struct virq_posted_pcpus *p = virq_posted_engine_pcpus();

	rig_up(&r);
	/* vCPU 0 halts with IF=1: blocked (NV = wakeup vector) before it sleeps. Let it get there. */
	struct virq_halt_counts hc = { 0 };
	for (int n = 0; n < 5000 && hc.sleeps == 0; n++) {
		assert_int_equal(virq_vcpu_halt_counts(virq_vcpu_of_fd(r.vcpu[0]), &hc), 0);
		usleep(1000);
	}
	assert_true(hc.sleeps > 0);
	struct virq_iommu_stats s0 = istats(&r);
	uint64_t wakeups0 = atomic_load(&p->notify_wakeup), kicks0 = atomic_load(&p->kicks);
	raise_ack(&r, 0);
	assert_true(wait_handled(&r, 0, VEC_POSTED, 1));
	assert_efd_silent(r.efd[0]);
	struct virq_iommu_stats s1 = istats(&r);
	assert_int_equal(s1.posted - s0.posted, 1);
	assert_int_equal(s1.remapped - s0.remapped, 0);
	assert_int_equal(s1.notifications - s0.notifications, 1);
	assert_true(atomic_load(&p->notify_wakeup) > wakeups0); /* 0xf1 to vCPU 0's list ... */
	assert_true(atomic_load(&p->kicks) > kicks0);           /* ... whose handler kicked it */
	assert_int_equal(gsi_counts(&r, GSI_POSTED).irqfd_signals, 0); /* the irqfd path never ran */

	/* Re-target to the spinning vCPU 1: posts while it runs notify 0xf2 and are folded by it. */
	route(&r, 1);
	uint64_t running0 = atomic_load(&p->notify_running);
	for (uint64_t n = 1; n <= 20; n++) {
		raise_ack(&r, 0);
		assert_true(wait_handled(&r, 1, VEC_POSTED, n));
	}
	assert_true(atomic_load(&p->notify_running) > running0);
	assert_int_equal(handled(&r, 0, VEC_POSTED), 1);
	assert_int_equal(istats(&r).posted - s0.posted, 21);
	assert_efd_silent(r.efd[0]);
	assert_int_equal(gsi_counts(&r, GSI_POSTED).irqfd_signals, 0);
	rig_down(&r);
}

/* What `virq explain` reads: the irqfd's path and the policy's reason, through the native call. */
static struct virq_irqfd_bypass_state bypass_state(struct rig *r, int efd)
{
	struct virq_irqfd_bypass_state st;
	assert_int_equal(virq_vm_irqfd_bypass(virq_vm_of_fd(r->vm), efd, &st), 0);
	return st;
}

static void test_multi_destination_is_remapped(void **state)
{
	(void)state;
	struct rig r;

	rig_up(&r);
	struct virq_iommu_stats s0 = istats(&r);
	raise_ack(&r, 1);
	assert_true(wait_handled(&r, 0, VEC_MULTI, 1));
	assert_true(wait_handled(&r, 1, VEC_MULTI, 1));
	struct virq_iommu_stats s1 = istats(&r);
	assert_int_equal(s1.remapped - s0.remapped, 1);
	assert_int_equal(s1.posted - s0.posted, 0);
	assert_int_equal(gsi_counts(&r, GSI_MULTI).irqfd_signals, 1); /* through the eventfd, as before */
	struct virq_irqfd_bypass_state st = bypass_state(&r, r.efd[1]);
	assert_int_equal(st.path, VIRQ_IRQFD_PATH_REMAPPED);
	assert_int_equal(st.gsi, GSI_MULTI);
	assert_string_equal(st.reason, "remapped: logical destination with 2 targets");
	st = bypass_state(&r, r.efd[0]);
	assert_int_equal(st.path, VIRQ_IRQFD_PATH_POSTED);
	assert_int_equal(st.vcpu, 0);
	assert_int_equal(st.vector, VEC_POSTED);
	/* An eventfd no irqfd holds, and a closed descriptor. */
	int other = fx_new_eventfd();
	assert_int_equal(virq_vm_irqfd_bypass(virq_vm_of_fd(r.vm), other, &st), -ENOENT);
	close(other);
	assert_int_equal(virq_vm_irqfd_bypass(virq_vm_of_fd(r.vm), other, &st), -EBADF);

	/* The same GSI made single-destination by a routing change is posted from then on. */
	struct kvm_irq_routing_entry e[2] = { fx_msi_entry(GSI_POSTED, 0, VEC_POSTED),
					      fx_msi_entry(GSI_MULTI, 1, VEC_MULTI) };
	assert_int_equal(fx_set_routing(r.vm, e, 2), 0);
	raise_ack(&r, 1);
	assert_true(wait_handled(&r, 1, VEC_MULTI, 2));
	assert_int_equal(istats(&r).posted - s0.posted, 1);
	assert_int_equal(gsi_counts(&r, GSI_MULTI).irqfd_signals, 1);
	assert_int_equal(handled(&r, 0, VEC_MULTI), 1);
	st = bypass_state(&r, r.efd[1]);
	assert_int_equal(st.path, VIRQ_IRQFD_PATH_POSTED);
	assert_int_equal(st.vcpu, 1);
	assert_int_equal(st.posts, 1);
	rig_down(&r);
}

/* ---- the kvm-vfio device: POST_IRQ / UNPOST_IRQ overrides ---- */

static int device_attr(int dev, unsigned long request, uint32_t group, uint64_t attr, const void *addr)
{
	struct kvm_device_attr a = { .group = group, .attr = attr, .addr = (uintptr_t)addr };
	return virq_ioctl(dev, request, &a);
}

/* UNPOST_IRQ / POST_IRQ for MSI-X vector 0 of the rig's device on GSI_POSTED. */
static int override_vector0(struct rig *r, int kvm_vfio, uint64_t attr)
{
	size_t sz = sizeof(struct kvm_vfio_dev_irq) + sizeof(uint32_t);
	struct kvm_vfio_dev_irq *arg = calloc(1, sz);

	assert_non_null(arg);
	*arg = (struct kvm_vfio_dev_irq){ .argsz = (uint32_t)sz, .fd = (uint32_t)r->dev,
					  .index = VFIO_PCI_MSIX_IRQ_INDEX, .count = 1 };
	arg->gsi[0] = GSI_POSTED;
	int ret = device_attr(kvm_vfio, KVM_SET_DEVICE_ATTR, KVM_DEV_VFIO_DEVICE, attr, arg);
	free(arg);
	return ret;
}

/* One raise of vector 0, handled by vCPU 0; returns whether it was posted (else remapped). */
static bool raise_posted(struct rig *r, uint64_t *n)
{
	struct virq_iommu_stats s0 = istats(r);
	raise_ack(r, 0);
	assert_true(wait_handled(r, 0, VEC_POSTED, ++*n));
	struct virq_iommu_stats s1 = istats(r);
	assert_int_equal(s1.posted - s0.posted + s1.remapped - s0.remapped, 1);
	return s1.posted != s0.posted;
}

static void test_kvm_vfio_device_overrides(void **state)
{
	(void)state;
	struct rig r;
	uint64_t n = 0;
	int32_t efd, closed;

	rig_up(&r);
	struct kvm_create_device cd = { .type = KVM_DEV_TYPE_VFIO, .flags = KVM_CREATE_DEVICE_TEST };
	assert_int_equal(virq_ioctl(r.vm, KVM_CREATE_DEVICE, &cd), 0);
	cd.flags = 0;
	assert_int_equal(virq_ioctl(r.vm, KVM_CREATE_DEVICE, &cd), 0);
	int kv = (int)cd.fd;
	assert_fails(virq_ioctl(r.vm, KVM_CREATE_DEVICE, &cd), EBUSY); /* one per VM */
	cd.type = KVM_DEV_TYPE_ARM_VGIC_V3;
	assert_fails(virq_ioctl(r.vm, KVM_CREATE_DEVICE, &cd), ENODEV);

	/* FILE: the VFIO descriptor is one; an eventfd is open but not VFIO; a closed number is EBADF. */
	efd = r.efd[0];
	assert_int_equal(device_attr(kv, KVM_SET_DEVICE_ATTR, KVM_DEV_VFIO_FILE, KVM_DEV_VFIO_FILE_ADD, &r.dev), 0);
	assert_fails(device_attr(kv, KVM_SET_DEVICE_ATTR, KVM_DEV_VFIO_FILE, KVM_DEV_VFIO_FILE_ADD, &r.dev), EEXIST);
	assert_fails(device_attr(kv, KVM_SET_DEVICE_ATTR, KVM_DEV_VFIO_FILE, KVM_DEV_VFIO_FILE_ADD, &efd), EINVAL);
	closed = fx_closed_fd(); /* only now: any descriptor opened meanwhile (FILE_ADD's dup) may reuse one */
	assert_fails(device_attr(kv, KVM_SET_DEVICE_ATTR, KVM_DEV_VFIO_FILE, KVM_DEV_VFIO_FILE_ADD, &closed), EBADF);
	assert_int_equal(device_attr(kv, KVM_HAS_DEVICE_ATTR, KVM_DEV_VFIO_DEVICE, KVM_DEV_VFIO_DEVICE_POST_IRQ, NULL), 0);
	/* No forwarding on x86 (no GIC): the attribute does not exist. */
	assert_fails(device_attr(kv, KVM_HAS_DEVICE_ATTR, KVM_DEV_VFIO_DEVICE, KVM_DEV_VFIO_DEVICE_FORWARD_IRQ, NULL),
		     ENXIO);

	assert_true(raise_posted(&r, &n)); /* automatic: single destination */
	assert_int_equal(override_vector0(&r, kv, KVM_DEV_VFIO_DEVICE_UNPOST_IRQ), 0);
	uint64_t signals = gsi_counts(&r, GSI_POSTED).irqfd_signals;
	assert_false(raise_posted(&r, &n)); /* UNPOST_IRQ: remapped, through the eventfd and the irqfd */
	assert_int_equal(gsi_counts(&r, GSI_POSTED).irqfd_signals, signals + 1);
	assert_int_equal(override_vector0(&r, kv, KVM_DEV_VFIO_DEVICE_POST_IRQ), 0);
	assert_true(raise_posted(&r, &n));
	assert_int_equal(override_vector0(&r, kv, KVM_DEV_VFIO_DEVICE_UNPOST_IRQ), 0);
	assert_false(raise_posted(&r, &n));
	/* Releasing the device drops its overrides: automatic again. */
	assert_int_equal(virq_close(kv), 0);
	assert_true(raise_posted(&r, &n));
	assert_efd_silent(r.efd[0]);
	rig_down(&r);
}

/* ---- re-targeting under load ---- */

#define MIN_CHANGES 20

struct retarget {
	struct rig *r;
	_Atomic bool stop;
	_Atomic unsigned seq;    /* odd while a route change is in progress */
	_Atomic unsigned target; /* the vCPU the route names; valid while seq is even */
	_Atomic uint64_t changes;
};

static void *retarget_loop(void *arg)
{
	struct retarget *t = arg;

	while (!atomic_load(&t->stop)) {
		unsigned to = atomic_load(&t->target) ^ 1;
		struct kvm_irq_routing_entry e[2] = { fx_msi_entry(GSI_POSTED, to, VEC_POSTED),
						      { .gsi = GSI_MULTI, .type = KVM_IRQ_ROUTING_MSI } };
		e[1].u.msi.address_lo = MSI_LOGICAL(0x03);
		e[1].u.msi.data = VEC_MULTI;
		atomic_fetch_add(&t->seq, 1);
		if (fx_set_routing(t->r->vm, e, 2) != 0)
			abort();
		atomic_store(&t->target, to);
		atomic_fetch_add(&t->seq, 1);
		atomic_fetch_add(&t->changes, 1);
		usleep(1000); /* seed 000's scenario: every millisecond */
	}
	return NULL;
}

static uint64_t elapsed_ms(const struct timespec *since)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	int64_t ns = (int64_t)(now.tv_sec - since->tv_sec) * 1000000000 + (now.tv_nsec - since->tv_nsec);
	return (uint64_t)ns / 1000000;
}

static void retarget_under_load(uint64_t duration_ms)
{
	struct rig r;
	struct retarget t = { .r = &r };
	pthread_t th;
	uint64_t raises = 0, checked = 0, lost = 0, misdelivered = 0;
	struct timespec start;

	rig_up(&r);
	struct virq_iommu_stats s0 = istats(&r);
	uint64_t base[2] = { handled(&r, 0, VEC_POSTED), handled(&r, 1, VEC_POSTED) };
	assert_int_equal(pthread_create(&th, NULL, retarget_loop, &t), 0);
	clock_gettime(CLOCK_MONOTONIC, &start);
	/* At least MIN_CHANGES route changes, however slow the machine (sanitizers, a loaded CI host). */
	for (uint64_t ms; lost == 0 && (ms = elapsed_ms(&start)) < 30000 &&
			  (ms < duration_ms || atomic_load(&t.changes) < MIN_CHANGES);) {
		unsigned s1 = atomic_load(&t.seq);
		unsigned to = atomic_load(&t.target);
		uint64_t h[2] = { handled(&r, 0, VEC_POSTED), handled(&r, 1, VEC_POSTED) };
		raise_ack(&r, 0);
		raises++;
		/* One interrupt in flight at a time: it must show up on exactly one vCPU. */
		bool seen = false;
		for (int n = 0; n < 2000000 && !seen; n++) {
			seen = handled(&r, 0, VEC_POSTED) + handled(&r, 1, VEC_POSTED) == h[0] + h[1] + 1;
			if (!seen && n > 1000)
				usleep(1);
		}
		if (!seen) {
			lost++;
			break;
		}
		/* The route was stable at @to for the whole raise: it may only have reached @to. */
		if (!(s1 & 1) && atomic_load(&t.seq) == s1) {
			checked++;
			if (handled(&r, to, VEC_POSTED) != h[to] + 1)
				misdelivered++;
		}
	}
	atomic_store(&t.stop, true);
	pthread_join(th, NULL);

	uint64_t got = handled(&r, 0, VEC_POSTED) - base[0] + handled(&r, 1, VEC_POSTED) - base[1];
	if (lost || misdelivered || got != raises)
		fail_msg("%llu raises, %llu handled, %llu lost, %llu of %llu checked misdelivered, %llu route changes",
			 (unsigned long long)raises, (unsigned long long)got, (unsigned long long)lost,
			 (unsigned long long)misdelivered, (unsigned long long)checked,
			 (unsigned long long)atomic_load(&t.changes));
	print_message("%llu raises, %llu route changes, %llu raises with a stable route checked\n",
		      (unsigned long long)raises, (unsigned long long)atomic_load(&t.changes),
		      (unsigned long long)checked);
	assert_true(atomic_load(&t.changes) >= MIN_CHANGES);
	assert_true(checked > 0);
	assert_int_equal(istats(&r).posted - s0.posted, raises); /* every one posted, none remapped */
	assert_int_equal(istats(&r).remapped - s0.remapped, 0);
	assert_efd_silent(r.efd[0]);
	rig_down(&r);
}

static void test_retarget_under_load(void **state)
{
	(void)state;
	retarget_under_load(300);
}

static void test_stress_retarget_under_traffic(void **state)
{
	(void)state;
	retarget_under_load(getenv("VIRQ_STRESS_LONG") ? 5000 : 1000);
}

/* ---- software and device posts through one descriptor (the LAPIC ops override) ---- */

struct mixed {
	struct rig *r;
	_Atomic bool stop;
	_Atomic uint64_t msis;       /* KVM_SIGNAL_MSIs of VEC_SOFT to vCPU 0 that returned 1 */
	_Atomic uint64_t raises[2];  /* device raises of cause 0 (posted) and 1 (remapped, irqfd) */
	_Atomic uint64_t stops;      /* KVM_RUNs of vCPU 0 ended by its VMM thread */
	_Atomic uint64_t errors;     /* a call failed (cmocka asserts only on the main thread) */
};

static uint32_t xorshift(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

static void *mixed_msi(void *arg)
{
	struct mixed *m = arg;
	uint32_t x = 0x9e3779b9;

	while (!atomic_load(&m->stop)) {
		if (fx_signal_msi(m->r->vm, 0, VEC_SOFT) == 1)
			atomic_fetch_add(&m->msis, 1);
		else
			atomic_fetch_add(&m->errors, 1);
		if ((xorshift(&x) & 15) == 0) /* pauses, so the vCPU gets to halt */
			usleep(xorshift(&x) % 200);
	}
	return NULL;
}

static void *mixed_device(void *arg)
{
	struct mixed *m = arg;
	uint32_t x = 0x12345678;

	while (!atomic_load(&m->stop)) {
		/* Mostly the posted vector; every eighth the remapped one (both vCPUs, through the irqfd). */
		unsigned k = (xorshift(&x) & 7) == 0;
		uint64_t ack = 1ull << k;
		if (virq_pci_function_raise(m->r->fn, k) != 0 ||
		    virq_vfio_region_write(m->r->dev, &ack, 8, VIRQ_VFIO_REGION_OFFSET(0) + VIRQ_PCI_REG_ACK) != 8)
			atomic_fetch_add(&m->errors, 1);
		atomic_fetch_add(&m->raises[k], 1);
		if ((xorshift(&x) & 15) == 0)
			usleep(xorshift(&x) % 200);
	}
	return NULL;
}

static void *mixed_stopper(void *arg)
{
	struct mixed *m = arg;

	while (!atomic_load(&m->stop)) {
		usleep(2000);
		__atomic_store_n(&m->r->run[0]->immediate_exit, 1, __ATOMIC_RELAXED);
		pthread_kill(m->r->thread[0], SIGUSR1);
		atomic_fetch_add(&m->stops, 1);
	}
	return NULL;
}

struct mixed_counts {
	struct virq_vector_counts v0[3], v1_multi; /* vCPU 0: POSTED, MULTI, SOFT; vCPU 1: MULTI */
	struct virq_pci_cause_stats cause[2];
	struct virq_iommu_stats iommu;
	struct virq_gsi_counts multi;
	uint64_t sw_posts0, sw_posts1;
};

static void mixed_read(struct rig *r, struct mixed_counts *c)
{
	static const uint8_t vec[3] = { VEC_POSTED, VEC_MULTI, VEC_SOFT };
	struct virq_vcpu *v0 = virq_vcpu_of_fd(r->vcpu[0]), *v1 = virq_vcpu_of_fd(r->vcpu[1]);

	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(virq_vcpu_vector_counts(v0, vec[i], &c->v0[i]), 0);
	assert_int_equal(virq_vcpu_vector_counts(v1, VEC_MULTI, &c->v1_multi), 0);
	for (unsigned k = 0; k < 2; k++)
		assert_int_equal(virq_pci_function_cause_stats(r->fn, k, &c->cause[k]), 0);
	c->iommu = istats(r);
	c->multi = gsi_counts(r, GSI_MULTI);
	c->sw_posts0 = atomic_load(&v0->posted.sw_posts);
	c->sw_posts1 = atomic_load(&v1->posted.sw_posts);
}

/*
 * Every request is accounted for: handled by the guest, or coalesced into one that was (in the device, in
 * PIR, or in IRR). Writes what does not add up into @why.
 */
static bool mixed_balanced(const struct mixed *m, const struct mixed_counts *c, char *why, size_t len)
{
	const struct virq_vector_counts *posted = &c->v0[0], *multi = &c->v0[1], *soft = &c->v0[2];
	uint64_t msis = atomic_load(&m->msis);
	uint64_t p = c->iommu.posted, pc = c->iommu.posted_coalesced;

	snprintf(why, len,
		 "soft: %llu MSIs = %llu accepted + %llu coalesced, %llu handled; posted: %llu raised = %llu "
		 "coalesced + %llu messages, %llu posted (%llu in PIR) = %llu accepted + %llu coalesced, %llu "
		 "handled; multi: %llu raised = %llu coalesced + %llu messages, %llu remapped, %llu signals, %llu "
		 "injected = %llu + %llu (%llu handled) / %llu + %llu (%llu handled)",
		 (unsigned long long)msis, (unsigned long long)soft->accepted, (unsigned long long)soft->coalesced,
		 (unsigned long long)soft->handled, (unsigned long long)c->cause[0].raised,
		 (unsigned long long)c->cause[0].coalesced, (unsigned long long)c->cause[0].messages,
		 (unsigned long long)p, (unsigned long long)pc, (unsigned long long)posted->accepted,
		 (unsigned long long)posted->coalesced, (unsigned long long)posted->handled,
		 (unsigned long long)c->cause[1].raised, (unsigned long long)c->cause[1].coalesced,
		 (unsigned long long)c->cause[1].messages, (unsigned long long)c->iommu.remapped,
		 (unsigned long long)c->multi.irqfd_signals, (unsigned long long)c->multi.raised, (unsigned long long)multi->accepted,
		 (unsigned long long)multi->coalesced, (unsigned long long)multi->handled,
		 (unsigned long long)c->v1_multi.accepted, (unsigned long long)c->v1_multi.coalesced,
		 (unsigned long long)c->v1_multi.handled);
	return soft->accepted + soft->coalesced == msis && soft->handled == soft->accepted &&
	       c->cause[0].raised == atomic_load(&m->raises[0]) &&
	       c->cause[0].raised == c->cause[0].coalesced + c->cause[0].messages && c->cause[0].messages == p &&
	       p - pc == posted->accepted + posted->coalesced && posted->handled == posted->accepted &&
	       c->cause[1].raised == atomic_load(&m->raises[1]) &&
	       c->cause[1].raised == c->cause[1].coalesced + c->cause[1].messages &&
	       c->cause[1].messages == c->iommu.remapped && c->cause[1].messages == c->multi.irqfd_signals &&
	       c->multi.raised <= c->multi.irqfd_signals && /* writes one drain took together merged */
	       multi->accepted + multi->coalesced == c->multi.raised && multi->handled == multi->accepted &&
	       c->v1_multi.accepted + c->v1_multi.coalesced == c->multi.raised &&
	       c->v1_multi.handled == c->v1_multi.accepted && c->sw_posts0 == msis + c->multi.raised;
}

static void software_and_device_posts(uint64_t duration_ms)
{
	struct rig r;
	struct mixed m = { .r = &r };
	struct mixed_counts c;
	pthread_t th[3];
	struct timespec start;
	char why[512];

	/* vCPU 0 posts software deliveries (forced on: AUTO would also turn on at its first device post);
	 * vCPU 1 stays on the software path (AUTO, and no device posts to it). */
	rig_up_with(&r, guest_run_halt, true, VIRQ_APICV_ON);
	struct virq_halt_counts h0;
	assert_int_equal(virq_vcpu_halt_counts(virq_vcpu_of_fd(r.vcpu[0]), &h0), 0);
	assert_int_equal(pthread_create(&th[0], NULL, mixed_msi, &m), 0);
	assert_int_equal(pthread_create(&th[1], NULL, mixed_device, &m), 0);
	assert_int_equal(pthread_create(&th[2], NULL, mixed_stopper, &m), 0);
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (elapsed_ms(&start) < duration_ms)
		usleep(10000);
	atomic_store(&m.stop, true);
	for (unsigned i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(atomic_load(&m.errors), 0);

	/* Settle: the vCPUs still run (and halt); whatever is in flight reaches the guest or is counted. */
	bool ok = false;
	for (int n = 0; n < 10000 && !ok; n++) {
		mixed_read(&r, &c);
		ok = mixed_balanced(&m, &c, why, sizeof(why));
		if (!ok)
			usleep(1000);
	}
	struct virq_halt_counts h1;
	assert_int_equal(virq_vcpu_halt_counts(virq_vcpu_of_fd(r.vcpu[0]), &h1), 0);
	print_message("%s; vCPU 0: %llu stops, %llu re-entries, %llu sleeps, %llu wakeups, %llu software posts "
		      "(%llu kicked)\n",
		      why, (unsigned long long)atomic_load(&m.stops), (unsigned long long)atomic_load(&r.reentries),
		      (unsigned long long)(h1.sleeps - h0.sleeps), (unsigned long long)(h1.wakeups - h0.wakeups),
		      (unsigned long long)c.sw_posts0,
		      (unsigned long long)atomic_load(&virq_vcpu_of_fd(r.vcpu[0])->posted.sw_notified));
	if (!ok)
		fail_msg("not balanced: %s", why);
	/* Both paths were exercised: vCPU 0 posted, vCPU 1 did not; vCPU 0 ran, halted and was stopped. */
	assert_true(virq_vcpu_apicv_active(virq_vcpu_of_fd(r.vcpu[0])));
	assert_false(virq_vcpu_apicv_active(virq_vcpu_of_fd(r.vcpu[1])));
	assert_int_equal(c.sw_posts1, 0);
	assert_true(atomic_load(&m.msis) > 0 && c.iommu.posted > 0 && c.multi.raised > 0);
	assert_true(h1.sleeps > h0.sleeps && atomic_load(&r.reentries) > 0);
	assert_efd_silent(r.efd[0]);
	rig_down(&r);
}

static void test_stress_software_and_device_posts(void **state)
{
	(void)state;
	software_and_device_posts(getenv("VIRQ_STRESS_LONG") ? 5000 : 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_posted_reaches_halted_and_running_vcpus),
		cmocka_unit_test(test_multi_destination_is_remapped),
		cmocka_unit_test(test_kvm_vfio_device_overrides),
		cmocka_unit_test(test_retarget_under_load),
		cmocka_unit_test(test_stress_retarget_under_traffic),
		cmocka_unit_test(test_stress_software_and_device_posts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
