#!/bin/sh
# The pipeline benchmark (bench-pipeline.sh) on the shape of the largest real payloads: one
# multi-block tar.xz of about 300 MB uncompressed (90% of the bytes) plus three small tar.zst.
# OURS against max(xz -T2 -dc + zstd -dc of the set, GNU tar extracting the set uncompressed),
# side by side; target OURS <= 1.3 x that, peak RSS <= 64 MiB. BENCH_PIPELINE_XZ_MB scales it
# (compressed MB, default 110; generated once under $DSVM_BUILD/bench-data).
BENCH_PIPELINE_SET=xz-dominant BENCH_PIPELINE_TARGET=1.3 \
	BENCH_PIPELINE_MB=${BENCH_PIPELINE_XZ_MB:-110} exec sh "$(dirname "$0")/bench-pipeline.sh"
