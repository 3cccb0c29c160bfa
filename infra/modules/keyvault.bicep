// Key Vault in RBAC mode, used only for the fallback client certificate
// (GRAPH_CREDENTIAL=certificate). Public network access stays on: Flex
// Consumption cannot resolve Key Vault references against a network-restricted
// vault. Purge protection is left off so `azd down --purge` can remove it; turn
// it on (irreversible) if the certificate becomes the primary credential.

param name string
param location string
param tags object

resource vault 'Microsoft.KeyVault/vaults@2024-11-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    publicNetworkAccess: 'Enabled'
  }
}

output name string = vault.name
output id string = vault.id
// Ends with "/".
output uri string = vault.properties.vaultUri
