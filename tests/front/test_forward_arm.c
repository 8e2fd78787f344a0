/* SPDX-License-Identifier: MIT */
/*
 * test_forward_arm.c - IRQ forwarding on arm64 (seed 001, docs/forwarding.md) through the KVM-compatible
 * front and the host's public API: the kvm-vfio device on an arm64 VM; FORWARD_IRQ / UNFORWARD_IRQ and
 * each errno; the EAGAIN rule (signalling set and the line active -> EAGAIN; not active -> forwarded;
 * unforward while active -> done, and the line completed); a guest taking a forwarded level SPI in
 * EOImode 0 and 1, where its deactivation (EOIR, DIR) completes the host line directly (the host's
 * counters show completions and not one unmask request, the GSI not one resample), a line still high
 * firing again, ICPENDR completing the physical line; and unforwarding in the middle of traffic,
 * forwarding back and forth every millisecond, losing nothing.
 *
 * The VMM side is wired as QEMU wires a legacy INTx device: the VFIO trigger eventfd is a resampling
 * irqfd on GSI 40 (SPI INTID 72), and its resamplefd is VFIO's unmask eventfd. Forwarded, that
 * round trip is not used: every unmask the host counts would be one.
 */
#include "arm_fixture.h"

#include <time.h>
#include <virq/host.h>

#define READY 0x600d
#define GSI 40u             /* default route: irqchip 0 pin 40, SPI INTID 72 */
#define INTID (GSI + 32u)
#define AFTER_EOIR 0xe01
#define AFTER_DIR 0xd1
#define AFTER_CPENDR 0xc1

/* ---- the rig: an arm64 VM, a legacy INTx function behind VFIO, QEMU's wiring, a kvm-vfio device ---- */

struct rig {
	struct arm_vm a;
	struct virq_pci_function *fn;
	int dev;       /* VFIO device descriptor */
	int trigger;   /* INTx trigger eventfd = the resampling irqfd's eventfd */
	int unmask;    /* VFIO's unmask eventfd = the irqfd's resamplefd */
	int kv;        /* the kvm-vfio device */
	uint32_t gsi;  /* the SPI the line is forwarded to (GSI, default route = pin) */
};

static struct virq_pci_function *legacy_fn(const char *name, unsigned intx_pin, unsigned msix)
{
	struct virq_pci_function_desc d = {
		.name = name, .requester_id = 0x0200, .vendor_id = 0x1af4, .device_id = 0x1000,
		.causes = 1, .intx_pin = intx_pin, .msix_vectors = msix, .msix_table_bar = 0,
		.msix_table_offset = 0x2000, .msix_pba_bar = 0, .msix_pba_offset = 0x3000,
	};
	struct virq_pci_function *fn = NULL;
	assert_int_equal(virq_pci_function_create(&d, &fn), 0);
	return fn;
}

static int set_irqs(int dev, uint32_t flags, uint32_t index, uint32_t count, int32_t fd)
{
	union {
		struct vfio_irq_set s;
		uint8_t bytes[sizeof(struct vfio_irq_set) + sizeof(int32_t)];
	} req = { .s = { .argsz = sizeof(req), .flags = flags, .index = index, .start = 0, .count = count } };
	memcpy(req.s.data, &fd, sizeof(fd));
	return virq_ioctl(dev, VFIO_DEVICE_SET_IRQS, &req);
}

static int kvm_vfio_create(int vm)
{
	struct kvm_create_device cd = { .type = KVM_DEV_TYPE_VFIO };
	int ret = virq_ioctl(vm, KVM_CREATE_DEVICE, &cd);
	return ret < 0 ? ret : (int)cd.fd;
}

static int fwd_attr(int kv, uint64_t attr, int fd, uint32_t index, uint32_t subindex, uint32_t gsi)
{
	struct kvm_arch_forwarded_irq f = { .fd = (uint32_t)fd, .index = index, .subindex = subindex, .gsi = gsi };
	return arm_set_attr(kv, KVM_DEV_VFIO_DEVICE, attr, &f);
}

static int forward(const struct rig *r)
{
	return fwd_attr(r->kv, KVM_DEV_VFIO_DEVICE_FORWARD_IRQ, r->dev, VFIO_PCI_INTX_IRQ_INDEX, 0, r->gsi);
}

static int unforward(const struct rig *r)
{
	return fwd_attr(r->kv, KVM_DEV_VFIO_DEVICE_UNFORWARD_IRQ, r->dev, VFIO_PCI_INTX_IRQ_INDEX, 0, r->gsi);
}

static struct virq_vfio_intx_stats intx(const struct rig *r)
{
	struct virq_vfio_intx_stats st;
	assert_int_equal(virq_vfio_intx_stats(r->fn, &st), 0);
	return st;
}

static struct virq_gsi_counts gsi_counts(const struct rig *r)
{
	struct virq_gsi_counts c;
	assert_int_equal(virq_vm_gsi_counts(virq_vm_of_fd(r->a.vm), r->gsi, &c), 0);
	return c;
}

/* The driver services the device: every cause acknowledged (what the guest's handler does through the
 * VMM: the device's BAR is the VMM's, so the test plays that part). */
static void ack_device(const struct rig *r)
{
	uint64_t all = ~0ull;
	assert_int_equal(virq_vfio_region_write(r->dev, &all, 8, VIRQ_VFIO_REGION_OFFSET(0) + VIRQ_PCI_REG_ACK), 8);
}

