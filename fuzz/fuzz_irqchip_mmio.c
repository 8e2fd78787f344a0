/* SPDX-License-Identifier: MIT */
/*
 * fuzz_irqchip_mmio.c - libFuzzer target: everything a guest can do to the x86 interrupt controllers.
 * Each 8-byte record is one action: an IOAPIC MMIO read or write at any offset and size, a line change
 * on any pin and source, an EOI broadcast, a LAPIC register read or write at any offset, an acknowledge
 * of the pending vector, or a LAPIC EOI. Guest-controlled input must never crash the process
 * (ARCHITECTURE.md section 7); ASan and UBSan check every access.
 */
#include <stdint.h>
#include <string.h>

#include "irqchip/x86/ioapic.h"
#include "irqchip/x86/lapic.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct rig {
	struct virq_ioapic ioapic;
	struct virq_lapic lapic;
	struct virq_lapic *apics[1];
	int depth; /* re-entry guard: a resampler that re-asserts from inside an EOI */
};

static int rig_deliver(void *opaque, const struct virq_apic_irq *irq)
{
	struct rig *r = opaque;
	return virq_apic_deliver(r->apics, 1, NULL, irq);
}

static void rig_ack(void *opaque, unsigned pin)
{
	struct rig *r = opaque;
	if (r->depth++ == 0)
		virq_ioapic_set_irq(&r->ioapic, pin, VIRQ_IRQ_SOURCE_RESAMPLE, false);
	r->depth--;
}

static bool rig_has_resampler(void *opaque, unsigned pin)
{
	return pin % 3 == 0;
}

static void rig_arm_timer(void *opaque, uint64_t delay_ns)
{
}

static const struct virq_ioapic_ops rig_ioapic_ops = {
	.deliver = rig_deliver,
	.ack = rig_ack,
	.resample = rig_ack,
	.has_resampler = rig_has_resampler,
	.arm_timer = rig_arm_timer,
};

static void rig_kick(void *opaque)
{
}

static void rig_eoi_broadcast(void *opaque, uint8_t vector, bool level)
{
	struct rig *r = opaque;
	virq_ioapic_eoi(&r->ioapic, vector, level);
}

static int rig_send_ipi(void *opaque, const struct virq_apic_irq *irq)
{
	struct rig *r = opaque;
	return virq_apic_deliver(r->apics, 1, &r->lapic, irq);
}

static void rig_init_sipi(void *opaque, bool startup, uint8_t vector)
{
}

static bool rig_eoi_wanted(void *opaque, uint8_t vector)
{
	struct rig *r = opaque;
	return virq_ioapic_wants_eoi(&r->ioapic, vector);
}

static const struct virq_lapic_ops rig_lapic_ops = {
	.kick = rig_kick,
	.eoi_broadcast = rig_eoi_broadcast,
	.send_ipi = rig_send_ipi,
	.init_sipi = rig_init_sipi,
	.eoi_wanted = rig_eoi_wanted,
};

static void rig_step(struct rig *r, const uint8_t rec[8])
{
	uint32_t value;
	uint16_t offset = (uint16_t)(rec[1] | rec[2] << 8);
	unsigned len = 1u << (rec[3] & 3);

	memcpy(&value, rec + 4, sizeof(value));
	switch (rec[0] % 8) {
	case 0:
		virq_ioapic_mmio_write(&r->ioapic, offset % 0x100, len, value);
		break;
	case 1:
		(void)virq_ioapic_mmio_read(&r->ioapic, offset % 0x100, len);
		break;
	case 2:
		virq_ioapic_set_irq(&r->ioapic, rec[1] % 32, rec[2] % 3, rec[3] & 1);
		break;
	case 3:
		virq_ioapic_eoi(&r->ioapic, rec[1], rec[2] & 1);
		break;
	case 4:
		virq_lapic_mmio_write(&r->lapic, offset & 0xfff, value);
		break;
	case 5:
		(void)virq_lapic_mmio_read(&r->lapic, offset & 0xfff);
		break;
	case 6: {
		int v = virq_lapic_pending_vector(&r->lapic);
		if (v >= 0)
			virq_lapic_ack(&r->lapic, v);
		break;
	}
	default:
		virq_lapic_eoi(&r->lapic, rig_eoi_wanted);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct rig r;

	memset(&r, 0, sizeof(r));
	r.apics[0] = &r.lapic;
	if (virq_ioapic_init(&r.ioapic, &rig_ioapic_ops, &r) < 0)
		return 0;
	virq_lapic_init(&r.lapic, 0, &rig_lapic_ops, &r);
	for (size_t i = 0; i + 8 <= size; i += 8)
		rig_step(&r, data + i);
	virq_ioapic_destroy(&r.ioapic);
	return 0;
}
