// Applies the complete app settings (main.bicep `var appSettings`) to the
// Function App. A PUT of sites/config/appsettings replaces every setting, so
// settings added by hand in the portal are removed on the next provision.

param siteName string

@description('Every app setting, name to string value.')
param settings object

resource site 'Microsoft.Web/sites@2024-11-01' existing = {
  name: siteName
}

resource appSettings 'Microsoft.Web/sites/config@2024-11-01' = {
  parent: site
  name: 'appsettings'
  properties: settings
}
