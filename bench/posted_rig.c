/* SPDX-License-Identifier: MIT */
/*
 * posted_rig.c - the rig of the bypass figures (issue 6, scope item 9): one x86 VM and one assigned
 * device, wired as a VMM wires VFIO and KVM, with every figure of posted.c and posted_counts.c measured
 * on the same device and VM shape, so posted and remapped figures can be compared.
 *
 *   VM      x86, in-kernel irqchip, halt polling off, two vCPUs made through the KVM front. vCPU 0's guest
 *           spins (a running vCPU: it takes interrupts at op boundaries); vCPU 1's guest halts (a
 *           blocked vCPU). One page of guest RAM at VIRQ_BENCH_PR_RAM.
 *   device  a PCI function with 16 causes and a 16-entry MSI-X table (include/virq/host.h), attached to
 *           an IOMMU (interrupt remapping, posted format supported), opened through VFIO; every MSI-X
 *           vector enabled with VFIO_DEVICE_SET_IRQS (ACTION_TRIGGER) on its own eventfd.
 *   wiring  each trigger eventfd is also an irqfd (KVM_IRQFD) on GSI 40 + i, routed as a physical,
 *           fixed, single-destination MSI with guest vector 0x40 + i. The engine pairs each irqfd with its
 *           vector (irq bypass, by eventfd) and its policy posts single-destination MSIs: the IOMMU then
 *           writes the target vCPU's posted-interrupt descriptor, and no eventfd is written.
 *   kvm-vfio KVM_CREATE_DEVICE(KVM_DEV_TYPE_VFIO), FILE_ADD of the VFIO descriptor, then
 *           KVM_DEV_VFIO_DEVICE_UNPOST_IRQ for vectors 0 and 2: those two stay remapped (host IRQ ->
 *           trigger eventfd -> irqfd -> LAPIC), the other fourteen are posted.
 * Roles (bench_int.h): vectors 0 and 15 are routed to the halted vCPU 1 and their handlers report with
 * an MMIO exit, 0 remapped (remapped_latency), 15 posted (posted_halted_latency); vector 1 is posted, its
 * handler writes a count to its vCPU's word in guest RAM (the running vCPU's latency is watched there,
 * with no exit); vector 2 is remapped with a silent handler (the counts' remapped reference). Vectors 1
 * and 2 are re-targeted between the two vCPUs with KVM_SET_GSI_ROUTING (virq_bench_pr_route): to the
 * running vCPU 0 for the running figures, to the halted vCPU 1 for the halted ones. Vectors 3-14 are
 * posted to vCPU 0 (throughput raises them with vector 1).
 * Setup checks the engine's decision for every vector (virq_vm_irqfd_bypass) and refuses to measure a
 * path that is not the one the figure names.
 *
 * Threads: the device thread (the caller) raises causes: virq_pci_function_raise() runs the device model,
 * the IOMMU translation and the post (or the host IRQ handler's eventfd write) on the raising thread, as
 * the hardware does it without any CPU. vCPU 0 runs on `spinner`, vCPU 1 on base.vcpu_thread, both
 * stopped as rig.c stops its vCPU (immediate_exit + SIGUSR1, once per block).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench_int.h"
#include "virq/host.h"
#include "virq/kvm.h"

#define VIRQ_BENCH_PR_RAM_SIZE 4096u
#define VIRQ_BENCH_PR_WORD(i) ((i) * 64u) /* vCPU i's entry word: its own cache line */
#define VIRQ_BENCH_PR_GUEST_MAX 2048

/*
 * The guests. Both have the same handlers: vectors 0x40 and 0x4f report (an MMIO write nothing claims:
 * an exit), 0x41 does its EOI, then counts its entries in r10 and writes the count to the vCPU's word in
 * guest RAM (after the engine stamped the entry, so the write costs the measured interval nothing), the
 * other thirteen only EOI. main enables the APIC, sets IF and reports once (setup runs each vCPU to that report
 * before the wiring, so the policy sees both LAPICs enabled); then vCPU 0 spins and vCPU 1 halts.
 */
