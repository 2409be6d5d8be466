# Entry point for Command Center's script target:
#   command = ["pwsh", "-NoProfile", "-NonInteractive", "-File", "examples/scripts/powershell/invoke.ps1"]
# Reads the request as JSON on stdin, runs the matching CommandCenter.Identity function and
# prints one line of JSON: the result, or {"error", "retryable"} with exit code 1.
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

function Write-CCFailure([string] $Message, [bool] $Retryable) {
    [Console]::Out.WriteLine((@{ error = $Message; retryable = $Retryable } | ConvertTo-Json -Compress))
    exit 1
}

try {
    Import-Module (Join-Path $PSScriptRoot 'CommandCenter.Identity.psm1') -Force
    $request = [Console]::In.ReadToEnd() | ConvertFrom-Json
} catch {
    Write-CCFailure "cannot start: $($_.Exception.Message)" $false
}

$dryRun = [bool] $request.dry_run
try {
    $result = switch ($request.operation) {
        'provision'      { Invoke-CCProvision $request -DryRun:$dryRun }
        'update'         { Invoke-CCUpdate $request -DryRun:$dryRun }
        'suspend'        { Invoke-CCSuspend $request -DryRun:$dryRun }
        'reset_password' { Invoke-CCResetPassword $request -DryRun:$dryRun }
        'deprovision'    { Invoke-CCDeprovision $request -DryRun:$dryRun }
        default          { Write-CCFailure "unknown operation $($request.operation)" $false }
    }
    $out = [ordered]@{
        account_id = $result.account_id
        changes    = @($result.changes)
        detail     = @{ operation = $request.operation; dry_run = $dryRun }
    }
    [Console]::Out.WriteLine(($out | ConvertTo-Json -Compress -Depth 6))
    exit 0
} catch [System.ArgumentException] {
    Write-CCFailure $_.Exception.Message $false
} catch [Microsoft.ActiveDirectory.Management.ADServerDownException] {
    Write-CCFailure "domain controller unreachable: $($_.Exception.Message)" $true
} catch [System.TimeoutException] {
    Write-CCFailure "timed out: $($_.Exception.Message)" $true
} catch {
    # Never echo the request: it may hold a password.
    Write-CCFailure $_.Exception.Message $false
}
