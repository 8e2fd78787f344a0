/* SPDX-License-Identifier: MIT */
/*
 * test_parse.c - the micro-op guest's text form (src/guest/parse.c, docs/guest.md).
 *
 * Table-driven: the canonical example, every op's fields, number formats and spin units, comment
 * styles, jump resolution, the handler table, the limits, and one row per error class checking the line and
 * the words of the message. Parsing is pure, so nothing here needs a VM.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "guest/program.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static struct virq_guest_program *parse_ok(const char *text)
{
	struct virq_guest_program *prog = NULL;
	struct virq_guest_error err;
	int r = virq_guest_parse(text, &prog, &err);

	if (r != 0)
		fail_msg("parse failed (%d): %s\n--- text:\n%s", r, err.message, text);
	assert_non_null(prog);
	/* The contract every program keeps: the implicit end exists and is a shutdown. */
	assert_int_equal(prog->ops[prog->nr_ops].code, VIRQ_OP_SHUTDOWN);
	assert_int_equal(prog->ops[prog->nr_ops].line, 0);
	return prog;
}

/* ---- the canonical example ------------------------------------------------------------------------------- */

static const char example[] =
	"vector 0x41:                          ; handler for vector 0x41, runs with interrupts disabled\n"
	"    mmio_write 0xd0000000, 4, 0x41    ; unclaimed address: exits to the VMM as KVM_EXIT_MMIO\n"
	"    eoi                               ; write the local APIC's EOI register\n"
	"    iret                              ; return to the interrupted op, interrupts enabled again\n"
	"main:\n"
	"    mmio_write 0xfee000f0, 4, 0x1ff   ; local APIC spurious-vector register: software-enable\n"
	"    mmio_write 0xfec00000, 4, 0x1a    ; IOAPIC IOREGSEL = redirection entry 5, low half\n"
	"    mmio_write 0xfec00010, 4, 0x8051  ; vector 0x51, level, fixed, physical, unmasked\n"
	"    sti\n"
	"loop:\n"
	"    hlt                               ; block until an interrupt is deliverable\n"
	"    jmp loop\n";

static void test_example(void **state)
{
	static const struct {
		enum virq_guest_opcode code;
		uint64_t addr;
		uint64_t imm;
		uint32_t target;
		uint32_t line;
	} want[] = {
		{ VIRQ_OP_MMIO_WRITE, 0xd0000000, 0x41, 0, 2 },
		{ VIRQ_OP_EOI, 0, 0, 0, 3 },
		{ VIRQ_OP_IRET, 0, 0, 0, 4 },
		{ VIRQ_OP_MMIO_WRITE, 0xfee000f0, 0x1ff, 0, 6 },
		{ VIRQ_OP_MMIO_WRITE, 0xfec00000, 0x1a, 0, 7 },
		{ VIRQ_OP_MMIO_WRITE, 0xfec00010, 0x8051, 0, 8 },
		{ VIRQ_OP_STI, 0, 0, 0, 9 },
		{ VIRQ_OP_HLT, 0, 0, 0, 11 },
		{ VIRQ_OP_JMP, 0, 0, 7, 12 },
	};
	struct virq_guest_program *prog = parse_ok(example);

	assert_int_equal(prog->nr_ops, ARRAY_SIZE(want));
	assert_int_equal(prog->entry, 3);
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		const struct virq_guest_op *op = &prog->ops[i];

		assert_int_equal(op->code, want[i].code);
		assert_int_equal(op->line, want[i].line);
		if (op->code == VIRQ_OP_MMIO_WRITE) {
			assert_int_equal(op->addr, want[i].addr);
			assert_int_equal(op->size, 4);
			assert_false(op->value.is_reg);
			assert_int_equal(op->value.imm, want[i].imm);
		}
		if (op->code == VIRQ_OP_JMP)
			assert_int_equal(op->target, want[i].target);
	}
	for (unsigned v = 0; v < 256; v++)
		assert_int_equal(prog->handler[v], v == 0x41 ? 0 : VIRQ_GUEST_NO_HANDLER);
	virq_guest_program_free(prog);
}

/* ---- every op -------------------------------------------------------------------------------------------- */

