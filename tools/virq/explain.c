/* SPDX-License-Identifier: MIT */
/*
 * explain.c - `virq explain [FILE] [SOURCE...]`: boot a scenario (the embedded default without a file),
 * play its scripted steps without the traffic, and print for each source how an interrupt travels:
 * table entry -> GSI -> route -> (IRTE) -> irqfd -> delivery mode (and why) -> target vCPU and vector. The
 * mode of an irqfd is the engine's irq-bypass decision: posted, remapped, direct (arm64 with gic v4: the
 * device's message latches the LPI itself) or software; an INTx line on arm64 is forwarded when the host
 * says so, with the host's counts of who completed it.
 * SOURCE is DEVICE (all its sources), DEVICE.vector[K] or DEVICE.intx.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenario_exec.h"
#include "virq_cli.h"

static void explain_usage(FILE *out)
{
	fprintf(out,
		"usage: virq explain [SCENARIO.yaml] [SOURCE...]\n"
		"\n"
		"Boot the scenario (the embedded default without a file), play its steps without traffic, and\n"
		"print for each source how its interrupts reach the guest: the MSI-X table entry as the guest\n"
		"programmed it, the GSI and route the VMM gave it, its IRTE when the device is behind the IOMMU,\n"
		"the irqfd, the delivery mode (posted, remapped, direct, forwarded, software or userspace) and\n"
		"why, what the host's INTx line did so far, and the vCPU and vector (or GIC INTID) it lands on.\n"
		"SOURCE is DEVICE, DEVICE.vector[K] or DEVICE.intx; without one, every source of every device.\n"
		"\n"
		"examples:\n"
		"  virq explain\n"
		"  virq explain examples/masked-vectors.yaml nic0.vector[1]\n"
		"  virq explain examples/posted-retarget-16.yaml nic0.vector[3]\n"
		"  virq explain examples/arm64-forwarded-intx.yaml legacy0.intx\n"
		"  virq explain examples/arm64-its-direct.yaml nic0.vector[3]\n"
		"  virq explain examples/many-devices.yaml slow0 legacy1\n");
}

static void explain_print(const struct virq_scenario *sc, const struct virq_vmm_explanation *e)
{
	const struct virq_vmm_device_config *d = &sc->vmm.devices[e->device];
	char name[64];
	uint16_t rid = e->requester_id;

	virq_scenario_source_name(sc, e->device, e->source, e->intx, name, sizeof(name));
	if (e->intx)
		printf("%s  (PCI %02x:%02x.%u, INTx)\n", name, rid >> 8, (rid >> 3) & 0x1f, rid & 7);
	else
		printf("%s  (PCI %02x:%02x.%u, MSI-X entry %u)\n", name, rid >> 8, (rid >> 3) & 0x1f, rid & 7,
		       e->source);
	bool arm = e->intid != 0; /* arm64 sources name a GIC INTID */
	if (e->intx && arm) {
		printf("  pin          INTx %c -> SPI %u (level%s)\n", 'A' + e->intx_pin - 1, e->intid,
		       e->forwarded ? ", hardware-mapped: the host line is forwarded to it" : "");
		printf("  GSI          %u (vGIC route: irqchip 0 pin %u)\n", e->gsi, e->gsi);
	} else if (e->intx) {
		printf("  pin          INTx %c -> IOAPIC pin %u (level)\n", 'A' + e->intx_pin - 1, e->gsi);
		printf("  GSI          %u (IOAPIC route)\n", e->gsi);
	}
	if (e->intx) {
		printf("  irqfd        %s%s\n", e->resample ? "the VFIO INTx trigger is a resampling irqfd; its resamplefd "
							"is VFIO's INTx unmask eventfd"
						      : "none",
		       e->resample && e->forwarded ? " (idle while the line is forwarded: the SPI is never resampled)"
						   : "");
	} else {
		printf("  table entry  address 0x%08x data 0x%x, %s%s (emulated in %s)\n", e->entry_addr_lo,
		       e->entry_data, e->entry_masked ? "masked" : "unmasked",
		       !e->msix_enabled ? ", MSI-X disabled" : e->function_masked ? ", function masked" : "",
		       e->table_in_engine ? "the engine" : "the VMM");
		if (d->delivery == VIRQ_VMM_DELIVERY_USERSPACE)
			printf("  GSI, route   none: KVM_SIGNAL_MSI carries the entry's address and data\n");
		else if (e->route_valid && arm)
			printf("  GSI, route   %u: MSI 0x%08x/0x%x with DeviceID 0x%x -> the ITS, EventID %u\n", e->gsi,
			       e->route_addr_lo, e->route_data, rid, e->route_data);
		else if (e->route_valid)
			printf("  GSI, route   %u: MSI 0x%08x/0x%x -> APIC %u, vector 0x%x\n", e->gsi, e->route_addr_lo,
			       e->route_data, (e->route_addr_lo >> 12) & 0xff, e->route_data & 0xff);
		else
			printf("  GSI, route   %u: no route yet (the guest has not unmasked the entry)\n", e->gsi);
		if (e->irte_index >= 0) /* behind the VMM's IOMMU: the message is a handle into its table */
			printf("  IRTE         %d of the VMM's IOMMU (the device sends a remappable message with this "
			       "handle)\n", e->irte_index);
		const char *times = e->irqfd_signals == 1 ? "time" : "times";
		if (e->irqfd && e->paired && sc->vmm.gic_v4)
			/* A GICv4 host: what went straight into the LPI, and what still took the eventfd. */
			printf("  irqfd        the VFIO trigger is an irqfd on this GSI, paired with the VFIO vector (irq "
			       "bypass); %llu message%s latched straight into the LPI, %llu handed back to the eventfd; "
			       "its eventfd signalled %llu %s so far\n", (unsigned long long)e->direct_injected,
			       e->direct_injected == 1 ? "" : "s", (unsigned long long)e->direct_fallbacks,
			       (unsigned long long)e->irqfd_signals, times);
		else if (e->irqfd && (e->irte_index >= 0 || e->paired))
			printf("  irqfd        the VFIO trigger is an irqfd on this GSI, paired with the VFIO vector (irq "
			       "bypass); its eventfd signalled %llu %s so far\n", (unsigned long long)e->irqfd_signals,
			       times);
		else
			printf("  irqfd        %s\n", e->irqfd ? "the VFIO trigger is an irqfd on this GSI"
						       : "none: the VMM reads the VFIO trigger");
	}
	printf("  mode         %s: %s\n", e->mode, e->why);
	/* What the host's line did so far (a scripted file's steps; explain runs no traffic). */
	if (e->intx && e->line_stats) {
		char n[3][VIRQ_REPORT_NUM_MAX];
		virq_report_format_count(e->line_completions, n[0]);
		virq_report_format_count(e->line_unmasks, n[1]);
		virq_report_format_count(e->line_refires, n[2]);
		if (e->forwarded || e->line_completions)
			printf("  host line    completed %s time%s by the guest%s%s%s, unmasked by VFIO %s time%s\n", n[0],
			       e->line_completions == 1 ? "" : "s", e->line_refires ? " (re-fired " : "",
			       e->line_refires ? n[2] : "", e->line_refires ? ")" : "", n[1],
			       e->line_unmasks == 1 ? "" : "s");
		else
			printf("  host line    unmasked by VFIO %s time%s (each one a resamplefd round trip)\n", n[1],
			       e->line_unmasks == 1 ? "" : "s");
	}
	/* arm64 names the GIC INTID (an LPI through the ITS, or an SPI) where x86 names the IDT vector. */
	char where[32];
	if (e->intid)
		snprintf(where, sizeof(where), "INTID %u", e->intid);
	else
		snprintf(where, sizeof(where), "vector 0x%x", e->guest_vector);
	if (e->target_vcpu >= 0)
		printf("  target       vCPU %d, %s\n", e->target_vcpu, where);
	else
		printf("  target       none while held (%s when released)\n", where);
}

