# Body of dsvm-provision.ps1: the generator writes the param block and $DsvmSteps above it.

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
$ProgressPreference = 'SilentlyContinue'
[Net.ServicePointManager]::SecurityProtocol = [Net.ServicePointManager]::SecurityProtocol -bor [Net.SecurityProtocolType]::Tls12

function Write-DsvmLog {
    param([string]$Message)
    Write-Host ('dsvm-provision {0}: {1}' -f $Step, $Message)
}

# Download once into DownloadDir (a .part file renamed when complete), then verify; a file that
# fails verification is deleted so the next run fetches it again. Scripts of the repository come
# from UploadDir, where the template's file provisioner put them, and are verified the same way.
function Get-DsvmArtifact {
    param([hashtable]$Artifact)
    if (-not $Artifact.Sealed) {
        throw ("'{0}' awaits its seal (the lock was resolved with --allow-unsealed): run 'dsvm-build seal', commit the seal file, resolve and generate again" -f $Artifact.Name)
    }
    if ($Artifact.Url -eq '') {
        $path = Join-Path $UploadDir $Artifact.Name
        Test-DsvmArtifact -Path $path -Artifact $Artifact
        return $path
    }
    $path = Join-Path $DownloadDir ('{0}-{1}' -f $Artifact.Sha256.Substring(0, 12), $Artifact.Name)
    if (-not (Test-Path -LiteralPath $path -PathType Leaf)) {
        $part = $path + '.part'
        for ($try = 1; $try -le 4; $try++) {
            try {
                Write-DsvmLog ("downloading '{0}' (try {1} of 4)" -f $Artifact.Url, $try)
                Invoke-WebRequest -UseBasicParsing -Uri $Artifact.Url -OutFile $part
                break
            } catch {
                if ($try -eq 4) {
                    throw ("cannot download '{0}': {1}" -f $Artifact.Url, $_.Exception.Message)
                }
                Start-Sleep -Seconds (10 * $try)
            }
        }
        Move-Item -LiteralPath $part -Destination $path -Force
    }
    try {
        Test-DsvmArtifact -Path $path -Artifact $Artifact
    } catch {
        Remove-Item -LiteralPath $path -Force -ErrorAction SilentlyContinue
        throw
    }
    return $path
}

# A redistributable archive holds one top folder (<name>-<platform>-<version>-archive) whose
# bin, include and lib folders merge into the toolkit root.
function Expand-DsvmArchive {
    param([string]$Path, [string]$Destination)
    $scratch = Join-Path $DownloadDir ('x-' + [IO.Path]::GetFileNameWithoutExtension($Path))
    if (Test-Path -LiteralPath $scratch) {
        Remove-Item -LiteralPath $scratch -Recurse -Force
    }
    Expand-Archive -LiteralPath $Path -DestinationPath $scratch
    $top = @(Get-ChildItem -LiteralPath $scratch)
    if ($top.Count -ne 1 -or -not $top[0].PSIsContainer) {
        throw ("'{0}' does not hold exactly one top folder" -f $Path)
    }
    New-Item -ItemType Directory -Path $Destination -Force | Out-Null
    Copy-Item -Path (Join-Path $top[0].FullName '*') -Destination $Destination -Recurse -Force
    Remove-Item -LiteralPath $scratch -Recurse -Force
}

# A staged payload is copied beside its hash and checked again where it lies.
function Copy-DsvmPayload {
    param([string]$Path, [hashtable]$Artifact)
    $folder = Join-Path $PayloadDir $Artifact.Sha256
    New-Item -ItemType Directory -Path $folder -Force | Out-Null
    $target = Join-Path $folder $Artifact.Name
    Copy-Item -LiteralPath $Path -Destination $target -Force
    Test-DsvmArtifact -Path $target -Artifact $Artifact
    Write-DsvmLog ("staged '{0}'" -f $target)
}

$entry = $null
foreach ($candidate in $DsvmSteps) {
    if ($candidate.Name -eq $Step) {
        $entry = $candidate
    }
}
if ($null -eq $entry) {
    Write-DsvmLog ("no step '{0}' in the lock of {1}; the steps are: {2}" -f $Step, $DsvmEdition, (($DsvmSteps | ForEach-Object { $_.Name }) -join ', '))
    exit 64
}

try {
    New-Item -ItemType Directory -Path $DownloadDir -Force | Out-Null
    # Every artifact of the step is fetched and verified before any of them is used.
    $paths = @()
    foreach ($artifact in $entry.Artifacts) {
        $paths += Get-DsvmArtifact -Artifact $artifact
    }
    if ($entry.Stage) {
        Protect-DsvmFolder -Path $PayloadDir
        for ($i = 0; $i -lt $paths.Count; $i++) {
            Copy-DsvmPayload -Path $paths[$i] -Artifact $entry.Artifacts[$i]
        }
    }
    $code = 0
    if ($entry.Action -eq 'install') {
        if ($entry.Kind -eq 'msi' -or $entry.Kind -eq 'exe') {
            $command = Get-DsvmInstallCommand -Kind $entry.Kind -Path $paths[0] -Switches $entry.Args
            Write-DsvmLog ("running '{0}' {1}" -f $command.FilePath, ($command.ArgumentList -join ' '))
            $code = Invoke-DsvmInstaller -FilePath $command.FilePath -ArgumentList $command.ArgumentList
        } elseif ($entry.Kind -eq 'powershell') {
            & powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -File $paths[0]
            $code = $LASTEXITCODE
        } elseif ($entry.Kind -eq 'nvidia-redist' -or $entry.Kind -eq 'zip') {
            foreach ($path in $paths) {
                Expand-DsvmArchive -Path $path -Destination $entry.Destination
            }
        } else {
            throw ("step kind '{0}' has no install here" -f $entry.Kind)
        }
    }
} catch {
    Write-DsvmLog ("failed: {0}" -f $_.Exception.Message)
    exit 1
}

if ($entry.ValidExitCodes -notcontains $code) {
    Write-DsvmLog ("the installer exited with {0}; this step accepts {1}" -f $code, ($entry.ValidExitCodes -join ', '))
    exit 1
}
if ($code -eq 3010) {
    Write-DsvmLog 'done; the installer asks for a reboot (3010)'
} else {
    Write-DsvmLog 'done'
}
exit $code
