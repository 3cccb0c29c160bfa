package web

import "github.com/onemeeting/cvi-onboarding/internal/domain"

// cleanDisplay passes every customer-supplied display string of a page
// through the domain's one sanitiser (the same as emails and PowerShell
// comments), so a bidi override or other invisible character in a stored
// name never reaches the browser, whatever the caller handed in.
func cleanDisplay(p Page) Page {
	switch v := p.(type) {
	case ConsentDeclinedPage:
		v.CustomerName = domain.CleanDisplayText(v.CustomerName)
		return v
	case ConsentGrantedPage:
		v.CustomerName = domain.CleanDisplayText(v.CustomerName)
		return v
	case ConsentDegradedPage:
		v.CustomerName = domain.CleanDisplayText(v.CustomerName)
		return v
	case ConsentPendingPage:
		v.CustomerName = domain.CleanDisplayText(v.CustomerName)
		return v
	}
	return p
}
