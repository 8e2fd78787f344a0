/* SPDX-License-Identifier: MIT */
/*
 * program.h - a parsed micro-op guest program (text form: docs/guest.md).
 *
 * A program is a flat array of ops plus a handler table (x86: vector -> first op of its handler; Arm: GIC
 * INTID -> first op) and the index of "main:". A program is for x86, for Arm, or for either (it uses
 * nothing architecture-specific); the engine refuses to load it into a vCPU of the other architecture.
 * Parsing is pure: no engine state, no threads. A parsed program is immutable and may be shared by several
 * vCPUs.
 */
#ifndef VIRQ_GUEST_PROGRAM_H
#define VIRQ_GUEST_PROGRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VIRQ_GUEST_NR_REGS 16
#define VIRQ_GUEST_NO_HANDLER UINT32_MAX
#define VIRQ_GUEST_MAX_OPS 65536u           /* ops a program may hold, not counting the implicit shutdown */
#define VIRQ_GUEST_MAX_TEXT (1024u * 1024u)  /* longest program text, in bytes */

enum virq_guest_opcode {
	VIRQ_OP_MMIO_WRITE, /* mmio_write ADDR, SIZE, VALUE|rN   */
	VIRQ_OP_MMIO_READ,  /* mmio_read rN, ADDR, SIZE          */
	VIRQ_OP_MEM_WRITE,  /* mem_write ADDR, SIZE, VALUE|rN    (guest RAM, no exit) */
	VIRQ_OP_OUT,        /* out PORT, SIZE, VALUE|rN          */
	VIRQ_OP_IN,         /* in rN, PORT, SIZE                 */
	VIRQ_OP_EOI,        /* eoi                               */
	VIRQ_OP_IRET,       /* iret                              */
	VIRQ_OP_STI,        /* sti                               */
	VIRQ_OP_CLI,        /* cli                               */
	VIRQ_OP_HLT,        /* hlt                               */
	VIRQ_OP_JMP,        /* jmp LABEL                         */
	VIRQ_OP_SPIN,       /* spin NS                           */
	VIRQ_OP_SET,        /* set rN, VALUE|rM                  */
	VIRQ_OP_ADD,        /* add rN, VALUE|rM                  */
	VIRQ_OP_LOOP,       /* loop rN, LABEL: rN -= 1; jump if rN != 0 */
	VIRQ_OP_JZ,         /* jz rN, LABEL                      */
	VIRQ_OP_JNZ,        /* jnz rN, LABEL                     */
	VIRQ_OP_ACK,        /* ack rN: rN = ICC_IAR1_EL1 (Arm: acknowledge; 1023 if nothing) */
	VIRQ_OP_EOIR,       /* eoir VALUE|rN: ICC_EOIR1_EL1 (priority drop, + deactivate in EOImode 0) */
	VIRQ_OP_DIR,        /* dir VALUE|rN: ICC_DIR_EL1 (deactivate, EOImode 1) */
	VIRQ_OP_PMR,        /* pmr VALUE|rN: ICC_PMR_EL1 */
	VIRQ_OP_EOIMODE,    /* eoimode VALUE|rN: ICC_CTLR_EL1.EOImode = bit 0 of VALUE */
	VIRQ_OP_IGRPEN1,    /* igrpen1 VALUE|rN: ICC_IGRPEN1_EL1.Enable = bit 0 of VALUE */
	VIRQ_OP_ERET,       /* eret: return from the IRQ exception (Arm's iret) */
	VIRQ_OP_SHUTDOWN,   /* shutdown: the vCPU stops, KVM_EXIT_SHUTDOWN (also what falling off main does) */
};

/* A value operand: an immediate or a register. */
struct virq_guest_value {
	bool is_reg;
	uint8_t reg;    /* 0..VIRQ_GUEST_NR_REGS-1 when is_reg */
	uint64_t imm;
};

struct virq_guest_op {
	enum virq_guest_opcode code;
	uint8_t reg;                    /* destination / counter register (mmio_read, in, set, add, loop, jz, jnz) */
	uint8_t size;                   /* access size in bytes: 1, 2, 4 or 8 (port I/O: 1, 2, 4) */
	uint64_t addr;                  /* MMIO or guest-physical address, or port number */
	struct virq_guest_value value;  /* value written (mmio_write, mem_write, out, set, add) */
	uint64_t ns;                    /* spin duration */
	uint32_t target;                /* op index of the jump target (jmp, loop, jz, jnz) */
	uint32_t line;                  /* 1-based source line, for messages (0 for the implicit final shutdown) */
};

enum virq_guest_arch {
	VIRQ_GUEST_ARCH_ANY,            /* nothing architecture-specific: loads anywhere */
	VIRQ_GUEST_ARCH_X86,            /* vector handlers, eoi, iret, in, out */
	VIRQ_GUEST_ARCH_ARM,            /* intid handlers, ack, eoir, dir, pmr, eoimode, igrpen1, eret */
};

#define VIRQ_GUEST_MAX_INTID 65535u   /* LPIs end at 2^16 - 1 (KVM's 16 ITS ID bits) */

struct virq_guest_intid_handler {
	uint32_t intid;
	uint32_t op;
};

struct virq_guest_program {
	struct virq_guest_op *ops;      /* ops[nr_ops] is always VIRQ_OP_SHUTDOWN (the implicit end) */
	uint32_t nr_ops;                /* not counting the implicit final shutdown */
	uint32_t entry;                 /* op index of "main:" */
	uint32_t handler[256];          /* op index of "vector N:", or VIRQ_GUEST_NO_HANDLER */
	enum virq_guest_arch arch;
	struct virq_guest_intid_handler *intid_handlers; /* "intid N:", sorted by INTID */
	uint32_t nr_intid_handlers;
	uint32_t intid_any;             /* op index of "intid any:", or VIRQ_GUEST_NO_HANDLER */
};

/* The first op of the handler for GIC INTID @intid ("intid N:", else "intid any:"), or NO_HANDLER. */
uint32_t virq_guest_intid_handler(const struct virq_guest_program *prog, uint32_t intid);

/* Why a text did not parse: 1-based line (0 if not tied to a line) and a message naming what was expected. */
struct virq_guest_error {
	unsigned line;
	char message[160];
};

/*
 * Parse @text. On success stores a new program in *@out and returns 0. On failure returns -EINVAL and
 * fills @err (if not NULL), or -ENOMEM. Never prints.
 */
int virq_guest_parse(const char *text, struct virq_guest_program **out, struct virq_guest_error *err);

void virq_guest_program_free(struct virq_guest_program *prog);

/* The mnemonic of an opcode ("mmio_write"), for traces and messages; "?" for a value outside the enum. */
const char *virq_guest_opcode_name(enum virq_guest_opcode code);

#endif /* VIRQ_GUEST_PROGRAM_H */
