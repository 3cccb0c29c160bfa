// The Function App on Flex Consumption (FC1, Linux, Functions v4) running the
// Go custom handler (functionAppConfig.runtime = custom 1.0). App settings are
// applied afterwards by appsettings.bicep, because PUBLIC_BASE_URL needs this
// site's default host name.

param name string
param planName string
param location string
param tags object

@description('Resource ID of the user-assigned identity the app runs as.')
param identityId string

@description('URL of the blob container Flex Consumption deploys packages to.')
param deploymentStorageUrl string
param maximumInstanceCount int
param instanceMemoryMB int

@description('HTTP trigger invocations per instance before Flex adds an instance (the handler\'s HTTP_MAX_IN_FLIGHT).')
param httpPerInstanceConcurrency int

resource plan 'Microsoft.Web/serverfarms@2024-11-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true // Linux
  }
}

resource site 'Microsoft.Web/sites@2024-11-01' = {
  name: name
  location: location
  // azd deploys service "api" (azure.yaml) to the resource carrying this tag.
  tags: union(tags, {
    'azd-service-name': 'api'
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // Flex Consumption only has site-scoped certificates (needed for a custom
    // domain's managed certificate) and the switch is honoured at creation only.
    siteScopedCertificatesEnabled: true
    // Key Vault references resolve as the user-assigned identity (there is no system one).
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentStorageUrl
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
        // Flex routes at most this many concurrent HTTP requests to one
        // instance and scales out beyond it; it equals the handler's own
        // bound so an instance is never sent more than it admits.
        triggers: {
          http: {
            perInstanceConcurrency: httpPerInstanceConcurrency
          }
        }
      }
      // Custom handler: the host starts host.json customHandler.description.defaultExecutablePath.
      runtime: {
        name: 'custom'
        version: '1.0'
      }
    }
  }
}

// No publishing passwords: azd and the az CLI deploy with Entra ID tokens.
resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-11-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-11-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

output name string = site.name
output id string = site.id
output defaultHostName string = site.properties.defaultHostName
// Value of the asuid.<custom domain> TXT record that proves domain ownership.
output customDomainVerificationId string = site.properties.customDomainVerificationId
