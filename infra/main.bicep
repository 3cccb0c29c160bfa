// OneMeeting CVI onboarding: every Azure resource of one environment.
// Deployed by `azd up` / `azd provision` (parameters: main.parameters.json) or
// `az deployment sub create` — see docs/operations.md.
//
// Conventions that internal/consistency (run by `make test`) parses — keep them:
//   * `var appSettings = { ... }` below is the ONLY place app settings are set:
//     one `KEY: value` per line (KEY a plain identifier or a 'quoted' name).
//   * `var serviceBusQueues = [ ... ]` declares every queue as `name: '<queue>'`;
//     every queueName in functions/*/function.json must be listed there.
//   * No connection strings, account keys, SAS tokens or instrumentation keys:
//     every connection uses the user-assigned managed identity.

targetScope = 'subscription'

// ---------------------------------------------------------------- parameters

@minLength(1)
@maxLength(64)
@description('azd environment name (AZURE_ENV_NAME): names the resource group and seeds unique resource names.')
param environmentName string

@minLength(1)
@description('Region of every resource. It must offer Flex Consumption: az functionapp list-flexconsumption-locations -o table')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@maxLength(24)
@description('Short lowercase prefix of resource names (letters, digits, hyphens). Empty = "cvi".')
param namePrefix string = ''

@minLength(4)
@description('REGIONS app setting as base64 of its JSON array: azd env set REGIONS_B64 "$(base64 -w0 < regions.json)". Base64 because azd pastes env values into main.parameters.json as raw text, which breaks JSON quoting.')
param regionsBase64 string

@minLength(3)
@description('Mailbox (UPN) every email is sent from (MAIL_SENDER).')
param mailSender string

@minLength(36)
@description('Application (client) ID holding Mail.Send in the operator tenant (MAIL_APP_ID).')
param mailAppId string

@minLength(3)
@description('Comma-separated operations addresses (OPERATIONS_EMAIL); they also receive the Azure Monitor alerts.')
param operationsEmail string

@minLength(3)
@description('Support address shown to customers (SUPPORT_EMAIL).')
param supportEmail string

@description('The provider\'s own Entra tenant (OPERATOR_TENANT_ID). Empty = the tenant of the subscription.')
param operatorTenantId string = ''

@minLength(1)
@description('Application ID URI of the admin API app registration, e.g. api://onemeeting-cvi-admin (ADMIN_API_AUDIENCE): the scope clients request (<URI>/.default). Not the audience of v2 tokens; the handler only uses it to recognise v1 tokens for the API and refuse them naming the manifest fix.')
param adminApiAudience string

@minLength(36)
@maxLength(36)
@description('Application (client) ID of the admin API app registration (ADMIN_API_CLIENT_ID). Required: the handler accepts only v2.0 tokens, whose aud is always this GUID (the app manifest must set requestedAccessTokenVersion: 2).')
param adminApiClientId string

@description('Application (client) ID of the operator console\'s SPA app registration (CONSOLE_CLIENT_ID), redirect URI https://<host>/console/. Empty leaves the console switched off.')
param consoleClientId string = ''

@allowed([
  ''
  'managed-identity-federation'
  'certificate'
])
@description('How the handler signs in as the multi-tenant apps (GRAPH_CREDENTIAL). Empty = managed-identity-federation (secretless). "secret" is for local runs only and deliberately not offered.')
param graphCredential string = ''

@description('Name of the Key Vault certificate holding the apps\' client certificate; read only when graphCredential = certificate.')
param graphCertificateName string = 'graph-client'

@description('Custom host name, e.g. onboarding.example.com. Empty = the default *.azurewebsites.net host. Create the DNS records first (docs/operations.md, "Custom domain").')
param customDomain string = ''

@maxLength(20)
@description('Optional prefix of every table name (TABLE_PREFIX), letters and digits.')
param tablePrefix string = ''

@description('NCRONTAB schedule of consent re-validation (REVALIDATION_SCHEDULE; the timer trigger reads it). Empty = every 6 hours.')
param revalidationSchedule string = ''

@minValue(40)
@maxValue(1000)
@description('Flex Consumption maximum instance count (40 is the lowest value the plan accepts).')
param maximumInstanceCount int = 40

@allowed([
  512
  2048
  4096
])
@description('Flex Consumption instance memory.')
param instanceMemoryMB int = 2048

@description('HTTP requests one instance serves at once: the handler\'s HTTP_MAX_IN_FLIGHT and Flex perInstanceConcurrency (scale-out point). Keep equal to host.json extensions.http.maxConcurrentRequests.')
@minValue(1)
@maxValue(1000)
param httpMaxInFlight int = 16

