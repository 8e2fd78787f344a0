/* SPDX-License-Identifier: MIT */
/*
 * forwarded.c - the level INTx round trip of an assigned device on an arm64 VM, with its line forwarded
 * to the SPI (seed 001, docs/forwarding.md; issue 6 item 9's forwarded_roundtrip_p50), and the same
 * device and VM with the line not forwarded (QEMU's resample wiring) as the reference.
 *
 * The rig: an arm64 VM through the KVM front (vCPU 0, a vGICv3, no ITS; rig.c's VIRQ_BENCH_IRQ_SPI), a
 * PCI function with INTx pin A opened through VFIO, and QEMU's wiring: VFIO's INTx trigger eventfd is a
 * resampling irqfd on GSI 40 (SPI INTID 72, level), its resamplefd VFIO's unmask eventfd. The VM's
 * kvm-vfio device holds the VFIO descriptor (FILE_ADD) and forwards the line to SPI 40 (FORWARD_IRQ)
 * before VFIO_DEVICE_SET_IRQS sets the trigger, as docs/forwarding.md advises. The guest's handler acks
 * the device (an MMIO write the vCPU thread turns into VFIO's BAR 0 ACK register write, as a VMM does
 * with a trapped BAR access), deactivates the SPI (eoir, EOImode 0) and reports (an MMIO exit).
 *
 * forwarded_roundtrip (A): t0 just before virq_pci_function_raise() on the device thread (the device
 * asserts the line; the host handler masks it and writes the trigger eventfd); the halted vCPU takes the
 * irqfd itself, asserts the SPI, runs the handler; its eoir deactivates the hardware-mapped SPI and the
 * host completes the line right there, on the vCPU's thread: not asserted any more, so unmasked and idle,
 * ready for the next assert. The handler's report then wakes the device: t1. Two wake-ups (vCPU, device)
 * and no other thread. Every sample checks that the handler ran once, the host counted one completion
 * by the guest, no VFIO unmask, and the line is idle.
 *
 * arm_resample_roundtrip (the reference, C): the same device, VM and guest with the line unforwarded
 * (UNFORWARD_IRQ between the two figures): the eoir resamples the SPI instead, the resampler writes the
 * resamplefd = VFIO's unmask eventfd, VFIO's watcher thread wakes and unmasks the line; t1 is when the
 * device wakes on an eventfd the function's observer writes at that unmask (VIRQ_PCI_EVENT_INTX_UNMASK,
 * the moment the line is ready again). Three wake-ups (vCPU, VFIO's watcher, device). Every sample checks
 * one handler run and one VFIO unmask.
 *
 * The floor of both is resample_roundtrip's (resample.c): device write(e1) -> epoll relay -> blocked sink
 * -> write(ack) -> device wakes, three wake-ups over plain eventfds on the same threads, interleaved in
 * blocks with each path. So forwarded_roundtrip's ratio against it shows what the direct EOI saves, and
 * arm_resample_roundtrip's (the same shape as x86's resample_roundtrip, one thread more) what it costs
 * without. Between samples the device waits until the vCPU is asleep in hlt again (rig.c), on both sides.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "bench_int.h"
#include "virq/host.h"
#include "virq/kvm.h"

#define VIRQ_BENCH_FWD_BAR0 0xc0000000ull /* where the guest sees the device's BAR 0 (the VMM traps it) */
#define VIRQ_BENCH_FWD_WARMUP 2

/*
 * SPI 72, level, priority 0xa0, enabled, routed to vCPU 0 (IROUTER's reset value); EOImode 0, so eoir
 * drops the priority and deactivates. The handler acks cause 0 at the device, deactivates, reports.
 */
static const char virq_bench_fwd_guest[] =
	"intid 72:\n"
	"    mmio_write 0xc0000008, 8, 1   ; ACK cause 0 at the device (BAR 0 + 0x8)\n"
	"    eoir r15                      ; deactivate: a forwarded line is completed here\n"
	"    mmio_write 0xd0000000, 4, 1   ; report: the device may go on\n"
	"    eret\n"
	"main:\n"
	"    igrpen1 1\n"
	"    pmr 0xff\n"
	"    mmio_write 0x08000000, 4, 0x12         ; GICD_CTLR: EnableGrp1, ARE\n"
	"    mmio_write 0x08000c10, 4, 0            ; GICD_ICFGR4: INTIDs 64-79 level\n"
	"    mmio_write 0x08000448, 4, 0xa0a0a0a0   ; GICD_IPRIORITYR18: INTIDs 72-75\n"
	"    mmio_write 0x08000108, 4, 0x100        ; GICD_ISENABLER2: INTID 72\n"
	"    sti\n"
	"loop:\n"
	"    hlt\n"
	"    jmp loop\n";

