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
    if (-not $Artifact.Sealed -or $Artifact.Sha256 -notmatch '^[0-9a-fA-F]{64}$') {
        throw ("'{0}' has no sealed SHA-256 in the lock: run 'dsvm-build seal', commit the seal file, resolve and generate again; not running it" -f $Path)
    }
    $item = Get-Item -LiteralPath $Path
    if ($Artifact.Size -gt 0 -and $item.Length -ne $Artifact.Size) {
        throw ("'{0}' is {1} bytes but the lock says {2}: truncated or another file; not running it" -f $Path, $item.Length, $Artifact.Size)
    }
    $hash = (Get-FileHash -Algorithm SHA256 -LiteralPath $Path).Hash
    if ($hash -ne $Artifact.Sha256) {
        throw ("'{0}' has SHA-256 {1} but the lock says {2}: the file changed after sealing; not running it" -f $Path, $hash, $Artifact.Sha256)
    }
    if ($null -ne $Artifact.Authenticode) {
        Test-DsvmSigner -Path $Path -Pin $Artifact.Authenticode
    }
}

# The pin of manifests/SCHEMA.md: a valid signature; every pinned subject attribute present with
# exactly that value (others free); the issuers, nearest first, beginning with the pinned
# chain; the fixed FileVersion where pinned.
function Test-DsvmSigner {
    param([string]$Path, $Pin)
    $signature = Get-AuthenticodeSignature -LiteralPath $Path
    if ($signature.Status -ne 'Valid') {
        throw ("'{0}': Authenticode status is '{1}', not 'Valid'; not running it" -f $Path, $signature.Status)
    }
    $certificate = $signature.SignerCertificate
    $names = @($certificate.SubjectName.Format($true) -split "`r?`n" | ForEach-Object { ($_.Trim() -replace '^ST=', 'S=') -replace '="(.*)"$', '=$1' })
    foreach ($attribute in @($Pin.Subject)) {
        if ($names -cnotcontains ($attribute -replace '^ST=', 'S=')) {
            throw ("'{0}' is signed by '{1}', which lacks '{2}' of the pinned signer; not running it" -f $Path, $certificate.Subject, $attribute)
        }
    }
    # Revocation is part of the signature status above; the walk only reads issuer names.
    $chain = New-Object System.Security.Cryptography.X509Certificates.X509Chain
    $chain.ChainPolicy.RevocationMode = [System.Security.Cryptography.X509Certificates.X509RevocationMode]::NoCheck
    [void]$chain.Build($certificate)
    $issuers = @($chain.ChainElements | Select-Object -Skip 1 | ForEach-Object { $_.Certificate.GetNameInfo([System.Security.Cryptography.X509Certificates.X509NameType]::SimpleName, $false) })
    $expected = @($Pin.Chain)
    for ($i = 0; $i -lt $expected.Count; $i++) {
        if ($i -ge $issuers.Count -or $issuers[$i] -cne $expected[$i]) {
            throw ("'{0}' is issued through '{1}', not the pinned chain '{2}'; not running it" -f $Path, ($issuers -join ' < '), ($expected -join ' < '))
        }
    }
    if ($Pin.FileVersion -ne '') {
        $info = (Get-Item -LiteralPath $Path).VersionInfo
        $version = '{0}.{1}.{2}.{3}' -f $info.FileMajorPart, $info.FileMinorPart, $info.FileBuildPart, $info.FilePrivatePart
        if ($version -cne $Pin.FileVersion) {
            throw ("'{0}' has file version {1} but the seal says {2}; not running it" -f $Path, $version, $Pin.FileVersion)
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

# One leaf of the instance metadata (vmSize, vmId) from IMDS: no proxy (IMDS must not go through
# one), a short timeout, bounded retries with backoff; '' when IMDS does not answer.
function Get-DsvmImds {
    param([string]$Leaf, [int]$Tries = 5)
    $uri = 'http://169.254.169.254/metadata/instance/compute/{0}?api-version=2021-02-01&format=text' -f $Leaf
    for ($try = 1; $try -le $Tries; $try++) {
        try {
            $request = [System.Net.HttpWebRequest]::Create($uri)
            $request.Method = 'GET'
            $request.Proxy = $null
            $request.Timeout = 3000
            $request.Headers.Add('Metadata', 'true')
            $response = $request.GetResponse()
            try {
                $reader = New-Object System.IO.StreamReader($response.GetResponseStream())
                $text = $reader.ReadToEnd().Trim()
            } finally {
                $response.Close()
            }
            if ($text -match '^[A-Za-z0-9_-]{1,80}$') {
                return $text
            }
            Write-Host ("IMDS answered '{0}' for {1}; ignored" -f $text, $Leaf)
        } catch {
            Write-Host ("IMDS {0}, try {1} of {2}: {3}" -f $Leaf, $try, $Tries, $_.Exception.Message)
        }
        if ($try -lt $Tries) {
            Start-Sleep -Seconds ([int][Math]::Pow(2, $try - 1))
        }
    }
    return ''
}
