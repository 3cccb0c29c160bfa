package funchost

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Trigger kinds, spelled as in function.json.
const (
	triggerHTTP       = "httpTrigger"
	triggerServiceBus = "serviceBusTrigger"
	triggerTimer      = "timerTrigger"
)

// function is one <FunctionName>/function.json after parsing and %SETTING% resolution.
type function struct {
	Name    string
	File    string
	Trigger string // one of the trigger* constants

	// httpTrigger
	AuthLevel string
	Methods   []string // upper case; empty = all
	Route     *routeTemplate

	// serviceBusTrigger
	BindingName string // trigger binding name (Data key)
	QueueName   string
	Connection  string

	// timerTrigger
	ScheduleText string
	Schedule     cron.Schedule
	RunOnStartup bool

	// serviceBus output bindings, by binding name
	Outputs []outputBinding
}

type outputBinding struct {
	Name      string
	QueueName string
}

// ncrontab parses the six-field {second} {minute} {hour} {day} {month} {day-of-week} form the Functions host uses.
var ncrontab = cron.NewParser(cron.Second | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)

// Function names the real host accepts.
var functionNamePattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_\-]{0,127}$`)

// Binding names the real host accepts ($return is the special return-value binding).
var bindingNamePattern = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*|\$return)$`)

var settingPattern = regexp.MustCompile(`%([^%\s]+)%`)

var knownMethods = map[string]bool{
	"GET": true, "POST": true, "PUT": true, "DELETE": true, "PATCH": true, "HEAD": true, "OPTIONS": true, "TRACE": true,
}

// hostConfig is the part of host.json the emulator honours.
type hostConfig struct {
	RoutePrefix        string
	FunctionTimeout    time.Duration // 0 = unbounded
	MaxConcurrentCalls int           // extensions.serviceBus.maxConcurrentCalls; 0 = unset
}

const defaultFunctionTimeout = 5 * time.Minute

func loadHostJSON(path string) (hostConfig, error) {
	cfg := hostConfig{RoutePrefix: "api", FunctionTimeout: defaultFunctionTimeout}
	if path == "" {
		return cfg, nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("read host.json: %w", err)
	}
	var doc struct {
		FunctionTimeout *string `json:"functionTimeout"`
		Extensions      struct {
			HTTP struct {
				RoutePrefix *string `json:"routePrefix"`
			} `json:"http"`
			ServiceBus struct {
				MaxConcurrentCalls int `json:"maxConcurrentCalls"`
			} `json:"serviceBus"`
		} `json:"extensions"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return cfg, fmt.Errorf("%s: invalid JSON: %w", path, err)
	}
	if p := doc.Extensions.HTTP.RoutePrefix; p != nil {
		cfg.RoutePrefix = strings.Trim(*p, "/")
	}
	if doc.Extensions.ServiceBus.MaxConcurrentCalls < 0 {
		return cfg, fmt.Errorf("%s: extensions.serviceBus.maxConcurrentCalls must be positive", path)
	}
	cfg.MaxConcurrentCalls = doc.Extensions.ServiceBus.MaxConcurrentCalls
	if t := doc.FunctionTimeout; t != nil {
		d, err := parseTimeSpan(*t)
		if err != nil {
			return cfg, fmt.Errorf("%s: functionTimeout: %w", path, err)
		}
		cfg.FunctionTimeout = d
	}
	return cfg, nil
}

// parseTimeSpan reads a .NET TimeSpan as host.json writes it: "hh:mm:ss", "d.hh:mm:ss",
// optional fractional seconds; "-1" means unbounded (returned as 0).
func parseTimeSpan(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "-1" {
		return 0, nil
	}
	days := 0
	rest := s
	if dot := strings.Index(s, "."); dot >= 0 && dot < strings.Index(s, ":") {
		n, err := strconv.Atoi(s[:dot])
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%q is not a TimeSpan like 00:05:00", s)
		}
		days, rest = n, s[dot+1:]
	}
	parts := strings.Split(rest, ":")
	if len(parts) != 3 {
		return 0, fmt.Errorf("%q is not a TimeSpan like 00:05:00", s)
	}
	h, err1 := strconv.Atoi(parts[0])
	m, err2 := strconv.Atoi(parts[1])
	sec, err3 := strconv.ParseFloat(parts[2], 64)
	if err1 != nil || err2 != nil || err3 != nil || h < 0 || m < 0 || m > 59 || sec < 0 || sec >= 60 {
		return 0, fmt.Errorf("%q is not a TimeSpan like 00:05:00", s)
	}
	d := time.Duration(days)*24*time.Hour + time.Duration(h)*time.Hour + time.Duration(m)*time.Minute +
		time.Duration(sec*float64(time.Second))
	if d <= 0 {
		return 0, fmt.Errorf("%q must be positive (or -1 for unbounded)", s)
	}
	return d, nil
}

// LoadLocalSettings reads local.settings.json ({"IsEncrypted":false,"Values":{...}}) and returns Values.
func LoadLocalSettings(path string) (map[string]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read local settings: %w", err)
	}
	var doc struct {
		IsEncrypted bool                       `json:"IsEncrypted"`
		Values      map[string]json.RawMessage `json:"Values"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("%s: invalid JSON: %w", path, err)
	}
	if doc.IsEncrypted {
		return nil, fmt.Errorf("%s: IsEncrypted is true; devhost reads only plain-text settings", path)
	}
	values := make(map[string]string, len(doc.Values))
	for k, v := range doc.Values {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, fmt.Errorf("%s: Values.%s must be a string (Core Tools rejects other types too)", path, k)
		}
		values[k] = s
	}
	return values, nil
}

