// Azure Monitor alerts, mailed to OPERATIONS_EMAIL. What each one means and
// what to do: docs/operations.md, "Alerts". The handler sends its own
// ops-alert emails (rejected messages, revoked consents, credential errors).

param nameSuffix string
param tags object

@description('Comma-separated addresses (OPERATIONS_EMAIL).')
param operationsEmail string
param serviceBusNamespaceName string
param applicationInsightsName string

@description('Active messages in one queue that count as a stalled backlog.')
param backlogThreshold int = 500

resource serviceBus 'Microsoft.ServiceBus/namespaces@2024-01-01' existing = {
  name: serviceBusNamespaceName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

var emails = filter(map(split(operationsEmail, ','), address => trim(address)), address => !empty(address))

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: 'ag-${nameSuffix}'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'cvi-ops'
    enabled: true
    emailReceivers: [for (address, i) in emails: {
      name: 'operations-${i}'
      emailAddress: address
      useCommonAlertSchema: true
    }]
  }
}

// One time series per queue (EntityName dimension): fires while a dead-letter
// queue holds messages, resolves when it is emptied.
resource deadLetters 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: 'cvi-dead-letters-${nameSuffix}'
  location: 'global'
  tags: tags
  properties: {
    description: 'Messages are in a Service Bus dead-letter queue (10 failed deliveries or expired). Runbook: docs/operations.md#alert-dead-letters'
    severity: 2
    enabled: true
    scopes: [
      serviceBus.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    autoMitigate: true
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'DeadLettered'
          metricNamespace: 'Microsoft.ServiceBus/namespaces'
          metricName: 'DeadletteredMessages'
          dimensions: [
            {
              name: 'EntityName'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Average'
        }
      ]
    }
    actions: [
      {
        actionGroupId: actionGroup.id
      }
    ]
  }
}

resource backlog 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: 'cvi-queue-backlog-${nameSuffix}'
  location: 'global'
  tags: tags
  properties: {
    description: 'A queue has held more than ${backlogThreshold} active messages for 30 minutes: triggers are not draining it. Runbook: docs/operations.md#alert-queue-backlog'
    severity: 2
    enabled: true
    scopes: [
      serviceBus.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT30M'
    autoMitigate: true
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'ActiveMessages'
          metricNamespace: 'Microsoft.ServiceBus/namespaces'
          metricName: 'ActiveMessages'
          dimensions: [
            {
              name: 'EntityName'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: backlogThreshold
          timeAggregation: 'Minimum'
        }
      ]
    }
    actions: [
      {
        actionGroupId: actionGroup.id
      }
    ]
  }
}

// Every function invocation is a request in Application Insights: a failed
// queue invocation (will be retried) or an HTTP 5xx.
resource failedInvocations 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: 'cvi-failed-invocations-${nameSuffix}'
  location: 'global'
  tags: tags
  properties: {
    description: 'More than 5 failed function invocations (HTTP 5xx or failed queue/timer runs) in 15 minutes. Runbook: docs/operations.md#alert-failed-invocations'
    severity: 2
    enabled: true
    scopes: [
      appInsights.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    autoMitigate: true
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'FailedRequests'
          metricNamespace: 'microsoft.insights/components'
          metricName: 'requests/failed'
          operator: 'GreaterThan'
          threshold: 5
          timeAggregation: 'Count'
        }
      ]
    }
    actions: [
      {
        actionGroupId: actionGroup.id
      }
    ]
  }
}

resource serverErrors 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: 'cvi-servicebus-errors-${nameSuffix}'
  location: 'global'
  tags: tags
  properties: {
    description: 'Service Bus reported server errors or throttled requests. Runbook: docs/operations.md#alert-service-bus-errors'
    severity: 3
    enabled: true
    scopes: [
      serviceBus.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    autoMitigate: true
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'ServerErrors'
          metricNamespace: 'Microsoft.ServiceBus/namespaces'
          metricName: 'ServerErrors'
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Total'
        }
      ]
    }
    actions: [
      {
        actionGroupId: actionGroup.id
      }
    ]
  }
}