/* Parse DEVICE, DEVICE.vector[K] or DEVICE.intx into a device and a source range. */
static int explain_parse(const struct virq_scenario *sc, const char *arg, unsigned *device, unsigned *first,
			 unsigned *last)
{
	const char *dot = strchr(arg, '.');
	size_t len = dot ? (size_t)(dot - arg) : strlen(arg);

	for (unsigned d = 0; d < sc->vmm.ndevices; d++) {
		const struct virq_vmm_device_config *dev = &sc->vmm.devices[d];
		unsigned n = dev->msix_vectors ? dev->msix_vectors : 1, k;
		char tail;
		if (strlen(dev->name) != len || strncmp(dev->name, arg, len))
			continue;
		*device = d;
		if (!dot) {
			*first = 0;
			*last = n - 1;
			return 0;
		}
		if (!dev->msix_vectors && !strcmp(dot, ".intx")) {
			*first = *last = 0;
			return 0;
		}
		if (dev->msix_vectors && sscanf(dot, ".vector[%u%c", &k, &tail) == 2 && tail == ']' && k < n &&
		    dot[strlen(dot) - 1] == ']') {
			*first = *last = k;
			return 0;
		}
		fprintf(stderr, "virq explain: %s: %s has %s\n", arg, dev->name,
			dev->msix_vectors ? "vectors: use DEVICE.vector[K] with K below its vector count"
					  : "one INTx line: use DEVICE.intx");
		return -EINVAL;
	}
	fprintf(stderr, "virq explain: %s: no device named '%.*s' in %s\n", arg, (int)len, arg, sc->path);
	return -EINVAL;
}

