/* SPDX-License-Identifier: MIT */
/*
 * load.c - loading a scenario file: read it, map its lines (linemap.c), load it against the schema
 * (schema.c), then convert the plain data into a struct virq_vmm_config, steps and expectations while
 * checking every range and every piece of wiring, each mistake reported at its line.
 *
 * Checks happen here, not in the VMM, because only here is the line known; the order follows the file
 * (vm, devices, guest, run, steps, expect) so the first error a user sees is the first one in the file.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenario/internal.h"

#define NS_PER_US 1000ull
#define NS_PER_MS 1000000ull
#define NS_PER_S 1000000000ull

#define DEFAULT_HANDLER_NS NS_PER_US
#define MAX_HANDLER_NS NS_PER_S
#define MAX_HALT_POLL_NS NS_PER_S
#define MAX_RATE 10000000ull       /* raises per second per device */
#define MAX_BURST 1000000ull
#define MAX_MSIX_OFFSET 0xffff8ull /* within a 1 MiB BAR */
#define MAX_STEPS 100000u

struct loader {
	const char *name;
	const struct virq_linemap *lm;
	char *err;
	size_t err_len;
	struct virq_scenario *sc;
	const struct virq_sy_scenario *sy;
};

static int fail(struct loader *ld, const char *path, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct loader *ld, const char *path, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	virq_scenario_vfail(ld->err, ld->err_len, ld->name, ld->lm, path, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* The key as a message names it: the last component of its path ("rate", "affinity[2]"). */
static const char *label(const char *path)
{
	const char *dot = strrchr(path, '.');
	return dot ? dot + 1 : path;
}

/* ---- scalars with ranges (absent: the default) ---- */

static int count_in(struct loader *ld, const char *path, const char *text, uint64_t def, uint64_t min,
                    uint64_t max, uint64_t *out)
{
	if (!text) {
		*out = def;
		return 0;
	}
	if (virq_parse_count(text, out))
		return fail(ld, path, "%s: '%s' is not a number (expected e.g. %llu)", label(path), text,
		            (unsigned long long)(min ? min : max < 8 ? max : 8));
	if (*out < min || *out > max)
		return fail(ld, path, "%s: %s is out of range (%llu..%llu)", label(path), text, (unsigned long long)min,
		            (unsigned long long)max);
	return 0;
}

static int unsigned_in(struct loader *ld, const char *path, const char *text, unsigned def, unsigned min,
                       unsigned max, unsigned *out)
{
	uint64_t v;
	int r = count_in(ld, path, text, def, min, max, &v);
	*out = (unsigned)v;
	return r;
}

static int duration_in(struct loader *ld, const char *path, const char *text, uint64_t def, uint64_t min,
                       uint64_t max, uint64_t *out)
{
	char lo[32], hi[32];
	if (!text) {
		*out = def;
		return 0;
	}
	if (virq_parse_duration(text, out))
		return fail(ld, path, "%s: '%s' is not a duration (expected e.g. 3s, 500ms, 2us)", label(path), text);
	if (*out < min || *out > max) {
		virq_format_duration(min, lo, sizeof(lo));
		virq_format_duration(max, hi, sizeof(hi));
		return fail(ld, path, "%s: %s is out of range (%s..%s)", label(path), text, min ? lo : "0", hi);
	}
	return 0;
}

static int bool_of(struct loader *ld, const char *path, const char *text, bool *out)
{
	if (!text) {
		*out = false;
		return 0;
	}
	if (virq_parse_bool(text, out))
		return fail(ld, path, "%s: '%s' is not a boolean (expected true or false)", label(path), text);
	return 0;
}

/* ---- vm ---- */

static int load_vm(struct loader *ld)
{
	const struct virq_sy_vm *vm = ld->sy->vm;
	struct virq_vmm_config *cfg = &ld->sc->vmm;

	/* arm64: a vGICv3 with an ITS; every device feature of x86 has its Arm wiring (src/vmm/vmm.h). */
	cfg->arch = vm->arch == VIRQ_SY_ARCH_ARM64 ? VIRQ_VMM_ARCH_ARM64 : VIRQ_VMM_ARCH_X86_64;
	ld->sc->arch = cfg->arch == VIRQ_VMM_ARCH_ARM64 ? "arm64" : "x86_64";
	cfg->msix_table_in_vmm = vm->msix_table == VIRQ_SY_MSIX_TABLE_VMM;
	/* The host's GIC: v4 injects VFIO MSIs straight into the VM's LPIs (KVM_CAP_VIRQ_ARM_DIRECT_LPI). */
	if (vm->gic && cfg->arch != VIRQ_VMM_ARCH_ARM64)
		return fail(ld, "vm.gic", "gic applies to arm64 VMs (this one is x86_64, with a local APIC and an "
		            "IOAPIC; its MSIs skip the eventfd with delivery posted)");
	cfg->gic_v4 = vm->gic == VIRQ_SY_GIC_V4;
	if (unsigned_in(ld, "vm.vcpus", vm->vcpus, 1, 1, VIRQ_VMM_MAX_VCPUS, &cfg->vcpus))
		return -EINVAL;
	return duration_in(ld, "vm.halt_poll", vm->halt_poll, 0, 0, MAX_HALT_POLL_NS, &cfg->halt_poll_ns);
}

/* ---- devices ---- */

/* A device's causes: its MSI-X vectors when it delivers through them, else its one INTx line. */
static unsigned causes_of(const struct virq_vmm_device_config *d)
{
	return virq_vmm_delivery_intx(d->delivery) ? 1 : d->msix_vectors;
}

static int check_name(struct loader *ld, const char *path, const char *name, unsigned index)
{
	static const char *const reserved[] = { "latency", "not", "balanced" };
	size_t n = strlen(name);
	bool ok = n > 0 && n < VIRQ_VMM_NAME_MAX && !(name[0] >= '0' && name[0] <= '9') && name[0] != '-';
	for (size_t i = 0; ok && i < n; i++)
		ok = (name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
		     (name[i] >= '0' && name[i] <= '9') || name[i] == '_' || name[i] == '-';
	if (!ok)
		return fail(ld, path, "name: '%s' is not a device name (letters, digits, '_' and '-', at most %d, "
		                      "not starting with a digit)", name, VIRQ_VMM_NAME_MAX - 1);
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (!strcmp(name, reserved[i]))
			return fail(ld, path, "name: '%s' is a word of the expectation language; choose another", name);
	for (unsigned i = 0; i < index; i++)
		if (!strcmp(ld->sc->vmm.devices[i].name, name))
			return fail(ld, path, "device name '%s' is used twice (devices[%u] and devices[%u])", name, i, index);
	return 0;
}

static int load_bar(struct loader *ld, const char *msix_path, const char *which, const struct virq_sy_bar *sy,
                    unsigned def_offset, unsigned *bar, uint32_t *offset)
{
	char path[96];
	uint64_t off;
	snprintf(path, sizeof(path), "%s.%s.bar", msix_path, which);
	if (unsigned_in(ld, path, sy ? sy->bar : NULL, 2, 0, 5, bar))
		return -EINVAL;
	snprintf(path, sizeof(path), "%s.%s.offset", msix_path, which);
	if (count_in(ld, path, sy ? sy->offset : NULL, def_offset, 0, MAX_MSIX_OFFSET, &off))
		return -EINVAL;
	if (off % 8)
		return fail(ld, path, "offset: %s is not 8-byte aligned", sy->offset);
	*offset = (uint32_t)off;
	return 0;
}

static bool overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/* The table and PBA may share a BAR but not bytes, and stay clear of BAR 0's device registers. */
static int check_msix_layout(struct loader *ld, const char *msix_path, const struct virq_vmm_device_config *d)
{
	const struct {
		const char *what;
		unsigned bar;
		uint64_t off, len;
	} part[2] = {
		{ "table", d->msix_table_bar, d->msix_table_offset, d->msix_vectors * 16ull },
		{ "pba", d->msix_pba_bar, d->msix_pba_offset, (d->msix_vectors + 63) / 64 * 8ull },
	};
	char path[96];
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s.%s", msix_path, part[i].what);
		if (part[i].bar == 0 && overlap(part[i].off, part[i].len, 0, VIRQ_PCI_REGS_SIZE))
			return fail(ld, virq_linemap_find(ld->lm, path) ? path : msix_path,
			            "device %s: the MSI-X %s (bar 0, 0x%llx..0x%llx) overlaps the device registers in "
			            "bar 0 (0x0..0x%x)", d->name, part[i].what, (unsigned long long)part[i].off,
			            (unsigned long long)(part[i].off + part[i].len - 1), VIRQ_PCI_REGS_SIZE - 1);
	}
	if (part[0].bar == part[1].bar && overlap(part[0].off, part[0].len, part[1].off, part[1].len))
		return fail(ld, msix_path, "device %s: the MSI-X table (bar %u, 0x%llx..0x%llx) and PBA (0x%llx..0x%llx) "
		            "overlap", d->name, part[0].bar, (unsigned long long)part[0].off,
		            (unsigned long long)(part[0].off + part[0].len - 1), (unsigned long long)part[1].off,
		            (unsigned long long)(part[1].off + part[1].len - 1));
	return 0;
}

static int load_msix(struct loader *ld, const char *dev_path, const struct virq_sy_msix *sy,
                     struct virq_vmm_device_config *d)
{
	char path[80];
	snprintf(path, sizeof(path), "%s.msix.vectors", dev_path);
	if (unsigned_in(ld, path, sy->vectors, 1, 1, VIRQ_VMM_MAX_VECTORS, &d->msix_vectors))
		return -EINVAL;
	snprintf(path, sizeof(path), "%s.msix", dev_path);
	if (load_bar(ld, path, "table", sy->table, 0, &d->msix_table_bar, &d->msix_table_offset) ||
	    load_bar(ld, path, "pba", sy->pba, 0x800, &d->msix_pba_bar, &d->msix_pba_offset))
		return -EINVAL;
	return check_msix_layout(ld, path, d);
}

static int load_delivery(struct loader *ld, const char *dev_path, const struct virq_sy_device *sy,
                         struct virq_vmm_device_config *d)
{
	char path[80];
	if (d->msix_vectors && d->intx_pin) {
		/* A driver uses one or the other; the device's causes are its vectors or its one line. */
		snprintf(path, sizeof(path), "%s.intx", dev_path);
		return fail(ld, path, "device %s has both msix and intx; give it one (msix for irqfd, posted, "
			    "remapped or userspace delivery, intx for resample or forwarded)", d->name);
	}
	snprintf(path, sizeof(path), "%s.delivery", dev_path);
	switch (sy->delivery) {
	case 0: /* default: MSI-X when the device has it */
		d->delivery = d->msix_vectors ? VIRQ_VMM_DELIVERY_IRQFD : VIRQ_VMM_DELIVERY_RESAMPLE;
		return 0;
	case VIRQ_SY_DELIVERY_IRQFD:
	case VIRQ_SY_DELIVERY_USERSPACE:
	case VIRQ_SY_DELIVERY_POSTED:
	case VIRQ_SY_DELIVERY_REMAPPED:
		d->delivery = sy->delivery == VIRQ_SY_DELIVERY_IRQFD       ? VIRQ_VMM_DELIVERY_IRQFD
		              : sy->delivery == VIRQ_SY_DELIVERY_USERSPACE ? VIRQ_VMM_DELIVERY_USERSPACE
		              : sy->delivery == VIRQ_SY_DELIVERY_POSTED    ? VIRQ_VMM_DELIVERY_POSTED
		                                                           : VIRQ_VMM_DELIVERY_REMAPPED;
		if (!d->msix_vectors)
			return fail(ld, path, "device %s: delivery %s needs msix", d->name,
			            virq_vmm_delivery_name(d->delivery));
		/* The IOMMU that posts or remaps is VT-d's; an arm64 VM's MSIs are the ITS's business. */
		if ((d->delivery == VIRQ_VMM_DELIVERY_POSTED || d->delivery == VIRQ_VMM_DELIVERY_REMAPPED) &&
		    ld->sc->vmm.arch == VIRQ_VMM_ARCH_ARM64)
			return fail(ld, path, "device %s: delivery %s needs VT-d interrupt remapping: x86_64 only "
			            "(arm64 MSIs go through the ITS; use irqfd)", d->name,
			            virq_vmm_delivery_name(d->delivery));
		return 0;
	case VIRQ_SY_DELIVERY_FORWARDED:
		d->delivery = VIRQ_VMM_DELIVERY_FORWARDED;
		if (!d->intx_pin)
			return fail(ld, path, "device %s: delivery forwarded needs an intx pin", d->name);
		/* A forwarded line completes through a hardware-mapped vGIC SPI; the IOAPIC has none. */
		if (ld->sc->vmm.arch != VIRQ_VMM_ARCH_ARM64)
			return fail(ld, path, "device %s: delivery forwarded needs an Arm GIC (hardware-mapped SPIs): "
			            "arm64 only (use resample on x86_64)", d->name);
		return 0;
	default:
		d->delivery = VIRQ_VMM_DELIVERY_RESAMPLE;
		if (!d->intx_pin)
			return fail(ld, path, "device %s: delivery resample needs an intx pin", d->name);
		return 0;
	}
}

static int load_traffic(struct loader *ld, const char *dev_path, const struct virq_sy_traffic *sy,
                        struct virq_vmm_device_config *d)
{
	struct virq_traffic *t = &d->traffic;
	char path[96];
	int pattern = sy ? sy->pattern : VIRQ_SY_PATTERN_NONE;
	bool paced = pattern != VIRQ_SY_PATTERN_STORM && pattern != VIRQ_SY_PATTERN_NONE;

	*t = (struct virq_traffic){ .pattern = VIRQ_TRAFFIC_FIXED, .seed = 1 };
	if (!sy)
		return 0;
	static const enum virq_traffic_pattern patterns[] = {
		[VIRQ_SY_PATTERN_FIXED] = VIRQ_TRAFFIC_FIXED, [VIRQ_SY_PATTERN_POISSON] = VIRQ_TRAFFIC_POISSON,
		[VIRQ_SY_PATTERN_BURST] = VIRQ_TRAFFIC_BURST, [VIRQ_SY_PATTERN_STORM] = VIRQ_TRAFFIC_STORM,
		[VIRQ_SY_PATTERN_NONE] = VIRQ_TRAFFIC_FIXED, /* with rate 0: no traffic thread */
	};
	t->pattern = patterns[pattern];

	snprintf(path, sizeof(path), "%s.traffic", dev_path);
	if (paced && !sy->rate)
		return fail(ld, path, "device %s: %s traffic needs a rate (e.g. rate: 20k/s)", d->name,
		            pattern == VIRQ_SY_PATTERN_BURST ? "burst" : pattern == VIRQ_SY_PATTERN_FIXED ? "fixed" : "poisson");
	snprintf(path, sizeof(path), "%s.traffic.rate", dev_path);
	if (!paced && sy->rate)
		return fail(ld, path, "rate: %s traffic takes no rate", pattern == VIRQ_SY_PATTERN_STORM ? "storm" : "none");
	if (sy->rate) {
		if (virq_parse_rate(sy->rate, &t->rate))
			return fail(ld, path, "rate: '%s' is not a rate (expected e.g. 20k/s)", sy->rate);
		if (t->rate < 1 || t->rate > MAX_RATE)
			return fail(ld, path, "rate: %s is out of range (1/s..10M/s)", sy->rate);
	}

	snprintf(path, sizeof(path), "%s.traffic.burst", dev_path);
	if (sy->burst && pattern != VIRQ_SY_PATTERN_BURST)
		return fail(ld, path, "burst: only the burst pattern takes a burst size");
	if (unsigned_in(ld, path, sy->burst, pattern == VIRQ_SY_PATTERN_BURST ? 8 : 0, 1, MAX_BURST, &t->burst))
		return -EINVAL;
	snprintf(path, sizeof(path), "%s.traffic.seed", dev_path);
	if (count_in(ld, path, sy->seed, 1, 0, UINT64_MAX, &t->seed))
		return -EINVAL;

	for (unsigned i = 0; i < sy->vectors_count; i++) {
		unsigned cause;
		snprintf(path, sizeof(path), "%s.traffic.vectors[%u]", dev_path, i);
		if (unsigned_in(ld, path, sy->vectors[i], 0, 0, UINT32_MAX, &cause))
			return -EINVAL;
		if (cause >= causes_of(d))
			return fail(ld, path, "vectors[%u]: device %s has no %s %u (it has %u: 0..%u)", i, d->name,
			            virq_vmm_delivery_intx(d->delivery) ? "cause" : "vector", cause, causes_of(d),
			            causes_of(d) - 1);
		t->causes_mask |= 1ull << cause;
	}
	return 0;
}

static int load_device(struct loader *ld, unsigned index)
{
	const struct virq_sy_device *sy = &ld->sy->devices[index];
	struct virq_vmm_device_config *d = &ld->sc->vmm.devices[index];
	char path[32], sub[64];

	snprintf(path, sizeof(path), "devices[%u]", index);
	snprintf(sub, sizeof(sub), "%s.name", path);
	if (check_name(ld, sub, sy->name, index))
		return -EINVAL;
	snprintf(d->name, sizeof(d->name), "%s", sy->name);

	snprintf(sub, sizeof(sub), "%s.pci", path);
	if (virq_parse_pci(sy->pci, &d->requester_id))
		return fail(ld, sub, "pci: '%s' is not a PCI address (expected BB:DD.F, e.g. 00:03.0)", sy->pci);
	for (unsigned i = 0; i < index; i++)
		if (ld->sc->vmm.devices[i].requester_id == d->requester_id)
			return fail(ld, sub, "pci %s is used by %s and %s", sy->pci, ld->sc->vmm.devices[i].name, d->name);

	if (sy->msix && load_msix(ld, path, sy->msix, d))
		return -EINVAL;
	d->intx_pin = sy->intx ? (unsigned)sy->intx->pin : 0;
	if (!sy->msix && !sy->intx)
		return fail(ld, path, "device %s has no interrupt (expected msix or intx)", d->name);
	if (load_delivery(ld, path, sy, d))
		return -EINVAL;
	return load_traffic(ld, path, sy->traffic, d);
}

static int load_devices(struct loader *ld)
{
	unsigned n = ld->sy->devices_count;
	char path[32];
	if (!n)
		return fail(ld, "devices", "devices: a scenario needs at least one device");
	if (n > VIRQ_VMM_MAX_DEVICES) {
		snprintf(path, sizeof(path), "devices[%u]", VIRQ_VMM_MAX_DEVICES);
		return fail(ld, path, "devices: %u devices, at most %d are supported", n, VIRQ_VMM_MAX_DEVICES);
	}
	ld->sc->vmm.ndevices = n;
	for (unsigned i = 0; i < n; i++)
		if (load_device(ld, i))
			return -EINVAL;
	return 0;
}

/* ---- guest drivers ---- */

static int find_device(struct loader *ld, const char *path, const char *name, unsigned *index)
{
	const struct virq_vmm_config *cfg = &ld->sc->vmm;
	for (unsigned i = 0; i < cfg->ndevices; i++) {
		if (!strcmp(cfg->devices[i].name, name)) {
			*index = i;
			return 0;
		}
	}
	char names[256] = "";
	size_t k = 0;
	for (unsigned i = 0; i < cfg->ndevices && k < sizeof(names); i++)
		k += (size_t)snprintf(names + k, sizeof(names) - k, "%s%s", i ? ", " : "", cfg->devices[i].name);
	return fail(ld, path, "device: no device named '%s' (devices: %s)", name, names);
}

/* What a device's driver is when the file does not say. */
static void default_guest(struct virq_vmm_device_config *d, unsigned vcpus)
{
	d->driver = virq_vmm_delivery_intx(d->delivery) ? VIRQ_VMM_DRIVER_INTX : VIRQ_VMM_DRIVER_NIC;
	for (unsigned v = 0; v < VIRQ_VMM_MAX_VECTORS; v++)
		d->affinity[v] = v % vcpus;
	d->handler_ns = DEFAULT_HANDLER_NS;
}

static int load_guest_entry(struct loader *ld, unsigned index, unsigned *owner)
{
	const struct virq_sy_guest *sy = &ld->sy->guest[index];
	struct virq_vmm_config *cfg = &ld->sc->vmm;
	char path[32], sub[64];
	unsigned dev = 0;

	snprintf(path, sizeof(path), "guest[%u]", index);
	snprintf(sub, sizeof(sub), "%s.device", path);
	if (find_device(ld, sub, sy->device, &dev))
		return -EINVAL;
	if (owner[dev])
		return fail(ld, sub, "device %s already has a guest entry (guest[%u])", sy->device, owner[dev] - 1);
	owner[dev] = index + 1;

	struct virq_vmm_device_config *d = &cfg->devices[dev];
	bool msix = !virq_vmm_delivery_intx(d->delivery);
	snprintf(sub, sizeof(sub), "%s.driver", path);
	if (sy->driver) {
		d->driver = sy->driver == VIRQ_SY_DRIVER_NIC ? VIRQ_VMM_DRIVER_NIC
		          : sy->driver == VIRQ_SY_DRIVER_INTX ? VIRQ_VMM_DRIVER_INTX : VIRQ_VMM_DRIVER_INTX_NO_ACK;
		if (msix != (d->driver == VIRQ_VMM_DRIVER_NIC))
			return fail(ld, sub, "driver: %s drives %s, but device %s delivers through %s (delivery %s)",
			            d->driver == VIRQ_VMM_DRIVER_NIC ? "nic" : "an intx driver",
			            d->driver == VIRQ_VMM_DRIVER_NIC ? "MSI-X vectors" : "an INTx line", d->name,
			            msix ? "MSI-X" : "INTx", virq_vmm_delivery_name(d->delivery));
	}

	snprintf(sub, sizeof(sub), "%s.affinity", path);
	if (sy->affinity_count > causes_of(d))
		return fail(ld, sub, "affinity: %u entries, but device %s has %u %s", sy->affinity_count, d->name,
		            causes_of(d), msix ? "vectors" : "INTx line");
	for (unsigned v = 0; v < sy->affinity_count; v++) {
		snprintf(sub, sizeof(sub), "%s.affinity[%u]", path, v);
		if (unsigned_in(ld, sub, sy->affinity[v], 0, 0, UINT32_MAX, &d->affinity[v]))
			return -EINVAL;
		if (d->affinity[v] >= cfg->vcpus)
			return fail(ld, sub, "%s: vCPU %u does not exist (the VM has %u)", sub, d->affinity[v], cfg->vcpus);
	}

	snprintf(sub, sizeof(sub), "%s.handler", path);
	if (duration_in(ld, sub, sy->handler, DEFAULT_HANDLER_NS, 0, MAX_HANDLER_NS, &d->handler_ns))
		return -EINVAL;
	snprintf(sub, sizeof(sub), "%s.retarget", path);
	/* "retarget: every 500ms" reads naturally; "every" is optional. */
	const char *retarget = sy->retarget && !strncmp(sy->retarget, "every ", 6) ? sy->retarget + 6 : sy->retarget;
	if (duration_in(ld, sub, retarget, 0, 0, VIRQ_SCENARIO_MAX_RUN_NS, &d->retarget_ns))
		return -EINVAL;
	if (d->retarget_ns && d->driver != VIRQ_VMM_DRIVER_NIC)
		return fail(ld, sub, "retarget: only the nic driver retargets its vectors");
	snprintf(sub, sizeof(sub), "%s.masked", path);
	if (bool_of(ld, sub, sy->masked, &d->start_masked))
		return -EINVAL;
	if (d->start_masked && d->driver != VIRQ_VMM_DRIVER_NIC)
		return fail(ld, sub, "masked: only the nic driver can start with its vectors masked");
	return 0;
}

static int load_guest(struct loader *ld)
{
	struct virq_vmm_config *cfg = &ld->sc->vmm;
	unsigned owner[VIRQ_VMM_MAX_DEVICES] = { 0 }; /* guest entry + 1 per device */

	for (unsigned i = 0; i < cfg->ndevices; i++)
		default_guest(&cfg->devices[i], cfg->vcpus);
	for (unsigned i = 0; i < ld->sy->guest_count; i++)
		if (load_guest_entry(ld, i, owner))
			return -EINVAL;
	return 0;
}

/* ---- expectations (an expression or a list of them) ---- */

static int load_one_expect(struct loader *ld, const char *path, const struct virq_linemap_node *node,
                           struct virq_scenario_expect *e)
{
	char msg[384];
	if (node->kind != VIRQ_LINEMAP_SCALAR)
		return fail(ld, path, "%s: expected an expression such as 'lost == 0', got a %s", label(path),
		            node->kind == VIRQ_LINEMAP_MAPPING ? "mapping (quote expressions that contain ': ')" : "list");
	e->text = strdup(node->scalar);
	if (!e->text)
		return -ENOMEM;
	e->line = node->line;
	if (virq_scenario_expect_parse(&ld->sc->vmm, e, msg, sizeof(msg)))
		return fail(ld, path, "expectation '%s': %s", e->text, msg);
	return 0;
}

static int load_expects(struct loader *ld, const char *path, struct virq_scenario_expect **out, unsigned *n)
{
	const struct virq_linemap_node *node = virq_linemap_find(ld->lm, path);
	char entry[64];

	*out = NULL;
	*n = 0;
	if (!node)
		return 0;
	if (node->kind != VIRQ_LINEMAP_SEQUENCE) {
		*out = calloc(1, sizeof(**out));
		if (!*out)
			return -ENOMEM;
		*n = 1;
		return load_one_expect(ld, path, node, *out);
	}
	if (!node->children)
		return 0;
	*out = calloc(node->children, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	for (; *n < node->children; (*n)++) {
		snprintf(entry, sizeof(entry), "%s[%u]", path, *n);
		int r = load_one_expect(ld, entry, virq_linemap_find(ld->lm, entry), &(*out)[*n]);
		if (r) {
			(*n)++; /* so that virq_scenario_free() frees its text */
			return r;
		}
	}
	return 0;
}

/* ---- steps ---- */

static int add_action(struct loader *ld, const char *path, enum virq_vmm_action_kind kind, const char *source,
                      unsigned vcpu, struct virq_scenario_step *step)
{
	struct virq_vmm_config *cfg = &ld->sc->vmm;
	struct virq_vmm_action a = { .kind = kind, .vcpu = vcpu };
	char msg[256];

	if (virq_scenario_parse_source(cfg, source, &a.device, &a.vector, msg, sizeof(msg)))
		return fail(ld, path, "%s: %s", label(path), msg);
	if (virq_vmm_delivery_intx(cfg->devices[a.device].delivery))
		return fail(ld, path, "%s: %s is an INTx line; the guest masks and retargets MSI-X vectors", label(path),
		            source);
	if (cfg->nactions == VIRQ_VMM_MAX_ACTIONS)
		return fail(ld, path, "%s: more than %d guest actions in one scenario", label(path), VIRQ_VMM_MAX_ACTIONS);
	step->kind = VIRQ_SCENARIO_STEP_GUEST;
	step->guest.action = cfg->nactions;
	cfg->actions[cfg->nactions++] = a;
	return 0;
}

static int load_guest_step(struct loader *ld, const char *step_path, const struct virq_sy_guest_action *g,
                           struct virq_scenario_step *step)
{
	char path[64];
	unsigned vcpu = 0;
	int keys = !!g->mask + !!g->unmask + !!g->retarget;

	snprintf(path, sizeof(path), "%s.guest", step_path);
	if (keys != 1)
		return fail(ld, path, "guest: expected exactly one of mask, unmask or retarget, got %d", keys);
	if (g->vcpu && !g->retarget)
		return fail(ld, path, "guest: vcpu goes with retarget only");
	if (g->retarget) {
		if (!g->vcpu)
			return fail(ld, path, "guest: retarget needs a vcpu (e.g. { retarget: nic0.vector[2], vcpu: 1 })");
		snprintf(path, sizeof(path), "%s.guest.vcpu", step_path);
		if (unsigned_in(ld, path, g->vcpu, 0, 0, UINT32_MAX, &vcpu))
			return -EINVAL;
		if (vcpu >= ld->sc->vmm.vcpus)
			return fail(ld, path, "vcpu: vCPU %u does not exist (the VM has %u)", vcpu, ld->sc->vmm.vcpus);
	}
	const char *key = g->mask ? "mask" : g->unmask ? "unmask" : "retarget";
	enum virq_vmm_action_kind kind = g->mask ? VIRQ_VMM_ACTION_MASK
	                               : g->unmask ? VIRQ_VMM_ACTION_UNMASK : VIRQ_VMM_ACTION_RETARGET;
	snprintf(path, sizeof(path), "%s.guest.%s", step_path, key);
	return add_action(ld, path, kind, g->mask ? g->mask : g->unmask ? g->unmask : g->retarget, vcpu, step);
}

static int load_step(struct loader *ld, unsigned index)
{
	const struct virq_sy_step *sy = &ld->sy->steps[index];
	struct virq_scenario_step *step = &ld->sc->steps[index];
	char path[32], sub[64];
	char msg[256];

	snprintf(path, sizeof(path), "steps[%u]", index);
	snprintf(sub, sizeof(sub), "%s.expect", path);
	bool expect = virq_linemap_find(ld->lm, sub) != NULL;
	int keys = !!sy->raise + !!sy->guest + !!sy->wait + expect;
	const struct virq_linemap_node *node = virq_linemap_find(ld->lm, path);
	step->line = node ? node->line : 0;
	if (keys != 1)
		return fail(ld, path, "%s: a step has exactly one of raise, guest, wait or expect; this one has %d", path,
		            keys);

	if (sy->raise) {
		snprintf(sub, sizeof(sub), "%s.raise", path);
		step->kind = VIRQ_SCENARIO_STEP_RAISE;
		if (virq_scenario_parse_source(&ld->sc->vmm, sy->raise, &step->raise.device, &step->raise.cause, msg,
		                               sizeof(msg)))
			return fail(ld, sub, "raise: %s", msg);
		return 0;
	}
	if (sy->guest)
		return load_guest_step(ld, path, sy->guest, step);
	if (sy->wait) {
		snprintf(sub, sizeof(sub), "%s.wait", path);
		step->kind = VIRQ_SCENARIO_STEP_WAIT;
		return duration_in(ld, sub, sy->wait, 0, 0, VIRQ_SCENARIO_MAX_RUN_NS, &step->wait.ns);
	}
	step->kind = VIRQ_SCENARIO_STEP_EXPECT;
	return load_expects(ld, sub, &step->expect.v, &step->expect.n);
}

static int load_steps(struct loader *ld)
{
	unsigned n = ld->sy->steps_count;
	if (!n)
		return 0;
	if (n > MAX_STEPS)
		return fail(ld, "steps", "steps: %u steps, at most %u are supported", n, MAX_STEPS);
	ld->sc->steps = calloc(n, sizeof(*ld->sc->steps));
	if (!ld->sc->steps)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		ld->sc->nsteps = i + 1; /* counted before loading, so a failure frees what it made */
		int r = load_step(ld, i);
		if (r)
			return r;
	}
	return 0;
}

/* ---- the whole file ---- */

static int convert(struct loader *ld)
{
	struct virq_scenario *sc = ld->sc;
	const struct virq_sy_scenario *sy = ld->sy;
	int r;

	if (!sy->name[0])
		return fail(ld, "name", "name: a scenario needs a name");
	sc->name = strdup(sy->name);
	sc->description = sy->description ? strdup(sy->description) : NULL;
	if (!sc->name || (sy->description && !sc->description))
		return -ENOMEM;
	if ((r = load_vm(ld)) || (r = load_devices(ld)) || (r = load_guest(ld)))
		return r;
	if (duration_in(ld, "run", sy->run, 0, 0, VIRQ_SCENARIO_MAX_RUN_NS, &sc->run_ns) ||
	    duration_in(ld, "settle", sy->settle, VIRQ_SCENARIO_DEFAULT_SETTLE_NS, NS_PER_MS, VIRQ_SCENARIO_MAX_RUN_NS,
	                &sc->settle_timeout_ns))
		return -EINVAL;
	if ((r = load_steps(ld)))
		return r;
	if (!sc->run_ns && !sc->nsteps)
		return fail(ld, sy->run ? "run" : "", "%s: nothing to do: give run a duration (e.g. run: 3s) or add steps",
		            sy->run ? "run" : "the scenario");
	return load_expects(ld, "expect", &sc->expects, &sc->nexpects);
}

int virq_scenario_load_text(const char *display_name, const char *text, size_t len, struct virq_scenario **out,
                            char *err, size_t err_len)
{
	struct virq_linemap *lm = NULL;
	struct virq_sy_scenario *sy = NULL;
	struct virq_scenario *sc = calloc(1, sizeof(*sc));
	int r;

	if (err_len)
		err[0] = '\0';
	if (!sc || !(sc->path = strdup(display_name))) {
		r = -ENOMEM;
		goto out;
	}
	if ((r = virq_linemap_build(display_name, text, len, &lm, err, err_len)))
		goto out;
	if ((r = virq_schema_load(display_name, lm, text, len, &sy, err, err_len)))
		goto out;
	if (!sy) {
		r = virq_scenario_fail(err, err_len, display_name, NULL, NULL,
		                       "the file is empty (expected a scenario: name, vm, devices, run, expect)");
		goto out;
	}
	struct loader ld = { .name = display_name, .lm = lm, .err = err, .err_len = err_len, .sc = sc, .sy = sy };
	r = convert(&ld);
out:
	if (r == -ENOMEM)
		snprintf(err, err_len, "%s: out of memory", display_name);
	virq_schema_free(sy);
	virq_linemap_free(lm);
	if (r) {
		virq_scenario_free(sc);
		return r;
	}
	*out = sc;
	return 0;
}

int virq_scenario_load_file(const char *path, struct virq_scenario **out, char *err, size_t err_len)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		int e = errno;
		snprintf(err, err_len, "%s: cannot open: %s", path, strerror(e));
		return -e;
	}
	char *text = malloc(VIRQ_SCENARIO_MAX_FILE + 1);
	size_t len = text ? fread(text, 1, VIRQ_SCENARIO_MAX_FILE + 1, f) : 0;
	int r = !text ? -ENOMEM : ferror(f) ? -EIO : 0;
	fclose(f);
	if (r)
		snprintf(err, err_len, "%s: cannot read: %s", path, strerror(-r));
	else if (len > VIRQ_SCENARIO_MAX_FILE)
		r = virq_scenario_fail(err, err_len, path, NULL, NULL, "larger than %u MiB; not a scenario file",
		                       VIRQ_SCENARIO_MAX_FILE >> 20);
	else
		r = virq_scenario_load_text(path, text, len, out, err, err_len);
	free(text);
	return r;
}

static void free_expects(struct virq_scenario_expect *v, unsigned n)
{
	for (unsigned i = 0; v && i < n; i++)
		free(v[i].text);
	free(v);
}

void virq_scenario_free(struct virq_scenario *sc)
{
	if (!sc)
		return;
	for (unsigned i = 0; i < sc->nsteps; i++)
		if (sc->steps[i].kind == VIRQ_SCENARIO_STEP_EXPECT)
			free_expects(sc->steps[i].expect.v, sc->steps[i].expect.n);
	free(sc->steps);
	free_expects(sc->expects, sc->nexpects);
	free(sc->name);
	free(sc->description);
	free(sc->path);
	free(sc);
}