struct virq_bench_fwd {
	struct virq_bench_rig rig;      /* irq_fd = VFIO's trigger, resample_fd = VFIO's unmask eventfd */
	struct virq_bench_floor floor;
	struct virq_pci_function *fn;
	int dev;                        /* VFIO device descriptor */
	int kvm_vfio;
	int unmasked_fd;                /* written by the observer when VFIO unmasks the line */
	bool forwarded;
};

static int virq_bench_fwd_errno(int r)
{
	return r < 0 ? -errno : r;
}

/* The vCPU thread's handling of the guest's BAR 0 writes: the ACK register goes to the device. */
static int virq_bench_fwd_mmio(void *ctx, uint64_t addr, uint64_t value)
{
	struct virq_bench_fwd *fw = ctx;

	if (addr != VIRQ_BENCH_FWD_BAR0 + VIRQ_PCI_REG_ACK)
		return 0;
	ssize_t n = virq_vfio_region_write(fw->dev, &value, 8, VIRQ_VFIO_REGION_OFFSET(0) + VIRQ_PCI_REG_ACK);
	return n == 8 ? 0 : n < 0 ? (int)n : -EIO;
}

/* The function's observer: VFIO unmasked the INTx line (the reference path's t1). */
static void virq_bench_fwd_observe(void *ctx, enum virq_pci_event event, unsigned cause, uint64_t ns)
{
	struct virq_bench_fwd *fw = ctx;

	(void)cause;
	(void)ns;
	if (event == VIRQ_PCI_EVENT_INTX_UNMASK)
		virq_bench_write1(fw->unmasked_fd);
}

static int virq_bench_fwd_set_irqs(int dev, uint32_t action, int fd)
{
	union {
		struct vfio_irq_set set;
		uint8_t bytes[sizeof(struct vfio_irq_set) + sizeof(int32_t)];
	} req = { .set = { .argsz = sizeof(req), .flags = action | VFIO_IRQ_SET_DATA_EVENTFD,
			   .index = VFIO_PCI_INTX_IRQ_INDEX, .start = 0, .count = 1 } };
	int32_t fd32 = fd;

	memcpy(req.set.data, &fd32, sizeof(fd32));
	return virq_bench_fwd_errno(virq_ioctl(dev, VFIO_DEVICE_SET_IRQS, &req));
}

/* FORWARD_IRQ or UNFORWARD_IRQ of the INTx line to SPI number 40; EAGAIN (line active) is retried. */
static int virq_bench_fwd_switch(struct virq_bench_fwd *fw, bool forward)
{
	struct kvm_arch_forwarded_irq f = { .fd = (uint32_t)fw->dev, .index = VFIO_PCI_INTX_IRQ_INDEX,
					    .subindex = 0, .gsi = VIRQ_BENCH_MSI_GSI };
	struct kvm_device_attr a = { .group = KVM_DEV_VFIO_DEVICE,
				     .attr = forward ? KVM_DEV_VFIO_DEVICE_FORWARD_IRQ
						     : KVM_DEV_VFIO_DEVICE_UNFORWARD_IRQ,
				     .addr = (uint64_t)(uintptr_t)&f };
	int r;

	if (fw->forwarded == forward)
		return 0;
	for (int tries = 0; (r = virq_bench_fwd_errno(virq_ioctl(fw->kvm_vfio, KVM_SET_DEVICE_ATTR, &a))) == -EAGAIN &&
			    tries < 1000; tries++)
		virq_bench_sleep_ns(100000);
	if (r == 0)
		fw->forwarded = forward;
	else
		fprintf(stderr, "virq bench: forwarded: %s: %s\n", forward ? "FORWARD_IRQ" : "UNFORWARD_IRQ", strerror(-r));
	return r;
}

static void virq_bench_fwd_destroy(struct virq_bench_fwd *fw)
{
	/* No vCPU runs between blocks. The kvm-vfio device first (it unforwards the line and lets go of its
	 * VFIO reference), then the VFIO descriptor (VFIO's release drops the trigger and the unmask eventfd)
	 * and the function, then the VM with its irqfd, and the rig's threads. */
	if (fw->kvm_vfio >= 0)
		virq_close(fw->kvm_vfio);
	if (fw->dev >= 0)
		virq_close(fw->dev);
	if (fw->fn)
		virq_pci_function_destroy(fw->fn);
	virq_bench_rig_destroy(&fw->rig);
	if (fw->unmasked_fd >= 0)
		close(fw->unmasked_fd);
	virq_bench_floor_destroy(&fw->floor);
}

