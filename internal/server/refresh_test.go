package server

import (
	"reflect"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/config"
	"github.com/grantd/grantd/internal/grant"
	"github.com/grantd/grantd/internal/refresh"
)

// The refresh.* keys live in config (what operators set) and the
// refresher has its own settings and defaults (it is usable on its own):
// every key must reach the refresher or the grant service's schedule
// (grant.Schedule: when grants are due), exactly one of them, under the
// same name and with the same default.
func TestRefreshConfig(t *testing.T) {
	in := config.Refresh{}
	iv := reflect.ValueOf(&in).Elem()
	for i := range iv.NumField() {
		f := iv.Field(i)
		switch f.Kind() {
		case reflect.Int:
			f.SetInt(int64(100 + i))
		case reflect.Int64: // time.Duration
			f.SetInt(int64(time.Duration(100+i) * time.Second))
		}
	}
	outs := []reflect.Value{reflect.ValueOf(refreshConfig(in)), reflect.ValueOf(grantSchedule(in))}
	defs := []reflect.Value{reflect.ValueOf(refresh.DefaultConfig()), reflect.ValueOf(grant.DefaultSchedule())}
	configDefaults := reflect.ValueOf(config.Default().Refresh)
	for i := range iv.NumField() {
		name := iv.Type().Field(i).Name
		if name == "Enabled" || name == "SpoolDir" { // the server's business, not the refresher's
			continue
		}
		var of, defaults reflect.Value
		for j, out := range outs {
			if f := out.FieldByName(name); f.IsValid() {
				if of.IsValid() {
					t.Errorf("config.Refresh.%s is in both refresh.Config and grant.Schedule", name)
				}
				of, defaults = f, defs[j]
			}
		}
		if !of.IsValid() {
			t.Errorf("config.Refresh.%s has no counterpart in refresh.Config or grant.Schedule", name)
			continue
		}
		if !reflect.DeepEqual(of.Interface(), iv.Field(i).Interface()) {
			t.Errorf("refreshConfig does not copy %s: got %v, want %v", name, of.Interface(), iv.Field(i).Interface())
		}
		if d, c := defaults.FieldByName(name).Interface(), configDefaults.Field(i).Interface(); !reflect.DeepEqual(d, c) {
			t.Errorf("default of %s: refresh.DefaultConfig has %v, config.Default has %v", name, d, c)
		}
	}
}
