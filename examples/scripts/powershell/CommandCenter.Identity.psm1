# CommandCenter.Identity: the five lifecycle operations against Active Directory, for
# Command Center's script target. Each function converges: it looks before it acts, so a
# retried job finds the work done and reports no changes. With -DryRun they report what they
# would change and change nothing.
#
# Requires the ActiveDirectory module (RSAT) and an account allowed to manage users in the
# target OUs. Configure with environment variables (set them in the target's `env` /
# `env_files`):
#   CC_AD_SERVER        domain controller to talk to (optional)
#   CC_AD_BASE_OU       e.g. "OU=Students,DC=example,DC=org"
#   CC_AD_UPN_SUFFIX    e.g. "example.org"
#   CC_AD_DISABLED_OU   where suspended accounts go (optional)
#   CC_AD_GRAVEYARD_OU  where deprovisioned accounts go; empty = delete them (optional)
Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
Import-Module ActiveDirectory

# Errors a retry can fix: the directory could not be reached or was busy.
class RetryableError : System.Exception {
    RetryableError([string] $message) : base($message) {}
}

function Get-CCServerArgs {
    $a = @{}
    if ($env:CC_AD_SERVER) { $a.Server = $env:CC_AD_SERVER }
    return $a
}

function Get-CCGradeLabel([object] $Grade) {
    if ($null -eq $Grade) { return 'staff' }
    if ($Grade -lt 0) { return 'pre-k' }
    if ($Grade -eq 0) { return 'kindergarten' }
    return "grade-$Grade"
}

