/* SPDX-License-Identifier: MIT */
/*
 * handle.c - the process-wide handle table (see handle.h).
 */
#define _GNU_SOURCE
#include "handle/handle.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct virq_handle {
	const struct virq_handle_ops *ops; /* [I] */
	void *object;                      /* [I] */
	_Atomic int refs;                  /* [A] the table's reference + one per lookup in progress */
};

static pthread_mutex_t virq_handles_lock = PTHREAD_MUTEX_INITIALIZER;
static struct virq_handle **virq_handles; /* [L:virq_handles_lock] indexed by descriptor */
static int virq_handles_size;             /* [L:virq_handles_lock] */

void virq_handle_put(struct virq_handle *h)
{
	if (atomic_fetch_sub_explicit(&h->refs, 1, memory_order_acq_rel) != 1)
		return;
	h->ops->release(h->object);
	free(h);
}

void *virq_handle_object(const struct virq_handle *h)
{
	return h->object;
}

const struct virq_handle_ops *virq_handle_kind(const struct virq_handle *h)
{
	return h->ops;
}

static int virq_handle_install(int fd, struct virq_handle *h)
{
	int ret = 0;

	pthread_mutex_lock(&virq_handles_lock);
	if (fd >= virq_handles_size) {
		int size = fd + 64;
		struct virq_handle **grown = realloc(virq_handles, (size_t)size * sizeof(*grown));
		if (!grown) {
			ret = -ENOMEM;
			goto out_unlock;
		}
		memset(grown + virq_handles_size, 0, (size_t)(size - virq_handles_size) * sizeof(*grown));
		virq_handles = grown;
		virq_handles_size = size;
	}
	virq_handles[fd] = h;
out_unlock:
	pthread_mutex_unlock(&virq_handles_lock);
	return ret;
}

int virq_handle_create(const struct virq_handle_ops *ops, void *object)
{
	struct virq_handle *h = calloc(1, sizeof(*h));
	int fd, ret;

	if (!h)
		return -ENOMEM;
	h->ops = ops;
	h->object = object;
	atomic_init(&h->refs, 1);
	fd = memfd_create(ops->name, MFD_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		free(h);
		return ret;
	}
	ret = virq_handle_install(fd, h);
	if (ret < 0) {
		close(fd);
		free(h);
		return ret;
	}
	return fd;
}

int virq_handle_get(int fd, const struct virq_handle_ops *kind, struct virq_handle **out)
{
	struct virq_handle *h = NULL;

	pthread_mutex_lock(&virq_handles_lock);
	if (fd >= 0 && fd < virq_handles_size)
		h = virq_handles[fd];
	if (h)
		atomic_fetch_add_explicit(&h->refs, 1, memory_order_relaxed);
	pthread_mutex_unlock(&virq_handles_lock);
	if (!h)
		return fd >= 0 && fcntl(fd, F_GETFD) >= 0 ? -ENOTTY : -EBADF;
	if (kind && h->ops != kind) {
		virq_handle_put(h);
		return -ENOTTY;
	}
	*out = h;
	return 0;
}

void *virq_handle_borrow(int fd, const struct virq_handle_ops *kind)
{
	struct virq_handle *h;
	int ret = virq_handle_get(fd, kind, &h);

	if (ret < 0) {
		errno = -ret;
		return NULL;
	}
	void *object = h->object;
	virq_handle_put(h);
	return object;
}

long virq_handle_ioctl(int fd, unsigned long request, unsigned long arg)
{
	struct virq_handle *h;
	long ret = virq_handle_get(fd, NULL, &h);

	if (ret < 0)
		return ret;
	ret = h->ops->ioctl(h->object, request, arg);
	virq_handle_put(h);
	return ret;
}

int virq_handle_close(int fd)
{
	struct virq_handle *h = NULL;

	pthread_mutex_lock(&virq_handles_lock);
	if (fd >= 0 && fd < virq_handles_size) {
		h = virq_handles[fd];
		virq_handles[fd] = NULL;
	}
	pthread_mutex_unlock(&virq_handles_lock);
	if (!h)
		return -EBADF;
	close(fd);
	if (h->ops->closed)
		h->ops->closed(h->object);
	virq_handle_put(h);
	return 0;
}
