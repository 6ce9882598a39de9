# Body of dsvm-firstboot.ps1: the generator writes the param block above it. The Windows
# counterpart of `dsvm-firstboot run`: same catalog, same decision, payloads from the OS disk.

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
$EventSource = 'dsvm-firstboot'
$StateDir = Split-Path -Parent $Marker
$LogFile = Join-Path $StateDir 'firstboot.log'

function Write-DsvmEvent {
    param([string]$Message, [string]$Type = 'Information', [int]$Id = 1000)
    $line = '{0} {1} {2}' -f (Get-Date -Format 'o'), $Type, $Message
    Write-Host $line
    try {
        Add-Content -LiteralPath $LogFile -Value $line
    } catch {
        Write-Host ('cannot write {0}' -f $LogFile)
    }
    try {
        Write-EventLog -LogName Application -Source $EventSource -EventId $Id -EntryType $Type -Message $Message
    } catch {
        Write-Host 'the event source is not registered; logged to the file only'
    }
}

# PCI functions of the two GPU vendors, as 'vvvv:dddd' in lower case, the form of the catalog's
# device table. -PresentOnly: a GPU of the VM's previous size is not this VM's hardware.
function Get-DsvmPciId {
    $ids = @()
    foreach ($device in @(Get-PnpDevice -PresentOnly -ErrorAction SilentlyContinue)) {
        if ($device.InstanceId -match '^PCI\\VEN_(10DE|1002)&DEV_([0-9A-F]{4})') {
            $ids += ('{0}:{1}' -f $Matches[1], $Matches[2]).ToLowerInvariant()
        }
    }
    return $ids
}

# The same rules as lib/select.c, on the table generated from the same catalog: a catalogued
# size decides unless PCI shows another catalogued GPU and none of the size's (then PCI
# decides); no catalogued size: the GPU PCI shows most of among those a kind serves, then among
# the rest (first seen wins a tie), else a device in no table: NVIDIA takes the unknown-NVIDIA
# kind, AMD the unknown-AMD kind; else none. Devices come from gpus.yaml and the generated
# device tables alike (the catalog JSON lists both).
function Select-DsvmDriverKind {
    param($Table, [string]$Size, [string[]]$Ids)
    $models = @()
    $counts = @{}
    $unknownNvidia = 0
    $unknownAmd = 0
    foreach ($id in $Ids) {
        $device = $Table.devices.PSObject.Properties[$id]
        if ($null -eq $device) {
            if ($id.StartsWith('10de:')) {
                $unknownNvidia++
            } else {
                $unknownAmd++
            }
            continue
        }
        $gpu = $device.Value
        if ($Table.gpus.PSObject.Properties[$gpu].Value.switch) {
            continue
        }
        if (-not $counts.ContainsKey($gpu)) {
            $counts[$gpu] = 0
            $models += $gpu
        }
        $counts[$gpu]++
    }
    $main = $null
    foreach ($model in $models) {
        if ($null -eq $main) {
            $main = $model
            continue
        }
        # A GPU some driver kind serves outranks any number of those none serves.
        $served = $Table.gpus.PSObject.Properties[$model].Value.served
        $mainServed = $Table.gpus.PSObject.Properties[$main].Value.served
        if ($served -ne $mainServed) {
            if ($served) {
                $main = $model
            }
        } elseif ($counts[$model] -gt $counts[$main]) {
            $main = $model
        }
    }
    $key = $Size.ToLowerInvariant() -replace '^standard_', ''
    $sized = $null
    if ($key -ne '') {
        $sized = $Table.sizes.PSObject.Properties[$key]
    }
    if ($null -ne $sized) {
        if ($null -eq $main -or $counts.ContainsKey($sized.Value.gpu)) {
            return @{ Kind = $sized.Value.kind; Reason = ('{0} carries {1}' -f $sized.Value.name, $sized.Value.gpu) }
        }
        return @{ Kind = $Table.gpus.PSObject.Properties[$main].Value.kind; Reason = ('PCI shows {0}, not the {1} of {2}' -f $main, $sized.Value.gpu, $sized.Value.name) }
    }
    if ($null -ne $main) {
        return @{ Kind = $Table.gpus.PSObject.Properties[$main].Value.kind; Reason = ('PCI shows {0}' -f $main) }
    }
    if ($unknownNvidia -gt 0) {
        return @{ Kind = $Table.unknown_nvidia_kind; Reason = 'PCI shows an NVIDIA device the catalog does not list' }
    }
    if ($unknownAmd -gt 0) {
        return @{ Kind = $Table.unknown_amd_kind; Reason = 'PCI shows an AMD device the catalog does not list' }
    }
    return @{ Kind = 'none'; Reason = 'no GPU on PCI and no GPU size' }
}

