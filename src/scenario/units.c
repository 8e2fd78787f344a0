/* SPDX-License-Identifier: MIT */
/*
 * units.c - strict parsers for the scalars of a scenario file: durations ("500ms"), rates ("20k/s"),
 * counts ("0x800", "20k"), booleans and PCI addresses, and the human forms messages print.
 *
 * Why here and not in libcyaml: libcyaml 1.3.1 reads "2x" as the integer 2 and "yesno" as true, and has
 * no units, so the schema keeps these scalars as text and every one goes through a parser below that
 * accepts the whole string or nothing.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "scenario/internal.h"

/*
 * A decimal number with an optional fraction ("1.5"), scaled by @scale and required to come out whole:
 * *end is left on the first character after the digits. The fraction lets "1.5ms" and "2.5k/s" be
 * written naturally without going through floating point.
 */
static int parse_scaled(const char *s, const char **end, uint64_t scale, uint64_t *out)
{
	uint64_t mant = 0, div = 1;
	bool digits = false, frac = false;

	for (; *s; s++) {
		if (*s == '.' && !frac) {
			frac = true;
			continue;
		}
		if (*s < '0' || *s > '9')
			break;
		if (__builtin_mul_overflow(mant, 10, &mant) || __builtin_add_overflow(mant, (uint64_t)(*s - '0'), &mant))
			return -EINVAL;
		if (frac && __builtin_mul_overflow(div, 10, &div))
			return -EINVAL;
		digits = true;
	}
	if (!digits)
		return -EINVAL;
	uint64_t v;
	if (__builtin_mul_overflow(mant, scale, &v) || v % div)
		return -EINVAL;
	*out = v / div;
	*end = s;
	return 0;
}

struct unit {
	const char *suffix;
	uint64_t scale;
};

/* @s = number + one of @units (an empty suffix means a bare number is allowed). */
static int parse_with_units(const char *s, const struct unit *units, size_t n, uint64_t *out)
{
	if (!s)
		return -EINVAL;
	const char *suffix = s + strspn(s, "0123456789.");
	for (size_t i = 0; i < n; i++) {
		const char *end;
		if (!strcmp(suffix, units[i].suffix))
			return parse_scaled(s, &end, units[i].scale, out) || end != suffix ? -EINVAL : 0;
	}
	return -EINVAL;
}

int virq_parse_duration(const char *s, uint64_t *ns)
{
	static const struct unit units[] = {
		{ "ns", 1 }, { "us", 1000 }, { "\xc2\xb5s", 1000 }, { "ms", 1000000 }, { "s", 1000000000ull },
		{ "min", 60000000000ull },
	};
	if (s && !strcmp(s, "0")) {
		*ns = 0;
		return 0;
	}
	return parse_with_units(s, units, sizeof(units) / sizeof(units[0]), ns);
}

int virq_parse_rate(const char *s, uint64_t *per_s)
{
	static const struct unit units[] = {
		{ "/s", 1 }, { "k/s", 1000 }, { "M/s", 1000000 }, { "G/s", 1000000000ull },
	};
	return parse_with_units(s, units, sizeof(units) / sizeof(units[0]), per_s);
}

int virq_parse_count(const char *s, uint64_t *v)
{
	static const struct unit units[] = {
		{ "", 1 }, { "k", 1000 }, { "M", 1000000 }, { "G", 1000000000ull },
	};
	if (s && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		uint64_t x = 0;
		const char *p = s + 2;
		if (!*p)
			return -EINVAL;
		for (; *p; p++) {
			unsigned d;
			if (*p >= '0' && *p <= '9')
				d = (unsigned)(*p - '0');
			else if (*p >= 'a' && *p <= 'f')
				d = (unsigned)(*p - 'a' + 10);
			else if (*p >= 'A' && *p <= 'F')
				d = (unsigned)(*p - 'A' + 10);
			else
				return -EINVAL;
			if (x >> 60)
				return -EINVAL;
			x = x << 4 | d;
		}
		*v = x;
		return 0;
	}
	return parse_with_units(s, units, sizeof(units) / sizeof(units[0]), v);
}

int virq_parse_bool(const char *s, bool *v)
{
	static const char *const yes[] = { "true", "yes", "on" }, *const no[] = { "false", "no", "off" };
	for (size_t i = 0; s && i < 3; i++) {
		if (!strcmp(s, yes[i]) || !strcmp(s, no[i])) {
			*v = !strcmp(s, yes[i]);
			return 0;
		}
	}
	return -EINVAL;
}

static int hex_field(const char **p, unsigned digits, unsigned max, unsigned *out)
{
	unsigned v = 0;
	for (unsigned i = 0; i < digits; i++, (*p)++) {
		char c = **p;
		if (c >= '0' && c <= '9')
			v = v * 16 + (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v * 16 + (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v = v * 16 + (unsigned)(c - 'A' + 10);
		else
			return -EINVAL;
	}
	if (v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int virq_parse_pci(const char *s, uint16_t *requester_id)
{
	unsigned bus, dev, fn;
	if (!s)
		return -EINVAL;
	if (!strncmp(s, "0000:", 5))
		s += 5;
	if (hex_field(&s, 2, 0xff, &bus) || *s++ != ':' || hex_field(&s, 2, 0x1f, &dev) || *s++ != '.' ||
	    hex_field(&s, 1, 7, &fn) || *s)
		return -EINVAL;
	*requester_id = (uint16_t)(bus << 8 | dev << 3 | fn);
	return 0;
}

void virq_format_duration(uint64_t ns, char *buf, size_t len)
{
	static const struct unit units[] = { { "s", 1000000000ull }, { "ms", 1000000 }, { "us", 1000 } };
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (ns >= units[i].scale) {
			/* One decimal at most, and none when it is whole: "3s", "6.2ms". */
			uint64_t tenths = ns > UINT64_MAX / 10 ? ns / units[i].scale * 10
			                                        : (ns * 10 + units[i].scale / 2) / units[i].scale;
			if (i > 0 && tenths >= 10000) { /* rounding reached the next unit: "1s", not "1000ms" */
				i--;
				tenths = (ns * 10 + units[i].scale / 2) / units[i].scale;
			}
			if (tenths % 10)
				snprintf(buf, len, "%llu.%llu%s", (unsigned long long)(tenths / 10),
				         (unsigned long long)(tenths % 10), units[i].suffix);
			else
				snprintf(buf, len, "%llu%s", (unsigned long long)(tenths / 10), units[i].suffix);
			return;
		}
	}
	snprintf(buf, len, "%lluns", (unsigned long long)ns);
}
