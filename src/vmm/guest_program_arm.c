/* SPDX-License-Identifier: MIT */
/*
 * guest_program_arm.c - the Arm parts of the generated guest (guest_program.c has the rest): how the boot
 * vCPU brings up the GICv3 and the ITS and maps every MSI-X vector, as a Linux guest's GIC and ITS
 * drivers do, and the ITS commands its actions send.
 *
 * Boot, on vCPU 0 (each vCPU opens its own CPU interface first):
 *   - distributor on (Group 1, affinity routing); the LPI property table (priority, enabled) for every
 *     vector's LPI; each vCPU's redistributor: PROPBASER, PENDBASER, EnableLPIs;
 *   - ITS: device table (BASER0, DeviceIDs up to 2^16: they are requester IDs), collection table (BASER1),
 *     command queue (CBASER), enabled; MAPC collection n -> vCPU n; per device MAPD (DeviceID = requester
 *     ID, its ITT); per vector MAPTI EventID k -> its LPI, collection = the vCPU of the driver's affinity;
 *   - SPIs: the action SPI (edge, vCPU 0) and each INTx line (level, the driver's vCPU).
 *
 * The command queue. Addresses in the program are constants, but actions run in any order and any
 * number of times, so a block cannot know where the queue's write pointer is. Every block therefore starts
 * at slot 0 and leaves the queue as it found it: at rest every slot holds a SYNC (a no-op: commands
 * complete synchronously) and CREADR = CWRITER = 0. A block writes its commands from slot 0 (publishing
 * every half queue so the ring never overruns), publishes them, puts SYNCs back where it wrote, and then
 * moves CWRITER to 0, so the ITS runs SYNCs up to the end of the ring and wraps to 0.
 */
#define _GNU_SOURCE
#include <stdio.h>

#include "vmm/vmm_internal.h"

#define emit vmm_program_emit

#define GITS_CTLR 0x0000
#define GITS_CBASER 0x0080
#define GITS_CWRITER 0x0088
#define GITS_BASER(n) (0x0100 + 8 * (n))
#define GICR_CTLR 0x0000
#define GICR_PROPBASER 0x0070
#define GICR_PENDBASER 0x0078
#define GICD_CTLR 0x0000
#define GICD_ISENABLER(n) (0x0100 + 4 * (n))
#define GICD_IPRIORITYR(n) (0x0400 + 4 * (n))
#define GICD_ICFGR(n) (0x0c00 + 4 * (n))
#define GICD_IROUTER(intid) (0x6000 + 8 * (uint64_t)(intid))

#define ITS_CMD_MOVI 0x01
#define ITS_CMD_SYNC 0x05
#define ITS_CMD_MAPD 0x08
#define ITS_CMD_MAPC 0x09
#define ITS_CMD_MAPTI 0x0a
#define ITS_VALID (1ull << 63)
#define ITS_EVENT_BITS 6 /* 64 events per device: VIRQ_VMM_MAX_VECTORS */

static void emit_mmio(struct vmm_program *p, uint64_t addr, unsigned size, uint64_t value, const char *why)
{
	emit(p, "    mmio_write 0x%llx, %u, 0x%llx%s%s", (unsigned long long)addr, size, (unsigned long long)value,
	     why ? "  ; " : "", why ? why : "");
}

static void emit_cwriter(struct vmm_program *p, unsigned slot)
{
	emit_mmio(p, VMM_ARM_ITS + GITS_CWRITER, 8, (uint64_t)slot * 32, NULL);
}

/* One 32-byte command into the next slot; publish every half queue so unprocessed slots are never reused. */
static void emit_cmd(struct vmm_program *p, uint64_t dw0, uint64_t dw1, uint64_t dw2)
{
	uint64_t slot = VMM_ARM_CMDQ + (uint64_t)(p->cmds++ % VMM_ARM_CMDQ_SLOTS) * 32;
	const uint64_t dw[3] = { dw0, dw1, dw2 };

	for (unsigned i = 0; i < 3; i++) /* the fourth doubleword is unused by these commands: left 0 */
		emit(p, "    mem_write 0x%llx, 8, 0x%llx", (unsigned long long)(slot + 8 * i), (unsigned long long)dw[i]);
	if (p->cmds % (VMM_ARM_CMDQ_SLOTS / 2) == 0)
		emit_cwriter(p, p->cmds % VMM_ARM_CMDQ_SLOTS);
}

/*
 * A SYNC in @slot: what every slot holds at rest. Only the opcode is written: SYNC ignores its target
 * (commands complete synchronously, in KVM as here), and one line per slot keeps the program small.
 */
static void emit_sync_slot(struct vmm_program *p, unsigned slot)
{
	emit(p, "    mem_write 0x%llx, 8, 0x%x", (unsigned long long)(VMM_ARM_CMDQ + (uint64_t)slot * 32), ITS_CMD_SYNC);
}

void vmm_arm_emit_queue_flush(struct vmm_program *p)
{
	unsigned written = p->cmds < VMM_ARM_CMDQ_SLOTS ? p->cmds : VMM_ARM_CMDQ_SLOTS;
	unsigned at = p->cmds % VMM_ARM_CMDQ_SLOTS;

	if (!p->cmds)
		return;
	emit(p, "    ; run the queued commands, then back to slot 0 over SYNCs");
	if (p->cmds % (VMM_ARM_CMDQ_SLOTS / 2))
		emit_cwriter(p, at);
	for (unsigned s = 0; s < written; s++)
		emit_sync_slot(p, s);
	if (at)
		emit_cwriter(p, 0);
	p->cmds = 0;
}

