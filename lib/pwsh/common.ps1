# Shared by the generated provisioning, first-boot and registration scripts (dsvm-build, lib/pwsh).
# Windows PowerShell 5.1 syntax only: tests/tools/pwsh-lint.py keeps it so.

function Protect-DsvmFolder {
    param([string]$Path)
    if (-not (Test-Path -LiteralPath $Path -PathType Container)) {
        New-Item -ItemType Directory -Path $Path -Force | Out-Null
    }
    # Writable only by SYSTEM (S-1-5-18) and Administrators (S-1-5-32-544); SIDs, not names,
    # so a localized Windows grants the same accounts. Inheritance off: nothing else applies.
    & icacls.exe $Path '/inheritance:r' '/grant:r' '*S-1-5-18:(OI)(CI)F' '*S-1-5-32-544:(OI)(CI)F' | Out-Null
    if ($LASTEXITCODE -ne 0) {
        throw ("icacls could not restrict '{0}' (exit code {1})" -f $Path, $LASTEXITCODE)
    }
}

# Size, sealed SHA-256 and, where the lock pins one, the Authenticode signer: all before the file
# is run, copied or expanded. A file that fails is never used.
function Test-DsvmArtifact {
    param([string]$Path, [hashtable]$Artifact)
    $item = Get-Item -LiteralPath $Path
    if ($Artifact.Size -gt 0 -and $item.Length -ne $Artifact.Size) {
        throw ("'{0}' is {1} bytes but the lock says {2}: truncated or another file; not running it" -f $Path, $item.Length, $Artifact.Size)
    }
    $hash = (Get-FileHash -Algorithm SHA256 -LiteralPath $Path).Hash
    if ($hash -ne $Artifact.Sha256) {
        throw ("'{0}' has SHA-256 {1} but the lock says {2}: the file changed after sealing; not running it" -f $Path, $hash, $Artifact.Sha256)
    }
    if ($Artifact.Signer -ne '') {
        $signature = Get-AuthenticodeSignature -LiteralPath $Path
        if ($signature.Status -ne 'Valid') {
            throw ("'{0}': Authenticode status is '{1}', not 'Valid'; not running it" -f $Path, $signature.Status)
        }
        if ($signature.SignerCertificate.Subject -ne $Artifact.Signer) {
            throw ("'{0}' is signed by '{1}' but the lock pins '{2}'; not running it" -f $Path, $signature.SignerCertificate.Subject, $Artifact.Signer)
        }
    }
}

# Run an installer and wait for it; returns its exit code. Start-Process refuses an empty
# -ArgumentList, so an installer without arguments is started without one.
function Invoke-DsvmInstaller {
    param([string]$FilePath, [string[]]$ArgumentList)
    if ($ArgumentList.Count -gt 0) {
        $process = Start-Process -FilePath $FilePath -ArgumentList $ArgumentList -Wait -PassThru -NoNewWindow
    } else {
        $process = Start-Process -FilePath $FilePath -Wait -PassThru -NoNewWindow
    }
    return $process.ExitCode
}

# The argument list of a silent install: msiexec for an MSI (its log beside the file), else the
# installer itself with the lock's switches.
function Get-DsvmInstallCommand {
    param([string]$Kind, [string]$Path, [string[]]$Switches)
    if ($Kind -eq 'msi') {
        $arguments = @('/i', $Path) + $Switches + @('/l*v', ($Path + '.log'))
        return @{ FilePath = 'msiexec.exe'; ArgumentList = $arguments }
    }
    return @{ FilePath = $Path; ArgumentList = $Switches }
}
