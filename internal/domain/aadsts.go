package domain

// AADSTS codes that mean our app has no service principal in the customer
// tenant: consent never arrived or the enterprise application was deleted.
// Both are definitive "not consented / revoked". Sources: Microsoft Entra
// "AADSTS error codes" reference (700016), and Microsoft Learn's Teams app
// authentication troubleshooting page (7000229: what a client-credentials
// request to a tenant without the service principal answers today, HTTP 401
// invalid_client).
const (
	AADSTSAppNotFound             = 700016
	AADSTSMissingServicePrincipal = 7000229
)

// AppNotInTenant reports whether an AADSTS code means our app has no
// service principal in the tenant. It is the one rule the consent check and
// the consent pages share.
func AppNotInTenant(aadsts int) bool {
	return aadsts == AADSTSAppNotFound || aadsts == AADSTSMissingServicePrincipal
}