#define VIRQ_BENCH_FWD_CHECK(call, what)                                                                   \
	do {                                                                                               \
		int r_ = (call);                                                                           \
		if (r_ < 0) {                                                                              \
			fprintf(stderr, "virq bench: forwarded: setup: %s: %s\n", what, strerror(-r_));    \
			virq_bench_fwd_destroy(fw);                                                        \
			return r_;                                                                         \
		}                                                                                          \
	} while (0)

static int virq_bench_fwd_create(struct virq_bench_fwd *fw)
{
	struct virq_pci_function_desc desc = {
		.name = "bench-intx", .requester_id = 0x0020, .vendor_id = 0x1b36, .device_id = 0x0100,
		.causes = 1, .intx_pin = 1,
	};
	struct kvm_create_device cd = { .type = KVM_DEV_TYPE_VFIO };
	int ret;

	memset(fw, 0, sizeof(*fw));
	fw->dev = fw->kvm_vfio = fw->unmasked_fd = -1;
	fw->floor.e1 = fw->floor.epfd = fw->floor.e2 = fw->floor.e2nb = fw->floor.ack = -1;
	ret = virq_bench_rig_create(&fw->rig, VIRQ_BENCH_IRQ_SPI, virq_bench_fwd_guest, 0);
	if (ret < 0)
		return ret; /* the rig cleaned up after itself; nothing else exists yet */
	fw->rig.mmio_write = virq_bench_fwd_mmio;
	fw->rig.mmio_ctx = fw;
	VIRQ_BENCH_FWD_CHECK(virq_bench_floor_init(&fw->floor), "floor");
	fw->unmasked_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	VIRQ_BENCH_FWD_CHECK(fw->unmasked_fd < 0 ? -errno : 0, "eventfd");
	VIRQ_BENCH_FWD_CHECK(virq_pci_function_create(&desc, &fw->fn), "virq_pci_function_create");
	virq_pci_function_observe(fw->fn, virq_bench_fwd_observe, fw);
	fw->dev = virq_vfio_device_open(fw->fn);
	VIRQ_BENCH_FWD_CHECK(fw->dev, "virq_vfio_device_open");
	/* The kvm-vfio device, the file, and the forward: before SET_IRQS sets the trigger. */
	VIRQ_BENCH_FWD_CHECK(virq_bench_fwd_errno(virq_ioctl(fw->rig.fds[1], KVM_CREATE_DEVICE, &cd)),
			     "KVM_CREATE_DEVICE (VFIO)");
	fw->kvm_vfio = (int)cd.fd;
	int32_t file = fw->dev;
	struct kvm_device_attr add = { .group = KVM_DEV_VFIO_FILE, .attr = KVM_DEV_VFIO_FILE_ADD,
				       .addr = (uint64_t)(uintptr_t)&file };
	VIRQ_BENCH_FWD_CHECK(virq_bench_fwd_errno(virq_ioctl(fw->kvm_vfio, KVM_SET_DEVICE_ATTR, &add)),
			     "KVM_DEV_VFIO_FILE_ADD");
	VIRQ_BENCH_FWD_CHECK(virq_bench_fwd_switch(fw, true), "KVM_DEV_VFIO_DEVICE_FORWARD_IRQ");
	VIRQ_BENCH_FWD_CHECK(virq_bench_fwd_set_irqs(fw->dev, VFIO_IRQ_SET_ACTION_TRIGGER, fw->rig.irq_fd),
			     "VFIO INTx trigger");
	VIRQ_BENCH_FWD_CHECK(virq_bench_fwd_set_irqs(fw->dev, VFIO_IRQ_SET_ACTION_UNMASK, fw->rig.resample_fd),
			     "VFIO INTx unmask eventfd");
	return 0;
}

static struct virq_vfio_intx_stats virq_bench_fwd_stats(struct virq_bench_fwd *fw)
{
	struct virq_vfio_intx_stats st = { 0 };
	virq_vfio_intx_stats(fw->fn, &st);
	return st;
}