static int virq_bench_pr_guest(char *buf, size_t len, unsigned i)
{
	size_t n = 0;
	int r;

#define VIRQ_BENCH_PR_APPEND(...)                                                                          \
	do {                                                                                               \
		r = snprintf(buf + n, len - n, __VA_ARGS__);                                               \
		if (r < 0 || (size_t)r >= len - n)                                                         \
			return -ENOSPC;                                                                    \
		n += (size_t)r;                                                                            \
	} while (0)

	VIRQ_BENCH_PR_APPEND("vector 0x%x:\n    mmio_write 0x%x, 4, 2\n    eoi\n    iret\n",
			     VIRQ_BENCH_PR_VEC0 + VIRQ_BENCH_PR_REMAP_REPORT, VIRQ_BENCH_REPORT_ADDR);
	VIRQ_BENCH_PR_APPEND("vector 0x%x:\n    eoi\n    add r10, 1\n    mem_write 0x%llx, 8, r10\n    iret\n",
			     VIRQ_BENCH_PR_VEC0 + VIRQ_BENCH_PR_POSTED,
			     VIRQ_BENCH_PR_RAM + VIRQ_BENCH_PR_WORD(i));
	for (unsigned v = VIRQ_BENCH_PR_REMAP; v < VIRQ_BENCH_PR_POSTED_REPORT; v++)
		VIRQ_BENCH_PR_APPEND("vector 0x%x:\n    eoi\n    iret\n", VIRQ_BENCH_PR_VEC0 + v);
	VIRQ_BENCH_PR_APPEND("vector 0x%x:\n    mmio_write 0x%x, 4, 3\n    eoi\n    iret\n",
			     VIRQ_BENCH_PR_VEC0 + VIRQ_BENCH_PR_POSTED_REPORT, VIRQ_BENCH_REPORT_ADDR);
	VIRQ_BENCH_PR_APPEND("main:\n    mmio_write 0xfee000f0, 4, 0x1ff\n    sti\n    mmio_write 0x%x, 4, 1\n"
			     "loop:\n    %s\n    jmp loop\n",
			     VIRQ_BENCH_REPORT_ADDR, i == 0 ? "spin 1ms" : "hlt");
#undef VIRQ_BENCH_PR_APPEND
	return 0;
}

static int virq_bench_pr_errno(int r)
{
	return r < 0 ? -errno : r;
}

#define VIRQ_BENCH_PR_CHECK(call, what)                                                                    \
	do {                                                                                               \
		int r_ = (call);                                                                           \
		if (r_ < 0) {                                                                              \
			fprintf(stderr, "virq bench: posted rig: %s: %s\n", what, strerror(-r_));          \
			virq_bench_pr_destroy(pr);                                                         \
			return r_;                                                                         \
		}                                                                                          \
	} while (0)

int virq_bench_pr_route(struct virq_bench_posted_rig *pr, unsigned target)
{
	struct kvm_irq_routing *routing =
		calloc(1, sizeof(*routing) + VIRQ_BENCH_PR_VECTORS * sizeof(routing->entries[0]));

	if (!routing)
		return -ENOMEM;
	for (unsigned v = 0; v < VIRQ_BENCH_PR_VECTORS; v++) {
		unsigned dest = v == VIRQ_BENCH_PR_REMAP_REPORT || v == VIRQ_BENCH_PR_POSTED_REPORT ? 1
				: v == VIRQ_BENCH_PR_POSTED || v == VIRQ_BENCH_PR_REMAP ? target
				: 0;
		struct kvm_irq_routing_entry *e = &routing->entries[v];
		e->gsi = VIRQ_BENCH_PR_GSI0 + v;
		e->type = KVM_IRQ_ROUTING_MSI;
		e->u.msi.address_lo = 0xfee00000u | (dest << 12); /* physical, fixed, no redirection hint */
		e->u.msi.data = VIRQ_BENCH_PR_VEC0 + v;
	}
	routing->nr = VIRQ_BENCH_PR_VECTORS;
	int r = virq_bench_pr_errno(virq_ioctl(pr->vm, KVM_SET_GSI_ROUTING, routing));
	free(routing);
	if (r == 0)
		pr->target = target;
	return r;
}

