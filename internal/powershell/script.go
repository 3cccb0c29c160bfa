package powershell

import (
	"strings"
	"time"
)

// tlsLine enables TLS 1.2 for this session; Install-Module fails without it
// on older Windows PowerShell defaults.
const tlsLine = "[Net.ServicePointManager]::SecurityProtocol = " +
	"[Net.ServicePointManager]::SecurityProtocol -bor [Net.SecurityProtocolType]::Tls12"

// ExecutionPolicyLine lets this PowerShell session run the downloaded script
// and the MicrosoftTeams module's own script files: Windows clients default
// to Restricted, which blocks both (reference/cvi-powershell.md). Process
// scope changes nothing outside this window. Pages and emails show it too.
const ExecutionPolicyLine = "Set-ExecutionPolicy -Scope Process -ExecutionPolicy RemoteSigned -Force"

// Script returns the onboarding script for p, or a *FieldError naming the
// first field that cannot be used.
func Script(p Params) (string, error) {
	v, err := validate(p)
	if err != nil {
		return "", err
	}
	var w lines
	writeHeader(&w, p, v)
	writePrerequisites(&w, v)
	writeProvider(&w, v)
	writeGrants(&w, v)
	writeVerification(&w, v)
	return w.String(), nil
}

// lines collects script lines and joins them with CRLF.
type lines struct{ l []string }

func (w *lines) add(ls ...string) { w.l = append(w.l, ls...) }

func (w *lines) String() string { return strings.Join(w.l, "\r\n") + "\r\n" }

// section starts a step with a ruler comment of fixed width.
func (w *lines) section(title string) {
	head := "# --- " + title + " "
	w.add("", head+strings.Repeat("-", max(3, 100-len(head))))
}

func writeHeader(w *lines, p Params, v validated) {
	fileName := FileName(p)
	grantTarget := "everyone in the tenant (tenant-wide)"
	if len(v.users) > 0 {
		grantTarget = "the users named in step 4 below"
	}
	w.add(
		"#Requires -Version 5.1",
		"<#",
		".SYNOPSIS",
		"    Enables OneMeeting CVI (hosted "+v.provider+" Cloud Video Interop) for Microsoft Teams in one tenant.",
		"",
		".DESCRIPTION",
	)
	if v.customerName != "" {
		w.add("    Customer:   " + commentText(v.customerName, maxCommentName))
	}
	w.add("    Tenant ID:  " + v.tenantID)
	if !p.GeneratedAt.IsZero() {
		w.add("    Generated:  " + p.GeneratedAt.UTC().Format(time.RFC3339))
	}
	w.add(
		"",
		"    What it does (safe to run again):",
		"      0. Allows scripts for this PowerShell session only (Windows defaults to Restricted).",
		"      1. Installs the MicrosoftTeams PowerShell module for the current user if it is missing",
		"         or older than "+minTeamsModule+", and imports it.",
		"      2. Signs in to Microsoft Teams for the tenant above.",
		"      3. Creates the "+v.provider+" video interop service provider, or updates it if it exists.",
		"      4. Grants the "+v.policy+" policy to "+grantTarget+".",
		"      5. Shows the resulting configuration.",
		"",
		"    Prerequisites:",
		"      - Windows PowerShell 5.1 or PowerShell 7.",
		"      - A Teams Administrator or Global Administrator account of the tenant above.",
		"      - Admin consent for the OneMeeting CVI application is already granted.",
		"      - TLS 1.2 to reach the PowerShell Gallery; the script enables it for this session:",
		"        "+tlsLine,
		"",
		"    How to run: save the file, then in PowerShell",
		"        "+ExecutionPolicyLine,
		"        Unblock-File -Path .\\"+fileName,
		"        .\\"+fileName,
		"    or paste the whole script into a PowerShell window.",
		"    The first line is needed because Windows blocks scripts by default; it lasts for this window only.",
		"",
		"    Teams can take up to 6 hours to apply policy changes to users and their meeting invites.",
		"#>",
		"",
		"$ErrorActionPreference = 'Stop'",
		"if ($PSVersionTable.PSVersion -lt [version]'5.1') {",
		"    throw 'This script needs Windows PowerShell 5.1 or PowerShell 7.'",
		"}",
	)
	if v.customerName != "" {
		w.add(
			"Write-Host 'Enabling OneMeeting CVI for:'",
			"Write-Host "+Quote(v.customerName),
		)
	}
}

