/* SPDX-License-Identifier: MIT */
/*
 * probes.h - USDT probes (provider "virq") at the points an interrupt passes: raise, inject, deliver,
 * eoi and resample. They cost a nop when nobody traces. docs/observability.md lists their arguments
 * and a bpftrace one-liner for each.
 */
#ifndef VIRQ_ENGINE_PROBES_H
#define VIRQ_ENGINE_PROBES_H

#define SDT_USE_VARIADIC 1
#include <sys/sdt.h>

/* VIRQ_PROBE(name, args...): one probe virq:name with up to 4 integer arguments. */
#define VIRQ_PROBE(name, ...) STAP_PROBEV(virq, name, __VA_ARGS__)

#endif /* VIRQ_ENGINE_PROBES_H */
