package crowdimport

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// ProgressBar returns an Options.Progress callback that draws one line on w — phase, bar, percent,
// done/total, rate and ETA — redrawn in place with a carriage return, at most ten times a second
// (and always at a phase change or the end of a phase). Call finish once the import returned, to end
// the line. Use it when w is a terminal (IsTerminal); otherwise leave Options.Progress nil and
// print the report only.
func ProgressBar(w io.Writer) (update func(Progress), finish func()) {
	var (
		mu    sync.Mutex
		last  time.Time
		phase string
		width int
		drawn bool
	)
	draw := func(line string) {
		pad := ""
		if n := len([]rune(line)); n < width {
			pad = strings.Repeat(" ", width-n)
		}
		width = len([]rune(line))
		fmt.Fprint(w, "\r"+line+pad)
		drawn = true
	}
	update = func(p Progress) {
		mu.Lock()
		defer mu.Unlock()
		now := time.Now()
		if p.Phase != phase {
			if drawn {
				fmt.Fprintln(w)
				width = 0
			}
			phase = p.Phase
		} else if now.Sub(last) < 100*time.Millisecond && (p.Total == 0 || p.Done < p.Total) {
			return
		}
		last = now
		draw(RenderProgress(p, 30))
	}
	finish = func() {
		mu.Lock()
		defer mu.Unlock()
		if drawn {
			fmt.Fprintln(w)
			drawn = false
		}
	}
	return update, finish
}

// RenderProgress formats one progress line with a bar of width characters, e.g.
//
//	importing   [==========>                   ]  36%   36,000/100,000 objects   1,523/s  ETA 42s
func RenderProgress(p Progress, width int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-11s ", p.Phase)
	frac := 0.0
	if p.Total > 0 {
		frac = float64(p.Done) / float64(p.Total)
		frac = min(max(frac, 0), 1)
	}
	filled := int(frac * float64(width))
	bar := strings.Repeat("=", filled)
	if filled < width {
		if p.Total > 0 && filled > 0 {
			bar = bar[:len(bar)-1] + ">"
		}
		bar += strings.Repeat(" ", width-filled)
	}
	fmt.Fprintf(&b, "[%s] ", bar)
	if p.Total > 0 {
		fmt.Fprintf(&b, "%3d%%  %s/%s", int(frac*100), amount(p.Done, p.Unit), amount(p.Total, p.Unit))
	} else {
		fmt.Fprintf(&b, "%s", amount(p.Done, p.Unit))
	}
	if p.Unit != "bytes" {
		b.WriteString(" " + p.Unit)
	}
	secs := p.Elapsed.Seconds()
	if secs > 0 && p.Done > 0 {
		rate := float64(p.Done) / secs
		fmt.Fprintf(&b, "  %s/s", amount(int64(rate), p.Unit))
		if p.Total > p.Done {
			eta := time.Duration(float64(p.Total-p.Done) / rate * float64(time.Second))
			fmt.Fprintf(&b, "  ETA %s", shortDuration(eta))
		} else if p.Total > 0 {
			fmt.Fprintf(&b, "  in %s", shortDuration(p.Elapsed))
		}
	}
	return b.String()
}

// amount prints n as bytes (KB, MB, GB) or as a count with thousands separators.
func amount(n int64, unit string) string {
	if unit == "bytes" {
		switch {
		case n >= 1<<30:
			return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
		case n >= 1<<20:
			return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
		case n >= 1<<10:
			return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
		}
		return fmt.Sprintf("%d B", n)
	}
	s := fmt.Sprint(n)
	if n < 0 {
		return s
	}
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

func shortDuration(d time.Duration) string {
	switch {
	case d >= time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	case d >= time.Minute:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%ds", int(d.Round(time.Second).Seconds()))
}

// IsTerminal reports whether f is a character device (a terminal), where ProgressBar belongs.
func IsTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