/* Each line is parsed as "main: LINE\nend:\n", so main is op 0 and end is op 1 (the implicit shutdown). */
static const struct {
	const char *line;
	struct virq_guest_op want; /* .line is not compared: it is always 1 */
} op_cases[] = {
	{ "mmio_write 0xfee000b0, 4, 0", { .code = VIRQ_OP_MMIO_WRITE, .addr = 0xfee000b0, .size = 4 } },
	{ "mmio_write 0x1000, 8, r7", { .code = VIRQ_OP_MMIO_WRITE, .addr = 0x1000, .size = 8,
					.value = { .is_reg = true, .reg = 7 } } },
	{ "mmio_write 0xfffffffffffffff8, 8, 0xffffffffffffffff",
	  { .code = VIRQ_OP_MMIO_WRITE, .addr = 0xfffffffffffffff8, .size = 8, .value.imm = UINT64_MAX } },
	{ "mmio_read r15, 0xfec00010, 4", { .code = VIRQ_OP_MMIO_READ, .reg = 15, .addr = 0xfec00010, .size = 4 } },
	{ "mmio_read r0, 0xd0000000, 1", { .code = VIRQ_OP_MMIO_READ, .reg = 0, .addr = 0xd0000000, .size = 1 } },
	{ "mem_write 0x2000, 2, 0xffff", { .code = VIRQ_OP_MEM_WRITE, .addr = 0x2000, .size = 2, .value.imm = 0xffff } },
	{ "mem_write 0x2000, 1, r0", { .code = VIRQ_OP_MEM_WRITE, .addr = 0x2000, .size = 1, .value.is_reg = true } },
	{ "out 0x20, 1, 0x20", { .code = VIRQ_OP_OUT, .addr = 0x20, .size = 1, .value.imm = 0x20 } },
	{ "out 0xffff, 4, r3", { .code = VIRQ_OP_OUT, .addr = 0xffff, .size = 4, .value = { .is_reg = true, .reg = 3 } } },
	{ "in r1, 0x60, 1", { .code = VIRQ_OP_IN, .reg = 1, .addr = 0x60, .size = 1 } },
	{ "in r2, 0xcfc, 4", { .code = VIRQ_OP_IN, .reg = 2, .addr = 0xcfc, .size = 4 } },
	{ "eoi", { .code = VIRQ_OP_EOI } },
	{ "iret", { .code = VIRQ_OP_IRET } },
	{ "sti", { .code = VIRQ_OP_STI } },
	{ "cli", { .code = VIRQ_OP_CLI } },
	{ "hlt", { .code = VIRQ_OP_HLT } },
	{ "shutdown", { .code = VIRQ_OP_SHUTDOWN } },
	{ "jmp end", { .code = VIRQ_OP_JMP, .target = 1 } },
	{ "jmp main", { .code = VIRQ_OP_JMP, .target = 0 } },
	{ "spin 2us", { .code = VIRQ_OP_SPIN, .ns = 2000 } },
	{ "spin 750", { .code = VIRQ_OP_SPIN, .ns = 750 } },
	{ "set r4, 0xdeadbeef", { .code = VIRQ_OP_SET, .reg = 4, .value.imm = 0xdeadbeef } },
	{ "set r4, r5", { .code = VIRQ_OP_SET, .reg = 4, .value = { .is_reg = true, .reg = 5 } } },
	{ "set r0, -1", { .code = VIRQ_OP_SET, .reg = 0, .value.imm = UINT64_MAX } },
	{ "add r1, 1", { .code = VIRQ_OP_ADD, .reg = 1, .value.imm = 1 } },
	{ "add r1, -2", { .code = VIRQ_OP_ADD, .reg = 1, .value.imm = (uint64_t)-2 } },
	{ "add r1, r2", { .code = VIRQ_OP_ADD, .reg = 1, .value = { .is_reg = true, .reg = 2 } } },
	{ "loop r2, main", { .code = VIRQ_OP_LOOP, .reg = 2, .target = 0 } },
	{ "jz r3, end", { .code = VIRQ_OP_JZ, .reg = 3, .target = 1 } },
	{ "jnz r9, main", { .code = VIRQ_OP_JNZ, .reg = 9, .target = 0 } },
	/* Mnemonics and registers are case-insensitive. */
	{ "MMIO_Write 0X10, 2, R12", { .code = VIRQ_OP_MMIO_WRITE, .addr = 0x10, .size = 2,
				       .value = { .is_reg = true, .reg = 12 } } },
	{ "HLT", { .code = VIRQ_OP_HLT } },
	{ "Jnz R1, end", { .code = VIRQ_OP_JNZ, .reg = 1, .target = 1 } },
	/* Blanks are free around operands and commas. */
	{ "\tout\t0x80 ,1,   0xaa  ", { .code = VIRQ_OP_OUT, .addr = 0x80, .size = 1, .value.imm = 0xaa } },
};

static void test_every_op(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(op_cases); i++) {
		const struct virq_guest_op *w = &op_cases[i].want;
		char text[256];
		struct virq_guest_program *prog;
		const struct virq_guest_op *op;

		snprintf(text, sizeof(text), "main: %s\nend:\n", op_cases[i].line);
		prog = parse_ok(text);
		assert_int_equal(prog->nr_ops, 1);
		assert_int_equal(prog->entry, 0);
		op = &prog->ops[0];
		if (op->code != w->code || op->reg != w->reg || op->size != w->size || op->addr != w->addr ||
		    op->value.is_reg != w->value.is_reg || op->value.reg != w->value.reg ||
		    op->value.imm != w->value.imm || op->ns != w->ns || op->target != w->target || op->line != 1)
			fail_msg("'%s': got code %d reg %u size %u addr %#llx value %d/%u/%#llx ns %llu target %u",
				 op_cases[i].line, op->code, op->reg, op->size, (unsigned long long)op->addr,
				 op->value.is_reg, op->value.reg, (unsigned long long)op->value.imm,
				 (unsigned long long)op->ns, op->target);
		virq_guest_program_free(prog);
	}
}

