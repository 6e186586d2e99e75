package event

import (
	"testing"
)

func TestSerialAndTee(t *testing.T) {
	var a, b []Kind
	s := Serial(Tee(SinkFunc(func(e Event) { a = append(a, e.Kind) }), SinkFunc(func(e Event) { b = append(b, e.Kind) })))
	s.Emit(Event{Kind: HostStarted})
	s.Emit(Event{Kind: HostFinished})
	if len(a) != 2 || len(b) != 2 || a[1] != HostFinished {
		t.Errorf("tee: %v %v", a, b)
	}
}
