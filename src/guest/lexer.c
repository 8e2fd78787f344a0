/* SPDX-License-Identifier: MIT */
/*
 * lexer.c - split the micro-op guest's text into tokens, line by line, and convert number tokens.
 *
 * Tokens are identifiers, numbers, ',' and ':'; everything from ';' or '#' to the end of the line is a
 * comment. A number token is taken greedily ([0-9] then any [A-Za-z0-9_]) and validated afterwards, so
 * "12abc" or "2 us"-style mistakes are reported as one bad number rather than as two confusing tokens.
 *
 * What it omits: no character escapes, no strings, no expressions, no octal (a leading zero is refused, so
 * that a C programmer's "010" is not silently read as ten), no floating point (write "1500ns", not
 * "1.5us"). Bytes outside ASCII are not part of any token. It never prints and keeps no state beyond the
 * struct virq_lexer it is given.
 */
#include "guest/lexer.h"

#include <ctype.h>
#include <string.h>

void virq_lexer_init(struct virq_lexer *lx, const char *text, size_t len)
{
	lx->pos = text;
	lx->end = text + len;
	lx->line = 1;
}

/* isalpha() and friends depend on the locale; the language is ASCII-only whatever the locale says. */
static bool virq_is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool virq_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool virq_is_word(char c)
{
	return virq_is_alpha(c) || virq_is_digit(c);
}

static void virq_skip_blanks(struct virq_lexer *lx)
{
	while (lx->pos < lx->end) {
		char c = *lx->pos;

		if (c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f') {
			lx->pos++;
		} else if (c == ';' || c == '#') {
			/* A comment runs to the newline, which stays: it ends the line for the parser. */
			const char *nl = memchr(lx->pos, '\n', (size_t)(lx->end - lx->pos));

			lx->pos = nl ? nl : lx->end;
		} else {
			break;
		}
	}
}

static size_t virq_word_len(const char *p, const char *end)
{
	const char *q = p;

	while (q < end && virq_is_word(*q))
		q++;
	return (size_t)(q - p);
}

void virq_lex_next(struct virq_lexer *lx, struct virq_token *tok)
{
	const char *p;

	virq_skip_blanks(lx);
	p = lx->pos;
	tok->text = p;
	tok->len = 0;
	if (p == lx->end || *p == '\n') {
		tok->kind = VIRQ_TOK_EOL; /* not consumed: the line ends only in virq_lexer_next_line() */
		return;
	}
	if (virq_is_alpha(*p)) {
		tok->kind = VIRQ_TOK_IDENT;
		tok->len = virq_word_len(p, lx->end);
	} else if (virq_is_digit(*p)) {
		tok->kind = VIRQ_TOK_NUMBER;
		tok->len = virq_word_len(p, lx->end);
	} else if (*p == '-' && p + 1 < lx->end && virq_is_digit(p[1])) {
		tok->kind = VIRQ_TOK_NUMBER;
		tok->len = 1 + virq_word_len(p + 1, lx->end);
	} else {
		tok->kind = *p == ',' ? VIRQ_TOK_COMMA : *p == ':' ? VIRQ_TOK_COLON : VIRQ_TOK_BAD;
		tok->len = 1;
	}
	lx->pos += tok->len;
}

void virq_lex_peek(const struct virq_lexer *lx, struct virq_token *tok)
{
	struct virq_lexer copy = *lx;

	virq_lex_next(&copy, tok);
}

bool virq_lexer_next_line(struct virq_lexer *lx)
{
	const char *nl = memchr(lx->pos, '\n', (size_t)(lx->end - lx->pos));

	if (!nl) {
		lx->pos = lx->end;
		return false;
	}
	lx->pos = nl + 1;
	lx->line++;
	/* Text ending in '\n' has no further line: an empty last line would only cost a no-op pass. */
	return lx->pos < lx->end;
}

