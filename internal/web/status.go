package web

import "time"

// StepState is how far one checklist step is.
type StepState string

const (
	StepDone    StepState = "done"
	StepTodo    StepState = "todo"
	StepProblem StepState = "problem"
)

// StatusPermission is one Graph permission on the status page.
type StatusPermission struct {
	Name    string
	Granted bool
}

// StatusPage is the customer's checklist behind the status link
// (/api/status/{token}). It shows only what the customer emails already
// showed: tenant key, region, consent and check times, the script link.
type StatusPage struct {
	CustomerName string
	TenantID     string
	Status       string // the lifecycle status, as stored
	TenantKey    string
	RegionName   string
	ProvisionedAt,
	ConsentedAt,
	LastCheckAt string // formatted; "" when unknown
	LastCheckBy    string // "our regular check", "an operator", ...
	ConsentState   StepState
	Permissions    []StatusPermission
	ProblemText    string // what is wrong when Degraded or Revoked
	ScriptURL      string // the PowerShell download; "" before consent
	ScriptFileName string
	LiveState      StepState
	LiveSince      string
	LastInviteSeen string
	TrustedDomain  string
	Suspended      bool
	// ConsentAgain offers the "grant consent again" button (POST to FormAction).
	ConsentAgain bool
	FormAction   string
	// Notice answers the button: sent, or rate-limited until a time.
	Notice      string
	NoticeError bool
}

func (StatusPage) templateName() string { return "status" }
func (StatusPage) title() string        { return "Your setup checklist" }
func (StatusPage) noStore() bool        { return true }

// StatusInactivePage is shown for the status link of an offboarded tenant.
type StatusInactivePage struct {
	ServiceName string
}

func (StatusInactivePage) templateName() string { return "statusinactive" }
func (StatusInactivePage) title() string        { return "This status page is no longer active" }
func (StatusInactivePage) noStore() bool        { return true }

// FormatPageTime is how the status page shows a time ("" for zero).
func FormatPageTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2 January 2006 15:04 UTC")
}
