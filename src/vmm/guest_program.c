/* SPDX-License-Identifier: MIT */
/*
 * guest_program.c - the guest the reference VMM boots: its device drivers and its "OS" actions, as one
 * micro-op program (docs/guest.md) that every vCPU runs.
 *
 * vCPU 0 plays the boot CPU: it enables MSI-X through each device's configuration space (ECAM), programs
 * every table entry for the vCPU the driver's affinity names, and routes each INTx line at the IOAPIC.
 * Then every vCPU reports ready and halts. Handlers, one per guest vector:
 *   - NIC (MSI-X vector k): read STATUS, ack bit k, work, EOI.
 *   - INTx: read STATUS, ack, work, EOI. The misbehaving variant skips the ack every other run: its EOI
 *     then finds the line still asserted, so the interrupt must fire again rather than hang.
 *   - VMM_ACTION_VECTOR: read the action number from the mailbox and run that block (mask, unmask,
 *     retarget one entry, or rotate a device's vectors one vCPU on), then report completion.
 * The program has no computed addresses, so each action is its own block and the dispatcher counts down.
 *
 * On arm64 (guest_program_arm.c) the skeleton is the same; what differs is how the OS boots its
 * interrupt controller (GIC, ITS and the ITS mappings, instead of the local APIC and IOAPIC), the message
 * a table entry carries (the ITS doorbell with EventID k, instead of an APIC ID and vector), how handlers
 * are declared and ended (`intid N:` ... `eoir r15`, `eret`) and what a retarget is (MOVI in the ITS
 * command queue; the entry stays as it is).
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "vmm/vmm_internal.h"

void vmm_program_emit(struct vmm_program *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(p->out, fmt, ap);
	va_end(ap);
	fputc('\n', p->out);
}

#define emit vmm_program_emit

static uint32_t msi_address(unsigned vcpu)
{
	return 0xfee00000u | (vcpu << 12); /* physical destination = APIC ID = vCPU id */
}

/*
 * The message entry @k carries: x86, to the APIC of @vcpu with the vector; arm64, to the ITS doorbell
 * with EventID k (the vCPU is the ITS's business, set by MAPTI and MOVI).
 */
static void msi_message(const struct virq_vmm *vmm, const struct vmm_device *dev, unsigned k, unsigned vcpu,
			uint32_t msg[3])
{
	msg[0] = vmm->arm ? (uint32_t)VMM_ARM_DOORBELL : msi_address(vcpu);
	msg[1] = vmm->arm ? (uint32_t)(VMM_ARM_DOORBELL >> 32) : 0;
	msg[2] = vmm->arm ? k : dev->vec[k].guest_vector;
}

/* A handler's first line: an IDT vector on x86, a GIC INTID on arm64. */
static void emit_handler_start(struct vmm_program *p, const struct virq_vmm *vmm, unsigned x86_vector,
			       unsigned intid, const char *what)
{
	if (vmm->arm)
		emit(p, "intid %u:  ; %s", intid, what);
	else
		emit(p, "vector 0x%x:  ; %s", x86_vector, what);
}

/* Its end: EOI and return; on arm64 the INTID the vector stub acknowledged is in r15 (docs/guest.md). */
static void emit_handler_end(struct vmm_program *p, const struct virq_vmm *vmm)
{
	emit(p, vmm->arm ? "    eoir r15" : "    eoi");
	emit(p, vmm->arm ? "    eret" : "    iret");
}

static uint64_t table_entry(const struct vmm_device *dev, unsigned k)
{
	return dev->table_gpa + (uint64_t)k * VMM_MSIX_ENTRY_SIZE;
}

static uint64_t ecam(const struct vmm_device *dev, unsigned offset)
{
	return VMM_ECAM_BASE + ((uint64_t)dev->cfg.requester_id << 12) + offset;
}

/*
 * Program entry @k for @vcpu, masked around the change, and leave its mask as it found it, as Linux's
 * msi_set_affinity does: a vector the OS masked stays masked across a move. @tag makes labels unique.
 */
static void emit_retarget(struct vmm_program *p, const struct vmm_device *dev, unsigned k, unsigned vcpu,
			  unsigned tag)
{
	unsigned long long entry = table_entry(dev, k);

	emit(p, "    mmio_read r14, 0x%llx, 4", entry + 12);
	emit(p, "    mmio_write 0x%llx, 4, 1", entry + 12);
	emit(p, "    mmio_write 0x%llx, 4, 0x%x", entry, msi_address(vcpu));
	emit(p, "    jnz r14, keep_masked_%u_%u", tag, k);
	emit(p, "    mmio_write 0x%llx, 4, 0", entry + 12);
	emit(p, "keep_masked_%u_%u:", tag, k);
}

