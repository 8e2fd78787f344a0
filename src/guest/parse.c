/* SPDX-License-Identifier: MIT */
/*
 * parse.c - turn the text form of a micro-op guest program (docs/guest.md) into a struct virq_guest_program.
 *
 * One pass over the lines builds the flat op array, the label table and the handler table. A jump's label is
 * recorded as a fixup and resolved once the whole text is read, so forward references work. Then the
 * implicit final shutdown is appended, so that falling off the end of the program stops the vCPU.
 *
 * What it omits: checks that need the engine or a run. It does not check that a handler ends with iret, that
 * iret is only reached inside a handler, that an address is claimed by anything, or that a loop ends. There
 * are no macros, expressions, includes or data directives. The first error ends the parse (one precise
 * message beats a cascade); it never prints, and keeps no state outside the call.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guest/lexer.h"
#include "guest/program.h"

#define VIRQ_MAX_OPERANDS 3
#define VIRQ_X86_FIRST_VECTOR 16 /* 0-15 are exceptions (and reserved) on x86: not for device interrupts */

enum virq_operand_kind {
	VIRQ_OPND_ADDR,     /* MMIO or guest-physical address: any 64-bit number */
	VIRQ_OPND_MEM_SIZE, /* 1, 2, 4 or 8 */
	VIRQ_OPND_IO_SIZE,  /* 1, 2 or 4 */
	VIRQ_OPND_PORT,     /* 0..0xffff */
	VIRQ_OPND_VALUE,    /* a number that fits the access size, or a register */
	VIRQ_OPND_REG,      /* r0..r15 */
	VIRQ_OPND_ARITH,    /* any 64-bit number (a negative one wraps, as in two's complement), or a register */
	VIRQ_OPND_LABEL,
	VIRQ_OPND_NS,       /* a duration: a number with an optional ns/us/ms/s unit */
};

/* What each op takes. The operand list is spelled as in messages and docs/guest.md. */
struct virq_op_syntax {
	const char *name;
	const char *operands;
	unsigned nr;
	enum virq_operand_kind kind[VIRQ_MAX_OPERANDS];
};

static const struct virq_op_syntax virq_op_syntax[] = {
	[VIRQ_OP_MMIO_WRITE] = { "mmio_write", "ADDR, SIZE, VALUE", 3,
				 { VIRQ_OPND_ADDR, VIRQ_OPND_MEM_SIZE, VIRQ_OPND_VALUE } },
	[VIRQ_OP_MMIO_READ] = { "mmio_read", "rN, ADDR, SIZE", 3,
				{ VIRQ_OPND_REG, VIRQ_OPND_ADDR, VIRQ_OPND_MEM_SIZE } },
	[VIRQ_OP_MEM_WRITE] = { "mem_write", "ADDR, SIZE, VALUE", 3,
				{ VIRQ_OPND_ADDR, VIRQ_OPND_MEM_SIZE, VIRQ_OPND_VALUE } },
	[VIRQ_OP_OUT] = { "out", "PORT, SIZE, VALUE", 3, { VIRQ_OPND_PORT, VIRQ_OPND_IO_SIZE, VIRQ_OPND_VALUE } },
	[VIRQ_OP_IN] = { "in", "rN, PORT, SIZE", 3, { VIRQ_OPND_REG, VIRQ_OPND_PORT, VIRQ_OPND_IO_SIZE } },
	[VIRQ_OP_EOI] = { "eoi", "", 0, { 0 } },
	[VIRQ_OP_IRET] = { "iret", "", 0, { 0 } },
	[VIRQ_OP_STI] = { "sti", "", 0, { 0 } },
	[VIRQ_OP_CLI] = { "cli", "", 0, { 0 } },
	[VIRQ_OP_HLT] = { "hlt", "", 0, { 0 } },
	[VIRQ_OP_JMP] = { "jmp", "LABEL", 1, { VIRQ_OPND_LABEL } },
	[VIRQ_OP_SPIN] = { "spin", "NS", 1, { VIRQ_OPND_NS } },
	[VIRQ_OP_SET] = { "set", "rN, VALUE", 2, { VIRQ_OPND_REG, VIRQ_OPND_ARITH } },
	[VIRQ_OP_ADD] = { "add", "rN, VALUE", 2, { VIRQ_OPND_REG, VIRQ_OPND_ARITH } },
	[VIRQ_OP_LOOP] = { "loop", "rN, LABEL", 2, { VIRQ_OPND_REG, VIRQ_OPND_LABEL } },
	[VIRQ_OP_JZ] = { "jz", "rN, LABEL", 2, { VIRQ_OPND_REG, VIRQ_OPND_LABEL } },
	[VIRQ_OP_JNZ] = { "jnz", "rN, LABEL", 2, { VIRQ_OPND_REG, VIRQ_OPND_LABEL } },
	[VIRQ_OP_ACK] = { "ack", "rN", 1, { VIRQ_OPND_REG } },
	[VIRQ_OP_EOIR] = { "eoir", "VALUE", 1, { VIRQ_OPND_ARITH } },
	[VIRQ_OP_DIR] = { "dir", "VALUE", 1, { VIRQ_OPND_ARITH } },
	[VIRQ_OP_PMR] = { "pmr", "VALUE", 1, { VIRQ_OPND_ARITH } },
	[VIRQ_OP_EOIMODE] = { "eoimode", "VALUE", 1, { VIRQ_OPND_ARITH } },
	[VIRQ_OP_IGRPEN1] = { "igrpen1", "VALUE", 1, { VIRQ_OPND_ARITH } },
	[VIRQ_OP_ERET] = { "eret", "", 0, { 0 } },
	[VIRQ_OP_SHUTDOWN] = { "shutdown", "", 0, { 0 } },
};

