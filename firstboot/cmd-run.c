/* SPDX-License-Identifier: MIT */
#include "reconcile-cli.h"

static const char usage_text[] =
	"Usage: " FIRSTBOOT_PROGRAM " run [OPTIONS]\n"
	"\n"
	"Bring the driver stack to what this VM now is, offline, from the payloads the image\n"
	"carries. Runs on every boot (dsvm-firstboot.service). When nothing changed since the "
	"last\n"
	"run and the recorded driver is healthy, it exits at once having changed nothing.\n"
	"Otherwise it chooses the driver kind for the hardware among the stacks the image carries\n"
	"and runs journaled steps: stop and disable the old kind's services, unload its module,\n"
	"purge its packages and libraries (one apt transaction with the new kind's install),\n"
	"clear stale DKMS modules, install the new kind, switch /usr/local/cuda and the default\n"
	"framework environment, enable its services, check its health, and record the result\n"
	"last. A kill at any step resumes on the next run.\n"
	"\n"
	"  --root DIR     the system to change (default /)\n"
	"  --sysroot DIR  read /sys, /proc and /run under DIR (a captured or generated tree);\n"
	"                 modules are loaded and unloaded only when both are /\n"
	"  --lock FILE    the image's lock (default <root>" DSVM_IMAGE_LOCK ")\n"
	"  --catalog DIR  hardware catalog (default <root>" DSVM_IMAGE_CATALOG ")\n"
	"  --vm-size S    take S as the VM size instead of cloud-init's instance data\n"
	"  --imds URL     ask this URL for the size when nothing else says it (http only)\n"
	"  --no-imds      never ask IMDS\n"
	"  --json         print the outcome and every step as one JSON object on stdout\n"
	"  -v, --verbose  log every decision on stderr\n"
	"  -h, --help     show this text\n"
	"\n"
	"Settings, in <root>" DSVM_FIRSTBOOT_CONF " (key=value lines, '#' comments):\n"
	"  max_attempts=3        failed boots before settling in CPU mode (1-100)\n"
	"  reboot=never          or auto: reboot when an old module is busy (never by default)\n"
	"  deadline_s=900        the whole run; a step past it fails the attempt\n"
	"  program_timeout_s=600 each external program (apt, runfiles, depmod)\n"
	"\n"
	"Exit status: 0 nothing to do, converged, or a deliberate CPU mode (fallback after too\n"
	"many failed boots, or Secure Boot refusing the kind's module: see 'status'); 1 a step or\n"
	"the health gate failed (counted; the next boot retries); 64 usage; 65 a lock, catalog\n"
	"or " DSVM_FIRSTBOOT_CONF " that cannot be read; 66 no lock in the image; 74 I/O error;\n"
	"75 another dsvm process holds " DSVM_ROOT_LOCK ".\n";

int cmd_run(int argc, char **argv)
{
	return reconcile_main("run", usage_text, false, argc, argv);
}