static int explain_sources(const struct virq_scenario *sc, struct virq_vmm *vmm, char **args, int nargs)
{
	for (int i = 0; i < (nargs ? nargs : (int)sc->vmm.ndevices); i++) {
		unsigned device = (unsigned)i, first = 0, last;
		if (nargs) {
			if (explain_parse(sc, args[i], &device, &first, &last) < 0)
				return 2;
		} else {
			unsigned n = sc->vmm.devices[i].msix_vectors;
			last = n ? n - 1 : 0;
		}
		for (unsigned k = first; k <= last; k++) {
			struct virq_vmm_explanation e;
			if (virq_vmm_explain(vmm, device, k, &e) == 0)
				explain_print(sc, &e);
		}
	}
	return 0;
}

int virq_cli_explain(int argc, char **argv)
{
	struct virq_scenario *sc;
	struct virq_vmm *vmm;
	char err[512];
	int first = 1, ret;

	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		explain_usage(stdout);
		return 0;
	}
	/* A first argument that names a scenario file (.yaml or .yml) is one; anything else is a source. */
	size_t len = argc > 1 ? strlen(argv[1]) : 0;
	if (len > 5 && (!strcmp(argv[1] + len - 5, ".yaml") || !strcmp(argv[1] + len - 4, ".yml"))) {
		ret = virq_scenario_load_file(argv[1], &sc, err, sizeof(err));
		first = 2;
	} else {
		ret = virq_scenario_load_text(VIRQ_SCENARIO_DEFAULT_NAME, virq_scenario_default_text,
					      strlen(virq_scenario_default_text), &sc, err, sizeof(err));
	}
	if (ret < 0) {
		fprintf(stderr, "virq explain: %s\n", err);
		return 2;
	}
	ret = virq_vmm_create(&sc->vmm, &vmm, err, sizeof(err));
	if (ret < 0) {
		fprintf(stderr, "virq explain: %s: cannot build the VM: %s\n", sc->path, err);
		virq_scenario_free(sc);
		return 2;
	}
	ret = virq_vmm_start(vmm);
	if (ret == 0)
		ret = virq_exec_steps(vmm, sc);
	if (ret < 0) {
		fprintf(stderr, "virq explain: %s: %s\n", sc->path,
			virq_vmm_failure(vmm) ? virq_vmm_failure(vmm) : strerror(-ret));
		ret = 2;
	} else {
		ret = explain_sources(sc, vmm, argv + first, argc - first);
	}
	virq_vmm_destroy(vmm);
	virq_scenario_free(sc);
	return ret;
}
