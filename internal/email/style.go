package email

import (
	"fmt"
	"html/template"
)

// fontStack uses fonts every mail client already has: web fonts are blocked
// or ignored by Outlook, and Word's engine falls back to Times New Roman
// unless each text element names a font itself.
const (
	fontStack = "font-family:Segoe UI,Arial,Helvetica,sans-serif;"
	monoStack = "font-family:Consolas,Courier New,monospace;"
	textColor = "color:#1f2937;"
)

// css returns the inline style of one element role. Outlook desktop renders
// with Word's engine, which ignores <style> blocks for much of the layout,
// so every element carries its own style. The values are constants of this
// package, never input, so marking them as template.CSS is safe.
func css(role string) (template.CSS, error) {
	var s string
	switch role {
	case "body":
		s = "margin:0;padding:0;background-color:#f3f4f6;"
	case "outer":
		s = "width:100%;background-color:#f3f4f6;"
	case "outer-cell":
		s = "padding:24px 12px;" + fontStack
	case "card":
		s = "width:100%;max-width:600px;background-color:#ffffff;border:1px solid #d1d5db;border-collapse:collapse;"
	case "header":
		s = "padding:18px 28px;background-color:#1f3a5f;color:#ffffff;font-size:20px;line-height:28px;font-weight:bold;" + fontStack
	case "header-ops":
		s = "padding:18px 28px;background-color:#7f1d1d;color:#ffffff;font-size:20px;line-height:28px;font-weight:bold;" + fontStack
	case "content":
		s = "padding:28px;font-size:16px;line-height:24px;overflow-wrap:anywhere;word-break:break-word;" + textColor + fontStack
	case "footer":
		s = "padding:16px 28px 24px 28px;border-top:1px solid #e5e7eb;font-size:13px;line-height:20px;color:#4b5563;overflow-wrap:anywhere;word-break:break-word;" + fontStack
	case "h1":
		s = "margin:0 0 16px 0;font-size:24px;line-height:32px;font-weight:bold;color:#111827;" + fontStack
	case "h2":
		s = "margin:28px 0 8px 0;font-size:18px;line-height:26px;font-weight:bold;color:#111827;" + fontStack
	case "p":
		s = "margin:0 0 16px 0;font-size:16px;line-height:24px;" + textColor + fontStack
	case "lead":
		s = "margin:0 0 16px 0;font-size:17px;line-height:26px;font-weight:bold;" + textColor + fontStack
	case "small":
		s = "margin:0 0 16px 0;font-size:14px;line-height:20px;color:#4b5563;" + fontStack
	case "list":
		s = "margin:0 0 16px 0;padding:0 0 0 24px;font-size:16px;line-height:24px;" + textColor + fontStack
	case "sublist":
		s = "margin:8px 0 0 0;padding:0 0 0 20px;font-size:16px;line-height:24px;" + textColor + fontStack
	case "li":
		s = "margin:0 0 10px 0;font-size:16px;line-height:24px;" + textColor + fontStack
	case "subli":
		s = "margin:0 0 4px 0;font-size:16px;line-height:24px;" + textColor + fontStack
	case "code":
		s = "padding:1px 4px;background-color:#f3f4f6;border:1px solid #e5e7eb;font-size:15px;" + textColor + monoStack
	case "link":
		s = "color:#0b5cad;text-decoration:underline;word-break:break-all;" + fontStack
	case "button-wrap":
		s = "margin:8px 0 16px 0;border-collapse:separate;"
	case "button-cell":
		s = "padding:14px 28px;background-color:#0b5cad;border-radius:6px;" + fontStack
	case "button":
		s = "display:inline-block;color:#ffffff;font-size:18px;line-height:24px;font-weight:bold;text-decoration:none;" + fontStack
	case "facts":
		s = "width:100%;margin:0 0 16px 0;border-collapse:collapse;"
	case "fact-name":
		s = "padding:8px 16px 8px 0;border-bottom:1px solid #e5e7eb;text-align:left;vertical-align:top;font-size:15px;line-height:22px;font-weight:bold;color:#374151;" + fontStack
	case "fact-value":
		s = "padding:8px 0;border-bottom:1px solid #e5e7eb;vertical-align:top;font-size:15px;line-height:22px;overflow-wrap:anywhere;word-break:break-word;" + textColor + fontStack
	case "fact-mono":
		s = "padding:8px 0;border-bottom:1px solid #e5e7eb;vertical-align:top;font-size:15px;line-height:22px;word-break:break-all;" + textColor + monoStack
	case "notice":
		s = "margin:0 0 16px 0;padding:12px 16px;background-color:#fef3c7;border-left:4px solid #d97706;font-size:16px;line-height:24px;" + textColor + fontStack
	case "detail":
		s = "margin:0 0 16px 0;padding:12px 16px;background-color:#f9fafb;border:1px solid #e5e7eb;white-space:pre-wrap;overflow-wrap:anywhere;word-break:break-word;font-size:15px;line-height:22px;" + textColor + fontStack
	case "pre":
		s = "margin:0 0 16px 0;padding:12px;background-color:#f6f8fa;border:1px solid #d0d7de;white-space:pre-wrap;overflow-wrap:anywhere;word-break:break-word;font-size:12px;line-height:17px;color:#111827;" + monoStack
	default:
		return "", fmt.Errorf("email: unknown style %q", role)
	}
	return template.CSS(s), nil
}
