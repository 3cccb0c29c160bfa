package powershell

import (
	"fmt"
	"strings"
	"unicode/utf16"
)

// Quote returns a PowerShell expression, in pure ASCII on a single line, that
// evaluates to exactly s and never runs any part of it.
//
// Printable ASCII goes into a single-quoted literal, where nothing expands and
// the only special character is the quote itself (” is one quote). Every other
// character (non-ASCII, controls) is emitted as [char]0xNNNN, one per UTF-16
// code unit, so the typographic quotes U+2018..U+201B that PowerShell also
// accepts as single quotes can never appear raw, and Windows PowerShell 5.1
// (which reads BOM-less scripts in the ANSI code page) sees the exact value.
// Mixed values become a parenthesised concatenation that starts with a string,
// so + is string concatenation: ('M' + [char]0x00FC + 'ller').
//
// Bytes that are not valid UTF-8 are quoted as U+FFFD, as Go's range loop
// decodes them; Script rejects such values instead.
func Quote(s string) string {
	var parts []string
	var run strings.Builder
	encoded := false
	flush := func() {
		if run.Len() > 0 {
			parts = append(parts, "'"+run.String()+"'")
			run.Reset()
		}
	}
	for _, r := range s {
		if r >= 0x20 && r <= 0x7e {
			if r == '\'' {
				run.WriteString("''")
			} else {
				run.WriteRune(r)
			}
			continue
		}
		flush()
		encoded = true
		for _, unit := range utf16.Encode([]rune{r}) {
			parts = append(parts, fmt.Sprintf("[char]0x%04X", unit))
		}
	}
	flush()
	if !encoded {
		if len(parts) == 0 {
			return "''"
		}
		return parts[0]
	}
	// A leading [char] would make + add numbers instead of joining strings.
	if !strings.HasPrefix(parts[0], "'") {
		parts = append([]string{"''"}, parts...)
	}
	return "(" + strings.Join(parts, " + ") + ")"
}
