# SPDX-License-Identifier: MIT
#Requires -Version 5.1
<#
.SYNOPSIS
    Configure the all-users Miniconda installed by the miniconda3-windows component.

.DESCRIPTION
    An image must not prompt or reach out on first use, so conda's self-update and
    "newer conda available" checks are turned off in the system-wide .condarc. Only
    <prefix>\condabin (conda.bat and its helpers) goes on the machine PATH, not the base
    environment's python.exe, so the base environment does not shadow other Pythons.
    Idempotent: conda config --set rewrites the same value, and PATH is only appended to when
    the entry is missing.
#>
[CmdletBinding()]
param(
    # Must match the /D= argument of the miniconda3-windows component.
    [string]$Prefix = 'C:\ProgramData\miniconda3'
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

$conda = Join-Path $Prefix 'Scripts\conda.exe'
if (-not (Test-Path -LiteralPath $conda -PathType Leaf)) {
    throw "conda not found at '$conda': install the miniconda3-windows component first"
}

# --system writes <prefix>\.condarc, which every user of the machine reads.
foreach ($setting in @(
        @('auto_update_conda', 'false'),
        @('notify_outdated_conda', 'false'),
        @('auto_activate_base', 'false'))) {
    & $conda config --system --set $setting[0] $setting[1]
    if ($LASTEXITCODE -ne 0) {
        throw "conda config --system --set $($setting[0]) $($setting[1]) failed with exit code $LASTEXITCODE"
    }
}

$condabin = Join-Path $Prefix 'condabin'
$machinePath = [Environment]::GetEnvironmentVariable('Path', 'Machine')
$entries = @($machinePath -split ';' | Where-Object { $_ -ne '' })
if ($entries -notcontains $condabin) {
    [Environment]::SetEnvironmentVariable('Path', (($entries + $condabin) -join ';'), 'Machine')
    Write-Host "added $condabin to the machine PATH"
}

& $conda --version
if ($LASTEXITCODE -ne 0) {
    throw "conda --version failed with exit code $LASTEXITCODE"
}