@description('Object ID of the operator running the deployment (azd fills AZURE_PRINCIPAL_ID). Gets Key Vault Certificates Officer (to import the fallback certificate) and Azure Service Bus Data Owner (to inspect dead letters). Empty = none.')
param operatorPrincipalId string = ''

@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
@description('Optional: object ID of the CRM integration\'s identity (service principal); gets Azure Service Bus Data Receiver on topic tenant-events (its crm subscription).')
param crmPrincipalId string = ''

@description('Principal type of operatorPrincipalId (ServicePrincipal when a pipeline deploys).')
param operatorPrincipalType string = 'User'

@description('Give the app identity Azure Service Bus Data Owner so Flex Consumption can scale on queue length (target-based); false keeps Data Receiver + Sender (least privilege, incremental scaling). See modules/roles.bicep.')
param serviceBusTargetScaling bool = false

// ---------------------------------------------------------------- names

var prefix = empty(namePrefix) ? 'cvi' : toLower(namePrefix)
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
  application: 'onemeeting-cvi'
}

var effectiveGraphCredential = empty(graphCredential) ? 'managed-identity-federation' : graphCredential
var effectiveOperatorTenantId = empty(operatorTenantId) ? tenant().tenantId : operatorTenantId
// Same default as internal/config; the timer trigger resolves %REVALIDATION_SCHEDULE%
// from app settings, not from the handler's defaults, so it must always be set.
var effectiveSchedule = empty(revalidationSchedule) ? '0 0 */6 * * *' : revalidationSchedule
var deploymentContainerName = 'app-package'

// Queue settings shared by all queues live in modules/servicebus.bicep
// (duplicate detection on, maxDeliveryCount 10, lock PT5M, dead-letter on expiry).
// Duplicate detection cannot be switched on or off once a queue exists.
var serviceBusQueues = [
  {
    // CRM provisioning requests; a CRM retry of one order within a day is dropped.
    name: 'provisioning'
    duplicateDetectionWindow: 'P1D'
  }
  {
    // One email job per message; the idempotency key is the message ID.
    name: 'email'
    duplicateDetectionWindow: 'P1D'
  }
  {
    // Revalidation batches; IDs carry the run ID, so an hour covers re-sends of one run.
    name: 'revalidation'
    duplicateDetectionWindow: 'PT1H'
  }
]

// Lifecycle events for CRM: CloudEvents on topic tenant-events (internal/queue
// TenantEvents). The message ID is the event id; a day of duplicate detection
// covers relay re-sends. `crm` is session-aware: SessionId = tenant ID, so a
// session receiver gets each tenant's events in order.
var serviceBusTopics = [
  {
    name: 'tenant-events'
    duplicateDetectionWindow: 'P1D'
    subscriptions: [
      {
        name: 'crm'
        requiresSession: true
      }
    ]
  }
]

// ---------------------------------------------------------------- resources

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-${prefix}-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-${prefix}-${resourceToken}'
    applicationInsightsName: 'appi-${prefix}-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'st${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
  }
}

module serviceBus 'modules/servicebus.bicep' = {
  name: 'servicebus'
  scope: rg
  params: {
    name: '${prefix}-sb-${resourceToken}'
    location: location
    tags: tags
    queues: serviceBusQueues
    topics: serviceBusTopics
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: 'kv-${resourceToken}'
    location: location
    tags: tags
  }
}