/* arm_vm_open() with NR_IRQS 992: 960 SPIs, the most whose default routes all fit KVM's 988 irqchip
 * pins (with NR_IRQS 1024 the default routes of pins 988..991 are refused and CTRL_INIT fails). */
static void arm_vm_open_992(struct arm_vm *a)
{
	uint64_t addr;
	uint32_t nr_irqs = 992;

	memset(a, 0, sizeof(*a));
	a->sys = fx_open_sys();
	a->vm = arm_create_vm(a->sys);
	a->own_ram = true;
	a->ram = mmap(NULL, ARM_RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(a->ram != MAP_FAILED);
	arm_add_ram(a->vm, a->ram);
	a->nr_vcpus = 1;
	a->vcpu[0] = fx_create_vcpu(a->vm, 0);
	a->gic = arm_create_device(a->vm, KVM_DEV_TYPE_ARM_VGIC_V3);
	assert_true(a->gic >= 0);
	addr = ARM_GICD;
	assert_int_equal(arm_set_attr(a->gic, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_DIST, &addr), 0);
	addr = ARM_GICR;
	assert_int_equal(arm_set_attr(a->gic, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_REDIST, &addr), 0);
	assert_int_equal(arm_set_attr(a->gic, KVM_DEV_ARM_VGIC_GRP_NR_IRQS, 0, &nr_irqs), 0);
	a->its = -1;
	assert_int_equal(arm_set_attr(a->gic, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, NULL), 0);
}

/* With @irqfd, the trigger reaches GSI @gsi through a resampling irqfd whose resamplefd is VFIO's unmask
 * eventfd (QEMU's wiring); without, the trigger is set and nothing reads it. GSIs beyond the default
 * 224 SPIs get a VM with 960. */
static void rig_open_at(struct rig *r, bool irqfd, uint32_t gsi)
{
	memset(r, 0, sizeof(*r));
	r->gsi = gsi;
	if (gsi < 224)
		arm_vm_open(&r->a, 1, false, NULL);
	else
		arm_vm_open_992(&r->a);
	r->fn = legacy_fn("legacy0", 1, 0);
	r->dev = virq_vfio_device_open(r->fn);
	assert_true(r->dev >= 0);
	r->trigger = fx_new_eventfd();
	r->unmask = fx_new_eventfd();
	assert_int_equal(set_irqs(r->dev, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
				  VFIO_PCI_INTX_IRQ_INDEX, 1, r->trigger), 0);
	assert_int_equal(set_irqs(r->dev, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_UNMASK,
				  VFIO_PCI_INTX_IRQ_INDEX, 1, r->unmask), 0);
	if (irqfd)
		assert_int_equal(fx_irqfd(r->a.vm, r->trigger, gsi, KVM_IRQFD_FLAG_RESAMPLE, r->unmask), 0);
	r->kv = kvm_vfio_create(r->a.vm);
	assert_true(r->kv >= 0);
}

static void rig_open(struct rig *r, bool irqfd)
{
	rig_open_at(r, irqfd, GSI);
}

static void rig_close(struct rig *r)
{
	/* The kvm-vfio device first: its release unforwards (and completes) whatever is forwarded. */
	assert_int_equal(virq_close(r->kv), 0);
	assert_false(intx(r).forwarded);
	assert_int_equal(virq_close(r->dev), 0);
	arm_vm_close(&r->a);
	assert_int_equal(virq_pci_function_destroy(r->fn), 0);
	close(r->trigger);
	close(r->unmask);
}

/* Wait (up to 5 s) until the host's INTx line is no longer active. */
static bool wait_inactive(const struct rig *r)
{
	for (int i = 0; i < 50000; i++) {
		if (!intx(r).active)
			return true;
		usleep(100);
	}
	return false;
}

/* Wait (up to 5 s) until the rig's GSI has been raised @n times. */
static void wait_raised(const struct rig *r, uint64_t n)
{
	for (int i = 0; i < 50000 && gsi_counts(r).raised < n; i++)
		usleep(100);
	assert_true(gsi_counts(r).raised >= n);
}

/* ---- the guest: a level SPI 72, reported on entry, after EOIR and (EOImode 1) after DIR ----------- */

static char *spi_program_at(uint32_t intid, bool eoimode1, bool cpendr)
{
	struct arm_text t = { 0 };
	const unsigned long long gicd = ARM_GICD, bit = 1ull << (intid % 32);

	arm_emit(&t, "intid %u:\n    mmio_write 0x%x, 4, r15\n    eoir r15\n", intid, FX_REPORT_ADDR);
	arm_emit_report(&t, AFTER_EOIR);
	if (eoimode1) {
		arm_emit(&t, "    dir r15\n");
		arm_emit_report(&t, AFTER_DIR);
	}
	arm_emit(&t, "    eret\nmain:\n");
	arm_emit_cpuif(&t);
	if (eoimode1)
		arm_emit(&t, "    eoimode 1\n");
	arm_emit(&t, "    mmio_write 0x%llx, 4, 0x12\n", gicd);
	arm_emit(&t, "    mmio_write 0x%llx, 4, 0\n", gicd + 0xc00 + intid / 16 * 4);      /* ICFGR: level */
	arm_emit(&t, "    mmio_write 0x%llx, 4, 0xa0a0a0a0\n", gicd + 0x400 + intid / 4 * 4); /* priority */
	arm_emit(&t, "    mmio_write 0x%llx, 4, 0x%llx\n", gicd + 0x100 + intid / 32 * 4, bit); /* ISENABLER */
	if (cpendr) {
		/* IRQs still masked: report, then clear the SPI's pending state in the distributor. */
		arm_emit_report(&t, READY);
		arm_emit(&t, "    mmio_write 0x%llx, 4, 0x%llx\n", gicd + 0x280 + intid / 32 * 4, bit); /* ICPENDR */
		arm_emit_report(&t, AFTER_CPENDR);
		arm_emit(&t, "    sti\n");
	} else {
		arm_emit(&t, "    sti\n");
		arm_emit_report(&t, READY);
	}
	arm_emit_idle(&t);
	return t.buf;
}

static char *spi_program(bool eoimode1, bool cpendr)
{
	return spi_program_at(INTID, eoimode1, cpendr);
}

/* ---- the kvm-vfio device on arm64 ------------------------------------------------------------------ */

static void test_kvm_vfio_device_on_arm64(void **state)
{
	(void)state;
	struct rig r;
	rig_open(&r, false);

	struct kvm_create_device cd = { .type = KVM_DEV_TYPE_VFIO, .flags = KVM_CREATE_DEVICE_TEST };
	assert_int_equal(virq_ioctl(r.a.vm, KVM_CREATE_DEVICE, &cd), 0);
	cd.flags = 0;
	assert_fails(virq_ioctl(r.a.vm, KVM_CREATE_DEVICE, &cd), EBUSY); /* one per VM */
	/* The Arm devices are still made beside it. */
	cd.type = KVM_DEV_TYPE_ARM_VGIC_ITS;
	cd.flags = KVM_CREATE_DEVICE_TEST;
	assert_int_equal(virq_ioctl(r.a.vm, KVM_CREATE_DEVICE, &cd), 0);

	/* FILE as on x86; DEVICE: FORWARD/UNFORWARD exist, POST/UNPOST do not (no VT-d). */
	assert_int_equal(arm_set_attr(r.kv, KVM_DEV_VFIO_FILE, KVM_DEV_VFIO_FILE_ADD, &r.dev), 0);
	assert_fails(arm_set_attr(r.kv, KVM_DEV_VFIO_FILE, KVM_DEV_VFIO_FILE_ADD, &r.dev), EEXIST);
	assert_fails(arm_set_attr(r.kv, KVM_DEV_VFIO_FILE, KVM_DEV_VFIO_FILE_ADD, &r.trigger), EINVAL);
	assert_int_equal(arm_has_attr(r.kv, KVM_DEV_VFIO_DEVICE, KVM_DEV_VFIO_DEVICE_FORWARD_IRQ), 0);
	assert_int_equal(arm_has_attr(r.kv, KVM_DEV_VFIO_DEVICE, KVM_DEV_VFIO_DEVICE_UNFORWARD_IRQ), 0);
	assert_fails(arm_has_attr(r.kv, KVM_DEV_VFIO_DEVICE, KVM_DEV_VFIO_DEVICE_POST_IRQ), ENXIO);
	assert_fails(arm_has_attr(r.kv, KVM_DEV_VFIO_DEVICE, KVM_DEV_VFIO_DEVICE_UNPOST_IRQ), ENXIO);
	union {
		struct kvm_vfio_dev_irq h;
		uint8_t bytes[sizeof(struct kvm_vfio_dev_irq) + sizeof(uint32_t)];
	} post = { .h = { .argsz = sizeof(post), .fd = (uint32_t)r.dev, .index = VFIO_PCI_MSIX_IRQ_INDEX, .count = 1 } };
	assert_fails(arm_set_attr(r.kv, KVM_DEV_VFIO_DEVICE, KVM_DEV_VFIO_DEVICE_POST_IRQ, &post), ENXIO);
	struct kvm_arch_forwarded_irq f = { 0 };
	assert_fails(arm_get_attr(r.kv, KVM_DEV_VFIO_DEVICE, KVM_DEV_VFIO_DEVICE_FORWARD_IRQ, &f), EPERM);
	assert_int_equal(arm_set_attr(r.kv, KVM_DEV_VFIO_FILE, KVM_DEV_VFIO_FILE_DEL, &r.dev), 0);
	rig_close(&r);
}

/* ---- FORWARD_IRQ / UNFORWARD_IRQ errno ----------------------------------------------------------- */

static void test_forward_errno(void **state)
{
	(void)state;
	struct rig r;
	rig_open(&r, false);
	const uint64_t F = KVM_DEV_VFIO_DEVICE_FORWARD_IRQ, U = KVM_DEV_VFIO_DEVICE_UNFORWARD_IRQ;
	const uint32_t INTX = VFIO_PCI_INTX_IRQ_INDEX;

	/* EFAULT: no argument (after the attribute is known to exist). */
	assert_fails(arm_set_attr(r.kv, KVM_DEV_VFIO_DEVICE, F, NULL), EFAULT);
	assert_fails(arm_set_attr(r.kv, KVM_DEV_VFIO_DEVICE, U, NULL), EFAULT);
	/* EBADF: not open. EINVAL: open but not VFIO. */
	int closed = fx_closed_fd();
	assert_fails(fwd_attr(r.kv, F, closed, INTX, 0, GSI), EBADF);
	assert_fails(fwd_attr(r.kv, U, closed, INTX, 0, GSI), EBADF);
	assert_fails(fwd_attr(r.kv, F, r.trigger, INTX, 0, GSI), EINVAL);
	assert_fails(fwd_attr(r.kv, F, r.kv, INTX, 0, GSI), EINVAL); /* a virq handle, but not VFIO */
	/* EINVAL: no such IRQ (MSI-X, a second INTx subindex, an index beyond VFIO's; a function with no pin). */
	assert_fails(fwd_attr(r.kv, F, r.dev, VFIO_PCI_MSIX_IRQ_INDEX, 0, GSI), EINVAL);
	assert_fails(fwd_attr(r.kv, F, r.dev, INTX, 1, GSI), EINVAL);
	assert_fails(fwd_attr(r.kv, F, r.dev, 99, 0, GSI), EINVAL);
	struct virq_pci_function *nopin = legacy_fn("msix-only", 0, 4);
	int nopin_dev = virq_vfio_device_open(nopin);
	assert_fails(fwd_attr(r.kv, F, nopin_dev, INTX, 0, GSI), EINVAL);
	/* EINVAL: gsi too big (KVM_MAX_IRQ_ROUTES), or beyond the VM's SPIs (224 with the default NR_IRQS). */
	assert_fails(fwd_attr(r.kv, F, r.dev, INTX, 0, 4096), EINVAL);
	assert_fails(fwd_attr(r.kv, F, r.dev, INTX, 0, 224), EINVAL);
	assert_fails(fwd_attr(r.kv, U, r.dev, INTX, 0, 4096), EINVAL);
	/* ENOENT: not forwarded. */
	assert_fails(unforward(&r), ENOENT);
	assert_false(intx(&r).forwarded);

	/* Forwarded (the last SPI works too); EEXIST a second time, also through a dup of the descriptor. */
	assert_int_equal(fwd_attr(r.kv, F, r.dev, INTX, 0, 223), 0);
	assert_true(intx(&r).forwarded);
	assert_fails(fwd_attr(r.kv, F, r.dev, INTX, 0, 223), EEXIST);
	assert_fails(fwd_attr(r.kv, F, r.dev, INTX, 0, GSI), EEXIST);
	assert_int_equal(fwd_attr(r.kv, U, r.dev, INTX, 0, 0), 0); /* found by the line; the gsi is not used */
	assert_false(intx(&r).forwarded);
	assert_fails(fwd_attr(r.kv, U, r.dev, INTX, 0, 223), ENOENT);

	/* EBUSY: the SPI already forwards another line. */
	struct virq_pci_function *other = legacy_fn("legacy1", 2, 0);
	int other_dev = virq_vfio_device_open(other);
	assert_int_equal(forward(&r), 0);
	assert_fails(fwd_attr(r.kv, F, other_dev, INTX, 0, GSI), EBUSY);
	assert_int_equal(fwd_attr(r.kv, F, other_dev, INTX, 0, GSI + 1), 0);
	assert_int_equal(fwd_attr(r.kv, U, other_dev, INTX, 0, GSI + 1), 0);

	/* EBUSY: the line is forwarded by another VM's kvm-vfio device. */
	struct arm_vm b;
	arm_vm_open(&b, 1, false, NULL);
	int kv_b = kvm_vfio_create(b.vm);
	assert_true(kv_b >= 0);
	assert_fails(fwd_attr(kv_b, F, r.dev, INTX, 0, GSI), EBUSY);
	assert_int_equal(fwd_attr(kv_b, F, other_dev, INTX, 0, GSI), 0);
	assert_int_equal(virq_close(kv_b), 0); /* release unforwards */
	arm_vm_close(&b);

	assert_int_equal(virq_close(other_dev), 0);
	assert_int_equal(virq_pci_function_destroy(other), 0); /* unforwarded: nothing holds it any more */
	assert_int_equal(virq_close(nopin_dev), 0);
	assert_int_equal(virq_pci_function_destroy(nopin), 0);
	rig_close(&r);
}

/* The VFIO descriptor closed while its line is forwarded: the forward holds the device as Linux's
 * kvm-vfio holds the file, so the line keeps working and VFIO's release runs when the kvm-vfio device
 * lets go (its release unforwards through its own duplicate). */
static void test_vfio_closed_while_forwarded(void **state)
{
	(void)state;
	struct rig r;
	rig_open(&r, true);
	char *p = spi_program(false, false);
	assert_int_equal(virq_guest_load(r.a.vcpu[0], p), 0);
	assert_int_equal(fx_run_to_report(r.a.vcpu[0]), READY);
	assert_int_equal(forward(&r), 0);
	int user_dev = r.dev;
	r.dev = virq_vfio_device_open(r.fn); /* the VMM keeps another descriptor for BAR access */
	assert_int_equal(virq_close(user_dev), 0);
	assert_fails(fwd_attr(r.kv, KVM_DEV_VFIO_DEVICE_UNFORWARD_IRQ, user_dev, VFIO_PCI_INTX_IRQ_INDEX, 0, GSI),
		     EBADF);
	assert_int_equal(virq_pci_function_raise(r.fn, 0), 0);
	assert_int_equal(fx_run_to_report(r.a.vcpu[0]), INTID);
	ack_device(&r);
	assert_int_equal(fx_run_to_report(r.a.vcpu[0]), AFTER_EOIR);
	assert_int_equal(intx(&r).fwd_completions, 1);
	assert_false(intx(&r).active);
	/* Both descriptors closed: the device is still held by the forward. */
	assert_int_equal(virq_close(r.dev), 0);
	assert_int_equal(virq_pci_function_destroy(r.fn), -EBUSY);
	assert_true(intx(&r).forwarded);
	assert_int_equal(virq_close(r.kv), 0); /* unforwards, then VFIO's release runs */
	assert_false(intx(&r).forwarded);
	assert_int_equal(virq_pci_function_destroy(r.fn), 0);
	arm_vm_close(&r.a);
	close(r.trigger);
	close(r.unmask);
	free(p);
}

/* Forwarding needs a GIC to forward to; on x86 the attributes do not exist. */
static void test_forward_needs_an_initialised_vgic(void **state)
{
	(void)state;
	struct virq_pci_function *fn = legacy_fn("legacy0", 1, 0);
	int dev = virq_vfio_device_open(fn);
	assert_true(dev >= 0);

	/* x86: ENXIO, before the argument is looked at (ENXIO beats EFAULT). */
	int sys = fx_open_sys();
	int x86 = fx_create_vm(sys, FX_IRQCHIP | FX_NO_HALT_POLL);
	int kv = kvm_vfio_create(x86);
	assert_true(kv >= 0);
	assert_fails(arm_has_attr(kv, KVM_DEV_VFIO_DEVICE, KVM_DEV_VFIO_DEVICE_FORWARD_IRQ), ENXIO);
	assert_fails(arm_set_attr(kv, KVM_DEV_VFIO_DEVICE, KVM_DEV_VFIO_DEVICE_FORWARD_IRQ, NULL), ENXIO);
	assert_fails(fwd_attr(kv, KVM_DEV_VFIO_DEVICE_FORWARD_IRQ, dev, VFIO_PCI_INTX_IRQ_INDEX, 0, GSI), ENXIO);
	assert_fails(fwd_attr(kv, KVM_DEV_VFIO_DEVICE_UNFORWARD_IRQ, dev, VFIO_PCI_INTX_IRQ_INDEX, 0, GSI), ENXIO);
	CLOSE_ALL(sys, x86, kv);

	/* arm64 without a vGIC: ENXIO; with one not initialised yet: EBUSY (vgic_lazy_init on a GICv3). */
	sys = fx_open_sys();
	int vm = arm_create_vm(sys);
	int vcpu = fx_create_vcpu(vm, 0);
	kv = kvm_vfio_create(vm);
	assert_true(kv >= 0);
	assert_fails(fwd_attr(kv, KVM_DEV_VFIO_DEVICE_FORWARD_IRQ, dev, VFIO_PCI_INTX_IRQ_INDEX, 0, GSI), ENXIO);
	int gic = arm_create_device(vm, KVM_DEV_TYPE_ARM_VGIC_V3);
	assert_true(gic >= 0);
	assert_fails(fwd_attr(kv, KVM_DEV_VFIO_DEVICE_FORWARD_IRQ, dev, VFIO_PCI_INTX_IRQ_INDEX, 0, GSI), EBUSY);
	uint64_t addr = ARM_GICD;
	assert_int_equal(arm_set_attr(gic, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_DIST, &addr), 0);
	addr = ARM_GICR;
	assert_int_equal(arm_set_attr(gic, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_REDIST, &addr), 0);
	assert_int_equal(arm_set_attr(gic, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, NULL), 0);
	assert_int_equal(fwd_attr(kv, KVM_DEV_VFIO_DEVICE_FORWARD_IRQ, dev, VFIO_PCI_INTX_IRQ_INDEX, 0, GSI), 0);
	/* Closing the VM first: the kvm-vfio device keeps it; its release unforwards. */
	CLOSE_ALL(sys, vm, vcpu, gic);
	struct virq_vfio_intx_stats st;
	assert_int_equal(virq_vfio_intx_stats(fn, &st), 0);
	assert_true(st.forwarded);
	assert_int_equal(virq_close(kv), 0);
	assert_int_equal(virq_vfio_intx_stats(fn, &st), 0);
	assert_false(st.forwarded);
	assert_int_equal(virq_close(dev), 0);
	assert_int_equal(virq_pci_function_destroy(fn), 0);
}

/* ---- the EAGAIN rule ---------------------------------------------------------------------------- */

static void test_eagain_rule(void **state)
{
	(void)state;
	struct rig r;
	rig_open(&r, false); /* nobody reads the trigger: the host line's state is all that matters */

	/* Signalling set, the line active (fired, masked, not completed): EAGAIN, nothing changed. */
	assert_int_equal(virq_pci_function_raise(r.fn, 0), 0);
	struct virq_vfio_intx_stats st = intx(&r);
	assert_true(st.active);
	assert_true(st.masked);
	assert_int_equal(st.signals, 1);
	assert_fails(forward(&r), EAGAIN);
	assert_false(intx(&r).forwarded);
	assert_fails(unforward(&r), ENOENT);

	/* The VMM completes it (the driver serviced the device, then VFIO's unmask): not active any more,
	 * so forwarding works although signalling is set. */
	ack_device(&r);
	assert_int_equal(set_irqs(r.dev, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK,
				  VFIO_PCI_INTX_IRQ_INDEX, 1, 0), 0);
	assert_false(intx(&r).active);
	assert_int_equal(forward(&r), 0);
	assert_true(intx(&r).forwarded);

	/* Unforwarding works at any time: while active it completes the line. Serviced device: unmasked. */
	assert_int_equal(virq_pci_function_raise(r.fn, 0), 0);
	assert_true(intx(&r).active);
	ack_device(&r);
	assert_int_equal(unforward(&r), 0);
	st = intx(&r);
	assert_false(st.forwarded);
	assert_false(st.active);
	assert_false(st.masked);
	assert_int_equal(st.unforward_completions, 1);
	assert_int_equal(st.signals, 2);

	/* Device still asserting: unforward completes the line, which fires again (stays active, masked). */
	assert_int_equal(forward(&r), 0);
	assert_int_equal(virq_pci_function_raise(r.fn, 0), 0);
	assert_int_equal(unforward(&r), 0);
	st = intx(&r);
	assert_true(st.active);
	assert_true(st.masked);
	assert_int_equal(st.unforward_completions, 2);
	assert_int_equal(st.signals, 4); /* the fire and the re-fire */
	assert_fails(forward(&r), EAGAIN);

	/* Without signalling, an active line does not stop a forward (seed: forward before SET_IRQS). */
	assert_int_equal(set_irqs(r.dev, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
				  VFIO_PCI_INTX_IRQ_INDEX, 1, -1), 0);
	assert_true(intx(&r).active);
	assert_int_equal(forward(&r), 0);
	ack_device(&r);
	assert_int_equal(unforward(&r), 0); /* serviced: the completion unmasks */
	assert_false(intx(&r).active);
	assert_int_equal(intx(&r).unforward_completions, 3);
	/* The trigger comes back; forwarding before the next interrupt, as the seed advises. */
	assert_int_equal(set_irqs(r.dev, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
				  VFIO_PCI_INTX_IRQ_INDEX, 1, r.trigger), 0);
	assert_int_equal(forward(&r), 0);
	assert_int_equal(intx(&r).unmasks, 1); /* the one UNMASK ioctl above */
	assert_int_equal(intx(&r).fwd_completions, 0);
	rig_close(&r);
}

/* ---- a guest taking a forwarded level SPI ---------------------------------------------------------- */

static void check_forwarded_spi(bool eoimode1)
{
	struct rig r;
	rig_open(&r, true);
	char *p = spi_program(eoimode1, false);
	assert_int_equal(virq_guest_load(r.a.vcpu[0], p), 0);
	assert_int_equal(fx_run_to_report(r.a.vcpu[0]), READY);
	assert_int_equal(forward(&r), 0);

	/* The device raises; the host line fires (masked: active) and the SPI becomes pending. */
	assert_int_equal(virq_pci_function_raise(r.fn, 0), 0);
	assert_int_equal(fx_run_to_report(r.a.vcpu[0]), INTID);
	assert_true(intx(&r).active);
	ack_device(&r); /* the handler services the device */
	assert_int_equal(fx_run_to_report(r.a.vcpu[0]), AFTER_EOIR);
	struct virq_vfio_intx_stats st = intx(&r);
	if (eoimode1) {
		/* EOImode 1: the priority drop leaves the interrupt active, and the host line with it. */
		assert_true(st.active);
		assert_int_equal(st.fwd_completions, 0);
		assert_int_equal(fx_run_to_report(r.a.vcpu[0]), AFTER_DIR);
		st = intx(&r);
	}
	/* Deactivated (EOIR in EOImode 0, DIR in 1): the host line is completed by then, on the vCPU's
	 * thread, and not through the resamplefd: no unmask request, no resample. */
	assert_false(st.active);
	assert_false(st.masked);
	assert_int_equal(st.fwd_completions, 1);
	assert_int_equal(st.fwd_refires, 0);
	assert_int_equal(st.unmasks, 0);
	assert_int_equal(gsi_counts(&r).resamples, 0);
	assert_false(fx_readable_within(r.unmask, 0));

	/* A level line still high at deactivation fires again: the device is not serviced this time. */
	assert_int_equal(virq_pci_function_raise(r.fn, 0), 0);
	assert_int_equal(fx_run_to_report(r.a.vcpu[0]), INTID);
	assert_int_equal(fx_run_to_report(r.a.vcpu[0]), AFTER_EOIR);
	if (eoimode1)
		assert_int_equal(fx_run_to_report(r.a.vcpu[0]), AFTER_DIR);
	st = intx(&r);
	assert_int_equal(st.fwd_completions, 2);
	assert_int_equal(st.fwd_refires, 1);
	assert_true(st.active); /* signalled again, masked again */
	assert_int_equal(fx_run_to_report(r.a.vcpu[0]), INTID); /* pending again */
	ack_device(&r);
	assert_int_equal(fx_run_to_report(r.a.vcpu[0]), AFTER_EOIR);
	if (eoimode1)
		assert_int_equal(fx_run_to_report(r.a.vcpu[0]), AFTER_DIR);
	st = intx(&r);
	assert_false(st.active);
	assert_int_equal(st.fwd_completions, 3);
	assert_int_equal(st.signals, 3);
	assert_int_equal(st.unmasks, 0);
	assert_int_equal(gsi_counts(&r).resamples, 0);
	assert_int_equal(arm_intid_handled(r.a.vcpu[0], INTID), 3);

	/* Unforwarded, the same SPI is an ordinary one again: completion goes back through the
	 * resampler, the resamplefd and VFIO's unmask eventfd. */
	assert_int_equal(unforward(&r), 0);
	assert_int_equal(virq_pci_function_raise(r.fn, 0), 0);
	assert_int_equal(fx_run_to_report(r.a.vcpu[0]), INTID);
	ack_device(&r);
	assert_int_equal(fx_run_to_report(r.a.vcpu[0]), AFTER_EOIR);
	if (eoimode1)
		assert_int_equal(fx_run_to_report(r.a.vcpu[0]), AFTER_DIR);
	assert_true(wait_inactive(&r));
	st = intx(&r);
	assert_int_equal(st.fwd_completions, 3);
	assert_int_equal(st.unmasks, 1);
	assert_int_equal(gsi_counts(&r).resamples, 1);
	free(p);
	rig_close(&r);
}

static void test_forwarded_level_spi_eoimode0(void **state)
{
	(void)state;
	check_forwarded_spi(false);
}

static void test_forwarded_level_spi_eoimode1(void **state)
{
	(void)state;
	check_forwarded_spi(true);
}

/*
 * QEMU masks INTx around irqfd setup: a device that raises while the user masked the line is found
 * still asserting by the unmask, which signals the trigger and leaves the line masked. That line is
 * active (a regression: it was marked inactive, so the guest's deactivation found nothing to complete
 * and the line stayed masked for good, losing every later interrupt).
 */
static void test_user_mask_while_forwarded(void **state)
{
	(void)state;
	struct rig r;
	rig_open(&r, true);
	char *p = spi_program(false, false);
	assert_int_equal(virq_guest_load(r.a.vcpu[0], p), 0);
	assert_int_equal(fx_run_to_report(r.a.vcpu[0]), READY);
	assert_int_equal(forward(&r), 0);
	assert_int_equal(set_irqs(r.dev, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_MASK, VFIO_PCI_INTX_IRQ_INDEX,
				  1, 0), 0);
	assert_int_equal(virq_pci_function_raise(r.fn, 0), 0);
	assert_int_equal(set_irqs(r.dev, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK, VFIO_PCI_INTX_IRQ_INDEX,
				  1, 0), 0);
	struct virq_vfio_intx_stats st = intx(&r);
	assert_true(st.masked);
	assert_true(st.active);
	assert_int_equal(fx_run_to_report(r.a.vcpu[0]), INTID);
	ack_device(&r);
	assert_int_equal(fx_run_to_report(r.a.vcpu[0]), AFTER_EOIR);
	st = intx(&r);
	assert_false(st.masked);
	assert_false(st.active);
	assert_int_equal(st.fwd_completions, 1);
	assert_int_equal(st.fwd_stale, 0);
	/* The next interrupt gets through. */
	assert_int_equal(virq_pci_function_raise(r.fn, 0), 0);
	assert_int_equal(fx_run_to_report(r.a.vcpu[0]), INTID);
	ack_device(&r);
	assert_int_equal(fx_run_to_report(r.a.vcpu[0]), AFTER_EOIR);
	assert_int_equal(intx(&r).fwd_completions, 2);
	free(p);
	rig_close(&r);
}

/* GICD_ICPENDR on a forwarded SPI that is pending and inactive completes the physical line (KVM's
 * vgic_hw_irq_cpending), so a guest cannot leave it masked for ever. */
static void check_cpendr(uint32_t gsi)
{
	struct rig r;
	rig_open_at(&r, true, gsi);
	char *p = spi_program_at(gsi + 32, false, true);
	assert_int_equal(virq_guest_load(r.a.vcpu[0], p), 0);
	assert_int_equal(forward(&r), 0);
	assert_int_equal(fx_run_to_report(r.a.vcpu[0]), READY); /* IRQs masked from here to the sti */
	assert_int_equal(virq_pci_function_raise(r.fn, 0), 0);
	wait_raised(&r, 1); /* the irqfd made SPI 72 pending */
	ack_device(&r);
	assert_true(intx(&r).active);
	assert_int_equal(fx_run_to_report(r.a.vcpu[0]), AFTER_CPENDR);
	struct virq_vfio_intx_stats st = intx(&r);
	assert_false(st.active);
	assert_int_equal(st.fwd_completions, 1);
	assert_int_equal(arm_intid_handled(r.a.vcpu[0], gsi + 32), 0);
	free(p);
	rig_close(&r);
}

static void test_cpendr_completes_the_line(void **state)
{
	(void)state;
	check_cpendr(GSI);
	check_cpendr(959); /* the last SPI (INTID 991) of a VM with 960 */
}

/* ---- unforward in the middle of traffic ------------------------------------------------------------ */

struct traffic {
	struct rig *r;
	_Atomic bool stop;
	_Atomic uint64_t raises;
	_Atomic uint64_t reports;
	pthread_t vcpu, raiser;
	struct kvm_run *run;
	int last_errno;
};

/* The VMM's vCPU loop: each handler entry is a report of INTID 72, and the VMM services the device. */
static void *vcpu_loop(void *arg)
{
	struct traffic *t = arg;

	for (;;) {
		if (virq_ioctl(t->r->a.vcpu[0], KVM_RUN, 0) < 0) {
			t->last_errno = errno;
			return NULL;
		}
		if (t->run->exit_reason != KVM_EXIT_MMIO)
			return NULL;
		uint32_t v;
		memcpy(&v, t->run->mmio.data, sizeof(v));
		if (v == INTID) {
			uint64_t all = ~0ull;
			if (virq_vfio_region_write(t->r->dev, &all, 8, VIRQ_VFIO_REGION_OFFSET(0) + VIRQ_PCI_REG_ACK) != 8)
				abort();
			atomic_fetch_add(&t->reports, 1);
		}
	}
}

static void *raise_loop(void *arg)
{
	struct traffic *t = arg;

	while (!atomic_load(&t->stop)) {
		virq_pci_function_raise(t->r->fn, 0);
		atomic_fetch_add(&t->raises, 1);
		usleep(50);
	}
	return NULL;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void check_traffic(bool eoimode1, unsigned ms)
{
	struct rig r;
	struct traffic t = { .r = &r };
	rig_open(&r, true);
	char *p = spi_program(eoimode1, false);
	assert_int_equal(virq_guest_load(r.a.vcpu[0], p), 0);
	assert_int_equal(fx_run_to_report(r.a.vcpu[0]), READY);
	t.run = virq_vcpu_run_struct(r.a.vcpu[0]);
	signal(SIGUSR1, arm_on_stop_signal);
	assert_int_equal(pthread_create(&t.vcpu, NULL, vcpu_loop, &t), 0);
	assert_int_equal(pthread_create(&t.raiser, NULL, raise_loop, &t), 0);

	/* Forward and unforward every millisecond while the device raises every few tens of µs. */
	uint64_t end = now_ms() + ms, toggles = 0, eagain = 0;
	bool forwarded = false;
	while (now_ms() < end) {
		int ret = forwarded ? unforward(&r) : forward(&r);
		if (ret < 0) {
			assert_int_equal(errno, EAGAIN); /* forward while the line is active: retry soon */
			assert_false(forwarded);
			eagain++;
			usleep(20);
			continue;
		}
		forwarded = !forwarded;
		toggles++;
		usleep(1000);
	}
	atomic_store(&t.stop, true);
	pthread_join(t.raiser, NULL);

	/* No raise lost: every one that set the status bit is serviced (the bit clears, the line is
	 * completed) in whichever mode the line is left, and nothing stays active. */
	struct virq_pci_cause_stats cs = { 0 };
	bool settled = false;
	for (int i = 0; i < 50000 && !settled; i++) {
		assert_int_equal(virq_pci_function_cause_stats(r.fn, 0, &cs), 0);
		settled = !cs.status && !intx(&r).active;
		if (!settled)
			usleep(100);
	}
	__atomic_store_n(&t.run->immediate_exit, 1, __ATOMIC_RELAXED);
	pthread_kill(t.vcpu, SIGUSR1);
	pthread_join(t.vcpu, NULL);
	__atomic_store_n(&t.run->immediate_exit, 0, __ATOMIC_RELAXED);
	assert_int_equal(t.last_errno, EINTR);
	struct virq_vfio_intx_stats st = intx(&r);
	print_message("eoimode %d: %llu raises, %llu handled, %llu toggles (%llu EAGAIN), %llu direct completions "
		      "(%llu re-fires), %llu unmasks, %llu completed by unforward\n", eoimode1,
		      (unsigned long long)atomic_load(&t.raises), (unsigned long long)atomic_load(&t.reports),
		      (unsigned long long)toggles, (unsigned long long)eagain,
		      (unsigned long long)st.fwd_completions, (unsigned long long)st.fwd_refires,
		      (unsigned long long)st.unmasks, (unsigned long long)st.unforward_completions);
	assert_true(settled);
	assert_false(cs.status);
	assert_int_equal(cs.raised, atomic_load(&t.raises));
	assert_int_equal(cs.raised, cs.coalesced + cs.acked);
	assert_true(toggles >= 10);
	assert_true(st.fwd_completions > 0);
	assert_true(atomic_load(&t.reports) > 0);
	assert_int_equal(atomic_load(&t.reports), arm_intid_handled(r.a.vcpu[0], INTID));
	free(p);
	rig_close(&r);
}

static unsigned traffic_ms(void)
{
	return getenv("VIRQ_STRESS_LONG") ? 3000 : 400;
}

static void test_unforward_under_traffic_eoimode0(void **state)
{
	(void)state;
	check_traffic(false, traffic_ms());
}

static void test_unforward_under_traffic_eoimode1(void **state)
{
	(void)state;
	check_traffic(true, traffic_ms());
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kvm_vfio_device_on_arm64),
		cmocka_unit_test(test_forward_errno),
		cmocka_unit_test(test_forward_needs_an_initialised_vgic),
		cmocka_unit_test(test_vfio_closed_while_forwarded),
		cmocka_unit_test(test_eagain_rule),
		cmocka_unit_test(test_forwarded_level_spi_eoimode0),
		cmocka_unit_test(test_forwarded_level_spi_eoimode1),
		cmocka_unit_test(test_cpendr_completes_the_line),
		cmocka_unit_test(test_user_mask_while_forwarded),
		cmocka_unit_test(test_unforward_under_traffic_eoimode0),
		cmocka_unit_test(test_unforward_under_traffic_eoimode1),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
