/* SPDX-License-Identifier: MIT */
/*
 * linemap.c - one libyaml event pass over a scenario file that maps every node's key path
 * ("devices[1].traffic.rate") to its line and column, and keeps each scalar's text.
 *
 * Why: libcyaml 1.3.1 keeps no positions in the data it loads, so range and wiring errors found after
 * loading take their line from this map, and libcyaml's own errors are located by turning its backtrace
 * into a path. The pass also catches what is better said before libcyaml sees the text: YAML syntax
 * errors (with libyaml's mark), duplicate keys, aliases and extra documents. The expectations, whose
 * YAML shape is an expression or a list of them, are read from the scalars kept here.
 */
#define _GNU_SOURCE /* asprintf */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "scenario/internal.h"

struct virq_linemap {
	struct virq_linemap_node *nodes;
	size_t n, cap;
	/* Open addressing on the path: slot = node index + 1, 0 = empty. */
	size_t *slots;
	size_t nslots;
};

static int vlocated(char *err, size_t err_len, const char *name, unsigned line, unsigned col, const char *fmt,
                    va_list ap)
{
	int k = line ? snprintf(err, err_len, "%s:%u:%u: ", name, line, col) : snprintf(err, err_len, "%s: ", name);
	if (k >= 0 && (size_t)k < err_len)
		vsnprintf(err + k, err_len - (size_t)k, fmt, ap);
	return -EINVAL;
}

