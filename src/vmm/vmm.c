/* SPDX-License-Identifier: MIT */
/*
 * vmm.c - the reference VMM's life cycle: check a configuration and say what cannot be wired, build the
 * devices, the VM and its vCPUs, boot the guest, run guest actions, settle, report, tear down.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <virq/vcpu.h>
#include <virq/vm.h>

#include "vmm/vmm_internal.h"

#define VMM_BOOT_TIMEOUT_NS 5000000000ull
/* Boot programs every vector, and each one's route is a KVM_SET_GSI_ROUTING with a grace period. */
#define VMM_BOOT_TIMEOUT_PER_VECTOR_NS 10000000ull
#define VMM_ACTION_TIMEOUT_NS 2000000000ull

uint64_t vmm_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void vmm_emit(struct virq_vmm *vmm, enum virq_vmm_event_kind kind, uint64_t ns, unsigned device, unsigned source,
	      int vcpu)
{
	if (!vmm->event_fn)
		return;
	struct virq_vmm_event ev = { .kind = kind, .ns = ns, .device = device, .source = source, .vcpu = vcpu };
	vmm->event_fn(vmm->event_ctx, &ev);
}

void vmm_fail_run(struct virq_vmm *vmm, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&vmm->mailbox_lock);
	if (!atomic_load(&vmm->failed)) {
		va_start(ap, fmt);
		vsnprintf(vmm->failure, sizeof(vmm->failure), fmt, ap);
		va_end(ap);
		atomic_store_explicit(&vmm->failed, true, memory_order_release);
	}
	pthread_cond_broadcast(&vmm->mailbox_cond);
	pthread_mutex_unlock(&vmm->mailbox_lock);
}

static int vmm_fail(char *err, size_t err_len, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, err_len, fmt, ap);
	va_end(ap);
	return ret;
}

const char *virq_vmm_delivery_name(enum virq_vmm_delivery delivery)
{
	switch (delivery) {
	case VIRQ_VMM_DELIVERY_IRQFD:
		return "irqfd";
	case VIRQ_VMM_DELIVERY_RESAMPLE:
		return "resample";
	case VIRQ_VMM_DELIVERY_USERSPACE:
		return "userspace";
	case VIRQ_VMM_DELIVERY_POSTED:
		return "posted";
	case VIRQ_VMM_DELIVERY_REMAPPED:
		return "remapped";
	case VIRQ_VMM_DELIVERY_FORWARDED:
		return "forwarded";
	}
	return "?";
}

bool virq_vmm_delivery_intx(enum virq_vmm_delivery delivery)
{
	return delivery == VIRQ_VMM_DELIVERY_RESAMPLE || delivery == VIRQ_VMM_DELIVERY_FORWARDED;
}

const char *virq_vmm_device_name(const struct virq_vmm *vmm, unsigned device)
{
	return device < vmm->ndevices ? vmm->dev[device].cfg.name : NULL;
}

/* ---- checking a configuration ------------------------------------------------------------------------ */