/* Which architecture an op ties a program to. */
static enum virq_guest_arch virq_op_arch(enum virq_guest_opcode code)
{
	switch (code) {
	case VIRQ_OP_EOI:
	case VIRQ_OP_IRET:
	case VIRQ_OP_OUT:
	case VIRQ_OP_IN:
		return VIRQ_GUEST_ARCH_X86;
	case VIRQ_OP_ACK:
	case VIRQ_OP_EOIR:
	case VIRQ_OP_DIR:
	case VIRQ_OP_PMR:
	case VIRQ_OP_EOIMODE:
	case VIRQ_OP_IGRPEN1:
	case VIRQ_OP_ERET:
		return VIRQ_GUEST_ARCH_ARM;
	default:
		return VIRQ_GUEST_ARCH_ANY;
	}
}

#define VIRQ_NR_OPCODES (sizeof(virq_op_syntax) / sizeof(virq_op_syntax[0]))
_Static_assert(VIRQ_NR_OPCODES == VIRQ_OP_SHUTDOWN + 1, "every opcode needs its syntax");

/* A defined label. The name points into the text, which outlives the parse. */
struct virq_label {
	const char *name;
	size_t len;
	uint32_t index;
	unsigned line;
};

/* Open addressing, power-of-two capacity, at most half full: a 1 MiB text can hold ~250k labels. */
struct virq_label_table {
	struct virq_label *slots;
	size_t cap;
	size_t count;
};

/* An "intid N:" definition, with its line for messages. */
struct virq_intid_def {
	uint32_t intid;
	uint32_t op;
	unsigned line;
};

/* A jump whose target is resolved after the whole text is read. */
struct virq_fixup {
	const char *name;
	size_t len;
	uint32_t op;
};

struct virq_parser {
	struct virq_lexer lx;
	struct virq_guest_error *err;
	struct virq_guest_op *ops;
	uint32_t nr_ops;
	uint32_t cap_ops;
	struct virq_label_table labels;
	struct virq_fixup *fixups;
	size_t nr_fixups;
	size_t cap_fixups;
	uint32_t handler[256];
	unsigned handler_line[256];
	enum virq_guest_arch arch;    /* what the text so far ties the program to */
	unsigned arch_line;           /* where that was decided */
	const char *arch_what;        /* and by what ("vector", "intid" or a mnemonic) */
	struct virq_intid_def *intids; /* "intid N:" in text order, sorted at the end */
	uint32_t nr_intids, cap_intids;
	uint32_t intid_any;
	unsigned intid_any_line;
};

/* ---- errors ---------------------------------------------------------------------------------------------- */