/* ---- numbers and spin units ------------------------------------------------------------------------------ */

static const struct {
	const char *line;
	uint64_t want; /* set: the immediate; spin: the ns */
} number_cases[] = {
	{ "set r0, 0", 0 },
	{ "set r0, 42", 42 },
	{ "set r0, 1_000_000", 1000000 },
	{ "set r0, 0x1F", 0x1f },
	{ "set r0, 0XfF", 0xff },
	{ "set r0, 0xffff_ffff_ffff_ffff", UINT64_MAX },
	{ "set r0, 18446744073709551615", UINT64_MAX },
	{ "set r0, 0b1010", 10 },
	{ "set r0, 0B1", 1 },
	{ "set r0, 0b1111_0000", 0xf0 },
	{ "set r0, 0x00ff", 0xff }, /* leading zeros are fine after 0x/0b: no octal to confuse with */
	{ "set r0, -1", UINT64_MAX },
	{ "set r0, -0x8000000000000000", 0x8000000000000000ull },
	{ "spin 0", 0 },
	{ "spin 500", 500 },
	{ "spin 500ns", 500 },
	{ "spin 2us", 2000 },
	{ "spin 1ms", 1000000 },
	{ "spin 1s", 1000000000 },
	{ "spin 1_500US", 1500000 },
	{ "spin 3Ms", 3000000 },
	{ "spin 0x10us", 16000 },
	{ "spin 0b11ns", 3 },
	{ "spin 18446744073709551615ns", UINT64_MAX },
	{ "spin 18446744073s", 18446744073000000000ull },
};

static void test_numbers(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(number_cases); i++) {
		char text[128];
		struct virq_guest_program *prog;
		uint64_t got;

		snprintf(text, sizeof(text), "main:\n%s\n", number_cases[i].line);
		prog = parse_ok(text);
		got = prog->ops[0].code == VIRQ_OP_SPIN ? prog->ops[0].ns : prog->ops[0].value.imm;
		if (got != number_cases[i].want)
			fail_msg("'%s': got %#llx, want %#llx", number_cases[i].line, (unsigned long long)got,
				 (unsigned long long)number_cases[i].want);
		virq_guest_program_free(prog);
	}
}

/* ---- comments, blanks, line ends ------------------------------------------------------------------------- */

static const struct {
	const char *text;
	uint32_t nr_ops;
	enum virq_guest_opcode first;
	uint32_t first_line;
} comment_cases[] = {
	{ "; a comment\nmain:\n  hlt\n", 1, VIRQ_OP_HLT, 3 },
	{ "# a comment\nmain:\n  hlt\n", 1, VIRQ_OP_HLT, 3 },
	{ "main: ; the entry\n  hlt ; sleep\n", 1, VIRQ_OP_HLT, 2 },
	{ "main: # the entry\n  hlt # sleep\n", 1, VIRQ_OP_HLT, 2 },
	{ "main:\n  mmio_write 1, 4, 2;no blank before the comment\n", 1, VIRQ_OP_MMIO_WRITE, 2 },
	{ "main:\n  ; comment, with: punctuation # and 'quotes'\n\n\n  sti\n", 1, VIRQ_OP_STI, 5 },
	{ "main:\r\n  cli\r\n  hlt\r\n", 2, VIRQ_OP_CLI, 2 },         /* CRLF line ends */
	{ "\n\n   \t\nmain:\n  eoi", 1, VIRQ_OP_EOI, 5 },             /* no final newline */
	{ "main:", 0, VIRQ_OP_SHUTDOWN, 0 },                           /* only the implicit shutdown */
	{ "main: hlt ; hlt\n;hlt\n#hlt\n", 1, VIRQ_OP_HLT, 1 },
};

static void test_comments(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(comment_cases); i++) {
		struct virq_guest_program *prog = parse_ok(comment_cases[i].text);

		assert_int_equal(prog->nr_ops, comment_cases[i].nr_ops);
		assert_int_equal(prog->ops[0].code, comment_cases[i].first);
		assert_int_equal(prog->ops[0].line, comment_cases[i].first_line);
		virq_guest_program_free(prog);
	}
}

/* ---- jumps, labels and handlers -------------------------------------------------------------------------- */