static void emit_boot(struct vmm_program *p, const struct virq_vmm *vmm)
{
	for (unsigned d = 0; d < vmm->ndevices; d++) {
		const struct vmm_device *dev = &vmm->dev[d];
		if (dev->cfg.msix_vectors) {
			unsigned flags = dev->msix_cap + 2;
			emit(p, "    ; %s: MSI-X on with the function masked, program the table, unmask",
			     dev->cfg.name);
			emit(p, "    mmio_write 0x%llx, 2, 0x%x", (unsigned long long)ecam(dev, flags),
			     VMM_MSIX_FLAGS_ENABLE | VMM_MSIX_FLAGS_MASKALL);
			for (unsigned k = 0; k < dev->cfg.msix_vectors; k++) {
				uint64_t e = table_entry(dev, k);
				uint32_t msg[3];
				msi_message(vmm, dev, k, dev->cfg.affinity[k], msg);
				for (unsigned w = 0; w < 3; w++)
					emit(p, "    mmio_write 0x%llx, 4, 0x%x", (unsigned long long)e + 4 * w, msg[w]);
				emit(p, "    mmio_write 0x%llx, 4, %u", (unsigned long long)e + 12,
				     dev->cfg.start_masked ? 1 : 0);
			}
			emit(p, "    mmio_write 0x%llx, 2, 0x%x", (unsigned long long)ecam(dev, flags),
			     VMM_MSIX_FLAGS_ENABLE);
		}
		if (dev->cfg.intx_pin && !vmm->arm) { /* arm64: its SPI is set up with the GIC */
			/* IOAPIC redirection entry: vector, fixed, physical, level-triggered, unmasked. */
			emit(p, "    ; %s: INTx on IOAPIC pin %u", dev->cfg.name, dev->intx_gsi);
			emit(p, "    mmio_write 0xfec00000, 4, 0x%x", 0x10 + 2 * dev->intx_gsi);
			emit(p, "    mmio_write 0xfec00010, 4, 0x%x", 0x8000u | dev->intx_vector);
			emit(p, "    mmio_write 0xfec00000, 4, 0x%x", 0x11 + 2 * dev->intx_gsi);
			emit(p, "    mmio_write 0xfec00010, 4, 0x%x", dev->cfg.affinity[0] << 24);
		}
	}
}

static void emit_handlers(struct vmm_program *p, const struct virq_vmm *vmm)
{
	unsigned intx = 0;

	for (unsigned d = 0; d < vmm->ndevices; d++) {
		const struct vmm_device *dev = &vmm->dev[d];
		unsigned long long status = dev->bar_gpa[0] + VIRQ_PCI_REG_STATUS;
		unsigned long long ack = dev->bar_gpa[0] + VIRQ_PCI_REG_ACK;

		for (unsigned k = 0; k < dev->cfg.msix_vectors; k++) {
			char what[64];
			snprintf(what, sizeof(what), "%s vector %u", dev->cfg.name, k);
			emit_handler_start(p, vmm, dev->vec[k].guest_vector, dev->vec[k].lpi, what);
			emit(p, "    mmio_read r1, 0x%llx, 8", status);
			emit(p, "    mmio_write 0x%llx, 8, 0x%llx", ack, 1ull << k);
			if (dev->cfg.handler_ns)
				emit(p, "    spin %llu", (unsigned long long)dev->cfg.handler_ns);
			emit_handler_end(p, vmm);
		}
		if (!dev->cfg.intx_pin)
			continue;
		char what[64];
		snprintf(what, sizeof(what), "%s INTx", dev->cfg.name);
		emit_handler_start(p, vmm, dev->intx_vector, VMM_ARM_SPI_BASE + dev->intx_gsi, what);
		emit(p, "    mmio_read r1, 0x%llx, 8", status);
		if (dev->cfg.driver == VIRQ_VMM_DRIVER_INTX_NO_ACK) {
			/*
			 * r2..r9, one per INTx device, toggles every run; on the runs where it was zero the driver
			 * "forgets" the ack. Handlers run with interrupts disabled, so nothing else touches it.
			 */
			unsigned r = 2 + intx;
			emit(p, "    jz r%u, intx_%u_skip", r, d);
			emit(p, "    mmio_write 0x%llx, 8, 1", ack);
			emit(p, "    set r%u, 0", r);
			emit(p, "    jmp intx_%u_work", d);
			emit(p, "intx_%u_skip:", d);
			emit(p, "    set r%u, 1", r);
			emit(p, "intx_%u_work:", d);
		} else {
			emit(p, "    mmio_write 0x%llx, 8, 1", ack);
		}
		if (dev->cfg.handler_ns)
			emit(p, "    spin %llu", (unsigned long long)dev->cfg.handler_ns);
		emit_handler_end(p, vmm);
		intx++;
	}
}

