package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

var (
	bicepQueueName   = regexp.MustCompile(`(?m)^\s*name:\s*'([A-Za-z0-9._/-]+)'`)
	bicepMaxDelivery = regexp.MustCompile(`(?m)^\s*maxDeliveryCount:\s*(\d+)\b`)
	bicepQueueList   = regexp.MustCompile(`(?m)^var serviceBusQueues = \[`)
)

// bicepMaxDeliveryCounts reads the queues' maxDeliveryCount from the Bicep, so
// the local host dead-letters where Azure would: a per-queue value in the
// serviceBusQueues list of infra/main.bicep wins over the literal in
// infra/modules/servicebus.bicep. Anything it cannot read falls back to the
// local host's default (10, as Service Bus); it only reads, never fails.
func bicepMaxDeliveryCounts(root string, logger *slog.Logger) map[string]int {
	main, err := os.ReadFile(filepath.Join(root, "infra", "main.bicep"))
	if err != nil {
		return nil
	}
	module, _ := os.ReadFile(filepath.Join(root, "infra", "modules", "servicebus.bicep"))
	out := parseBicepQueues(string(main), string(module))
	if len(out) > 0 {
		logger.Info("queue maxDeliveryCount from the Bicep", "queues", out)
	}
	return out
}

// parseBicepQueues takes the `var serviceBusQueues = [ {...} ... ]` block of
// main.bicep; each object names a queue and may set maxDeliveryCount.
func parseBicepQueues(main, module string) map[string]int {
	shared := 0
	if m := bicepMaxDelivery.FindStringSubmatch(module); m != nil {
		shared, _ = strconv.Atoi(m[1])
	}
	loc := bicepQueueList.FindStringIndex(main) // the declaration, not a comment naming it
	if loc == nil {
		return nil
	}
	block := main[loc[0]:]
	if end := strings.Index(block, "\n]"); end >= 0 {
		block = block[:end]
	}
	out := map[string]int{}
	for _, obj := range strings.Split(block, "}") {
		name := bicepQueueName.FindStringSubmatch(obj)
		if name == nil {
			continue
		}
		n := shared
		if m := bicepMaxDelivery.FindStringSubmatch(obj); m != nil {
			n, _ = strconv.Atoi(m[1])
		}
		if n > 0 {
			out[name[1]] = n
		}
	}
	return out
}
