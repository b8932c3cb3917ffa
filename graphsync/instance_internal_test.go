package graphsync

import (
	"os"
	"os/exec"
	"strconv"
	"testing"
)

// TestProcessGone: a finished process of this host is gone; this process, a process of another
// host and an instance name that is not host:pid are not (the heartbeat rule decides for them).
func TestProcessGone(t *testing.T) {
	host, _ := os.Hostname()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := strconv.Itoa(cmd.Process.Pid)
	if !processGone(host, host+":"+dead) {
		t.Error("a finished process is not gone")
	}
	for _, inst := range []string{host + ":" + strconv.Itoa(os.Getpid()), "elsewhere:" + dead, "graphsync", host + ":x"} {
		if processGone(host, inst) {
			t.Errorf("%q is gone", inst)
		}
	}
}
