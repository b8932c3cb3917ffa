package crowdimport_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/crowdimport"
)

func TestRenderProgress(t *testing.T) {
	for _, tc := range []struct {
		p    crowdimport.Progress
		want string
	}{
		{crowdimport.Progress{Phase: "importing", Done: 36000, Total: 100000, Unit: "objects", Elapsed: 24 * time.Second},
			"importing   [=========>                    ]  36%  36,000/100,000 objects  1,500/s  ETA 43s"},
		{crowdimport.Progress{Phase: "validating", Done: 5 << 20, Total: 20 << 20, Unit: "bytes", Elapsed: 2 * time.Second},
			"validating  [======>                       ]  25%  5.0 MB/20.0 MB  2.5 MB/s  ETA 6s"},
		{crowdimport.Progress{Phase: "importing", Done: 100, Total: 100, Unit: "objects", Elapsed: 90 * time.Second},
			"importing   [==============================] 100%  100/100 objects  1/s  in 1m30s"},
		{crowdimport.Progress{Phase: "fetching", Done: 2500, Unit: "objects", Elapsed: time.Second},
			"fetching    [                              ] 2,500 objects  2,500/s"},
		{crowdimport.Progress{Phase: "importing", Total: 10, Unit: "objects"},
			"importing   [                              ]   0%  0/10 objects"},
	} {
		if got := crowdimport.RenderProgress(tc.p, 30); got != tc.want {
			t.Errorf("RenderProgress(%+v) =\n%q, want\n%q", tc.p, got, tc.want)
		}
	}
}

func TestProgressBar(t *testing.T) {
	var b bytes.Buffer
	update, finish := crowdimport.ProgressBar(&b)
	update(crowdimport.Progress{Phase: "validating", Done: 1, Total: 10, Unit: "bytes", Elapsed: time.Second})
	update(crowdimport.Progress{Phase: "validating", Done: 2, Total: 10, Unit: "bytes", Elapsed: time.Second})  // throttled
	update(crowdimport.Progress{Phase: "validating", Done: 10, Total: 10, Unit: "bytes", Elapsed: time.Second}) // end of phase: drawn
	update(crowdimport.Progress{Phase: "importing", Done: 5, Total: 10, Unit: "objects", Elapsed: time.Second})
	finish()
	out := b.String()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 2 || !strings.HasSuffix(out, "\n") {
		t.Fatalf("output = %q, want two lines", out)
	}
	if strings.Count(lines[0], "\r") != 2 || !strings.Contains(lines[0], "100%") || strings.Contains(lines[0], " 20%") {
		t.Errorf("validating line = %q", lines[0])
	}
	if !strings.Contains(lines[1], "importing") || !strings.Contains(lines[1], "50%") {
		t.Errorf("importing line = %q", lines[1])
	}
}

func TestImportReportsProgress(t *testing.T) {
	var got []crowdimport.Progress
	_, err := crowdimport.BackupFile(context.Background(), golden, newSQLite(t), crowdimport.Options{
		BatchSize: 3, Progress: func(p crowdimport.Progress) { got = append(got, p) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) < 4 || got[0].Phase != "validating" || got[0].Unit != "bytes" || got[0].Total == 0 {
		t.Fatalf("progress = %+v", got)
	}
	last := got[len(got)-1]
	if last.Phase != "importing" || last.Done != last.Total || last.Total != 6+6+8+2+3 {
		t.Errorf("last progress = %+v, want importing done (users, groups, memberships, applications)", last)
	}
	for i := 1; i < len(got); i++ {
		if got[i].Phase == got[i-1].Phase && got[i].Done < got[i-1].Done {
			t.Errorf("progress went back: %+v after %+v", got[i], got[i-1])
		}
	}
}
