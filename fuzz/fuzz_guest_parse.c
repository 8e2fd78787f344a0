/* SPDX-License-Identifier: MIT */
/*
 * fuzz_guest_parse.c - libFuzzer target: the micro-op guest's text form. Any text either parses into a
 * program whose every jump target, handler entry and register index is in range, or is refused with a
 * message; never a crash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "guest/program.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	struct virq_guest_program *prog;
	struct virq_guest_error err;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (virq_guest_parse(text, &prog, &err) == 0) {
		for (uint32_t i = 0; i < prog->nr_ops; i++) {
			const struct virq_guest_op *op = &prog->ops[i];
			if (op->reg >= VIRQ_GUEST_NR_REGS || op->target > prog->nr_ops ||
			    (op->value.is_reg && op->value.reg >= VIRQ_GUEST_NR_REGS))
				abort();
		}
		for (unsigned v = 0; v < 256; v++)
			if (prog->handler[v] != VIRQ_GUEST_NO_HANDLER && prog->handler[v] > prog->nr_ops)
				abort();
		if (prog->entry > prog->nr_ops || prog->ops[prog->nr_ops].code != VIRQ_OP_SHUTDOWN)
			abort();
		virq_guest_program_free(prog);
	} else if (err.message[sizeof(err.message) - 1] != '\0' && strlen(err.message) >= sizeof(err.message)) {
		abort();
	}
	free(text);
	return 0;
}
