// Service Bus namespace and queues. Standard tier: duplicate detection needs it.
// Local (SAS key) auth is disabled; the app uses Entra ID (modules/roles.bicep).
// Standard caps a message at 256 KB, far above the handler's messages.

param name string
param location string
param tags object

@description('Queues as { name, duplicateDetectionWindow (ISO 8601 duration) }.')
param queues array

@description('Topics as { name, duplicateDetectionWindow, subscriptions: [ { name, requiresSession } ] }.')
param topics array = []

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

// Lifecycle events for CRM (docs/operations.md, "Lifecycle events"). The
// message ID is the event id, so duplicate detection drops a relay re-send;
// subscriptions are session-aware (SessionId = tenant ID) for per-tenant order.
resource topic 'Microsoft.ServiceBus/namespaces/topics@2024-01-01' = [for t in topics: {
  parent: namespace
  name: t.name
  properties: {
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: t.duplicateDetectionWindow
    defaultMessageTimeToLive: 'P14D'
    maxSizeInMegabytes: 1024
    enableBatchedOperations: true
    supportOrdering: true
    enablePartitioning: false
  }
}]

resource subscription 'Microsoft.ServiceBus/namespaces/topics/subscriptions@2024-01-01' = [for s in flatten(map(topics, t => map(t.subscriptions, sub => {
  topic: t.name
  name: sub.name
  requiresSession: sub.requiresSession
}))): {
  // Full name (namespace/topic/subscription): the parent topic is an element of a loop.
  name: '${namespace.name}/${s.topic}/${s.name}'
  properties: {
    requiresSession: s.requiresSession
    // A consumer that keeps failing on an event leaves it in <sub>/$deadletterqueue.
    maxDeliveryCount: 10
    lockDuration: 'PT1M'
    deadLetteringOnMessageExpiration: true
    defaultMessageTimeToLive: 'P14D'
  }
  dependsOn: [
    topic
  ]
}]

output name string = namespace.name
output id string = namespace.id
// serviceBusEndpoint is https://<ns>.servicebus.windows.net:443/ (other clouds differ): keep the host.
output fullyQualifiedNamespace string = split(replace(namespace.properties.serviceBusEndpoint, 'https://', ''), ':')[0]
