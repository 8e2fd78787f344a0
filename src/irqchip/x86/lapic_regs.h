/* SPDX-License-Identifier: MIT */
/*
 * lapic_regs.h - xAPIC register offsets and fields, named as in Linux's apicdef.h (SDM vol. 3 §11.4.1).
 * Private to src/irqchip/x86.
 */
#ifndef VIRQ_IRQCHIP_X86_LAPIC_REGS_H
#define VIRQ_IRQCHIP_X86_LAPIC_REGS_H

#define APIC_ID 0x20
#define APIC_LVR 0x30
#define APIC_TASKPRI 0x80
#define APIC_ARBPRI 0x90
#define APIC_PROCPRI 0xA0
#define APIC_EOI 0xB0
#define APIC_RRR 0xC0
#define APIC_LDR 0xD0
#define APIC_DFR 0xE0
#define APIC_SPIV 0xF0
#define APIC_ISR 0x100
#define APIC_TMR 0x180
#define APIC_IRR 0x200
#define APIC_ESR 0x280
#define APIC_LVTCMCI 0x2F0
#define APIC_ICR 0x300
#define APIC_ICR2 0x310
#define APIC_LVTT 0x320
#define APIC_LVTTHMR 0x330
#define APIC_LVTPC 0x340
#define APIC_LVT0 0x350
#define APIC_LVT1 0x360
#define APIC_LVTERR 0x370
#define APIC_TMICT 0x380
#define APIC_TMCCT 0x390
#define APIC_TDCR 0x3E0

/* ISR, TMR and IRR: eight 32-bit chunks at a 16-byte stride. */
#define APIC_VECTOR_REG_SPAN 0x80

/* LVR: version 0x14, max LVT entry in bits 23:16. */
#define APIC_LVR_VERSION 0x14u
#define APIC_LVR_MAXLVT_SHIFT 16

#define APIC_LDR_MASK 0xff000000u
#define APIC_DFR_FLAT 0xffffffffu
#define APIC_DFR_CLUSTER 0x0fffffffu
#define APIC_DFR_RESERVED 0x0fffffffu /* low 28 bits read as ones */

#define APIC_SPIV_APIC_ENABLED (1u << 8)
#define APIC_SPIV_FOCUS_DISABLED (1u << 9)
#define APIC_SPIV_DIRECTED_EOI (1u << 12)
#define APIC_SPIV_RESET 0xffu

/* ICR low (also the field layout of LVT entries). */
#define APIC_VECTOR_MASK 0xffu
#define APIC_MODE_SHIFT 8
#define APIC_MODE_MASK 0x700u
#define APIC_DEST_LOGICAL (1u << 11)
#define APIC_ICR_BUSY (1u << 12)
#define APIC_SEND_PENDING (1u << 12)
#define APIC_INPUT_POLARITY (1u << 13)
#define APIC_INT_ASSERT (1u << 14)
#define APIC_LVT_REMOTE_IRR (1u << 14)
#define APIC_INT_LEVELTRIG (1u << 15)
#define APIC_LVT_LEVEL_TRIGGER (1u << 15)
#define APIC_LVT_MASKED (1u << 16)
#define APIC_SHORT_SHIFT 18
#define APIC_SHORT_MASK 0xc0000u
#define APIC_LVT_TIMER_MODE_MASK (3u << 17) /* periodic and TSC-deadline */
#define APIC_ICR2_DEST_MASK 0xff000000u
#define APIC_DEST_SHIFT 24

#define APIC_MODE_EXTINT 0x700u

/* KVM's apic_lvt_mask[]: the writable bits of each LVT entry. */
#define APIC_LVT_MASK (APIC_LVT_MASKED | APIC_SEND_PENDING | APIC_VECTOR_MASK)
#define APIC_LINT_MASK (APIC_LVT_MASK | APIC_MODE_MASK | APIC_INPUT_POLARITY | APIC_LVT_REMOTE_IRR | \
			APIC_LVT_LEVEL_TRIGGER)

#define APIC_BROADCAST 0xffu

#endif /* VIRQ_IRQCHIP_X86_LAPIC_REGS_H */
