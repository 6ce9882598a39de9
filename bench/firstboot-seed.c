/* SPDX-License-Identifier: MIT */

/*
 * bench-firstboot's set-up: record, in ROOT's state.json, that the agent converged to KIND at
 * VERSION on the machine SYSROOT describes (the fingerprint the library computes from it), so
 * that the next `dsvm-firstboot run --root ROOT --sysroot SYSROOT` takes the no-op path.
 * Usage: firstboot-seed ROOT SYSROOT KIND VERSION
 */

#include <stdio.h>
#include <string.h>

#include "dsvm/detect.h"
#include "dsvm/state.h"

int main(int argc, char **argv)
{
	struct dsvm_hw_options o = { .no_imds = true };
	struct dsvm_state st = { .has_fingerprint = true, .result = DSVM_RESULT_OK };
	struct dsvm_ctx *ctx = dsvm_ctx_new();
	struct dsvm_hw *hw = NULL;
	int r;

	if (argc != 5 || !ctx) {
		fprintf(stderr, "usage: firstboot-seed ROOT SYSROOT KIND VERSION\n");
		return 64;
	}
	st.kind = st.mode = dsvm_driver_kind_from_string(argv[3]);
	snprintf(st.version, sizeof(st.version), "%s", argv[4]);
	snprintf(st.reason, sizeof(st.reason), "seeded by bench/firstboot-seed");
	r = dsvm_ctx_set_root(ctx, argv[1]);
	if (r >= 0)
		r = dsvm_ctx_set_sysroot(ctx, argv[2]);
	if (r >= 0)
		r = dsvm_hw_detect(ctx, &o, &hw);
	if (r >= 0) {
		dsvm_fingerprint_from_hw(hw, &st.fp);
		r = dsvm_state_save(ctx, &st);
	}
	if (r < 0)
		fprintf(stderr, "firstboot-seed: %s (%s)\n", dsvm_ctx_get_error(ctx), strerror(-r));
	dsvm_hw_free(hw);
	dsvm_ctx_free(ctx);
	return r < 0 ? 1 : 0;
}
