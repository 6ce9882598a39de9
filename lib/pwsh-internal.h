/* SPDX-License-Identifier: MIT */
#pragma once

/* The PowerShell bodies of lib/pwsh/NAME.ps1, embedded by tests/tools/pwsh-embed.py. */
extern const char pwsh_common_body[];
extern const char pwsh_provision_body[];
extern const char pwsh_firstboot_body[];
extern const char pwsh_register_body[];