__attribute__((format(printf, 3, 4)))
static int virq_fail(struct virq_parser *p, unsigned line, const char *fmt, ...)
{
	struct virq_guest_error *err = p->err;
	size_t n = 0;
	va_list ap;

	if (!err)
		return -EINVAL;
	err->line = line;
	if (line)
		n = (size_t)snprintf(err->message, sizeof(err->message), "line %u: ", line);
	va_start(ap, fmt);
	vsnprintf(err->message + n, sizeof(err->message) - n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int virq_nomem(struct virq_parser *p)
{
	if (p->err) {
		p->err->line = 0;
		snprintf(p->err->message, sizeof(p->err->message), "out of memory");
	}
	return -ENOMEM;
}

/* How a token reads in a message: quoted and cut short, so a message always fits its 160 bytes. */
struct virq_tok_desc {
	char s[48];
};

static struct virq_tok_desc virq_describe(const struct virq_token *tok)
{
	struct virq_tok_desc d;
	const int max = 32;
	unsigned char c = tok->len ? (unsigned char)tok->text[0] : 0;

	if (tok->kind == VIRQ_TOK_EOL)
		snprintf(d.s, sizeof(d.s), "end of line");
	else if (tok->kind == VIRQ_TOK_BAD && (c < 0x20 || c > 0x7e))
		snprintf(d.s, sizeof(d.s), "byte 0x%02x", c);
	else if (tok->len > (size_t)max)
		snprintf(d.s, sizeof(d.s), "'%.*s...'", max, tok->text);
	else
		snprintf(d.s, sizeof(d.s), "'%.*s'", (int)tok->len, tok->text);
	return d;
}

#define VIRQ_DESC(tok) (virq_describe(tok).s)

/* A number as written, unquoted and cut short: "size must be ..., found 3". */
static struct virq_tok_desc virq_as_written(const struct virq_token *tok)
{
	struct virq_tok_desc d;
	const int max = 32;

	if (tok->len > (size_t)max)
		snprintf(d.s, sizeof(d.s), "%.*s...", max, tok->text);
	else
		snprintf(d.s, sizeof(d.s), "%.*s", (int)tok->len, tok->text);
	return d;
}

#define VIRQ_RAW(tok) (virq_as_written(tok).s)

static unsigned virq_line(const struct virq_parser *p)
{
	return p->lx.line;
}

/* ---- labels ---------------------------------------------------------------------------------------------- */

/* FNV-1a: short names, no adversary worth a keyed hash (the text is the caller's own). */
static size_t virq_label_hash(const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
	return (size_t)h;
}

/* The slot holding @name, or the empty slot where it would go. The table must have room (cap > count). */
static struct virq_label *virq_label_slot(const struct virq_label_table *t, const char *name, size_t len)
{
	size_t i = virq_label_hash(name, len) & (t->cap - 1);

	while (t->slots[i].name &&
	       !(t->slots[i].len == len && memcmp(t->slots[i].name, name, len) == 0))
		i = (i + 1) & (t->cap - 1);
	return &t->slots[i];
}

static const struct virq_label *virq_label_find(const struct virq_label_table *t, const char *name, size_t len)
{
	const struct virq_label *l;

	if (!t->cap)
		return NULL;
	l = virq_label_slot(t, name, len);
	return l->name ? l : NULL;
}

static int virq_label_grow(struct virq_label_table *t)
{
	struct virq_label_table bigger = { .cap = t->cap ? t->cap * 2 : 64, .count = t->count };

	bigger.slots = calloc(bigger.cap, sizeof(*bigger.slots));
	if (!bigger.slots)
		return -ENOMEM;
	for (size_t i = 0; i < t->cap; i++) {
		if (t->slots[i].name)
			*virq_label_slot(&bigger, t->slots[i].name, t->slots[i].len) = t->slots[i];
	}
	free(t->slots);
	*t = bigger;
	return 0;
}

/* Is @tok spelled like a register (r or R, then digits)? Such names are never labels. */
static bool virq_is_reg_shaped(const struct virq_token *tok)
{
	if (tok->kind != VIRQ_TOK_IDENT || tok->len < 2 || (tok->text[0] != 'r' && tok->text[0] != 'R'))
		return false;
	for (size_t i = 1; i < tok->len; i++) {
		if (tok->text[i] < '0' || tok->text[i] > '9')
			return false;
	}
	return true;
}

/* "name:" - the label names the next op (or the implicit shutdown, at the end of the text). */
static int virq_define_label(struct virq_parser *p, const struct virq_token *name)
{
	struct virq_label *slot;

	if (virq_is_reg_shaped(name))
		return virq_fail(p, virq_line(p), "%s is a register name and cannot be a label", VIRQ_DESC(name));
	if (2 * (p->labels.count + 1) > p->labels.cap && virq_label_grow(&p->labels))
		return virq_nomem(p);
	slot = virq_label_slot(&p->labels, name->text, name->len);
	if (slot->name)
		return virq_fail(p, virq_line(p), "label %s is already defined on line %u", VIRQ_DESC(name),
				 slot->line);
	*slot = (struct virq_label){
		.name = name->text, .len = name->len, .index = p->nr_ops, .line = virq_line(p),
	};
	p->labels.count++;
	return 0;
}

/* ---- numbers and registers ------------------------------------------------------------------------------- */

static int virq_number_error(struct virq_parser *p, const struct virq_token *tok, enum virq_number_status st)
{
	switch (st) {
	case VIRQ_NUM_LEADING_ZERO:
		return virq_fail(p, virq_line(p), "invalid number %s: leading zeros are not allowed (no octal)",
				 VIRQ_DESC(tok));
	case VIRQ_NUM_OVERFLOW:
		return virq_fail(p, virq_line(p), "number %s does not fit in 64 bits", VIRQ_DESC(tok));
	case VIRQ_NUM_SYNTAX:
	case VIRQ_NUM_OK:
		break;
	}
	return virq_fail(p, virq_line(p), "invalid number %s: expected decimal, 0x hex or 0b binary digits",
			 VIRQ_DESC(tok));
}

/* The register @tok names, or -1 (an error is filled in) if it is register-shaped but not r0..r15. */
static int virq_reg_number(struct virq_parser *p, const struct virq_token *tok)
{
	unsigned n = 0;

	if (tok->len > 3 || (tok->len == 3 && tok->text[1] == '0'))
		goto bad; /* "r100", "r01" */
	for (size_t i = 1; i < tok->len; i++)
		n = n * 10 + (unsigned)(tok->text[i] - '0');
	if (n < VIRQ_GUEST_NR_REGS)
		return (int)n;
bad:
	virq_fail(p, virq_line(p), "no register %s: registers are r0..r15", VIRQ_DESC(tok));
	return -1;
}

/* ---- operands -------------------------------------------------------------------------------------------- */

/* Where an operand sits, for messages: "mmio_write operand 3 (VALUE)". */
struct virq_operand_ctx {
	const struct virq_op_syntax *syn;
	unsigned i;                   /* 0-based */
	const struct virq_token *tok;
};

static const char *virq_operand_name(enum virq_operand_kind kind)
{
	static const char *const names[] = {
		[VIRQ_OPND_ADDR] = "ADDR", [VIRQ_OPND_MEM_SIZE] = "SIZE", [VIRQ_OPND_IO_SIZE] = "SIZE",
		[VIRQ_OPND_PORT] = "PORT", [VIRQ_OPND_VALUE] = "VALUE", [VIRQ_OPND_REG] = "rN",
		[VIRQ_OPND_ARITH] = "VALUE", [VIRQ_OPND_LABEL] = "LABEL", [VIRQ_OPND_NS] = "NS",
	};

	return names[kind];
}

__attribute__((format(printf, 3, 4)))
static int virq_operand_fail(struct virq_parser *p, const struct virq_operand_ctx *c, const char *fmt, ...)
{
	char what[96];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return virq_fail(p, virq_line(p), "%s operand %u (%s) %s, found %s", c->syn->name, c->i + 1,
			 virq_operand_name(c->syn->kind[c->i]), what, VIRQ_DESC(c->tok));
}

/* A number operand. Units only where @durations; a negative value only where @negative (as 2^64 - n). */
static int virq_number_operand(struct virq_parser *p, const struct virq_operand_ctx *c, bool durations,
			       bool negative, struct virq_number *num)
{
	enum virq_number_status st;

	if (c->tok->kind != VIRQ_TOK_NUMBER)
		return virq_operand_fail(p, c, "must be a number");
	st = virq_lex_number(c->tok, num);
	if (st != VIRQ_NUM_OK)
		return virq_number_error(p, c->tok, st);
	if (num->unit != VIRQ_UNIT_NONE && !durations)
		return virq_operand_fail(p, c, "takes no unit (units are for spin)");
	if (num->negative && !negative)
		return virq_operand_fail(p, c, "must not be negative");
	if (num->negative && num->magnitude > (1ull << 63))
		return virq_operand_fail(p, c, "must be at least -2^63");
	return 0;
}

static int virq_plain_number(struct virq_parser *p, const struct virq_operand_ctx *c, uint64_t *v)
{
	struct virq_number num = { 0 };
	int r = virq_number_operand(p, c, false, false, &num);

	*v = num.magnitude;
	return r;
}

static int virq_reg_operand(struct virq_parser *p, const struct virq_operand_ctx *c, uint8_t *reg)
{
	int n;

	if (!virq_is_reg_shaped(c->tok))
		return virq_operand_fail(p, c, "must be a register r0..r15");
	n = virq_reg_number(p, c->tok);
	if (n < 0)
		return -EINVAL;
	*reg = (uint8_t)n;
	return 0;
}

/* VALUE: a register, or a number. @size is the access size when the value is written (0: any 64 bits). */
static int virq_value_operand(struct virq_parser *p, const struct virq_operand_ctx *c, unsigned size,
			      struct virq_guest_value *v)
{
	struct virq_number num;
	uint64_t max = size >= 8 || !size ? UINT64_MAX : (1ull << (8 * size)) - 1;
	int r;

	if (virq_is_reg_shaped(c->tok)) {
		v->is_reg = true;
		return virq_reg_operand(p, c, &v->reg);
	}
	if (c->tok->kind != VIRQ_TOK_NUMBER)
		return virq_operand_fail(p, c, "must be a number or a register r0..r15");
	r = virq_number_operand(p, c, false, size == 0, &num);
	if (r)
		return r;
	if (num.magnitude > max)
		return virq_fail(p, virq_line(p), "value %s does not fit in %u byte%s (at most 0x%llx)",
				 VIRQ_RAW(c->tok), size, size == 1 ? "" : "s", (unsigned long long)max);
	v->imm = num.negative ? 0 - num.magnitude : num.magnitude;
	return 0;
}

static int virq_size_operand(struct virq_parser *p, const struct virq_operand_ctx *c, bool port_io,
			     struct virq_guest_op *op)
{
	uint64_t size;
	int r = virq_plain_number(p, c, &size);

	if (r)
		return r;
	if (port_io && size != 1 && size != 2 && size != 4)
		return virq_fail(p, virq_line(p), "size must be 1, 2 or 4 for port I/O, found %s",
				 VIRQ_RAW(c->tok));
	if (size != 1 && size != 2 && size != 4 && size != 8)
		return virq_fail(p, virq_line(p), "size must be 1, 2, 4 or 8, found %s", VIRQ_RAW(c->tok));
	op->size = (uint8_t)size;
	/* ADDR came first; an access must not run past the top of the 64-bit address space. */
	if (!port_io && op->addr > UINT64_MAX - (size - 1))
		return virq_fail(p, virq_line(p),
				 "a %u-byte access at 0x%llx runs past the end of the address space", op->size,
				 (unsigned long long)op->addr);
	return 0;
}

static int virq_port_operand(struct virq_parser *p, const struct virq_operand_ctx *c, uint64_t *port)
{
	int r = virq_plain_number(p, c, port);

	if (!r && *port > 0xffff)
		return virq_fail(p, virq_line(p), "port must be 0..0xffff, found %s", VIRQ_RAW(c->tok));
	return r;
}

static int virq_ns_operand(struct virq_parser *p, const struct virq_operand_ctx *c, uint64_t *ns)
{
	struct virq_number num;
	uint64_t scale;
	int r = virq_number_operand(p, c, true, false, &num);

	if (r)
		return r;
	scale = virq_unit_ns(num.unit);
	if (num.magnitude > UINT64_MAX / scale)
		return virq_operand_fail(p, c, "must be at most 2^64-1 ns");
	*ns = num.magnitude * scale;
	return 0;
}

static int virq_add_fixup(struct virq_parser *p, const struct virq_token *name)
{
	if (p->nr_fixups == p->cap_fixups) {
		size_t cap = p->cap_fixups ? p->cap_fixups * 2 : 64;
		struct virq_fixup *f = realloc(p->fixups, cap * sizeof(*f));

		if (!f)
			return virq_nomem(p);
		p->fixups = f;
		p->cap_fixups = cap;
	}
	/* The op being parsed gets index nr_ops once it is appended. */
	p->fixups[p->nr_fixups++] = (struct virq_fixup){ .name = name->text, .len = name->len, .op = p->nr_ops };
	return 0;
}

static int virq_label_operand(struct virq_parser *p, const struct virq_operand_ctx *c)
{
	if (c->tok->kind != VIRQ_TOK_IDENT || virq_is_reg_shaped(c->tok))
		return virq_operand_fail(p, c, "must be a label");
	return virq_add_fixup(p, c->tok);
}

static int virq_operand(struct virq_parser *p, const struct virq_operand_ctx *c, struct virq_guest_op *op)
{
	switch (c->syn->kind[c->i]) {
	case VIRQ_OPND_ADDR:
		return virq_plain_number(p, c, &op->addr);
	case VIRQ_OPND_MEM_SIZE:
		return virq_size_operand(p, c, false, op);
	case VIRQ_OPND_IO_SIZE:
		return virq_size_operand(p, c, true, op);
	case VIRQ_OPND_PORT:
		return virq_port_operand(p, c, &op->addr);
	case VIRQ_OPND_VALUE:
		return virq_value_operand(p, c, op->size, &op->value); /* SIZE precedes VALUE in every op */
	case VIRQ_OPND_REG:
		return virq_reg_operand(p, c, &op->reg);
	case VIRQ_OPND_ARITH:
		return virq_value_operand(p, c, 0, &op->value);
	case VIRQ_OPND_LABEL:
		return virq_label_operand(p, c);
	case VIRQ_OPND_NS:
		return virq_ns_operand(p, c, &op->ns);
	}
	return -EINVAL;
}

/* ---- statements ------------------------------------------------------------------------------------------ */

static const struct virq_op_syntax *virq_find_op(const struct virq_token *tok)
{
	for (size_t i = 0; i < VIRQ_NR_OPCODES; i++) {
		if (virq_tok_is(tok, virq_op_syntax[i].name))
			return &virq_op_syntax[i];
	}
	return NULL;
}

/*
 * The operands after a mnemonic: single tokens separated by commas, up to the end of the line. Stores the
 * first VIRQ_MAX_OPERANDS in @toks and counts them all, so "expects 3, found 4" can be said.
 */
static int virq_collect_operands(struct virq_parser *p, struct virq_token *toks, unsigned *count)
{
	struct virq_token tok, sep;

	*count = 0;
	virq_lex_next(&p->lx, &tok);
	if (tok.kind == VIRQ_TOK_EOL)
		return 0;
	for (;;) {
		if (tok.kind == VIRQ_TOK_COMMA)
			return virq_fail(p, virq_line(p), "missing operand before ','");
		if (tok.kind == VIRQ_TOK_EOL)
			return virq_fail(p, virq_line(p), "missing operand after ','");
		if (tok.kind != VIRQ_TOK_IDENT && tok.kind != VIRQ_TOK_NUMBER)
			return virq_fail(p, virq_line(p), "expected an operand, found %s", VIRQ_DESC(&tok));
		if (*count < VIRQ_MAX_OPERANDS)
			toks[*count] = tok;
		(*count)++;
		virq_lex_next(&p->lx, &sep);
		if (sep.kind == VIRQ_TOK_EOL)
			return 0;
		if (sep.kind != VIRQ_TOK_COMMA)
			return virq_fail(p, virq_line(p), "expected ',' or end of line after %s, found %s",
					 VIRQ_DESC(&tok), VIRQ_DESC(&sep));
		virq_lex_next(&p->lx, &tok);
	}
}

static int virq_check_count(struct virq_parser *p, const struct virq_op_syntax *syn, unsigned count)
{
	if (count == syn->nr)
		return 0;
	if (syn->nr == 0)
		return virq_fail(p, virq_line(p), "%s takes no operands, found %u", syn->name, count);
	return virq_fail(p, virq_line(p), "%s expects %u operand%s (%s), found %u", syn->name, syn->nr,
			 syn->nr == 1 ? "" : "s", syn->operands, count);
}

static int virq_append_op(struct virq_parser *p, const struct virq_guest_op *op)
{
	if (p->nr_ops == p->cap_ops) {
		/* One spare slot beyond the limit: the implicit shutdown goes there. */
		uint32_t cap = p->cap_ops ? p->cap_ops * 2 : 64;
		struct virq_guest_op *ops;

		if (cap > VIRQ_GUEST_MAX_OPS + 1)
			cap = VIRQ_GUEST_MAX_OPS + 1;
		ops = realloc(p->ops, cap * sizeof(*ops));
		if (!ops)
			return virq_nomem(p);
		p->ops = ops;
		p->cap_ops = cap;
	}
	p->ops[p->nr_ops++] = *op;
	return 0;
}

static const char *virq_arch_name(enum virq_guest_arch arch)
{
	return arch == VIRQ_GUEST_ARCH_ARM ? "Arm" : "x86";
}

/* @what (a mnemonic, "vector" or "intid") ties the program to @arch: refuse a mix of architectures. */
static int virq_claim_arch(struct virq_parser *p, enum virq_guest_arch arch, const char *what)
{
	if (arch == VIRQ_GUEST_ARCH_ANY || arch == p->arch)
		return 0;
	if (p->arch != VIRQ_GUEST_ARCH_ANY)
		return virq_fail(p, virq_line(p), "'%s' is %s only, but '%s' on line %u made this an %s program",
				 what, virq_arch_name(arch), p->arch_what, p->arch_line, virq_arch_name(p->arch));
	p->arch = arch;
	p->arch_line = virq_line(p);
	p->arch_what = what;
	return 0;
}

/* An op, its mnemonic in @mnemonic, the rest of the line still to read. */
static int virq_parse_op(struct virq_parser *p, const struct virq_token *mnemonic)
{
	const struct virq_op_syntax *syn = virq_find_op(mnemonic);
	struct virq_token toks[VIRQ_MAX_OPERANDS];
	struct virq_guest_op op;
	unsigned count;
	int r;

	if (!syn) {
		struct virq_token next;

		virq_lex_peek(&p->lx, &next);
		return virq_fail(p, virq_line(p), "unknown op %s%s", VIRQ_DESC(mnemonic),
				 next.kind == VIRQ_TOK_EOL ? " (a label needs a ':' after its name)" : "");
	}
	if (p->nr_ops == VIRQ_GUEST_MAX_OPS)
		return virq_fail(p, virq_line(p), "too many ops: a program holds at most %u", VIRQ_GUEST_MAX_OPS);
	r = virq_collect_operands(p, toks, &count);
	if (!r)
		r = virq_check_count(p, syn, count);
	memset(&op, 0, sizeof(op));
	op.code = (enum virq_guest_opcode)(syn - virq_op_syntax);
	op.line = virq_line(p);
	for (unsigned i = 0; !r && i < count; i++)
		r = virq_operand(p, &(struct virq_operand_ctx){ .syn = syn, .i = i, .tok = &toks[i] }, &op);
	if (!r)
		r = virq_claim_arch(p, virq_op_arch(op.code), syn->name);
	return r ? r : virq_append_op(p, &op);
}

static int virq_vector_number(struct virq_parser *p, const struct virq_token *tok, unsigned *vector)
{
	struct virq_number num;
	enum virq_number_status st;

	if (tok->kind != VIRQ_TOK_NUMBER)
		return virq_fail(p, virq_line(p), "'vector' expects a vector number, as in 'vector 0x41:', "
				 "found %s", VIRQ_DESC(tok));
	st = virq_lex_number(tok, &num);
	if (st != VIRQ_NUM_OK)
		return virq_number_error(p, tok, st);
	if (num.unit != VIRQ_UNIT_NONE || num.negative || num.magnitude > 255)
		return virq_fail(p, virq_line(p), "vector must be 16..255 (0x10..0xff), found %s", VIRQ_RAW(tok));
	if (num.magnitude < VIRQ_X86_FIRST_VECTOR)
		return virq_fail(p, virq_line(p), "vector %u is reserved for x86 exceptions (0-15); "
				 "handlers are for 16..255 (0x10..0xff)", (unsigned)num.magnitude);
	*vector = (unsigned)num.magnitude;
	return 0;
}

/* "vector N:", after the keyword: the handler for N starts at the next op. */
static int virq_parse_vector(struct virq_parser *p)
{
	struct virq_token num, colon;
	unsigned v = 0;
	int r;

	virq_lex_next(&p->lx, &num);
	r = virq_vector_number(p, &num, &v);
	if (!r)
		r = virq_claim_arch(p, VIRQ_GUEST_ARCH_X86, "vector");
	if (r)
		return r;
	virq_lex_next(&p->lx, &colon);
	if (colon.kind != VIRQ_TOK_COLON)
		return virq_fail(p, virq_line(p), "expected ':' after the vector number, found %s",
				 VIRQ_DESC(&colon));
	if (p->handler[v] != VIRQ_GUEST_NO_HANDLER)
		return virq_fail(p, virq_line(p), "vector 0x%02x already has a handler (line %u)", v,
				 p->handler_line[v]);
	p->handler[v] = p->nr_ops;
	p->handler_line[v] = virq_line(p);
	return 0;
}

/* INTIDs a handler may name: SGIs, PPIs and SPIs 0..1019 (1020-1023 are special), LPIs 8192..65535. */
static bool virq_intid_valid(uint64_t n)
{
	return n <= 1019 || (n >= 8192 && n <= VIRQ_GUEST_MAX_INTID);
}

static int virq_add_intid(struct virq_parser *p, uint32_t intid)
{
	if (p->nr_intids == p->cap_intids) {
		uint32_t cap = p->cap_intids ? p->cap_intids * 2 : 64;
		struct virq_intid_def *d = realloc(p->intids, cap * sizeof(*d));
		if (!d)
			return virq_nomem(p);
		p->intids = d;
		p->cap_intids = cap;
	}
	p->intids[p->nr_intids++] = (struct virq_intid_def){ .intid = intid, .op = p->nr_ops, .line = virq_line(p) };
	return 0;
}

/* "intid N:" or "intid any:", after the keyword: an Arm handler starts at the next op. */
static int virq_parse_intid(struct virq_parser *p)
{
	struct virq_token num, colon;
	struct virq_number n;
	int r = virq_claim_arch(p, VIRQ_GUEST_ARCH_ARM, "intid");

	if (r)
		return r;
	virq_lex_next(&p->lx, &num);
	bool any = virq_tok_is(&num, "any");
	if (!any) {
		if (num.kind != VIRQ_TOK_NUMBER)
			return virq_fail(p, virq_line(p), "'intid' expects an INTID or 'any', as in 'intid 8192:', "
					 "found %s", VIRQ_DESC(&num));
		enum virq_number_status st = virq_lex_number(&num, &n);
		if (st != VIRQ_NUM_OK)
			return virq_number_error(p, &num, st);
		if (n.unit != VIRQ_UNIT_NONE || n.negative || !virq_intid_valid(n.magnitude))
			return virq_fail(p, virq_line(p), "intid must be 0..1019 (SGI, PPI, SPI) or 8192..65535 (LPI), "
					 "found %s", VIRQ_RAW(&num));
	}
	virq_lex_next(&p->lx, &colon);
	if (colon.kind != VIRQ_TOK_COLON)
		return virq_fail(p, virq_line(p), "expected ':' after the INTID, found %s", VIRQ_DESC(&colon));
	if (!any)
		return virq_add_intid(p, (uint32_t)n.magnitude);
	if (p->intid_any != VIRQ_GUEST_NO_HANDLER)
		return virq_fail(p, virq_line(p), "'intid any' already has a handler (line %u)", p->intid_any_line);
	p->intid_any = p->nr_ops;
	p->intid_any_line = virq_line(p);
	return 0;
}

/* One line: any number of "name:", "vector N:" and "intid N:" definitions, then at most one op. */
static int virq_parse_line(struct virq_parser *p)
{
	struct virq_token tok, next;
	int r;

	for (;;) {
		virq_lex_next(&p->lx, &tok);
		if (tok.kind == VIRQ_TOK_EOL)
			return 0;
		virq_lex_peek(&p->lx, &next);
		if (virq_tok_is(&tok, "vector")) {
			r = virq_parse_vector(p);
		} else if (virq_tok_is(&tok, "intid") && next.kind != VIRQ_TOK_COLON) {
			r = virq_parse_intid(p);
		} else if (tok.kind == VIRQ_TOK_IDENT && next.kind == VIRQ_TOK_COLON) {
			virq_lex_next(&p->lx, &next);
			r = virq_define_label(p, &tok);
		} else {
			break;
		}
		if (r)
			return r;
	}
	if (tok.kind != VIRQ_TOK_IDENT)
		return virq_fail(p, virq_line(p), "expected an op or a label, found %s", VIRQ_DESC(&tok));
	return virq_parse_op(p, &tok);
}

/* ---- the whole program ----------------------------------------------------------------------------------- */

static int virq_intid_def_cmp(const void *a, const void *b)
{
	const struct virq_intid_def *x = a, *y = b;

	if (x->intid != y->intid)
		return x->intid < y->intid ? -1 : 1;
	return x->line < y->line ? -1 : x->line > y->line;
}

/* Sort the INTID handlers for lookup; a second handler for one INTID is an error at its own line. */
static int virq_sort_intids(struct virq_parser *p)
{
	if (p->nr_intids)
		qsort(p->intids, p->nr_intids, sizeof(p->intids[0]), virq_intid_def_cmp);
	for (uint32_t i = 1; i < p->nr_intids; i++) {
		if (p->intids[i].intid == p->intids[i - 1].intid)
			return virq_fail(p, p->intids[i].line, "intid %u already has a handler (line %u)",
					 p->intids[i].intid, p->intids[i - 1].line);
	}
	return 0;
}

/* The program's lookup table: (intid, op) pairs in INTID order. */
static struct virq_guest_intid_handler *virq_intid_table(const struct virq_parser *p)
{
	struct virq_guest_intid_handler *t = calloc(p->nr_intids ? p->nr_intids : 1, sizeof(*t));

	for (uint32_t i = 0; t && i < p->nr_intids; i++)
		t[i] = (struct virq_guest_intid_handler){ .intid = p->intids[i].intid, .op = p->intids[i].op };
	return t;
}

static int virq_resolve_fixups(struct virq_parser *p)
{
	for (size_t i = 0; i < p->nr_fixups; i++) {
		const struct virq_fixup *f = &p->fixups[i];
		const struct virq_label *l = virq_label_find(&p->labels, f->name, f->len);

		if (!l) {
			struct virq_token t = { .kind = VIRQ_TOK_IDENT, .text = f->name, .len = f->len };

			return virq_fail(p, p->ops[f->op].line, "jump to undefined label %s", VIRQ_DESC(&t));
		}
		p->ops[f->op].target = l->index;
	}
	return 0;
}

/* Hand the op array over to a new program, with the implicit final shutdown at ops[nr_ops]. */
static int virq_build_program(struct virq_parser *p, uint32_t entry, struct virq_guest_program **out)
{
	struct virq_guest_program *prog = calloc(1, sizeof(*prog));

	if (prog)
		prog->intid_handlers = virq_intid_table(p);
	if (!prog || !prog->intid_handlers) {
		free(prog);
		return virq_nomem(p);
	}
	if (p->nr_ops == p->cap_ops) {
		struct virq_guest_op *ops = realloc(p->ops, (p->nr_ops + 1u) * sizeof(*ops));

		if (!ops) {
			free(prog->intid_handlers);
			free(prog);
			return virq_nomem(p);
		}
		p->ops = ops;
		p->cap_ops = p->nr_ops + 1;
	}
	p->ops[p->nr_ops] = (struct virq_guest_op){ .code = VIRQ_OP_SHUTDOWN, .line = 0 };
	prog->ops = p->ops;
	prog->nr_ops = p->nr_ops;
	prog->entry = entry;
	memcpy(prog->handler, p->handler, sizeof(prog->handler));
	prog->arch = p->arch;
	prog->intid_any = p->intid_any;
	prog->nr_intid_handlers = p->nr_intids;
	p->ops = NULL; /* owned by the program now */
	*out = prog;
	return 0;
}

static int virq_parse_text(struct virq_parser *p, const char *text, size_t len, struct virq_guest_program **out)
{
	const struct virq_label *main_label;
	int r;

	virq_lexer_init(&p->lx, text, len);
	do {
		r = virq_parse_line(p);
		if (r)
			return r;
	} while (virq_lexer_next_line(&p->lx));
	r = virq_resolve_fixups(p);
	if (!r)
		r = virq_sort_intids(p);
	if (r)
		return r;
	main_label = virq_label_find(&p->labels, "main", 4);
	if (!main_label)
		return virq_fail(p, 0, "missing 'main:' label (the program's entry point)");
	return virq_build_program(p, main_label->index, out);
}

int virq_guest_parse(const char *text, struct virq_guest_program **out, struct virq_guest_error *err)
{
	struct virq_parser p = { .err = err };
	size_t len;
	int r;

	if (err)
		memset(err, 0, sizeof(*err));
	if (!out)
		return virq_fail(&p, 0, "no place to store the program (out is NULL)");
	if (!text)
		return virq_fail(&p, 0, "no program text (NULL)");
	len = strnlen(text, VIRQ_GUEST_MAX_TEXT + 1);
	if (len > VIRQ_GUEST_MAX_TEXT)
		return virq_fail(&p, 0, "program text is longer than %u bytes (1 MiB)", VIRQ_GUEST_MAX_TEXT);
	for (size_t v = 0; v < 256; v++)
		p.handler[v] = VIRQ_GUEST_NO_HANDLER;
	p.intid_any = VIRQ_GUEST_NO_HANDLER;
	r = virq_parse_text(&p, text, len, out);
	free(p.ops);
	free(p.labels.slots);
	free(p.fixups);
	free(p.intids);
	return r;
}

void virq_guest_program_free(struct virq_guest_program *prog)
{
	if (!prog)
		return;
	free(prog->ops);
	free(prog->intid_handlers);
	free(prog);
}

uint32_t virq_guest_intid_handler(const struct virq_guest_program *prog, uint32_t intid)
{
	uint32_t lo = 0, hi = prog->nr_intid_handlers;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (prog->intid_handlers[mid].intid < intid)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < prog->nr_intid_handlers && prog->intid_handlers[lo].intid == intid)
		return prog->intid_handlers[lo].op;
	return prog->intid_any;
}

const char *virq_guest_opcode_name(enum virq_guest_opcode code)
{
	if ((unsigned)code >= VIRQ_NR_OPCODES)
		return "?";
	return virq_op_syntax[code].name;
}