/* KVM_RUN to the guest's first report, on this thread (setup). */
static int virq_bench_pr_run_to_report(struct virq_bench_pr_vcpu *c)
{
	int r = virq_vcpu_run(c->vcpu);
	if (r < 0)
		return r;
	if (c->run->exit_reason != KVM_EXIT_MMIO || c->run->mmio.phys_addr != VIRQ_BENCH_REPORT_ADDR)
		return -EPROTO;
	return 0;
}

static int virq_bench_pr_set_irqs(struct virq_bench_posted_rig *pr)
{
	size_t sz = sizeof(struct vfio_irq_set) + VIRQ_BENCH_PR_VECTORS * sizeof(int32_t);
	struct vfio_irq_set *s = calloc(1, sz);

	if (!s)
		return -ENOMEM;
	*s = (struct vfio_irq_set){ .argsz = (uint32_t)sz,
				    .flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
				    .index = VFIO_PCI_MSIX_IRQ_INDEX, .start = 0, .count = VIRQ_BENCH_PR_VECTORS };
	memcpy(s->data, pr->efd, sizeof(pr->efd));
	int r = virq_bench_pr_errno(virq_ioctl(pr->dev, VFIO_DEVICE_SET_IRQS, s));
	free(s);
	return r;
}

/* KVM_DEV_VFIO_DEVICE_UNPOST_IRQ for MSI-X vector @v on its GSI: remapped from now on. */
static int virq_bench_pr_unpost(struct virq_bench_posted_rig *pr, unsigned v)
{
	size_t sz = sizeof(struct kvm_vfio_dev_irq) + sizeof(uint32_t);
	struct kvm_vfio_dev_irq *arg = calloc(1, sz);

	if (!arg)
		return -ENOMEM;
	*arg = (struct kvm_vfio_dev_irq){ .argsz = (uint32_t)sz, .fd = (uint32_t)pr->dev,
					  .index = VFIO_PCI_MSIX_IRQ_INDEX, .start = v, .count = 1 };
	arg->gsi[0] = VIRQ_BENCH_PR_GSI0 + v;
	struct kvm_device_attr a = { .group = KVM_DEV_VFIO_DEVICE, .attr = KVM_DEV_VFIO_DEVICE_UNPOST_IRQ,
				     .addr = (uint64_t)(uintptr_t)arg };
	int r = virq_bench_pr_errno(virq_ioctl(pr->kvm_vfio, KVM_SET_DEVICE_ATTR, &a));
	free(arg);
	return r;
}

static int virq_bench_pr_kvm_vfio(struct virq_bench_posted_rig *pr)
{
	struct kvm_create_device cd = { .type = KVM_DEV_TYPE_VFIO };
	int r = virq_bench_pr_errno(virq_ioctl(pr->vm, KVM_CREATE_DEVICE, &cd));

	if (r < 0)
		return r;
	pr->kvm_vfio = (int)cd.fd;
	int32_t dev = pr->dev;
	struct kvm_device_attr a = { .group = KVM_DEV_VFIO_FILE, .attr = KVM_DEV_VFIO_FILE_ADD,
				     .addr = (uint64_t)(uintptr_t)&dev };
	if ((r = virq_bench_pr_errno(virq_ioctl(pr->kvm_vfio, KVM_SET_DEVICE_ATTR, &a))) < 0)
		return r;
	if ((r = virq_bench_pr_unpost(pr, VIRQ_BENCH_PR_REMAP_REPORT)) < 0)
		return r;
	return virq_bench_pr_unpost(pr, VIRQ_BENCH_PR_REMAP);
}

