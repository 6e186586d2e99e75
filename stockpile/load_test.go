package stockpile_test

import (
	"testing"

	"github.com/vigo-sh/vigocli/stockpile"
	"github.com/vigo-sh/vigocli/stockpile/stockpiletest"
)

func TestLoadExample(t *testing.T) {
	sp, err := stockpile.Load("../examples/docker-stack", stockpiletest.Types())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range sp.Modules {
		t.Logf("module %s %v", m.Name, m.Pos)
		for _, r := range m.Resources {
			t.Logf("  %s %s deps=%v notify=%v subs=%v", r.ID(), r.Type, r.DependsOn, r.Notify, r.Subscribes)
		}
	}
}