static void emit_action(struct vmm_program *p, const struct virq_vmm *vmm, const struct virq_vmm_action *a,
			unsigned tag)
{
	const struct vmm_device *dev = &vmm->dev[a->device];
	unsigned long long ctrl = table_entry(dev, a->vector) + 12;

	switch (a->kind) {
	case VIRQ_VMM_ACTION_MASK:
		emit(p, "    mmio_write 0x%llx, 4, 1", ctrl);
		break;
	case VIRQ_VMM_ACTION_UNMASK:
		emit(p, "    mmio_write 0x%llx, 4, 0", ctrl);
		break;
	case VIRQ_VMM_ACTION_RETARGET:
		if (vmm->arm) {
			vmm_arm_emit_movi(p, dev, a->vector, a->vcpu);
			vmm_arm_emit_queue_flush(p);
		} else {
			emit_retarget(p, dev, a->vector, a->vcpu, tag);
		}
		break;
	}
}

/* Rotation r of a retargeting device: vector k goes to (affinity[k] + r) mod vCPUs. */
static void emit_rotation(struct vmm_program *p, const struct virq_vmm *vmm, const struct vmm_device *dev,
			  unsigned r, unsigned tag)
{
	for (unsigned k = 0; k < dev->cfg.msix_vectors; k++) {
		unsigned vcpu = (dev->cfg.affinity[k] + r) % vmm->cfg.vcpus;
		if (vmm->arm)
			vmm_arm_emit_movi(p, dev, k, vcpu);
		else
			emit_retarget(p, dev, k, vcpu, tag);
	}
	if (vmm->arm)
		vmm_arm_emit_queue_flush(p);
}

static void emit_action_dispatch(struct vmm_program *p, const struct virq_vmm *vmm)
{
	emit_handler_start(p, vmm, VMM_ACTION_VECTOR, VMM_ARM_ACTION_INTID, "the VMM asks for an action");
	emit(p, "    mmio_read r1, 0x%llx, 4", (unsigned long long)VMM_MAILBOX_ACTION);
	for (unsigned i = 0; i < vmm->nactions; i++) {
		emit(p, "    add r1, -1");
		emit(p, "    jz r1, action_%u", i);
	}
	/* Nothing asked (a late interrupt of a timed-out request): say so with 0. */
	emit(p, "    mmio_write 0x%llx, 4, 0", (unsigned long long)VMM_MAILBOX_DONE);
	emit(p, "    jmp action_done");
	for (unsigned i = 0; i < vmm->nactions; i++) {
		const struct virq_vmm_action *a = &vmm->actions[i];
		emit(p, "action_%u:", i);
		if (i >= vmm->cfg.nactions)
			emit_rotation(p, vmm, &vmm->dev[a->device], a->vcpu, i);
		else
			emit_action(p, vmm, a, i);
		/* Completion names the action, so the VMM never takes one request's end for another's. */
		emit(p, "    mmio_write 0x%llx, 4, %u", (unsigned long long)VMM_MAILBOX_DONE, i + 1);
		emit(p, "    jmp action_done");
	}
	emit(p, "action_done:");
	emit_handler_end(p, vmm);
}

char *vmm_guest_program(const struct virq_vmm *vmm)
{
	struct vmm_program p = { 0 };
	char *text = NULL;
	size_t len = 0;

	p.out = open_memstream(&text, &len);
	if (!p.out)
		return NULL;
	emit(&p, "; generated by the virq reference VMM");
	emit_handlers(&p, vmm);
	emit_action_dispatch(&p, vmm);
	emit(&p, "main:");
	if (vmm->arm)
		emit(&p, "    igrpen1 1  ; this vCPU's GIC CPU interface: Group 1 on, every priority passes\n"
			 "    pmr 0xff");
	else
		emit(&p, "    mmio_write 0xfee000f0, 4, 0x1ff  ; software-enable the local APIC");
	emit(&p, "    set r1, 0");
	emit(&p, "    mmio_read r1, 0x%llx, 4  ; the VMM answers 1 on the boot vCPU",
	     (unsigned long long)VMM_MAILBOX_READY);
	emit(&p, "    jz r1, ready");
	if (vmm->arm)
		vmm_arm_emit_boot(&p, vmm);
	emit_boot(&p, vmm);
	emit(&p, "ready:");
	emit(&p, "    mmio_write 0x%llx, 4, 0", (unsigned long long)VMM_MAILBOX_READY);
	emit(&p, "    sti");
	emit(&p, "idle:");
	emit(&p, "    hlt");
	emit(&p, "    jmp idle");
	if (fclose(p.out) != 0) {
		free(text);
		return NULL;
	}
	return text;
}
