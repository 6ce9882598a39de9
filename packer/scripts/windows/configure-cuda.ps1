# SPDX-License-Identifier: MIT
#Requires -Version 5.1
<#
.SYNOPSIS
    Point the machine environment at the CUDA toolkit installed from NVIDIA's redistributable
    archives (components cuda-toolkit-12-8-windows and cudnn-9-windows).

.DESCRIPTION
    NVIDIA's Windows installer sets CUDA_PATH and CUDA_PATH_V<major>_<minor> and puts
    <root>\bin on PATH; the redistributable archives do none of that, and frameworks (PyTorch's
    cpp extensions, ONNX Runtime's CUDA provider, nvcc users) look for exactly these variables.
    The toolkit root defaults to the directory NVIDIA's installer uses, which is where the
    builder is expected to merge the archives' bin, include and lib folders.
    Idempotent: variables are rewritten with the same value, PATH is appended to only when the
    entry is missing.
#>
[CmdletBinding()]
param(
    [string]$Version = '12.8',
    [string]$CudaRoot = 'C:\Program Files\NVIDIA GPU Computing Toolkit\CUDA\v12.8'
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

if ($Version -notmatch '^(\d+)\.(\d+)$') {
    throw "Version '$Version' is not <major>.<minor>, for example '12.8'"
}
$versionVar = "CUDA_PATH_V$($Matches[1])_$($Matches[2])"

# Check the layout before touching the environment, so a failed install is not hidden behind
# variables that point at nothing.
foreach ($file in 'bin\nvcc.exe', 'include\cuda_runtime.h', 'include\cudnn.h') {
    $p = Join-Path $CudaRoot $file
    if (-not (Test-Path -LiteralPath $p -PathType Leaf)) {
        throw "'$p' is missing: the CUDA toolkit and cuDNN archives must be merged into '$CudaRoot'"
    }
}

foreach ($name in 'CUDA_PATH', $versionVar) {
    if ([Environment]::GetEnvironmentVariable($name, 'Machine') -ne $CudaRoot) {
        [Environment]::SetEnvironmentVariable($name, $CudaRoot, 'Machine')
        Write-Host "set $name = $CudaRoot"
    }
}

$bin = Join-Path $CudaRoot 'bin'
$machinePath = [Environment]::GetEnvironmentVariable('Path', 'Machine')
$entries = @($machinePath -split ';' | Where-Object { $_ -ne '' })
if ($entries -notcontains $bin) {
    [Environment]::SetEnvironmentVariable('Path', (($entries + $bin) -join ';'), 'Machine')
    Write-Host "added $bin to the machine PATH"
}

& (Join-Path $bin 'nvcc.exe') --version
if ($LASTEXITCODE -ne 0) {
    throw "nvcc --version failed with exit code $LASTEXITCODE"
}