module roles 'modules/roles.bicep' = {
  name: 'roles'
  scope: rg
  params: {
    principalId: identity.outputs.principalId
    storageAccountName: storage.outputs.name
    serviceBusNamespaceName: serviceBus.outputs.name
    keyVaultName: keyVault.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    operatorPrincipalId: operatorPrincipalId
    operatorPrincipalType: operatorPrincipalType
    serviceBusTargetScaling: serviceBusTargetScaling
    eventsTopicName: 'tenant-events'
    crmPrincipalId: crmPrincipalId
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  scope: rg
  params: {
    name: '${prefix}-${resourceToken}'
    planName: 'plan-${prefix}-${resourceToken}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    deploymentStorageUrl: '${storage.outputs.blobEndpoint}${deploymentContainerName}'
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    httpPerInstanceConcurrency: httpMaxInFlight
  }
  // The app reads its package and its host storage as the identity: grant first.
  dependsOn: [
    roles
  ]
}

var publicHost = empty(customDomain) ? functionApp.outputs.defaultHostName : customDomain
var publicBaseUrl = 'https://${publicHost}'

// Every app setting of the Function App (see the header for the convention).
// Flex Consumption rejects FUNCTIONS_WORKER_RUNTIME / FUNCTIONS_EXTENSION_VERSION:
// the runtime comes from functionAppConfig.runtime (modules/functionapp.bicep).
var appSettings = {
  // Functions host storage (timers, leases, keys) through the identity.
  AzureWebJobsStorage__accountName: storage.outputs.name
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identity.outputs.clientId
  // Application Insights with Entra ID ingestion; local (key) auth is disabled on the
  // resource, so the key inside the connection string only identifies the resource.
  APPLICATIONINSIGHTS_CONNECTION_STRING: monitoring.outputs.connectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identity.outputs.clientId};Authorization=AAD'
  // Service Bus triggers ("connection": "ServiceBusConnection"); the handler sends with it too.
  ServiceBusConnection__fullyQualifiedNamespace: serviceBus.outputs.fullyQualifiedNamespace
  ServiceBusConnection__credential: 'managedidentity'
  ServiceBusConnection__clientId: identity.outputs.clientId
  // Handler settings (internal/config Settings).
  PUBLIC_BASE_URL: publicBaseUrl
  // Round trip through json() so malformed JSON fails the deployment, not the app.
  REGIONS: string(json(base64ToString(regionsBase64)))
  OPERATOR_TENANT_ID: effectiveOperatorTenantId
  MAIL_SENDER: mailSender
  MAIL_APP_ID: mailAppId
  OPERATIONS_EMAIL: operationsEmail
  SUPPORT_EMAIL: supportEmail
  ADMIN_API_AUDIENCE: adminApiAudience
  ADMIN_API_CLIENT_ID: adminApiClientId
  CONSOLE_CLIENT_ID: consoleClientId
  TableStorage__tableServiceUri: storage.outputs.tableEndpoint
  TABLE_PREFIX: tablePrefix
  MANAGED_IDENTITY_CLIENT_ID: identity.outputs.clientId
  GRAPH_CREDENTIAL: effectiveGraphCredential
  // Versionless Key Vault reference: a renewed certificate is picked up within a day.
  GRAPH_CLIENT_CERTIFICATE: effectiveGraphCredential == 'certificate' ? '@Microsoft.KeyVault(SecretUri=${keyVault.outputs.uri}secrets/${graphCertificateName}/)' : ''
  REVALIDATION_SCHEDULE: effectiveSchedule
  // The App Service front end appends exactly one X-Forwarded-For entry.
  TRUSTED_PROXY_HOPS: '1'
  LOG_LEVEL: 'info'
  // Back-off of transiently failing queue messages (re-sent as scheduled
  // messages; the queues' maxDeliveryCount 10 would last seconds otherwise).
  RETRY_BACKOFF_BASE: '10s'
  RETRY_BACKOFF_MAX: '15m'
  RETRY_BACKOFF_MAX_TOTAL: '24h'
  // Beyond this many HTTP requests at once the handler answers 503 + Retry-After;
  // Flex scales out at the same number (modules/functionapp.bicep).
  HTTP_MAX_IN_FLIGHT: string(httpMaxInFlight)
  // One reminder with the PowerShell link to a consented tenant not live after a week.
  LIVE_REMINDER_AFTER: '168h'
}

module appSettingsConfig 'modules/appsettings.bicep' = {
  name: 'appsettings'
  scope: rg
  params: {
    siteName: functionApp.outputs.name
    settings: appSettings
  }
}

module customDomainBinding 'modules/customdomain.bicep' = if (!empty(customDomain)) {
  name: 'customdomain'
  scope: rg
  params: {
    siteName: functionApp.outputs.name
    hostName: customDomain
    location: location
  }
  // Writes to one site must not overlap (HTTP 409 otherwise).
  dependsOn: [
    appSettingsConfig
  ]
}

module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  scope: rg
  params: {
    nameSuffix: '${prefix}-${resourceToken}'
    tags: tags
    operationsEmail: operationsEmail
    serviceBusNamespaceName: serviceBus.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
  }
}

// ---------------------------------------------------------------- outputs
// azd stores these in .azure/<env>/.env; docs/operations.md uses them.

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output FUNCTION_APP_NAME string = functionApp.outputs.name
output FUNCTION_APP_DEFAULT_HOSTNAME string = functionApp.outputs.defaultHostName
output PUBLIC_BASE_URL string = publicBaseUrl
output CONSENT_REDIRECT_URI string = '${publicBaseUrl}/api/adminconsent/callback'
output CUSTOM_DOMAIN_VERIFICATION_ID string = functionApp.outputs.customDomainVerificationId
output SERVICE_BUS_NAMESPACE string = serviceBus.outputs.fullyQualifiedNamespace
output SERVICE_BUS_NAMESPACE_NAME string = serviceBus.outputs.name
output MANAGED_IDENTITY_NAME string = identity.outputs.name
output MANAGED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output MANAGED_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
// Issuer of the federated identity credential on each multi-tenant app (docs/operations.md).
output FEDERATED_CREDENTIAL_ISSUER string = '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
output KEY_VAULT_NAME string = keyVault.outputs.name
output STORAGE_ACCOUNT_NAME string = storage.outputs.name
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