static void test_jumps(void **state)
{
	static const char text[] =
		"main:\n"
		"    jmp fwd            ; 0: forward\n"
		"back: hlt              ; 1\n"
		"fwd:\n"
		"    set r1, 3          ; 2\n"
		"again: add r2, 1       ; 3\n"
		"    loop r1, again     ; 4: backward\n"
		"    jz r2, back        ; 5\n"
		"    jnz r2, done       ; 6\n"
		"a: b: c: jmp a         ; 7: several labels on one line\n"
		"done:\n"
		"Done: jmp Done         ; 8: labels are case-sensitive\n"
		"end:\n";
	static const uint32_t want_target[] = { 2, 0, 0, 0, 3, 1, 8, 7, 8 };
	struct virq_guest_program *prog = parse_ok(text);

	assert_int_equal(prog->nr_ops, 9);
	for (size_t i = 0; i < ARRAY_SIZE(want_target); i++) {
		enum virq_guest_opcode c = prog->ops[i].code;

		if (c == VIRQ_OP_JMP || c == VIRQ_OP_LOOP || c == VIRQ_OP_JZ || c == VIRQ_OP_JNZ)
			assert_int_equal(prog->ops[i].target, want_target[i]);
	}
	virq_guest_program_free(prog);

	/* A label at the end names the implicit shutdown; labels may be spelled like mnemonics. */
	prog = parse_ok("main: jmp out\nhlt: hlt\nout:\n");
	assert_int_equal(prog->nr_ops, 2);
	assert_int_equal(prog->ops[0].target, 2);
	assert_int_equal(prog->ops[prog->ops[0].target].code, VIRQ_OP_SHUTDOWN);
	virq_guest_program_free(prog);
}

static void test_handlers(void **state)
{
	static const char text[] =
		"vector 0x20: eoi           ; 0: op on the handler's line\n"
		"    iret                   ; 1\n"
		"VECTOR 33:                 ; decimal, keyword case-insensitive\n"
		"h33: vector 0xff: iret     ; 2: a label and a handler naming the same op\n"
		"main:\n"
		"    hlt                    ; 3\n"
		"vector 0x10:               ; the lowest allowed; empty handler at the end\n";
	struct virq_guest_program *prog = parse_ok(text);

	assert_int_equal(prog->nr_ops, 4);
	assert_int_equal(prog->entry, 3);
	for (unsigned v = 0; v < 256; v++) {
		uint32_t want = VIRQ_GUEST_NO_HANDLER;

		if (v == 0x20)
			want = 0;
		else if (v == 33 || v == 0xff)
			want = 2;
		else if (v == 0x10)
			want = 4; /* the implicit shutdown */
		assert_int_equal(prog->handler[v], want);
	}
	virq_guest_program_free(prog);
}

/* ---- errors ---------------------------------------------------------------------------------------------- */

