# Body of dsvm-register-firstboot.ps1: the generator writes the param block above it. Run by the
# template after the last provisioning step, as an administrator.

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

Protect-DsvmFolder -Path $InstallDir
Protect-DsvmFolder -Path $PayloadDir
# The template uploads the contents of OUT/scripts and OUT/dsvm-catalog.json into UploadDir.
foreach ($name in 'dsvm-firstboot.ps1', 'dsvm-catalog.json') {
    Copy-Item -LiteralPath (Join-Path $UploadDir $name) -Destination $InstallDir -Force
}
$script = Join-Path $InstallDir 'dsvm-firstboot.ps1'

if (-not [System.Diagnostics.EventLog]::SourceExists('dsvm-firstboot')) {
    New-EventLog -LogName Application -Source 'dsvm-firstboot'
}

# At startup, as SYSTEM, in session 0: the task runs beside the logon, never before it.
$action = New-ScheduledTaskAction -Execute 'powershell.exe' -Argument ('-NoProfile -NonInteractive -ExecutionPolicy Bypass -File "{0}"' -f $script)
$trigger = New-ScheduledTaskTrigger -AtStartup
$principal = New-ScheduledTaskPrincipal -UserId 'SYSTEM' -LogonType ServiceAccount -RunLevel Highest
$settings = New-ScheduledTaskSettingsSet -ExecutionTimeLimit (New-TimeSpan -Hours 1) -StartWhenAvailable -MultipleInstances IgnoreNew
Register-ScheduledTask -TaskName 'dsvm-firstboot' -Action $action -Trigger $trigger -Principal $principal -Settings $settings -Force | Out-Null

# This VM restarts before sysprep and runs the task: its vmId tells the task it is the build VM.
# A VM made from the image has another vmId, removes the file and converges.
Set-Content -LiteralPath (Join-Path $InstallDir 'image-build-vmid') -Value (Get-DsvmImds -Leaf 'vmId' -Tries 5) -Encoding ASCII

# The image must reach every VM without a marker, so each one converges on its first boot.
foreach ($name in 'firstboot-state.json', 'firstboot-state.json.part', 'firstboot.log') {
    Remove-Item -LiteralPath (Join-Path $InstallDir $name) -Force -ErrorAction SilentlyContinue
}
Write-Host ("registered task 'dsvm-firstboot' running '{0}'" -f $script)