/* Every vector on the path its role needs, or -EPROTO with the engine's reason on stderr. */
static int virq_bench_pr_check_paths(struct virq_bench_posted_rig *pr)
{
	struct virq_vm *vm = virq_vm_of_fd(pr->vm);

	for (unsigned v = 0; v < VIRQ_BENCH_PR_VECTORS; v++) {
		struct virq_irqfd_bypass_state st;
		bool remapped = v == VIRQ_BENCH_PR_REMAP_REPORT || v == VIRQ_BENCH_PR_REMAP;
		enum virq_irqfd_path want = remapped ? VIRQ_IRQFD_PATH_REMAPPED : VIRQ_IRQFD_PATH_POSTED;
		int r = virq_vm_irqfd_bypass(vm, pr->efd[v], &st);
		if (r < 0)
			return r;
		if (st.path != want) {
			fprintf(stderr, "virq bench: posted rig: MSI-X vector %u is not %s: %s\n", v,
				remapped ? "remapped" : "posted", st.reason);
			return -EPROTO;
		}
	}
	return 0;
}

int virq_bench_pr_create(struct virq_bench_posted_rig *pr)
{
	const struct virq_pci_function_desc desc = {
		.name = "bench-nic", .requester_id = 0x0100, .vendor_id = 0x1af4, .device_id = 0x1041,
		.causes = VIRQ_BENCH_PR_VECTORS, .msix_vectors = VIRQ_BENCH_PR_VECTORS,
		.msix_table_bar = 0, .msix_table_offset = 0x2000, .msix_pba_bar = 0, .msix_pba_offset = 0x3000,
	};
	char guest[VIRQ_BENCH_PR_GUEST_MAX];

	memset(pr, 0, sizeof(*pr));
	pr->sys = pr->vm = pr->kvm_vfio = pr->dev = -1;
	pr->base.vcpu_thread.cmd_fd = pr->base.relay.cmd_fd = pr->spinner.cmd_fd = -1;
	for (unsigned i = 0; i < VIRQ_BENCH_PR_VECTORS; i++)
		pr->efd[i] = -1;
	for (unsigned i = 0; i < 2; i++)
		pr->cpu[i].fd = pr->cpu[i].ack_fd = -1;
	VIRQ_BENCH_PR_CHECK(virq_bench_install_stop_signal(), "SIGUSR1 handler");

	/* The VM, as a VMM makes it through the front. */
	VIRQ_BENCH_PR_CHECK(pr->sys = virq_bench_pr_errno(virq_open()), "virq_open");
	VIRQ_BENCH_PR_CHECK(pr->vm = virq_bench_pr_errno(virq_ioctl(pr->sys, KVM_CREATE_VM, 0)), "KVM_CREATE_VM");
	VIRQ_BENCH_PR_CHECK(virq_bench_pr_errno(virq_ioctl(pr->vm, KVM_CREATE_IRQCHIP, 0)), "KVM_CREATE_IRQCHIP");
	struct kvm_enable_cap cap = { .cap = KVM_CAP_HALT_POLL, .args = { 0 } };
	VIRQ_BENCH_PR_CHECK(virq_bench_pr_errno(virq_ioctl(pr->vm, KVM_ENABLE_CAP, &cap)), "KVM_CAP_HALT_POLL");
	pr->ram = mmap(NULL, VIRQ_BENCH_PR_RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (pr->ram == MAP_FAILED)
		pr->ram = NULL;
	VIRQ_BENCH_PR_CHECK(pr->ram ? 0 : -ENOMEM, "guest RAM");
	struct kvm_userspace_memory_region mem = { .guest_phys_addr = VIRQ_BENCH_PR_RAM,
						   .memory_size = VIRQ_BENCH_PR_RAM_SIZE,
						   .userspace_addr = (uint64_t)(uintptr_t)pr->ram };
	VIRQ_BENCH_PR_CHECK(virq_bench_pr_errno(virq_ioctl(pr->vm, KVM_SET_USER_MEMORY_REGION, &mem)),
			    "KVM_SET_USER_MEMORY_REGION");
	for (unsigned i = 0; i < 2; i++) {
		struct virq_bench_pr_vcpu *c = &pr->cpu[i];
		struct kvm_mp_state runnable = { .mp_state = KVM_MP_STATE_RUNNABLE };
		VIRQ_BENCH_PR_CHECK(c->fd = virq_bench_pr_errno(virq_ioctl(pr->vm, KVM_CREATE_VCPU, i)),
				    "KVM_CREATE_VCPU");
		VIRQ_BENCH_PR_CHECK(virq_bench_pr_errno(virq_ioctl(c->fd, KVM_SET_MP_STATE, &runnable)),
				    "KVM_SET_MP_STATE");
		VIRQ_BENCH_PR_CHECK(virq_bench_pr_guest(guest, sizeof(guest), i), "guest program");
		int r = virq_bench_pr_errno(virq_guest_load(c->fd, guest));
		if (r < 0)
			fprintf(stderr, "virq bench: posted rig: guest program: %s\n", virq_guest_last_error());
		VIRQ_BENCH_PR_CHECK(r, "virq_guest_load");
		c->vcpu = virq_vcpu_of_fd(c->fd);
		c->run = virq_vcpu_run_struct(c->fd);
		VIRQ_BENCH_PR_CHECK(c->vcpu && c->run ? 0 : -EBADF, "vCPU handle");
		c->entry_word = (_Atomic uint64_t *)((char *)pr->ram + VIRQ_BENCH_PR_WORD(i));
		VIRQ_BENCH_PR_CHECK(c->ack_fd = virq_bench_pr_errno(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)), "eventfd");
		VIRQ_BENCH_PR_CHECK(virq_bench_pr_run_to_report(c), "first KVM_RUN");
	}
	VIRQ_BENCH_PR_CHECK(virq_bench_pr_route(pr, 0), "KVM_SET_GSI_ROUTING");

	/* The device behind the IOMMU, its VFIO descriptor, and the wiring: irqfds first, then VFIO. */
	VIRQ_BENCH_PR_CHECK(virq_iommu_create(64, &pr->iommu), "virq_iommu_create");
	VIRQ_BENCH_PR_CHECK(virq_pci_function_create(&desc, &pr->fn), "virq_pci_function_create");
	VIRQ_BENCH_PR_CHECK(virq_iommu_attach(pr->iommu, pr->fn), "virq_iommu_attach");
	VIRQ_BENCH_PR_CHECK(pr->dev = virq_vfio_device_open(pr->fn), "virq_vfio_device_open");
	for (unsigned v = 0; v < VIRQ_BENCH_PR_VECTORS; v++) {
		VIRQ_BENCH_PR_CHECK(pr->efd[v] = virq_bench_pr_errno(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
				    "eventfd");
		struct kvm_irqfd irqfd = { .fd = (uint32_t)pr->efd[v], .gsi = VIRQ_BENCH_PR_GSI0 + v };
		VIRQ_BENCH_PR_CHECK(virq_bench_pr_errno(virq_ioctl(pr->vm, KVM_IRQFD, &irqfd)), "KVM_IRQFD");
	}
	VIRQ_BENCH_PR_CHECK(virq_bench_pr_set_irqs(pr), "VFIO_DEVICE_SET_IRQS");
	VIRQ_BENCH_PR_CHECK(virq_bench_pr_kvm_vfio(pr), "kvm-vfio device (FILE_ADD, UNPOST_IRQ)");
	VIRQ_BENCH_PR_CHECK(virq_bench_pr_check_paths(pr), "bypass decisions");

	VIRQ_BENCH_PR_CHECK(virq_bench_worker_start(&pr->spinner), "vCPU 0 thread");
	VIRQ_BENCH_PR_CHECK(virq_bench_worker_start(&pr->base.vcpu_thread), "vCPU 1 thread");
	VIRQ_BENCH_PR_CHECK(virq_bench_worker_start(&pr->base.relay), "relay thread");
	pr->cpu[0].worker = &pr->spinner;
	pr->cpu[1].worker = &pr->base.vcpu_thread;
	return 0;
}

void virq_bench_pr_destroy(struct virq_bench_posted_rig *pr)
{
	for (unsigned i = 0; i < 2; i++)
		if (pr->cpu[i].in_run)
			virq_bench_pr_leave(pr, i);
	virq_bench_worker_stop(&pr->spinner);
	virq_bench_worker_stop(&pr->base.vcpu_thread);
	virq_bench_worker_stop(&pr->base.relay);
	/* The kvm-vfio device first (its overrides end with it), then VFIO (every vector disabled, the
	 * producers unpaired), the device, the IOMMU, and the VM (its irqfds) last first. */
	if (pr->kvm_vfio >= 0)
		virq_close(pr->kvm_vfio);
	if (pr->dev >= 0)
		virq_close(pr->dev);
	if (pr->fn)
		virq_pci_function_destroy(pr->fn);
	if (pr->iommu)
		virq_iommu_destroy(pr->iommu);
	for (unsigned i = 2; i-- > 0;) {
		if (pr->cpu[i].fd >= 0)
			virq_close(pr->cpu[i].fd);
		if (pr->cpu[i].ack_fd >= 0)
			close(pr->cpu[i].ack_fd);
	}
	if (pr->vm >= 0)
		virq_close(pr->vm);
	if (pr->sys >= 0)
		virq_close(pr->sys);
	for (unsigned v = 0; v < VIRQ_BENCH_PR_VECTORS; v++)
		if (pr->efd[v] >= 0)
			close(pr->efd[v]);
	if (pr->ram)
		munmap(pr->ram, VIRQ_BENCH_PR_RAM_SIZE);
	memset(pr, 0, sizeof(*pr));
	pr->sys = pr->vm = pr->kvm_vfio = pr->dev = -1;
	pr->cpu[0].fd = pr->cpu[1].fd = pr->cpu[0].ack_fd = pr->cpu[1].ack_fd = -1;
	for (unsigned v = 0; v < VIRQ_BENCH_PR_VECTORS; v++)
		pr->efd[v] = -1;
}

/* The vCPU role: KVM_RUN until stopped, acknowledging the guest's reports (rig.c's, for two vCPUs). */
static void virq_bench_pr_run_job(void *arg)
{
	struct virq_bench_pr_vcpu *c = arg;
	struct kvm_run *run = c->run;

	for (;;) {
		int r = virq_vcpu_run(c->vcpu);
		if (r == -EINTR) {
			if (__atomic_load_n(&run->immediate_exit, __ATOMIC_RELAXED))
				return;
			continue;
		}
		if (r == 0 && run->exit_reason == KVM_EXIT_MMIO && run->mmio.is_write &&
		    run->mmio.phys_addr == VIRQ_BENCH_REPORT_ADDR) {
			virq_bench_write1(c->ack_fd);
			continue;
		}
		int expected = 0;
		atomic_compare_exchange_strong(&c->run_error, &expected, r < 0 ? r : -(int)(1000 + run->exit_reason));
		virq_bench_write1(c->ack_fd);
		return;
	}
}

void virq_bench_pr_enter(struct virq_bench_posted_rig *pr, unsigned i)
{
	struct virq_bench_pr_vcpu *c = &pr->cpu[i];

	__atomic_store_n(&c->run->immediate_exit, 0, __ATOMIC_RELAXED);
	c->in_run = true;
	virq_bench_worker_submit(c->worker, virq_bench_pr_run_job, c);
}

int virq_bench_pr_leave(struct virq_bench_posted_rig *pr, unsigned i)
{
	struct virq_bench_pr_vcpu *c = &pr->cpu[i];

	__atomic_store_n(&c->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	pthread_kill(c->worker->thread, SIGUSR1);
	int r = virq_bench_worker_wait(c->worker);
	__atomic_store_n(&c->run->immediate_exit, 0, __ATOMIC_RELAXED);
	c->in_run = false;
	int err = atomic_load(&c->run_error);
	if (err) {
		if (err <= -1000)
			fprintf(stderr, "virq bench: posted rig: vCPU %u exited unexpectedly (exit_reason %d)\n", i,
				-err - 1000);
		else
			fprintf(stderr, "virq bench: posted rig: vCPU %u: %s\n", i, strerror(-err));
		return -EIO;
	}
	return r;
}

int virq_bench_pr_raise(struct virq_bench_posted_rig *pr, unsigned v)
{
	return virq_pci_function_raise(pr->fn, v);
}

int virq_bench_pr_ack(struct virq_bench_posted_rig *pr, uint64_t mask)
{
	ssize_t r = virq_vfio_region_write(pr->dev, &mask, sizeof(mask), VIRQ_VFIO_REGION_OFFSET(0) + VIRQ_PCI_REG_ACK);
	return r == sizeof(mask) ? 0 : -errno;
}

struct virq_vector_counts virq_bench_pr_vector(struct virq_bench_posted_rig *pr, unsigned i, unsigned v)
{
	struct virq_vector_counts c;
	virq_vcpu_vector_counts(pr->cpu[i].vcpu, (uint8_t)(VIRQ_BENCH_PR_VEC0 + v), &c);
	return c;
}

struct virq_halt_counts virq_bench_pr_halt(struct virq_bench_posted_rig *pr, unsigned i)
{
	struct virq_halt_counts c;
	virq_vcpu_halt_counts(pr->cpu[i].vcpu, &c);
	return c;
}

int virq_bench_pr_running(struct virq_bench_posted_rig *pr, unsigned i)
{
	/* The handler's last store, not its entry count: once it moved, the handler is done with guest
	 * RAM and the next raise's count starts from what the caller reads now. */
	uint64_t h = atomic_load_explicit(pr->cpu[i].entry_word, memory_order_acquire);
	uint64_t deadline = virq_bench_now_ns() + VIRQ_BENCH_TIMEOUT_MS * 1000000ull;
	int r;

	if (pr->target != i) {
		fprintf(stderr, "virq bench: posted rig: vector 1 is routed to vCPU %u, not %u\n", pr->target, i);
		return -EINVAL;
	}
	if ((r = virq_bench_pr_raise(pr, VIRQ_BENCH_PR_POSTED)) < 0)
		return r;
	while (atomic_load_explicit(pr->cpu[i].entry_word, memory_order_acquire) == h) {
		if (atomic_load(&pr->cpu[i].run_error) || virq_bench_now_ns() > deadline) {
			fprintf(stderr, "virq bench: posted rig: vCPU %u takes no interrupt\n", i);
			return -ETIMEDOUT;
		}
		virq_bench_sleep_ns(5000);
	}
	return virq_bench_pr_ack(pr, 1ull << VIRQ_BENCH_PR_POSTED);
}

int virq_bench_pr_settle(struct virq_bench_posted_rig *pr, unsigned i, uint64_t mark)
{
	uint64_t deadline = virq_bench_now_ns() + VIRQ_BENCH_TIMEOUT_MS * 1000000ull;

	while (virq_bench_pr_halt(pr, i).sleeps <= mark) {
		if (atomic_load(&pr->cpu[i].run_error) || virq_bench_now_ns() > deadline) {
			fprintf(stderr, "virq bench: posted rig: vCPU %u did not go back to hlt\n", i);
			return -ETIMEDOUT;
		}
		virq_bench_sleep_ns(5000);
	}
	virq_bench_sleep_ns(VIRQ_BENCH_SETTLE_NS);
	return 0;
}
