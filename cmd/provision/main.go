// Command provision sends a provisioning request (contracts/provisioning.v1)
// to the local Functions host of `make run`, or to a real Service Bus queue
// the way a CRM integration does (azservicebus, Microsoft Entra ID sign-in
// through DefaultAzureCredential, message ID = requestId so Service Bus's
// duplicate detection drops a re-send of the same request).
//
//	go run ./cmd/provision -admin-ip 127.0.0.1                       # local host
//	go run ./cmd/provision -file req.json -namespace <ns>.servicebus.windows.net
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/onemeeting/cvi-onboarding/contracts"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "provision:", err)
		os.Exit(1)
	}
}

// exampleFile, the default request, is the contract's example: the contracts
// package serves its bytes, so the command runs from any directory.
const exampleFile = "contracts/" + contracts.ProvisioningV1ExampleFile

type options struct {
	File      string
	AdminIPs  string
	TenantID  string
	RequestID string
	Region    string
	Local     string
	Namespace string
	Queue     string
	Timeout   time.Duration
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("provision", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.File, "file", exampleFile, "provisioning request (JSON, contract provisioning.v1)")
	fs.StringVar(&o.AdminIPs, "admin-ip", "", "replace adminIps with these comma-separated IPs/CIDRs (e.g. 127.0.0.1 for a local run)")
	fs.StringVar(&o.TenantID, "tenant-id", "", "replace tenantId (Microsoft Entra tenant ID)")
	fs.StringVar(&o.RequestID, "request-id", "", "replace requestId (also the Service Bus message ID)")
	fs.StringVar(&o.Region, "region", "", "replace region (a configured region code, e.g. eu or us)")
	fs.StringVar(&o.Local, "local", "http://127.0.0.1:7071", "local Functions host (make run): POST /admin/functions/ProvisionTenant")
	fs.StringVar(&o.Namespace, "namespace", "", "send to this Service Bus namespace instead (<ns>.servicebus.windows.net)")
	fs.StringVar(&o.Queue, "queue", "provisioning", "Service Bus queue (with -namespace)")
	fs.DurationVar(&o.Timeout, "timeout", 30*time.Second, "give up after this long")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: provision [flags]\n\nSends one provisioning request to the local host (default) or to Service Bus (-namespace).")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q (flags only; see -h)", fs.Args())
	}
	localSet := false
	fs.Visit(func(f *flag.Flag) { localSet = localSet || f.Name == "local" })
	if o.Namespace != "" && localSet {
		return o, errors.New("-local and -namespace exclude each other: send to the local host or to Service Bus")
	}
	if o.Namespace != "" {
		o.Local = ""
	}
	return o, nil
}

// buildRequest reads the file and applies the flag overrides; the result is
// the compact JSON body to send and its requestId.
func buildRequest(o options) ([]byte, string, error) {
	raw, name := contracts.ProvisioningV1Example(), o.File
	if o.File != exampleFile {
		var err error
		if raw, err = os.ReadFile(o.File); err != nil {
			return nil, "", fmt.Errorf("read the request: %w", err)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var req map[string]any
	if err := dec.Decode(&req); err != nil || req == nil {
		return nil, "", fmt.Errorf("%s: not a JSON object: %v", name, err)
	}
	if o.AdminIPs != "" {
		var ips []string
		for _, ip := range strings.Split(o.AdminIPs, ",") {
			if ip = strings.TrimSpace(ip); ip != "" {
				ips = append(ips, ip)
			}
		}
		req["adminIps"] = ips
	}
	for key, v := range map[string]string{"tenantId": o.TenantID, "requestId": o.RequestID, "region": o.Region} {
		if v != "" {
			req[key] = v
		}
	}
	requestID, _ := req["requestId"].(string)
	if strings.TrimSpace(requestID) == "" {
		return nil, "", fmt.Errorf("%s: requestId is missing (it identifies the request and is the message ID)", name)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(req); err != nil {
		return nil, "", fmt.Errorf("encode the request: %w", err)
	}
	return bytes.TrimSpace(buf.Bytes()), requestID, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	body, requestID, err := buildRequest(o)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	var tenantID string
	var peek struct{ TenantID string }
	_ = json.Unmarshal(body, &peek)
	tenantID = peek.TenantID
	if o.Namespace != "" {
		if err := sendServiceBus(ctx, o.Namespace, o.Queue, body, requestID); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "sent request %s (tenant %s) to %s/%s as message %s\n", requestID, tenantID, o.Namespace, o.Queue, requestID)
		return nil
	}
	messageID, err := sendLocal(ctx, o.Local, body)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "sent request %s (tenant %s) to the local host %s as message %s; the consent email lands in .local/outbox/\n",
		requestID, tenantID, o.Local, messageID)
	return nil
}

// sendLocal posts {"input": "<request JSON>"} to the local host's admin API,
// as for the Functions host's own POST /admin/functions/{name}.
func sendLocal(ctx context.Context, base string, body []byte) (string, error) {
	payload, err := json.Marshal(map[string]string{"input": string(body)})
	if err != nil {
		return "", fmt.Errorf("encode the admin call: %w", err)
	}
	u := strings.TrimRight(base, "/") + "/admin/functions/ProvisionTenant"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(payload))
	if err != nil {
		return "", fmt.Errorf("build request to %s: %w", u, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("post to the local host (is `make run` running?): %w", err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusAccepted {
		return "", fmt.Errorf("local host answered %s: %s", resp.Status, bytes.TrimSpace(answer))
	}
	var accepted struct {
		MessageID string `json:"messageId"`
	}
	if err := json.Unmarshal(answer, &accepted); err != nil {
		return "", fmt.Errorf("local host answer %q: %w", answer, err)
	}
	return accepted.MessageID, nil
}

// serviceBusMessage is the message a CRM sends: JSON body, message ID = requestId.
func serviceBusMessage(body []byte, requestID string) *azservicebus.Message {
	ct := "application/json"
	return &azservicebus.Message{Body: body, ContentType: &ct, MessageID: &requestID}
}

func sendServiceBus(ctx context.Context, namespace, queue string, body []byte, requestID string) error {
	cred, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		return fmt.Errorf("get an Azure credential (az login, or a managed identity): %w", err)
	}
	client, err := azservicebus.NewClient(namespace, cred, nil)
	if err != nil {
		return fmt.Errorf("create the Service Bus client for %s: %w", namespace, err)
	}
	defer client.Close(context.WithoutCancel(ctx))
	sender, err := client.NewSender(queue, nil)
	if err != nil {
		return fmt.Errorf("sender for queue %s: %w", queue, err)
	}
	defer sender.Close(context.WithoutCancel(ctx))
	if err := sender.SendMessage(ctx, serviceBusMessage(body, requestID), nil); err != nil {
		return fmt.Errorf("send to %s/%s (needs the Azure Service Bus Data Sender role): %w", namespace, queue, err)
	}
	return nil
}