# Take a kind's driver packages off: every device of the kind's vendor, present or left from the
# previous size, loses the driver package bound to it (pnputil removes and uninstalls it).
# DEVPKEY_Device_DriverInfPath is the oem*.inf a device was installed from (windows-driver-docs
# install/devpkey-device-driverinfpath.md); `pnputil /delete-driver` is DevCon dp_delete's
# documented replacement (learn.microsoft.com .../devtest/devcon-dp-delete).
function Remove-DsvmDriver {
    param($Table, [string]$Kind)
    $vendor = $Table.kinds.PSObject.Properties[$Kind].Value.vendor
    foreach ($device in @(Get-PnpDevice -ErrorAction SilentlyContinue)) {
        if ($device.InstanceId -notlike ('PCI\VEN_{0}*' -f $vendor)) {
            continue
        }
        $inf = (Get-PnpDeviceProperty -InstanceId $device.InstanceId -KeyName 'DEVPKEY_Device_DriverInfPath' -ErrorAction SilentlyContinue).Data
        if ($inf -like 'oem*.inf') {
            Write-DsvmEvent ("removing driver package {0} of {1} ({2})" -f $inf, $device.InstanceId, $Kind)
            & pnputil.exe /delete-driver $inf /uninstall /force | Out-Null
        }
    }
}

# Install a kind from the payloads staged on the OS disk, each checked again before it runs.
# Returns $true when an installer asks for a reboot.
function Install-DsvmDriver {
    param($Table, [string]$Kind)
    $reboot = $false
    $stack = $Table.stacks.PSObject.Properties[$Kind]
    if ($null -eq $stack) {
        throw ("the image stages no payload for driver kind '{0}'" -f $Kind)
    }
    foreach ($component in @($stack.Value)) {
        if (-not $component.unattended) {
            throw ("{0} has no known silent switch; install it by hand (the manifest gives none)" -f $component.name)
        }
        foreach ($payload in @($component.payloads)) {
            $artifact = @{ Name = $payload.name; Sha256 = $payload.sha256; Size = $payload.size; Sealed = $payload.sealed; Authenticode = $null }
            if ($null -ne $payload.authenticode) {
                $artifact.Authenticode = @{ Subject = @($payload.authenticode.subject); Chain = @($payload.authenticode.chain); FileVersion = $payload.authenticode.file_version }
            }
            $path = Join-Path (Join-Path $PayloadDir $payload.sha256) $payload.name
            Test-DsvmArtifact -Path $path -Artifact $artifact
            $command = Get-DsvmInstallCommand -Kind $component.kind -Path $path -Switches @($component.args)
            Write-DsvmEvent ("installing {0} for {1}" -f $component.name, $Kind)
            $code = Invoke-DsvmInstaller -FilePath $command.FilePath -ArgumentList $command.ArgumentList
            if (@($component.valid_exit_codes) -notcontains $code) {
                throw ("{0} exited with {1}; it accepts {2}" -f $component.name, $code, (@($component.valid_exit_codes) -join ', '))
            }
            if ($code -eq 3010 -or $component.reboot) {
                $reboot = $true
            }
        }
    }
    return $reboot
}

