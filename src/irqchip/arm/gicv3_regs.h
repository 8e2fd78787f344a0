/* SPDX-License-Identifier: MIT */
/*
 * gicv3_regs.h - GICv3 distributor, redistributor and CPU-interface register offsets and fields, named
 * as in Linux's include/linux/irqchip/arm-gic-v3.h (GICv3 architecture spec IHI 0069, chapter 12;
 * reference kvm-arm.md §1.3-1.4). Private to src/irqchip/arm.
 */
#ifndef VIRQ_IRQCHIP_ARM_GICV3_REGS_H
#define VIRQ_IRQCHIP_ARM_GICV3_REGS_H

/* Distributor (64 KiB frame). */
#define GICD_CTLR 0x0000
#define GICD_TYPER 0x0004
#define GICD_IIDR 0x0008
#define GICD_TYPER2 0x000c
#define GICD_STATUSR 0x0010
#define GICD_IGROUPR 0x0080
#define GICD_ISENABLER 0x0100
#define GICD_ICENABLER 0x0180
#define GICD_ISPENDR 0x0200
#define GICD_ICPENDR 0x0280
#define GICD_ISACTIVER 0x0300
#define GICD_ICACTIVER 0x0380
#define GICD_IPRIORITYR 0x0400
#define GICD_ICFGR 0x0c00
#define GICD_IGRPMODR 0x0d00
#define GICD_IROUTER 0x6000
#define GICD_PIDR2 0xffe8

#define GICD_CTLR_ENABLE_G1 (1u << 1) /* KVM keeps one enable: EnableGrp1 (bit 0 RAZ/WI) */
#define GICD_CTLR_ARE_NS (1u << 4)    /* RAO/WI: affinity routing always on */
#define GICD_CTLR_DS (1u << 6)        /* RAO/WI: single security state */
#define GICD_TYPER_LPIS (1u << 17)
#define GICD_TYPER_IDBITS_SHIFT 19
#define GICD_IROUTER_AFF_MASK 0xffffffull /* Aff2.Aff1.Aff0; IRM and Aff3 are RAZ/WI in KVM */

#define GIC_PIDR2_GICV3 0x3b
/* IIDR: ProductID 0x4B (KVM) | Revision | Implementer 0x43B (Arm). */
#define GIC_IIDR_KVM(rev) (0x4b000000u | ((uint32_t)(rev) << 12) | 0x43bu)
#define GICD_IIDR_REVISION 3 /* KVM's latest: configurable groups, GICR_CTLR IR/CES */

/* Redistributor: RD_base frame, then SGI_base frame at +64 KiB. */
#define GICR_RD_FRAME_SIZE 0x10000
#define GICR_SGI_BASE 0x10000
#define GICR_FRAME_SIZE 0x20000
#define GICR_CTLR 0x0000
#define GICR_IIDR 0x0004
#define GICR_TYPER 0x0008
#define GICR_STATUSR 0x0010
#define GICR_WAKER 0x0014
#define GICR_SETLPIR 0x0040
#define GICR_CLRLPIR 0x0048
#define GICR_PROPBASER 0x0070
#define GICR_PENDBASER 0x0078
#define GICR_INVLPIR 0x00a0
#define GICR_INVALLR 0x00b0
#define GICR_SYNCR 0x00c0
#define GICR_PIDR2 0xffe8
/* SGI_base frame offsets (relative to the SGI frame): the distributor layout for INTIDs 0..31. */
#define GICR_IGROUPR0 GICD_IGROUPR
#define GICR_ISENABLER0 GICD_ISENABLER
#define GICR_ICENABLER0 GICD_ICENABLER
#define GICR_ISPENDR0 GICD_ISPENDR
#define GICR_ICPENDR0 GICD_ICPENDR
#define GICR_ISACTIVER0 GICD_ISACTIVER
#define GICR_ICACTIVER0 GICD_ICACTIVER
#define GICR_IPRIORITYR0 GICD_IPRIORITYR
#define GICR_ICFGR0 GICD_ICFGR

#define GICR_CTLR_ENABLE_LPIS (1u << 0)
#define GICR_CTLR_CES (1u << 1)
#define GICR_CTLR_IR (1u << 2)
#define GICR_TYPER_PLPIS (1ull << 0)
#define GICR_TYPER_LAST (1ull << 4)
#define GICR_TYPER_PROC_SHIFT 8
#define GICR_TYPER_AFF_SHIFT 32

/* PROPBASER / PENDBASER (and the BASER-style attribute fields shared with the ITS). */
#define GICR_PROPBASER_IDBITS_MASK 0x1full
#define GICR_PROPBASER_ADDR_MASK 0x000ffffffffff000ull /* 51:12 */
#define GICR_PROPBASER_RES0 (0xf800000000000000ull | 0x00f0000000000000ull | 0x60ull)
#define GICR_PENDBASER_ADDR_MASK 0x000fffffffff0000ull /* 51:16 */
#define GICR_PENDBASER_PTZ (1ull << 62)
#define GICR_PENDBASER_RES0 ((1ull << 63) | 0x3800000000000000ull | 0x00f0000000000000ull | 0xf000ull | 0x7full)
#define GICR_BASER_INNER_SHIFT 7   /* PROPBASER/PENDBASER inner cacheability 9:7 */
#define GICR_BASER_SHARE_SHIFT 10  /* shareability 11:10 */
#define GICR_BASER_OUTER_SHIFT 56  /* outer cacheability 58:56 */

#define GIC_BASER_CACHE_nCnB 0ull
#define GIC_BASER_CACHE_SameAsInner 0ull
#define GIC_BASER_CACHE_nC 1ull
#define GIC_BASER_CACHE_RaWb 3ull
#define GIC_BASER_NonShareable 0ull
#define GIC_BASER_InnerShareable 1ull
#define GIC_BASER_OuterShareable 2ull

/* LPI property byte and tables. */
#define LPI_PROP_PRIORITY_MASK 0xfcu
#define LPI_PROP_ENABLE 0x01u
#define GIC_LPI_PENDING_RESERVED 1024 /* first KiB of a pending table: INTIDs < 8192, never touched */

/* CPU interface (ICC_* system registers). */
#define ICC_CTLR_CBPR (1u << 0)
#define ICC_CTLR_EOIMODE (1u << 1)
#define ICC_CTLR_PRIBITS_SHIFT 8
#define ICC_CTLR_IDBITS_SHIFT 11
#define ICC_CTLR_A3V (1u << 15)
#define ICC_IGRPEN_ENABLE 1u
#define ICC_SGI_TARGETS_MASK 0xffffull
#define ICC_SGI_AFF1_SHIFT 16
#define ICC_SGI_INTID_SHIFT 24
#define ICC_SGI_AFF2_SHIFT 32
#define ICC_SGI_IRM (1ull << 40)
#define ICC_SGI_RS_SHIFT 44
#define ICC_SGI_AFF3_SHIFT 48

#endif /* VIRQ_IRQCHIP_ARM_GICV3_REGS_H */
