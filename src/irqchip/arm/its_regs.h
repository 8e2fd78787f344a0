/* SPDX-License-Identifier: MIT */
/*
 * its_regs.h - GICv3 ITS register offsets, fields, command encodings and KVM's table-entry layouts (ABI
 * revision 0), named as in Linux's include/linux/irqchip/arm-gic-v3.h and arch/arm64/kvm/vgic/vgic.h
 * (reference kvm-arm.md §1.5-1.8). Private to src/irqchip/arm.
 */
#ifndef VIRQ_IRQCHIP_ARM_ITS_REGS_H
#define VIRQ_IRQCHIP_ARM_ITS_REGS_H

#define GITS_CTLR 0x0000
#define GITS_IIDR 0x0004
#define GITS_TYPER 0x0008
#define GITS_CBASER 0x0080
#define GITS_CWRITER 0x0088
#define GITS_CREADR 0x0090
#define GITS_BASER 0x0100 /* BASER<n> at 0x100 + 8n, n = 0..7 */
#define GITS_IDREGS_BASE 0xffd0
#define GITS_PIDR4 0xffd0
#define GITS_PIDR0 0xffe0
#define GITS_PIDR1 0xffe4
#define GITS_PIDR2 0xffe8
#define GITS_CIDR0 0xfff0
#define GITS_TRANSLATER 0x10040

#define GITS_CTLR_ENABLE (1u << 0)
#define GITS_CTLR_QUIESCENT (1u << 31)

/* TYPER: PLPIS, ITT entry 8 bytes, 16 EventID bits, 16 DeviceID bits; PTA = 0 (targets are vCPU ids). */
#define GITS_TYPER_VALUE (1ull | (7ull << 4) | (15ull << 8) | (15ull << 13))
#define GITS_IIDR_VALUE(rev) GIC_IIDR_KVM(rev)
#define VIRQ_ITS_ABI_REV 0

#define GITS_CBASER_VALID (1ull << 63)
#define GITS_CBASER_ADDR_MASK 0x000fffffffff0000ull /* 51:12, KVM clears 15:12 */
#define GITS_CBASER_SIZE_MASK 0xffull
#define GITS_CMD_OFFSET_MASK 0x00000000000fffe0ull /* 19:5 */
#define GITS_BASER_INNER_SHIFT 59
#define GITS_BASER_OUTER_SHIFT 53
#define GITS_BASER_SHARE_SHIFT 10

#define GITS_BASER_VALID (1ull << 63)
#define GITS_BASER_INDIRECT (1ull << 62)
#define GITS_BASER_TYPE_SHIFT 56
#define GITS_BASER_TYPE_DEVICE 1ull
#define GITS_BASER_TYPE_COLLECTION 4ull
#define GITS_BASER_ENTRY_SIZE_SHIFT 48
#define GITS_BASER_RO_MASK (0x001f000000000000ull | 0x0700000000000000ull) /* Entry_Size, Type */
#define GITS_BASER_PAGE_SIZE_MASK (3ull << 8)
#define GITS_BASER_PAGE_SIZE_64K (2ull << 8)
#define GITS_BASER_NR_PAGES(b) (((b) & 0xffull) + 1)
#define GITS_BASER_ADDR_47_16 0x0000ffffffff0000ull
#define GITS_BASER_ADDR_51_48 0x000000000000f000ull
#define VIRQ_ITS_TABLE_PAGE 0x10000ull /* 64 KiB pages only */
#define VIRQ_ITS_ESZ 8                  /* DTE, ITE, CTE and L1 entries are all 8 bytes */
#define VIRQ_ITS_CMD_SIZE 32

/* Commands (DW0[7:0]). */
#define GITS_CMD_MOVI 0x01
#define GITS_CMD_INT 0x03
#define GITS_CMD_CLEAR 0x04
#define GITS_CMD_SYNC 0x05
#define GITS_CMD_MAPD 0x08
#define GITS_CMD_MAPC 0x09
#define GITS_CMD_MAPTI 0x0a
#define GITS_CMD_MAPI 0x0b
#define GITS_CMD_INV 0x0c
#define GITS_CMD_INVALL 0x0d
#define GITS_CMD_MOVALL 0x0e
#define GITS_CMD_DISCARD 0x0f

/* Architectural command errors KVM computes and drops (never visible to the guest). */
#define E_ITS_MOVI_UNMAPPED_INTERRUPT 0x010107
#define E_ITS_MOVI_UNMAPPED_COLLECTION 0x010109
#define E_ITS_INT_UNMAPPED_INTERRUPT 0x010307
#define E_ITS_CLEAR_UNMAPPED_INTERRUPT 0x010507
#define E_ITS_MAPD_DEVICE_OOR 0x010801
#define E_ITS_MAPD_ITTSIZE_OOR 0x010802
#define E_ITS_MAPC_PROCNUM_OOR 0x010902
#define E_ITS_MAPC_COLLECTION_OOR 0x010903
#define E_ITS_MAPTI_UNMAPPED_DEVICE 0x010a04
#define E_ITS_MAPTI_ID_OOR 0x010a05
#define E_ITS_MAPTI_PHYSICALID_OOR 0x010a06
#define E_ITS_INV_UNMAPPED_INTERRUPT 0x010c07
#define E_ITS_INVALL_UNMAPPED_COLLECTION 0x010d09
#define E_ITS_MOVALL_PROCNUM_OOR 0x010e01
#define E_ITS_DISCARD_UNMAPPED_INTERRUPT 0x010f07

/* Save/restore entry layouts (KVM ABI rev 0). */
#define KVM_ITS_DTE_VALID_SHIFT 63
#define KVM_ITS_DTE_NEXT_SHIFT 49
#define KVM_ITS_DTE_NEXT_MASK 0x3fffull /* 62:49 */
#define KVM_ITS_DTE_ITTADDR_SHIFT 5
#define KVM_ITS_DTE_ITTADDR_MASK 0x00000fffffffffffull /* 48:5 -> 44 bits of ITT_addr >> 8 */
#define KVM_ITS_DTE_SIZE_MASK 0x1full
#define KVM_ITS_ITE_NEXT_SHIFT 48
#define KVM_ITS_ITE_PINTID_SHIFT 16
#define KVM_ITS_ITE_ICID_MASK 0xffffull
#define KVM_ITS_CTE_VALID_SHIFT 63
#define KVM_ITS_CTE_RDBASE_SHIFT 16
#define KVM_ITS_CTE_ICID_MASK 0xffffull
#define KVM_ITS_L1E_VALID (1ull << 63)
#define KVM_ITS_L1E_ADDR_MASK 0x000fffffffff0000ull /* 51:16 */
#define VITS_DTE_MAX_DEVID_OFFSET ((1u << 14) - 1)
#define VITS_ITE_MAX_EVENTID_OFFSET ((1u << 16) - 1)

#endif /* VIRQ_IRQCHIP_ARM_ITS_REGS_H */
