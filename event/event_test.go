package event

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestMaskCoversEveryText(t *testing.T) {
	const v = "CANARY"
	e := Event{Host: v, Resource: v, Type: v, Action: v, Reason: v, Error: v, Output: v, Command: v, Diff: []string{"a " + v}, Hosts: []string{v}}
	var got Event
	Mask(SinkFunc(func(x Event) { got = x }), func(s string) string { return strings.ReplaceAll(s, v, "***") }).Emit(e)
	b, _ := json.Marshal(got)
	if strings.Contains(string(b), v) {
		t.Errorf("masked event still holds the value: %s", b)
	}
	if e.Diff[0] != "a "+v {
		t.Error("Mask changed the caller's slice")
	}
}

func TestSerialAndTee(t *testing.T) {
	var a, b []Kind
	s := Serial(Tee(SinkFunc(func(e Event) { a = append(a, e.Kind) }), SinkFunc(func(e Event) { b = append(b, e.Kind) })))
	s.Emit(Event{Kind: HostStarted})
	s.Emit(Event{Kind: HostFinished})
	if len(a) != 2 || len(b) != 2 || a[1] != HostFinished {
		t.Errorf("tee: %v %v", a, b)
	}
}