static int located(char *err, size_t err_len, const char *name, unsigned line, unsigned col, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
static int located(char *err, size_t err_len, const char *name, unsigned line, unsigned col, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlocated(err, err_len, name, line, col, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int virq_scenario_vfail(char *err, size_t err_len, const char *name, const struct virq_linemap *lm,
                        const char *path, const char *fmt, va_list ap)
{
	const struct virq_linemap_node *node = NULL;
	char *p = lm && path ? strdup(path) : NULL;
	/* A path the file does not have (a key libcyaml could not name): its nearest enclosing node. */
	while (p && !(node = virq_linemap_find(lm, p)) && *p) {
		char *dot = strrchr(p, '.'), *bracket = strrchr(p, '[');
		char *cut = dot > bracket ? dot : bracket;
		*(cut ? cut : p) = '\0';
	}
	free(p);
	return vlocated(err, err_len, name, node ? node->line : 0, node ? node->col : 0, fmt, ap);
}

int virq_scenario_fail(char *err, size_t err_len, const char *name, const struct virq_linemap *lm,
                       const char *path, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	virq_scenario_vfail(err, err_len, name, lm, path, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static size_t hash_path(const char *s)
{
	size_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static size_t *slot_of(const struct virq_linemap *lm, const char *path)
{
	size_t mask = lm->nslots - 1;
	for (size_t i = hash_path(path) & mask;; i = (i + 1) & mask)
		if (!lm->slots[i] || !strcmp(lm->nodes[lm->slots[i] - 1].path, path))
			return &lm->slots[i];
}

const struct virq_linemap_node *virq_linemap_find(const struct virq_linemap *lm, const char *path)
{
	size_t *slot = slot_of(lm, path);
	return *slot ? &lm->nodes[*slot - 1] : NULL;
}

/* Takes ownership of @path. Returns the node's index, or -ENOMEM. */
static long add_node(struct virq_linemap *lm, char *path, const yaml_mark_t *mark, enum virq_linemap_kind kind,
                     const char *scalar)
{
	if (!path)
		return -ENOMEM;
	if (lm->n == lm->cap) {
		size_t cap = lm->cap ? lm->cap * 2 : 64;
		struct virq_linemap_node *nodes = realloc(lm->nodes, cap * sizeof(*nodes));
		if (!nodes)
			goto nomem;
		lm->nodes = nodes;
		lm->cap = cap;
	}
	if ((lm->n + 1) * 2 > lm->nslots) {
		size_t nslots = lm->nslots ? lm->nslots * 2 : 128;
		size_t *slots = calloc(nslots, sizeof(*slots));
		if (!slots)
			goto nomem;
		size_t *old = lm->slots;
		lm->slots = slots;
		lm->nslots = nslots;
		for (size_t i = 0; i < lm->n; i++)
			*slot_of(lm, lm->nodes[i].path) = i + 1;
		free(old);
	}
	struct virq_linemap_node *node = &lm->nodes[lm->n];
	*node = (struct virq_linemap_node){
		.path = path,
		.line = (unsigned)mark->line + 1,
		.col = (unsigned)mark->column + 1,
		.kind = kind,
		.scalar = scalar ? strdup(scalar) : NULL,
	};
	if (scalar && !node->scalar)
		goto nomem;
	*slot_of(lm, path) = lm->n + 1;
	return (long)lm->n++;
nomem:
	free(path);
	return -ENOMEM;
}

void virq_linemap_free(struct virq_linemap *lm)
{
	if (!lm)
		return;
	for (size_t i = 0; i < lm->n; i++) {
		free(lm->nodes[i].path);
		free(lm->nodes[i].scalar);
	}
	free(lm->nodes);
	free(lm->slots);
	free(lm);
}

/* An open mapping or list while walking the events. */
struct frame {
	size_t node;        /* its node */
	bool mapping;
	bool want_key;      /* mapping: the next scalar is a key */
	char *key;          /* mapping: the current key */
	yaml_mark_t key_mark;
	unsigned index;     /* list: the next entry's index */
};

#define MAX_DEPTH 64

struct walk {
	struct virq_linemap *lm;
	struct frame stack[MAX_DEPTH];
	unsigned depth;
	const char *name;
	char *err;
	size_t err_len;
};

/* The path of the node about to be read in the innermost open collection. */
static char *child_path(const struct walk *w)
{
	char *path = NULL;
	if (!w->depth)
		return strdup("");
	const struct frame *f = &w->stack[w->depth - 1];
	const char *parent = w->lm->nodes[f->node].path;
	int r = f->mapping ? asprintf(&path, "%s%s%s", parent, *parent ? "." : "", f->key)
	                   : asprintf(&path, "%s[%u]", parent, f->index);
	return r < 0 ? NULL : path;
}

/* A value node begins: record it where its key is (a mapping's value) or where it starts (a list entry). */
static long begin_value(struct walk *w, const yaml_event_t *ev, enum virq_linemap_kind kind, const char *scalar)
{
	const yaml_mark_t *mark = &ev->start_mark;
	if (w->depth) {
		struct frame *f = &w->stack[w->depth - 1];
		w->lm->nodes[f->node].children++;
		if (f->mapping)
			mark = &f->key_mark;
	}
	return add_node(w->lm, child_path(w), mark, kind, scalar);
}

/* A value node is complete: its parent moves on to the next key or entry. */
static void end_value(struct walk *w)
{
	if (!w->depth)
		return;
	struct frame *f = &w->stack[w->depth - 1];
	if (f->mapping) {
		free(f->key);
		f->key = NULL;
		f->want_key = true;
	} else {
		f->index++;
	}
}

static int on_key(struct walk *w, const yaml_event_t *ev)
{
	struct frame *f = &w->stack[w->depth - 1];
	f->key = strdup((const char *)ev->data.scalar.value);
	if (!f->key)
		return -ENOMEM;
	f->key_mark = ev->start_mark;
	f->want_key = false;
	char *path = child_path(w);
	if (!path)
		return -ENOMEM;
	const struct virq_linemap_node *first = virq_linemap_find(w->lm, path);
	free(path);
	if (first)
		return located(w->err, w->err_len, w->name, (unsigned)ev->start_mark.line + 1,
		               (unsigned)ev->start_mark.column + 1, "duplicate key '%s' (first at line %u)", f->key,
		               first->line);
	return 0;
}

static int on_event(struct walk *w, const yaml_event_t *ev, unsigned *documents)
{
	struct frame *top = w->depth ? &w->stack[w->depth - 1] : NULL;
	unsigned line = (unsigned)ev->start_mark.line + 1, col = (unsigned)ev->start_mark.column + 1;
	long node;

	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		if (++*documents > 1)
			return located(w->err, w->err_len, w->name, line, col,
			               "a second YAML document starts here (a scenario file holds one)");
		return 0;
	case YAML_ALIAS_EVENT:
		return located(w->err, w->err_len, w->name, line, col,
		               "alias '*%s': anchors and aliases are not supported in scenario files",
		               (const char *)ev->data.alias.anchor);
	case YAML_SCALAR_EVENT:
		if (top && top->mapping && top->want_key)
			return on_key(w, ev);
		node = begin_value(w, ev, VIRQ_LINEMAP_SCALAR, (const char *)ev->data.scalar.value);
		if (node < 0)
			return (int)node;
		end_value(w);
		return 0;
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT: {
		bool mapping = ev->type == YAML_MAPPING_START_EVENT;
		if (top && top->mapping && top->want_key)
			return located(w->err, w->err_len, w->name, line, col, "a key must be a plain name, not a %s",
			               mapping ? "mapping" : "list");
		if (w->depth == MAX_DEPTH)
			return located(w->err, w->err_len, w->name, line, col, "nested more than %d deep", MAX_DEPTH);
		node = begin_value(w, ev, mapping ? VIRQ_LINEMAP_MAPPING : VIRQ_LINEMAP_SEQUENCE, NULL);
		if (node < 0)
			return (int)node;
		w->stack[w->depth++] = (struct frame){ .node = (size_t)node, .mapping = mapping, .want_key = mapping };
		return 0;
	}
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		free(top->key);
		w->depth--;
		end_value(w);
		return 0;
	default:
		return 0;
	}
}

static int syntax_error(const struct walk *w, const yaml_parser_t *p)
{
	const char *problem = p->problem ? p->problem : "cannot parse";
	/* The mistake everyone makes: "[ nic0.vector[2].pending ]" (brackets end a flow list early). */
	const char *hint = p->context && strstr(p->context, "flow") ?
		"; inside [ ] or { }, quote values with brackets: \"nic0.vector[2].pending\"" : "";
	if (p->context)
		return located(w->err, w->err_len, w->name, (unsigned)p->problem_mark.line + 1,
		               (unsigned)p->problem_mark.column + 1, "YAML syntax error: %s (%s that starts at line %zu)%s",
		               problem, p->context, p->context_mark.line + 1, hint);
	return located(w->err, w->err_len, w->name, (unsigned)p->problem_mark.line + 1,
	               (unsigned)p->problem_mark.column + 1, "YAML syntax error: %s", problem);
}

int virq_linemap_build(const char *name, const char *text, size_t len, struct virq_linemap **out, char *err,
                       size_t err_len)
{
	struct walk w = { .lm = calloc(1, sizeof(*w.lm)), .name = name, .err = err, .err_len = err_len };
	yaml_parser_t parser;
	unsigned documents = 0;
	int r = 0;

	if (!w.lm)
		return -ENOMEM;
	if (!yaml_parser_initialize(&parser)) {
		free(w.lm);
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	for (bool done = false; !done && !r;) {
		yaml_event_t ev;
		if (!yaml_parser_parse(&parser, &ev)) {
			r = parser.error == YAML_MEMORY_ERROR ? -ENOMEM : syntax_error(&w, &parser);
			break;
		}
		done = ev.type == YAML_STREAM_END_EVENT;
		r = on_event(&w, &ev, &documents);
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	while (w.depth)
		free(w.stack[--w.depth].key);
	if (r == -ENOMEM)
		snprintf(err, err_len, "%s: out of memory", name);
	if (r) {
		virq_linemap_free(w.lm);
		return r;
	}
	*out = w.lm;
	return 0;
}