static const struct {
	const char *text;
	unsigned line;
	const char *words; /* must appear in the message */
} error_cases[] = {
	/* operand counts */
	{ "main:\n\n  mmio_write 0x10, 4\n", 3, "line 3: mmio_write expects 3 operands (ADDR, SIZE, VALUE), found 2" },
	{ "main:\n  mmio_write 0x10, 4, 1, 2, 3\n", 2, "mmio_write expects 3 operands (ADDR, SIZE, VALUE), found 5" },
	{ "main:\n  mmio_read r1\n", 2, "mmio_read expects 3 operands (rN, ADDR, SIZE), found 1" },
	{ "main:\n  out 0x20, 1\n", 2, "out expects 3 operands (PORT, SIZE, VALUE), found 2" },
	{ "main:\n  in r1\n", 2, "in expects 3 operands (rN, PORT, SIZE), found 1" },
	{ "main:\n  hlt 1\n", 2, "line 2: hlt takes no operands, found 1" },
	{ "main:\n  iret r1, r2\n", 2, "iret takes no operands, found 2" },
	{ "main:\n  jmp\n", 2, "jmp expects 1 operand (LABEL), found 0" },
	{ "main:\n  spin\n", 2, "spin expects 1 operand (NS), found 0" },
	{ "main:\n  set r1, 2, 3\n", 2, "set expects 2 operands (rN, VALUE), found 3" },
	{ "main:\n  loop r1\n", 2, "loop expects 2 operands (rN, LABEL), found 1" },
	/* unknown ops and stray tokens */
	{ "main:\n\n\n\n\n\n  mov r1, 2\n", 7, "line 7: unknown op 'mov'" },
	{ "main:\n  set r1, 1\n  foo\n", 3, "unknown op 'foo' (a label needs a ':'" },
	{ "main:\n  5\n", 2, "expected an op or a label, found '5'" },
	{ "main:\n  @hlt\n", 2, "expected an op or a label, found '@'" },
	{ "main:\n  hlt\x01\n", 2, "expected an operand, found byte 0x01" },
	{ "main:\n  \x01\n", 2, "found byte 0x01" },
	{ "main:\r\n  mov\r\n", 2, "unknown op 'mov'" },
	/* operand separators */
	{ "main:\n  hlt,\n", 2, "missing operand before ','" },
	{ "main:\n  jmp main,\n", 2, "missing operand after ','" },
	{ "main:\n  mmio_write 0x10,,4\n", 2, "missing operand before ','" },
	{ "main:\n  mmio_write 0x10 4 5\n", 2, "expected ',' or end of line after '0x10', found '4'" },
	{ "main:\n  spin 2 us\n", 2, "expected ',' or end of line after '2', found 'us'" },
	{ "main:\n  set r1, a:b\n", 2, "expected ',' or end of line after 'a', found ':'" },
	{ "main:\n  set r1, @\n", 2, "expected an operand, found '@'" },
	/* sizes, ports, values */
	{ "main:\n  mmio_write 0x10, 3, 0\n", 2, "line 2: size must be 1, 2, 4 or 8, found 3" },
	{ "main:\n  mmio_read r1, 0x10, 16\n", 2, "size must be 1, 2, 4 or 8, found 16" },
	{ "main:\n  mem_write 0x10, 0, 0\n", 2, "size must be 1, 2, 4 or 8, found 0" },
	{ "main:\n  out 0x20, 8, 0\n", 2, "size must be 1, 2 or 4 for port I/O, found 8" },
	{ "main:\n  in r1, 0x20, 3\n", 2, "size must be 1, 2 or 4 for port I/O, found 3" },
	{ "main:\n  out 0x10000, 1, 0\n", 2, "port must be 0..0xffff, found 0x10000" },
	{ "main:\n  in r0, 65536, 1\n", 2, "port must be 0..0xffff, found 65536" },
	{ "main:\n  mmio_write 0x10, 1, 0x100\n", 2, "value 0x100 does not fit in 1 byte (at most 0xff)" },
	{ "main:\n  mem_write 0x10, 2, 65536\n", 2, "value 65536 does not fit in 2 bytes (at most 0xffff)" },
	{ "main:\n  out 0x20, 4, 0x1_0000_0000\n", 2, "does not fit in 4 bytes (at most 0xffffffff)" },
	{ "main:\n  mmio_write 0x10, 4, -1\n", 2, "mmio_write operand 3 (VALUE) must not be negative, found '-1'" },
	{ "main:\n  mmio_write -16, 4, 1\n", 2, "mmio_write operand 1 (ADDR) must not be negative" },
	{ "main:\n  mmio_write 0xffffffffffffffff, 4, 0\n", 2, "runs past the end of the address space" },
	{ "main:\n  mmio_read r1, 0xfffffffffffffffe, 4\n", 2, "4-byte access at 0xfffffffffffffffe runs past" },
	/* operand kinds */
	{ "main:\n  mmio_read 5, 0x10, 4\n", 2, "mmio_read operand 1 (rN) must be a register r0..r15, found '5'" },
	{ "main:\n  set x, 1\n", 2, "set operand 1 (rN) must be a register r0..r15, found 'x'" },
	{ "main:\n  set r16, 1\n", 2, "no register 'r16': registers are r0..r15" },
	{ "main:\n  set r01, 1\n", 2, "no register 'r01'" },
	{ "main:\n  add r1, r99\n", 2, "no register 'r99'" },
	{ "main:\n  jmp r1\n", 2, "jmp operand 1 (LABEL) must be a label, found 'r1'" },
	{ "main:\n  jz r1, 5\n", 2, "jz operand 2 (LABEL) must be a label, found '5'" },
	{ "main:\n  mmio_write lbl, 4, 0\n", 2, "mmio_write operand 1 (ADDR) must be a number, found 'lbl'" },
	{ "main:\n  mmio_write 0x10, r1, 0\n", 2, "mmio_write operand 2 (SIZE) must be a number, found 'r1'" },
	{ "main:\n  set r1, foo\n", 2, "set operand 2 (VALUE) must be a number or a register r0..r15, found 'foo'" },
	{ "main:\n  spin r1\n", 2, "spin operand 1 (NS) must be a number, found 'r1'" },
	/* numbers */
	{ "main:\n  set r1, 12abc\n", 2, "invalid number '12abc'" },
	{ "main:\n  set r1, 010\n", 2, "invalid number '010': leading zeros are not allowed" },
	{ "main:\n  set r1, 00\n", 2, "leading zeros" },
	{ "main:\n  set r1, 0x1_0000_0000_0000_0000\n", 2, "number '0x1_0000_0000_0000_0000' does not fit in 64 bits" },
	{ "main:\n  set r1, 18446744073709551616\n", 2, "does not fit in 64 bits" },
	{ "main:\n  set r1, 1__0\n", 2, "invalid number '1__0'" },
	{ "main:\n  set r1, 1_\n", 2, "invalid number '1_'" },
	{ "main:\n  set r1, 0x_1\n", 2, "invalid number '0x_1'" },
	{ "main:\n  set r1, 0x\n", 2, "invalid number '0x'" },
	{ "main:\n  set r1, 0b2\n", 2, "invalid number '0b2'" },
	{ "main:\n  set r1, 0xfg\n", 2, "invalid number '0xfg'" },
	{ "main:\n  set r1, -0x8000000000000001\n", 2, "must be at least -2^63" },
	{ "main:\n  set r1, 2us\n", 2, "set operand 2 (VALUE) takes no unit (units are for spin), found '2us'" },
	{ "main:\n  mmio_write 0x10, 4us, 0\n", 2, "takes no unit" },
	{ "main:\n  spin 2ks\n", 2, "invalid number '2ks'" },
	{ "main:\n  spin 1.5us\n", 2, "after '1', found '.'" },
	{ "main:\n  spin -5\n", 2, "spin operand 1 (NS) must not be negative" },
	{ "main:\n  spin 18446744073709551615us\n", 2, "must be at most 2^64-1 ns" },
	{ "main:\n  spin 18446744074s\n", 2, "must be at most 2^64-1 ns" },
	/* labels */
	{ "main:\nloop:\nloop: hlt\n", 3, "line 3: label 'loop' is already defined on line 2" },
	{ "main:\n  hlt\nmain:\n", 3, "label 'main' is already defined on line 1" },
	{ "main:\nr3: hlt\n", 2, "'r3' is a register name and cannot be a label" },
	{ "main:\n\n\n\n\n\n\n\n  jmp lop\nloop: hlt\n", 9, "line 9: jump to undefined label 'lop'" },
	{ "loop:\nmain:\n  jmp Loop\n", 3, "jump to undefined label 'Loop'" },
	{ "main:\n  jnz r1, nowhere\n", 2, "jump to undefined label 'nowhere'" },
	{ "hlt: jmp x\n", 1, "jump to undefined label 'x'" }, /* reported before the missing main */
	{ "hlt\n", 0, "missing 'main:' label" },
	{ "", 0, "missing 'main:' label" },
	{ "Main:\n  hlt\n", 0, "missing 'main:' label" },
	{ "main\n  hlt\n", 1, "unknown op 'main' (a label needs a ':'" },
	/* handlers */
	{ "vector 0x41:\n  iret\nvector 65:\n  iret\nmain:\n", 3, "line 3: vector 0x41 already has a handler (line 1)" },
	{ "vector 3:\nmain:\n", 1, "vector 3 is reserved for x86 exceptions (0-15)" },
	{ "main:\nvector 0x0f:\n", 2, "vector 15 is reserved for x86 exceptions" },
	{ "main:\nvector 0:\n", 2, "vector 0 is reserved" },
	{ "vector 256:\nmain:\n", 1, "vector must be 16..255 (0x10..0xff), found 256" },
	{ "vector -1:\nmain:\n", 1, "vector must be 16..255 (0x10..0xff), found -1" },
	{ "vector 0x41\nmain:\n", 1, "expected ':' after the vector number, found end of line" },
	{ "vector 0x41 hlt\nmain:\n", 1, "expected ':' after the vector number, found 'hlt'" },
	{ "vector:\nmain:\n", 1, "'vector' expects a vector number, as in 'vector 0x41:', found ':'" },
	{ "vector foo:\nmain:\n", 1, "'vector' expects a vector number" },
	{ "vector 0x41us:\nmain:\n", 1, "vector must be 16..255" },
	{ "main:\n  vector 0x41: hlt extra\n", 2, "hlt takes no operands, found 1" },
	/* Arm: INTID handlers, and one architecture per program */
	{ "intid 1020:\nmain:\n", 1, "intid must be 0..1019 (SGI, PPI, SPI) or 8192..65535 (LPI), found 1020" },
	{ "intid 8191:\nmain:\n", 1, "intid must be 0..1019" },
	{ "intid 65536:\nmain:\n", 1, "intid must be 0..1019" },
	{ "intid x:\nmain:\n", 1, "'intid' expects an INTID or 'any', as in 'intid 8192:', found 'x'" },
	{ "intid 8192\nmain:\n", 1, "expected ':' after the INTID, found end of line" },
	{ "intid 8192: eret\nmain:\nintid 0x2000: eret\n", 3, "intid 8192 already has a handler (line 1)" },
	{ "intid any: eret\nintid any: eret\nmain:\n", 2, "'intid any' already has a handler (line 1)" },
	{ "intid 8192:\n  eoir r15\n  eret\nmain:\n  eoi\n", 5,
	  "'eoi' is x86 only, but 'intid' on line 1 made this an Arm program" },
	{ "vector 0x41: iret\nmain:\n  ack r1\n", 3, "'ack' is Arm only, but 'vector' on line 1 made this an x86 program" },
	{ "main:\n  out 0x20, 1, 0\nintid 5: eret\n", 3, "'intid' is Arm only, but 'out' on line 2" },
	{ "main:\n  ack 5\n", 2, "ack operand 1 (rN) must be a register" },
	{ "main:\n  eoir\n", 2, "eoir expects 1 operand (VALUE), found 0" },
};

