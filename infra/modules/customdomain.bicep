// Custom domain with a free managed certificate. Prerequisite DNS records
// (docs/operations.md, "Custom domain"): CNAME <domain> -> the app's default
// host name, TXT asuid.<domain> -> CUSTOM_DOMAIN_VERIFICATION_ID.
// Flex Consumption issues managed certificates as site-scoped certificates
// (Microsoft.Web/sites/certificates; preview in 2026), which needs
// siteScopedCertificatesEnabled on the site from its creation.
// Each provision re-runs steps 1-3: TLS on the custom name drops for the
// seconds between step 1 and step 3.

param siteName string
param hostName string
param location string

resource site 'Microsoft.Web/sites@2024-11-01' existing = {
  name: siteName
}

// 1. Bind the name without TLS: a managed certificate is issued only for a bound name.
resource binding 'Microsoft.Web/sites/hostNameBindings@2024-11-01' = {
  parent: site
  name: hostName
  properties: {
    hostNameType: 'Verified'
    customHostNameDnsRecordType: 'CName'
    sslState: 'Disabled'
  }
}

// 2. The managed certificate (renewed by the platform).
resource certificate 'Microsoft.Web/sites/certificates@2024-11-01' = {
  parent: site
  name: replace(hostName, '.', '-')
  location: location
  properties: {
    canonicalName: hostName
  }
  dependsOn: [
    binding
  ]
}

// 3. SNI TLS with that certificate: a module, since one template cannot
//    declare the same binding twice.
module sni 'hostname-sni.bicep' = {
  name: 'sni-${uniqueString(hostName)}'
  params: {
    siteName: siteName
    hostName: hostName
    thumbprint: certificate.properties.thumbprint
  }
}

output thumbprint string = certificate.properties.thumbprint
