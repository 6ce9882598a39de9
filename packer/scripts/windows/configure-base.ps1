# SPDX-License-Identifier: MIT
#Requires -Version 5.1
<#
.SYNOPSIS
    Base settings for the Windows Server 2022 DSVM build, run before any installer.

.DESCRIPTION
    - Lets .NET Framework 4.x programs (installers, PowerShell 5.1 itself) use the OS TLS
      defaults, so TLS 1.2 is offered; without it some of them still offer only TLS 1.0.
    - Enables Win32 long paths: conda environments and pip wheels create paths beyond
      260 characters, which fail half-way through an install otherwise.
    - Creates the folders dsvm keeps its state and the users' notebooks in.
    Every step checks before it changes, so a second run changes nothing.
#>
[CmdletBinding()]
param(
    [string]$StateDir = 'C:\ProgramData\dsvm',
    [string]$NotebookDir = 'C:\dsvm\notebooks'
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

function Set-DwordIfDifferent {
    param([string]$Path, [string]$Name, [int]$Value)
    if (-not (Test-Path -LiteralPath $Path)) {
        New-Item -Path $Path -Force | Out-Null
    }
    $current = Get-ItemProperty -LiteralPath $Path -Name $Name -ErrorAction SilentlyContinue
    if ($null -eq $current -or $current.$Name -ne $Value) {
        New-ItemProperty -LiteralPath $Path -Name $Name -Value $Value -PropertyType DWord -Force | Out-Null
        Write-Host "set $Path\$Name = $Value"
    }
}

# .NET Framework 4.x: both the 64-bit and the 32-bit (WOW6432Node) views, since installers of
# either bitness read their own view.
foreach ($key in 'HKLM:\SOFTWARE\Microsoft\.NETFramework\v4.0.30319',
                 'HKLM:\SOFTWARE\WOW6432Node\Microsoft\.NETFramework\v4.0.30319') {
    Set-DwordIfDifferent -Path $key -Name 'SchUseStrongCrypto' -Value 1
    Set-DwordIfDifferent -Path $key -Name 'SystemDefaultTlsVersions' -Value 1
}

# This process too: the registry values above take effect for processes started after them.
[Net.ServicePointManager]::SecurityProtocol =
    [Net.ServicePointManager]::SecurityProtocol -bor [Net.SecurityProtocolType]::Tls12

Set-DwordIfDifferent -Path 'HKLM:\SYSTEM\CurrentControlSet\Control\FileSystem' `
    -Name 'LongPathsEnabled' -Value 1

foreach ($dir in $StateDir, $NotebookDir) {
    if (-not (Test-Path -LiteralPath $dir -PathType Container)) {
        New-Item -ItemType Directory -Path $dir -Force | Out-Null
        Write-Host "created $dir"
    }
}
