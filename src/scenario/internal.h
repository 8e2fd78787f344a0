/* SPDX-License-Identifier: MIT */
/*
 * internal.h - what the scenario loader's files share and nothing outside src/scenario/ (and its tests)
 * should use: the strict unit parsers, the key path -> line map, the libcyaml schema and how its log is
 * turned into a located message, and the expectation / source-reference parsers.
 *
 * Every parser here returns 0 or -EINVAL and, on failure, writes a message *without* a location into
 * @msg; the loader (load.c) puts the "FILE:LINE:COL: " in front, from the line map.
 */
#ifndef VIRQ_SCENARIO_INTERNAL_H
#define VIRQ_SCENARIO_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scenario/scenario.h"

/* ---- units.c: strict scalar parsers (libcyaml 1.3.1 reads "2x" as 2 and "yesno" as true) ---- */

/* "0", "3s", "500ms", "2us", "2µs", "250ns", "1.5ms", "10min" -> nanoseconds. */
int virq_parse_duration(const char *s, uint64_t *ns);
/* "20k/s", "2000/s", "1.5M/s" -> raises per second. */
int virq_parse_rate(const char *s, uint64_t *per_s);
/* "12", "0x800", "20k", "1.5M" (k = 1000, M = 10^6, G = 10^9) -> an integer. */
int virq_parse_count(const char *s, uint64_t *v);
/* true/false, yes/no, on/off. */
int virq_parse_bool(const char *s, bool *v);
/* "BB:DD.F" (hex, optionally after "0000:") -> bus << 8 | device << 3 | function. */
int virq_parse_pci(const char *s, uint16_t *requester_id);
/* Human forms for messages: "6.2ms", "250ns", "3s"; "20,000". */
void virq_format_duration(uint64_t ns, char *buf, size_t len);

/* ---- linemap.c: one libyaml event pass: syntax errors, duplicate keys, and path -> position ---- */

enum virq_linemap_kind { VIRQ_LINEMAP_SCALAR, VIRQ_LINEMAP_SEQUENCE, VIRQ_LINEMAP_MAPPING };

/* A node: "devices[1].traffic.rate" -> where its key (mapping value) or the node (list entry) starts. */
struct virq_linemap_node {
	char *path;
	unsigned line, col;          /* 1-based */
	enum virq_linemap_kind kind;
	char *scalar;                /* the text of a scalar node; NULL otherwise */
	unsigned children;           /* entries of a list / keys of a mapping */
};

struct virq_linemap;

/* Builds the map; a YAML syntax error, a duplicate key, an alias or a second document is -EINVAL with a
 * located message in @err (prefixed by @name). */
int virq_linemap_build(const char *name, const char *text, size_t len, struct virq_linemap **out,
                       char *err, size_t err_len);
void virq_linemap_free(struct virq_linemap *lm);
/* NULL when the path is not in the file. */
const struct virq_linemap_node *virq_linemap_find(const struct virq_linemap *lm, const char *path);

/* Writes "NAME:LINE:COL: <fmt...>" (or "NAME: ..." when @path is not in the map) into @err; returns -EINVAL. */
int virq_scenario_fail(char *err, size_t err_len, const char *name, const struct virq_linemap *lm,
                       const char *path, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
int virq_scenario_vfail(char *err, size_t err_len, const char *name, const struct virq_linemap *lm,
                        const char *path, const char *fmt, va_list ap);

/* ---- schema.c: the libcyaml schema and its plain-data mirror ---- */

/* Enumerations start at 1 so that 0 means "the key is absent". */
enum virq_sy_arch { VIRQ_SY_ARCH_X86_64 = 1, VIRQ_SY_ARCH_ARM64 };
enum virq_sy_msix_table { VIRQ_SY_MSIX_TABLE_ENGINE = 1, VIRQ_SY_MSIX_TABLE_VMM };
enum virq_sy_gic { VIRQ_SY_GIC_V3 = 1, VIRQ_SY_GIC_V4 };
enum virq_sy_delivery {
	VIRQ_SY_DELIVERY_IRQFD = 1,
	VIRQ_SY_DELIVERY_RESAMPLE,
	VIRQ_SY_DELIVERY_USERSPACE,
	VIRQ_SY_DELIVERY_POSTED,
	VIRQ_SY_DELIVERY_REMAPPED,
	VIRQ_SY_DELIVERY_FORWARDED,
};
enum virq_sy_driver { VIRQ_SY_DRIVER_NIC = 1, VIRQ_SY_DRIVER_INTX, VIRQ_SY_DRIVER_INTX_NO_ACK };
enum virq_sy_pattern { VIRQ_SY_PATTERN_FIXED = 1, VIRQ_SY_PATTERN_POISSON, VIRQ_SY_PATTERN_BURST,
	VIRQ_SY_PATTERN_STORM, VIRQ_SY_PATTERN_NONE };

/* Every scalar that is a number, a duration or a boolean is kept as text and parsed by units.c. */
struct virq_sy_vm {
	int arch;
	int msix_table;
	int gic;
	char *vcpus, *halt_poll;
};
struct virq_sy_bar {
	char *bar, *offset;
};
struct virq_sy_msix {
	char *vectors;
	struct virq_sy_bar *table, *pba;
};
struct virq_sy_intx {
	int pin;                     /* 1..4 = A..D */
};
struct virq_sy_traffic {
	int pattern;
	char *rate, *burst, *seed;
	char **vectors;
	unsigned vectors_count;
};
struct virq_sy_device {
	char *name, *pci;
	struct virq_sy_msix *msix;
	struct virq_sy_intx *intx;
	int delivery;
	struct virq_sy_traffic *traffic;
};
struct virq_sy_guest {
	char *device;
	int driver;
	char **affinity;
	unsigned affinity_count;
	char *handler, *retarget, *masked;
};
struct virq_sy_guest_action {
	char *mask, *unmask, *retarget, *vcpu;
};
/* A step's "expect" (and the top level's) is read from the line map: it is an expression or a list. */
struct virq_sy_step {
	char *raise;
	struct virq_sy_guest_action *guest;
	char *wait;
};
struct virq_sy_scenario {
	char *name, *description;
	struct virq_sy_vm *vm;
	struct virq_sy_device *devices;
	unsigned devices_count;
	struct virq_sy_guest *guest;
	unsigned guest_count;
	char *run, *settle;
	struct virq_sy_step *steps;
	unsigned steps_count;
};

/* Load @text with libcyaml; on failure -EINVAL and a located message rewritten from libcyaml's log. A
 * text with no document at all loads as NULL. */
int virq_schema_load(const char *name, const struct virq_linemap *lm, const char *text, size_t len,
                     struct virq_sy_scenario **out, char *err, size_t err_len);
void virq_schema_free(struct virq_sy_scenario *sy);

/* ---- expect.c: references and expectations (messages without location) ---- */

/* "nic0.vector[2]" or "legacy0.intx" -> device index and cause. */
int virq_scenario_parse_source(const struct virq_vmm_config *cfg, const char *text, unsigned *device,
                               unsigned *cause, char *msg, size_t msg_len);
/* Parse @e->text into @e (device names resolved against @cfg). */
int virq_scenario_expect_parse(const struct virq_vmm_config *cfg, struct virq_scenario_expect *e, char *msg,
                               size_t msg_len);

#endif /* VIRQ_SCENARIO_INTERNAL_H */
