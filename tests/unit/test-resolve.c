/* SPDX-License-Identifier: MIT */
#include "unit.h"

#include <jansson.h>

#include "dsvm/catalog.h"
#include "dsvm/lock.h"
#include "dsvm/manifest.h"

#define MINI DSVM_SRCDIR "/tests/fixtures/manifests/good/editions/mini.yaml"
#define CATALOG DSVM_SRCDIR "/manifests/hardware"

struct fixture {
	struct dsvm_ctx *ctx;
	struct dsvm_manifest *m;
	struct dsvm_catalog *cat;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	f->ctx = unit_ctx();
	assert_ok(f->ctx, dsvm_manifest_load(f->ctx, MINI, &f->m));
	assert_ok(f->ctx, dsvm_catalog_load(f->ctx, CATALOG, &f->cat));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	dsvm_catalog_free(f->cat);
	dsvm_manifest_free(f->m);
	dsvm_ctx_free(f->ctx);
	free(f);
	return 0;
}

/* Resolve for a kind (and optional branch/arch/fabric) and return the lock as parsed JSON. */
static json_t *resolve(struct fixture *f, enum dsvm_driver_kind kind, const char *branch,
		       const char *arch, bool nvswitch, unsigned flags)
{
	struct dsvm_lock *lock = NULL;
	struct dsvm_target t;
	char *text = NULL;
	json_t *json;

	dsvm_target_init(&t, "ubuntu-22.04", arch ? arch : "x86_64");
	t.driver_kind = kind;
	if (branch)
		snprintf(t.driver_branch, sizeof(t.driver_branch), "%s", branch);
	t.nvswitch = nvswitch ? DSVM_YES : DSVM_NO;
	assert_ok(f->ctx, dsvm_resolve(f->ctx, f->m, f->cat, &t, flags, &lock));
	assert_int_equal(dsvm_lock_to_string(lock, &text), 0);
	json = json_loads(text, 0, NULL);
	assert_non_null(json);
	free(text);
	dsvm_lock_free(lock);
	return json;
}

static json_t *component(json_t *lock, const char *name)
{
	size_t i;
	json_t *c;

	json_array_foreach(json_object_get(lock, "components"), i,
			   c) if (strcmp(json_string_value(json_object_get(c, "name")), name) ==
				  0) return c;
	return NULL;
}

static const char *dropped_reason(json_t *lock, const char *name)
{
	size_t i;
	json_t *c;

	json_array_foreach(json_object_get(lock, "dropped"), i,
			   c) if (strcmp(json_string_value(json_object_get(c, "name")), name) ==
				  0) return json_string_value(json_object_get(c, "reason"));
	fail_msg("'%s' is neither selected nor dropped", name);
	return NULL;
}

static int order_of(json_t *lock, const char *name)
{
	json_t *c = component(lock, name);

	if (!c)
		fail_msg("'%s' not selected", name);
	return (int)json_integer_value(json_object_get(c, "order"));
}

static const char *artifact_url(json_t *lock, const char *name, size_t i)
{
	json_t *a = json_array_get(json_object_get(component(lock, name), "artifacts"), i);

	return json_string_value(json_object_get(a, "url"));
}

static void test_cpu(void **state)
{
	json_t *lock = resolve(*state, DSVM_DRIVER_NONE, NULL, NULL, false, 0);

	assert_true(json_is_null(json_object_get(lock, "driver")));
	assert_null(component(lock, "nvidia-driver-580-open"));
	assert_non_null(strstr(dropped_reason(lock, "nvidia-driver-580-open"), "not the target's "
									       "kind 'none'"));
	assert_non_null(strstr(dropped_reason(lock, "cuda-toolkit-13-0"), "when.accelerator [cuda] "
									  "excludes 'cpu'"));
	/* CUDA builds of PyTorch run on CPU machines: the cuda build serves both. */
	assert_non_null(component(lock, "torch-cuda"));
	assert_non_null(strstr(dropped_reason(lock, "torch-rocm"), "chosen first"));
	assert_non_null(strstr(dropped_reason(lock, "fabric-manager"), "when.driver_kind "
								       "[nvidia-open] excludes "
								       "'none'"));
	/* jupyterhub requires pytorch, so comes after it. */
	assert_true(order_of(lock, "jupyterhub-service") > order_of(lock, "torch-cuda"));
	json_decref(lock);
}