# RFC 4514 escaping for a value placed in a DN.
function ConvertTo-CCDnValue([string] $Value) {
    $escaped = $Value -replace '([,\\#+<>;"=])', '\$1'
    if ($escaped.StartsWith(' ')) { $escaped = '\' + $escaped }
    if ($escaped.EndsWith(' ')) { $escaped = $escaped.Substring(0, $escaped.Length - 1) + '\ ' }
    return $escaped
}

function Get-CCHomeOu($User) {
    $school = ConvertTo-CCDnValue $User.school
    $grade = ConvertTo-CCDnValue (Get-CCGradeLabel $User.grade)
    return "OU=$grade,OU=$school,$($env:CC_AD_BASE_OU)"
}

# Finds the account by the stored DN, then by sAMAccountName (current, then previous).
function Find-CCAccount($Request) {
    $server = Get-CCServerArgs
    $props = @('DisplayName', 'GivenName', 'Surname', 'EmailAddress', 'EmployeeID', 'Department', 'Title', 'Enabled')
    if ($Request.link -and $Request.link.account_id) {
        try { return Get-ADUser -Identity $Request.link.account_id -Properties $props @server }
        catch [Microsoft.ActiveDirectory.Management.ADIdentityNotFoundException] { }
    }
    foreach ($name in @($Request.user.username, $(if ($Request.previous) { $Request.previous.username }))) {
        if (-not $name) { continue }
        $found = @(Get-ADUser -Filter 'SamAccountName -eq $name' -Properties $props @server)
        if ($found.Count -eq 1) { return $found[0] }
        if ($found.Count -gt 1) { throw "$($found.Count) accounts are named $name" }
    }
    return $null
}

function New-CCChange([string] $Kind, [string] $Object, [string] $Attribute, $From, $To) {
    $c = [ordered]@{ kind = $Kind; object = $Object }
    if ($Attribute) { $c.attribute = $Attribute; $c.from = $From; $c.to = $To }
    return $c
}

function ConvertTo-CCSecure([string] $Password) {
    return ConvertTo-SecureString -String $Password -AsPlainText -Force
}

# Create the account, or bring an existing one in line with the user record.
function Invoke-CCProvision($Request, [switch] $DryRun, [bool] $Enabled = $true) {
    $server = Get-CCServerArgs
    $u = $Request.user
    $changes = [System.Collections.Generic.List[object]]::new()
    $homeOu = Get-CCHomeOu $u
    if ($env:CC_AD_DISABLED_OU -and -not $Enabled) { $homeOu = $env:CC_AD_DISABLED_OU }
    $want = [ordered]@{
        DisplayName = "$($u.given_name) $($u.family_name)"; GivenName = $u.given_name; Surname = $u.family_name
        EmailAddress = $u.email; EmployeeID = $u.external_id; Department = $u.school; Title = $u.role
    }
    $account = Find-CCAccount $Request
    if (-not $account) {
        $dn = "CN=$(ConvertTo-CCDnValue $u.username),$homeOu"
        $changes.Add((New-CCChange 'create' $dn))
        if (-not $DryRun) {
            $params = @{
                Name = $u.username; SamAccountName = $u.username; Path = $homeOu
                UserPrincipalName = "$($u.username)@$($env:CC_AD_UPN_SUFFIX)"; Enabled = $false
            }
            foreach ($k in $want.Keys) { if ($want[$k]) { $params[$k] = $want[$k] } }
            if ($Request.password) { $params.AccountPassword = ConvertTo-CCSecure $Request.password }
            New-ADUser @params @server
            if ($Enabled -and $Request.password) { Enable-ADAccount -Identity $dn @server }
        }
        return @{ account_id = $dn; changes = $changes }
    }
    $dn = $account.DistinguishedName
    $replace = @{}; $clear = @()
    foreach ($k in $want.Keys) {
        $have = $account.$k
        if ("$have" -ne "$($want[$k])") {
            $changes.Add((New-CCChange 'modify' $dn $k $have $want[$k]))
            if ($want[$k]) { $replace[$k] = $want[$k] } else { $clear += $k }
        }
    }
    if (-not $DryRun -and ($replace.Count -gt 0 -or $clear.Count -gt 0)) {
        $set = @{}
        foreach ($k in $replace.Keys) { $set[$k] = $replace[$k] }
        if ($clear.Count -gt 0) { $set.Clear = $clear }
        Set-ADUser -Identity $dn @set @server
    }
    $parent = $dn.Substring($dn.IndexOf(',', $dn.IndexOf('=')) + 1)
    if ($parent -ne $homeOu) {
        $newDn = "CN=$(ConvertTo-CCDnValue $account.Name),$homeOu"
        $changes.Add((New-CCChange 'move' $newDn '' $dn $newDn))
        if (-not $DryRun) { Move-ADObject -Identity $dn -TargetPath $homeOu @server }
        $dn = $newDn
    }
    if ($account.Enabled -ne $Enabled) {
        $changes.Add((New-CCChange $(if ($Enabled) { 'enable' } else { 'disable' }) $dn))
        if (-not $DryRun) {
            if ($Enabled) { Enable-ADAccount -Identity $dn @server } else { Disable-ADAccount -Identity $dn @server }
        }
    }
    return @{ account_id = $dn; changes = $changes }
}

# Converge on the user record; suspended users stay disabled.
function Invoke-CCUpdate($Request, [switch] $DryRun) {
    return Invoke-CCProvision $Request -DryRun:$DryRun -Enabled ($Request.user.status -ne 'suspended')
}

# Disable the account (and park it in CC_AD_DISABLED_OU when set). No account: nothing to do.
function Invoke-CCSuspend($Request, [switch] $DryRun) {
    $server = Get-CCServerArgs
    $changes = [System.Collections.Generic.List[object]]::new()
    $account = Find-CCAccount $Request
    if (-not $account) { return @{ account_id = $null; changes = $changes } }
    $dn = $account.DistinguishedName
    if ($account.Enabled) {
        $changes.Add((New-CCChange 'disable' $dn))
        if (-not $DryRun) { Disable-ADAccount -Identity $dn @server }
    }
    if ($env:CC_AD_DISABLED_OU -and -not $dn.EndsWith(",$($env:CC_AD_DISABLED_OU)")) {
        $newDn = "CN=$(ConvertTo-CCDnValue $account.Name),$($env:CC_AD_DISABLED_OU)"
        $changes.Add((New-CCChange 'move' $newDn '' $dn $newDn))
        if (-not $DryRun) { Move-ADObject -Identity $dn -TargetPath $env:CC_AD_DISABLED_OU @server }
        $dn = $newDn
    }
    return @{ account_id = $dn; changes = $changes }
}

# Set a new password. AD cannot say whether it is already set, so this always sets it.
function Invoke-CCResetPassword($Request, [switch] $DryRun) {
    $server = Get-CCServerArgs
    if (-not $Request.password -and -not $DryRun) { throw [System.ArgumentException]::new('reset_password needs a password') }
    $account = Find-CCAccount $Request
    if (-not $account) { throw [System.ArgumentException]::new("no account for $($Request.user.username): provision it first") }
    $dn = $account.DistinguishedName
    if (-not $DryRun) {
        Set-ADAccountPassword -Identity $dn -Reset -NewPassword (ConvertTo-CCSecure $Request.password) @server
    }
    return @{ account_id = $dn; changes = @((New-CCChange 'set_password' $dn)) }
}

# Delete the account, or disable it and move it to CC_AD_GRAVEYARD_OU. No account: done.
function Invoke-CCDeprovision($Request, [switch] $DryRun) {
    $server = Get-CCServerArgs
    $changes = [System.Collections.Generic.List[object]]::new()
    $account = Find-CCAccount $Request
    if (-not $account) { return @{ account_id = $null; changes = $changes } }
    $dn = $account.DistinguishedName
    if (-not $env:CC_AD_GRAVEYARD_OU) {
        $changes.Add((New-CCChange 'delete' $dn))
        if (-not $DryRun) { Remove-ADUser -Identity $dn -Confirm:$false @server }
        return @{ account_id = $null; changes = $changes }
    }
    if ($account.Enabled) {
        $changes.Add((New-CCChange 'disable' $dn))
        if (-not $DryRun) { Disable-ADAccount -Identity $dn @server }
    }
    if (-not $dn.EndsWith(",$($env:CC_AD_GRAVEYARD_OU)")) {
        $newDn = "CN=$(ConvertTo-CCDnValue $account.Name),$($env:CC_AD_GRAVEYARD_OU)"
        $changes.Add((New-CCChange 'move' $newDn '' $dn $newDn))
        if (-not $DryRun) { Move-ADObject -Identity $dn -TargetPath $env:CC_AD_GRAVEYARD_OU @server }
        $dn = $newDn
    }
    return @{ account_id = $dn; changes = $changes }
}

Export-ModuleMember -Function Invoke-CCProvision, Invoke-CCUpdate, Invoke-CCSuspend, Invoke-CCResetPassword, Invoke-CCDeprovision