/* Arm handlers and ops: the INTID table is sorted, "intid any" catches the rest, the arch is recorded. */
static void test_arm_handlers(void **state)
{
	struct virq_guest_program *prog = parse_ok(
		"intid 8195:\n  eoir r15\n  eret\n"
		"intid 27: intid 0x1f:\n  ack r2\n  dir r2\n  eret\n"
		"intid any:\n  pmr 0xf0\n  eoimode 1\n  igrpen1 1\n  eret\n"
		"main:\n  sti\n  hlt\n");

	assert_int_equal(prog->arch, VIRQ_GUEST_ARCH_ARM);
	assert_int_equal(prog->nr_intid_handlers, 3);
	assert_int_equal(prog->intid_handlers[0].intid, 27);
	assert_int_equal(prog->intid_handlers[1].intid, 31);
	assert_int_equal(prog->intid_handlers[2].intid, 8195);
	assert_int_equal(virq_guest_intid_handler(prog, 8195), 0);
	assert_int_equal(virq_guest_intid_handler(prog, 27), 2);
	assert_int_equal(virq_guest_intid_handler(prog, 31), 2);
	assert_int_equal(virq_guest_intid_handler(prog, 40), 5); /* intid any */
	assert_int_equal(prog->ops[0].code, VIRQ_OP_EOIR);
	assert_true(prog->ops[0].value.is_reg && prog->ops[0].value.reg == 15);
	assert_int_equal(prog->ops[1].code, VIRQ_OP_ERET);
	assert_int_equal(prog->ops[2].code, VIRQ_OP_ACK);
	assert_int_equal(prog->ops[2].reg, 2);
	assert_int_equal(prog->ops[3].code, VIRQ_OP_DIR);
	assert_int_equal(prog->ops[5].code, VIRQ_OP_PMR);
	assert_int_equal(prog->ops[5].value.imm, 0xf0);
	assert_int_equal(prog->ops[6].code, VIRQ_OP_EOIMODE);
	assert_int_equal(prog->ops[7].code, VIRQ_OP_IGRPEN1);
	for (unsigned v = 0; v < 256; v++)
		assert_int_equal(prog->handler[v], VIRQ_GUEST_NO_HANDLER);
	virq_guest_program_free(prog);

	/* Without "intid any", an INTID with no handler has none; a neutral program loads anywhere. */
	prog = parse_ok("intid 8192: eret\nmain: hlt\n");
	assert_int_equal(virq_guest_intid_handler(prog, 8193), VIRQ_GUEST_NO_HANDLER);
	virq_guest_program_free(prog);
	prog = parse_ok("main:\n  sti\n  hlt\n");
	assert_int_equal(prog->arch, VIRQ_GUEST_ARCH_ANY);
	virq_guest_program_free(prog);
	prog = parse_ok(example);
	assert_int_equal(prog->arch, VIRQ_GUEST_ARCH_X86);
	virq_guest_program_free(prog);
}