static void test_nvidia_open_newest(void **state)
{
	json_t *lock = resolve(*state, DSVM_DRIVER_NVIDIA_OPEN, NULL, NULL, false, 0);
	json_t *driver = json_object_get(lock, "driver");

	assert_string_equal(json_string_value(json_object_get(driver, "component")), "nvidia-"
										     "driver-580-"
										     "open");
	assert_string_equal(json_string_value(json_object_get(driver, "branch")), "580");
	assert_non_null(component(lock, "cuda-toolkit-13-0"));
	assert_non_null(strstr(dropped_reason(lock, "cuda-toolkit-11-4"), "chosen first"));
	/* cuDNN follows the chosen toolkit's major: the cuda13 build. */
	assert_string_equal(artifact_url(lock, "cudnn", 0), "https://developer.example.test/cudnn/"
							    "cudnn/linux-x86_64/"
							    "cudnn-linux-x86_64-9.9.0.52_cuda13-"
							    "archive.tar.xz");
	assert_string_equal(artifact_url(lock, "cuda-toolkit-13-0", 1), "https://"
									"developer.example.test/"
									"redist/cuda_nvcc/"
									"linux-x86_64/"
									"cuda_nvcc-linux-x86_64-13."
									"0.48-archive.tar.xz");
	assert_true(order_of(lock, "nvidia-driver-580-open") < order_of(lock, "cuda-toolkit-13-0"));
	assert_true(order_of(lock, "cuda-toolkit-13-0") < order_of(lock, "cudnn"));
	assert_non_null(component(lock, "nouveau-blacklist"));
	/* The first alternative wins when its cuda_major holds, though it is checked after CUDA. */
	assert_non_null(component(lock, "onnxruntime-cu13"));
	assert_non_null(strstr(dropped_reason(lock, "onnxruntime-any"), "chosen first"));
	json_decref(lock);
}

/* An older branch caps CUDA: the first alternative fails its constraint, the next is taken. */
static void test_branch_caps_cuda(void **state)
{
	json_t *lock = resolve(*state, DSVM_DRIVER_NVIDIA_OPEN, "570", NULL, false, 0);

	assert_string_equal(
		json_string_value(json_object_get(json_object_get(lock, "driver"), "branch")), "57"
											       "0");
	assert_non_null(strstr(dropped_reason(lock, "cuda-toolkit-13-0"), "constraint cuda 13.0 "
									  "exceeds CUDA 12."));
	assert_non_null(component(lock, "cuda-toolkit-11-4"));
	assert_non_null(strstr(artifact_url(lock, "cudnn", 0), "_cuda11-archive"));
	/* CUDA 11 is chosen: the cu13 build's constraint fails and the next alternative wins. */
	assert_non_null(strstr(dropped_reason(lock, "onnxruntime-cu13"), "constraint cuda_major 13 "
									 "differs"));
	assert_non_null(component(lock, "onnxruntime-any"));
	assert_non_null(strstr(dropped_reason(lock, "nvidia-driver-580-open"), "not the "
									       "requested"));
	json_decref(lock);
}

static void test_legacy_470(void **state)
{
	json_t *lock = resolve(*state, DSVM_DRIVER_NVIDIA_LEGACY_470, NULL, NULL, false, 0);

	assert_string_equal(
		json_string_value(json_object_get(json_object_get(lock, "driver"), "cuda_max")),
		"11.4.4");
	assert_non_null(component(lock, "cuda-toolkit-11-4"));
	json_decref(lock);
}

static void test_rocm(void **state)
{
	json_t *lock = resolve(*state, DSVM_DRIVER_AMD_ROCM, NULL, NULL, false, 0);

	assert_non_null(component(lock, "torch-rocm"));
	assert_non_null(strstr(dropped_reason(lock, "torch-cuda"), "constraint accelerator [cuda, "
								   "cpu] does not include the "
								   "target's "
								   "'rocm'"));
	assert_non_null(strstr(dropped_reason(lock, "nouveau-blacklist"), "when.gpu_vendor "
									  "[nvidia] excludes "
									  "'amd'"));
	json_decref(lock);
}

static void test_nvswitch_fabric_manager(void **state)
{
	json_t *lock = resolve(*state, DSVM_DRIVER_NVIDIA_OPEN, NULL, NULL, true, 0);

	assert_non_null(component(lock, "fabric-manager"));
	assert_true(order_of(lock, "nvidia-driver-580-open") < order_of(lock, "fabric-manager"));
	json_decref(lock);
}

static void test_aarch64(void **state)
{
	json_t *lock = resolve(*state, DSVM_DRIVER_NVIDIA_OPEN, NULL, "aarch64", false, 0);

	assert_non_null(strstr(artifact_url(lock, "cuda-toolkit-13-0", 0), "/linux-sbsa/"));
	assert_non_null(component(lock, "arm-only-tool"));
	assert_string_equal(json_string_value(json_object_get(lock, "arch")), "aarch64");
	json_decref(lock);
}