func writePrerequisites(w *lines, v validated) {
	w.section("Step 0: allow scripts in this PowerShell session")
	w.add(
		"# Importing the MicrosoftTeams module runs its script files, which the default policy (Restricted) blocks,",
		"# also when this script is pasted. Process scope: nothing outside this window changes. A Group Policy",
		"# setting wins over it; then ask your IT department.",
		"if ((Get-ExecutionPolicy) -in 'Restricted', 'AllSigned', 'Undefined') {",
		"    try {",
		"        "+ExecutionPolicyLine,
		"    } catch {",
		"        Write-Warning 'Could not allow scripts for this session (a Group Policy may forbid it).'",
		"    }",
		"}",
	)
	w.section("Step 1: MicrosoftTeams PowerShell module")
	w.add(
		"# The PowerShell Gallery requires TLS 1.2, which older Windows PowerShell does not enable by default.",
		tlsLine,
		"$teamsModule = Get-Module -ListAvailable MicrosoftTeams | Sort-Object Version -Descending | Select-Object -First 1",
		"if ($null -eq $teamsModule -or $teamsModule.Version -lt [version]'"+minTeamsModule+"') {",
		"    Write-Host 'Installing the MicrosoftTeams module for the current user...'",
		"    Install-Module -Name MicrosoftTeams -Scope CurrentUser -MinimumVersion '"+minTeamsModule+"' -Force -AllowClobber",
		"}",
		"Import-Module -Name MicrosoftTeams -MinimumVersion '"+minTeamsModule+"'",
	)
	w.section("Step 2: sign in")
	w.add(
		"# Sign in with a Teams Administrator or Global Administrator account of this tenant.",
		"Connect-MicrosoftTeams -TenantId "+Quote(v.tenantID),
	)
}

func writeProvider(w *lines, v validated) {
	w.section("Step 3: video interop service provider")
	w.add(
		"# Updates the provider when it already exists, so the script can be run again.",
		"$providerSettings = @{",
		"    TenantKey = "+Quote(v.tenantKey),
		"    InstructionUri = "+Quote(v.instructionURI),
		"    AllowAppGuestJoinsAsAuthenticated = $true",
		"    AadApplicationIds = "+Quote(v.appIDs),
		"}",
		"# Filtering the list never fails when the provider does not exist yet; Get- with -Identity throws then.",
		"$existingProvider = Get-CsVideoInteropServiceProvider | Where-Object { $_.Identity -eq "+Quote(v.provider)+" }",
		"if ($existingProvider) {",
		"    Write-Host 'Updating the existing video interop service provider...'",
		"    Set-CsVideoInteropServiceProvider -Identity "+Quote(v.provider)+" @providerSettings",
		"} else {",
		"    Write-Host 'Creating the video interop service provider...'",
		"    New-CsVideoInteropServiceProvider -Name "+Quote(v.provider)+" @providerSettings",
		"}",
	)
}

func writeGrants(w *lines, v validated) {
	w.section("Step 4: grant the video interop policy")
	w.add("# Users need the " + v.policy + " policy, or Teams adds no video dial-in details to their invites.")
	grant := "Grant-CsTeamsVideoInteropServicePolicy -PolicyName " + Quote(v.policy)
	if len(v.users) == 0 {
		w.add(
			"# Everyone in the tenant (tenant-wide):",
			grant+" -Global",
			"# Option: to enable only some users instead, replace the line above with one line per user, like:",
			"# "+grant+" -Identity 'user@example.com'",
		)
		return
	}
	w.add("# The users this script was generated for:")
	for _, upn := range v.users {
		if line := grant + " -Identity " + Quote(upn); len(line) <= maxLine {
			w.add(line)
			continue
		}
		w.add(
			"$grantArgs = @{",
			"    PolicyName = "+Quote(v.policy),
			"    Identity = "+Quote(upn),
			"}",
			"Grant-CsTeamsVideoInteropServicePolicy @grantArgs",
		)
	}
	w.add(
		"# Option: everyone in the tenant. Commented out because this script grants the policy to the users above.",
		"# To enable every user instead, delete the '# ' at the start of the next line:",
		"# "+grant+" -Global",
	)
}

func writeVerification(w *lines, v validated) {
	w.section("Step 5: check the result")
	w.add(
		"Write-Host 'Video interop service provider:'",
		"Get-CsVideoInteropServiceProvider | Where-Object { $_.Identity -eq "+Quote(v.provider)+" } | Format-List",
		"# A tenant-wide grant does not show in Get-CsOnlineUser; the Global policy shows it.",
		"Write-Host 'Tenant-wide (Global) video interop policy:'",
		"Get-CsTeamsVideoInteropServicePolicy -Identity 'Global' | Format-List",
	)
	if len(v.users) > 0 {
		const selectPolicy = " | Select-Object UserPrincipalName, TeamsVideoInteropServicePolicy"
		w.add(
			"# A new grant can take a while to show here.",
			"Write-Host 'Video interop policy of the users in step 4:'",
		)
		for _, upn := range v.users {
			if line := "Get-CsOnlineUser -Identity " + Quote(upn) + selectPolicy; len(line) <= maxLine {
				w.add(line)
				continue
			}
			w.add(
				"$userArgs = @{",
				"    Identity = "+Quote(upn),
				"}",
				"Get-CsOnlineUser @userArgs"+selectPolicy,
			)
		}
	}
	w.add(
		"Write-Host 'Done. Teams can take up to 6 hours to apply policy changes to users and their invites.'",
	)
}