/* One block of either path: @forward says which, and the line is switched to it first. */
static int virq_bench_fwd_block(struct virq_bench_fwd *fw, bool forward, double *samples, int iters)
{
	struct virq_bench_rig *rig = &fw->rig;
	int n = 0, ret;
	uint64_t count;

	ret = virq_bench_fwd_switch(fw, forward);
	if (ret < 0)
		return ret;
	uint64_t mark = virq_bench_rig_halt(rig).sleeps;
	virq_bench_rig_enter(rig);
	ret = virq_bench_rig_settle(rig, mark, false);
	for (int i = 0; ret == 0 && i < iters + VIRQ_BENCH_FWD_WARMUP; i++) {
		mark = virq_bench_rig_halt(rig).sleeps;
		uint64_t handled = virq_bench_rig_vector(rig).handled;
		struct virq_vfio_intx_stats st0 = virq_bench_fwd_stats(fw);

		uint64_t t0 = virq_bench_now_ns();
		if ((ret = virq_pci_function_raise(fw->fn, 0)) < 0)
			break;
		/* Forwarded: the report follows the completion on the vCPU thread. Not: VFIO's unmask. */
		if ((ret = virq_bench_wait_read(forward ? rig->ack_fd : fw->unmasked_fd, VIRQ_BENCH_TIMEOUT_MS,
						&count)) < 0) {
			fprintf(stderr, "virq bench: forwarded: %s\n", forward ? "no report from the guest"
									       : "VFIO did not unmask the line");
			break;
		}
		uint64_t t1 = virq_bench_now_ns();
		if (!forward && (ret = virq_bench_wait_read(rig->ack_fd, VIRQ_BENCH_TIMEOUT_MS, &count)) < 0)
			break;
		struct virq_vfio_intx_stats st1 = virq_bench_fwd_stats(fw);
		bool ok = virq_bench_rig_vector(rig).handled == handled + 1 && !atomic_load(&rig->run_error);
		if (forward)
			ok = ok && st1.fwd_completions == st0.fwd_completions + 1 && st1.unmasks == st0.unmasks &&
			     !st1.active;
		else
			ok = ok && st1.unmasks == st0.unmasks + 1 && st1.fwd_completions == st0.fwd_completions;
		if (!ok) {
			fprintf(stderr, "virq bench: forwarded (%s): handler runs +%llu, completions +%llu, unmasks +%llu, "
				"line %s (want +1, %s, %s)\n", forward ? "forwarded" : "resample",
				(unsigned long long)(virq_bench_rig_vector(rig).handled - handled),
				(unsigned long long)(st1.fwd_completions - st0.fwd_completions),
				(unsigned long long)(st1.unmasks - st0.unmasks), st1.active ? "active" : "idle",
				forward ? "+1" : "+0", forward ? "+0 and idle" : "+1");
			ret = -EIO;
			break;
		}
		if (i >= VIRQ_BENCH_FWD_WARMUP)
			samples[n++] = (double)(t1 - t0);
		ret = virq_bench_rig_settle(rig, mark, false);
	}
	return virq_bench_rig_finish(rig, ret, n);
}

static int virq_bench_fwd_path(void *ctx, double *samples, int iters)
{
	return virq_bench_fwd_block(ctx, true, samples, iters);
}

static int virq_bench_fwd_resample_path(void *ctx, double *samples, int iters)
{
	return virq_bench_fwd_block(ctx, false, samples, iters);
}

static int virq_bench_fwd_floor(void *ctx, double *samples, int iters)
{
	struct virq_bench_fwd *fw = ctx;

	return virq_bench_resample_floor_block(&fw->floor, &fw->rig, samples, iters);
}

int virq_bench_forwarded(const struct virq_bench_sel *sel)
{
	struct virq_bench_fwd fw;
	struct virq_bench_ab_result res;
	int ret = virq_bench_fwd_create(&fw);

	if (ret < 0)
		return ret;
	struct virq_bench_ab ab = {
		.name = "forwarded_roundtrip", .ctx = &fw,
		.path = virq_bench_fwd_path, .floor = virq_bench_fwd_floor,
		.iters = 200, .max_pairs = 200, .min_pairs = 5, .budget_s = 4.0,
	};
	if (virq_bench_selected(sel, "forwarded_roundtrip_p50") || virq_bench_selected(sel, "forwarded_roundtrip_p99")) {
		ret = virq_bench_interleave(&ab, &res);
		if (ret == 0) {
			virq_bench_emit(sel, "forwarded_roundtrip_p50", res.path_p50, "ns", res.floor_p50, res.ratio_p50);
			virq_bench_emit(sel, "forwarded_roundtrip_p99", res.path_p99, "ns", res.floor_p99, res.ratio_p99);
		}
	}
	if (ret == 0 && (virq_bench_selected(sel, "arm_resample_roundtrip_p50") ||
			 virq_bench_selected(sel, "arm_resample_roundtrip_p99"))) {
		ab.name = "arm_resample_roundtrip";
		ab.path = virq_bench_fwd_resample_path;
		ab.budget_s = 3.0;
		ret = virq_bench_interleave(&ab, &res);
		if (ret == 0) {
			virq_bench_emit(sel, "arm_resample_roundtrip_p50", res.path_p50, "ns", res.floor_p50, res.ratio_p50);
			virq_bench_emit(sel, "arm_resample_roundtrip_p99", res.path_p99, "ns", res.floor_p99, res.ratio_p99);
		}
	}
	virq_bench_fwd_destroy(&fw);
	return ret;
}
