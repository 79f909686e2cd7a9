package importer

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Summary counts outcomes.
type Summary struct {
	Created         int            `json:"created"`
	Reauthenticated int            `json:"reauthenticated"`
	Failed          int            `json:"failed"`
	ByClass         map[string]int `json:"failed_by_class"` // ClassInput, ClassPermanent, ClassTransient
	ByType          map[string]int `json:"failed_by_type"`
	// Duplicates counts lines that re-authenticated a grant another line
	// of the input made (DuplicateOf).
	Duplicates int `json:"duplicates,omitempty"`
}

func newSummary() Summary {
	return Summary{ByClass: map[string]int{}, ByType: map[string]int{}}
}

func (s *Summary) add(rec Record) {
	switch rec.Outcome {
	case OutcomeCreated:
		s.Created++
	case OutcomeReauthenticated:
		s.Reauthenticated++
	case OutcomeFailed:
		s.Failed++
		if rec.Error != nil {
			s.ByClass[rec.Error.Class]++
			s.ByType[rec.Error.Type]++
		}
	}
	if rec.DuplicateOf != 0 {
		s.Duplicates++
	}
}

// Lines is the number of outcomes counted.
func (s Summary) Lines() int { return s.Created + s.Reauthenticated + s.Failed }

// String is one line: "12 created, 3 re-authenticated, 2 failed (input 1:
// import.duplicate 1; permanent 1: api.invalid_request_error 1)".
func (s Summary) String() string {
	out := fmt.Sprintf("%d created, %d re-authenticated, %d failed", s.Created, s.Reauthenticated, s.Failed)
	if s.Failed > 0 {
		out += " (" + s.FailureDetail() + ")"
	}
	if s.Duplicates > 0 {
		out += fmt.Sprintf("; %d lines re-authenticated a grant an earlier line made (same account twice)", s.Duplicates)
	}
	return out
}

// FailureDetail lists the failures by class, then type.
func (s Summary) FailureDetail() string {
	var parts []string
	for _, class := range []string{ClassInput, ClassPermanent, ClassTransient} {
		if s.ByClass[class] == 0 {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %d", class, s.ByClass[class]))
	}
	var types []string
	for _, t := range slices.Sorted(maps.Keys(s.ByType)) {
		types = append(types, fmt.Sprintf("%s %d", t, s.ByType[t]))
	}
	return strings.Join(parts, ", ") + "; by type: " + strings.Join(types, ", ")
}
