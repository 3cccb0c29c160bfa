#Requires -Version 5.1
<#
.SYNOPSIS
    Enables OneMeeting CVI (hosted Pexip Cloud Video Interop) for Microsoft Teams in one tenant.

.DESCRIPTION
    Customer:   Contoso Ltd
    Tenant ID:  3f2b8c1e-6d4a-4b7e-9a51-2c0d7e8f9a10
    Generated:  2025-01-15T10:30:00Z

    What it does (safe to run again):
      0. Allows scripts for this PowerShell session only (Windows defaults to Restricted).
      1. Installs the MicrosoftTeams PowerShell module for the current user if it is missing
         or older than 4.0.0, and imports it.
      2. Signs in to Microsoft Teams for the tenant above.
      3. Creates the Pexip video interop service provider, or updates it if it exists.
      4. Grants the PexipServiceProviderEnabled policy to the users named in step 4 below.
      5. Shows the resulting configuration.

    Prerequisites:
      - Windows PowerShell 5.1 or PowerShell 7.
      - A Teams Administrator or Global Administrator account of the tenant above.
      - Admin consent for the OneMeeting CVI application is already granted.
      - TLS 1.2 to reach the PowerShell Gallery; the script enables it for this session:
        [Net.ServicePointManager]::SecurityProtocol = [Net.ServicePointManager]::SecurityProtocol -bor [Net.SecurityProtocolType]::Tls12

    How to run: save the file, then in PowerShell
        Set-ExecutionPolicy -Scope Process -ExecutionPolicy RemoteSigned -Force
        Unblock-File -Path .\onemeeting-cvi-482913057.ps1
        .\onemeeting-cvi-482913057.ps1
    or paste the whole script into a PowerShell window.
    The first line is needed because Windows blocks scripts by default; it lasts for this window only.

    Teams can take up to 6 hours to apply policy changes to users and their meeting invites.
#>

$ErrorActionPreference = 'Stop'
if ($PSVersionTable.PSVersion -lt [version]'5.1') {
    throw 'This script needs Windows PowerShell 5.1 or PowerShell 7.'
}
Write-Host 'Enabling OneMeeting CVI for:'
Write-Host 'Contoso Ltd'

# --- Step 0: allow scripts in this PowerShell session ---------------------------------------------
# Importing the MicrosoftTeams module runs its script files, which the default policy (Restricted) blocks,
# also when this script is pasted. Process scope: nothing outside this window changes. A Group Policy
# setting wins over it; then ask your IT department.
if ((Get-ExecutionPolicy) -in 'Restricted', 'AllSigned', 'Undefined') {
    try {
        Set-ExecutionPolicy -Scope Process -ExecutionPolicy RemoteSigned -Force
    } catch {
        Write-Warning 'Could not allow scripts for this session (a Group Policy may forbid it).'
    }
}

# --- Step 1: MicrosoftTeams PowerShell module -----------------------------------------------------
# The PowerShell Gallery requires TLS 1.2, which older Windows PowerShell does not enable by default.
[Net.ServicePointManager]::SecurityProtocol = [Net.ServicePointManager]::SecurityProtocol -bor [Net.SecurityProtocolType]::Tls12
$teamsModule = Get-Module -ListAvailable MicrosoftTeams | Sort-Object Version -Descending | Select-Object -First 1
if ($null -eq $teamsModule -or $teamsModule.Version -lt [version]'4.0.0') {
    Write-Host 'Installing the MicrosoftTeams module for the current user...'
    Install-Module -Name MicrosoftTeams -Scope CurrentUser -MinimumVersion '4.0.0' -Force -AllowClobber
}
Import-Module -Name MicrosoftTeams -MinimumVersion '4.0.0'

# --- Step 2: sign in ------------------------------------------------------------------------------
# Sign in with a Teams Administrator or Global Administrator account of this tenant.
Connect-MicrosoftTeams -TenantId '3f2b8c1e-6d4a-4b7e-9a51-2c0d7e8f9a10'

# --- Step 3: video interop service provider -------------------------------------------------------
# Updates the provider when it already exists, so the script can be run again.
$providerSettings = @{
    TenantKey = '482913057@eu.teams.videosrv.net'
    InstructionUri = 'https://join.eu.videosrv.net/api/join/482913057?conf={ConfId}'
    AllowAppGuestJoinsAsAuthenticated = $true
    AadApplicationIds = '7d3e6a52-1f0b-4c8e-9a3d-5b2f4e6c8a10'
}
# Filtering the list never fails when the provider does not exist yet; Get- with -Identity throws then.
$existingProvider = Get-CsVideoInteropServiceProvider | Where-Object { $_.Identity -eq 'Pexip' }
if ($existingProvider) {
    Write-Host 'Updating the existing video interop service provider...'
    Set-CsVideoInteropServiceProvider -Identity 'Pexip' @providerSettings
} else {
    Write-Host 'Creating the video interop service provider...'
    New-CsVideoInteropServiceProvider -Name 'Pexip' @providerSettings
}

# --- Step 4: grant the video interop policy -------------------------------------------------------
# Users need the PexipServiceProviderEnabled policy, or Teams adds no video dial-in details to their invites.
# The users this script was generated for:
Grant-CsTeamsVideoInteropServicePolicy -PolicyName 'PexipServiceProviderEnabled' -Identity 'alice@contoso.com'
Grant-CsTeamsVideoInteropServicePolicy -PolicyName 'PexipServiceProviderEnabled' -Identity 'o''brien@contoso.com'
# Option: everyone in the tenant. Commented out because this script grants the policy to the users above.
# To enable every user instead, delete the '# ' at the start of the next line:
# Grant-CsTeamsVideoInteropServicePolicy -PolicyName 'PexipServiceProviderEnabled' -Global

# --- Step 5: check the result ---------------------------------------------------------------------
Write-Host 'Video interop service provider:'
Get-CsVideoInteropServiceProvider | Where-Object { $_.Identity -eq 'Pexip' } | Format-List
# A tenant-wide grant does not show in Get-CsOnlineUser; the Global policy shows it.
Write-Host 'Tenant-wide (Global) video interop policy:'
Get-CsTeamsVideoInteropServicePolicy -Identity 'Global' | Format-List
# A new grant can take a while to show here.
Write-Host 'Video interop policy of the users in step 4:'
Get-CsOnlineUser -Identity 'alice@contoso.com' | Select-Object UserPrincipalName, TeamsVideoInteropServicePolicy
Get-CsOnlineUser -Identity 'o''brien@contoso.com' | Select-Object UserPrincipalName, TeamsVideoInteropServicePolicy
Write-Host 'Done. Teams can take up to 6 hours to apply policy changes to users and their invites.'
