/* SPDX-License-Identifier: MIT */

/*
 * libFuzzer target for what the first-boot agent reads back from the OS disk: state.json,
 * firstboot.conf and a journal it replays. The same bytes are written as each file under a
 * scratch root and read with the library's own readers; a state that loads must hold
 * NUL-terminated strings of sane length, and a journal that opens must answer its queries.
 */

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dsvm/journal.h"
#include "dsvm/state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int mkdir_p_for_fuzz(const char *path)
{
	char buf[256];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && access(buf, F_OK) < 0)
			return -1;
		*p = '/';
	}
	return mkdir(buf, 0755) < 0 && access(buf, F_OK) < 0 ? -1 : 0;
}

static void put(const char *dir, const char *name, const char *head, const uint8_t *data,
		size_t size)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s%s", dir, name);
	f = fopen(path, "w");
	if (!f)
		abort();
	if (head)
		fputs(head, f);
	fwrite(data, 1, size, f);
	fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct dsvm_ctx *ctx;
	static char root[64];
	struct dsvm_state st;
	struct dsvm_firstboot_conf conf;
	struct dsvm_journal *j = NULL;
	char dir[128];

	if (!ctx) {
		snprintf(root, sizeof(root), "/tmp/dsvm-fuzz-state.XXXXXX");
		if (!mkdtemp(root) || !(ctx = dsvm_ctx_new()) || dsvm_ctx_set_root(ctx, root) < 0)
			abort();
		snprintf(dir, sizeof(dir), "%s/var/lib/dsvm/journal", root);
		if (mkdir_p_for_fuzz(dir) < 0)
			abort();
		snprintf(dir, sizeof(dir), "%s/etc/dsvm", root);
		if (mkdir_p_for_fuzz(dir) < 0)
			abort();
	}
	put(root, "/var/lib/dsvm/state.json", NULL, data, size);
	if (dsvm_state_load(ctx, &st) == 0) {
		char *json = NULL;

		if (strnlen(st.reason, sizeof(st.reason)) == sizeof(st.reason) ||
		    strnlen(st.version, sizeof(st.version)) == sizeof(st.version) ||
		    strnlen(st.fp.gpus, sizeof(st.fp.gpus)) == sizeof(st.fp.gpus))
			abort();
		if (dsvm_state_to_json(&st, &json) < 0)
			abort();
		free(json);
	}
	put(root, "/etc/dsvm/firstboot.conf", NULL, data, size);
	if (dsvm_firstboot_conf_load(ctx, &conf) == 0 &&
	    (conf.max_attempts < 1 || conf.max_attempts > 100))
		abort();
	put(root, "/var/lib/dsvm/journal/firstboot.journal", "dsvm-journal 1 fuzz\n", data, size);
	if (dsvm_journal_open(ctx, "firstboot", "fuzz", &j) == 0) {
		for (unsigned k = 0; k < 64; k++)
			(void)dsvm_journal_is_done(j, k);
		(void)dsvm_journal_get_interrupted(j);
		dsvm_journal_free(j);
	}
	return 0;
}
