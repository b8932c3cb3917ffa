package api

import (
	"fmt"
	"html/template"
	"io/fs"
	"net/url"
	"path"
	"strings"
	"time"
)

// parseTemplates parses every page of templates/ with the shared layout. Each page file defines
// "content" (and may define "title"); the layout defines "layout".
func parseTemplates(prefix string) (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"url": func(parts ...any) string {
			var b strings.Builder
			b.WriteString(prefix)
			for _, p := range parts {
				fmt.Fprint(&b, p)
			}
			return b.String()
		},
		"ts":     formatTime,
		"ago":    ago,
		"join":   strings.Join,
		"dur":    formatDuration,
		"lower":  strings.ToLower,
		"add":    func(a, b int) int { return a + b },
		"reason": reasonText,
		"list":   func(v ...string) []string { return v },
		"q":      url.QueryEscape,
		"dict": func(kv ...any) (map[string]any, error) {
			if len(kv)%2 != 0 {
				return nil, fmt.Errorf("dict: odd number of arguments")
			}
			m := make(map[string]any, len(kv)/2)
			for i := 0; i < len(kv); i += 2 {
				k, ok := kv[i].(string)
				if !ok {
					return nil, fmt.Errorf("dict: key %v is not a string", kv[i])
				}
				m[k] = kv[i+1]
			}
			return m, nil
		},
		"contains": func(list []string, v string) bool { return containsFold(list, v) },
	}
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(assets, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("console: parse layout: %w", err)
	}
	files, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, f := range files {
		name := strings.TrimSuffix(path.Base(f), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(assets, f)
		if err != nil {
			return nil, fmt.Errorf("console: parse %s: %w", f, err)
		}
		if t.Lookup("content") == nil {
			return nil, fmt.Errorf("console: %s defines no \"content\" template", f)
		}
		pages[name] = t
	}
	return pages, nil
}

func containsFold(list []string, v string) bool {
	for _, x := range list {
		if strings.EqualFold(x, v) {
			return true
		}
	}
	return false
}

// timeOf is the time a template passes, as a value or a pointer (the models hold optional times
// as pointers); zero for anything else.
func timeOf(v any) time.Time {
	switch x := v.(type) {
	case time.Time:
		return x
	case *time.Time:
		if x != nil {
			return *x
		}
	}
	return time.Time{}
}

// formatTime shows a time in UTC to the minute; "—" for none.
func formatTime(v any) string {
	t := timeOf(v)
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05") + " UTC"
}

// ago says how long ago (or in how long) a time is, coarsely.
func ago(v any) string {
	t := timeOf(v)
	if t.IsZero() {
		return "never"
	}
	d := time.Since(t)
	future := d < 0
	if future {
		d = -d
	}
	var s string
	switch {
	case d < time.Minute:
		s = fmt.Sprintf("%d s", int(d.Seconds()))
	case d < time.Hour:
		s = fmt.Sprintf("%d min", int(d.Minutes()))
	case d < 48*time.Hour:
		s = fmt.Sprintf("%d h", int(d.Hours()))
	default:
		s = fmt.Sprintf("%d days", int(d.Hours()/24))
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}

func formatDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "—"
	case d < time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1f s", d.Seconds())
	default:
		return d.Round(time.Second).String()
	}
}