void vmm_arm_emit_movi(struct vmm_program *p, const struct vmm_device *dev, unsigned k, unsigned vcpu)
{
	/* Collection n is vCPU n (boot's MAPC). */
	emit_cmd(p, ITS_CMD_MOVI | (uint64_t)dev->cfg.requester_id << 32, k, vcpu);
}

static uint64_t redist(unsigned vcpu)
{
	return VMM_ARM_GICR + (uint64_t)vcpu * VMM_ARM_GICR_STRIDE;
}

static unsigned lpi_count(const struct virq_vmm *vmm)
{
	unsigned n = 0;
	for (unsigned d = 0; d < vmm->ndevices; d++)
		n += vmm->dev[d].cfg.msix_vectors;
	return n;
}

static void emit_redistributors(struct vmm_program *p, const struct virq_vmm *vmm)
{
	unsigned lpis = lpi_count(vmm);

	emit_mmio(p, VMM_ARM_GICD + GICD_CTLR, 4, 0x12, "GICD_CTLR: EnableGrp1, ARE");
	/* The property byte of each LPI: priority VMM_ARM_PRIO, enabled; read by the ITS at MAPTI. */
	for (unsigned i = 0; i < lpis; i += 8)
		emit(p, "    mem_write 0x%llx, 8, 0x%llx", (unsigned long long)(VMM_ARM_PROPTAB + i),
		     0x0101010101010101ull * (VMM_ARM_PRIO | 1));
	for (unsigned v = 0; v < vmm->cfg.vcpus; v++) {
		emit_mmio(p, redist(v) + GICR_PROPBASER, 8, VMM_ARM_PROPTAB | 15, "16 LPI ID bits");
		emit_mmio(p, redist(v) + GICR_PENDBASER, 8, VMM_ARM_PENDTAB(v) | 1ull << 62, "PTZ: starts clear");
		emit_mmio(p, redist(v) + GICR_CTLR, 4, 1, "EnableLPIs");
	}
}

static void emit_its(struct vmm_program *p, const struct virq_vmm *vmm)
{
	emit_mmio(p, VMM_ARM_ITS + GITS_BASER(0), 8, ITS_VALID | VMM_ARM_DEVTAB | (VMM_ARM_DEVTAB_PAGES - 1),
		  "device table");
	emit_mmio(p, VMM_ARM_ITS + GITS_BASER(1), 8, ITS_VALID | VMM_ARM_COLLTAB, "collection table");
	for (unsigned s = 0; s < VMM_ARM_CMDQ_SLOTS; s++)
		emit_sync_slot(p, s);
	emit_mmio(p, VMM_ARM_ITS + GITS_CBASER, 8, ITS_VALID | VMM_ARM_CMDQ, "command queue, 4 KiB");
	emit_mmio(p, VMM_ARM_ITS + GITS_CTLR, 4, 1, "GITS_CTLR.Enabled");
	for (unsigned v = 0; v < vmm->cfg.vcpus; v++)
		emit_cmd(p, ITS_CMD_MAPC, 0, ITS_VALID | (uint64_t)v << 16 | v);
	for (unsigned d = 0; d < vmm->ndevices; d++) {
		const struct vmm_device *dev = &vmm->dev[d];
		uint64_t devid = (uint64_t)dev->cfg.requester_id << 32;
		if (!dev->cfg.msix_vectors)
			continue;
		emit(p, "    ; %s: DeviceID 0x%x, EventID k -> LPI %u + k", dev->cfg.name, dev->cfg.requester_id,
		     dev->vec[0].lpi);
		emit_cmd(p, ITS_CMD_MAPD | devid, ITS_EVENT_BITS - 1, ITS_VALID | VMM_ARM_ITT(d));
		for (unsigned k = 0; k < dev->cfg.msix_vectors; k++)
			emit_cmd(p, ITS_CMD_MAPTI | devid, k | (uint64_t)dev->vec[k].lpi << 32, dev->cfg.affinity[k]);
	}
	vmm_arm_emit_queue_flush(p);
}

/* An SPI: trigger mode, priority, target vCPU (IROUTER: Aff0 = n[3:0], Aff1 = n[11:4]), enabled. */
static void emit_spi(struct vmm_program *p, unsigned intid, bool level, unsigned vcpu, const char *what)
{
	/* ICFGR holds 16 INTIDs, two bits each (0b10 edge, 0b00 level). The action SPI (40) and the INTx
	 * lines (48-55) are in different words, so each word is written whole: all edge or all level. */
	emit(p, "    ; SPI %u: %s", intid, what);
	emit_mmio(p, VMM_ARM_GICD + GICD_ICFGR(intid / 16), 4, level ? 0 : 0xaaaaaaaa, NULL);
	emit_mmio(p, VMM_ARM_GICD + GICD_IPRIORITYR(intid / 4), 4, 0x01010101u * VMM_ARM_PRIO, NULL);
	emit_mmio(p, VMM_ARM_GICD + GICD_IROUTER(intid), 8, (vcpu >> 4 & 0xff) << 8 | (vcpu & 0xf), NULL);
	emit_mmio(p, VMM_ARM_GICD + GICD_ISENABLER(intid / 32), 4, 1u << (intid % 32), NULL);
}

void vmm_arm_emit_boot(struct vmm_program *p, const struct virq_vmm *vmm)
{
	emit_redistributors(p, vmm);
	emit_its(p, vmm);
	emit_spi(p, VMM_ARM_ACTION_INTID, false, 0, "the VMM's action request");
	for (unsigned d = 0; d < vmm->ndevices; d++) {
		const struct vmm_device *dev = &vmm->dev[d];
		if (dev->cfg.intx_pin)
			emit_spi(p, VMM_ARM_SPI_BASE + dev->intx_gsi, true, dev->cfg.affinity[0], dev->cfg.name);
	}
}
