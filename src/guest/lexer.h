/* SPDX-License-Identifier: MIT */
/*
 * lexer.h - tokens and numbers of the micro-op guest's text form (docs/guest.md). Used only by parse.c.
 *
 * The lexer works one line at a time: virq_lex_next() returns VIRQ_TOK_EOL at the end of the current line
 * (and keeps returning it) until virq_lexer_next_line() moves on. Comments (';' or '#' to the end of the
 * line) and blanks (space, tab, CR) never reach the parser.
 */
#ifndef VIRQ_GUEST_LEXER_H
#define VIRQ_GUEST_LEXER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum virq_tok_kind {
	VIRQ_TOK_EOL,    /* end of the line (or of the text) */
	VIRQ_TOK_IDENT,  /* [A-Za-z_][A-Za-z0-9_]*: a mnemonic, label, register or keyword */
	VIRQ_TOK_NUMBER, /* '-'? [0-9][A-Za-z0-9_]*: converted (and validated) by virq_lex_number() */
	VIRQ_TOK_COMMA,
	VIRQ_TOK_COLON,
	VIRQ_TOK_BAD,    /* one byte that starts no token */
};

struct virq_token {
	enum virq_tok_kind kind;
	const char *text; /* points into the parsed text; not NUL-terminated */
	size_t len;
};

struct virq_lexer {
	const char *pos;
	const char *end;
	unsigned line; /* 1-based */
};

void virq_lexer_init(struct virq_lexer *lx, const char *text, size_t len);
void virq_lex_next(struct virq_lexer *lx, struct virq_token *tok);
/* The token virq_lex_next() would return, without consuming it. */
void virq_lex_peek(const struct virq_lexer *lx, struct virq_token *tok);
/* Skip the rest of the current line. Returns false when there is no next line. */
bool virq_lexer_next_line(struct virq_lexer *lx);

/* Case-insensitive: is @tok the identifier @word? */
bool virq_tok_is(const struct virq_token *tok, const char *word);

enum virq_unit { VIRQ_UNIT_NONE, VIRQ_UNIT_NS, VIRQ_UNIT_US, VIRQ_UNIT_MS, VIRQ_UNIT_S };

struct virq_number {
	uint64_t magnitude;
	bool negative;
	enum virq_unit unit;
};

enum virq_number_status {
	VIRQ_NUM_OK,
	VIRQ_NUM_SYNTAX,       /* not a number: bad digit, stray '_', unknown suffix */
	VIRQ_NUM_LEADING_ZERO, /* "010": refused rather than read as decimal or octal */
	VIRQ_NUM_OVERFLOW,     /* magnitude above 2^64-1 */
};

/* Convert a VIRQ_TOK_NUMBER token: decimal, 0x hex, 0b binary, '_' between digits, optional unit suffix. */
enum virq_number_status virq_lex_number(const struct virq_token *tok, struct virq_number *num);

/* Nanoseconds in one @unit (1 for VIRQ_UNIT_NONE: a bare duration is in ns). */
uint64_t virq_unit_ns(enum virq_unit unit);

#endif /* VIRQ_GUEST_LEXER_H */