bool virq_tok_is(const struct virq_token *tok, const char *word)
{
	size_t n = strlen(word);

	if (tok->kind != VIRQ_TOK_IDENT || tok->len != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (tolower((unsigned char)tok->text[i]) != tolower((unsigned char)word[i]))
			return false;
	}
	return true;
}

/* Value of digit @c in @base, or -1 if it is not one. */
static int virq_digit_value(char c, unsigned base)
{
	int v = -1;

	if (c >= '0' && c <= '9')
		v = c - '0';
	else if (c >= 'a' && c <= 'f')
		v = c - 'a' + 10;
	else if (c >= 'A' && c <= 'F')
		v = c - 'A' + 10;
	return v >= 0 && (unsigned)v < base ? v : -1;
}

/* The unit suffix @s (case-insensitive), or -1 if it is none of ns, us, ms, s. */
static int virq_parse_unit(const char *s, size_t len)
{
	static const struct { const char *name; enum virq_unit unit; } units[] = {
		{ "ns", VIRQ_UNIT_NS }, { "us", VIRQ_UNIT_US }, { "ms", VIRQ_UNIT_MS }, { "s", VIRQ_UNIT_S },
	};
	struct virq_token t = { .kind = VIRQ_TOK_IDENT, .text = s, .len = len };

	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (virq_tok_is(&t, units[i].name))
			return (int)units[i].unit;
	}
	return -1;
}

/*
 * Digits of @base from @p, '_' allowed only between two digits. Stops at the first character that is
 * neither; *@stop is where. Returns the status (no digit at all is a syntax error).
 */
static enum virq_number_status virq_scan_digits(const char *p, const char *end, unsigned base, uint64_t *value,
						const char **stop)
{
	uint64_t v = 0;
	bool overflow = false;
	const char *start = p;

	for (; p < end; p++) {
		int d = virq_digit_value(*p, base);

		if (d < 0 && *p == '_' && p > start && p + 1 < end && virq_digit_value(p[1], base) >= 0)
			continue; /* a separator: the digit before it was checked, the one after is checked next */
		if (d < 0)
			break;
		if (v > (UINT64_MAX - (uint64_t)d) / base)
			overflow = true; /* keep scanning so a bad suffix is still reported as syntax */
		v = v * base + (uint64_t)d;
	}
	*stop = p;
	*value = v;
	if (p == start)
		return VIRQ_NUM_SYNTAX;
	return overflow ? VIRQ_NUM_OVERFLOW : VIRQ_NUM_OK;
}

enum virq_number_status virq_lex_number(const struct virq_token *tok, struct virq_number *num)
{
	const char *p = tok->text, *end = tok->text + tok->len, *stop;
	unsigned base = 10;
	enum virq_number_status st;
	int unit;

	memset(num, 0, sizeof(*num));
	if (p < end && *p == '-') {
		num->negative = true;
		p++;
	}
	if (end - p >= 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	} else if (end - p >= 2 && p[0] == '0' && (p[1] == 'b' || p[1] == 'B')) {
		base = 2;
		p += 2;
	}
	st = virq_scan_digits(p, end, base, &num->magnitude, &stop);
	if (st == VIRQ_NUM_SYNTAX)
		return st;
	unit = stop == end ? (int)VIRQ_UNIT_NONE : virq_parse_unit(stop, (size_t)(end - stop));
	if (unit < 0)
		return VIRQ_NUM_SYNTAX;
	num->unit = (enum virq_unit)unit;
	if (base == 10 && *p == '0' && stop - p > 1)
		return VIRQ_NUM_LEADING_ZERO;
	return st;
}

uint64_t virq_unit_ns(enum virq_unit unit)
{
	switch (unit) {
	case VIRQ_UNIT_US:
		return 1000;
	case VIRQ_UNIT_MS:
		return 1000 * 1000;
	case VIRQ_UNIT_S:
		return 1000 * 1000 * 1000;
	case VIRQ_UNIT_NONE:
	case VIRQ_UNIT_NS:
		break;
	}
	return 1;
}
