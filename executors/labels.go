package executors

import (
	"strings"
)

// Ownership: every object vigo creates on a host (container, network,
// volume) carries the same labels, set, checked and compared here once.

// ownLabels is what an object created for resource res is labelled with:
// the declared labels plus vigo's own.
func ownLabels(res string, declared map[string]string, extra ...string) map[string]string {
	labels := map[string]string{LabelManaged: "true", LabelResource: res}
	for i := 0; i+1 < len(extra); i += 2 {
		labels[extra[i]] = extra[i+1]
	}
	for k, v := range declared {
		labels[k] = v
	}
	return labels
}

// owned says whether vigo created the object carrying these labels.
func owned(labels map[string]string) bool { return labels[LabelManaged] == "true" }

// userLabels reads a labels field and refuses vigo's own prefix.
func userLabels(f fields, name string) (map[string]string, error) {
	labels, err := f.strMap(name)
	if err != nil {
		return nil, err
	}
	for k := range labels {
		if strings.HasPrefix(k, "io.vigo.") {
			return nil, f.errorf(name+"."+k, "labels io.vigo.* are vigo's own")
		}
	}
	return labels, nil
}

// labelDiff lists the differences between declared and observed labels,
// one change per label, as FIELD.KEY. vigo's own labels are not compared;
// inherited says whether an undeclared observed label comes from elsewhere
// (an image's labels) and is not a difference (nil: none does).
func labelDiff(field string, want, got map[string]string, inherited func(k, v string) bool) []Change {
	return mapDiff(field, want, got, func(k, v string) bool {
		return strings.HasPrefix(k, "io.vigo.") || inherited != nil && inherited(k, v)
	})
}

// mapDiff compares a declared map of strings with an observed one:
// FIELD.KEY: VALUE (added), FIELD.KEY: OLD -> NEW, FIELD.KEY: (removed).
// An empty value is shown as "" (a change from "" is still a change).
// skip says whether an undeclared observed key is left out.
func mapDiff(field string, want, got map[string]string, skip func(k, v string) bool) []Change {
	var d []Change
	for _, k := range sortedKeys(want) {
		if g, ok := got[k]; !ok {
			d = append(d, Change{Field: field + "." + k, To: shownValue(want[k]), Note: "added"})
		} else if g != want[k] {
			d = append(d, Change{Field: field + "." + k, From: shownValue(g), To: shownValue(want[k])})
		}
	}
	for _, k := range sortedKeys(got) {
		if _, declared := want[k]; declared || skip != nil && skip(k, got[k]) {
			continue
		}
		d = append(d, Change{Field: field + "." + k, Note: "removed"})
	}
	return d
}

// shownValue is a map value as a change shows it: "" for the empty
// string, which would otherwise read as no value at all.
func shownValue(v string) string {
	if v == "" {
		return `""`
	}
	return v
}