static void test_all_driver_kinds(void **state)
{
	json_t *lock =
		resolve(*state, DSVM_DRIVER_NONE, NULL, NULL, false, DSVM_RESOLVE_ALL_DRIVER_KINDS);
	json_t *fm = component(lock, "fabric-manager"), *open = component(lock, "nvidia-driver-580-"
										"open");
	json_t *bl = component(lock, "nouveau-blacklist");

	/* Each kind's first driver is staged; fabric manager too, since the fabric is open. */
	assert_non_null(open);
	assert_string_equal(json_string_value(json_object_get(open, "action")), "stage");
	assert_non_null(component(lock, "nvidia-driver-580"));
	assert_non_null(component(lock, "nvidia-driver-470"));
	assert_non_null(component(lock, "rocm-driver"));
	assert_non_null(component(lock, "nvidia-grid-driver"));
	assert_non_null(component(lock, "radeon-pro-driver"));
	/* Every branch of a kind is staged, with what that branch needs (its fabric manager). */
	assert_non_null(component(lock, "nvidia-driver-570-open"));
	assert_non_null(component(lock, "nvidia-grid-driver-570"));
	assert_non_null(component(lock, "fabric-manager-570"));
	assert_null(component(lock, "rocm-driver-noble"));
	assert_non_null(fm);
	/* The blacklist serves the four NVIDIA kinds, listed in kind order. */
	assert_int_equal(json_array_size(json_object_get(bl, "driver_kinds")), 4);
	assert_string_equal(
		json_string_value(json_array_get(json_object_get(bl, "driver_kinds"), 0)), "nvidia-"
											   "open");
	/* Installed components first, staged after: orders are 1..n without gaps. */
	for (size_t i = 0; i < json_array_size(json_object_get(lock, "components")); i++)
		assert_int_equal(
			json_integer_value(json_object_get(
				json_array_get(json_object_get(lock, "components"), i), "order")),
			(json_int_t)i + 1);
	json_decref(lock);
}

static void test_deterministic_and_roundtrip(void **state)
{
	struct fixture *f = *state;
	struct dsvm_lock *a = NULL, *b = NULL, *loaded = NULL;
	char *ta = NULL, *tb = NULL, *tl = NULL;
	char path[] = "/tmp/dsvm-lock-XXXXXX";
	struct dsvm_target t;
	int fd;

	dsvm_target_init(&t, "ubuntu-22.04", "x86_64");
	t.driver_kind = DSVM_DRIVER_NVIDIA_OPEN;
	assert_ok(f->ctx,
		  dsvm_resolve(f->ctx, f->m, f->cat, &t, DSVM_RESOLVE_ALL_DRIVER_KINDS, &a));
	assert_ok(f->ctx,
		  dsvm_resolve(f->ctx, f->m, f->cat, &t, DSVM_RESOLVE_ALL_DRIVER_KINDS, &b));
	assert_int_equal(dsvm_lock_to_string(a, &ta), 0);
	assert_int_equal(dsvm_lock_to_string(b, &tb), 0);
	assert_string_equal(ta, tb);

	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	assert_ok(f->ctx, dsvm_lock_write(f->ctx, a, path));
	assert_ok(f->ctx, dsvm_lock_load(f->ctx, path, &loaded));
	assert_int_equal(dsvm_lock_to_string(loaded, &tl), 0);
	assert_string_equal(ta, tl);
	unlink(path);
	free(ta);
	free(tb);
	free(tl);
	dsvm_lock_free(a);
	dsvm_lock_free(b);
	dsvm_lock_free(loaded);
}

static void test_sbom(void **state)
{
	struct fixture *f = *state;
	struct dsvm_lock *lock = NULL;
	struct dsvm_target t;
	char *s1 = NULL, *s2 = NULL;
	json_t *bom;

	dsvm_target_init(&t, "ubuntu-22.04", "x86_64");
	t.driver_kind = DSVM_DRIVER_NVIDIA_OPEN;
	assert_ok(f->ctx, dsvm_resolve(f->ctx, f->m, f->cat, &t, 0, &lock));
	assert_ok(f->ctx, dsvm_lock_to_sbom(f->ctx, lock, &s1));
	assert_ok(f->ctx, dsvm_lock_to_sbom(f->ctx, lock, &s2));
	assert_string_equal(s1, s2);
	bom = json_loads(s1, 0, NULL);
	assert_non_null(bom);
	assert_string_equal(json_string_value(json_object_get(bom, "specVersion")), "1.5");
	assert_non_null(strstr(s1, "\"purl\": \"pkg:pypi/torch@2.8.0\""));
	assert_non_null(strstr(s1, "\"purl\": \"pkg:deb/ubuntu/nvidia-driver-580-server-open@"
				   "580.95.05-0ubuntu1?arch=amd64&distro=ubuntu-22.04\""));
	assert_non_null(strstr(s1, "\"content\": \"1111111111111111111111111111111111111111111111"
				   "111111111111111111\""));
	assert_int_equal(strncmp(json_string_value(json_object_get(bom, "serialNumber")),
				 "urn:uuid:", 9),
			 0);
	json_decref(bom);
	free(s1);
	free(s2);
	dsvm_lock_free(lock);
}