static void test_errors(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(error_cases); i++) {
		struct virq_guest_program *prog = (struct virq_guest_program *)&prog; /* must stay untouched */
		struct virq_guest_program *const sentinel = prog;
		struct virq_guest_error err;
		int r = virq_guest_parse(error_cases[i].text, &prog, &err);

		if (r != -EINVAL || err.line != error_cases[i].line || !strstr(err.message, error_cases[i].words))
			fail_msg("case %zu: got %d, line %u, \"%s\"; want line %u, \"%s\"", i, r, err.line,
				 err.message, error_cases[i].line, error_cases[i].words);
		assert_ptr_equal(prog, sentinel);
		assert_true(strlen(err.message) < sizeof(err.message));
	}
}

/* A long token is cut short in the message, which always stays within its buffer. */
static void test_error_long_token(void **state)
{
	char text[600] = "main:\n  ";
	struct virq_guest_program *prog = NULL;
	struct virq_guest_error err;

	memset(text + strlen(text), 'x', 500);
	text[sizeof(text) - 1] = '\0';
	assert_int_equal(virq_guest_parse(text, &prog, &err), -EINVAL);
	assert_int_equal(err.line, 2);
	assert_non_null(strstr(err.message, "unknown op 'xxxxxxxx"));
	assert_non_null(strstr(err.message, "...'"));
	assert_null(prog);
}

/* ---- limits and bad arguments ---------------------------------------------------------------------------- */

static void test_bad_arguments(void **state)
{
	struct virq_guest_program *prog = NULL;
	struct virq_guest_error err;

	assert_int_equal(virq_guest_parse(NULL, &prog, &err), -EINVAL);
	assert_int_equal(err.line, 0);
	assert_non_null(strstr(err.message, "NULL"));
	assert_null(prog);
	assert_int_equal(virq_guest_parse("main:\n", NULL, &err), -EINVAL);
	assert_non_null(strstr(err.message, "NULL"));
	/* err is optional, on failure as on success */
	assert_int_equal(virq_guest_parse("main:\n  mov\n", &prog, NULL), -EINVAL);
	assert_int_equal(virq_guest_parse("main:\n", &prog, NULL), 0);
	virq_guest_program_free(prog);
	virq_guest_program_free(NULL);
}

