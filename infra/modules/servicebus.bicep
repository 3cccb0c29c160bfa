// Service Bus namespace and queues. Standard tier: duplicate detection needs it.
// Local (SAS key) auth is disabled; the app uses Entra ID (modules/roles.bicep).
// Standard caps a message at 256 KB, far above the handler's messages.

param name string
param location string
param tags object

@description('Queues as { name, duplicateDetectionWindow (ISO 8601 duration) }.')
param queues array

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Standard'
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
  }
}

resource queue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = [for q in queues: {
  parent: namespace
  name: q.name
  properties: {
    // The handler sets message IDs (CRM request ID, idempotency keys) so a re-send is dropped.
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: q.duplicateDetectionWindow
    // After 10 failed deliveries the message goes to <queue>/$deadletterqueue (alerted).
    maxDeliveryCount: 10
    // The maximum; the Functions host also renews the lock while the handler runs.
    lockDuration: 'PT5M'
    deadLetteringOnMessageExpiration: true
    defaultMessageTimeToLive: 'P14D'
    maxSizeInMegabytes: 1024
    enableBatchedOperations: true
    requiresSession: false
    enablePartitioning: false
  }
}]

output name string = namespace.name
output id string = namespace.id
// serviceBusEndpoint is https://<ns>.servicebus.windows.net:443/ (other clouds differ): keep the host.
output fullyQualifiedNamespace string = split(replace(namespace.properties.serviceBusEndpoint, 'https://', ''), ':')[0]