// settingResolver resolves %NAME% from the app settings, then the environment
// (in Azure, app settings are environment variables).
type settingResolver struct {
	settings map[string]string
	lookup   func(string) (string, bool)
}

func (r settingResolver) get(name string) (string, bool) {
	if v, ok := r.settings[name]; ok {
		return v, true
	}
	if r.lookup != nil {
		return r.lookup(name)
	}
	return "", false
}

func (r settingResolver) resolve(s string) (string, error) {
	var missing []string
	out := settingPattern.ReplaceAllStringFunc(s, func(m string) string {
		name := m[1 : len(m)-1]
		v, ok := r.get(name)
		if !ok {
			missing = append(missing, m)
			return m
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("app setting %s is not defined", strings.Join(missing, ", "))
	}
	return out, nil
}

// loadFunctions reads every <dir>/<FunctionName>/function.json. folders
// names every folder with one, including those disabled or not loaded.
func loadFunctions(dir string, res settingResolver, logger *slog.Logger) (fns []*function, folders []string, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("read functions dir: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		file := filepath.Join(dir, e.Name(), "function.json")
		raw, err := os.ReadFile(file)
		if errors.Is(err, os.ErrNotExist) {
			continue // not a function folder
		}
		if err != nil {
			return nil, nil, fmt.Errorf("read %s: %w", file, err)
		}
		folders = append(folders, e.Name())
		fn, err := parseFunction(e.Name(), file, raw, res, logger)
		if errors.Is(err, errReservedRoute) {
			// The host drops only this function and loads the others ([HOST] ScriptHost.cs).
			logger.Error("function not loaded: reserved route", "function", e.Name(), "file", file, "error", err.Error())
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", file, err)
		}
		if fn == nil {
			continue // disabled
		}
		fns = append(fns, fn)
	}
	if len(fns) == 0 {
		logger.Warn("no functions found", "dir", dir)
	}
	if err := checkDuplicateRoutes(fns); err != nil {
		return nil, nil, err
	}
	return fns, folders, nil
}

// errReservedRoute marks a function whose route the host keeps for itself.
var errReservedRoute = errors.New("reserved route")

// checkDuplicateRoutes refuses two HTTP functions with the same route template
// (case-insensitive) and overlapping methods, as the host does at start.
func checkDuplicateRoutes(fns []*function) error {
	var seen []*function
	for _, fn := range fns {
		if fn.Trigger != triggerHTTP {
			continue
		}
		for _, other := range seen {
			if routeKey(other.Route) == routeKey(fn.Route) && methodsOverlap(other.Methods, fn.Methods) {
				return fmt.Errorf("%s: route %q of function %s duplicates the route of function %s (%s)",
					fn.File, fn.Route.text, fn.Name, other.Name, other.File)
			}
		}
		seen = append(seen, fn)
	}
	return nil
}

// routeKey normalises a template: case, slashes and parameter names do not make routes differ.
func routeKey(t *routeTemplate) string {
	parts := make([]string, len(t.segments))
	for i, seg := range t.segments {
		if seg.kind == segLiteral {
			parts[i] = strings.ToLower(seg.literal)
		} else {
			parts[i] = fmt.Sprintf("{%d}", seg.kind)
		}
	}
	return strings.Join(parts, "/")
}

func methodsOverlap(a, b []string) bool {
	if len(a) == 0 || len(b) == 0 {
		return true // no methods = all methods
	}
	for _, m := range a {
		if containsFold(b, m) {
			return true
		}
	}
	return false
}

func parseFunction(name, file string, raw []byte, res settingResolver, logger *slog.Logger) (*function, error) {
	if !functionNamePattern.MatchString(name) {
		return nil, fmt.Errorf("function name %q is invalid (letters, digits, _ and -, starting with a letter)", name)
	}
	var doc struct {
		Disabled json.RawMessage  `json:"disabled"`
		Bindings []map[string]any `json:"bindings"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if disabled, err := isDisabled(doc.Disabled, name, res); err != nil {
		return nil, err
	} else if disabled {
		logger.Info("function disabled, skipping", "function", name, "file", file)
		return nil, nil
	}
	if len(doc.Bindings) == 0 {
		return nil, errors.New(`no "bindings"`)
	}

	fn := &function{Name: name, File: file}
	seen := map[string]bool{}
	var httpOut []string
	var others []string // bindings that switch an HTTP function out of forwarding mode
	for i, b := range doc.Bindings {
		typ, _ := b["type"].(string)
		if typ == "" {
			return nil, fmt.Errorf("bindings[%d]: missing \"type\"", i)
		}
		bname, _ := b["name"].(string)
		where := fmt.Sprintf("bindings[%d] (%s %q)", i, typ, bname)
		if !bindingNamePattern.MatchString(bname) {
			return nil, fmt.Errorf("%s: invalid or missing \"name\"", where)
		}
		if seen[strings.ToLower(bname)] {
			return nil, fmt.Errorf("%s: duplicate binding name", where)
		}
		seen[strings.ToLower(bname)] = true
		direction, _ := b["direction"].(string)
		direction = strings.ToLower(direction)

		str := func(key string) (string, error) {
			v, ok := b[key]
			if !ok || v == nil {
				return "", nil
			}
			s, ok := v.(string)
			if !ok {
				return "", fmt.Errorf("%s: %q must be a string", where, key)
			}
			r, err := res.resolve(s)
			if err != nil {
				return "", fmt.Errorf("%s: %q: %w", where, key, err)
			}
			return r, nil
		}
		boolean := func(key string) (bool, error) {
			switch v := b[key].(type) {
			case nil:
				return false, nil
			case bool:
				return v, nil
			case string: // "%SETTING%" or "true"
				r, err := str(key)
				if err != nil {
					return false, err
				}
				bv, err := strconv.ParseBool(r)
				if err != nil {
					return false, fmt.Errorf("%s: %q must be true or false, got %q", where, key, r)
				}
				return bv, nil
			default:
				return false, fmt.Errorf("%s: %q must be a boolean", where, key)
			}
		}
		setTrigger := func(kind string) error {
			if fn.Trigger != "" {
				return fmt.Errorf("%s: a function has exactly one trigger, already have %s", where, fn.Trigger)
			}
			if direction != "in" {
				return fmt.Errorf("%s: direction must be \"in\"", where)
			}
			fn.Trigger = kind
			fn.BindingName = bname
			return nil
		}

		switch strings.ToLower(typ) {
		case "httptrigger":
			if err := setTrigger(triggerHTTP); err != nil {
				return nil, err
			}
			level, err := str("authLevel")
			if err != nil {
				return nil, err
			}
			switch strings.ToLower(level) {
			case "":
				level = "function"
			case "anonymous", "function", "admin":
				level = strings.ToLower(level)
			default:
				return nil, fmt.Errorf("%s: authLevel %q must be anonymous, function or admin", where, level)
			}
			fn.AuthLevel = level
			if m, ok := b["methods"]; ok && m != nil {
				list, ok := m.([]any)
				if !ok {
					return nil, fmt.Errorf("%s: \"methods\" must be an array of strings", where)
				}
				for _, v := range list {
					s, _ := v.(string)
					s = strings.ToUpper(s)
					if !knownMethods[s] {
						return nil, fmt.Errorf("%s: unknown HTTP method %v in \"methods\"", where, v)
					}
					fn.Methods = append(fn.Methods, s)
				}
			}
			route, err := str("route")
			if err != nil {
				return nil, err
			}
			if route == "" {
				route = name // host default
			}
			// The host reserves its own route space by a plain prefix test
			// on the route (not on routePrefix + route), so "adminconsent"
			// is refused as well as "admin/...".
			if r := strings.ToLower(strings.Trim(route, "/")); strings.HasPrefix(r, "admin") || strings.HasPrefix(r, "runtime") {
				return nil, fmt.Errorf("%w: %s: route %q conflicts with the Functions host's built-in routes (a route may not start with \"admin\" or \"runtime\")", errReservedRoute, where, route)
			}
			tmpl, err := parseRouteTemplate(route)
			if err != nil {
				return nil, fmt.Errorf("%s: route %q: %w", where, route, err)
			}
			fn.Route = tmpl
		case "http":
			if direction != "out" {
				return nil, fmt.Errorf("%s: direction must be \"out\"", where)
			}
			httpOut = append(httpOut, bname)
		case "servicebustrigger":
			if err := setTrigger(triggerServiceBus); err != nil {
				return nil, err
			}
			if t, _ := str("topicName"); t != "" {
				return nil, fmt.Errorf("%s: topic subscriptions are not emulated by devhost; use a queue", where)
			}
			if c, _ := b["cardinality"].(string); strings.EqualFold(c, "many") {
				return nil, fmt.Errorf("%s: cardinality \"many\" (batches) is not emulated by devhost", where)
			}
			if s, err := boolean("isSessionsEnabled"); err != nil {
				return nil, err
			} else if s {
				return nil, fmt.Errorf("%s: sessions are not emulated by devhost", where)
			}
			q, err := str("queueName")
			if err != nil {
				return nil, err
			}
			if q == "" {
				return nil, fmt.Errorf("%s: missing \"queueName\"", where)
			}
			fn.QueueName = q
			if fn.Connection, err = str("connection"); err != nil {
				return nil, err
			}
			others = append(others, typ)
		case "timertrigger":
			if err := setTrigger(triggerTimer); err != nil {
				return nil, err
			}
			sched, err := str("schedule")
			if err != nil {
				return nil, err
			}
			if sched == "" {
				return nil, fmt.Errorf("%s: missing \"schedule\"", where)
			}
			parsed, err := ncrontab.Parse(sched)
			if err != nil {
				return nil, fmt.Errorf("%s: schedule %q is not a six-field NCRONTAB expression ({second} {minute} {hour} {day} {month} {day-of-week}): %w", where, sched, err)
			}
			fn.ScheduleText, fn.Schedule = sched, parsed
			if fn.RunOnStartup, err = boolean("runOnStartup"); err != nil {
				return nil, err
			}
			others = append(others, typ)
		case "servicebus":
			if direction != "out" {
				return nil, fmt.Errorf("%s: a serviceBus binding must have direction \"out\"", where)
			}
			if t, _ := str("topicName"); t != "" {
				return nil, fmt.Errorf("%s: topics are not emulated by devhost; use a queue", where)
			}
			q, err := str("queueName")
			if err != nil {
				return nil, err
			}
			if q == "" {
				return nil, fmt.Errorf("%s: missing \"queueName\"", where)
			}
			fn.Outputs = append(fn.Outputs, outputBinding{Name: bname, QueueName: q})
			others = append(others, typ)
		default:
			logger.Warn("unknown binding type ignored", "file", file, "function", name, "binding", bname, "type", typ)
			others = append(others, typ)
		}
	}
	if fn.Trigger == "" {
		return nil, errors.New("no trigger binding (httpTrigger, serviceBusTrigger or timerTrigger)")
	}
	if fn.Trigger == triggerHTTP {
		// The real host forwards the HTTP request only for exactly one httpTrigger + one http
		// output; otherwise it silently switches to the JSON payload mode, which our handler
		// does not speak. Fail loudly here instead of behaving differently from Azure.
		if len(httpOut) != 1 || len(others) > 0 {
			return nil, fmt.Errorf("an httpTrigger function must have exactly one \"http\" output binding and no other bindings "+
				"(found http outputs %v, other bindings %v): otherwise the Functions host does not forward the request", httpOut, others)
		}
	} else if len(httpOut) > 0 {
		return nil, fmt.Errorf("\"http\" output binding %v without an httpTrigger", httpOut)
	}
	return fn, nil
}

// isDisabled honours function.json "disabled" and the AzureWebJobs.<name>.Disabled app setting.
func isDisabled(raw json.RawMessage, name string, res settingResolver) (bool, error) {
	if v, ok := res.get("AzureWebJobs." + name + ".Disabled"); ok {
		if b, err := strconv.ParseBool(v); err == nil && b {
			return true, nil
		}
	}
	if len(raw) == 0 || string(raw) == "null" {
		return false, nil
	}
	var b bool
	if err := json.Unmarshal(raw, &b); err == nil {
		return b, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return false, errors.New(`"disabled" must be a boolean or a setting name`)
	}
	// A string names an app setting (host behaviour).
	v, _ := res.get(strings.Trim(s, "%"))
	b, _ = strconv.ParseBool(v)
	return b, nil
}

// sortRoutes orders HTTP functions like ASP.NET route precedence: literals before
// parameters before optional parameters before catch-alls, segment by segment.
func sortRoutes(fns []*function) []*function {
	var out []*function
	for _, f := range fns {
		if f.Trigger == triggerHTTP {
			out = append(out, f)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].Route.precedence(), out[j].Route.precedence()
		for k := 0; k < len(a) && k < len(b); k++ {
			if a[k] != b[k] {
				return a[k] < b[k]
			}
		}
		return len(a) < len(b)
	})
	return out
}
