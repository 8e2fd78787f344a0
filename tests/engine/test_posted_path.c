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
 * The re-target race is also in the stress suite (1 s; 5 s with VIRQ_STRESS_LONG).
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
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
#define MSI_LOGICAL(dest) (0xfee00000u | ((uint32_t)(dest) << 12) | (1u << 2))

/* Interrupt handlers need no exit: the test reads the per-vector counters. LDR gives each vCPU one bit
 * of a flat logical destination (DFR stays flat after reset). */
#define GUEST_HEAD(ldr)                                                                            \
	"vector 0x41:\n    eoi\n    iret\n"                                                        \
	"vector 0x42:\n    eoi\n    iret\n"                                                        \
	"main:\n"                                                                                  \
	"    mmio_write 0xfee000f0, 4, 0x1ff\n"                                                    \
	"    mmio_write 0xfee000d0, 4, " ldr "\n"                                                  \
	"    sti\n"                                                                                \
	"    mmio_write 0xd0000000, 4, 1\n"                                                        \
	"loop:\n"

static const char guest_halt[] = GUEST_HEAD("0x01000000") "    hlt\n    jmp loop\n";
static const char guest_spin[] = GUEST_HEAD("0x02000000") "    spin 50us\n    jmp loop\n";

struct rig {
	int sys, vm, vcpu[2];
	struct kvm_run *run[2];
	pthread_t thread[2];
	_Atomic int vcpu_err[2];
	struct virq_iommu *iommu;
	struct virq_pci_function *fn;
	int dev;
	int efd[2];
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
	int ret = virq_ioctl(a->r->vcpu[a->i], KVM_RUN, 0);
	/* The guests never exit on their own: only the stop (EINTR) ends the run. */
	atomic_store(&a->r->vcpu_err[a->i], ret < 0 ? errno : -(int)a->r->run[a->i]->exit_reason);
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

static void rig_up(struct rig *r)
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
	r->vcpu[0] = fx_create_guest_vcpu(r->vm, 0, true, guest_halt);
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

	for (unsigned i = 0; i < 2; i++) {
		vcpu_args[i] = (struct vcpu_arg){ r, i };
		assert_int_equal(pthread_create(&r->thread[i], NULL, vcpu_loop, &vcpu_args[i]), 0);
	}
}

static void rig_down(struct rig *r)
{
	for (unsigned i = 0; i < 2; i++) {
		__atomic_store_n(&r->run[i]->immediate_exit, 1, __ATOMIC_RELAXED);
		pthread_kill(r->thread[i], SIGUSR1);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_posted_reaches_halted_and_running_vcpus),
		cmocka_unit_test(test_multi_destination_is_remapped),
		cmocka_unit_test(test_kvm_vfio_device_overrides),
		cmocka_unit_test(test_retarget_under_load),
		cmocka_unit_test(test_stress_retarget_under_traffic),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
