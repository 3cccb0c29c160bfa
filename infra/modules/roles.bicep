// Least-privilege role assignments for the app's user-assigned identity (and,
// optionally, the operator who deploys). Built-in role definition IDs are
// fixed GUIDs: az role definition list --name "<role name>" --query [].name -o tsv

@description('Principal (object) ID of the Function App\'s user-assigned identity.')
param principalId string
param storageAccountName string
param serviceBusNamespaceName string
param keyVaultName string
param applicationInsightsName string

@description('Optional operator principal: Key Vault Certificates Officer + Azure Service Bus Data Owner.')
param operatorPrincipalId string = ''

@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param operatorPrincipalType string = 'User'

@description('The lifecycle-events topic; the app identity gets Data Sender on it.')
param eventsTopicName string = 'tenant-events'

@description('Optional CRM integration service principal: Azure Service Bus Data Receiver on the events topic.')
param crmPrincipalId string = ''

@description('Grant the app identity Azure Service Bus Data Owner (Manage claim) so the scale controller can read queue lengths for target-based scaling. Default false: least privilege (see serviceBusRoles).')
param serviceBusTargetScaling bool = false

var role = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  serviceBusDataReceiver: '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'
  serviceBusDataSender: '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'
  serviceBusDataOwner: '090c5cfd-751d-490a-894a-3ce6f1109419'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  keyVaultCertificateUser: 'db79e9a7-68ee-4b58-9aeb-b90e7c24fcba'
  keyVaultCertificatesOfficer: 'a4417e6f-fecd-4de8-b567-7b0420556985'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

// Blob Data Owner: host storage and the Flex deployment container (the host
// manages blob leases and its key store); Queue: host queues; Table: tenant tables.
var storageRoles = [
  role.storageBlobDataOwner
  role.storageQueueDataContributor
  role.storageTableDataContributor
]
// Receiver: the three queue triggers and the dead-letter resubmit (it receives
// from <queue>/$deadletterqueue); Sender: the handler enqueues email jobs,
// revalidation batches, reminders and back-off re-sends itself.
//
// Scaling trade-off (docs/operations.md, "Scaling on Service Bus"): target-based
// scaling reads queue lengths through the management API, which needs the Manage
// claim, i.e. Azure Service Bus Data Owner for this identity; with only Data
// Receiver/Sender the Service Bus scaler falls back to incremental scaling (one
// instance added at a time). Data Owner would also let the internet-facing
// handler's identity create, change and delete queues (maxDeliveryCount, duplicate
// detection, the dead letters themselves). The load here is small and bursty
// (provisioning in hundreds, one instance does ~50 messages/s; re-validation is
// spread over scheduled batches; back-off re-sends are scheduled), so least
// privilege is the default. serviceBusTargetScaling = true swaps both roles for
// Data Owner when fast scale-out matters more.
var serviceBusRoles = serviceBusTargetScaling ? [
  role.serviceBusDataOwner
] : [
  role.serviceBusDataReceiver
  role.serviceBusDataSender
]
// Secrets User resolves the Key Vault reference; Certificate User reads the
// certificate object (the brief for the fallback credential).
var keyVaultRoles = [
  role.keyVaultSecretsUser
  role.keyVaultCertificateUser
]

resource storage 'Microsoft.Storage/storageAccounts@2025-01-01' existing = {
  name: storageAccountName
}

resource serviceBus 'Microsoft.ServiceBus/namespaces@2024-01-01' existing = {
  name: serviceBusNamespaceName
}

resource keyVault 'Microsoft.KeyVault/vaults@2024-11-01' existing = {
  name: keyVaultName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource storageAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for roleId in storageRoles: {
  name: guid(storage.id, principalId, roleId)
  scope: storage
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
  }
}]

resource serviceBusAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for roleId in serviceBusRoles: {
  name: guid(serviceBus.id, principalId, roleId)
  scope: serviceBus
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
  }
}]

resource keyVaultAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for roleId in keyVaultRoles: {
  name: guid(keyVault.id, principalId, roleId)
  scope: keyVault
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
  }
}]

// Entra ID ingestion into Application Insights (APPLICATIONINSIGHTS_AUTHENTICATION_STRING).
resource monitoringAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, principalId, role.monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.monitoringMetricsPublisher)
  }
}

resource operatorKeyVault 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(operatorPrincipalId)) {
  name: guid(keyVault.id, operatorPrincipalId, role.keyVaultCertificatesOfficer)
  scope: keyVault
  properties: {
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.keyVaultCertificatesOfficer)
  }
}

resource operatorServiceBus 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(operatorPrincipalId)) {
  name: guid(serviceBus.id, operatorPrincipalId, role.serviceBusDataOwner)
  scope: serviceBus
  properties: {
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.serviceBusDataOwner)
  }
}

// Lifecycle events: Data Sender scoped to the topic, so the app's right to
// publish events stays explicit whatever the namespace-wide roles become.
resource eventsTopic 'Microsoft.ServiceBus/namespaces/topics@2024-01-01' existing = {
  parent: serviceBus
  name: eventsTopicName
}

resource eventsTopicSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(eventsTopic.id, principalId, role.serviceBusDataSender)
  scope: eventsTopic
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.serviceBusDataSender)
  }
}

// CRM reads its subscription (tenant-events/crm) and nothing else.
resource crmReceiver 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(crmPrincipalId)) {
  name: guid(eventsTopic.id, crmPrincipalId, role.serviceBusDataReceiver)
  scope: eventsTopic
  properties: {
    principalId: crmPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.serviceBusDataReceiver)
  }
}
