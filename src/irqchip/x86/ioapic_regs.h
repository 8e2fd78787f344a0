/* SPDX-License-Identifier: MIT */
/*
 * ioapic_regs.h - I/O APIC register offsets, named as in Linux's arch/x86/kvm/ioapic.h (82093AA
 * datasheet §3). Private to src/irqchip/x86.
 */
#ifndef VIRQ_IRQCHIP_X86_IOAPIC_REGS_H
#define VIRQ_IRQCHIP_X86_IOAPIC_REGS_H

/* Direct registers (offsets in the MMIO window). */
#define IOAPIC_REG_SELECT 0x00
#define IOAPIC_REG_WINDOW 0x10

/* Indirect registers (IOREGSEL values). */
#define IOAPIC_REG_APIC_ID 0x00
#define IOAPIC_REG_VERSION 0x01
#define IOAPIC_REG_ARB_ID 0x02
#define IOAPIC_REG_REDTBL_BASE 0x10

#define IOAPIC_ID_SHIFT 24
#define IOAPIC_ID_MASK 0xfu

#define IOAPIC_EDGE_TRIG 0
#define IOAPIC_LEVEL_TRIG 1

#endif /* VIRQ_IRQCHIP_X86_IOAPIC_REGS_H */
