// Log Analytics + workspace-based Application Insights. Local (instrumentation
// key) authentication is disabled: only Entra ID principals holding Monitoring
// Metrics Publisher (the app's identity, modules/roles.bicep) can ingest.

param logAnalyticsName string
param applicationInsightsName string
param location string
param tags object

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 30
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    IngestionMode: 'LogAnalytics'
    DisableLocalAuth: true
  }
}

output applicationInsightsName string = appInsights.name
// Not a secret once local auth is off: it names the resource and its ingestion endpoint.
output connectionString string = appInsights.properties.ConnectionString
output workspaceId string = workspace.id