/* A GPU's branch range picks the edition's first driver of the kind within it. */
static void test_gpu_branch_limits(void **state)
{
	struct fixture *f = *state;
	struct dsvm_lock *lock = NULL;
	struct dsvm_target t;
	char *text = NULL;

	dsvm_target_init(&t, "ubuntu-22.04", "x86_64");
	t.driver_kind = DSVM_DRIVER_NVIDIA_OPEN;
	snprintf(t.driver_branch_max, sizeof(t.driver_branch_max), "575");
	assert_ok(f->ctx, dsvm_resolve(f->ctx, f->m, f->cat, &t, 0, &lock));
	assert_int_equal(dsvm_lock_to_string(lock, &text), 0);
	assert_non_null(strstr(text, "\"component\": \"nvidia-driver-570-open\""));
	assert_non_null(strstr(text, "branch 580 is newer than 575, the newest this GPU supports"));
	free(text);
	dsvm_lock_free(lock);
	lock = NULL;

	t.driver_branch_max[0] = '\0';
	snprintf(t.driver_branch_min, sizeof(t.driver_branch_min), "590");
	assert_int_equal(dsvm_resolve(f->ctx, f->m, f->cat, &t, 0, &lock), -EBADMSG);
	assert_error_contains(f->ctx, "no driver component of kind 'nvidia-open', branch at least "
				      "590");
}

static void test_unserved_kind(void **state)
{
	struct fixture *f = *state;
	struct dsvm_lock *lock = NULL;
	struct dsvm_target t;

	dsvm_target_init(&t, "ubuntu-22.04", "x86_64");
	snprintf(t.arch, sizeof(t.arch), "ppc64le");
	assert_int_equal(dsvm_resolve(f->ctx, f->m, f->cat, &t, 0, &lock), -EBADMSG);
	assert_null(lock);
	assert_error_contains(f->ctx, "is not built for arch 'ppc64le'");
	snprintf(t.arch, sizeof(t.arch), "x86_64");

	t.driver_kind = DSVM_DRIVER_NVIDIA_OPEN;
	snprintf(t.driver_branch, sizeof(t.driver_branch), "550");
	assert_int_equal(dsvm_resolve(f->ctx, f->m, f->cat, &t, 0, &lock), -EBADMSG);
	assert_error_contains(f->ctx, "no driver component of kind 'nvidia-open' and branch 550");
}

static void test_lock_rejects_bad_data(void **state)
{
	static const char *const bad[] = {
		"{\"lock_version\": 2, \"edition\": \"x\", \"components\": []}",
		"{\"lock_version\": 1, \"edition\": \"x\", \"components\": [{\"name\": \"a\", "
		"\"kind\": \"archive\", \"order\": 1, \"action\": \"install\", \"artifacts\": "
		"[{\"url\": \"https://x.test/a\", \"sha256\": \"00\"}]}]}",
		"{\"lock_version\": 1, \"edition\": \"x\", \"components\": [{\"name\": \"a\", "
		"\"kind\": \"archive\", \"order\": 1, \"action\": \"install\", \"artifacts\": "
		"[{\"url\": \"ftp://x.test/a\", \"sha256\": "
		"\"0000000000000000000000000000000000000000000000000000000000000000\"}]}]}",
		"{\"lock_version\": 1, \"edition\": \"x\", \"edition\": \"y\", \"components\": []}",
		"{\"lock_version\": 1,",
	};
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char path[] = "/tmp/dsvm-badlock-XXXXXX";
		struct dsvm_lock *lock = NULL;
		int fd = mkstemp(path);

		assert_true(fd >= 0);
		assert_int_equal(write(fd, bad[i], strlen(bad[i])), (ssize_t)strlen(bad[i]));
		close(fd);
		assert_int_equal(dsvm_lock_load(f->ctx, path, &lock), -EBADMSG);
		assert_null(lock);
		assert_error_contains(f->ctx, path);
		unlink(path);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_cpu, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nvidia_open_newest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_branch_caps_cuda, setup, teardown),
		cmocka_unit_test_setup_teardown(test_legacy_470, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rocm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nvswitch_fabric_manager, setup, teardown),
		cmocka_unit_test_setup_teardown(test_aarch64, setup, teardown),
		cmocka_unit_test_setup_teardown(test_all_driver_kinds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deterministic_and_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sbom, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gpu_branch_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unserved_kind, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_rejects_bad_data, setup, teardown),
	};

	return cmocka_run_group_tests_name("resolve", tests, NULL, NULL);
}