static int vmm_check_device(const struct virq_vmm_config *cfg, unsigned d, char *err, size_t err_len)
{
	const struct virq_vmm_device_config *dev = &cfg->devices[d];
	bool msix = dev->msix_vectors > 0, intx = dev->intx_pin > 0;

	if (!dev->name[0])
		return vmm_fail(err, err_len, -EINVAL, "device %u has no name", d);
	for (unsigned e = 0; e < d; e++) {
		if (!strcmp(cfg->devices[e].name, dev->name))
			return vmm_fail(err, err_len, -EINVAL, "two devices are named %s", dev->name);
		if (cfg->devices[e].requester_id == dev->requester_id)
			return vmm_fail(err, err_len, -EINVAL, "devices %s and %s have the same PCI address",
					cfg->devices[e].name, dev->name);
	}
	if (dev->msix_vectors > VIRQ_VMM_MAX_VECTORS)
		return vmm_fail(err, err_len, -EINVAL, "device %s: %u MSI-X vectors (at most %u)", dev->name,
				dev->msix_vectors, VIRQ_VMM_MAX_VECTORS);
	if (dev->intx_pin > 4)
		return vmm_fail(err, err_len, -EINVAL, "device %s: INTx pin %u (A-D are 1-4)", dev->name,
				dev->intx_pin);
	if (!msix && !intx)
		return vmm_fail(err, err_len, -EINVAL, "device %s has neither MSI-X nor INTx", dev->name);
	if (msix && intx)
		return vmm_fail(err, err_len, -EINVAL,
				"device %s has both MSI-X and an INTx pin; its driver uses one: keep msix for MSI-X "
				"delivery, intx for resample", dev->name);
	if (dev->delivery > VIRQ_VMM_DELIVERY_FORWARDED)
		return vmm_fail(err, err_len, -EINVAL, "device %s: unknown delivery %d", dev->name,
				(int)dev->delivery);
	bool intx_delivery = virq_vmm_delivery_intx(dev->delivery);
	if (intx_delivery ? !intx : !msix)
		return vmm_fail(err, err_len, -EINVAL, "device %s: delivery %s needs %s", dev->name,
				virq_vmm_delivery_name(dev->delivery), intx_delivery ? "an INTx pin" : "MSI-X");
	/* Posting and the IOMMU that does it are VT-d's; an arm64 VM's MSIs go through its ITS instead. */
	if (vmm_delivery_bypass(dev->delivery) && cfg->arch == VIRQ_VMM_ARCH_ARM64)
		return vmm_fail(err, err_len, -EINVAL,
				"device %s: delivery %s needs VT-d interrupt remapping and posted interrupts: x86_64 only",
				dev->name, virq_vmm_delivery_name(dev->delivery));
	/* Forwarding makes the SPI a hardware-mapped vGIC interrupt; x86's IOAPIC has no such thing. */
	if (dev->delivery == VIRQ_VMM_DELIVERY_FORWARDED && cfg->arch != VIRQ_VMM_ARCH_ARM64)
		return vmm_fail(err, err_len, -EINVAL,
				"device %s: delivery forwarded needs an Arm GIC (hardware-mapped SPIs): arm64 only "
				"(use resample on x86_64)", dev->name);
	if ((dev->driver == VIRQ_VMM_DRIVER_NIC) != !intx_delivery)
		return vmm_fail(err, err_len, -EINVAL, "device %s: the %s driver does not drive %s delivery",
				dev->name, dev->driver == VIRQ_VMM_DRIVER_NIC ? "MSI-X" : "INTx",
				virq_vmm_delivery_name(dev->delivery));
	if (dev->retarget_ns && dev->driver != VIRQ_VMM_DRIVER_NIC)
		return vmm_fail(err, err_len, -EINVAL, "device %s: only MSI-X vectors can be retargeted", dev->name);
	unsigned nvec = dev->driver == VIRQ_VMM_DRIVER_NIC ? dev->msix_vectors : 1;
	for (unsigned k = 0; k < nvec; k++)
		if (dev->affinity[k] >= cfg->vcpus)
			return vmm_fail(err, err_len, -EINVAL, "device %s: vector %u targets vCPU %u (the VM has %u)",
					dev->name, k, dev->affinity[k], cfg->vcpus);
	return 0;
}

static int vmm_check_action(const struct virq_vmm_config *cfg, unsigned i, char *err, size_t err_len)
{
	const struct virq_vmm_action *a = &cfg->actions[i];

	if (a->device >= cfg->ndevices)
		return vmm_fail(err, err_len, -EINVAL, "action %u: no device %u", i, a->device);
	const struct virq_vmm_device_config *dev = &cfg->devices[a->device];
	if (a->vector >= dev->msix_vectors)
		return vmm_fail(err, err_len, -EINVAL, "action %u: device %s has no MSI-X vector %u", i, dev->name,
				a->vector);
	if (a->kind == VIRQ_VMM_ACTION_RETARGET && a->vcpu >= cfg->vcpus)
		return vmm_fail(err, err_len, -EINVAL, "action %u: vCPU %u does not exist (the VM has %u)", i,
				a->vcpu, cfg->vcpus);
	return 0;
}

