// The user-assigned managed identity the Function App runs as: host storage,
// tables, Service Bus, Key Vault references, Application Insights ingestion,
// and the assertion for the multi-tenant apps' federated credential.
// User-assigned (not system-assigned) because a federated credential names a
// fixed principal ID, which must survive re-creating the Function App.

param name string
param location string
param tags object

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2024-11-30' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