static void test_text_limit(void **state)
{
	size_t max = VIRQ_GUEST_MAX_TEXT;
	char *text = malloc(max + 2);
	struct virq_guest_program *prog = NULL;
	struct virq_guest_error err;

	assert_non_null(text);
	/* Exactly 1 MiB: "main:" then a comment running to the end. */
	memset(text, ' ', max);
	memcpy(text, "main: ;", 7);
	text[max] = '\0';
	prog = parse_ok(text);
	virq_guest_program_free(prog);
	prog = NULL;
	/* One byte more. */
	text[max] = ' ';
	text[max + 1] = '\0';
	assert_int_equal(virq_guest_parse(text, &prog, &err), -EINVAL);
	assert_int_equal(err.line, 0);
	assert_non_null(strstr(err.message, "longer than 1048576 bytes"));
	assert_null(prog);
	free(text);
}

static char *repeat_ops(unsigned nr)
{
	static const char line[] = "hlt\n";
	char *text = malloc(6 + (size_t)nr * (sizeof(line) - 1) + 1);
	char *p = text;

	assert_non_null(text);
	p += sprintf(p, "main:\n");
	for (unsigned i = 0; i < nr; i++)
		p += sprintf(p, "%s", line);
	return text;
}

static void test_op_limit(void **state)
{
	char *text = repeat_ops(VIRQ_GUEST_MAX_OPS);
	struct virq_guest_program *prog = parse_ok(text);
	struct virq_guest_error err;

	assert_int_equal(prog->nr_ops, VIRQ_GUEST_MAX_OPS);
	assert_int_equal(prog->ops[VIRQ_GUEST_MAX_OPS - 1].code, VIRQ_OP_HLT);
	virq_guest_program_free(prog);
	free(text);

	prog = NULL;
	text = repeat_ops(VIRQ_GUEST_MAX_OPS + 1);
	assert_int_equal(virq_guest_parse(text, &prog, &err), -EINVAL);
	assert_int_equal(err.line, VIRQ_GUEST_MAX_OPS + 2); /* "main:" is line 1 */
	assert_non_null(strstr(err.message, "too many ops: a program holds at most 65536"));
	assert_null(prog);
	free(text);
}

/* Many labels: exercises the label table's growth; every jump still lands on its own label. */
static void test_many_labels(void **state)
{
	enum { N = 5000 };
	char *text = malloc((size_t)N * 40 + 64);
	char *p = text;
	struct virq_guest_program *prog;

	assert_non_null(text);
	p += sprintf(p, "main:\n");
	for (unsigned i = 0; i < N; i++)
		p += sprintf(p, "l%u: jmp l%u\n", i, N - 1 - i);
	prog = parse_ok(text);
	assert_int_equal(prog->nr_ops, N);
	for (unsigned i = 0; i < N; i++)
		assert_int_equal(prog->ops[i].target, N - 1 - i);
	virq_guest_program_free(prog);
	free(text);
}

static void test_opcode_names(void **state)
{
	static const struct {
		enum virq_guest_opcode code;
		const char *name;
	} names[] = {
		{ VIRQ_OP_MMIO_WRITE, "mmio_write" }, { VIRQ_OP_MMIO_READ, "mmio_read" },
		{ VIRQ_OP_MEM_WRITE, "mem_write" },   { VIRQ_OP_OUT, "out" },
		{ VIRQ_OP_IN, "in" },                 { VIRQ_OP_EOI, "eoi" },
		{ VIRQ_OP_IRET, "iret" },             { VIRQ_OP_STI, "sti" },
		{ VIRQ_OP_CLI, "cli" },               { VIRQ_OP_HLT, "hlt" },
		{ VIRQ_OP_JMP, "jmp" },               { VIRQ_OP_SPIN, "spin" },
		{ VIRQ_OP_SET, "set" },               { VIRQ_OP_ADD, "add" },
		{ VIRQ_OP_LOOP, "loop" },             { VIRQ_OP_JZ, "jz" },
		{ VIRQ_OP_JNZ, "jnz" },               { VIRQ_OP_SHUTDOWN, "shutdown" },
		{ VIRQ_OP_ACK, "ack" },               { VIRQ_OP_EOIR, "eoir" },
		{ VIRQ_OP_DIR, "dir" },               { VIRQ_OP_PMR, "pmr" },
		{ VIRQ_OP_EOIMODE, "eoimode" },       { VIRQ_OP_IGRPEN1, "igrpen1" },
		{ VIRQ_OP_ERET, "eret" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		assert_string_equal(virq_guest_opcode_name(names[i].code), names[i].name);
	assert_string_equal(virq_guest_opcode_name((enum virq_guest_opcode)(VIRQ_OP_SHUTDOWN + 1)), "?");
	assert_string_equal(virq_guest_opcode_name((enum virq_guest_opcode)-1), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_example),
		cmocka_unit_test(test_every_op),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_comments),
		cmocka_unit_test(test_jumps),
		cmocka_unit_test(test_handlers),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_arm_handlers),
		cmocka_unit_test(test_error_long_token),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_text_limit),
		cmocka_unit_test(test_op_limit),
		cmocka_unit_test(test_many_labels),
		cmocka_unit_test(test_opcode_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