static int vmm_check(const struct virq_vmm_config *cfg, char *err, size_t err_len)
{
	unsigned vectors = 0, intx = 0;
	int ret;

	if (cfg->arch != VIRQ_VMM_ARCH_X86_64 && cfg->arch != VIRQ_VMM_ARCH_ARM64)
		return vmm_fail(err, err_len, -EINVAL, "unknown architecture %d", (int)cfg->arch);
	/* Direct LPI injection is the GICv4's; x86's counterpart is posting (delivery POSTED). */
	if (cfg->gic_v4 && cfg->arch != VIRQ_VMM_ARCH_ARM64)
		return vmm_fail(err, err_len, -EINVAL,
				"a GICv4 (direct LPI injection) needs an arm64 VM (x86_64: use delivery posted)");
	if (cfg->vcpus < 1 || cfg->vcpus > VIRQ_VMM_MAX_VCPUS)
		return vmm_fail(err, err_len, -EINVAL, "%u vCPUs (1 to %u)", cfg->vcpus, VIRQ_VMM_MAX_VCPUS);
	if (cfg->ndevices > VIRQ_VMM_MAX_DEVICES)
		return vmm_fail(err, err_len, -EINVAL, "%u devices (at most %u)", cfg->ndevices,
				VIRQ_VMM_MAX_DEVICES);
	if (cfg->nactions > VIRQ_VMM_MAX_ACTIONS)
		return vmm_fail(err, err_len, -EINVAL, "%u guest actions (at most %u)", cfg->nactions,
				VIRQ_VMM_MAX_ACTIONS);
	for (unsigned d = 0; d < cfg->ndevices; d++) {
		ret = vmm_check_device(cfg, d, err, err_len);
		if (ret < 0)
			return ret;
		vectors += cfg->devices[d].msix_vectors + (cfg->devices[d].intx_pin ? 1 : 0);
		intx += cfg->devices[d].intx_pin ? 1 : 0;
	}
	if (intx > VMM_INTX_MAX)
		return vmm_fail(err, err_len, -EINVAL, "%u INTx devices, but the IOAPIC has %u free pins (16-23)",
				intx, VMM_INTX_MAX);
	/* arm64 gives each vector an LPI (8192 up), with room for every device's: only x86 runs out. */
	if (cfg->arch != VIRQ_VMM_ARCH_ARM64 && vectors > VMM_LAST_VECTOR - VMM_FIRST_VECTOR + 1)
		return vmm_fail(err, err_len, -EINVAL, "%u interrupt vectors, but a guest has only %u for devices",
				vectors, VMM_LAST_VECTOR - VMM_FIRST_VECTOR + 1);
	for (unsigned i = 0; i < cfg->nactions; i++) {
		ret = vmm_check_action(cfg, i, err, err_len);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* ---- building ---------------------------------------------------------------------------------------- */

static void vmm_device_observed(void *ctx, enum virq_pci_event event, unsigned cause, uint64_t ns)
{
	struct vmm_device *dev = ctx;

	if (event == VIRQ_PCI_EVENT_INTX_UNMASK) {
		vmm_emit(dev->vmm, VIRQ_VMM_EVENT_UNMASK, ns, dev->index, 0, -1);
		return;
	}
	/* A raise that set the status bit: it is seen here before its interrupt can reach a handler. */
	if (event == VIRQ_PCI_EVENT_RAISE)
		atomic_store(dev->cfg.msix_vectors ? &dev->vec[cause].waiting_since_ns : &dev->intx_waiting_since_ns,
			     ns);
	vmm_emit(dev->vmm, VIRQ_VMM_EVENT_RAISE, ns, dev->index, cause, -1);
}

/* Walk the capability list (through VFIO's config region) for MSI-X. */
static unsigned vmm_find_msix_cap(struct vmm_device *dev)
{
	uint8_t pos = 0, hdr[2];
	uint64_t config = VIRQ_VFIO_REGION_OFFSET(VFIO_PCI_CONFIG_REGION_INDEX);

	if (virq_vfio_region_read(dev->vfio, &pos, 1, config + 0x34) != 1)
		return 0;
	for (unsigned hops = 0; pos >= 0x40 && hops < 48; hops++) {
		if (virq_vfio_region_read(dev->vfio, hdr, 2, config + pos) != 2)
			return 0;
		if (hdr[0] == 0x11)
			return pos;
		pos = hdr[1];
	}
	return 0;
}

static int vmm_device_create(struct virq_vmm *vmm, unsigned d, char *err, size_t err_len)
{
	struct vmm_device *dev = &vmm->dev[d];
	const struct virq_vmm_device_config *cfg = &dev->cfg;
	struct virq_pci_function_desc desc = {
		.name = cfg->name,
		.requester_id = cfg->requester_id,
		.vendor_id = 0x1b36, /* the QEMU test-device vendor, as a stand-in */
		.device_id = 0x0100,
		.causes = cfg->msix_vectors ? cfg->msix_vectors : 1,
		.msix_vectors = cfg->msix_vectors,
		.msix_table_bar = cfg->msix_table_bar,
		.msix_table_offset = cfg->msix_table_offset,
		.msix_pba_bar = cfg->msix_pba_bar,
		.msix_pba_offset = cfg->msix_pba_offset,
		.intx_pin = cfg->intx_pin,
	};
	int ret = virq_pci_function_create(&desc, &dev->fn);

	if (ret < 0)
		return vmm_fail(err, err_len, ret, "device %s: the PCI function cannot be built (%s)", cfg->name,
				strerror(-ret));
	/* Behind the IOMMU before VFIO opens it, as the host sets up remapping before vfio-pci binds. */
	if ((ret = vmm_iommu_attach(dev, err, err_len)) < 0)
		return ret;
	dev->vfio = virq_vfio_device_open(dev->fn);
	if (dev->vfio < 0)
		return vmm_fail(err, err_len, dev->vfio, "device %s: VFIO: %s", cfg->name, strerror(-dev->vfio));
	for (unsigned bar = 0; bar < 6; bar++) {
		struct vfio_region_info info = { .argsz = sizeof(info), .index = VFIO_PCI_BAR0_REGION_INDEX + bar };
		if (virq_ioctl(dev->vfio, VFIO_DEVICE_GET_REGION_INFO, &info) < 0)
			return vmm_fail(err, err_len, -errno, "device %s: BAR %u: %s", cfg->name, bar, strerror(errno));
		if (info.size > VMM_BAR_WINDOW)
			return vmm_fail(err, err_len, -EINVAL, "device %s: BAR %u is %llu bytes (the VMM maps 64 KiB)",
					cfg->name, bar, (unsigned long long)info.size);
		dev->bar_size[bar] = info.size;
		dev->bar_gpa[bar] = VMM_BAR_BASE + d * VMM_DEVICE_WINDOW + bar * VMM_BAR_WINDOW;
	}
	if (cfg->msix_vectors) {
		dev->table_gpa = dev->bar_gpa[cfg->msix_table_bar] + cfg->msix_table_offset;
		dev->pba_gpa = dev->bar_gpa[cfg->msix_pba_bar] + cfg->msix_pba_offset;
		dev->msix_cap = vmm_find_msix_cap(dev);
		if (!dev->msix_cap)
			return vmm_fail(err, err_len, -ENODEV, "device %s: no MSI-X capability", cfg->name);
	}
	virq_pci_function_observe(dev->fn, vmm_device_observed, dev);
	return 0;
}

static int vmm_vm_create(struct virq_vmm *vmm, char *err, size_t err_len)
{
	struct kvm_enable_cap poll = { .cap = KVM_CAP_HALT_POLL, .args = { vmm->cfg.halt_poll_ns } };
	struct kvm_enable_cap direct = { .cap = KVM_CAP_VIRQ_ARM_DIRECT_LPI, .args = { 1 } };
	struct kvm_mp_state runnable = { .mp_state = KVM_MP_STATE_RUNNABLE };

	vmm->sys = virq_open();
	vmm->vm = vmm->sys < 0 ? -1 : virq_ioctl(vmm->sys, KVM_CREATE_VM, vmm->arm ? VIRQ_VM_TYPE_ARM64 : 0);
	/* arm64 has no KVM_CREATE_IRQCHIP: its vGIC is a device, made once the vCPUs exist (arm.c). */
	if (vmm->vm < 0 || (!vmm->arm && virq_ioctl(vmm->vm, KVM_CREATE_IRQCHIP, 0) < 0) ||
	    virq_ioctl(vmm->vm, KVM_ENABLE_CAP, &poll) < 0)
		return vmm_fail(err, err_len, -errno, "creating the VM: %s", strerror(errno));
	/* A GICv4 host: the VM's VFIO MSIs may go straight into its LPIs (off by default, as in Linux). */
	if (vmm->cfg.gic_v4 && virq_ioctl(vmm->vm, KVM_ENABLE_CAP, &direct) < 0)
		return vmm_fail(err, err_len, -errno, "enabling direct LPI injection (KVM_CAP_VIRQ_ARM_DIRECT_LPI): %s",
				strerror(errno));
	vmm->engine = virq_vm_of_fd(vmm->vm);
	for (unsigned i = 0; i < vmm->cfg.vcpus; i++) {
		struct vmm_vcpu *vcpu = &vmm->vcpu[i];
		vcpu->vmm = vmm;
		vcpu->id = i;
		vcpu->reading_device = -1;
		vcpu->fd = virq_ioctl(vmm->vm, KVM_CREATE_VCPU, i);
		/* x86 application processors wait for an INIT-SIPI; arm64 vCPUs come up running. */
		if (vcpu->fd < 0 || !(vcpu->run = virq_vcpu_run_struct(vcpu->fd)) ||
		    (i > 0 && !vmm->arm && virq_ioctl(vcpu->fd, KVM_SET_MP_STATE, &runnable) < 0))
			return vmm_fail(err, err_len, -errno, "creating vCPU %u: %s", i, strerror(errno));
	}
	return vmm->arm ? vmm_arm_vm_create(vmm, err, err_len) : 0;
}

/*
 * Give every source its GSI and guest vector (x86) or LPI (arm64), and every retargeting device its
 * rotation actions.
 */
static int vmm_assign(struct virq_vmm *vmm, char *err, size_t err_len)
{
	unsigned gsi = VMM_MSI_GSI_BASE, vector = VMM_FIRST_VECTOR, intx = 0, lpi = VMM_ARM_LPI_BASE;

	memcpy(vmm->actions, vmm->cfg.actions, vmm->cfg.nactions * sizeof(vmm->actions[0]));
	vmm->nactions = vmm->cfg.nactions;
	for (unsigned d = 0; d < vmm->ndevices; d++) {
		struct vmm_device *dev = &vmm->dev[d];
		for (unsigned k = 0; k < dev->cfg.msix_vectors; k++) {
			dev->vec[k].gsi = gsi++;
			dev->vec[k].guest_vector = (uint8_t)vector++;
			dev->vec[k].lpi = lpi++;
		}
		if (dev->cfg.intx_pin) {
			dev->intx_gsi = VMM_INTX_GSI_BASE + intx++;
			dev->intx_vector = (uint8_t)vector++;
		}
		if (!dev->cfg.retarget_ns)
			continue;
		if (vmm->nactions + vmm->cfg.vcpus > VIRQ_VMM_MAX_ACTIONS * 2)
			return vmm_fail(err, err_len, -EINVAL, "device %s: too many guest actions to retarget it",
					dev->cfg.name);
		vmm->rotation_base[d] = vmm->nactions;
		for (unsigned r = 0; r < vmm->cfg.vcpus; r++)
			vmm->actions[vmm->nactions++] = (struct virq_vmm_action){
				.kind = VIRQ_VMM_ACTION_RETARGET, .device = d, .vcpu = r,
			};
	}
	return 0;
}

static int vmm_load_guest(struct virq_vmm *vmm, char *err, size_t err_len)
{
	vmm->program = vmm_guest_program(vmm);
	if (!vmm->program)
		return vmm_fail(err, err_len, -ENOMEM, "generating the guest program: out of memory");
	for (unsigned i = 0; i < vmm->cfg.vcpus; i++)
		if (virq_guest_load(vmm->vcpu[i].fd, vmm->program) < 0)
			/* Its size grows with vectors x rotation vCPUs: say so, the usual reason it fails. */
			return vmm_fail(err, err_len, -errno, "the generated guest (%zu bytes) does not load: %s",
					strlen(vmm->program), virq_guest_last_error());
	return 0;
}

int virq_vmm_create(const struct virq_vmm_config *config, struct virq_vmm **out, char *err, size_t err_len)
{
	struct virq_vmm *vmm;
	int ret = vmm_check(config, err, err_len);

	if (ret < 0)
		return ret;
	vmm = calloc(1, sizeof(*vmm));
	if (!vmm || !(vmm->dev = calloc(config->ndevices ? config->ndevices : 1, sizeof(*vmm->dev)))) {
		free(vmm);
		return vmm_fail(err, err_len, -ENOMEM, "out of memory");
	}
	vmm->cfg = *config;
	vmm->arm = config->arch == VIRQ_VMM_ARCH_ARM64;
	vmm->ndevices = config->ndevices;
	vmm->sys = vmm->vm = vmm->gic = vmm->its = vmm->kvm_vfio = -1;
	for (unsigned i = 0; i < VIRQ_VMM_MAX_VCPUS; i++)
		vmm->vcpu[i].fd = -1;
	pthread_mutex_init(&vmm->routes_lock, NULL);
	pthread_mutex_init(&vmm->mailbox_lock, NULL);
	pthread_mutex_init(&vmm->action_lock, NULL);
	pthread_condattr_t monotonic;
	pthread_condattr_init(&monotonic);
	pthread_condattr_setclock(&monotonic, CLOCK_MONOTONIC); /* vmm_wait()'s deadlines */
	pthread_cond_init(&vmm->mailbox_cond, &monotonic);
	pthread_condattr_destroy(&monotonic);
	vmm->watch_epfd = epoll_create1(EPOLL_CLOEXEC);
	vmm->watch_stop = eventfd(0, EFD_CLOEXEC);
	for (unsigned d = 0; d < vmm->ndevices; d++) {
		struct vmm_device *dev = &vmm->dev[d];
		dev->vmm = vmm;
		dev->index = d;
		dev->cfg = config->devices[d];
		dev->vfio = dev->intx_trigger = dev->intx_unmask = -1;
		pthread_mutex_init(&dev->lock, NULL);
		for (unsigned k = 0; k < VIRQ_VMM_MAX_VECTORS; k++)
			dev->vec[k].trigger = -1;
	}
	*out = vmm;
	if (vmm->watch_epfd < 0 || vmm->watch_stop < 0)
		ret = vmm_fail(err, err_len, -errno, "epoll: %s", strerror(errno));
	if (ret == 0)
		ret = vmm_vm_create(vmm, err, err_len);
	for (unsigned d = 0; d < vmm->ndevices && ret == 0; d++)
		ret = vmm_device_create(vmm, d, err, err_len);
	if (ret == 0)
		ret = vmm_assign(vmm, err, err_len);
	if (ret == 0)
		ret = vmm_routes_commit(vmm);
	/*
	 * The kvm-vfio device, REMAPPED's overrides and FORWARDED's forwards before any irqfd or VFIO trigger:
	 * the engine's first bypass decision is the right one, and a line is forwarded while it cannot be
	 * active (the EAGAIN rule, docs/forwarding.md).
	 */
	for (unsigned d = 0; d < vmm->ndevices && ret == 0; d++)
		ret = vmm_kvm_vfio_add(&vmm->dev[d], err, err_len);
	for (unsigned d = 0; d < vmm->ndevices && ret == 0; d++) {
		struct vmm_device *dev = &vmm->dev[d];
		ret = dev->cfg.msix_vectors ? vmm_msix_init(dev, err, err_len) : 0;
		if (ret == 0 && dev->cfg.intx_pin && virq_vmm_delivery_intx(dev->cfg.delivery))
			ret = vmm_intx_init(dev, err, err_len);
	}
	if (ret == 0)
		ret = vmm_load_guest(vmm, err, err_len);
	if (ret < 0) {
		virq_vmm_destroy(vmm);
		*out = NULL;
	}
	return ret;
}

/* ---- running ----------------------------------------------------------------------------------------- */

static int vmm_wait(struct virq_vmm *vmm, bool (*done)(struct virq_vmm *), uint64_t timeout_ns)
{
	struct timespec deadline;
	int ret = 0;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += (time_t)(timeout_ns / 1000000000ull);
	deadline.tv_nsec += (long)(timeout_ns % 1000000000ull);
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	while (!done(vmm) && !atomic_load(&vmm->failed) && ret == 0)
		ret = pthread_cond_timedwait(&vmm->mailbox_cond, &vmm->mailbox_lock, &deadline);
	if (atomic_load(&vmm->failed))
		return -EIO;
	return done(vmm) ? 0 : -ETIMEDOUT;
}

static bool vmm_all_ready(struct virq_vmm *vmm)
{
	return vmm->ready_vcpus == vmm->cfg.vcpus;
}

static bool vmm_action_done(struct virq_vmm *vmm)
{
	return vmm->mailbox_done;
}

const char *virq_vmm_failure(const struct virq_vmm *vmm)
{
	/* The text is written before the flag is released and never again. */
	return atomic_load_explicit(&vmm->failed, memory_order_acquire) ? vmm->failure : NULL;
}

int virq_vmm_guest_action(struct virq_vmm *vmm, unsigned index)
{
	struct kvm_msi msi = { .address_lo = 0xfee00000u, .data = VMM_ACTION_VECTOR }; /* to vCPU 0 */
	int ret;

	if (index >= vmm->nactions)
		return -EINVAL;
	pthread_mutex_lock(&vmm->action_lock);
	pthread_mutex_lock(&vmm->mailbox_lock);
	vmm->mailbox_action = index + 1;
	vmm->mailbox_done = false;
	pthread_mutex_unlock(&vmm->mailbox_lock);
	if (vmm->arm) {
		vmm_arm_action_targets(vmm, &vmm->actions[index], false);
		ret = vmm_arm_request_action(vmm);
	} else {
		ret = virq_ioctl(vmm->vm, KVM_SIGNAL_MSI, &msi) < 0 ? -errno : 0;
	}
	pthread_mutex_lock(&vmm->mailbox_lock);
	if (ret == 0)
		ret = vmm_wait(vmm, vmm_action_done, VMM_ACTION_TIMEOUT_NS);
	vmm->mailbox_action = 0;
	pthread_mutex_unlock(&vmm->mailbox_lock);
	if (vmm->arm)
		vmm_arm_action_targets(vmm, &vmm->actions[index], true);
	pthread_mutex_unlock(&vmm->action_lock);
	return ret;
}

/* Rotates each retargeting device's vectors one vCPU on, every retarget_ns, through the guest. */
static void *vmm_retarget_main(void *arg)
{
	struct virq_vmm *vmm = arg;
	uint64_t next[VIRQ_VMM_MAX_DEVICES] = { 0 };
	unsigned rotation[VIRQ_VMM_MAX_DEVICES] = { 0 };
	uint64_t start = vmm_now_ns();

	for (unsigned d = 0; d < vmm->ndevices; d++)
		next[d] = start + vmm->dev[d].cfg.retarget_ns;
	while (!atomic_load(&vmm->retarget_stop)) {
		uint64_t now = vmm_now_ns();
		for (unsigned d = 0; d < vmm->ndevices; d++) {
			if (!vmm->dev[d].cfg.retarget_ns || now < next[d])
				continue;
			rotation[d] = (rotation[d] + 1) % vmm->cfg.vcpus;
			int ret = virq_vmm_guest_action(vmm, vmm->rotation_base[d] + rotation[d]);
			if (ret < 0) {
				vmm_fail_run(vmm, "retargeting %s: the guest did not run the rotation: %s",
					     vmm->dev[d].cfg.name, strerror(-ret));
				return NULL;
			}
			next[d] = now + vmm->dev[d].cfg.retarget_ns;
		}
		struct timespec tick = { .tv_nsec = 200000 };
		nanosleep(&tick, NULL);
	}
	return NULL;
}

int virq_vmm_start(struct virq_vmm *vmm)
{
	bool retarget = false;
	int ret = vmm_watcher_start(vmm);

	if (ret == 0)
		ret = vmm_vcpus_start(vmm);
	if (ret < 0)
		return ret;
	pthread_mutex_lock(&vmm->mailbox_lock);
	uint64_t vectors = 0;
	for (unsigned d = 0; d < vmm->ndevices; d++)
		vectors += vmm->dev[d].cfg.msix_vectors;
	ret = vmm_wait(vmm, vmm_all_ready, VMM_BOOT_TIMEOUT_NS + vectors * VMM_BOOT_TIMEOUT_PER_VECTOR_NS);
	pthread_mutex_unlock(&vmm->mailbox_lock);
	if (ret < 0)
		return ret;
	vmm->start_ns = vmm_now_ns();
	for (unsigned d = 0; d < vmm->ndevices; d++)
		retarget |= vmm->dev[d].cfg.retarget_ns != 0;
	if (retarget) {
		ret = -pthread_create(&vmm->retarget_thread, NULL, vmm_retarget_main, vmm);
		vmm->retarget_started = ret == 0;
	}
	return ret;
}

void virq_vmm_set_event_handler(struct virq_vmm *vmm, virq_vmm_event_fn *fn, void *ctx)
{
	vmm->event_fn = fn;
	vmm->event_ctx = ctx;
}

static bool vmm_has_traffic(const struct virq_traffic *t)
{
	return t->rate > 0 || t->pattern == VIRQ_TRAFFIC_STORM;
}

int virq_vmm_traffic_start(struct virq_vmm *vmm)
{
	for (unsigned d = 0; d < vmm->ndevices; d++) {
		struct vmm_device *dev = &vmm->dev[d];
		if (!vmm_has_traffic(&dev->cfg.traffic))
			continue;
		int ret = virq_pci_function_traffic_start(dev->fn, &dev->cfg.traffic);
		if (ret < 0)
			return ret;
	}
	return 0;
}

void virq_vmm_traffic_stop(struct virq_vmm *vmm)
{
	for (unsigned d = 0; d < vmm->ndevices; d++)
		if (vmm->dev[d].fn)
			virq_pci_function_traffic_stop(vmm->dev[d].fn);
}

int virq_vmm_raise(struct virq_vmm *vmm, unsigned device, unsigned cause)
{
	if (device >= vmm->ndevices)
		return -EINVAL;
	return virq_pci_function_raise(vmm->dev[device].fn, cause);
}

/*
 * Is the guest holding @cause back on purpose (masked, its message in a pending bit)? A masked vector
 * whose message is nowhere to be found is not pending: it was lost.
 */
static bool vmm_source_held(struct vmm_device *dev, unsigned cause)
{
	return dev->cfg.msix_vectors && vmm_msix_held(dev, cause);
}

static bool vmm_settled(struct virq_vmm *vmm)
{
	for (unsigned d = 0; d < vmm->ndevices; d++) {
		struct vmm_device *dev = &vmm->dev[d];
		unsigned causes = dev->cfg.msix_vectors ? dev->cfg.msix_vectors : 1;
		for (unsigned c = 0; c < causes; c++) {
			struct virq_pci_cause_stats st;
			if (virq_pci_function_cause_stats(dev->fn, c, &st) == 0 && st.status &&
			    !vmm_source_held(dev, c))
				return false;
		}
	}
	return true;
}

int virq_vmm_settle(struct virq_vmm *vmm, uint64_t timeout_ns)
{
	uint64_t deadline = vmm_now_ns() + timeout_ns;

	while (!vmm_settled(vmm)) {
		if (atomic_load(&vmm->failed))
			return -EIO;
		if (vmm_now_ns() >= deadline)
			return -ETIMEDOUT;
		struct timespec tick = { .tv_nsec = 1000000 };
		nanosleep(&tick, NULL);
	}
	return 0;
}

static void vmm_report_source(struct vmm_device *dev, unsigned cause, struct virq_vmm_source_report *row)
{
	struct virq_pci_cause_stats st = { 0 };

	virq_pci_function_cause_stats(dev->fn, cause, &st);
	memset(row, 0, sizeof(*row));
	row->device = dev->index;
	row->source = cause;
	row->intx = dev->cfg.msix_vectors == 0;
	row->raised = st.raised;
	row->delivered = st.acked;
	row->coalesced = st.coalesced;
	row->pending = st.status && vmm_source_held(dev, cause) ? 1 : 0;
	uint64_t accounted = row->delivered + row->coalesced + row->pending;
	row->lost = row->raised > accounted ? row->raised - accounted : 0;
	row->p50_ns = st.latency_p50_ns;
	row->p99_ns = st.latency_p99_ns;
	row->max_ns = st.latency_max_ns;
	for (unsigned c = 0; c < dev->vmm->cfg.vcpus; c++)
		row->per_vcpu[c] = row->intx ? atomic_load(&dev->intx_per_vcpu[c])
					     : atomic_load(&dev->vec[cause].per_vcpu[c]);
	row->handler_runs = row->intx ? atomic_load(&dev->intx_handler_runs)
				      : atomic_load(&dev->vec[cause].handler_runs);
	row->stale = row->intx ? 0 : atomic_load(&dev->vec[cause].stale);
}

struct virq_vmm_report *virq_vmm_report(struct virq_vmm *vmm)
{
	unsigned n = 0;

	for (unsigned d = 0; d < vmm->ndevices; d++)
		n += vmm->dev[d].cfg.msix_vectors ? vmm->dev[d].cfg.msix_vectors : 1;
	struct virq_vmm_report *r = calloc(1, sizeof(*r) + n * sizeof(r->sources[0]));
	if (!r)
		return NULL;
	r->vcpus = vmm->cfg.vcpus;
	r->elapsed_ns = vmm->start_ns ? vmm_now_ns() - vmm->start_ns : 0;
	r->exits = atomic_load(&vmm->exits);
	for (unsigned i = 0; i < vmm->cfg.vcpus; i++) {
		struct virq_vcpu *vcpu = virq_vcpu_of_fd(vmm->vcpu[i].fd);
		r->spurious_eoi[i] = vcpu ? virq_vcpu_spurious_eoi(vcpu) : 0;
	}
	vmm_iommu_report(vmm, r);
	vmm_intx_report(vmm, r);
	vmm_arm_report(vmm, r);
	for (unsigned d = 0; d < vmm->ndevices; d++) {
		struct vmm_device *dev = &vmm->dev[d];
		unsigned causes = dev->cfg.msix_vectors ? dev->cfg.msix_vectors : 1;
		for (unsigned c = 0; c < causes; c++)
			vmm_report_source(dev, c, &r->sources[r->nsources++]);
	}
	return r;
}

/* ---- stopping ---------------------------------------------------------------------------------------- */

void virq_vmm_stop(struct virq_vmm *vmm)
{
	if (vmm->retarget_started) {
		atomic_store(&vmm->retarget_stop, true);
		pthread_join(vmm->retarget_thread, NULL);
		vmm->retarget_started = false;
	}
	virq_vmm_traffic_stop(vmm);
	vmm_vcpus_stop(vmm);
	vmm_watcher_stop(vmm);
}

void virq_vmm_destroy(struct virq_vmm *vmm)
{
	if (!vmm)
		return;
	virq_vmm_stop(vmm);
	/*
	 * Consumers before producers, as KVM and VFIO release them: every irqfd first (a paired vector goes
	 * back to remapped; a forwarded INTx line is unforwarded just before its irqfd goes), then the
	 * kvm-vfio device (its overrides, its hold on the VFIO descriptors), then the VFIO descriptors and the
	 * functions, and the IOMMU once no function is attached (iommu.c, kvm_vfio.c).
	 */
	for (unsigned d = 0; d < vmm->ndevices; d++) {
		struct vmm_device *dev = &vmm->dev[d];
		if (dev->cfg.msix_vectors)
			vmm_msix_teardown(dev);
		vmm_intx_teardown(dev);
	}
	vmm_kvm_vfio_release(vmm);
	for (unsigned d = 0; d < vmm->ndevices; d++) {
		struct vmm_device *dev = &vmm->dev[d];
		if (dev->vfio >= 0)
			virq_close(dev->vfio);
		if (dev->fn)
			virq_pci_function_destroy(dev->fn);
		pthread_mutex_destroy(&dev->lock);
	}
	vmm_iommu_release(vmm);
	for (unsigned i = 0; i < vmm->cfg.vcpus; i++)
		if (vmm->vcpu[i].fd >= 0)
			virq_close(vmm->vcpu[i].fd);
	vmm_arm_vm_destroy(vmm);
	if (vmm->vm >= 0)
		virq_close(vmm->vm);
	if (vmm->sys >= 0)
		virq_close(vmm->sys);
	if (vmm->watch_epfd >= 0)
		close(vmm->watch_epfd);
	if (vmm->watch_stop >= 0)
		close(vmm->watch_stop);
	if (vmm->ram)
		munmap(vmm->ram, VMM_ARM_RAM_SIZE); /* after the VM: nothing reads the tables any more */
	free(vmm->program);
	free(vmm->dev);
	free(vmm);
}