function Save-DsvmState {
    param([hashtable]$State)
    $text = $State | ConvertTo-Json -Depth 4
    $part = $Marker + '.part'
    Set-Content -LiteralPath $part -Value $text -Encoding UTF8
    Move-Item -LiteralPath $part -Destination $Marker -Force
}

try {
    # The build VM registered the task and restarts before sysprep: while the image is being
    # built this is that VM (same vmId), and the task leaves everything to the build.
    $buildFlag = Join-Path $StateDir 'image-build-vmid'
    if (-not $Plan -and (Test-Path -LiteralPath $buildFlag -PathType Leaf)) {
        $buildVm = (Get-Content -LiteralPath $buildFlag -Raw).Trim()
        if ($buildVm -ne '' -and $buildVm -eq (Get-DsvmImds -Leaf 'vmId' -Tries 3)) {
            Write-Host 'dsvm-firstboot: this is the image build VM; nothing to do'
            exit 0
        }
        Remove-Item -LiteralPath $buildFlag -Force
    }
    $table = Get-Content -LiteralPath $Catalog -Raw | ConvertFrom-Json
    $size = $VmSize
    if ($size -eq '' -and -not $NoImds) {
        $size = Get-DsvmImds -Leaf 'vmSize' -Tries 5
    }
    $ids = @($PciId)
    if ($ids.Count -eq 0) {
        $ids = @(Get-DsvmPciId)
    }
    $choice = Select-DsvmDriverKind -Table $table -Size $size -Ids $ids
    $fingerprint = '{0}|{1}|{2}' -f $size.ToLowerInvariant(), (($ids | Sort-Object) -join ','), $choice.Kind
    Write-DsvmEvent ("size '{0}', PCI '{1}': {2} ({3})" -f $size, ($ids -join ','), $choice.Kind, $choice.Reason)
    if ($Plan) {
        exit 0
    }

    $previous = $null
    if (Test-Path -LiteralPath $Marker -PathType Leaf) {
        $previous = Get-Content -LiteralPath $Marker -Raw | ConvertFrom-Json
    }
    $current = $table.installed_kind
    $reboots = 0
    $attempts = 0
    if ($null -ne $previous) {
        $current = $previous.kind
        # Attempts and the one reboot count per hardware: a resize starts both afresh.
        if ($previous.fingerprint -eq $fingerprint) {
            $attempts = [int]$previous.attempts
            $reboots = [int]$previous.reboots
            if ($previous.result -eq 'converged') {
                exit 0
            }
        }
    }
    if ($attempts -ge 3) {
        Write-DsvmEvent ("{0} attempts failed for this hardware; leaving the drivers as they are. Remove '{1}' to try again." -f $attempts, $Marker) 'Error' 1003
        exit 0
    }
    Save-DsvmState @{ fingerprint = $fingerprint; kind = $current; result = 'pending'; attempts = $attempts + 1; reboots = $reboots }

    $reboot = $false
    if ($current -ne $choice.Kind) {
        if ($current -ne 'none') {
            Remove-DsvmDriver -Table $table -Kind $current
        }
        if ($choice.Kind -ne 'none') {
            $reboot = Install-DsvmDriver -Table $table -Kind $choice.Kind
        }
    }
    if ($reboot -and $reboots -lt 1) {
        $reboots++
        Save-DsvmState @{ fingerprint = $fingerprint; kind = $choice.Kind; result = 'converged'; attempts = 0; reboots = $reboots }
        Write-DsvmEvent ("{0} installed; restarting once in 60 seconds" -f $choice.Kind) 'Warning' 1002
        & shutdown.exe /r /t 60 /c 'dsvm-firstboot: GPU driver changed'
        exit 0
    }
    Save-DsvmState @{ fingerprint = $fingerprint; kind = $choice.Kind; result = 'converged'; attempts = 0; reboots = $reboots }
    Write-DsvmEvent ("converged to {0}" -f $choice.Kind)
} catch {
    # Never fail the boot or the logon: the error is logged and the next boot tries again.
    Write-DsvmEvent ("failed: {0}" -f $_.Exception.Message) 'Error' 1004
}
exit 0
